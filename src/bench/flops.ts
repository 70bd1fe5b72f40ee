/**
 * The arithmetic of one forward: S new tokens after P cached ones. A step's time cannot grow less
 * with context than its FLOPs do unless attention runs faster per FLOP than the linears, so the
 * agent bench reports this ratio beside the measured one.
 */
import { readFileSync } from 'node:fs';
import { parseGguf } from '../engine/gguf/reader.js';
import { isLocalLayer, type DecoderConfig } from '../engine/model/types.js';
import { ggufConfig } from '../engine/sources/convert.js';

const LINEAR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

export interface ForwardFlops {
  /** 2 per weight of the blocks' linears per new token, plus the lm_head at the last position. */
  linear: number;
  /** 4 * heads * headDim per (query, visible key) pair per layer: the scores and the weighted sum. */
  attention: number;
}

export type FlopsOf = (past: number, fresh: number) => ForwardFlops;

/** FLOPs of a forward of `fresh` tokens after `past` for a model with these block weights. */
export function forwardFlops(cfg: DecoderConfig, blockWeights: number, past: number, fresh: number): ForwardFlops {
  const perPair = 4 * cfg.heads * cfg.headDim;
  let attention = 0;
  for (let l = 0; l < cfg.layers; l++) {
    const window = isLocalLayer(cfg, l) ? cfg.slidingWindow! : Infinity;
    for (let p = past; p < past + fresh; p++) attention += perPair * Math.min(p + 1, window);
  }
  return { linear: 2 * blockWeights * fresh + 2 * cfg.vocab * cfg.hidden, attention };
}

/** forwardFlops for a GGUF file's bytes (only the header's shapes and keys are used). */
export function ggufFlops(bytes: Uint8Array): FlopsOf {
  const f = parseGguf(bytes);
  const cfg = ggufConfig(f);
  let weights = 0;
  for (const t of f.tensors) if (LINEAR.test(t.name)) weights += t.nElements;
  return (past, fresh) => forwardFlops(cfg, weights, past, fresh);
}

/** ggufFlops for a model file; undefined for other sources (an ONNX folder has no GGUF shapes). */
export function modelFlops(path: string): FlopsOf | undefined {
  return path.endsWith('.gguf') ? ggufFlops(new Uint8Array(readFileSync(path))) : undefined;
}
