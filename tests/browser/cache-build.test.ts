/**
 * The model cache and the production build in a real browser (Debian chromium, headless): the
 * worker's IndexedDB cache of the default model (stored, reused, full storage, damaged copies)
 * on the project's Vite dev server, and the app built by vite build and served by vite preview.
 * Without chromium the suites fail, unless STEERLAB_SKIP_BROWSER=1 skips them
 * (tests/helpers/requirement.ts).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { build, preview as startPreview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../src/workers/api.js';
import { labHarness, needsChromium, openPage } from './setup.js';
import { generate } from './shared.js';
import { tinyGguf } from './tiny-gguf.js';
import { CONTENT_SECURITY_POLICY } from '../../vite.config.js';

needsChromium.describe('in chromium', () => {
// The dev server and chromium, started before this suite and closed after it.
const lab = labHarness();

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
    ({ page } = await openPage(lab.browser, `${lab.server.url}/tests/browser/harness.html`));
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/models/default.gguf') modelRequests++;
    });
    await page.waitForFunction(() => window.steerlab !== undefined, null, { timeout: 60_000 });
    url = `${lab.server.url}/models/default.gguf`;
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
    // the built app is served cross-origin isolated, under a CSP without unsafe-eval
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(readdirSync(join(dir, 'dist'))).toEqual(expect.arrayContaining(['_headers', 'favicon.svg', 'examples']));
    let external: string[], errors: string[];
    ({ page, external, errors } = await openPage(lab.browser, `http://127.0.0.1:${port}/?device=wasm`));
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
    await page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.model').getAttribute('data-status'), await page.locator('.model').innerText()).toBe('ready');
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await page.locator('.comparison').waitFor({ timeout: 60_000 });
    expect(await page.locator('.comparison .steered .tok').count()).toBeGreaterThan(0);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(await page.locator('.model .threads').getAttribute('data-threads')).toBe(String(cores));
    // an episode on all threads under the CSP
    await page.locator('input[name=agent-horizon]').fill('3');
    await page.getByRole('button', { name: 'Start' }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('section.agent').getAttribute('data-status'), await page.locator('section.agent').innerText()).toBe('done');
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  }, 90_000);
});
});
