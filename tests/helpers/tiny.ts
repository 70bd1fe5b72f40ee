/** Shared fixtures for engine tests: tiny generated models opened as steerable sessions. */
import { afterAll, beforeAll } from 'vitest';
import { logSoftmax } from '../../src/engine/logits.js';
import { tinyConfig, tinyWeights } from '../../src/testing/tiny.js';
import type { DecoderConfig, DecoderWeights } from '../../src/engine/model/types.js';
import { buildDecoderGraph, type GraphDtype, type GraphStyle } from '../../src/engine/onnx/decoder.js';
import { openGraph } from '../../src/engine/open.js';
import { nodeRuntime } from '../../src/engine/runtime/node.js';
import type { ModelSession } from '../../src/engine/session.js';
import type { Tokenizer } from '../../src/engine/tokenizer.js';

/** Ids are written as space-separated numbers: enough for tests that work on ids. */
export const idTokenizer: Tokenizer = {
  encode: (t) => t.trim().split(/\s+/).filter(Boolean).map(Number),
  decode: (ids) => ids.join(' '),
  applyChatTemplate: (m) => m.map((x) => x.content).join(' '),
  eosIds: [0],
  bosId: null,
};

export interface TinyModel {
  cfg: DecoderConfig;
  weights: DecoderWeights;
  graph: Uint8Array;
  session: ModelSession;
}

export async function openTiny(style: GraphStyle, dtype: GraphDtype, arch: 'llama' | 'qwen2' = 'llama', kv: 'present' | 'rows' = 'present'): Promise<TinyModel> {
  const cfg = tinyConfig({}, arch);
  const weights = tinyWeights(cfg, 7);
  const graph = buildDecoderGraph(cfg, weights, { style, dtype, kv });
  const session = await openGraph(nodeRuntime, graph, { modelId: `tiny-${style}-${dtype}-${kv}`, hash: 'tiny', architecture: arch, heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab }, idTokenizer);
  return { cfg, weights, graph, session };
}

/** A character-level tokenizer for tiny models (vocab 97): id 0 = end, 1 = newline, 2.. = printable ASCII. */
export const charTokenizer: Tokenizer = {
  encode: (t) => Array.from(t, (c) => (c === '\n' ? 1 : Math.min(96, Math.max(2, c.charCodeAt(0) - 30)))),
  decode: (ids) => ids.map((i) => (i === 1 ? '\n' : i === 0 ? '' : String.fromCharCode(i + 30))).join(''),
  applyChatTemplate: (m, gen = true) => m.map((x) => `${x.role}: ${x.content}\n`).join('') + (gen ? 'assistant: ' : ''),
  eosIds: [0],
  bosId: null,
};

export async function openTinyChar(style: GraphStyle = 'genai'): Promise<TinyModel> {
  const cfg = tinyConfig({ maxPositions: 4096 });
  const weights = tinyWeights(cfg, 5);
  // Shrink the final norm so logits are O(1): a flatter next-token distribution makes sampling tests informative.
  weights.finalNorm = weights.finalNorm.map((x) => x * 0.12);
  const graph = buildDecoderGraph(cfg, weights, { style, dtype: 'fp32' });
  const session = await openGraph(nodeRuntime, graph, { modelId: 'tiny-char', hash: 'tiny', architecture: 'llama', heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab }, charTokenizer);
  return { cfg, weights, graph, session };
}

/**
 * The tiny character model for a suite: opened before its tests, disposed after them. The returned
 * object reads through to the model, so tests use it as a TinyModel.
 */
export function useTinyChar(style: GraphStyle = 'genai'): TinyModel {
  let m: TinyModel | undefined;
  beforeAll(async () => {
    m = await openTinyChar(style);
  });
  afterAll(async () => m?.session.dispose());
  const get = (): TinyModel => {
    if (!m) throw new Error('the tiny model is opened in beforeAll: use it inside a test');
    return m;
  };
  return {
    get cfg() { return get().cfg; },
    get weights() { return get().weights; },
    get graph() { return get().graph; },
    get session() { return get().session; },
  };
}

/**
 * Reference for exact scoring: each complete answer's summed token log-probs by one full forward
 * (ids: the whole text's tokens; head: how many of them precede the answer).
 */
export async function fullForwardScores(session: ModelSession, answers: { ids: number[]; head: number }[]): Promise<number[]> {
  const V = session.info.vocab;
  const scores: number[] = [];
  for (const { ids, head } of answers) {
    const tail = ids.slice(head);
    const out = await session.forward(session.newCache(), ids.slice(0, -1), { logitsFor: tail.length });
    let lp = 0;
    tail.forEach((tok, i) => (lp += logSoftmax(out.logits.subarray(i * V, (i + 1) * V))[tok]!));
    scores.push(lp);
  }
  return scores;
}

/** Normalised probabilities of summed log-prob scores. */
export function normalised(scores: number[]): number[] {
  const mx = Math.max(...scores);
  const z = scores.reduce((a, b) => a + Math.exp(b - mx), 0);
  return scores.map((sc) => Math.exp(sc - mx) / z);
}
