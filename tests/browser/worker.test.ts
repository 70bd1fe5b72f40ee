/**
 * The model worker in a real browser: Debian chromium (headless) on the project's Vite dev
 * server. Tiny models are built inside the test-only self-test worker (src/testing) and checked
 * against the TypeScript reference forward on wasm and on WebGPU (SwiftShader); a tiny GGUF goes
 * through the real load path; a chromium without WebGPU falls back to wasm. Without chromium the
 * suites fail, unless STEERLAB_SKIP_BROWSER=1 skips them (tests/helpers/requirement.ts).
 */
import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEpisode } from '../../src/agent/agent.js';
import { createEnv, getScenario } from '../../src/envs/index.js';
import { nodeRuntime } from '../../src/engine/runtime/node.js';
import { openGguf } from '../../src/engine/sources/gguf.js';
import { GgmlType } from '../../src/engine/gguf/ggml-types.js';
import { ControlVector, settingHooks } from '../../src/steering/control-vector.js';
import { parseTrace } from '../../src/trace/jsonl.js';
import type { StepRecord } from '../../src/trace/schema.js';
import { Rng } from '../../src/util/rng.js';
import type { EpisodeRequest, LoadedModel, LoadProgress } from '../../src/workers/api.js';
import type { SelfTestCase, SelfTestResult } from '../../src/testing/selftest-api.js';
import { labHarness, launchChromium, needsChromium, openPage } from './setup.js';
import { generate, maxAbsDiff, type TestSteering } from './shared.js';
import { tinyGguf } from './tiny-gguf.js';
import { GEMMA_MODEL, needsGemma } from '../helpers/llamacpp.js';
import { loadModel } from '../../src/node/models.js';

type Failure = { failed: true; name: string; code: string; message: string };

/** Runs the self-test worker (the harness's window.steerlab.selfTest); a rejection comes back as {failed, name, code, message}. */
function selfTest(page: Page, device: 'wasm' | 'webgpu'): Promise<SelfTestResult> {
  return page.evaluate((device) => window.steerlab.selfTest.tinySelfTest({ device }), device);
}

async function loadTiny(page: Page, bytes: Uint8Array, device: 'wasm' | 'webgpu'): Promise<{ info: LoadedModel; progress: LoadProgress[] }> {
  return page.evaluate(
    async ({ b64, device }) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const progress: LoadProgress[] = [];
      const info = await window.steerlab.client.loadModel({ file: new File([data], 'tiny.gguf'), device }, (p) => progress.push(p));
      return { info, progress };
    },
    { b64: Buffer.from(bytes).toString('base64'), device },
  );
}

/** The same steering for the Node engine, as `steerlab generate` applies it. */
const nodeHooks = (s: TestSteering) => settingHooks({ vector: ControlVector.single(s.layer, Float32Array.from(s.vector), { id: 'test-vector' }), beta: s.beta, positions: s.positions ?? 'generated' });

const results: Partial<Record<'wasm' | 'webgpu', SelfTestResult>> = {};

function checkAgainstReference(r: SelfTestResult, device: string): void {
  expect(r.cases.map((c) => `${c.style}/${c.dtype}`)).toEqual(['optimum/fp32', 'genai/fp32']);
  for (const c of r.cases) {
    expect(c.device, `${c.style} ran on ${c.device}: ${c.fallbackReason}`).toBe(device);
    expect(c.fallbackReason).toBeUndefined();
    expect(maxAbsDiff(c.logits, c.refLogits)).toBeLessThan(1e-4);
    expect(maxAbsDiff(c.hiddenStates, c.refHiddenStates)).toBeLessThan(1e-4);
    expect(c.hiddenStates.length).toBe(c.layers * c.positions.length * c.hidden);
    expect(maxAbsDiff(c.decodeLogits, c.refDecodeLogits)).toBeLessThan(1e-4);
    // zero steering is exactly "no steering", and exactly the graph without hooks
    expect(c.zeroLogits).toEqual(c.unsteeredLogits);
    expect(c.zeroLogits).toEqual(c.plainLogits);
    // and the vector really moved the logits
    expect(maxAbsDiff(c.logits, c.plainLogits)).toBeGreaterThan(1e-2);
  }
}

needsChromium.describe('in chromium', () => {
// The dev server and chromium, started before this suite and closed after it.
const lab = labHarness();

describe('the model worker', () => {
  let page: Page;
  let external: string[];

  beforeAll(async () => {
    ({ page, external } = await openPage(lab.browser, `${lab.server.url}/tests/browser/harness.html`));
    await page.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => page?.close(), 30_000);

  it('offers webgpu (SwiftShader) and wasm', async () => {
    const d = await page.evaluate(() => window.steerlab.client.devices());
    expect(d).toEqual({ devices: ['webgpu', 'wasm'], webgpuProblem: null });
  }, 30_000);

  it('tiny models on wasm: steered logits and hidden states match the reference within 1e-4', async () => {
    const r = await selfTest(page, 'wasm');
    checkAgainstReference(r, 'wasm');
    results.wasm = r;
  }, 60_000);

  it('tiny models on webgpu: steered logits and hidden states match the reference within 1e-4', async () => {
    const r = await selfTest(page, 'webgpu');
    checkAgainstReference(r, 'webgpu');
    results.webgpu = r;
  }, 90_000);

  it('fp16 tiny models on wasm (Casts at the seams; Float16Array outputs) match the reference loosely', async () => {
    const r = await page.evaluate(() => window.steerlab.selfTest.tinySelfTest({ device: 'wasm', fp16: true }));
    const half = r.cases.filter((c) => c.dtype === 'fp16');
    expect(half.map((c) => c.style), JSON.stringify(r.skipped)).toEqual(['optimum', 'genai']);
    for (const c of half) {
      expect(c.logits.every(Number.isFinite)).toBe(true);
      // fp16 activations: compare to the fp32 reference at fp16 precision
      expect(maxAbsDiff(c.logits, c.refLogits)).toBeLessThan(5e-2);
      expect(c.zeroLogits).toEqual(c.plainLogits);
    }
  }, 90_000);

  it('wasm and webgpu agree within 1e-3', () => {
    expect(results.wasm && results.webgpu, 'needs both device runs').toBeTruthy();
    results.wasm!.cases.forEach((w: SelfTestCase, i) => {
      const g = results.webgpu!.cases[i]!;
      expect(maxAbsDiff(w.logits, g.logits)).toBeLessThan(1e-3);
      expect(maxAbsDiff(w.hiddenStates, g.hiddenStates)).toBeLessThan(1e-3);
      expect(maxAbsDiff(w.decodeLogits, g.decodeLogits)).toBeLessThan(1e-3);
    });
  });

  describe('a tiny GGUF through the load path', () => {
    const tiny = tinyGguf();

    it('loads from a File with download/parse/convert/session progress', async () => {
      const { info, progress } = await loadTiny(page, tiny.bytes, 'wasm');
      expect(info).toMatchObject({ device: 'wasm', layers: 3, hidden: 64, vocab: 259, size: tiny.bytes.length, modelId: 'tiny', storage: 'not-stored' });
      expect(info.fallbackReason).toBeUndefined();
      expect(info.storageProblem).toBeUndefined(); // a File is never cached, and that is no problem
      const finished = progress.filter((p) => p.fraction === 1).map((p) => p.phase);
      expect(finished).toEqual(['download', 'parse', 'convert', 'session']);
      expect(progress.find((p) => p.phase === 'download' && p.fraction === 1)?.loaded).toBe(tiny.bytes.length);
    }, 30_000);

    it('generates the same tokens as the Node engine for the same seed, steered or not; steering on generated positions keeps the first token', async () => {
      const req = { prompt: 'Hello there', chat: true, maxNewTokens: 12, temperature: 2, seed: 11 };
      const a = await generate(page, req);
      const b = await generate(page, req);
      expect(b.ids).toEqual(a.ids);
      expect(a.tokens).toHaveLength(a.ids.length);
      for (const t of a.tokens) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.entropy).toBeGreaterThanOrEqual(0);
        expect(t.entropy).toBeLessThanOrEqual(Math.log(259) + 1e-9);
      }
      // the same file opened by the Node engine, sampled with the same seeded Rng
      const { session } = await openGguf(nodeRuntime, tiny.bytes, 'tiny');
      try {
        const ids = session.encode(session.chat([{ role: 'user', content: req.prompt }]), false);
        expect(a.promptTokens).toBe(ids.length);
        const nodeGenerate = async (temperature: number, steering?: TestSteering) => {
          const rng = new Rng(req.seed);
          const r = await session.generate(ids, { maxNewTokens: req.maxNewTokens, temperature, random: () => rng.next(), add: steering ? nodeHooks(steering) : null });
          r.cache.dispose();
          return r;
        };
        const node = await nodeGenerate(req.temperature);
        expect(a.ids).toEqual(node.ids);
        expect(a.text).toBe(node.text);
        const other = await generate(page, { ...req, seed: 12 });
        expect(other.ids).not.toEqual(a.ids);

        const vector = Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.3));
        const greedy = await generate(page, { ...req, temperature: 0 });
        const generated: TestSteering = { layer: 1, beta: 8, vector };
        const steered = await generate(page, { ...req, temperature: 0, steering: generated });
        // 'generated': the prompt is not steered, so the first token (from the prompt's last position) is the plain one
        expect(steered.ids[0]).toBe(greedy.ids[0]);
        expect(steered.ids).not.toEqual(greedy.ids);
        // and the page steers exactly as the CLI's engine does
        expect(steered.ids).toEqual((await nodeGenerate(0, generated)).ids);
        const all: TestSteering = { ...generated, positions: 'all' };
        const everywhere = await generate(page, { ...req, temperature: 0, steering: all });
        expect(everywhere.ids).not.toEqual(greedy.ids);
        expect(everywhere.ids).not.toEqual(steered.ids);
        expect(everywhere.ids).toEqual((await nodeGenerate(0, all)).ids);
        // beta 0 is no steering
        expect((await generate(page, { ...req, temperature: 0, steering: { ...all, beta: 0 } })).ids).toEqual(greedy.ids);
      } finally {
        await session.dispose();
      }
    }, 60_000);

    it('plays an agent episode in the worker, streaming every step record before it resolves, as the Node engine plays it', async () => {
      // The tiny random model never puts 5 % on the answers: measure every step (minValidMass 0).
      const req: EpisodeRequest = { env: 'east-gauss2', envOptions: { preset: '95-105' }, scenario: 'east-buttons', mode: 'exact', temperature: 1, minValidMass: 0, horizon: 4, seed: 5, steering: null };
      const r = await page.evaluate(async (req) => {
        const streamed: StepRecord[] = [];
        const res = await window.steerlab.client.runEpisode(req, (s) => streamed.push(s));
        // what had arrived when the call resolved
        return { res, streamed: [...streamed] };
      }, req);
      expect(r.res).toMatchObject({ steps: 4, stopped: false });
      const records = parseTrace([...r.streamed, r.res.summary].map((x) => JSON.stringify(x)).join('\n'));
      const steps = records.filter((x): x is StepRecord => x.type === 'step');
      expect(steps.map((x) => x.step)).toEqual([0, 1, 2, 3]);
      expect(records.at(-1)).toMatchObject({ type: 'summary', steps: 4, numActions: 2 });
      expect(steps[0]!.config).toMatchObject({
        modelId: 'tiny',
        modelHash: createHash('sha256').update(tiny.bytes).digest('hex'),
        env: 'east-gauss2',
        envOptions: { preset: '95-105', means: [95, 105] },
        scenario: 'east-buttons',
        seed: 5,
        mode: 'exact',
        steering: null,
      });
      for (const x of steps) expect(x.steering).toBeNull();
      // the same episode on onnxruntime-node: same actions, same probabilities (f32 weights, no int8 kernels)
      const { session } = await openGguf(nodeRuntime, tiny.bytes, 'tiny');
      try {
        // as the worker runs it (src/workers/episode.ts), without steering: the run config follows from the session and the options
        const node = await runEpisode(session, createEnv('east-gauss2', { preset: '95-105', horizon: 4 }), getScenario('east-buttons'), 5, { mode: 'exact', temperature: 1, minValidMass: 0, horizon: 4, steering: null });
        expect(node.steps[0]!.config).toEqual(steps[0]!.config);
        expect(node.steps.map((x) => x.runId)).toEqual(steps.map((x) => x.runId));
        expect(steps.map((x) => x.action)).toEqual(node.steps.map((x) => x.action));
        steps.forEach((x, i) => expect(maxAbsDiff(x.actionProbs!, node.steps[i]!.actionProbs!)).toBeLessThan(1e-4));
        expect(steps.map((x) => x.cumRegret)).toEqual(node.steps.map((x) => x.cumRegret));
      } finally {
        await session.dispose();
      }
    }, 60_000);

    it('episode arguments are checked, and the live controls answer while no episode runs', async () => {
      const out = await page.evaluate(async () => {
        const c = window.steerlab.client;
        const vec = (layer: number, hidden: number) => ({ id: 'v', hidden, directions: [{ layer, vector: new Float32Array(hidden).fill(0.1) }], meta: {} });
        const fail = async (p: Promise<unknown>) => {
          try {
            await p;
            return null;
          } catch (e) {
            const err = e as Error & { code?: string };
            return { failed: true, name: err.name, code: err.code, message: err.message } as Failure;
          }
        };
        return {
          wrongScenario: await fail(c.runEpisode({ env: 'east-gauss2', scenario: 'frozenlake-text', mode: 'exact', temperature: 1, seed: 1 })),
          badHorizon: await fail(c.runEpisode({ env: 'east-gauss2', scenario: 'east-buttons', mode: 'exact', temperature: 1, seed: 1, horizon: 0 })),
          badVector: await fail(c.setSteering({ vector: vec(1, 3), beta: 2, positions: 'generated' })),
          badLayer: await fail(c.setSteering({ vector: vec(3, 64), beta: 2, positions: 'generated' })),
          badBeta: await fail(c.setSteering({ vector: vec(1, 64), beta: NaN, positions: 'generated' })),
          badPositions: await fail(c.setSteering({ vector: vec(1, 64), beta: 2, positions: 'x' as 'all' })),
          notAVector: await fail(c.setSteering({ vector: { id: 'v', hidden: 2, directions: [{ layer: 1, vector: [1, 2] as unknown as Float32Array }], meta: {} }, beta: 2, positions: 'generated' })),
          generateBadLayer: await fail(c.generate({ prompt: 'x', chat: false, maxNewTokens: 1, temperature: 0, seed: 1, steering: { vector: vec(3, 64), beta: 2, positions: 'all' } })),
          fine: await c.setSteering({ vector: vec(2, 64), beta: 2, positions: 'prompt' }),
          cleared: await c.setSteering(null),
          stopIdle: await c.stopEpisode(),
        };
      });
      expect(out.wrongScenario).toMatchObject({ name: 'SteerlabError', code: 'BAD_SCENARIO' });
      expect(out.wrongScenario!.message).toMatch(/^scenario 'frozenlake-text' does not fit env 'east-gauss2'/);
      expect(out.badHorizon).toMatchObject({ code: 'BAD_ARGUMENT', message: 'horizon must be a whole number >= 1, got 0' });
      expect(out.badVector).toMatchObject({ name: 'SteerlabError', code: 'BAD_SHAPE', message: "vector 'v' has 3 dimensions; this model's hidden size is 64" });
      expect(out.badLayer).toMatchObject({ name: 'SteerlabError', code: 'BAD_SHAPE', message: "vector 'v' is for layer 3; this model has layers 0..2" });
      expect(out.badBeta).toMatchObject({ name: 'SteerlabError', code: 'BAD_ARGUMENT', message: 'steering strength must be a finite number, got NaN' });
      expect(out.badPositions).toMatchObject({ name: 'SteerlabError', code: 'BAD_ARGUMENT', message: "unknown positions 'x' (all, prompt, generated)" });
      expect(out.notAVector).toMatchObject({ name: 'SteerlabError', code: 'BAD_VECTOR', message: 'a direction vector must be a Float32Array' });
      expect(out.generateBadLayer).toMatchObject({ name: 'SteerlabError', code: 'BAD_SHAPE', message: "vector 'v' is for layer 3; this model has layers 0..2" });
      expect(out.fine).toBeUndefined();
      expect(out.cleared).toBeUndefined();
      expect(out.stopIdle).toBe(false);
    }, 30_000);

    it('bad input reaches the page as a typed SteerlabError', async () => {
      const badFile = await page.evaluate(async () => {
        try {
          await window.steerlab.client.loadModel({ file: new File([new Uint8Array(4096).fill(7)], 'junk.gguf') });
          return null;
        } catch (e) {
          const err = e as Error & { code?: string };
          return { failed: true, name: err.name, code: err.code, message: err.message } as Failure;
        }
      });
      expect(badFile).toMatchObject({ name: 'SteerlabError', code: 'GGUF_BAD_MAGIC' });
      expect(badFile!.message).toMatch(/GGUF/);
      const noModel = await page.evaluate(async () => {
        try {
          await window.steerlab.client.generate({ prompt: 'x', chat: false, maxNewTokens: 1, temperature: 0, seed: 1 });
          return null;
        } catch (e) {
          const err = e as Error & { code?: string };
          return { failed: true, name: err.name, code: err.code, message: err.message } as Failure;
        }
      });
      expect(noModel).toMatchObject({ name: 'SteerlabError', code: 'BAD_ARGUMENT', message: 'no model is loaded' });
    }, 30_000);

    it('a missing default model answers MODEL_NOT_FOUND with the cache path', async () => {
      const before = process.env.STEERLAB_MODEL_GGUF;
      process.env.STEERLAB_MODEL_GGUF = '/nonexistent/steerlab-test.gguf';
      try {
        const r = await page.evaluate(async () => {
          try {
            await window.steerlab.client.loadModel({ url: window.steerlab.defaultModelUrl, device: 'wasm' });
            return null;
          } catch (e) {
            const err = e as Error & { code?: string };
            return { failed: true, name: err.name, code: err.code, message: err.message } as Failure;
          }
        });
        expect(r).toMatchObject({ name: 'SteerlabError', code: 'MODEL_NOT_FOUND' });
        expect(r!.message).toContain('/nonexistent/steerlab-test.gguf');
      } finally {
        if (before === undefined) delete process.env.STEERLAB_MODEL_GGUF;
        else process.env.STEERLAB_MODEL_GGUF = before;
      }
    }, 30_000);
  });

  // GGUFs through the load path on both devices against the Node engine, with a prompt of more
  // than 32 tokens: onnxruntime-web's WebGPU graph gets 32 or more new positions wrong, so the
  // session runs them in pieces there (ModelSession.chunkFor). The Gemma 3 file is built as the
  // real model is converted: a sliding window of 4 keys (so the prompt slides), the sandwich
  // norms, and a tied 8-bit embedding (an 8-bit lm_head: MatMulNBits on WebGPU; on wasm the
  // kernel in head/head8.ts, which also gives the embedding rows).
  describe.each([
    ['llama, F32', tinyGguf(6, 8192, { embedScale: 0.3 })],
    ['gemma3, Q4_0 linears, tied Q8_0 embedding', tinyGguf(5, 8192, { arch: 'gemma3', weightType: GgmlType.Q4_0, embedType: GgmlType.Q8_0, embedScale: 0.3 })],
  ] as const)('a tiny %s GGUF, 38 prompt tokens', (_, tiny) => {
    // Sampled with a seeded Rng, as the load-path test above (entropies between about 0.7 and 4.8 nats).
    const req = { prompt: 'Hello there, friend', chat: true, maxNewTokens: 12, temperature: 1.5, seed: 4 };
    let node: { ids: number[]; logprobs: number[]; entropies: number[]; promptTokens: number } | null = null;

    beforeAll(async () => {
      const { session } = await openGguf(nodeRuntime, tiny.bytes, 'tiny-node');
      try {
        const ids = session.encode(session.chat([{ role: 'user', content: req.prompt }]), false);
        const rng = new Rng(req.seed);
        const r = await session.generate(ids, { maxNewTokens: req.maxNewTokens, temperature: req.temperature, random: () => rng.next() });
        r.cache.dispose();
        node = { ids: r.ids, logprobs: r.tokens.map((t) => t.logprob), entropies: r.tokens.map((t) => t.entropy), promptTokens: ids.length };
      } finally {
        await session.dispose();
      }
    });

    it.each(['wasm', 'webgpu'] as const)('on %s: the sampled ids, log-probs and entropies of the Node engine', async (device) => {
      const { info } = await loadTiny(page, tiny.bytes, device);
      expect(info).toMatchObject({ device, architecture: tiny.cfg.architecture, layers: tiny.cfg.layers });
      expect(info.fallbackReason).toBeUndefined();
      const kernel = device === 'wasm' && tiny.cfg.architecture === 'gemma3' ? 'kernel' : 'graph';
      expect(info).toMatchObject({ lmHead: kernel, embed: kernel });
      const a = await generate(page, req);
      expect(node!.promptTokens).toBeGreaterThan(32);
      expect(a.promptTokens).toBe(node!.promptTokens);
      expect(new Set(node!.ids).size).toBeGreaterThan(6);
      expect(a.ids).toEqual(node!.ids);
      expect(maxAbsDiff(a.tokens.map((t) => t.logprob), node!.logprobs)).toBeLessThan(1e-3);
      expect(maxAbsDiff(a.tokens.map((t) => t.entropy), node!.entropies)).toBeLessThan(1e-3);
    }, 60_000);
  });

  // The real Gemma 3 270M in a fresh page (its own IndexedDB) on wasm: its tied 262k x 640 Q8_0
  // table is the 8-bit kernel's (lm_head and embedding rows), against the Node engine's MatMulNBits.
  needsGemma.describe('the real Gemma 3 270M on wasm', () => {
    let modelBefore: string | undefined;
    let gemmaPage: Page | null = null;
    beforeAll(() => {
      modelBefore = process.env.STEERLAB_MODEL_GGUF;
      process.env.STEERLAB_MODEL_GGUF = GEMMA_MODEL;
    });
    afterAll(async () => {
      await gemmaPage?.close();
      if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
      else process.env.STEERLAB_MODEL_GGUF = modelBefore;
    }, 30_000);

    it('runs its lm_head in the 8-bit kernel and samples the ids, log-probs and entropies of the Node engine', async () => {
      const req = { prompt: 'The capital of France is Paris. The capital of Italy is', chat: false, maxNewTokens: 10, temperature: 1.2, seed: 11 };
      const s = await loadModel(GEMMA_MODEL);
      let node: { ids: number[]; logprobs: number[]; entropies: number[] };
      try {
        const ids = s.encode(req.prompt, true);
        const rng = new Rng(req.seed);
        const r = await s.generate(ids, { maxNewTokens: req.maxNewTokens, temperature: req.temperature, random: () => rng.next() });
        r.cache.dispose();
        node = { ids: r.ids, logprobs: r.tokens.map((t) => t.logprob), entropies: r.tokens.map((t) => t.entropy) };
      } finally {
        await s.dispose();
      }
      ({ page: gemmaPage } = await openPage(lab.browser, `${lab.server.url}/tests/browser/harness.html`));
      await gemmaPage.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
      const info = (await gemmaPage.evaluate(() => window.steerlab.client.loadModel({ url: window.steerlab.defaultModelUrl, device: 'wasm' }))) as LoadedModel;
      expect(info).toMatchObject({ device: 'wasm', architecture: 'gemma3', vocab: 262144, lmHead: 'kernel', embed: 'kernel' });
      const a = await generate(gemmaPage, req);
      expect(a.ids).toEqual(node.ids);
      expect(maxAbsDiff(a.tokens.map((t) => t.logprob), node.logprobs)).toBeLessThan(1e-3);
      expect(maxAbsDiff(a.tokens.map((t) => t.entropy), node.entropies)).toBeLessThan(1e-3);
    }, 240_000);
  });

  it('nothing was fetched from outside 127.0.0.1', () => {
    expect(external).toEqual([]);
  });
});

describe('a chromium without WebGPU', () => {
  let plainBrowser: Browser;
  let page: Page;

  beforeAll(async () => {
    plainBrowser = await launchChromium({ webgpu: false });
    ({ page } = await openPage(plainBrowser, `${lab.server.url}/tests/browser/harness.html`));
    await page.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => plainBrowser?.close(), 30_000);

  it('asking for webgpu falls back to wasm and says why', async () => {
    const d = await page.evaluate(() => window.steerlab.client.devices());
    expect(d.devices).toEqual(['wasm']);
    expect(d.webgpuProblem).toMatch(/adapter/);
    const { info } = await loadTiny(page, tinyGguf().bytes, 'webgpu');
    expect(info.device).toBe('wasm');
    expect(info.fallbackReason).toMatch(/^webgpu: .*adapter/);
  }, 60_000);
});
});
