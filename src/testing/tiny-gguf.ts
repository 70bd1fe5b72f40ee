/**
 * Writes tiny random decoders as GGUF files (any supported quant type), laid out exactly as
 * llama.cpp's converter would: [in, out] dims, Q/K rows permuted for llama, tied embeddings.
 * Used to test the GGUF path end to end without a download.
 */
import { GgmlType, quantize } from '../engine/gguf/quant.js';
import { writeGguf, type GgufMetadataEntry, type GgufTensorInput } from '../engine/gguf/writer.js';
import { GgufValueType } from '../engine/gguf/reader.js';
import { archSpec } from '../engine/model/architectures.js';
import type { DecoderConfig, DecoderWeights, Matrix } from '../engine/model/types.js';
import { matrixToFloat } from '../engine/model/types.js';

/** llama.cpp's permute(): HF row h*D + half*D/2 + j goes to GGUF row h*D + 2j + half. */
function permuteRows(data: Float32Array, rows: number, cols: number, nHeads: number): Float32Array {
  const D = rows / nHeads;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHeads; h++) for (let half = 0; half < 2; half++) for (let j = 0; j < D / 2; j++) {
    const src = h * D + half * (D / 2) + j;
    const dst = h * D + 2 * j + half;
    out.set(data.subarray(src * cols, (src + 1) * cols), dst * cols);
  }
  return out;
}

export interface TinyGgufOptions {
  /** Type for 2-D weights. */
  weightType?: number;
  /** Type for token_embd (tied lm_head). */
  embedType?: number;
  /** Extra metadata (e.g. tokenizer keys). */
  metadata?: GgufMetadataEntry[];
}

export function writeTinyGguf(cfg: DecoderConfig, w: DecoderWeights, opts: TinyGgufOptions = {}): Uint8Array {
  const arch = cfg.architecture;
  const wt = opts.weightType ?? GgmlType.F32;
  const U32 = GgufValueType.UINT32, F32 = GgufValueType.FLOAT32;
  const metadata: GgufMetadataEntry[] = [
    ['general.architecture', arch],
    ['general.name', 'steerlab-tiny'],
    [`${arch}.block_count`, cfg.layers, U32],
    [`${arch}.context_length`, cfg.maxPositions, U32],
    [`${arch}.embedding_length`, cfg.hidden, U32],
    [`${arch}.feed_forward_length`, cfg.intermediate, U32],
    [`${arch}.attention.head_count`, cfg.heads, U32],
    [`${arch}.attention.head_count_kv`, cfg.kvHeads, U32],
    [`${arch}.attention.layer_norm_rms_epsilon`, cfg.rmsEps, F32],
    [`${arch}.rope.freq_base`, cfg.ropeTheta, F32],
    [`${arch}.attention.key_length`, cfg.headDim, U32],
    [`${arch}.attention.value_length`, cfg.headDim, U32],
    ...(cfg.slidingWindow ? [[`${arch}.attention.sliding_window`, cfg.slidingWindow, U32] as GgufMetadataEntry] : []),
    ...(cfg.finalSoftcap ? [[`${arch}.final_logit_softcapping`, cfg.finalSoftcap, F32] as GgufMetadataEntry] : []),
    ...(cfg.ropeScale ? [[`${arch}.rope.scaling.type`, 'linear'], [`${arch}.rope.scaling.factor`, 1 / cfg.ropeScale, F32]] as GgufMetadataEntry[] : []),
    ...(opts.metadata ?? []),
  ];
  const tensors: GgufTensorInput[] = [];
  const put = (name: string, data: Float32Array, dims: number[], type: number) => tensors.push({ name, dims, type, data: quantize(type, data) });
  const mat = (name: string, m: Matrix, type = wt, heads?: number) => {
    let data = matrixToFloat(m);
    if (heads && archSpec(arch).permutedQK) data = permuteRows(data, m.rows, m.cols, heads);
    put(name, data, [m.cols, m.rows], type);
  };
  mat('token_embd.weight', w.embed, opts.embedType ?? GgmlType.F32);
  put('output_norm.weight', w.finalNorm, [cfg.hidden], GgmlType.F32);
  w.layers.forEach((l, i) => {
    const p = `blk.${i}`;
    put(`${p}.attn_norm.weight`, l.attnNorm, [cfg.hidden], GgmlType.F32);
    put(`${p}.ffn_norm.weight`, l.ffnNorm, [cfg.hidden], GgmlType.F32);
    mat(`${p}.attn_q.weight`, l.q, wt, cfg.heads);
    mat(`${p}.attn_k.weight`, l.k, wt, cfg.kvHeads);
    mat(`${p}.attn_v.weight`, l.v);
    mat(`${p}.attn_output.weight`, l.o);
    mat(`${p}.ffn_gate.weight`, l.gate);
    mat(`${p}.ffn_up.weight`, l.up);
    mat(`${p}.ffn_down.weight`, l.down);
    if (l.qBias) put(`${p}.attn_q.bias`, l.qBias, [l.qBias.length], GgmlType.F32);
    if (l.kBias) put(`${p}.attn_k.bias`, l.kBias, [l.kBias.length], GgmlType.F32);
    if (l.vBias) put(`${p}.attn_v.bias`, l.vBias, [l.vBias.length], GgmlType.F32);
    if (l.qNorm) put(`${p}.attn_q_norm.weight`, l.qNorm, [cfg.headDim], GgmlType.F32);
    if (l.kNorm) put(`${p}.attn_k_norm.weight`, l.kNorm, [cfg.headDim], GgmlType.F32);
    if (l.postAttnNorm) put(`${p}.post_attention_norm.weight`, l.postAttnNorm, [cfg.hidden], GgmlType.F32);
    if (l.postFfnNorm) put(`${p}.post_ffw_norm.weight`, l.postFfnNorm, [cfg.hidden], GgmlType.F32);
  });
  return writeGguf({ metadata, tensors });
}
