/**
 * The browser benchmark: the project's Vite dev server on 127.0.0.1 (middleware mode, as
 * tests/browser/setup.ts starts it; the page is cross-origin isolated by vite.config.ts's
 * COOP/COEP headers) and Debian's chromium through playwright-core (never a downloaded browser).
 * The test harness page (tests/browser/harness.html) hands over the model worker's client; the
 * real model is loaded from the dev server's /models/default.gguf on wasm, once with 1 thread and
 * once with every thread, each in a fresh page (only a worker's first load sets its thread count).
 *
 * Decode speed = 32 / (time of a 33-token generation - time of a 1-token generation) after the
 * same short chat prompt, greedy, the time the worker reports for each; Node is measured the same
 * way on the same model at the same thread count (peer-child.ts, its own process) for the ratio,
 * and, as the control, on the graph the page runs (float32 block linears; see nodeSameGraph).
 * WebGPU: a real adapter is used when chromium offers one without switches; otherwise the bench
 * says 'no adapter' and, separately, measures SwiftShader (a software adapter, recorded as such).
 */
import { startLabServer, type LabServer } from '../node/dev-server.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSession } from '../engine/session.js';
import type { GenerateResponse, LoadedModel } from '../workers/api.js';
import { hasChatTemplate, runChild, shortPromptIds, SHORT_ASK } from './peer.js';
import type { GenDiffRun, PeerJob } from './peer-child.js';

export const BROWSER_PROMPT = SHORT_ASK;
const QUIET = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const SWIFTSHADER = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface BrowserRun {
  device: string;
  /** ModelInfo.lmHead: 'kernel' where the 8-bit lm_head runs in head/head8.ts. */
  lmHead: string | null;
  requestedThreads: number | null;
  /** LoadedModel.threads as the worker reports it (null on WebGPU). */
  threads: number | null;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  fallbackReason: string | null;
  loadMs: number;
  promptTokens: number;
  newTokens: number;
  reps: number;
  oneTokenMs: number;
  manyTokensMs: number;
  decodeTokensPerSecond: number;
  /** performance.measureUserAgentSpecificMemory() after the runs (page, worker and wasm memory); null where unmeasured. */
  pageMemoryBytes: number | null;
  /** The same generation in Node at the same thread count (null on WebGPU). */
  node: GenDiffRun | null;
  browserOverNode: number | null;
  /**
   * The control: Node at the same thread count on the graph this page runs (float32 block
   * linears, the lm_head where the page has it), so browser / this is the runtime's own cost and
   * this / node is the cost of the weight format onnxruntime-web's wasm build forces.
   */
  nodeSameGraph: GenDiffRun | null;
  browserOverNodeSameGraph: number | null;
  errors: string[];
}

export interface BrowserBench {
  available: boolean;
  /** Why the section could not run (no chromium, server failed...). */
  problem: string | null;
  chromium: string;
  chromiumVersion: string | null;
  wasm: BrowserRun[];
  webgpu: {
    /** What chromium offers without switches: a real adapter, or 'no adapter'. */
    realAdapter: string;
    real: BrowserRun | null;
    /** SwiftShader (--use-webgpu-adapter=swiftshader): a CPU emulation of a GPU, not a GPU. */
    swiftshader: (BrowserRun & { adapter: string }) | { problem: string } | null;
  } | null;
  /** wasm with all threads / Node with the same threads: the issue's goal is >= 0.5. */
  goalBrowserOverNode: number | null;
  /**
   * Where the 1-thread wasm run's lm_head ran in the 8-bit kernel: the same run with it in the
   * graph as a float32 copy (lmHead 'graph'), measured next, and kernel / graph ratios.
   */
  lmHeadGraph: { run: BrowserRun; kernelOverGraphTokensPerSecond: number; kernelOverGraphPageMemory: number | null } | null;
}

/** The dev server serving `modelFile` as the page's default model, with its own dependency cache. */
async function startServer(modelFile: string, cacheDir: string): Promise<LabServer> {
  process.env.STEERLAB_MODEL_GGUF = modelFile;
  return startLabServer({ cacheDir });
}

type Browser = import('playwright-core').Browser;

/*
 * The code run in the page is plain JavaScript in strings: tsx compiles this file with esbuild's
 * keepNames, whose __name() helper does not exist in the page, so no function is passed across.
 */
const PAGE_MEASURE = `async ({ device, threads, reps, newTokens, prompt, chat, lmHead }) => {
  const s = window.steerlab;
  const t0 = performance.now();
  const req = { url: s.defaultModelUrl, device };
  if (threads) req.threads = threads;
  if (lmHead) req.lmHead = lmHead;
  const info = await s.client.loadModel(req);
  const loadMs = performance.now() - t0;
  const gen = (n) => s.client.generate({ prompt, chat, maxNewTokens: n, temperature: 0, seed: 0 });
  await gen(4);
  const one = [];
  const many = [];
  for (let r = 0; r < reps; r++) {
    one.push(await gen(1));
    many.push(await gen(newTokens + 1));
  }
  // The page's memory (JS heaps and wasm memories, its worker included), where chromium measures it
  // (cross-origin isolated pages only; it may wait for a garbage collection, so it is capped).
  let memoryBytes = null;
  if (performance.measureUserAgentSpecificMemory) {
    const m = await Promise.race([performance.measureUserAgentSpecificMemory().catch(() => null), new Promise((r) => setTimeout(() => r(null), 60000))]);
    memoryBytes = m ? m.bytes : null;
  }
  return { info, loadMs, isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency, one, many, memoryBytes };
}`;

const PAGE_ADAPTER = `async () => {
  const a = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
  if (!a) return null;
  const i = a.info || {};
  return { vendor: String(i.vendor || ''), architecture: String(i.architecture || ''), description: String(i.description || ''), isFallbackAdapter: Boolean(a.isFallbackAdapter || i.isFallbackAdapter) };
}`;

interface PageRun {
  info: LoadedModel;
  loadMs: number;
  isolated: boolean;
  cores: number;
  one: GenerateResponse[];
  many: GenerateResponse[];
  memoryBytes: number | null;
}

/**
 * Lets the dev server finish discovering and pre-bundling the worker's dependencies before any
 * measurement: each newly discovered dependency makes Vite re-optimise and reload the page. Opens
 * the harness, starts the worker (cachedModels()) and waits until a page stays put for 5 s.
 */
async function settleServer(browser: Browser, url: string, log: (s: string) => void): Promise<number> {
  let reloads = 0;
  for (let attempt = 1; attempt <= 8; attempt++) {
    const page = await browser.newPage();
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    try {
      await page.goto(`${url}/tests/browser/harness.html`);
      await page.waitForFunction('window.steerlab !== undefined', null, { timeout: 120_000 });
      const before = navigations;
      await page.evaluate('window.steerlab.client.cachedModels()');
      await page.waitForTimeout(5000);
      if (navigations === before) return reloads;
    } catch {
      // the reload destroyed the context mid-call: count it and try again
    } finally {
      await page.close();
    }
    reloads++;
    log(`  browser: the dev server reloaded the page (dependency pre-bundling), waiting (${attempt})`);
  }
  return reloads;
}

/**
 * measureOnce, again in a new page when Vite reloaded the page under it (a dependency
 * re-optimisation on the worker's first start destroys the execution context once).
 */
async function measurePage(browser: Browser, url: string, device: 'wasm' | 'webgpu', threads: number | undefined, reps: number, newTokens: number, errors: string[], chat: boolean, lmHead?: 'graph'): Promise<PageRun> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await measureOnce(browser, url, device, threads, reps, newTokens, errors, chat, lmHead);
    } catch (e) {
      const m = (e as Error).message;
      if (attempt >= 4 || !/context was destroyed|navigat/i.test(m)) throw e;
      errors.push(`attempt ${attempt}: ${m.split('\n')[0]!.slice(0, 200)}; retried in a new page`);
    }
  }
}

/** A fresh page (its own context, so its own worker and IndexedDB): load once, then time generations. */
async function measureOnce(browser: Browser, url: string, device: 'wasm' | 'webgpu', threads: number | undefined, reps: number, newTokens: number, errors: string[], chat: boolean, lmHead?: 'graph'): Promise<PageRun> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(e.message.slice(0, 300)));
  page.setDefaultTimeout(600_000);
  try {
    await page.goto(`${url}/tests/browser/harness.html`);
    await page.waitForFunction('window.steerlab !== undefined', null, { timeout: 120_000 });
    return (await page.evaluate(`(${PAGE_MEASURE})(${JSON.stringify({ device, threads, reps, newTokens, prompt: chat ? BROWSER_PROMPT : `${BROWSER_PROMPT}\n`, chat, lmHead })})`)) as PageRun;
  } finally {
    await page.close();
  }
}

function toRun(p: PageRun, requestedThreads: number | null, node: GenDiffRun | null, errors: string[], same: GenDiffRun | null = null): BrowserRun {
  const oneMs = median(p.one.map((g) => g.ms));
  const manyMs = median(p.many.map((g) => g.ms));
  const made = Math.min(...p.many.map((g) => g.tokens.length)) - 1;
  const tps = made / ((manyMs - oneMs) / 1000);
  return {
    device: p.info.device,
    lmHead: p.info.lmHead ?? null,
    requestedThreads,
    threads: p.info.threads,
    crossOriginIsolated: p.isolated,
    hardwareConcurrency: p.cores,
    fallbackReason: p.info.fallbackReason ?? null,
    loadMs: p.loadMs,
    promptTokens: p.one[0]!.promptTokens,
    newTokens: made,
    reps: p.one.length,
    oneTokenMs: oneMs,
    manyTokensMs: manyMs,
    decodeTokensPerSecond: tps,
    pageMemoryBytes: p.memoryBytes ?? null,
    node,
    browserOverNode: node ? tps / node.decodeTokensPerSecond : null,
    nodeSameGraph: same,
    browserOverNodeSameGraph: same ? tps / same.decodeTokensPerSecond : null,
    errors,
  };
}

/** What the page's navigator.gpu offers: null for no adapter, else its info. */
async function adapterInfo(browser: Browser, url: string): Promise<{ vendor: string; architecture: string; description: string; isFallbackAdapter: boolean } | null> {
  const page = await browser.newPage();
  try {
    await page.goto(`${url}/tests/browser/harness.html`);
    return (await page.evaluate(`(${PAGE_ADAPTER})()`)) as Awaited<ReturnType<typeof adapterInfo>>;
  } finally {
    await page.close();
  }
}

const isSoftware = (a: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean }) =>
  a.isFallbackAdapter || /swiftshader|llvmpipe|software/i.test(`${a.vendor} ${a.architecture} ${a.description}`);

export async function benchBrowser(session: ModelSession, modelPath: string, log: (s: string) => void, o: { reps?: number; newTokens?: number; swiftshaderTokens?: number; swiftshaderTimeoutS?: number } = {}): Promise<BrowserBench> {
  const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const empty = (problem: string): BrowserBench => ({ available: false, problem, chromium: chromiumPath, chromiumVersion: null, wasm: [], webgpu: null, goalBrowserOverNode: null, lmHeadGraph: null });
  if (!existsSync(chromiumPath)) return empty(`chromium missing at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH); browser section not measured`);
  const reps = o.reps ?? 3;
  const newTokens = o.newTokens ?? 32;
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'steerlab-browserbench-'));
  const modelBefore = process.env.STEERLAB_MODEL_GGUF;
  let server: LabServer | null = null;
  let browser: Browser | null = null;
  try {
    server = await startServer(modelPath, join(dir, 'vite'));
    browser = await chromium.launch({ executablePath: chromiumPath, args: QUIET, timeout: 60_000 });
    const version = browser.version();
    // A model without a chat template (a base model) gets the plain prompt with BOS, in the page too.
    const chat = hasChatTemplate(session);
    const shortIds = shortPromptIds(session);
    const nodeRun = (threads: number, browserGraph = false): GenDiffRun => {
      const job: PeerJob = { threads, shortIds, longIds: [], shortNewTokens: 0, longNewTokens: 0, reps: 0, contextSize: 0, genDiff: { reps, newTokens, browserGraph } };
      const p = join(dir, `node-${threads}${browserGraph ? '-browser-graph' : ''}.json`);
      writeFileSync(p, JSON.stringify(job));
      return runChild<GenDiffRun>('ours', modelPath, p);
    };
    const wasm: BrowserRun[] = [];
    await settleServer(browser, server.url, log);
    const probe = await browser.newPage();
    await probe.goto(`${server.url}/tests/browser/harness.html`);
    const cores = await probe.evaluate(() => navigator.hardwareConcurrency);
    await probe.close();
    for (const threads of [...new Set([1, cores])]) {
      log(`  browser: wasm, ${threads} thread(s), fresh page`);
      const errors: string[] = [];
      const p = await measurePage(browser, server.url, 'wasm', threads, reps, newTokens, errors, chat);
      const used = p.info.threads ?? threads;
      log(`  browser: the same in Node, ${used} thread(s)`);
      const node = nodeRun(used);
      log(`  browser: Node on the page's graph (float32 linears), ${used} thread(s)`);
      const same = nodeRun(used, true);
      const run = toRun(p, threads, node, errors, same);
      wasm.push(run);
      log(`    wasm ${run.threads} thread(s): ${run.decodeTokensPerSecond.toFixed(1)} tok/s (1 token ${run.oneTokenMs.toFixed(0)} ms, ${run.newTokens + 1} tokens ${run.manyTokensMs.toFixed(0)} ms); Node ${node.decodeTokensPerSecond.toFixed(1)} tok/s, ratio ${run.browserOverNode!.toFixed(2)}; Node on the page's graph ${same.decodeTokensPerSecond.toFixed(1)} tok/s, ratio ${run.browserOverNodeSameGraph!.toFixed(2)}; page memory ${run.pageMemoryBytes === null ? "not measured" : `${(run.pageMemoryBytes / 2 ** 20).toFixed(0)} MiB`}`);
    }
    let lmHeadGraph: BrowserBench['lmHeadGraph'] = null;
    const one = wasm[0]!;
    if (one.lmHead === 'kernel') {
      log('  browser: wasm, 1 thread, the lm_head in the graph (float32), fresh page');
      const errors: string[] = [];
      const run = toRun(await measurePage(browser, server.url, 'wasm', 1, reps, newTokens, errors, chat, 'graph'), 1, null, errors);
      const mem = one.pageMemoryBytes !== null && run.pageMemoryBytes !== null ? one.pageMemoryBytes / run.pageMemoryBytes : null;
      lmHeadGraph = { run, kernelOverGraphTokensPerSecond: one.decodeTokensPerSecond / run.decodeTokensPerSecond, kernelOverGraphPageMemory: mem };
      log(`    lm_head in the graph: ${run.decodeTokensPerSecond.toFixed(1)} tok/s, page memory ${run.pageMemoryBytes === null ? 'not measured' : `${(run.pageMemoryBytes / 2 ** 20).toFixed(0)} MiB`}; kernel / graph ${lmHeadGraph.kernelOverGraphTokensPerSecond.toFixed(2)} (tok/s), ${mem === null ? '-' : mem.toFixed(2)} (memory)`);
    }
    // WebGPU: a real adapter only without switches; SwiftShader separately, labelled software.
    const real = await adapterInfo(browser, server.url);
    const realLabel = !real ? 'no adapter' : isSoftware(real) ? `software adapter only (${real.vendor} ${real.architecture})` : `${real.vendor} ${real.architecture} ${real.description}`.trim();
    let realRun: BrowserRun | null = null;
    if (real && !isSoftware(real)) {
      log(`  browser: WebGPU on ${realLabel}`);
      const errors: string[] = [];
      realRun = toRun(await measurePage(browser, server.url, 'webgpu', undefined, reps, newTokens, errors, chat), null, null, errors);
    } else log(`  browser: WebGPU: ${realLabel}`);
    await browser.close();
    browser = null;
    let swift: NonNullable<BrowserBench['webgpu']>['swiftshader'] = null;
    const n = o.swiftshaderTokens ?? 8;
    if (n > 0) {
      log(`  browser: WebGPU on SwiftShader (software; ${n} new tokens, 1 rep)`);
      const sb = await chromium.launch({ executablePath: chromiumPath, args: [...QUIET, ...SWIFTSHADER], timeout: 60_000 });
      try {
        const a = await adapterInfo(sb, server.url);
        if (!a) swift = { problem: 'chromium with --use-webgpu-adapter=swiftshader offered no adapter' };
        else {
          const errors: string[] = [];
          // Software rendering of a GPU on 2 shared cores can take minutes per token: bounded.
          const limitS = o.swiftshaderTimeoutS ?? 300;
          let timer: NodeJS.Timeout | undefined;
          const page = measurePage(sb, server.url, 'webgpu', undefined, 1, n, errors, chat);
          page.catch(() => {}); // still pending when the timeout wins; closing chromium rejects it
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no result within ${limitS} s (software adapter too slow here)`)), limitS * 1000);
          });
          const r = toRun(await Promise.race([page, timeout]).finally(() => clearTimeout(timer)), null, null, errors);
          swift = { ...r, adapter: `swiftshader (software): ${a.vendor} ${a.architecture} ${a.description}`.trim() };
          log(`    swiftshader: ${r.decodeTokensPerSecond.toFixed(2)} tok/s on ${r.device}${r.fallbackReason ? ` (${r.fallbackReason})` : ''}`);
        }
      } catch (e) {
        swift = { problem: (e as Error).message.split('\n')[0]!.slice(0, 300) };
      } finally {
        await sb.close();
      }
    }
    const all = wasm.at(-1)!;
    return { available: true, problem: null, chromium: chromiumPath, chromiumVersion: version, wasm, webgpu: { realAdapter: realLabel, real: realRun, swiftshader: swift }, goalBrowserOverNode: all.browserOverNode, lmHeadGraph };
  } catch (e) {
    return empty(`browser section failed: ${(e as Error).message.split('\n')[0]!.slice(0, 400)}`);
  } finally {
    await browser?.close();
    await server?.close();
    if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
    else process.env.STEERLAB_MODEL_GGUF = modelBefore;
    rmSync(dir, { recursive: true, force: true });
  }
}
