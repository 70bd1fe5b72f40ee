/**
 * Tiny random GGUFs of every architecture, written by the project's writer, run in llama.cpp
 * (node-llama-cpp) and here: the same next-token probabilities at every position and the same
 * greedy continuation. This checks the writer (llama.cpp's loader is strict about names, shapes
 * and key types), the converter, and the sliding window / rotary bases against llama.cpp itself.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaModel } from 'node-llama-cpp';
import { logSoftmax } from '../src/engine/logits.js';
import { EXTERNAL_DATA_NAME } from '../src/engine/onnx/decoder.js';
import { openGraph } from '../src/engine/open.js';
import { nodeRuntime } from '../src/engine/runtime/node.js';
import type { ModelSession } from '../src/engine/session.js';
import { ggufToGraph } from '../src/engine/sources/gguf.js';
import { tinyConfig, tinyWeights } from '../src/testing/tiny.js';
import { writeTinyGguf } from '../src/testing/tiny-gguf.js';
import { cleanupOracleFiles, llamaCppProbs, loadInLlamaCpp, oracle, tinySpmVocab } from './helpers/llamacpp.js';
import { idTokenizer } from './helpers/tiny.js';

// Longer than the tiny Gemma window (4 keys), so the local layers slide.
const PROMPT = [5, 17, 42, 8, 91, 33, 12, 70, 64, 11, 29, 50];
const STEPS = 8;

afterAll(async () => {
  cleanupOracleFiles();
  await (await oracle()).dispose();
});

const argmax = (a: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
};

const CASES = [
  { arch: 'llama', name: 'llama' }, { arch: 'qwen2', name: 'qwen2' }, { arch: 'qwen3', name: 'qwen3' }, { arch: 'gemma3', name: 'gemma3' },
  // linear rope scaling (Gemma 3 4B and up: factor 8, on the global layers only)
  { arch: 'gemma3', name: 'gemma3, rope scaling 8', ropeScale: 1 / 8 }, { arch: 'llama', name: 'llama, rope scaling 4', ropeScale: 1 / 4 },
  { arch: 'gemma3', name: 'gemma3, final logit soft-capping 2', finalSoftcap: 2 },
] as const;

describe.each(CASES)('tiny $name GGUF in llama.cpp and here', ({ arch, name, ...extra }) => {
  let lm: LlamaModel, s: ModelSession, vocab: number;
  const setup = async () => {
    if (s) return;
    // 300 tokens: llama.cpp's SentencePiece needs the 256 byte tokens to load.
    const cfg = tinyConfig({ vocab: 300, ...extra }, arch);
    vocab = cfg.vocab;
    const w = tinyWeights(cfg, 21);
    // A smaller final norm keeps the next-token distributions broad, so probabilities say something.
    w.finalNorm = w.finalNorm.map((x) => x * 0.25);
    const bytes = writeTinyGguf(cfg, w, { metadata: tinySpmVocab(cfg.vocab) });
    const r = ggufToGraph(bytes, { accuracyLevel: 0 });
    s = await openGraph(nodeRuntime, r.graph, { modelId: arch, hash: 'h', architecture: arch, heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab }, idTokenizer, { externalData: [{ path: EXTERNAL_DATA_NAME, data: r.data }] });
    lm = await loadInLlamaCpp(bytes);
  };
  afterAll(async () => {
    await s?.dispose();
    await lm?.dispose();
  });

  it('same next-token probabilities at every position, and the same greedy continuation', async () => {
    await setup();
    // greedy continuation here
    const c = s.newCache();
    let out = await s.forward(c, PROMPT);
    const ours: number[] = [];
    for (let i = 0; i < STEPS; i++) {
      ours.push(argmax(out.logits));
      out = await s.forward(c, [ours.at(-1)!], { region: 'generated' });
    }
    c.dispose();
    const ids = [...PROMPT, ...ours];
    const at = ids.map((_, i) => i).slice(0, -1);
    const theirs = await llamaCppProbs(lm, ids, at);
    const full = await s.forward(s.newCache(), ids.slice(0, -1), { logitsFor: at.length });
    let maxDiff = 0;
    const theirGreedy: number[] = [];
    at.forEach((pos, k) => {
      const p = logSoftmax(full.logits.subarray(k * vocab, (k + 1) * vocab)).map(Math.exp);
      const q = new Float64Array(vocab);
      for (const [t, v] of theirs[k]!) q[t] = v;
      for (let t = 0; t < vocab; t++) maxDiff = Math.max(maxDiff, Math.abs(p[t]! - q[t]!));
      if (pos >= PROMPT.length - 1) theirGreedy.push(argmax(q));
    });
    console.log(`${name}: max |p - p_llama.cpp| over ${at.length} positions = ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-3);
    expect(theirGreedy.slice(0, STEPS)).toEqual(ours);
  }, 60_000);
});
