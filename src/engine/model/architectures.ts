/**
 * The architectures the GGUF converter takes, as declarative entries. Everything an entry says
 * is either a GGUF key to read (with llama.cpp's default when the key is absent) or an optional
 * part of the block that the graph (onnx/decoder.ts) and the reference forward
 * (testing/reference.ts) build when the weights or the config carry it:
 *
 *   q/k/v biases          blk.N.attn_{q,k,v}.bias            (Qwen2)
 *   per-head q/k norms    blk.N.attn_{q,k}_norm.weight       (Qwen3, Gemma 3)
 *   sandwich norms        blk.N.post_attention_norm, post_ffw_norm (Gemma 3)
 *   gate activation       silu | gelu_tanh                   (Gemma: GELU, tanh approximation)
 *   embedding scale       sqrt(hidden)                       (Gemma)
 *   sliding window        {arch}.attention.sliding_window, every n-th layer global, own rotary base
 *
 * Adding an architecture that is a combination of these is one entry here; a new kind of op
 * needs that op in the graph and the reference, and a field here to switch it on.
 * The details follow llama.cpp (src/llama-model.cpp, load_hparams and the per-arch graph).
 */
import type { Activation, Architecture, DecoderConfig } from './types.js';

export interface ArchSpec {
  /** llama.cpp's default rotary base when {arch}.rope.freq_base is absent. */
  ropeTheta: number;
  /** GGUF Q/K rows are permuted for llama.cpp's interleaved (NORM) rotary; the converter undoes it. */
  permutedQK?: boolean;
  /** Tensors that must be present in every block (beyond the Llama set). */
  requires?: Array<'attn_q_norm' | 'attn_k_norm' | 'post_attention_norm' | 'post_ffw_norm'>;
  activation?: Activation;
  /** Embedding multiplier as a function of the config (Gemma: sqrt(hidden)). */
  embedScale?: (c: Pick<DecoderConfig, 'hidden'>) => number;
  /** Attention scale when it is not 1/sqrt(headDim). */
  attnScale?: (c: Pick<DecoderConfig, 'hidden' | 'heads' | 'headDim' | 'layers'>) => number;
  /**
   * Sliding-window attention when {arch}.attention.sliding_window is set: every `pattern`-th layer
   * is global (llama.cpp's set_swa_pattern), local layers use rotary base `localRopeTheta` and
   * linear scale `localRopeScale` (default: the global one).
   */
  slidingWindow?: { pattern: number; localRopeTheta: number; localRopeScale?: number };
  /** Reads {arch}.final_logit_softcapping (llama.cpp does for Gemma 2 and 3; Gemma 3's files have none). */
  finalSoftcap?: boolean;
}

export const ARCHITECTURES: Record<Architecture, ArchSpec> = {
  llama: { ropeTheta: 10_000, permutedQK: true },
  qwen2: { ropeTheta: 1_000_000 },
  qwen3: { ropeTheta: 1_000_000, requires: ['attn_q_norm', 'attn_k_norm'] },
  gemma3: {
    ropeTheta: 1_000_000,
    requires: ['attn_q_norm', 'attn_k_norm', 'post_attention_norm', 'post_ffw_norm'],
    activation: 'gelu_tanh',
    embedScale: (c) => Math.sqrt(c.hidden),
    // llama.cpp: 1/sqrt(n_embd/n_head) for the 27B (62 layers), else 1/sqrt(head_dim) (query_pre_attn_scalar = head_dim).
    attnScale: (c) => (c.layers === 62 ? 1 / Math.sqrt(c.hidden / c.heads) : 1 / Math.sqrt(c.headDim)),
    // Linear rope scaling (4B and up: factor 8) applies to the global layers only.
    slidingWindow: { pattern: 6, localRopeTheta: 10_000, localRopeScale: 1 },
    finalSoftcap: true,
  },
};

export const SUPPORTED_ARCHS = Object.keys(ARCHITECTURES) as Architecture[];

export function archSpec(arch: Architecture): ArchSpec {
  return ARCHITECTURES[arch];
}

/**
 * The config fields an architecture implies (activation, scales, window), for tiny test models
 * and for ggufConfig; `window` is the sliding window (0 = none).
 */
export function archDefaults(arch: Architecture, c: Pick<DecoderConfig, 'hidden' | 'heads' | 'headDim' | 'layers'>, window = 0): Partial<DecoderConfig> {
  const s = ARCHITECTURES[arch];
  const out: Partial<DecoderConfig> = {};
  if (s.activation && s.activation !== 'silu') out.activation = s.activation;
  if (s.embedScale) out.embedScale = s.embedScale(c);
  if (s.attnScale) out.attnScale = s.attnScale(c);
  if (s.slidingWindow && window > 0) {
    out.slidingWindow = window;
    out.swaPattern = s.slidingWindow.pattern;
    out.ropeThetaLocal = s.slidingWindow.localRopeTheta;
    if (s.slidingWindow.localRopeScale !== undefined) out.ropeScaleLocal = s.slidingWindow.localRopeScale;
  }
  return out;
}
