import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logSoftmax } from '../src/engine/logits.js';
import { f16ToF32Array } from '../src/engine/onnx/graph.js';
import { ReferenceModel } from '../src/testing/reference.js';
import { SteerlabError } from '../src/errors.js';
import { residPost } from '../src/engine/hook-points.js';
import { openTiny, type TinyModel } from './helpers/tiny.js';

const PROMPT = [5, 17, 42, 8, 91, 33, 2];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs the unmodified graph directly (no hooks) over a full prompt, returning last-position logits. */
async function plainLogits(t: TinyModel, ids: number[]): Promise<Float32Array> {
  const sess = await ort.InferenceSession.create(t.graph, { logSeverityLevel: 3 });
  const S = ids.length;
  const half = t.session.info.dtype === 'fp16';
  // kv 'rows' graphs take a token-major past of >= 1 row: one masked zero row, as the session feeds.
  const rows = sess.outputNames.includes('present_rows.0.key') && !sess.outputNames.includes('present.0.key');
  const mask = new BigInt64Array(S + (rows ? 1 : 0)).fill(1n);
  if (rows) mask[0] = 0n;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, S]),
    attention_mask: new ort.Tensor('int64', mask, [1, mask.length]),
  };
  if (sess.inputNames.includes('position_ids')) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(i)), [1, S]);
  const pastDims = rows ? [1, 1, t.cfg.kvHeads, t.cfg.headDim] : [1, t.cfg.kvHeads, 0, t.cfg.headDim];
  const n = rows ? t.cfg.kvHeads * t.cfg.headDim : 0;
  for (let l = 0; l < t.cfg.layers; l++) for (const kv of ['key', 'value']) {
    feeds[`past_key_values.${l}.${kv}`] = half ? new ort.Tensor('float16', new Uint16Array(n), pastDims) : new ort.Tensor('float32', new Float32Array(n), pastDims);
  }
  const out = await sess.run(feeds);
  const data = out.logits!.data as Float32Array | Uint16Array;
  const all = half ? f16ToF32Array(data as Uint16Array) : (data as Float32Array);
  await sess.release();
  return all.slice((S - 1) * t.cfg.vocab);
}

// kv 'rows': the genai graph's plain-op attention over host rows (what GGUF models use on the CPU).
const CASES = [
  { style: 'optimum', dtype: 'fp32', arch: 'llama', kv: 'present', tol: 1e-4 },
  { style: 'genai', dtype: 'fp32', arch: 'llama', kv: 'present', tol: 1e-4 },
  { style: 'genai', dtype: 'fp32', arch: 'qwen2', kv: 'present', tol: 1e-4 },
  { style: 'genai', dtype: 'fp32', arch: 'llama', kv: 'rows', tol: 1e-4 },
  { style: 'genai', dtype: 'fp32', arch: 'qwen2', kv: 'rows', tol: 1e-4 },
  // fp16 graphs round every activation to 11 bits; compare against the fp32 reference loosely.
  { style: 'optimum', dtype: 'fp16', arch: 'llama', kv: 'present', tol: 5e-2 },
  { style: 'genai', dtype: 'fp16', arch: 'llama', kv: 'present', tol: 5e-2 },
  { style: 'genai', dtype: 'fp16', arch: 'llama', kv: 'rows', tol: 5e-2 },
] as const;

describe.each(CASES)('tiny $arch model, $style export, $dtype, kv $kv', ({ style, dtype, arch, kv, tol }) => {
  let t: TinyModel;
  beforeAll(async () => {
    t = await openTiny(style, dtype, arch, kv);
  });
  afterAll(async () => t.session.dispose());

  it('detects the export style and reports shapes', () => {
    expect(t.session.info.style).toBe(style);
    expect(t.session.info.dtype).toBe(dtype);
    expect(t.session.info.layers).toBe(t.cfg.layers);
    expect(t.session.info.hidden).toBe(t.cfg.hidden);
  });

  it('zero steering gives logits bit-identical to the unmodified graph', async () => {
    const cache = t.session.newCache();
    const zero = [{ hook: residPost(1), vector: new Float32Array(t.cfg.hidden), scale: 3, positions: 'all' as const }];
    const r = await t.session.forward(cache, PROMPT, { add: zero });
    const plain = await plainLogits(t, PROMPT);
    expect(Array.from(r.logits)).toEqual(Array.from(plain));
    cache.dispose();
  });

  it('a steering vector at layer L matches the reference forward with v added, and hidden states match', async () => {
    const L = 1;
    const v = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.cos(i * 0.7) * 0.4);
    const beta = 1.5;
    const cache = t.session.newCache();
    const all = Array.from({ length: t.cfg.layers }, (_, l) => residPost(l));
    const r = await t.session.forward(cache, PROMPT, { add: [{ hook: residPost(L), vector: v, scale: beta, positions: 'all' }], read: { hooks: all, at: [2, PROMPT.length - 1] } });
    const ref = new ReferenceModel(t.cfg, t.weights);
    const full = new Float32Array(t.cfg.layers * t.cfg.hidden);
    full.set(v.map((x) => x * beta), L * t.cfg.hidden);
    const steps = PROMPT.map((id) => ref.step(id, { steering: full }));
    expect(maxAbsDiff(r.logits, steps.at(-1)!.logits)).toBeLessThan(tol);
    // each hook: [P=2, hidden]
    for (let l = 0; l < t.cfg.layers; l++) {
      expect(maxAbsDiff(r.acts.row(residPost(l), 0), steps[2]!.resid[l]!)).toBeLessThan(tol);
      expect(maxAbsDiff(r.acts.row(residPost(l), 1), steps.at(-1)!.resid[l]!)).toBeLessThan(tol);
    }
    // and steering really changed something
    const plain = await plainLogits(t, PROMPT);
    expect(maxAbsDiff(r.logits, plain)).toBeGreaterThan(1e-2);
    cache.dispose();
  });

  it('steering only generated positions leaves the prompt untouched', async () => {
    const v = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.sin(i) * 0.5);
    const add = [{ hook: residPost(0), vector: v, scale: 2, positions: 'generated' as const }];
    const c = t.session.newCache();
    const r = await t.session.forward(c, PROMPT, { add, region: 'prompt' });
    expect(Array.from(r.logits)).toEqual(Array.from(await plainLogits(t, PROMPT)));
    const next = await t.session.forward(c, [11], { add, region: 'generated' });
    const ref = new ReferenceModel(t.cfg, t.weights);
    const full = new Float32Array(t.cfg.layers * t.cfg.hidden);
    full.set(v.map((x) => x * 2), 0);
    for (const id of PROMPT) ref.step(id);
    expect(maxAbsDiff(next.logits, ref.step(11, { steering: full }).logits)).toBeLessThan(tol);
    c.dispose();
  });

  it('cached decode equals full recompute', async () => {
    const ids = [...PROMPT, 12, 60, 3];
    const c = t.session.newCache();
    await t.session.forward(c, PROMPT);
    let last!: Float32Array;
    for (const id of [12, 60, 3]) last = (await t.session.forward(c, [id], { region: 'generated' })).logits;
    expect(c.length).toBe(ids.length);
    const c2 = t.session.newCache();
    const full = await t.session.forward(c2, ids);
    expect(maxAbsDiff(last, full.logits)).toBeLessThan(dtype === 'fp16' ? 2e-2 : 1e-5);
    c.dispose();
    c2.dispose();
  });

  it('candidate scores equal summed token log-probs of a full forward', async () => {
    const cands = [[7], [19, 4], [19, 23, 50], [88, 1]];
    const c = t.session.newCache();
    const { logits } = await t.session.forward(c, PROMPT);
    const scores = await t.session.scoreContinuations(c, logits, cands);
    expect(c.length).toBe(PROMPT.length); // the prompt cache is reused, not extended
    for (let k = 0; k < cands.length; k++) {
      const cand = cands[k]!;
      const fc = t.session.newCache();
      const all = await t.session.forward(fc, [...PROMPT, ...cand.slice(0, -1)], { logitsFor: cand.length });
      let lp = 0;
      for (let i = 0; i < cand.length; i++) lp += logSoftmax(all.logits.subarray(i * t.cfg.vocab, (i + 1) * t.cfg.vocab))[cand[i]!]!;
      expect(Math.abs(scores[k]! - lp)).toBeLessThan(dtype === 'fp16' ? 2e-2 : 1e-4);
      fc.dispose();
    }
    c.dispose();
  });

  it('a value-cache edit changes the next logits exactly as the reference predicts', async () => {
    const L = t.cfg.layers - 1;
    const { kvHeads: nKV, headDim: D } = t.cfg;
    const c = t.session.newCache();
    await t.session.forward(c, PROMPT);
    const before = await t.session.readValues(c, L, 1, 4);
    expect(before.length).toBe(nKV * 3 * D);
    const edited = before.map((x, i) => x * 0.5 + Math.sin(i) * 0.3);
    await t.session.writeValues(c, L, 1, edited);
    const back = await t.session.readValues(c, L, 1, 4);
    expect(maxAbsDiff(back, edited)).toBeLessThanOrEqual(dtype === 'fp16' ? 2e-3 : 0);
    const next = await t.session.forward(c, [21], { region: 'generated' });

    const ref = new ReferenceModel(t.cfg, t.weights);
    for (const id of PROMPT) ref.step(id);
    // engine layout [kvHeads, n, D] -> reference rows [n][kvHeads*D]
    const rows = new Float32Array(3 * nKV * D);
    for (let h = 0; h < nKV; h++) for (let p = 0; p < 3; p++) for (let d = 0; d < D; d++) rows[p * nKV * D + h * D + d] = back[(h * 3 + p) * D + d]!;
    ref.writeValues(L, 1, rows);
    const expected = ref.step(21).logits;
    expect(maxAbsDiff(next.logits, expected)).toBeLessThan(tol);
    const unedited = new ReferenceModel(t.cfg, t.weights);
    for (const id of PROMPT) unedited.step(id);
    expect(maxAbsDiff(next.logits, unedited.step(21).logits)).toBeGreaterThan(1e-3);
    c.dispose();
  });

  it('fork, truncate and dispose keep caches independent and release tensors', async () => {
    const pool = t.session.pool;
    const base = pool.size;
    const c = t.session.newCache();
    const r0 = await t.session.forward(c, PROMPT);
    const f = c.fork();
    await t.session.forward(f, [9, 9]);
    expect(c.length).toBe(PROMPT.length);
    expect(f.length).toBe(PROMPT.length + 2);
    await t.session.truncate(f, PROMPT.length - 1);
    const again = await t.session.forward(f, [PROMPT.at(-1)!]);
    expect(maxAbsDiff(again.logits, r0.logits)).toBeLessThan(dtype === 'fp16' ? 2e-2 : 1e-5);
    c.dispose();
    f.dispose();
    expect(pool.size).toBe(base);
    expect(() => c.fork()).toThrow(SteerlabError);
  });

  it("kv 'rows' graphs keep host rows; forks that write past a sibling never change its continuation", async () => {
    const c = t.session.newCache();
    expect(c.isHost).toBe(kv === 'rows');
    await t.session.forward(c, PROMPT);
    const a = c.fork(), b = c.fork();
    // a writes rows past c's length in place; b then writes the same rows and must copy first.
    await t.session.forward(a, [9, 9, 9]);
    const rb = await t.session.forward(b, [4]);
    const ra = await t.session.forward(a, [7]);
    // c continues after both, and an edit on a fork leaves the others' rows alone.
    await t.session.writeValues(a, 1, 0, new Float32Array(t.cfg.kvHeads * t.cfg.headDim).fill(0.5));
    const rc = await t.session.forward(c, [4]);
    const fresh = async (ids: number[]) => {
      const f = t.session.newCache();
      const r = await t.session.forward(f, ids);
      f.dispose();
      return r.logits;
    };
    // Cached and one-shot forwards sum in different orders: agree to the suite's tolerance.
    const exact = dtype === 'fp16' ? 2e-2 : 1e-4;
    expect(maxAbsDiff(rb.logits, await fresh([...PROMPT, 4]))).toBeLessThan(exact);
    expect(maxAbsDiff(ra.logits, await fresh([...PROMPT, 9, 9, 9, 7]))).toBeLessThan(exact);
    expect(maxAbsDiff(rc.logits, rb.logits)).toBe(0);
    for (const x of [a, b, c]) x.dispose();
  });

  it('a long forward in chunks gives the logits, reads and cache of one forward', async () => {
    const ids = [...PROMPT, ...PROMPT.map((x) => (x * 3) % t.cfg.vocab), 4, 4];
    const v = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.cos(i) * 0.3);
    const req = { add: [{ hook: residPost(1), vector: v, scale: 2, positions: 'all' as const }], logitsFor: 5, read: { hooks: [residPost(0), residPost(2), 'blocks.1.attn.hook_v'], at: [12, 1, 6] } };
    // Host rows chunk at prefillChunk, present tensors at presentChunk (WebGPU's workaround).
    const run = async (chunk: number) => {
      const before = [t.session.prefillChunk, t.session.presentChunk] as const;
      t.session.prefillChunk = t.session.presentChunk = chunk;
      const c = t.session.newCache();
      try {
        const r = await t.session.forward(c, ids, req);
        const next = await t.session.forward(c, [3]);
        return { r, next, length: c.length };
      } finally {
        [t.session.prefillChunk, t.session.presentChunk] = before;
        c.dispose();
      }
    };
    const whole = await run(512), chunked = await run(4);
    expect(chunked.length).toBe(ids.length + 1);
    const tolC = dtype === 'fp16' ? 2e-2 : 1e-4;
    expect(maxAbsDiff(chunked.r.logits, whole.r.logits)).toBeLessThan(tolC);
    for (const h of req.read.hooks) expect(maxAbsDiff(chunked.r.acts.get(h), whole.r.acts.get(h))).toBeLessThan(tolC);
    expect(maxAbsDiff(chunked.next.logits, whole.next.logits)).toBeLessThan(tolC);
  });

  it('rejects a steering vector of the wrong size with a typed error', async () => {
    const c = t.session.newCache();
    await expect(t.session.forward(c, PROMPT, { add: [{ hook: residPost(0), vector: new Float32Array(t.cfg.hidden + 1) }] })).rejects.toMatchObject({ code: 'BAD_SHAPE' });
    await expect(t.session.forward(c, PROMPT, { add: [{ hook: residPost(99), vector: new Float32Array(t.cfg.hidden) }] })).rejects.toMatchObject({ code: 'BAD_SHAPE' });
    await expect(t.session.forward(c, [t.cfg.vocab + 5])).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    c.dispose();
  });
});

// Host rows are token-major [T, kvHeads, headDim] (the past a kv 'rows' graph reads in place); the
// session's API keeps [kvHeads, T, headDim]. Both graphs must expose the same cache.
describe("kv 'rows' and GroupQueryAttention graphs hold the same cache", () => {
  let rows: TinyModel, gqa: TinyModel;
  beforeAll(async () => {
    rows = await openTiny('genai', 'fp32', 'llama', 'rows');
    gqa = await openTiny('genai', 'fp32', 'llama', 'present');
  });
  afterAll(async () => {
    await rows.session.dispose();
    await gqa.session.dispose();
  });

  it('keys and values read back alike after a prompt, a one-token start and appended rows', async () => {
    const a = rows.session.newCache(), b = gqa.session.newCache();
    expect([a.isHost, b.isHost]).toEqual([true, false]);
    // One token on an empty cache (the rows graph's masked pad row), then a chunk, then one more.
    for (const ids of [[PROMPT[0]!], PROMPT.slice(1), [7]]) {
      const ra = await rows.session.forward(a, ids), rb = await gqa.session.forward(b, ids);
      expect(maxAbsDiff(ra.logits, rb.logits)).toBeLessThan(1e-4);
    }
    const T = a.length;
    expect(T).toBe(PROMPT.length + 1);
    for (let l = 0; l < rows.cfg.layers; l++) {
      expect(maxAbsDiff(await rows.session.readKeys(a, l, 0, T), await gqa.session.readKeys(b, l, 0, T))).toBeLessThan(1e-5);
      expect(maxAbsDiff(await rows.session.readValues(a, l, 2, 5), await gqa.session.readValues(b, l, 2, 5))).toBeLessThan(1e-5);
    }
    a.dispose();
    b.dispose();
  });
});
