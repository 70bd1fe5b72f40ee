/**
 * Tiny random decoders for fast tests. Weights are seeded and scaled so activations stay in a
 * realistic range (logits of order 1), which makes 1e-4 comparisons meaningful.
 */
import { archDefaults, archSpec } from '../engine/model/architectures.js';
import type { Architecture, DecoderConfig, DecoderWeights, LayerWeights, Matrix } from '../engine/model/types.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tiny config of the given architecture. Gemma 3 gets 6 layers (so layer 5 is global, the rest
 * local, as llama.cpp's pattern of 6 says) and a sliding window of 4 keys, so short prompts
 * already slide; overrides win.
 */
export function tinyConfig(overrides: Partial<DecoderConfig> = {}, arch: Architecture = 'llama'): DecoderConfig {
  const gemma = arch === 'gemma3';
  const base = {
    architecture: arch,
    layers: 3,
    hidden: 64,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    intermediate: 96,
    vocab: 97,
    rmsEps: 1e-5,
    ropeTheta: gemma ? 1_000_000 : 10000,
    maxPositions: 256,
    ...(gemma ? { layers: 6 } : {}),
  };
  const shape = { ...base, ...overrides };
  return { ...base, ...archDefaults(arch, shape, gemma ? 4 : 0), ...overrides };
}

export function tinyWeights(cfg: DecoderConfig, seed = 1): DecoderWeights {
  const rnd = mulberry32(seed);
  const vec = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + (rnd() * 2 - 1) * scale);
  const mat = (rows: number, cols: number): Matrix => ({ kind: 'float', rows, cols, data: vec(rows * cols, 1 / Math.sqrt(cols) * 1.7) });
  const { hidden: H, heads: nH, kvHeads: nKV, headDim: D, intermediate: I } = cfg;
  const needs = new Set(archSpec(cfg.architecture).requires ?? []);
  const layers: LayerWeights[] = Array.from({ length: cfg.layers }, () => ({
    attnNorm: vec(H, 0.2, 1),
    q: mat(nH * D, H),
    k: mat(nKV * D, H),
    v: mat(nKV * D, H),
    o: mat(H, nH * D),
    ...(cfg.architecture === 'qwen2' ? { qBias: vec(nH * D, 0.1), kBias: vec(nKV * D, 0.1), vBias: vec(nKV * D, 0.1) } : {}),
    ...(needs.has('attn_q_norm') ? { qNorm: vec(D, 0.3, 1) } : {}),
    ...(needs.has('attn_k_norm') ? { kNorm: vec(D, 0.3, 1) } : {}),
    ...(needs.has('post_attention_norm') ? { postAttnNorm: vec(H, 0.2, 1) } : {}),
    ...(needs.has('post_ffw_norm') ? { postFfnNorm: vec(H, 0.2, 1) } : {}),
    ffnNorm: vec(H, 0.2, 1),
    gate: mat(I, H),
    up: mat(I, H),
    down: mat(H, I),
  }));
  const embed: Matrix = { kind: 'float', rows: cfg.vocab, cols: H, data: vec(cfg.vocab * H, 1) };
  return { embed, layers, finalNorm: vec(H, 0.2, 1), lmHead: embed };
}
