/**
 * The model worker in a real browser: Debian chromium (headless) on the project's Vite dev
 * server. Tiny models are built inside the worker and checked against the TypeScript reference
 * forward on wasm and on WebGPU (SwiftShader); a tiny GGUF goes through the real load path; the
 * default model (when cached) generates a few tokens from the app page.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeRuntime } from '../../src/engine/runtime/node.js';
import { openGguf } from '../../src/engine/sources/gguf.js';
import { Rng } from '../../src/util/rng.js';
import type { GenerateRequest, GenerateResponse, LoadedModel, LoadProgress, SelfTestCase, SelfTestResult } from '../../src/workers/api.js';
import { HAVE_CHROMIUM, launchChromium, openPage, startServer, type LabServer } from './setup.js';
import { tinyGguf } from './tiny-gguf.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

type Failure = { failed: true; name: string; code: string; message: string };

/** Runs the page's worker client; a rejection comes back as {failed, name, code, message}. */
function selfTest(page: Page, device: 'wasm' | 'webgpu'): Promise<SelfTestResult> {
  return page.evaluate((device) => window.steerlab.client.tinySelfTest({ device }), device);
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

function generate(page: Page, req: Omit<GenerateRequest, 'steering'> & { steering?: { layer: number; beta: number; vector: number[] } }): Promise<GenerateResponse> {
  return page.evaluate(
    (r) => window.steerlab.client.generate({ ...r, steering: r.steering ? { ...r.steering, vector: Float32Array.from(r.steering.vector) } : null }),
    req,
  );
}

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

describe.skipIf(!HAVE_CHROMIUM)('model worker in chromium', () => {
  let server: LabServer;
  let browser: Browser;
  let page: Page;
  let external: string[];

  beforeAll(async () => {
    server = await startServer();
    browser = await launchChromium({ webgpu: true });
    ({ page, external } = await openPage(browser, `${server.url}/tests/browser/harness.html`));
    await page.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  }, 30_000);

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
      expect(info).toMatchObject({ device: 'wasm', layers: 3, hidden: 64, vocab: 259, size: tiny.bytes.length, modelId: 'tiny' });
      expect(info.fallbackReason).toBeUndefined();
      const finished = progress.filter((p) => p.fraction === 1).map((p) => p.phase);
      expect(finished).toEqual(['download', 'parse', 'convert', 'session']);
      expect(progress.find((p) => p.phase === 'download' && p.fraction === 1)?.loaded).toBe(tiny.bytes.length);
    }, 30_000);

    it('generates the same tokens as the Node engine for the same seed, and steering changes them', async () => {
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
        const rng = new Rng(req.seed);
        const node = await session.generate(ids, { maxNewTokens: req.maxNewTokens, temperature: req.temperature, random: () => rng.next() });
        node.cache.dispose();
        expect(a.ids).toEqual(node.ids);
        expect(a.text).toBe(node.text);
      } finally {
        await session.dispose();
      }
      const other = await generate(page, { ...req, seed: 12 });
      expect(other.ids).not.toEqual(a.ids);
      const vector = Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.3));
      const steered = await generate(page, { ...req, temperature: 0, steering: { layer: 1, beta: 8, vector } });
      const greedy = await generate(page, { ...req, temperature: 0 });
      expect(steered.ids).not.toEqual(greedy.ids);
    }, 60_000);

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

describe.skipIf(!HAVE_CHROMIUM)('chromium without WebGPU', () => {
  let server: LabServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startServer();
    browser = await launchChromium({ webgpu: false });
    ({ page } = await openPage(browser, `${server.url}/tests/browser/harness.html`));
    await page.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  }, 30_000);

  it('asking for webgpu falls back to wasm and says why', async () => {
    const d = await page.evaluate(() => window.steerlab.client.devices());
    expect(d.devices).toEqual(['wasm']);
    expect(d.webgpuProblem).toMatch(/adapter/);
    const { info } = await loadTiny(page, tinyGguf().bytes, 'webgpu');
    expect(info.device).toBe('wasm');
    expect(info.fallbackReason).toMatch(/^webgpu: .*adapter/);
  }, 60_000);
});
