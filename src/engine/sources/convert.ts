/**
 * GGUF -> steerable decoder. Reads hyper-parameters and weights from a parsed GGUF, keeps
 * 4-bit blocks 4-bit (MatMulNBits), dequantises everything else, undoes llama.cpp's Q/K row
 * permutation so the graph can use HF's rotate-half rotary, and emits a genai-style graph.
 */
import { SteerlabError } from '../../errors.js';
import type { GgufFile } from '../gguf/reader.js';
import { tensorBytes } from '../gguf/reader.js';
import { GgmlType, SUPPORTED_QUANT_NAMES, canDequantize, dequantize, f16BitsToF32, ggmlTypeName, toMatMulNBits, toMatMulNBits8 } from '../gguf/quant.js';
import { ARCHITECTURES, SUPPORTED_ARCHS, archDefaults, archSpec } from '../model/architectures.js';
import type { Architecture, DecoderConfig, DecoderWeights, LayerWeights, Matrix } from '../model/types.js';

export { SUPPORTED_ARCHS };
const NBITS_TYPES = new Set<number>([GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K]);
/** Rotary tables are precomputed; longer contexts than this are not needed in a browser lab. */
const MAX_POSITIONS = 8192;

export function metaValue(f: GgufFile, key: string): unknown {
  const m = f.metadata as unknown;
  return m instanceof Map ? m.get(key) : (m as Record<string, unknown>)[key];
}

function num(f: GgufFile, key: string, fallback?: number): number {
  const v = metaValue(f, key);
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new SteerlabError('GGUF_CORRUPT', `GGUF lacks the hyper-parameter '${key}'`);
  }
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new SteerlabError('GGUF_CORRUPT', `GGUF key '${key}' has an invalid value ${String(v)}`);
  return n;
}

export function ggufConfig(f: GgufFile): DecoderConfig {
  const arch = String(metaValue(f, 'general.architecture') ?? '');
  if (!SUPPORTED_ARCHS.includes(arch as Architecture)) {
    throw new SteerlabError('UNSUPPORTED_ARCH', `unsupported architecture '${arch}' (supported: ${SUPPORTED_ARCHS.join(', ')})`);
  }
  const hidden = num(f, `${arch}.embedding_length`);
  const heads = num(f, `${arch}.attention.head_count`);
  const kvHeads = num(f, `${arch}.attention.head_count_kv`, heads);
  const headDim = num(f, `${arch}.attention.key_length`, heads ? hidden / heads : 0);
  const valueDim = num(f, `${arch}.attention.value_length`, headDim);
  if (valueDim !== headDim) throw new SteerlabError('UNSUPPORTED_ARCH', `attention value_length ${valueDim} differs from key_length ${headDim}; not supported`);
  const spec = ARCHITECTURES[arch as Architecture];
  const layers = num(f, `${arch}.block_count`);
  const tokens = metaValue(f, 'tokenizer.ggml.tokens') as unknown[] | undefined;
  const emb = f.tensorByName.get('token_embd.weight');
  const vocab = emb ? emb.dims[1]! : tokens?.length ?? 0;
  const cfg: DecoderConfig = {
    architecture: arch as Architecture,
    layers,
    hidden,
    heads,
    kvHeads,
    headDim,
    intermediate: num(f, `${arch}.feed_forward_length`),
    vocab,
    rmsEps: num(f, `${arch}.attention.layer_norm_rms_epsilon`, 1e-6),
    ropeTheta: num(f, `${arch}.rope.freq_base`, spec.ropeTheta),
    maxPositions: Math.min(MAX_POSITIONS, num(f, `${arch}.context_length`, 2048)),
    // llama.cpp sets Gemma 3's local rotary base to 10000 whatever rope.freq_base_swa says, so the entry's value is used.
    ...archDefaults(arch as Architecture, { hidden, heads, headDim, layers }, spec.slidingWindow ? num(f, `${arch}.attention.sliding_window`, 0) : 0),
  };
  const bad = Object.entries(cfg).find(([k, v]) => typeof v === 'number' && ['layers', 'hidden', 'heads', 'kvHeads', 'headDim', 'intermediate', 'vocab', 'maxPositions'].includes(k) && (!Number.isInteger(v) || v <= 0 || v > 1 << 20));
  if (bad || cfg.heads % cfg.kvHeads !== 0 || cfg.headDim % 2 !== 0) {
    throw new SteerlabError('GGUF_CORRUPT', `implausible hyper-parameters in GGUF: ${JSON.stringify(cfg)}`);
  }
  // Linear rope scaling as llama.cpp reads it: rope.scaling.factor (or the older rope.scale_linear), 1/factor.
  const scalingType = metaValue(f, `${arch}.rope.scaling.type`);
  if (scalingType !== undefined && scalingType !== 'none' && scalingType !== 'linear') {
    throw new SteerlabError('UNSUPPORTED_ARCH', `rope scaling '${String(scalingType)}' is not supported yet (only linear)`);
  }
  const factor = scalingType === 'none' ? 0 : num(f, `${arch}.rope.scaling.factor`, num(f, `${arch}.rope.scale_linear`, 0));
  if (factor > 0 && factor !== 1) cfg.ropeScale = 1 / factor;
  const cap = spec.finalSoftcap ? num(f, `${arch}.final_logit_softcapping`, 0) : 0;
  if (cap > 0) cfg.finalSoftcap = cap;
  return cfg;
}

/** Q8_0 blocks (fp16 d, 32 int8) as 8-bit MatMulNBits blocks: q + 128 with the default zero point 128. Exact. */
function q8Matrix(data: Uint8Array, rows: number, cols: number): Matrix {
  const nBlocks = (rows * cols) / 32;
  const B = new Uint8Array(rows * cols);
  const scales = new Float32Array(nBlocks);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < nBlocks; b++) {
    scales[b] = f16BitsToF32(dv.getUint16(b * 34, true));
    for (let i = 0; i < 32; i++) B[b * 32 + i] = (data[b * 34 + 2 + i]! ^ 0x80) & 0xff; // int8 + 128
  }
  return { kind: 'nbits', rows, cols, bits: 8, blockSize: 32, B, scales, zeroPoints: null };
}

/** The GGUF weight of shape [rows=N, cols=K] (stored dims [K, N]). */
function matrix(f: GgufFile, bytes: Uint8Array, name: string, rows: number, cols: number): Matrix {
  const t = f.tensorByName.get(name);
  if (!t) throw new SteerlabError('GGUF_CORRUPT', `GGUF lacks tensor '${name}'`);
  if (t.dims[0] !== cols || (t.dims[1] ?? 1) !== rows) {
    throw new SteerlabError('GGUF_CORRUPT', `tensor '${name}' has dims [${t.dims}], expected [${cols}, ${rows}]`);
  }
  const data = tensorBytes(bytes, t);
  if (NBITS_TYPES.has(t.type) && cols % 32 === 0) {
    const q = toMatMulNBits(t.type, data, rows, cols);
    if (!q.zeroPoints) return { kind: 'nbits', rows, cols, bits: 4, blockSize: 32, B: q.B, scales: q.scales, zeroPoints: null };
    // s * (q - zp) = s * q + min with min = -zp * s: keeps the integer-zero-point fast path.
    const mins = q.zeroPoints.map((zp, i) => -zp * q.scales[i]!);
    return { kind: 'nbits', rows, cols, bits: 4, blockSize: 32, B: q.B, scales: q.scales, zeroPoints: null, mins };
  }
  if (t.type === GgmlType.Q8_0) return q8Matrix(data, rows, cols);
  // Q5_0 and Q3_K fit 8-bit blocks of 32 exactly (zero point 128); Q5_1, Q2_K, Q5_K become float.
  if ((t.type === GgmlType.Q5_0 || t.type === GgmlType.Q3_K) && cols % 32 === 0) {
    const q = toMatMulNBits8(t.type, data, rows, cols);
    return { kind: 'nbits', rows, cols, bits: 8, blockSize: 32, B: q.B, scales: q.scales, zeroPoints: null };
  }
  return { kind: 'float', rows, cols, data: dequantize(t.type, data, rows * cols, name) };
}

function vector(f: GgufFile, bytes: Uint8Array, name: string, n: number): Float32Array {
  const t = f.tensorByName.get(name);
  if (!t) throw new SteerlabError('GGUF_CORRUPT', `GGUF lacks tensor '${name}'`);
  if (t.nElements !== n) throw new SteerlabError('GGUF_CORRUPT', `tensor '${name}' has ${t.nElements} elements, expected ${n}`);
  return dequantize(t.type, tensorBytes(bytes, t), n, name);
}

function optionalVector(f: GgufFile, bytes: Uint8Array, name: string, n: number): Float32Array | undefined {
  return f.tensorByName.has(name) ? vector(f, bytes, name, n) : undefined;
}

/**
 * llama.cpp stores Q/K rows of each head interleaved (row h*D + 2j + half); HF's rotate-half
 * layout is h*D + half*D/2 + j. Moving whole rows is exact, also for 4-bit blocks.
 */
export function unpermuteRows(m: Matrix, nHeads: number): Matrix {
  const D = m.rows / nHeads;
  const perm = new Int32Array(m.rows); // perm[hfRow] = ggufRow
  for (let h = 0; h < nHeads; h++) for (let half = 0; half < 2; half++) for (let j = 0; j < D / 2; j++) perm[h * D + half * (D / 2) + j] = h * D + 2 * j + half;
  const moveRows = <T extends Float32Array | Uint8Array>(src: T, rowLen: number): T => {
    const out = new (src.constructor as new (n: number) => T)(src.length);
    for (let r = 0; r < m.rows; r++) out.set(src.subarray(perm[r]! * rowLen, (perm[r]! + 1) * rowLen), r * rowLen);
    return out;
  };
  if (m.kind === 'float') return { ...m, data: moveRows(m.data, m.cols) };
  const nb = m.cols / 32;
  return {
    ...m,
    B: moveRows(m.B, (nb * 32 * m.bits) / 8),
    scales: moveRows(m.scales, nb),
    zeroPoints: m.zeroPoints ? moveRows(m.zeroPoints, nb) : null,
    ...(m.mins ? { mins: moveRows(m.mins, nb) } : {}),
  };
}

function ggufLayer(f: GgufFile, bytes: Uint8Array, cfg: DecoderConfig, l: number): LayerWeights {
  const { hidden: H, heads: nH, kvHeads: nKV, headDim: D, intermediate: I } = cfg;
  const p = `blk.${l}`;
  let q = matrix(f, bytes, `${p}.attn_q.weight`, nH * D, H);
  let k = matrix(f, bytes, `${p}.attn_k.weight`, nKV * D, H);
  const spec = archSpec(cfg.architecture);
  if (spec.permutedQK) {
    q = unpermuteRows(q, nH);
    k = unpermuteRows(k, nKV);
  }
  for (const t of spec.requires ?? []) {
    if (!f.tensorByName.has(`${p}.${t}.weight`)) throw new SteerlabError('GGUF_CORRUPT', `${cfg.architecture} GGUF lacks tensor '${p}.${t}.weight'`);
  }
  const qNorm = optionalVector(f, bytes, `${p}.attn_q_norm.weight`, D);
  const kNorm = optionalVector(f, bytes, `${p}.attn_k_norm.weight`, D);
  const postAttnNorm = optionalVector(f, bytes, `${p}.post_attention_norm.weight`, H);
  const postFfnNorm = optionalVector(f, bytes, `${p}.post_ffw_norm.weight`, H);
  return {
    ...(qNorm ? { qNorm } : {}),
    ...(kNorm ? { kNorm } : {}),
    ...(postAttnNorm ? { postAttnNorm } : {}),
    ...(postFfnNorm ? { postFfnNorm } : {}),
    attnNorm: vector(f, bytes, `${p}.attn_norm.weight`, H),
    q,
    k,
    v: matrix(f, bytes, `${p}.attn_v.weight`, nKV * D, H),
    o: matrix(f, bytes, `${p}.attn_output.weight`, H, nH * D),
    qBias: optionalVector(f, bytes, `${p}.attn_q.bias`, nH * D),
    kBias: optionalVector(f, bytes, `${p}.attn_k.bias`, nKV * D),
    vBias: optionalVector(f, bytes, `${p}.attn_v.bias`, nKV * D),
    ffnNorm: vector(f, bytes, `${p}.ffn_norm.weight`, H),
    gate: matrix(f, bytes, `${p}.ffn_gate.weight`, I, H),
    up: matrix(f, bytes, `${p}.ffn_up.weight`, I, H),
    down: matrix(f, bytes, `${p}.ffn_down.weight`, H, I),
  };
}

/** Only what the last block's tail needs (V-Reason): the last layer, the final norm and the lm_head, as ggufWeights converts them. */
export function ggufTailWeights(f: GgufFile, bytes: Uint8Array, cfg: DecoderConfig): DecoderWeights {
  const { hidden: H, vocab: V } = cfg;
  const emb = f.tensorByName.get('token_embd.weight');
  if (!emb) throw new SteerlabError('GGUF_CORRUPT', "GGUF has no 'token_embd.weight': it may hold only a vocabulary");
  const last = ggufLayer(f, bytes, cfg, cfg.layers - 1);
  const lmHead = f.tensorByName.has('output.weight')
    ? matrix(f, bytes, 'output.weight', V, H)
    : emb.type === GgmlType.Q8_0 && H % 32 === 0 ? q8Matrix(tensorBytes(bytes, emb), V, H) : matrix(f, bytes, 'token_embd.weight', V, H);
  const layers = new Array<LayerWeights>(cfg.layers).fill(last);
  return { embed: lmHead, layers, finalNorm: vector(f, bytes, 'output_norm.weight', H), lmHead };
}

export function ggufWeights(f: GgufFile, bytes: Uint8Array, cfg: DecoderConfig): DecoderWeights {
  const { hidden: H, vocab: V } = cfg;
  const emb = f.tensorByName.get('token_embd.weight');
  if (!emb) throw new SteerlabError('GGUF_CORRUPT', "GGUF has no 'token_embd.weight': it may hold only a vocabulary");
  for (const t of f.tensors) {
    if (/\.weight$/.test(t.name) && t.dims.length === 2 && !canDequantize(t.type)) {
      throw new SteerlabError('UNSUPPORTED_QUANT', `tensor '${t.name}' uses ${ggmlTypeName(t.type)}; supported: ${SUPPORTED_QUANT_NAMES}`);
    }
  }
  // An 8-bit table stays 8-bit (gathered then dequantised in the graph); others become float.
  const embed: Matrix = emb.type === GgmlType.Q8_0 && H % 32 === 0
    ? q8Matrix(tensorBytes(bytes, emb), V, H)
    : { kind: 'float', rows: V, cols: H, data: dequantize(emb.type, tensorBytes(bytes, emb), V * H, emb.name) };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) layers.push(ggufLayer(f, bytes, cfg, l));
  // Tied embeddings reuse the same matrix object, so the graph stores the blocks once.
  const lmHead = f.tensorByName.has('output.weight') ? matrix(f, bytes, 'output.weight', V, H) : embed.kind === 'nbits' ? embed : matrix(f, bytes, 'token_embd.weight', V, H);
  return { embed, layers, finalNorm: vector(f, bytes, 'output_norm.weight', H), lmHead };
}
