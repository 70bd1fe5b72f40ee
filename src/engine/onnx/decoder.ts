/**
 * Generates a Llama/Qwen2 decoder graph from weights, in one of two export styles that real
 * hub models use, so the hook rewrite (hooks.ts) sees exactly what it would see on a download:
 *
 *  - 'optimum':  plain ONNX ops as torch.onnx/optimum export them; the residual after layer L
 *                is the output of `/model/layers.L/Add_1`.
 *  - 'genai':    onnxruntime-genai builder ops (SkipSimplifiedLayerNormalization chains,
 *                GroupQueryAttention with rotary inside, MatMulNBits); the residual after layer
 *                L is output 3 of `/model/layers.{L+1}/input_layernorm/SkipLayerNorm` (or of
 *                `/model/layers.{N}/final_norm_layernorm/SkipLayerNorm` for the last layer).
 *
 * Rotary is the HF "rotate half" convention in both; GGUF llama weights are un-permuted to it
 * by the converter. Inputs/outputs follow transformers.js: input_ids, attention_mask,
 * [position_ids], past_key_values.{i}.key|value -> logits, present.{i}.key|value.
 */
import { isLocalLayer, layerRopeScale, layerRopeTheta, type DecoderConfig, type DecoderWeights, type Matrix } from '../model/types.js';
import { GraphBuilder, f32ToF16Array } from './graph.js';
import { PRESENT_ROWS } from '../kvcache.js';
import { DT } from './proto.js';
import { HEAD_INPUT, INPUTS_EMBEDS } from './hooks.js';

export type GraphStyle = 'optimum' | 'genai';
export type GraphDtype = 'fp32' | 'fp16';

export interface DecoderGraphOptions {
  style: GraphStyle;
  dtype: GraphDtype;
  /** MatMulNBits accuracy_level: 0 = float compute (exact), 4 = int8 activations (faster on CPU). */
  accuracyLevel?: number;
  /**
   * genai style, how attention meets the cache:
   *  - 'present' (default): GroupQueryAttention, returning each layer's whole `present.*` cache
   *    (WebGPU keeps them on the GPU; other runners such as transformers.js need them).
   *  - 'rows': only `present_rows.*` ([B, S, nKV, D]); attention is plain ops (rotary, two
   *    FusedMatMuls against the past and the new rows, a masked softmax). The past is token-major,
   *    [B, P, nKV, D]: the caller feeds exactly its valid rows as a prefix view of its host array
   *    (no copy, no padding), and transBatchB lets the matmuls read each kv head at a stride.
   *    GroupQueryAttention copies the whole past into its present on every call (at 2,800 tokens,
   *    141 MB of copies per token for SmolLM2, all alive at once); this holds one layer's scores
   *    instead. Batch 1 only (the session's).
   */
  kv?: 'present' | 'rows';
  /**
   * Where a tied 8-bit embedding is gathered from:
   *  - 'shared' (default): the lm_head's two nibble planes, rebuilt in the graph (stored once;
   *    right when the weights are in memory, as in the browser).
   *  - 'own': its own table ([V, H] bytes, per-block scales and offsets [V, H/32]), the same
   *    values. The bytes are on disk twice, but with mmap'd external data (Node's converted
   *    cache) the planes then feed only MatMulNBits, which onnxruntime prepacks and unmaps, and
   *    the table is resident only where rows are gathered: 27 MiB less for SmolLM2, ~170 for Gemma 3.
   */
  embedTable?: 'shared' | 'own';
  /**
   * 'graph' (default): the graph ends in the lm_head and returns `logits`. 'outside': it ends at
   * the final norm and returns those rows as `head_input` ([B, S, H]); the session's LogitsHead
   * (head/head8.ts) makes the logits (and applies a final softcap).
   */
  head?: 'graph' | 'outside';
  /**
   * 'graph' (default): the graph gathers the embedding rows of `input_ids`. 'outside': it takes
   * them as `inputs_embeds` ([B, S, H], before any embedding scale) from the caller; with a tied
   * lm_head outside the graph, the table is then held once, by the head (head/head8.ts).
   */
  embed?: 'graph' | 'outside';
}


/** An 8-bit matrix's per-block offset: w = s q + offset with q its stored bytes (0..255). */
function blockOffsets8(m: Extract<Matrix, { kind: 'nbits' }>): Float32Array {
  return m.zeroPoints ? m.zeroPoints.map((z, i) => -z * m.scales[i]!) : m.scales.map((sc) => -128 * sc);
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Splits 8-bit values (one per byte) into two MatMulNBits 4-bit planes: q = 16 * hi + lo. */
export function splitNibbles(B: Uint8Array): { hi: Uint8Array; lo: Uint8Array } {
  const hi = new Uint8Array(B.length / 2);
  const lo = new Uint8Array(B.length / 2);
  for (let i = 0; i < hi.length; i++) {
    const a = B[2 * i]!, b = B[2 * i + 1]!;
    hi[i] = (a >> 4) | (b & 0xf0);
    lo[i] = (a & 15) | ((b & 15) << 4);
  }
  return { hi, lo };
}

export function ropeCache(cfg: Pick<DecoderConfig, 'headDim' | 'maxPositions' | 'ropeTheta'>, theta = cfg.ropeTheta, scale = 1): { cos: Float32Array; sin: Float32Array } {
  const half = cfg.headDim / 2;
  const cos = new Float32Array(cfg.maxPositions * half);
  const sin = new Float32Array(cfg.maxPositions * half);
  for (let p = 0; p < cfg.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / theta ** ((2 * i) / cfg.headDim);
      const a = p * scale * invFreq;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** The decoder graph as one self-contained ONNX file (small models, tests). */
export function buildDecoderGraph(cfg: DecoderConfig, w: DecoderWeights, opts: DecoderGraphOptions): Uint8Array {
  const g = decoderBuilder(cfg, w, opts);
  return g.encode({ 'steerlab.style': opts.style, 'steerlab.dtype': opts.dtype });
}

export const EXTERNAL_DATA_NAME = 'model.onnx_data';

/** The decoder graph with its weights in one external-data buffer (real models). */
export function buildDecoderGraphExternal(cfg: DecoderConfig, w: DecoderWeights, opts: DecoderGraphOptions): { graph: Uint8Array; data: Uint8Array } {
  return decoderBuilder(cfg, w, opts).encodeExternal(EXTERNAL_DATA_NAME, { 'steerlab.style': opts.style, 'steerlab.dtype': opts.dtype });
}

function decoderBuilder(cfg: DecoderConfig, w: DecoderWeights, opts: DecoderGraphOptions): GraphBuilder {
  const g = new GraphBuilder();
  const FT = opts.dtype === 'fp16' ? DT.FLOAT16 : DT.FLOAT;
  const fdata = (a: Float32Array) => (FT === DT.FLOAT16 ? f32ToF16Array(a) : a);
  const finit = (name: string, a: Float32Array, dims: number[]) => g.init(name, fdata(a), dims, FT);
  const { layers, hidden: H, heads: nH, kvHeads: nKV, headDim: D } = cfg;

  // With the embedding outside, the embeddings stand in for the ids wherever the graph needs the new positions' count.
  const inputIds = opts.embed === 'outside' ? g.input(INPUTS_EMBEDS, FT, ['batch_size', 'sequence_length', H]) : g.input('input_ids', DT.INT64, ['batch_size', 'sequence_length']);
  const attnMask = g.input('attention_mask', DT.INT64, ['batch_size', 'total_sequence_length']);
  const positionIds = opts.style === 'optimum' ? g.input('position_ids', DT.INT64, ['batch_size', 'sequence_length']) : '';
  // kv 'rows' takes its past token-major ([B, P, nKV, D], a prefix of the caller's array); the
  // other graphs take the usual [B, nKV, P, D].
  const pastDims = opts.kv === 'rows' ? ['batch_size', 'past_sequence_length', nKV, D] : ['batch_size', nKV, 'past_sequence_length', D];
  for (let i = 0; i < layers; i++) {
    g.input(`past_key_values.${i}.key`, FT, pastDims);
    g.input(`past_key_values.${i}.value`, FT, pastDims);
  }

  /** x[.., K] @ W^T for W [N, K], as MatMul (float) or MatMulNBits (4-bit). */
  // Quantised initializers are shared by matrix identity: a tied lm_head reuses the embedding's blocks.
  // 8-bit matrices are stored as two 4-bit halves (q = 16*hi + lo): onnxruntime's fast MatMulNBits
  // kernels are 4-bit with integer zero points, and the embedding gather can rebuild q from both.
  // Zero points are chosen so the integer part is centred: with accuracy_level 4 onnxruntime
  // quantises the activations to int8, and an uncentred q (0..255 with the offset in a separate
  // block-sum term) turns that rounding into a bias of 128 s * sum(dx) per block. Exact in float.
  // zp: one zero-point tensor per plane, '' for MatMulNBits' default of 8 (no tensor to store).
  interface QInits { kind: 4 | 8; B: string[]; scales: string[]; zp?: string[]; mins?: string; embedOffsets?: () => string; }
  const quantInits = new Map<Matrix, QInits>();
  const quantized = (m: Extract<Matrix, { kind: 'nbits' }>, name: string): QInits => {
    let q = quantInits.get(m);
    if (q) return q;
    const nb = m.cols / 32;
    const packedZp = (tag: string, z: number) => {
      const n = m.rows * Math.ceil(nb / 2);
      return g.init(`${name}.weight_zp${tag}`, new Uint8Array(n).fill(z | (z << 4)), [n], DT.UINT8);
    };
    if (m.bits === 8) {
      const { hi, lo } = splitNibbles(m.B);
      const scales = m.scales;
      const offsets = blockOffsets8(m);
      let off: string | undefined;
      const sc = finit(`${name}.weight_scales`, scales, [m.rows * nb]);
      const embedOffsets = () => (off ??= finit(`${name}.weight_mins`, transpose(offsets, m.rows, nb), [nb, m.rows]));
      q = {
        kind: 8,
        B: [g.init(`${name}.weight_hi`, hi, [m.rows, nb, 16], DT.UINT8), g.init(`${name}.weight_lo`, lo, [m.rows, nb, 16], DT.UINT8)],
        // Both planes share one scale tensor; the high plane's product is scaled by 16 afterwards,
        // which is exact in float (a power of two), so this equals a 16 s scale bit for bit.
        scales: [sc, sc],
        embedOffsets,
      };
      if (m.zeroPoints) {
        const zp0 = packedZp('0', 0);
        q.zp = [zp0, zp0];
        q.mins = embedOffsets();
      } else {
        // s (16 hi + lo - 128) = 16 s (hi - 8) + s lo: zero point 8 (the default) on the high plane, 0 on the low one.
        q.zp = ['', packedZp('0', 0)];
      }
    } else {
      q = { kind: 4, B: [g.init(`${name}.weight_Q4`, m.B, [m.rows, nb, 16], DT.UINT8)], scales: [finit(`${name}.weight_scales`, m.scales, [m.rows * nb])] };
      if (m.mins) {
        // s q + min = s (q - 8) + (min + 8 s), with MatMulNBits' default zero point 8
        q.zp = [''];
        const mins = m.mins.map((v, i) => v + 8 * m.scales[i]!);
        q.mins = finit(`${name}.weight_mins`, transpose(mins, m.rows, nb), [nb, m.rows]);
      } else if (m.zeroPoints) q.zp = [finit(`${name}.weight_zp`, m.zeroPoints, [m.rows * nb])];
    }
    quantInits.set(m, q);
    return q;
  };
  // Sum of x over each 32-wide input block, shared by all linears that read the same x.
  const blockSumCache = new Map<string, string>();
  const blockSums = (x: string, K: number): string => {
    let r = blockSumCache.get(x);
    if (!r) {
      const blocks = g.op('Reshape', [x, g.constI64([0, 0, K / 32, 32])]);
      r = g.op('ReduceSum', [blocks, g.constI64([-1])], { keepdims: 0 });
      blockSumCache.set(x, r);
    }
    return r;
  };
  /** x[.., K] @ W^T for W [N, K], as MatMul (float) or MatMulNBits (quantised). */
  const linear = (x: string, m: Matrix, name: string, bias?: Float32Array): string => {
    let y: string;
    if (m.kind === 'float') {
      const wName = finit(`${name}.weight`, transpose(m.data, m.rows, m.cols), [m.cols, m.rows]);
      y = g.op('MatMul', [x, wName], undefined, `${name}/MatMul`);
    } else {
      const q = quantized(m, name);
      const attrs = { K: m.cols, N: m.rows, bits: 4, block_size: 32, accuracy_level: opts.accuracyLevel ?? 0 };
      const parts = q.B.map((b, i) => g.op('MatMulNBits', [x, b, q.scales[i]!, ...(q.zp?.[i] ? [q.zp[i]] : [])], attrs, `${name}/MatMulNBits${i ? `_${i}` : ''}`, 'com.microsoft'));
      y = parts.length === 2 ? g.op('Add', [g.op('Mul', [parts[0]!, g.constF([16], [], FT)], undefined, `${name}/HighTimes16`), parts[1]!], undefined, `${name}/AddHalves`) : parts[0]!;
      if (q.mins) y = g.op('Add', [y, g.op('MatMul', [blockSums(x, m.cols), q.mins], undefined, `${name}/MinsMatMul`)], undefined, `${name}/AddMins`);
    }
    if (bias) y = g.op('Add', [y, finit(`${name}.bias`, bias, [bias.length])], undefined, `${name}/Add`);
    return y;
  };

  const mlp = (x: string, L: number): string => {
    const lw = w.layers[L]!;
    const p = `/model/layers.${L}/mlp`;
    const gate = linear(x, lw.gate, `${p}/gate_proj`);
    const act = g.op('Mul', [gate, g.op('Sigmoid', [gate], undefined, `${p}/act_fn/Sigmoid`)], undefined, `${p}/act_fn/Mul`);
    const up = linear(x, lw.up, `${p}/up_proj`);
    return linear(g.op('Mul', [act, up], undefined, `${p}/Mul`), lw.down, `${p}/down_proj`);
  };
  const gelu = (x: string, p: string): string => {
    // GELU, tanh approximation (llama.cpp's ggml_gelu): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const c = (v: number) => g.constF([v], [], FT);
    const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
    const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, c(0.044715)])]), c(Math.sqrt(2 / Math.PI))]);
    return g.op('Mul', [g.op('Mul', [x, c(0.5)]), g.op('Add', [g.op('Tanh', [inner], undefined, `${p}/Tanh`), c(1)])], undefined, `${p}/Mul`);
  };
  const mlpGelu = (x: string, L: number): string => {
    const lw = w.layers[L]!;
    const p = `/model/layers.${L}/mlp`;
    const act = gelu(linear(x, lw.gate, `${p}/gate_proj`), `${p}/act_fn`);
    const up = linear(x, lw.up, `${p}/up_proj`);
    return linear(g.op('Mul', [act, up], undefined, `${p}/Mul`), lw.down, `${p}/down_proj`);
  };
  const block = (x: string, L: number) => (cfg.activation === 'gelu_tanh' ? mlpGelu(x, L) : mlp(x, L));
  /** RMS norm over the last axis (one SimplifiedLayerNormalization). */
  const rmsNode = (inp: string, weight: Float32Array, name: string, wName: string): string =>
    g.op('SimplifiedLayerNormalization', [inp, finit(wName, weight, [weight.length])], { axis: -1, epsilon: { float: cfg.rmsEps }, stash_type: 1 }, `${name}/SimplifiedLayerNormalization`);
  /** Per-head RMS norm of packed q or k [B, S, n*D] (Qwen3/Gemma 3 q_norm, k_norm). */
  const headNorm = (t: string, n: number, weight: Float32Array, name: string, wName: string): string => {
    const split = g.op('Reshape', [t, g.constI64([0, 0, n, D])], undefined, `${name}/Reshape`);
    return g.op('Reshape', [rmsNode(split, weight, name, wName), g.constI64([0, 0, n * D])], undefined, `${name}/Reshape_1`);
  };

  let x = embedding();
  if (cfg.embedScale !== undefined && cfg.embedScale !== 1) x = g.op('Mul', [x, g.constF([cfg.embedScale], [], FT)], undefined, '/model/embed_tokens/Scale');
  let normed: string;

  if (opts.style === 'optimum') {
    normed = buildOptimumBody();
  } else {
    normed = buildGenaiBody();
  }

  if (opts.head === 'outside') {
    g.node('Identity', [normed], { name: '/lm_head/Identity', outputs: [HEAD_INPUT] });
    g.output(HEAD_INPUT, FT, ['batch_size', 'sequence_length', H]);
    return g;
  }
  let logits = linear(normed, w.lmHead, '/lm_head');
  if (cfg.finalSoftcap) {
    // cap * tanh(logits / cap); the hook rewrite's logits slice looks through these to the lm_head.
    const cap = g.constF([cfg.finalSoftcap], [], FT);
    logits = g.op('Mul', [g.op('Tanh', [g.op('Div', [logits, cap], undefined, '/lm_head/softcap/Div')], undefined, '/lm_head/softcap/Tanh'), cap], undefined, '/lm_head/softcap/Mul');
  }
  g.node('Identity', [logits], { name: '/lm_head/Identity', outputs: ['logits'] });
  g.output('logits', FT, ['batch_size', 'sequence_length', cfg.vocab]);
  return g;

  /** Token embeddings; 8-bit tables are gathered as their two nibble planes and rebuilt in the graph. */
  function embedding(): string {
    if (opts.embed === 'outside') return inputIds;
    const e = w.embed;
    if (e.kind === 'float') return g.op('Gather', [finit('model.embed_tokens.weight', e.data, [cfg.vocab, H]), inputIds], undefined, '/model/embed_tokens/Gather');
    if (e.bits !== 8) throw new Error('4-bit embeddings are dequantised by the converter');
    const p = '/model/embed_tokens';
    const nb = H / 32;
    if (opts.embedTable === 'own') return ownTable(e, p, nb);
    const q = quantized(e, p);
    const sixteen = g.constF([16], [], FT);
    // byte -> (low nibble, high nibble) as floats, [B,S,nb,16] each
    const nibbles = (b: string, tag: string): [string, string] => {
      const f = g.op('Cast', [g.op('Gather', [b, inputIds], undefined, `${p}/Gather_${tag}`)], { to: FT });
      const high = g.op('Floor', [g.op('Div', [f, sixteen])]);
      return [g.op('Sub', [f, g.op('Mul', [high, sixteen])]), high];
    };
    const [hiL, hiH] = nibbles(q.B[0]!, 'hi');
    const [loL, loH] = nibbles(q.B[1]!, 'lo');
    const even = g.op('Add', [g.op('Mul', [hiL, sixteen]), loL]);
    const odd = g.op('Add', [g.op('Mul', [hiH, sixteen]), loH]);
    const qv = g.op('Reshape', [g.op('Concat', [g.op('Unsqueeze', [even, g.constI64([-1])]), g.op('Unsqueeze', [odd, g.constI64([-1])])], { axis: -1 }), g.constI64([0, 0, nb, 32])]);
    // w = s * q + offset, offsets stored transposed [nb, V] for the lm_head's block-sum MatMul
    const perToken = (t: string, shape: number[], perm?: number[]) => {
      let r = g.op('Reshape', [t, g.constI64(shape)]);
      if (perm) r = g.op('Transpose', [r], { perm });
      return g.op('Unsqueeze', [g.op('Gather', [r, inputIds]), g.constI64([-1])]);
    };
    const sc = perToken(q.scales[1]!, [cfg.vocab, nb]);
    const off = perToken(q.embedOffsets!(), [nb, cfg.vocab], [1, 0]);
    const deq = g.op('Add', [g.op('Mul', [qv, sc]), off], undefined, `${p}/Dequant`);
    return g.op('Reshape', [deq, g.constI64([0, 0, H])], undefined, `${p}/Reshape`);
  }

  /** An 8-bit embedding's own gather table: w = s q + offset, every factor already per token. */
  function ownTable(e: Extract<Matrix, { kind: 'nbits' }>, p: string, nb: number): string {
    const V = cfg.vocab;
    const offsets = blockOffsets8(e);
    const table = g.init(`${p}.table_q`, e.B, [V, H], DT.UINT8);
    const perToken = (name: string, a: Float32Array) => g.op('Unsqueeze', [g.op('Gather', [finit(name, a, [V, nb]), inputIds]), g.constI64([-1])]);
    const qv = g.op('Reshape', [g.op('Cast', [g.op('Gather', [table, inputIds], undefined, `${p}/Gather`)], { to: FT }), g.constI64([0, 0, nb, 32])]);
    const deq = g.op('Add', [g.op('Mul', [qv, perToken(`${p}.table_scales`, e.scales)]), perToken(`${p}.table_offsets`, offsets)], undefined, `${p}/Dequant`);
    return g.op('Reshape', [deq, g.constI64([0, 0, H])], undefined, `${p}/Reshape`);
  }

  // ---------------- optimum style ----------------
  function buildOptimumBody(): string {
    const rms = (inp: string, weight: Float32Array, name: string): string => {
      // HF computes the norm in fp32 and casts back; fp16 exports carry those Casts.
      const x32 = FT === DT.FLOAT16 ? g.op('Cast', [inp], { to: DT.FLOAT }, `${name}/Cast`) : inp;
      const sq = g.op('Pow', [x32, g.constF([2], [], DT.FLOAT)], undefined, `${name}/Pow`);
      const mean = g.op('ReduceMean', [sq], { axes: [-1], keepdims: 1 }, `${name}/ReduceMean`);
      const std = g.op('Sqrt', [g.op('Add', [mean, g.constF([cfg.rmsEps], [], DT.FLOAT)], undefined, `${name}/Add`)], undefined, `${name}/Sqrt`);
      const y32 = g.op('Div', [x32, std], undefined, `${name}/Div`);
      const y = FT === DT.FLOAT16 ? g.op('Cast', [y32], { to: DT.FLOAT16 }, `${name}/Cast_1`) : y32;
      return g.op('Mul', [finit(`${name}.weight`, weight, [weight.length]), y], undefined, `${name}/Mul_1`);
    };

    // Additive causal mask [B,1,S,T] from attention_mask and the query offset T - S.
    const S = g.op('Gather', [g.op('Shape', [inputIds]), g.constI64([1], [])], { axis: 0 });
    const T = g.op('Gather', [g.op('Shape', [attnMask]), g.constI64([1], [])], { axis: 0 });
    const kpos = g.op('Range', [g.constI64([0], []), T, g.constI64([1], [])]);
    const qpos = g.op('Range', [g.op('Sub', [T, S]), T, g.constI64([1], [])]);
    const causal = g.op('LessOrEqual', [kpos, g.op('Unsqueeze', [qpos, g.constI64([1])])]);
    const keep = g.op('And', [g.op('Unsqueeze', [causal, g.constI64([0])]), g.op('Unsqueeze', [g.op('Cast', [attnMask], { to: DT.BOOL }), g.constI64([1])])]);
    const additive = (k: string, name: string) => g.op('Unsqueeze', [
      g.op('Where', [k, g.constF([0], [], DT.FLOAT), g.constF([-3.4028234663852886e38], [], DT.FLOAT)]),
      g.constI64([1]),
    ], undefined, name);
    const mask = additive(keep, '/model/attn_mask');
    // Local layers also drop keys at distance >= slidingWindow (HF's sliding_window mask).
    let localMask = mask;
    if (cfg.slidingWindow) {
      const near = g.op('Less', [g.op('Sub', [g.op('Unsqueeze', [qpos, g.constI64([1])]), kpos]), g.constI64([cfg.slidingWindow], [])]);
      localMask = additive(g.op('And', [keep, g.op('Unsqueeze', [near, g.constI64([0])])]), '/model/attn_mask_local');
    }

    // [B,S,D/2] -> [B,1,S,D] (duplicated halves, as HF's rotate_half convention needs)
    const rotaries = new Map<string, [string, string]>();
    const rotaryOf = (L: number): [string, string] => {
      const theta = layerRopeTheta(cfg, L), scale = layerRopeScale(cfg, L);
      const key = `${theta}:${scale}`;
      if (!rotaries.has(key)) rotaries.set(key, rotary(theta, scale, rotaries.size ? `_${rotaries.size}` : ''));
      return rotaries.get(key)!;
    };
    const rotary = (theta: number, scale: number, tag: string): [string, string] => {
      const rope = ropeCache(cfg, theta, scale);
      const cosT = finit(`/model/rotary_emb${tag}/cos_cached`, rope.cos, [cfg.maxPositions, D / 2]);
      const sinT = finit(`/model/rotary_emb${tag}/sin_cached`, rope.sin, [cfg.maxPositions, D / 2]);
      return [
        g.op('Unsqueeze', [g.op('Concat', [g.op('Gather', [cosT, positionIds]), g.op('Gather', [cosT, positionIds])], { axis: -1 }), g.constI64([1])]),
        g.op('Unsqueeze', [g.op('Concat', [g.op('Gather', [sinT, positionIds]), g.op('Gather', [sinT, positionIds])], { axis: -1 }), g.constI64([1])]),
      ];
    };
    const applyRope = (t: string, name: string, [cosF, sinF]: [string, string]): string => {
      const x1 = g.op('Slice', [t, g.constI64([0]), g.constI64([D / 2]), g.constI64([-1])], undefined, `${name}/Slice`);
      const x2 = g.op('Slice', [t, g.constI64([D / 2]), g.constI64([D]), g.constI64([-1])], undefined, `${name}/Slice_1`);
      const rot = g.op('Concat', [g.op('Neg', [x2], undefined, `${name}/Neg`), x1], { axis: -1 }, `${name}/Concat`);
      return g.op('Add', [g.op('Mul', [t, cosF], undefined, `${name}/Mul`), g.op('Mul', [rot, sinF], undefined, `${name}/Mul_1`)], undefined, `${name}/Add`);
    };
    const heads = (t: string, n: number, name: string) =>
      g.op('Transpose', [g.op('Reshape', [t, g.constI64([0, 0, n, D])], undefined, `${name}/Reshape`)], { perm: [0, 2, 1, 3] }, `${name}/Transpose`);
    const groups = nH / nKV;
    const repeatKv = (t: string, name: string): string => {
      if (groups === 1) return t;
      const shape = g.op('Shape', [t], undefined, `${name}/Shape`);
      const bt = g.op('Slice', [shape, g.constI64([0]), g.constI64([1]), g.constI64([0])]);
      const tt = g.op('Slice', [shape, g.constI64([2]), g.constI64([3]), g.constI64([0])]);
      const expShape = g.op('Concat', [bt, g.constI64([nKV, groups]), tt, g.constI64([D])], { axis: 0 });
      const outShape = g.op('Concat', [bt, g.constI64([nH]), tt, g.constI64([D])], { axis: 0 });
      const e = g.op('Expand', [g.op('Unsqueeze', [t, g.constI64([2])]), expShape], undefined, `${name}/Expand`);
      return g.op('Reshape', [e, outShape], undefined, `${name}/Reshape`);
    };
    const scale = g.constF([cfg.attnScale ?? 1 / Math.sqrt(D)], [], DT.FLOAT);

    for (let L = 0; L < layers; L++) {
      const lw = w.layers[L]!;
      const p = `/model/layers.${L}`;
      const local = isLocalLayer(cfg, L);
      const rope = rotaryOf(L);
      const h = rms(x, lw.attnNorm, `${p}/input_layernorm`);
      // q/k norms act per head ([B, n, S, D], last axis) before the rotary, as HF's Qwen3/Gemma3 do.
      let qh = heads(linear(h, lw.q, `${p}/self_attn/q_proj`, lw.qBias), nH, `${p}/self_attn/q`);
      let kh = heads(linear(h, lw.k, `${p}/self_attn/k_proj`, lw.kBias), nKV, `${p}/self_attn/k`);
      if (lw.qNorm) qh = rms(qh, lw.qNorm, `${p}/self_attn/q_norm`);
      if (lw.kNorm) kh = rms(kh, lw.kNorm, `${p}/self_attn/k_norm`);
      const q = applyRope(qh, `${p}/self_attn/q_rope`, rope);
      const kNew = applyRope(kh, `${p}/self_attn/k_rope`, rope);
      const vNew = heads(linear(h, lw.v, `${p}/self_attn/v_proj`, lw.vBias), nKV, `${p}/self_attn/v`);
      const k = g.node('Concat', [`past_key_values.${L}.key`, kNew], { name: `${p}/self_attn/Concat_k`, outputs: [`present.${L}.key`], attrs: { axis: 2 } })[0]!;
      const v = g.node('Concat', [`past_key_values.${L}.value`, vNew], { name: `${p}/self_attn/Concat_v`, outputs: [`present.${L}.value`], attrs: { axis: 2 } })[0]!;
      g.output(`present.${L}.key`, FT, ['batch_size', nKV, 'total_sequence_length', D]);
      g.output(`present.${L}.value`, FT, ['batch_size', nKV, 'total_sequence_length', D]);
      const kT = g.op('Transpose', [repeatKv(k, `${p}/self_attn/repeat_k`)], { perm: [0, 1, 3, 2] });
      let scores = g.op('MatMul', [q, kT], undefined, `${p}/self_attn/MatMul`);
      if (FT === DT.FLOAT16) scores = g.op('Cast', [scores], { to: DT.FLOAT });
      scores = g.op('Add', [g.op('Mul', [scores, scale]), local ? localMask : mask], undefined, `${p}/self_attn/Add_mask`);
      let probs = g.op('Softmax', [scores], { axis: -1 }, `${p}/self_attn/Softmax`);
      if (FT === DT.FLOAT16) probs = g.op('Cast', [probs], { to: DT.FLOAT16 });
      const ctx = g.op('MatMul', [probs, repeatKv(v, `${p}/self_attn/repeat_v`)], undefined, `${p}/self_attn/MatMul_1`);
      const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.constI64([0, 0, nH * D])], undefined, `${p}/self_attn/Reshape_out`);
      let attnOut = linear(merged, lw.o, `${p}/self_attn/o_proj`);
      if (lw.postAttnNorm) attnOut = rms(attnOut, lw.postAttnNorm, `${p}/post_attention_norm`);
      const mid = g.op('Add', [x, attnOut], undefined, `${p}/Add`);
      const h2 = rms(mid, lw.ffnNorm, `${p}/${lw.postAttnNorm ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}`);
      let delta = block(h2, L);
      if (lw.postFfnNorm) delta = rms(delta, lw.postFfnNorm, `${p}/post_feedforward_layernorm`);
      // The residual after block L (the hook anchor), post-MLP norm included.
      x = g.op('Add', [mid, delta], undefined, `${p}/Add_1`);
    }
    return rms(x, w.finalNorm, '/model/norm');
  }

  // ---------------- onnxruntime-genai style ----------------
  function buildGenaiBody(): string {
    // GroupQueryAttention's lengths, made once on first use.
    let gqaLens: [string, string] | null = null;
    const gqaLengths = (): [string, string] => (gqaLens ??= [
      g.op('Cast', [g.op('Sub', [g.op('ReduceSum', [attnMask, g.constI64([1])], { keepdims: 0 }), g.constI64([1], [])])], { to: DT.INT32 }, '/model/attn_mask_reformat/seqlens_k'),
      g.op('Cast', [g.op('Gather', [g.op('Shape', [attnMask]), g.constI64([1], [])], { axis: 0 })], { to: DT.INT32 }, '/model/attn_mask_reformat/total_seq_len'),
    ]);
    // One pair of rotary tables per (base, scale): local sliding-window layers may rotate with
    // another base and scale (Gemma 3: 10000 and 1 vs 1e6 and the linear scaling).
    const tables = new Map<string, [string, string]>();
    const tablesOf = (L: number): [string, string] => {
      const theta = layerRopeTheta(cfg, L), scale = layerRopeScale(cfg, L);
      const key = `${theta}:${scale}`;
      if (!tables.has(key)) {
        const r = ropeCache(cfg, theta, scale);
        const tag = tables.size ? `_${tables.size}` : '';
        tables.set(key, [finit(`cos_cache${tag}`, r.cos, [cfg.maxPositions, D / 2]), finit(`sin_cache${tag}`, r.sin, [cfg.maxPositions, D / 2])]);
      }
      return tables.get(key)!;
    };
    // kv 'rows': the new rows of each layer, [B, S, nKV, D], which a caller that keeps its cache on
    // the host appends to its array (see kvcache.ts).
    const rowsOutput = (L: number, which: 'key' | 'value', t: string) => {
      g.node('Reshape', [t, g.constI64([1, -1, nKV, D])], { name: `/model/layers.${L}/attn/${which}_rows`, outputs: [`${PRESENT_ROWS}.${L}.${which}`] });
      g.output(`${PRESENT_ROWS}.${L}.${which}`, FT, ['batch_size', 'sequence_length', nKV, D]);
      return `${PRESENT_ROWS}.${L}.${which}`;
    };

    /** GroupQueryAttention with rotary inside; the whole presents are the layer's cache outputs. */
    const gqaAttention = (L: number, q: string, k: string, v: string, cos: string, sin: string, windowAttr: Record<string, number>): string => {
      const p = `/model/layers.${L}/attn`;
      const [seqlensK, totalLen] = gqaLengths();
      const [attn] = g.node(
        'GroupQueryAttention',
        [q, k, v, `past_key_values.${L}.key`, `past_key_values.${L}.value`, seqlensK, totalLen, cos, sin],
        {
          name: `${p}/GroupQueryAttention`,
          outputs: [`${p}/GroupQueryAttention/output_0`, `present.${L}.key`, `present.${L}.value`],
          attrs: { num_heads: nH, kv_num_heads: nKV, do_rotary: 1, rotary_interleaved: 0, scale: { float: attnScale }, ...windowAttr },
          domain: 'com.microsoft',
        },
      );
      g.output(`present.${L}.key`, FT, ['batch_size', nKV, 'total_sequence_length', D]);
      g.output(`present.${L}.value`, FT, ['batch_size', nKV, 'total_sequence_length', D]);
      return attn!;
    };

    // kv 'rows': what every layer shares, made once. The past holds P rows (its input's shape) and
    // attention_mask marks which of them are real: the session feeds one masked zero row for an
    // empty cache (transBatchB cannot take a batch of 0 rows). With V real keys in all, the new
    // tokens sit at positions V-S..V-1 and past key j at j - pad (pad = P + S - V masked rows
    // first). Masks are additive [S, P + S] over (past keys, new keys): a past key is visible when
    // it is real, new key i while i <= s; local layers also drop keys at distance >= slidingWindow
    // (llama.cpp's n_swa, as GQA's window). Shapes are computed here too: per-layer ops cost ~3 us
    // each at short context.
    const G = nH / nKV;
    interface RowsShared { positions: string; mask: string; localMask: string; byQuery: string; flat: string; P1: string; outShape: string }
    let rowsShared: RowsShared | null = null;
    const rowsCommon = (): RowsShared => {
      if (rowsShared) return rowsShared;
      const one = g.constI64([1], []);
      const zero = g.constI64([0], []);
      const n = '/model/attn_rows';
      const S = g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: 0 }, `${n}/S`);
      const P = g.op('Gather', [g.op('Shape', ['past_key_values.0.key']), one], { axis: 0 }, `${n}/P`);
      const V = g.op('ReduceSum', [attnMask], { keepdims: 0 }, `${n}/V`);
      const qpos = g.op('Range', [g.op('Sub', [V, S]), V, one], undefined, `${n}/qpos`); // [S]
      const pad = g.op('Sub', [g.op('Add', [P, S]), V], undefined, `${n}/pad`);
      const positions = g.op('Unsqueeze', [qpos, g.constI64([0])], undefined, `${n}/position_ids`);
      const vec = (t: string) => g.op('Unsqueeze', [t, g.constI64([0])]); // scalar -> [1]
      const col = (t: string) => g.op('Unsqueeze', [t, g.constI64([1])]); // [S, 1]
      const row = (t: string) => g.op('Unsqueeze', [t, g.constI64([0])]); // [1, n]
      const S1 = vec(S), P1 = vec(P);
      const kpast = g.op('Sub', [g.op('Range', [zero, P, one]), pad]); // [P] key positions
      const inew = g.op('Range', [zero, S, one]); // [S]
      const real = g.op('Cast', [g.op('Slice', [attnMask, g.constI64([0]), P1, g.constI64([1])])], { to: DT.BOOL }); // [1, P]
      const pastOk = g.op('Expand', [real, g.op('Concat', [S1, P1], { axis: 0 })]);
      const visible = g.op('Concat', [pastOk, g.op('LessOrEqual', [row(inew), col(inew)])], { axis: 1 });
      const additive = (keep: string, name: string) => g.op('Where', [keep, g.constF([0], [], FT), g.constF([FT === DT.FLOAT16 ? -65504 : -3.4028234663852886e38], [], FT)], undefined, name);
      const mask = additive(visible, `${n}/mask`);
      let localMask = mask;
      if (cfg.slidingWindow) {
        const W = g.constI64([cfg.slidingWindow], []);
        // query position qpos[s] against key position kpast[j] (past) or qpos[i] (new)
        const pastNear = g.op('Less', [g.op('Sub', [col(qpos), row(kpast)]), W]);
        const newNear = g.op('Less', [g.op('Sub', [col(inew), row(inew)]), W]);
        localMask = additive(g.op('And', [visible, g.op('Concat', [pastNear, newNear], { axis: 1 })]), `${n}/mask_local`);
      }
      const PS1 = g.op('Add', [P1, S1]);
      return (rowsShared = {
        positions,
        mask,
        localMask,
        byQuery: g.op('Concat', [g.constI64([nKV, G]), S1, PS1], { axis: 0 }, `${n}/shape_by_query`), // [nKV, G, S, P+S]
        flat: g.op('Concat', [g.constI64([nKV, -1]), PS1], { axis: 0 }, `${n}/shape_flat`), // [nKV, G*S, P+S]
        P1,
        outShape: g.op('Concat', [g.constI64([nKV, G]), S1, g.constI64([D])], { axis: 0 }, `${n}/shape_ctx`), // [nKV, G, S, D]
      });
    };

    /** Attention over the host rows in place (kv 'rows'); the new rows are this layer's outputs. */
    const rowsAttention = (L: number, q: string, k: string, v: string, cos: string, sin: string, local: boolean): string => {
      const p = `/model/layers.${L}/attn`;
      const sh = rowsCommon();
      const rope = (t: string, n: number, tag: string) =>
        g.op('RotaryEmbedding', [t, sh.positions, cos, sin], { interleaved: 0, num_heads: n }, `${p}/${tag}_rotary`, 'com.microsoft');
      // [1, S, nKV*D] -> [1, S, nKV, D]: the rows the caller appends (token-major, as its array).
      const heads = (t: string, which: 'key' | 'value') => rowsOutput(L, which, t);
      const squeeze = (t: string, tag: string) => g.op('Squeeze', [t, g.constI64([0])], undefined, `${p}/${tag}`); // [P or S, nKV, D]
      const kNew = squeeze(heads(rope(k, nKV, 'k'), 'key'), 'k_new');
      const vNew = squeeze(heads(v, 'value'), 'v_new');
      const kPast = squeeze(`past_key_values.${L}.key`, 'k_past');
      const vPast = squeeze(`past_key_values.${L}.value`, 'v_past');
      // Queries grouped by their kv head (head h reads kv head h / G): [nKV, G*S, D], rows (g, s).
      const qr = g.op('Reshape', [rope(q, nH, 'q'), g.constI64([-1, nKV, G, D])], undefined, `${p}/q_groups`);
      const qg = g.op('Reshape', [g.op('Transpose', [qr], { perm: [1, 2, 0, 3] }, `${p}/q_transpose`), g.constI64([nKV, -1, D])], undefined, `${p}/q_grouped`);
      // transBatchB reads [T, nKV, D] as [nKV, T, D] in place (row stride nKV*D): no transpose copy.
      const mm = (a: string, b: string, transB: number, alpha: number, tag: string) =>
        g.op('FusedMatMul', [a, b], { transA: 0, transB, transBatchB: 1, alpha: { float: alpha } }, `${p}/${tag}`, 'com.microsoft');
      const scores = g.op('Concat', [mm(qg, kPast, 1, attnScale, 'scores_past'), mm(qg, kNew, 1, attnScale, 'scores_new')], { axis: -1 }, `${p}/scores`); // [nKV, G*S, P+S]
      const shaped = g.op('Reshape', [scores, sh.byQuery], undefined, `${p}/scores_by_query`);
      const probs = g.op('Softmax', [g.op('Add', [shaped, local ? sh.localMask : sh.mask], undefined, `${p}/masked`)], { axis: -1 }, `${p}/Softmax`);
      const flat = g.op('Reshape', [probs, sh.flat], undefined, `${p}/probs`);
      const probsPast = g.op('Slice', [flat, g.constI64([0]), sh.P1, g.constI64([-1])], undefined, `${p}/probs_past`);
      const probsNew = g.op('Slice', [flat, sh.P1, g.constI64([2 ** 62]), g.constI64([-1])], undefined, `${p}/probs_new`);
      const ctx = g.op('Add', [mm(probsPast, vPast, 0, 1, 'ctx_past'), mm(probsNew, vNew, 0, 1, 'ctx_new')], undefined, `${p}/ctx`); // [nKV, G*S, D]
      // -> [S, nKV, G, D] -> [1, S, nH*D]
      const bySeq = g.op('Transpose', [g.op('Reshape', [ctx, sh.outShape])], { perm: [2, 0, 1, 3] }, `${p}/ctx_transpose`);
      return g.op('Reshape', [bySeq, g.constI64([1, -1, nH * D])], undefined, `${p}/output`);
    };
    const epsAttr = { epsilon: { float: cfg.rmsEps } };
    const attnScale = cfg.attnScale ?? 1 / Math.sqrt(D);

    let residual = x;
    let delta = '';
    let h = '';
    for (let L = 0; L <= layers; L++) {
      const last = L === layers;
      const gamma = last ? w.finalNorm : w.layers[L]!.attnNorm;
      const name = last ? `/model/layers.${L}/final_norm_layernorm` : `/model/layers.${L}/input_layernorm`;
      const gName = finit(last ? 'model.norm.weight' : `model.layers.${L}.input_layernorm.weight`, gamma, [H]);
      if (L === 0) {
        h = g.op('SimplifiedLayerNormalization', [residual, gName], { axis: -1, ...epsAttr, stash_type: 1 }, `${name}/LayerNorm`);
      } else {
        const outs = g.node('SkipSimplifiedLayerNormalization', [residual, delta, gName], { name: `${name}/SkipLayerNorm`, outputs: [`${name}/SkipLayerNorm/output_0`, '', '', `${name}/SkipLayerNorm/output_3`], attrs: epsAttr, domain: 'com.microsoft' });
        h = outs[0]!;
        residual = outs[3]!;
      }
      if (last) break;
      const lw = w.layers[L]!;
      const p = `/model/layers.${L}/attn`;
      let q = linear(h, lw.q, `${p}/q_proj`, lw.qBias);
      let k = linear(h, lw.k, `${p}/k_proj`, lw.kBias);
      const v = linear(h, lw.v, `${p}/v_proj`, lw.vBias);
      // q/k norms act per head before the rotary, which GroupQueryAttention applies inside.
      if (lw.qNorm) q = headNorm(q, nH, lw.qNorm, `${p}/q_norm`, `model.layers.${L}.self_attn.q_norm.weight`);
      if (lw.kNorm) k = headNorm(k, nKV, lw.kNorm, `${p}/k_norm`, `model.layers.${L}.self_attn.k_norm.weight`);
      const isLocal = isLocalLayer(cfg, L);
      const [cosL, sinL] = tablesOf(L);
      // onnxruntime's local_window_size w keeps the last w keys, the current one included: llama.cpp's
      // n_swa (a key at distance >= n_swa is masked). Checked against the reference and llama.cpp in tests.
      const windowAttr: Record<string, number> = isLocal ? { local_window_size: cfg.slidingWindow! } : {};
      const attn = opts.kv === 'rows' ? rowsAttention(L, q, k, v, cosL, sinL, isLocal) : gqaAttention(L, q, k, v, cosL, sinL, windowAttr);
      let attnOut = linear(attn, lw.o, `${p}/o_proj`);
      // Gemma's sandwich: the attention output is normed before the residual add (post_attention_norm),
      // the MLP input by pre_feedforward_layernorm and the MLP output by post_feedforward_layernorm.
      if (lw.postAttnNorm) attnOut = rmsNode(attnOut, lw.postAttnNorm, `/model/layers.${L}/post_attention_norm`, `model.layers.${L}.post_attention_norm.weight`);
      const ffnName = lw.postAttnNorm ? 'pre_feedforward_layernorm' : 'post_attention_layernorm';
      const post = g.node('SkipSimplifiedLayerNormalization', [residual, attnOut, finit(`model.layers.${L}.${ffnName}.weight`, lw.ffnNorm, [H])], {
        name: `/model/layers.${L}/${ffnName}/SkipLayerNorm`,
        outputs: [`/model/layers.${L}/${ffnName}/SkipLayerNorm/output_0`, '', '', `/model/layers.${L}/${ffnName}/SkipLayerNorm/output_3`],
        attrs: epsAttr,
        domain: 'com.microsoft',
      });
      residual = post[3]!;
      delta = block(post[0]!, L);
      // The residual after block L (the next SkipLayerNorm's sum) includes this norm, as in llama.cpp.
      if (lw.postFfnNorm) delta = rmsNode(delta, lw.postFfnNorm, `/model/layers.${L}/post_feedforward_layernorm`, `model.layers.${L}.post_feedforward_layernorm.weight`);
    }
    return h;
  }
}
