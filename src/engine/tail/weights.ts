/**
 * The weights the last decoder block needs after its value cache: the query path (to recompute
 * the current query's attention weights), o_proj, the post-attention norm, the MLP, the final
 * norm and the lm_head, plus the rotary tables. They come from the converter's weights (GGUF) or
 * are read back from an ONNX graph's initializers (folders); matrices are copied so a session
 * keeps only these, not the file they came from.
 */
import { SteerlabError } from '../../errors.js';
import { isLocalLayer, layerRopeScale, layerRopeTheta, type Activation, type DecoderConfig, type DecoderWeights, type Matrix } from '../model/types.js';
import { ropeCache } from '../onnx/decoder.js';
import { f16ToF32Array } from '../onnx/graph.js';
import { DT, toNum, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { matrixBytes } from './matrix.js';

export interface TailWeights {
  layer: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  rmsEps: number;
  /** Rotary tables [maxPositions, headDim/2], HF rotate-half convention. */
  cos: Float32Array;
  sin: Float32Array;
  attnNorm: Float32Array;
  q: Matrix;
  qBias?: Float32Array;
  o: Matrix;
  ffnNorm: Float32Array;
  gate: Matrix;
  up: Matrix;
  down: Matrix;
  finalNorm: Float32Array;
  lmHead: Matrix;
  // Optional parts of the block (model/architectures.ts); absent = Llama/Qwen2.
  /** Per-head RMS norm of the query before the rotary (Qwen3, Gemma 3); the keys come normed from the cache. */
  qNorm?: Float32Array;
  /** Norm of the attention output before the residual add, and of the MLP output (Gemma 3). */
  postAttnNorm?: Float32Array;
  postFfnNorm?: Float32Array;
  activation?: Activation;
  /** Attention scale; default 1/sqrt(headDim). */
  attnScale?: number;
  /** The last layer attends through a sliding window of this many keys (the current one included). */
  window?: number;
  /** Final logit soft-capping (cap * tanh(logits / cap)). */
  finalSoftcap?: number;
}

function copyMatrix(m: Matrix): Matrix {
  if (m.kind === 'float') return { ...m, data: m.data.slice() };
  return { ...m, B: m.B.slice(), scales: m.scales.slice(), zeroPoints: m.zeroPoints?.slice() ?? null, ...(m.mins ? { mins: m.mins.slice() } : {}) };
}

/** From converted weights (the GGUF path). */
export function tailFromWeights(cfg: DecoderConfig, w: DecoderWeights): TailWeights {
  const L = cfg.layers - 1;
  const lw = w.layers[L]!;
  const { cos, sin } = ropeCache(cfg, layerRopeTheta(cfg, L), layerRopeScale(cfg, L));
  return {
    layer: L, hidden: cfg.hidden, heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab, rmsEps: cfg.rmsEps, cos, sin,
    ...(lw.qNorm ? { qNorm: lw.qNorm.slice() } : {}),
    ...(lw.postAttnNorm ? { postAttnNorm: lw.postAttnNorm.slice() } : {}),
    ...(lw.postFfnNorm ? { postFfnNorm: lw.postFfnNorm.slice() } : {}),
    ...(cfg.activation && cfg.activation !== 'silu' ? { activation: cfg.activation } : {}),
    ...(cfg.attnScale !== undefined ? { attnScale: cfg.attnScale } : {}),
    ...(isLocalLayer(cfg, L) ? { window: cfg.slidingWindow } : {}),
    ...(cfg.finalSoftcap ? { finalSoftcap: cfg.finalSoftcap } : {}),
    attnNorm: lw.attnNorm.slice(), q: copyMatrix(lw.q), ...(lw.qBias ? { qBias: lw.qBias.slice() } : {}), o: copyMatrix(lw.o),
    ffnNorm: lw.ffnNorm.slice(), gate: copyMatrix(lw.gate), up: copyMatrix(lw.up), down: copyMatrix(lw.down),
    finalNorm: w.finalNorm.slice(), lmHead: copyMatrix(w.lmHead),
  };
}

export function tailBytes(t: TailWeights): number {
  const vecs = [t.cos, t.sin, t.attnNorm, t.ffnNorm, t.finalNorm, t.qBias, t.qNorm, t.postAttnNorm, t.postFfnNorm].reduce((a, v) => a + (v?.byteLength ?? 0), 0);
  return vecs + [t.q, t.o, t.gate, t.up, t.down, t.lmHead].reduce((a, m) => a + matrixBytes(m), 0);
}

// ---------- reading a graph back ----------

class GraphReader {
  private readonly nodes = new Map<string, NodeProto>();
  private readonly inits = new Map<string, TensorProto>();
  private readonly producers = new Map<string, NodeProto>();
  constructor(private readonly model: ModelProto, private readonly external: { path: string; data: Uint8Array }[]) {
    for (const n of model.graph.node) {
      if (n.name) this.nodes.set(n.name, n);
      for (const o of n.output) this.producers.set(o, n);
    }
    for (const t of model.graph.initializer) this.inits.set(t.name, t);
  }
  node(...names: string[]): NodeProto {
    for (const n of names) {
      const x = this.nodes.get(n);
      if (x) return x;
    }
    throw new Error(`no node named ${names.join(' or ')}`);
  }
  has(name: string): boolean {
    return this.nodes.has(name);
  }
  attr(n: NodeProto, name: string): number | undefined {
    const a = n.attribute?.find((x) => x.name === name);
    if (!a) return undefined;
    return a.f !== undefined && a.type === 1 ? a.f : a.i !== undefined ? toNum(a.i) : a.f;
  }
  bytes(name: string): { t: TensorProto; raw: Uint8Array } {
    let t = this.inits.get(name);
    if (!t) {
      // A Constant node's value counts as an initializer.
      const c = this.producers.get(name);
      const v = c?.opType === 'Constant' ? c.attribute?.find((a) => a.name === 'value')?.t : undefined;
      if (!v) throw new Error(`'${name}' is not an initializer`);
      t = v;
    }
    if (t.rawData && t.rawData.byteLength) return { t, raw: t.rawData };
    const ext = t.externalData;
    if (ext?.length) {
      const kv = new Map(ext.map((e) => [e.key, e.value]));
      const file = this.external.find((e) => e.path === kv.get('location'));
      if (!file) throw new Error(`initializer '${name}' lives in '${kv.get('location')}', which was not supplied`);
      const off = Number(kv.get('offset') ?? 0);
      const len = Number(kv.get('length') ?? file.data.byteLength - off);
      return { t, raw: file.data.subarray(off, off + len) };
    }
    const fd = (t as { floatData?: number[] }).floatData;
    if (fd?.length) return { t, raw: new Uint8Array(Float32Array.from(fd).buffer) };
    throw new Error(`initializer '${name}' has no data`);
  }
  floats(name: string): Float32Array {
    const { t, raw } = this.bytes(name);
    // A copy (protobufjs hands out Buffer views, whose slice() does not copy), aligned at 0.
    const copy = Uint8Array.from(raw);
    if (t.dataType === DT.FLOAT) return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
    if (t.dataType === DT.FLOAT16) return f16ToF32Array(new Uint16Array(copy.buffer, 0, copy.byteLength / 2));
    throw new Error(`initializer '${name}' has data type ${t.dataType}, not float`);
  }
  u8(name: string): Uint8Array {
    return Uint8Array.from(this.bytes(name).raw);
  }
  dims(name: string): number[] {
    return (this.inits.get(name)?.dims ?? []).map(toNum);
  }
}

/** A linear layer `${prefix}/MatMul` (float, weight [K, N]) or `${prefix}/MatMulNBits` (4-bit, block 32). */
function readLinear(g: GraphReader, prefix: string): { m: Matrix; bias?: Float32Array } {
  const bias = g.has(`${prefix}/Add`) ? g.floats(g.node(`${prefix}/Add`).input[1]!) : undefined;
  if (g.has(`${prefix}/MatMul`)) {
    const w = g.node(`${prefix}/MatMul`).input[1]!;
    const [K, N] = g.dims(w);
    const t = g.floats(w);
    const data = new Float32Array(N! * K!);
    for (let k = 0; k < K!; k++) for (let n = 0; n < N!; n++) data[n * K! + k] = t[k * N! + n]!;
    return { m: { kind: 'float', rows: N!, cols: K!, data }, ...(bias ? { bias } : {}) };
  }
  if (g.has(`${prefix}/MatMulNBits_1`) || g.has(`${prefix}/AddMins`)) throw new Error(`${prefix} is split or offset-corrected (8-bit or Q4_1 blocks)`);
  const node = g.node(`${prefix}/MatMulNBits`);
  const K = g.attr(node, 'K')!, N = g.attr(node, 'N')!, bits = g.attr(node, 'bits'), bs = g.attr(node, 'block_size');
  if (bits !== 4 || bs !== 32) throw new Error(`${prefix} has bits=${bits}, block_size=${bs} (only 4-bit blocks of 32 are read)`);
  const nb = K / 32;
  const B = g.u8(node.input[1]!);
  const scales = g.floats(node.input[2]!);
  let zeroPoints: Float32Array | null = null;
  const zpName = node.input[3];
  if (zpName) {
    const { t } = g.bytes(zpName);
    if (t.dataType === DT.UINT8) {
      const packed = g.u8(zpName);
      const per = Math.ceil(nb / 2);
      zeroPoints = new Float32Array(N * nb);
      for (let n = 0; n < N; n++) for (let b = 0; b < nb; b++) {
        const byte = packed[n * per + (b >> 1)]!;
        zeroPoints[n * nb + b] = b & 1 ? byte >> 4 : byte & 15;
      }
    } else zeroPoints = g.floats(zpName);
  }
  return { m: { kind: 'nbits', rows: N, cols: K, bits: 4, blockSize: 32, B, scales, zeroPoints }, ...(bias ? { bias } : {}) };
}

/** Rotary tables at the precision the graph used, or from rope theta when the graph computes them itself. */
function readRope(g: GraphReader, name: string): { cos: Float32Array; sin: Float32Array } | null {
  try {
    return { cos: g.floats(`${name}`), sin: g.floats(name.replace('cos', 'sin')) };
  } catch {
    return null;
  }
}

export interface GraphTailInfo {
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  /** From the model's config where the graph does not carry them. */
  rmsEps?: number;
  ropeTheta?: number;
  maxPositions?: number;
}

/**
 * Reads the tail back from a decoder graph in the optimum or onnxruntime-genai export style
 * (float MatMul or 4-bit MatMulNBits linears). Throws a one-line error naming what is missing.
 */
export function tailFromGraph(model: ModelProto, style: 'optimum' | 'genai', info: GraphTailInfo, external: { path: string; data: Uint8Array }[] = []): TailWeights {
  const g = new GraphReader(model, external);
  const N = model.graph.input.filter((i) => /^past_key_values\.\d+\.key$/.test(i.name)).length;
  const L = N - 1;
  try {
    const extra = model.graph.node.find((n) => /\/(q_norm|k_norm|post_attention_norm|post_feedforward_layernorm|softcap)\//.test(n.name ?? ''));
    if (extra) throw new Error(`reading Qwen3/Gemma-style blocks back from a graph is not written (found ${extra.name}); GGUF models carry their tail`);
    let attnNorm: Float32Array, ffnNorm: Float32Array, finalNorm: Float32Array, eps: number | undefined, rope: { cos: Float32Array; sin: Float32Array } | null;
    let p: string;
    if (style === 'genai') {
      const inNorm = L === 0 ? g.node(`/model/layers.0/input_layernorm/LayerNorm`) : g.node(`/model/layers.${L}/input_layernorm/SkipLayerNorm`);
      attnNorm = g.floats(inNorm.input[L === 0 ? 1 : 2]!);
      eps = g.attr(inNorm, 'epsilon');
      ffnNorm = g.floats(g.node(`/model/layers.${L}/post_attention_layernorm/SkipLayerNorm`).input[2]!);
      finalNorm = g.floats(g.node(`/model/layers.${N}/final_norm_layernorm/SkipLayerNorm`).input[2]!);
      const gqa = g.node(`/model/layers.${L}/attn/GroupQueryAttention`);
      rope = readRope(g, gqa.input[7]!);
      p = `/model/layers.${L}/attn`;
    } else {
      const normW = (n: string) => g.floats(g.node(`${n}/Mul_1`).input[0]!);
      attnNorm = normW(`/model/layers.${L}/input_layernorm`);
      ffnNorm = normW(`/model/layers.${L}/post_attention_layernorm`);
      finalNorm = normW('/model/norm');
      const epsT = g.floats(g.node(`/model/layers.${L}/input_layernorm/Add`).input[1]!);
      eps = epsT[0];
      rope = readRope(g, '/model/rotary_emb/cos_cached');
      p = `/model/layers.${L}/self_attn`;
    }
    const rmsEps = eps ?? info.rmsEps;
    if (rmsEps === undefined) throw new Error('no RMS norm epsilon in the graph or config');
    if (!rope) {
      if (!info.ropeTheta || !info.maxPositions) throw new Error('no rotary tables in the graph and no rope_theta in the config');
      rope = ropeCache({ ropeTheta: info.ropeTheta, maxPositions: info.maxPositions, headDim: info.headDim } as DecoderConfig);
    }
    const q = readLinear(g, `${p}/q_proj`);
    const mlp = `/model/layers.${L}/mlp`;
    return {
      layer: L, hidden: attnNorm.length, heads: info.heads, kvHeads: info.kvHeads, headDim: info.headDim, vocab: info.vocab, rmsEps, cos: rope.cos, sin: rope.sin,
      attnNorm, q: q.m, ...(q.bias ? { qBias: q.bias } : {}), o: readLinear(g, `${p}/o_proj`).m,
      ffnNorm, gate: readLinear(g, `${mlp}/gate_proj`).m, up: readLinear(g, `${mlp}/up_proj`).m, down: readLinear(g, `${mlp}/down_proj`).m,
      finalNorm, lmHead: readLinear(g, '/lm_head').m,
    };
  } catch (e) {
    throw new SteerlabError('BAD_GRAPH', `cannot read the last block's weights from this ${style} graph: ${(e as Error).message}`);
  }
}
