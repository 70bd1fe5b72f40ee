/**
 * Shared setup for the browser tests: the project's Vite dev server (middleware mode on an
 * ephemeral 127.0.0.1 port, no HMR socket) and Debian's chromium driven by playwright-core.
 * Never downloads a browser: CHROMIUM_PATH or /usr/bin/chromium. Without one, the suites
 * registered through `needsChromium.describe` fail with a message saying how to get it, unless the run
 * sets STEERLAB_SKIP_BROWSER=1, which skips them explicitly (tests/helpers/requirement.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyGguf } from './tiny-gguf.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { startLabServer, type LabServer } from '../../src/node/dev-server.js';
import { requirement } from '../helpers/requirement.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM_PATH);
export const SKIP_BROWSER_VARIABLE = 'STEERLAB_SKIP_BROWSER';

export const needsChromium = requirement({
  available: HAVE_CHROMIUM,
  optOut: SKIP_BROWSER_VARIABLE,
  message: `chromium missing at ${CHROMIUM_PATH}; run: apt-get install chromium (or set CHROMIUM_PATH to a chromium binary); set ${SKIP_BROWSER_VARIABLE}=1 to skip the browser tests explicitly`,
});

const QUIET = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
/** WebGPU on SwiftShader (a software adapter): slow, but the same code path as a real GPU. */
const WEBGPU = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

export type { LabServer };

/** The project's dev server (src/node/dev-server.ts). */
export function startServer(): Promise<LabServer> {
  return startLabServer();
}

/** `webgpu: false` starts chromium without the WebGPU switches: it then offers no adapter. */
export function launchChromium(opts: { webgpu: boolean }): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...QUIET, ...(opts.webgpu ? WEBGPU : [])], timeout: 60_000 });
}

/**
 * A page that records what leaves 127.0.0.1 (nothing should: no CDN) and the errors it logs.
 * Dedicated-worker requests show up in the page's request events too.
 */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; external: string[]; errors: string[] }> {
  const page = await browser.newPage();
  const external: string[] = [];
  const errors: string[] = [];
  const origin = new URL(url).origin;
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) external.push(u);
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  return { page, external, errors };
}

/**
 * Starts the project's dev server and chromium (with WebGPU on SwiftShader) before the calling
 * suite's tests and closes both after them; read them through the returned object.
 */
export function labHarness(): { readonly server: LabServer; readonly browser: Browser } {
  const h = {} as { server: LabServer; browser: Browser };
  beforeAll(async () => {
    h.server = await startServer();
    h.browser = await launchChromium({ webgpu: true });
  }, 120_000);
  afterAll(async () => {
    await h.browser?.close();
    await h.server?.close();
  }, 30_000);
  return h;
}

/**
 * Registers hooks that serve a tiny GGUF as the page's /models/default.gguf, open the lab page on
 * wasm and wait for the model panel to settle; the returned getter gives the open page.
 */
export function pageWithTinyDefaultModel(lab: { readonly browser: Browser; readonly server: LabServer }, tmpPrefix: string, query = '?device=wasm'): () => Awaited<ReturnType<typeof openPage>> {
  let dir: string;
  let modelBefore: string | undefined;
  let opened: Awaited<ReturnType<typeof openPage>>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    writeFileSync(join(dir, 'tiny.gguf'), tinyGguf().bytes);
    modelBefore = process.env.STEERLAB_MODEL_GGUF;
    process.env.STEERLAB_MODEL_GGUF = join(dir, 'tiny.gguf');
    opened = await openPage(lab.browser, `${lab.server.url}/${query}`);
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
