/**
 * What the engine knows about a decoder-only model, independent of where it came from
 * (GGUF file, transformers.js folder, hub id).
 */
export type Architecture = 'llama' | 'qwen2' | 'qwen3' | 'gemma3';

export type Activation = 'silu' | 'gelu_tanh';

export interface DecoderConfig {
  architecture: Architecture;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  rmsEps: number;
  ropeTheta: number;
  maxPositions: number;
  // Optional parts (absent = Llama behaviour); ggufConfig fills them from the architecture table
  // (model/architectures.ts).
  /** Gate activation of the MLP; default silu. */
  activation?: Activation;
  /** Token embeddings are multiplied by this (Gemma: sqrt(hidden)); default 1. */
  embedScale?: number;
  /** Attention logits scale; default 1/sqrt(headDim). */
  attnScale?: number;
  /** Sliding-window attention on local layers: a key at distance >= slidingWindow is masked. */
  slidingWindow?: number;
  /** With slidingWindow: every swaPattern-th layer (l % swaPattern == swaPattern-1) is global, the others local. */
  swaPattern?: number;
  /** Rotary base of the local (sliding-window) layers; default ropeTheta. */
  ropeThetaLocal?: number;
  /** Linear rope scaling: positions are multiplied by this (1/factor; llama.cpp's rope_freq_scale). */
  ropeScale?: number;
  /** The same for local layers; default ropeScale (Gemma 3: 1, llama.cpp's rope_freq_scale_train_swa). */
  ropeScaleLocal?: number;
  /** Final logit soft-capping: logits = cap * tanh(logits / cap) ({arch}.final_logit_softcapping). */
  finalSoftcap?: number;
}

/** Whether layer l attends through a sliding window (llama.cpp's hparams.is_swa). */
export function isLocalLayer(cfg: DecoderConfig, l: number): boolean {
  if (!cfg.slidingWindow) return false;
  const n = cfg.swaPattern ?? 0;
  return n === 0 || l % n < n - 1;
}

/** The rotary base of layer l. */
export function layerRopeTheta(cfg: DecoderConfig, l: number): number {
  return isLocalLayer(cfg, l) ? cfg.ropeThetaLocal ?? cfg.ropeTheta : cfg.ropeTheta;
}

/** The linear rope scale (position multiplier) of layer l. */
export function layerRopeScale(cfg: DecoderConfig, l: number): number {
  const global = cfg.ropeScale ?? 1;
  return isLocalLayer(cfg, l) ? cfg.ropeScaleLocal ?? global : global;
}

/** A weight matrix W of shape [rows = out features N, cols = in features K]. */
export type Matrix =
  | { kind: 'float'; rows: number; cols: number; data: Float32Array }
  | {
      kind: 'nbits';
      rows: number;
      cols: number;
      bits: 4 | 8;
      blockSize: 32;
      /** [N, K/32, 32*bits/8]: 4-bit packs two consecutive elements per byte, low nibble first (MatMulNBits layout). */
      B: Uint8Array;
      scales: Float32Array;
      /** float zero points [N*K/32], or null for the MatMulNBits default of 2^(bits-1). */
      zeroPoints: Float32Array | null;
      /**
       * Per-block offsets [N*K/32]: w = scale * q + min with zero point 0. Q4_1/Q4_K are stored
       * this way because onnxruntime's fast MatMulNBits kernels take only integer zero points;
       * the graph adds min * (block sum of x) with one small MatMul.
       */
      mins?: Float32Array;
    };

export interface LayerWeights {
  attnNorm: Float32Array;
  q: Matrix;
  k: Matrix;
  v: Matrix;
  o: Matrix;
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  /** Per-head RMS norm weights [headDim] on q and k before rotary (Qwen3, Gemma 3). */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  /** RMS norm on the attention output before it joins the residual (Gemma's post_attention_norm). */
  postAttnNorm?: Float32Array;
  /** Norm before the MLP (Gemma's pre_feedforward_layernorm; Llama's post_attention_layernorm). */
  ffnNorm: Float32Array;
  /** RMS norm on the MLP output before it joins the residual (Gemma's post_ffw_norm). */
  postFfnNorm?: Float32Array;
  gate: Matrix;
  up: Matrix;
  down: Matrix;
}

export interface DecoderWeights {
  /** [vocab, hidden]; an 8-bit matrix is gathered and dequantised in the graph (and may be the lm_head too). */
  embed: Matrix;
  layers: LayerWeights[];
  finalNorm: Float32Array;
  lmHead: Matrix;
}

/** Dequantise a matrix to float, for the reference forward and for float-only graph styles. */
export function matrixToFloat(m: Matrix): Float32Array {
  if (m.kind === 'float') return m.data;
  const { rows: N, cols: K, B, scales, zeroPoints } = m;
  const nb = K / 32;
  const out = new Float32Array(N * K);
  if (m.bits === 8) {
    for (let n = 0; n < N; n++) for (let b = 0; b < nb; b++) {
      const s = scales[n * nb + b]!;
      const zp = zeroPoints ? zeroPoints[n * nb + b]! : 128;
      for (let i = 0; i < 32; i++) out[n * K + b * 32 + i] = s * (B[(n * nb + b) * 32 + i]! - zp);
    }
    return out;
  }
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < nb; b++) {
      const s = scales[n * nb + b]!;
      const zp = m.mins ? 0 : zeroPoints ? zeroPoints[n * nb + b]! : 8;
      const min = m.mins ? m.mins[n * nb + b]! : 0;
      const base = (n * nb + b) * 16;
      for (let i = 0; i < 16; i++) {
        const byte = B[base + i]!;
        out[n * K + b * 32 + 2 * i] = s * ((byte & 15) - zp) + min;
        out[n * K + b * 32 + 2 * i + 1] = s * ((byte >> 4) - zp) + min;
      }
    }
  }
  return out;
}

/**
 * The same weights with every linear (attention, MLP, lm_head) as float; the embedding table
 * stays as it is (a gather reads only the rows it needs). For onnxruntime's wasm build: it has no
 * 4-bit kernel, so MatMulNBits there dequantises the whole matrix on every call (SmolLM2: ~0.5 s
 * per token, ~11x slower than float MatMul). Exact: the values are the file's dequantised ones.
 */
export function withFloatLinears(w: DecoderWeights, opts: { lmHead?: boolean } = {}): DecoderWeights {
  const done = new Map<Matrix, Matrix>();
  const fl = (m: Matrix): Matrix => {
    if (m.kind === 'float') return m;
    let r = done.get(m);
    if (!r) done.set(m, (r = { kind: 'float', rows: m.rows, cols: m.cols, data: matrixToFloat(m) }));
    return r;
  };
  return {
    embed: w.embed,
    finalNorm: w.finalNorm,
    lmHead: opts.lmHead === false ? w.lmHead : fl(w.lmHead),
    layers: w.layers.map((l) => ({ ...l, q: fl(l.q), k: fl(l.k), v: fl(l.v), o: fl(l.o), gate: fl(l.gate), up: fl(l.up), down: fl(l.down) })),
  };
}
