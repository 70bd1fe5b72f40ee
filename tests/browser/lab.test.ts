/**
 * The model worker in a real browser: Debian chromium (headless) on the project's Vite dev
 * server. Tiny models are built inside the test-only self-test worker (src/testing) and checked
 * against the TypeScript reference forward on wasm and on WebGPU (SwiftShader); a tiny GGUF goes
 * through the real load path; the default model generates a few tokens from the app page. Without
 * chromium or the real model the suites that need them fail, unless STEERLAB_SKIP_BROWSER=1 /
 * STEERLAB_SKIP_REAL=1 skips them (tests/helpers/requirement.ts).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build, preview as startPreview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEpisode } from '../../src/agent/agent.js';
import type { Positions } from '../../src/engine/hook-points.js';
import { createEnv, getScenario } from '../../src/envs/index.js';
import { nodeRuntime } from '../../src/engine/runtime/node.js';
import { openGguf } from '../../src/engine/sources/gguf.js';
import { ControlVector, settingHooks } from '../../src/steering/control-vector.js';
import { STEP_COLUMNS } from '../../src/trace/csv.js';
import { parseTrace } from '../../src/trace/jsonl.js';
import type { StepRecord } from '../../src/trace/schema.js';
import { Rng } from '../../src/util/rng.js';
import type { EpisodeRequest, GenerateRequest, GenerateResponse, LoadedModel, LoadProgress } from '../../src/workers/api.js';
import type { SelfTestCase, SelfTestResult } from '../../src/testing/selftest-api.js';
import { needsRealModel, REAL_MODEL } from '../helpers/real.js';
import { launchChromium, needsChromium, openPage, startServer, type LabServer } from './setup.js';
import { tinyGguf } from './tiny-gguf.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

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

/** A one-layer test vector as the page sends it (SteeringWire); positions default to 'generated', as on the page. */
interface TestSteering {
  layer: number;
  beta: number;
  vector: number[];
  positions?: Positions;
}

function generate(page: Page, req: Omit<GenerateRequest, 'steering'> & { steering?: TestSteering }): Promise<GenerateResponse> {
  return page.evaluate(({ steering: s, ...r }) => {
    const steering = s
      ? { vector: { id: 'test-vector', hidden: s.vector.length, directions: [{ layer: s.layer, vector: Float32Array.from(s.vector) }], meta: {} }, beta: s.beta, positions: s.positions ?? 'generated' }
      : null;
    return window.steerlab.client.generate({ ...r, steering });
  }, req);
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
let server: LabServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium({ webgpu: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
}, 30_000);

describe('the model worker', () => {
  let page: Page;
  let external: string[];

  beforeAll(async () => {
    ({ page, external } = await openPage(browser, `${server.url}/tests/browser/harness.html`));
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

  it('nothing was fetched from outside 127.0.0.1', () => {
    expect(external).toEqual([]);
  });
});

describe('a chromium without WebGPU', () => {
  let plainBrowser: Browser;
  let page: Page;

  beforeAll(async () => {
    plainBrowser = await launchChromium({ webgpu: false });
    ({ page } = await openPage(plainBrowser, `${server.url}/tests/browser/harness.html`));
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

/**
 * Registers hooks that serve a tiny GGUF as the page's /models/default.gguf, open the lab page on
 * wasm and wait for the model panel to settle; the returned getter gives the open page.
 */
function pageWithTinyDefaultModel(tmpPrefix: string): () => Awaited<ReturnType<typeof openPage>> {
  let dir: string;
  let modelBefore: string | undefined;
  let opened: Awaited<ReturnType<typeof openPage>>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    writeFileSync(join(dir, 'tiny.gguf'), tinyGguf().bytes);
    modelBefore = process.env.STEERLAB_MODEL_GGUF;
    process.env.STEERLAB_MODEL_GGUF = join(dir, 'tiny.gguf');
    opened = await openPage(browser, `${server.url}/?device=wasm`);
    await opened.page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 60_000 });
  }, 120_000);
  afterAll(async () => {
    await opened?.page.close();
    if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
    else process.env.STEERLAB_MODEL_GGUF = modelBefore;
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
  return () => opened;
}

describe('the lab page', () => {
  const served = pageWithTinyDefaultModel('steerlab-browser-');
  let page: Page;
  let errors: string[];
  let external: string[];

  beforeAll(() => {
    ({ page, errors, external } = served());
  });

  it('loads the served model and shows its device', async () => {
    await expect.poll(() => page.locator('.model').getAttribute('data-status')).toBe('ready');
    const info = await page.locator('.model .info').innerText();
    expect(info).toMatch(/on wasm/);
    expect(info).toMatch(/3 layers, hidden 64, vocab 259/);
    expect(await page.locator('.fallback').count()).toBe(0);
    // one steering control for both panels, at the middle block, its thumb where its label says
    expect(await page.locator('input[name=layer]').count()).toBe(1);
    expect(await page.locator('input[name=beta]').count()).toBe(1);
    expect(await page.locator('input[name=layer]').getAttribute('max')).toBe('2');
    expect(await page.locator('input[name=layer]').inputValue()).toBe('1');
    expect(await page.locator('section.steering').getByText('layer 1', { exact: true }).count()).toBe(1);
    expect(await page.locator('input[name=positions]:checked').getAttribute('value')).toBe('generated');
    expect(await page.locator('section.agent .steering-summary').innerText()).toBe('layer 1, β 8, generated positions, random unit direction, seed 7');
    await page.screenshot({ path: 'test-results/browser/lab-loaded.png', fullPage: true });
  }, 30_000);

  it('generates with and without steering side by side, shaded by entropy', async () => {
    await page.locator('input[name=max-tokens]').fill('6');
    await page.locator('input[name=temperature]').fill('0');
    await page.locator('input[name=beta]').fill('20');
    expect(await page.locator('input[name=beta-value]').inputValue()).toBe('20');
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await page.locator('.comparison').waitFor({ timeout: 60_000 });
    const ids = (side: string) => page.locator(`.comparison .${side} .tok`).evaluateAll((els) => els.map((e) => Number(/^#(\d+)/.exec(e.getAttribute('title')!)![1])));
    const plain = await ids('plain');
    const steered = await ids('steered');
    // 'generated' positions: the first token comes from the unsteered prompt, the rest are steered
    expect(steered[0]).toBe(plain[0]);
    expect(steered).not.toEqual(plain);
    for (const side of ['plain', 'steered']) {
      const toks = page.locator(`.comparison .${side} .tok`);
      const n = await toks.count();
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(6);
      expect(await toks.first().getAttribute('title')).toMatch(/entropy \d+\.\d\d nats/);
      expect(await toks.first().getAttribute('style')).toMatch(/background-color: rgba\(230, 120, 20, [\d.]+\)/);
    }
    expect(await page.locator('.comparison .steered h3').innerText()).toBe('with steering layer 1, β 20, generated positions, random unit direction, seed 7');
    await page.screenshot({ path: 'test-results/browser/lab-generated.png', fullPage: true });
  }, 60_000);

  it('reads a vector file, and reports a bad one', async () => {
    const input = page.locator('input[name=vector-file]');
    await input.setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"layer": 1,') });
    await expect.poll(() => page.locator('.steering .error').first().innerText()).toMatch(/^BAD_VECTOR: vector file is not JSON/);
    const vector = Array.from({ length: 64 }, (_, i) => Math.cos(i));
    await input.setInputFiles({ name: 'v.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ layer: 2, hidden: 64, vector, method: 'test' })) });
    await expect.poll(() => page.locator('input[name=layer]').inputValue()).toBe('2');
    expect(await page.locator('input[name=vector-source][value=file]').isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await expect.poll(() => page.locator('.comparison .steered h3').innerText(), { timeout: 60_000 }).toMatch(/layer 2, .*file v\.json/);
    await input.setInputFiles({ name: 'wide.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ layer: 0, hidden: 3, vector: [1, 0, 0] })) });
    await expect.poll(() => page.locator('.steering .error').first().innerText()).toBe("vector 'wide.json' has 3 dimensions; this model's hidden size is 64");
    expect(await page.getByRole('button', { name: 'Generate with and without steering' }).isEnabled()).toBe(true);
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await expect.poll(() => page.locator('.generate .generate-error').innerText()).toBe("vector 'wide.json' has 3 dimensions; this model's hidden size is 64");
    // a format-2 file with two layers is used whole: the layer slider does not apply
    const two = { format: 'steerlab.vector/2', hidden: 64, directions: [0, 2].map((layer) => ({ layer, vector: vector.map((x) => x * (layer + 1)) })), method: 'test' };
    await input.setInputFiles({ name: 'two.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(two)) });
    await expect.poll(() => page.locator('.steering .file-info').innerText()).toBe('two.json: layers 0, 2, hidden 64, test');
    expect(await page.locator('input[name=layer]').isDisabled()).toBe(true);
    expect(await page.locator('.steering .error').count()).toBe(0);
    await page.locator('input[name=positions][value=all]').check();
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await expect.poll(() => page.locator('.comparison .steered h3').innerText(), { timeout: 60_000 }).toBe('with steering layers 0, 2, β 20, all positions, file two.json');
    await page.locator('input[name=positions][value=generated]').check();
  }, 90_000);

  it('logged no page errors and fetched nothing from outside', () => {
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  });
});

describe('the agent panel', () => {
  const served = pageWithTinyDefaultModel('steerlab-agent-');
  let page: Page;
  let errors: string[];

  beforeAll(() => {
    ({ page, errors } = served());
  });

  const agent = () => page.locator('section.agent');
  const stepsShown = async () => Number(await agent().locator('.progress-text').getAttribute('data-steps'));
  const chartPoints = async () => Number(await agent().locator('.chart').getAttribute('data-points'));

  async function exported(button: string): Promise<{ name: string; text: string }> {
    const [download] = await Promise.all([page.waitForEvent('download'), agent().getByRole('button', { name: button }).click()]);
    return { name: download.suggestedFilename(), text: readFileSync(await download.path(), 'utf8') };
  }

  async function settings(s: { mode: 'exact' | 'sampled'; horizon: number; seed: number; temperature: number; preset?: string }): Promise<void> {
    await page.locator('select[name=agent-env]').selectOption('east-gauss2');
    await page.locator('select[name=agent-scenario]').selectOption('east-buttons');
    if (s.preset) await page.locator('select[name=agent-preset]').selectOption(s.preset);
    await page.locator(`input[name=agent-mode][value=${s.mode}]`).check();
    await page.locator('input[name=agent-horizon]').fill(String(s.horizon));
    await page.locator('input[name=agent-seed]').fill(String(s.seed));
    await page.locator('input[name=agent-temperature]').fill(String(s.temperature));
    // The tiny random model never puts 5 % on the answers: measure every step.
    if (s.mode !== 'sampled') await page.locator('input[name=agent-min-valid-mass]').fill('0');
  }

  it('runs an exact-mode episode step by step into the chart and the action bars, and exports JSONL and CSV', async () => {
    expect(await page.locator('.model').getAttribute('data-status')).toBe('ready');
    await settings({ mode: 'exact', horizon: 6, seed: 3, temperature: 2, preset: '95-105' });
    await page.locator('input[name=beta]').fill('0');
    await agent().getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    expect(await stepsShown()).toBe(6);
    expect(await chartPoints()).toBe(6);
    expect(await agent().locator('.progress-text').innerText()).toBe('step 6 / 6 · finished');

    const { name, text } = await exported('Export trace (JSONL)');
    expect(name).toBe('steerlab-east-gauss2-east-buttons-seed3.jsonl');
    const records = parseTrace(text);
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    expect(steps.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records.at(-1)).toMatchObject({ type: 'summary', steps: 6, numActions: 2 });
    expect(steps[0]!.config).toMatchObject({ env: 'east-gauss2', envOptions: { preset: '95-105', means: [95, 105] }, scenario: 'east-buttons', seed: 3, mode: 'exact', policy: 'llm-sample-T2' });
    // 95-105: Button 1 costs 10 a press
    for (const r of steps) expect(r.regret).toBe(r.action === 0 ? 10 : 0);

    // the panel shows the last step
    const last = steps.at(-1)!;
    const bars = agent().locator('.bar');
    expect(await bars.locator('.label').allInnerTexts()).toEqual(['Button 1', 'Button 2']);
    const shown = (await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-prob')))));
    expect(shown).toEqual(last.actionProbs);
    expect(await agent().locator('.bar.chosen .label').innerText()).toBe(last.actionLabel);
    expect(await agent().locator('.regret').innerText()).toBe(last.cumRegret.toFixed(2));
    expect(await agent().locator('.entropy').innerText()).toMatch(new RegExp(`^${last.entropy!.toFixed(3)} nats \\(max 0\\.693\\)$`));

    const csv = await exported('Export CSV');
    expect(csv.name).toBe('steerlab-east-gauss2-east-buttons-seed3.csv');
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(STEP_COLUMNS.join(','));
    expect(lines).toHaveLength(1 + 6);
    const stepCol = STEP_COLUMNS.indexOf('step');
    expect(lines.slice(1).map((l) => l.split(',')[stepCol])).toEqual(['0', '1', '2', '3', '4', '5']);
  }, 60_000);

  it('sampled mode shows the completion the action came from', async () => {
    await settings({ mode: 'sampled', horizon: 2, seed: 4, temperature: 1 });
    await page.locator('input[name=agent-samples]').fill('2');
    await page.locator('input[name=agent-max-thought]').fill('6');
    await agent().getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    const steps = parseTrace((await exported('Export trace (JSONL)')).text).filter((r): r is StepRecord => r.type === 'step');
    expect(steps.length).toBeGreaterThan(0);
    expect(await chartPoints()).toBe(steps.length);
    const last = steps.at(-1)!;
    expect(last.completions).toHaveLength(2);
    expect(last.completion).not.toBeNull();
    expect(await agent().locator('.completion').textContent()).toBe(last.completion);
  }, 60_000);

  it('moving the strength during a run steers the next steps (their action probabilities leave the unsteered run\'s), and Stop ends the run early', async () => {
    const horizon = 20;
    const changeAt = 2;
    const stopAt = 7;
    await settings({ mode: 'exact', horizon, seed: 5, temperature: 2, preset: 'equal' });
    await page.locator('input[name=vector-source][value=random]').check();
    await page.locator('input[name=positions][value=generated]').check();
    await page.locator('input[name=beta]').fill('0');
    expect(await page.locator('input[name=layer]').inputValue()).toBe('1');
    // Drive the (one, shared) strength slider and Stop from inside the page as step records
    // arrive, as a user would, but without a round trip to the test process between steps.
    await page.evaluate(({ changeAt, stopAt }) => {
      const panel = document.querySelector('section.agent')!;
      const slider = document.querySelector<HTMLInputElement>('section.steering input[name=beta]')!;
      const stop = [...panel.querySelectorAll('button')].find((b) => b.textContent === 'Stop')!;
      const log = { changedAfter: -1, stoppedAfter: -1 };
      (window as unknown as { liveLog: typeof log }).liveLog = log;
      const observer = new MutationObserver(() => {
        if (panel.getAttribute('data-status') !== 'running') return;
        const n = Number(panel.querySelector('.progress-text')?.getAttribute('data-steps') ?? 0);
        if (log.changedAfter < 0 && n >= changeAt) {
          log.changedAfter = n;
          slider.value = '6';
          slider.dispatchEvent(new Event('input', { bubbles: true }));
        }
        if (log.stoppedAfter < 0 && n >= stopAt) {
          log.stoppedAfter = n;
          stop.click();
          observer.disconnect();
        }
      });
      observer.observe(panel, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-steps', 'data-status'] });
    }, { changeAt, stopAt });
    await agent().getByRole('button', { name: 'Run', exact: true }).click();
    // mid-run, once a steered step is shown: the screenshot for the record
    await expect.poll(() => agent().locator('.beta-in-force').innerText(), { timeout: 30_000, interval: 20 }).toBe('6 at layer 1');
    await page.screenshot({ path: 'test-results/browser/agent-running.png', fullPage: true });
    await page.locator('section.agent[data-status="stopped"], section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('stopped');
    const log = await page.evaluate(() => (window as unknown as { liveLog: { changedAfter: number; stoppedAfter: number } }).liveLog);
    expect(log.changedAfter).toBeGreaterThanOrEqual(changeAt);
    expect(log.stoppedAfter).toBeGreaterThanOrEqual(stopAt);

    const records = parseTrace((await exported('Export trace (JSONL)')).text);
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    const n = steps.length;
    expect(n).toBeGreaterThanOrEqual(log.stoppedAfter);
    expect(n).toBeLessThan(horizon);
    expect(records.at(-1)).toMatchObject({ type: 'summary', steps: n });
    expect(await stepsShown()).toBe(n);
    expect(await chartPoints()).toBe(n);
    expect(await agent().locator('.progress-text').innerText()).toBe(`step ${n} / ${horizon} · stopped`);
    expect(steps[0]!.config.steering).toEqual({ layer: 1, beta: 0, vectorId: 'random-seed-7', positions: 'generated' });
    // Steps made before the slider moved ran unsteered; from some step after it, every step ran at beta 6.
    const first = steps.findIndex((r) => r.steering !== null);
    expect(first).toBeGreaterThanOrEqual(log.changedAfter);
    expect(steps.slice(0, first).every((r) => r.steering === null)).toBe(true);
    expect(steps.slice(first).map((r) => r.steering)).toEqual(steps.slice(first).map(() => ({ layer: 1, beta: 6 })));
    expect(await agent().locator('.beta-in-force').innerText()).toBe('6 at layer 1');

    // The same seed unsteered (beta 0 all along): the same steps until the slider moved, and
    // different action probabilities at every steered step, the first of which saw the same history.
    await page.locator('input[name=beta]').fill('0');
    await agent().getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    const plain = parseTrace((await exported('Export trace (JSONL)')).text).filter((r): r is StepRecord => r.type === 'step');
    expect(plain).toHaveLength(horizon);
    expect(plain.every((r) => r.steering === null)).toBe(true);
    expect(plain[0]!.config).toEqual(steps[0]!.config);
    expect(steps.slice(0, first).map((r) => [r.action, r.actionProbs])).toEqual(plain.slice(0, first).map((r) => [r.action, r.actionProbs]));
    expect(steps.slice(0, first + 1).map((r) => r.promptTokens)).toEqual(plain.slice(0, first + 1).map((r) => r.promptTokens));
    const moved = steps.slice(first).map((r, i) => maxAbsDiff(r.actionProbs!, plain[first + i]!.actionProbs!));
    for (const d of moved) expect(d, `|steered - unsteered| per step from step ${first}: ${moved.join(', ')}`).toBeGreaterThan(1e-3);
  }, 120_000);

  it('the model panel says the model came from the browser cache, and clears it', async () => {
    expect(await page.locator('.model .storage').getAttribute('data-storage')).toBe('stored');
    await page.reload();
    await page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.model .storage').getAttribute('data-storage')).toBe('reused');
    expect(await page.locator('.model .storage').innerText()).toBe("read from this browser's model cache (no download)");
    await expect.poll(() => page.locator('.model .cache-info').innerText()).toBe('model cache: 1 model, 0.4 MB');
    await page.getByRole('button', { name: 'Clear model cache' }).click();
    await expect.poll(() => page.locator('.model .cache-message').innerText()).toBe('removed 1 cached model');
    // the size line is refreshed after the message, by a second worker call: wait for it too
    await expect.poll(() => page.locator('.model .cache-info').innerText()).toBe('model cache: 0 models, 0.0 MB');
  }, 60_000);

  it('logged no page errors', () => {
    expect(errors).toEqual([]);
  });
});

describe('the model cache (IndexedDB in the worker)', () => {
  const tiny = tinyGguf();
  let dir: string;
  let modelBefore: string | undefined;
  let page: Page;
  /** Requests the page and its worker made for the model file. */
  let modelRequests = 0;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'steerlab-cache-'));
    writeFileSync(join(dir, 'tiny.gguf'), tiny.bytes);
    modelBefore = process.env.STEERLAB_MODEL_GGUF;
    process.env.STEERLAB_MODEL_GGUF = join(dir, 'tiny.gguf');
    ({ page } = await openPage(browser, `${server.url}/tests/browser/harness.html`));
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/models/default.gguf') modelRequests++;
    });
    await page.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
    url = `${server.url}/models/default.gguf`;
  }, 120_000);

  afterAll(async () => {
    await page?.close();
    if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
    else process.env.STEERLAB_MODEL_GGUF = modelBefore;
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const load = (maxCacheBytes?: number): Promise<LoadedModel> =>
    page.evaluate((maxCacheBytes) => window.steerlab.client.loadModel({ url: window.steerlab.defaultModelUrl, device: 'wasm', maxCacheBytes }), maxCacheBytes);
  const cached = () => page.evaluate(() => window.steerlab.client.cachedModels());
  const clear = () => page.evaluate(() => window.steerlab.client.clearModelCache());
  const oneToken = () => generate(page, { prompt: 'Hi', chat: false, maxNewTokens: 2, temperature: 0, seed: 1 });
  /** Writes an entry straight into the cache, as a damaged disk or an old version might leave it. */
  const plant = (entry: { size: number; stored: number; fill: number }) =>
    page.evaluate(async ({ url, size, stored, fill }) => {
      const cache = await window.steerlab.openModelCache();
      await cache.putRaw({ url, size, etag: null, lastModified: null, storedAt: 0, bytes: new Blob([new Uint8Array(stored).fill(fill)]) });
      cache.close();
    }, { url, ...entry });

  it('stores a downloaded model and reads it back on the next load without a request', async () => {
    await clear();
    const before = modelRequests;
    const first = await load();
    expect(first).toMatchObject({ storage: 'stored', size: tiny.bytes.length, layers: 3 });
    expect(first.storageProblem).toBeUndefined();
    expect(modelRequests).toBe(before + 1);
    expect(await cached()).toEqual([expect.objectContaining({ url, size: tiny.bytes.length, etag: null })]);
    const second = await load();
    expect(second).toMatchObject({ storage: 'reused', size: tiny.bytes.length, hash: first.hash });
    expect(second.cacheNote).toBeUndefined();
    expect(modelRequests).toBe(before + 1);
    expect((await oneToken()).ids.length).toBeGreaterThan(0);
    expect(await clear()).toEqual({ removed: 1 });
    expect(await cached()).toEqual([]);
    expect(await load()).toMatchObject({ storage: 'stored' });
    expect(modelRequests).toBe(before + 2);
  }, 60_000);

  it('full storage (a quota refusal) leaves the model loaded, uncached, and says so', async () => {
    await clear();
    const before = modelRequests;
    const m = await load(1000);
    expect(m).toMatchObject({ storage: 'not-stored', layers: 3, size: tiny.bytes.length });
    expect(m.storageProblem).toBe('browser storage is full (QuotaExceededError): the model was not cached and will be downloaded again next time');
    expect((await oneToken()).ids.length).toBeGreaterThan(0);
    expect(await cached()).toEqual([]);
    expect(await load()).toMatchObject({ storage: 'stored' });
    expect(modelRequests).toBe(before + 2);
  }, 60_000);

  it('a damaged cached copy (wrong size, or not a GGUF) is deleted and the model downloaded again', async () => {
    const n = tiny.bytes.length;
    await plant({ size: n, stored: n >> 1, fill: 0 });
    let before = modelRequests;
    const short = await load();
    expect(short.storage).toBe('stored');
    expect(short.cacheNote).toBe(`the cached copy of ${url} was damaged (${n >> 1} bytes, expected ${n}); it was deleted and the model downloaded again`);
    expect(modelRequests).toBe(before + 1);

    await plant({ size: n, stored: n, fill: 7 });
    before = modelRequests;
    const junk = await load();
    expect(junk.storage).toBe('stored');
    expect(junk.cacheNote).toMatch(new RegExp(`^the cached copy of ${url.replace(/[.]/g, '\\.')} did not open \\(GGUF_BAD_MAGIC: .*\\); it was deleted and the model downloaded again$`));
    expect(modelRequests).toBe(before + 1);

    // and the copy that replaced it is good
    const again = await load();
    expect(again).toMatchObject({ storage: 'reused', hash: junk.hash });
    expect(again.cacheNote).toBeUndefined();
    expect(modelRequests).toBe(before + 1);
  }, 60_000);
});

describe('the production build (vite build + preview)', () => {
  let dir: string;
  let modelBefore: string | undefined;
  let preview: PreviewServer;
  let page: Page;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'steerlab-build-'));
    writeFileSync(join(dir, 'tiny.gguf'), tinyGguf().bytes);
    modelBefore = process.env.STEERLAB_MODEL_GGUF;
    process.env.STEERLAB_MODEL_GGUF = join(dir, 'tiny.gguf');
    await build({ configFile: 'vite.config.ts', logLevel: 'warn', build: { outDir: join(dir, 'dist'), emptyOutDir: true } });
    preview = await startPreview({ configFile: 'vite.config.ts', logLevel: 'warn', build: { outDir: join(dir, 'dist') }, preview: { host: '127.0.0.1', strictPort: false } });
  }, 120_000);

  afterAll(async () => {
    await page?.close();
    await preview?.close();
    if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
    else process.env.STEERLAB_MODEL_GGUF = modelBefore;
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('emits the ort wasm binary as an app asset and runs the worker from the bundle', async () => {
    const assets = readdirSync(join(dir, 'dist', 'assets'));
    expect(assets.some((f) => /^ort-wasm-simd-threaded\.asyncify-.*\.wasm$/.test(f))).toBe(true);
    expect(assets.some((f) => /^model\.worker-.*\.js$/.test(f))).toBe(true);
    // the test-only self-test (src/testing: tiny models, reference forward) is not shipped
    expect(assets.filter((f) => /selftest/i.test(f))).toEqual([]);
    for (const f of assets.filter((f) => f.endsWith('.js'))) {
      const js = readFileSync(join(dir, 'dist', 'assets', f), 'utf8');
      for (const marker of ['refDecodeLogits', 'fp16 did not run on', 'steerlab-selftest']) expect(js.includes(marker), `${f} contains ${marker}`).toBe(false);
    }
    const { port } = preview.httpServer.address() as AddressInfo;
    let external: string[], errors: string[];
    ({ page, external, errors } = await openPage(browser, `http://127.0.0.1:${port}/?device=wasm`));
    await page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.model').getAttribute('data-status'), await page.locator('.model').innerText()).toBe('ready');
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await page.locator('.comparison').waitFor({ timeout: 60_000 });
    expect(await page.locator('.comparison .steered .tok').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  }, 90_000);
});

needsRealModel.describe('the default model on wasm', () => {
  let modelBefore: string | undefined;
  let page: Page;

  beforeAll(() => {
    modelBefore = process.env.STEERLAB_MODEL_GGUF;
    process.env.STEERLAB_MODEL_GGUF = REAL_MODEL;
  });

  afterAll(async () => {
    await page?.close();
    if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
    else process.env.STEERLAB_MODEL_GGUF = modelBefore;
  }, 30_000);

  it('loads SmolLM2 in the page and generates a few tokens with and without steering', async () => {
    ({ page } = await openPage(browser, `${server.url}/?device=wasm`));
    // converting and creating the session take seconds, so the progress line is there to see
    await expect.poll(() => page.locator('.model .progress span').first().innerText().catch(() => ''), { timeout: 30_000, interval: 50 }).toMatch(/^(downloading: [\d.]+ \/ 98\.4 MB|parsing GGUF|converting weights|creating session)$/);
    await page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 90_000 });
    expect(await page.locator('.model').getAttribute('data-status'), await page.locator('.model').innerText()).toBe('ready');
    expect(await page.locator('.model .info').innerText()).toMatch(/on wasm · llama, 30 layers, hidden 576, vocab 49152/);
    // the layer slider's thumb sits where its label says, in the loaded model's range
    expect(await page.locator('input[name=layer]').getAttribute('max')).toBe('29');
    expect(await page.locator('input[name=layer]').inputValue()).toBe('15');
    expect(await page.locator('section.steering').getByText('layer 15', { exact: true }).count()).toBe(1);
    await page.locator('input[name=max-tokens]').fill('4');
    // SmolLM2's residual stream at block 15 is large: a unit direction needs beta ~100 to move
    // greedy tokens, and on 'generated' positions alone its first tokens hardly move; steer all.
    await page.locator('input[name=beta-value]').fill('120');
    await page.locator('input[name=positions][value=all]').check();
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await page.locator('.comparison').waitFor({ timeout: 120_000 });
    const plain = await page.locator('.comparison .plain .tokens').innerText();
    expect(plain.trim().length).toBeGreaterThan(0);
    expect(await page.locator('.comparison .plain .tok').count()).toBe(4);
    expect(await page.locator('.comparison .steered h3').innerText()).toBe('with steering layer 15, β 120, all positions, random unit direction, seed 7');
    const ids = (side: string) => page.locator(`.comparison .${side} .tok`).evaluateAll((els) => els.map((e) => e.getAttribute('title')!.split(' ')[0]));
    expect(await ids('steered')).not.toEqual(await ids('plain'));
    expect(await page.locator('.comparison .steered .tokens').innerText()).not.toBe(plain);
    await page.screenshot({ path: 'test-results/browser/lab-smollm2.png', fullPage: true });
  }, 240_000);
});
});
