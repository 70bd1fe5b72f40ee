/**
 * The real model (SmolLM2-135M-Instruct, Q4_1 GGUF) through the whole GGUF path. Loaded once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { residPost } from '../src/engine/hook-points.js';
import type { ModelSession } from '../src/engine/session.js';
import { loadModel } from '../src/node/models.js';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

needsRealModel.describe('SmolLM2-135M-Instruct Q4_1 via GGUF', () => {
  let s: ModelSession;
  beforeAll(async () => {
    s = await loadModel(REAL_MODEL);
  });
  afterAll(async () => s?.dispose());

  it('reports the expected shape', () => {
    expect(s.info).toMatchObject({ architecture: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, vocab: 49152, style: 'genai' });
  });

  it('greedy continuation of "The capital of France is" names Paris', async () => {
    const r = await s.generate(s.encode('The capital of France is'), { maxNewTokens: 6 });
    r.cache.dispose();
    expect(r.text).toMatch(/Paris/);
  });

  it('answers a chat question in coherent English', async () => {
    const prompt = s.chat([{ role: 'user', content: 'Name three colors of the rainbow.' }]);
    expect(prompt).toContain('<|im_start|>assistant\n');
    const r = await s.generate(s.encode(prompt), { maxNewTokens: 40 });
    r.cache.dispose();
    const words = r.text.toLowerCase().match(/[a-z]+/g) ?? [];
    expect(words.length).toBeGreaterThan(5);
    // A real answer names colours and is mostly distinct words, not a repeated token.
    expect(words.some((w) => ['red', 'orange', 'yellow', 'green', 'blue', 'indigo', 'violet'].includes(w))).toBe(true);
    expect(new Set(words).size / words.length).toBeGreaterThan(0.4);
  });

  it('zero steering leaves logits bit-identical; a vector at one layer changes them', async () => {
    const ids = s.encode('The capital of France is');
    const base = await s.forward(s.newCache(), ids);
    const zero = await s.forward(s.newCache(), ids, { add: [{ hook: residPost(12), vector: new Float32Array(576), scale: 5 }] });
    expect(Array.from(zero.logits)).toEqual(Array.from(base.logits));
    const v = Float32Array.from({ length: 576 }, (_, i) => Math.sin(i));
    const steered = await s.forward(s.newCache(), ids, { add: [{ hook: residPost(12), vector: v, scale: 4 }] });
    let d = 0;
    for (let i = 0; i < base.logits.length; i++) d = Math.max(d, Math.abs(steered.logits[i]! - base.logits[i]!));
    expect(d).toBeGreaterThan(0.1);
  });

  it('cached decode equals full recompute on the real model', async () => {
    const ids = s.encode('One, two, three, four');
    const c = s.newCache();
    await s.forward(c, ids.slice(0, -2));
    await s.forward(c, [ids.at(-2)!]);
    const step = await s.forward(c, [ids.at(-1)!]);
    const full = await s.forward(s.newCache(), ids);
    let d = 0;
    for (let i = 0; i < full.logits.length; i++) d = Math.max(d, Math.abs(step.logits[i]! - full.logits[i]!));
    expect(d).toBeLessThan(1e-3);
    c.dispose();
  });
});
