/**
 * The model worker: owns the ONNX runtime and at most one loaded model, and answers the page
 * through comlink (api.ts). Calls run one at a time, in the order they arrive.
 */
import { generateWithVReason } from '../steering/vreason/run.js';
import { checkVReason } from '../steering/vreason/settings.js';
import * as Comlink from 'comlink';
import { createWebRuntime, type WebRuntime } from '../engine/runtime/web.js';
import { SteerlabError } from '../errors.js';
import { settingHooks } from '../steering/control-vector.js';
import { settingFromWire } from './steering.js';
import type { ModelSession } from '../engine/session.js';
import { openFolder } from '../engine/sources/folder.js';
import { HUB_BASE, urlSource } from '../engine/sources/files.js';
import { eastFromRuns, residualNorms } from './lab-ops.js';
import { openGguf } from '../engine/sources/gguf.js';
import { Rng } from '../util/rng.js';
import { EpisodeRunner } from './episode.js';
import { ModelCache, storeFailureMessage } from './model-cache.js';
import { tokenTexts } from './token-text.js';
import {
  toWireError,
  type GenerateRequest,
  type GenerateResponse,
  type LoadedModel,
  type LoadProgress,
  type LoadRequest,
  type ModelApi,
  type WorkerEndpointApi,
} from './api.js';

let runtimePromise: Promise<WebRuntime> | null = null;
/** The first call decides the wasm thread count (onnxruntime starts once per worker). */
const runtime = (threads?: number) => (runtimePromise ??= createWebRuntime({ threads }));
let model: ModelSession | null = null;

/** Reads a Response body while reporting bytes; the total comes from Content-Length when sent. */
async function readWithProgress(res: Response, report: (p: LoadProgress) => void): Promise<Uint8Array> {
  const total = Number(res.headers.get('content-length')) || undefined;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    if (loaded - lastReport > 1 << 20) {
      lastReport = loaded;
      report({ phase: 'download', fraction: total ? loaded / total : NaN, loaded, total });
    }
  }
  if (total !== undefined && loaded !== total) throw new SteerlabError('FETCH_FAILED', `download ended after ${loaded} of ${total} bytes`);
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

interface Downloaded {
  bytes: Uint8Array;
  etag: string | null;
  lastModified: string | null;
}

async function fetchModel(url: string, report: (p: LoadProgress) => void): Promise<Downloaded> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new SteerlabError('FETCH_FAILED', `could not reach ${url}: ${(e as Error).message}`);
  }
  if (res.status === 404) {
    const why = (await res.text().catch(() => '')).trim().split('\n')[0];
    throw new SteerlabError('MODEL_NOT_FOUND', `${url} was not found${why ? `: ${why}` : ''}`);
  }
  if (!res.ok) throw new SteerlabError('FETCH_FAILED', `${url} answered HTTP ${res.status}`);
  const bytes = await readWithProgress(res, report);
  return { bytes, etag: res.headers.get('etag'), lastModified: res.headers.get('last-modified') };
}

function modelIdOf(req: LoadRequest): string {
  const name = req.file?.name ?? req.url?.split('/').pop() ?? 'model.gguf';
  return name.replace(/\.gguf$/i, '');
}

/** Errors that mean "these bytes are not a usable GGUF" (as opposed to a runtime or device failure). */
const isGgufDamage = (e: unknown) => e instanceof SteerlabError && e.code.startsWith('GGUF_');

type Opened = Awaited<ReturnType<typeof openGguf>>;

/** An opened model with how its bytes were obtained. */
interface Obtained extends Opened {
  size: number;
  /** Time to get the bytes (download, file read or cache read). */
  gotMs: number;
  storage: LoadedModel['storage'];
  storageProblem?: string;
  cacheNote?: string;
}

async function openFile(file: File, open: (b: Uint8Array) => Promise<Opened>, report: (p: LoadProgress) => void): Promise<Obtained> {
  const t0 = performance.now();
  report({ phase: 'download', fraction: 0, loaded: 0, total: file.size });
  const bytes = new Uint8Array(await file.arrayBuffer());
  report({ phase: 'download', fraction: 1, loaded: bytes.length, total: bytes.length });
  const gotMs = performance.now() - t0;
  return { ...(await open(bytes)), size: bytes.length, gotMs, storage: 'not-stored' };
}

/**
 * A model by URL: from the cache when it holds a usable copy (no request at all), else downloaded
 * and cached. The cache write runs while the model opens; a failed write (storage full or any
 * other refusal) leaves the load working and says why. A cached copy that is damaged (wrong size,
 * unreadable, or not a GGUF that opens) is deleted and the model downloaded again.
 */
async function openUrl(url: string, maxCacheBytes: number | undefined, open: (b: Uint8Array) => Promise<Opened>, report: (p: LoadProgress) => void): Promise<Obtained> {
  const cache = await ModelCache.tryOpen();
  try {
    let cacheNote: string | undefined;
    if (cache instanceof ModelCache) {
      const t0 = performance.now();
      const hit = await cache.read(url).catch(() => null);
      if (hit && 'bytes' in hit) {
        report({ phase: 'cache', fraction: 1, loaded: hit.bytes.length, total: hit.bytes.length });
        const gotMs = performance.now() - t0;
        try {
          return { ...(await open(hit.bytes)), size: hit.bytes.length, gotMs, storage: 'reused' };
        } catch (e) {
          if (!isGgufDamage(e)) throw e;
          await cache.delete(url).catch(() => {});
          cacheNote = `the cached copy of ${url} did not open (${(e as SteerlabError).code}: ${(e as Error).message}); it was deleted and the model downloaded again`;
        }
      } else if (hit) {
        cacheNote = `${hit.problem}; it was deleted and the model downloaded again`;
      }
    }
    const t1 = performance.now();
    report({ phase: 'download', fraction: 0, loaded: 0 });
    const got = await fetchModel(url, report);
    report({ phase: 'download', fraction: 1, loaded: got.bytes.length, total: got.bytes.length });
    const gotMs = performance.now() - t1;
    let storageProblem = cache instanceof ModelCache ? undefined : cache.problem;
    const stored =
      cache instanceof ModelCache
        ? cache.put(url, got.bytes, got, maxCacheBytes).then(
            () => true,
            (e: unknown) => {
              storageProblem = storeFailureMessage(e);
              return false;
            },
          )
        : Promise.resolve(false);
    let opened: Opened;
    try {
      opened = await open(got.bytes);
    } catch (e) {
      // Bytes that are not a GGUF we can open are not worth keeping (a device failure says nothing about them).
      const kept = await stored;
      if (kept && isGgufDamage(e) && cache instanceof ModelCache) await cache.delete(url).catch(() => {});
      throw e;
    }
    const storage = (await stored) ? 'stored' : 'not-stored';
    return { ...opened, size: got.bytes.length, gotMs, storage, ...(storageProblem ? { storageProblem } : {}), ...(cacheNote ? { cacheNote } : {}) };
  } finally {
    if (cache instanceof ModelCache) cache.close();
  }
}

async function loadModel(req: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel> {
  const report = (p: LoadProgress) => {
    // A comlink proxy returns a promise; progress is best-effort and must never fail the load.
    void Promise.resolve(onProgress?.(p)).catch(() => {});
  };
  if (!req.file && !req.url && !req.hub) throw new SteerlabError('BAD_ARGUMENT', 'loadModel needs a url, a file or a hub model');
  if (req.device !== undefined && req.device !== 'webgpu' && req.device !== 'wasm') throw new SteerlabError('BAD_ARGUMENT', `unknown device '${String(req.device)}' (webgpu or wasm)`);
  if (req.maxCacheBytes !== undefined && !(req.maxCacheBytes >= 0)) throw new SteerlabError('BAD_ARGUMENT', `maxCacheBytes must be a number >= 0, got ${req.maxCacheBytes}`);
  if (req.threads !== undefined && !(Number.isInteger(req.threads) && req.threads >= 1)) throw new SteerlabError('BAD_ARGUMENT', `threads must be a whole number >= 1, got ${req.threads}`);
  if (req.lmHead !== undefined && req.lmHead !== 'kernel' && req.lmHead !== 'graph') throw new SteerlabError('BAD_ARGUMENT', `unknown lmHead '${String(req.lmHead)}' (kernel or graph)`);
  const rt = await runtime(req.threads);
  if (model) {
    await model.dispose();
    model = null;
  }
  if (req.hub && !req.file && !req.url) return loadHub(rt, req, report);
  const modelId = modelIdOf(req);
  const open = (bytes: Uint8Array) =>
    openGguf(rt, bytes, modelId, {
      device: req.device ?? rt.devices[0],
      ...(req.lmHead ? { lmHead: req.lmHead } : {}),
      onPhase: (phase, done) => report({ phase, fraction: done ? 1 : 0 }),
    });
  const o = req.file ? await openFile(req.file, open, report) : await openUrl(new URL(req.url!, self.location.href).href, req.maxCacheBytes, open, report);
  model = o.session;
  return {
    ...o.session.info,
    size: o.size,
    timings: { downloadMs: o.gotMs, parseMs: o.timings.parseMs, convertMs: o.timings.convertMs + o.timings.graphMs, sessionMs: o.timings.sessionMs },
    storage: o.storage,
    threads: o.session.info.device === 'wasm' ? rt.threads : null,
    ...(o.storageProblem ? { storageProblem: o.storageProblem } : {}),
    ...(o.cacheNote ? { cacheNote: o.cacheNote } : {}),
  };
}

/**
 * A model in transformers.js layout from the hub (or a mirror): config, tokenizer and the ONNX
 * graph of the chosen dtype, hooked like any ONNX folder. Not cached by the page (the browser's
 * HTTP cache keeps the files). An unreachable hub fails in one line (FETCH_FAILED).
 */
async function loadHub(rt: WebRuntime, req: LoadRequest, report: (p: LoadProgress) => void): Promise<LoadedModel> {
  const { id, dtype = 'q4', base = HUB_BASE } = req.hub!;
  if (!/^[\w.-]+\/[\w.-]+$/.test(id)) throw new SteerlabError('BAD_ARGUMENT', `a hub model id looks like owner/name, got '${id}'`);
  const t0 = performance.now();
  report({ phase: 'download', fraction: Number.NaN, loaded: 0 });
  const session = await openFolder(rt, urlSource(`${base}/${id}/resolve/main`), id, dtype, { device: req.device ?? rt.devices[0] });
  model = session;
  const ms = performance.now() - t0;
  return { ...session.info, size: 0, timings: { downloadMs: ms, parseMs: 0, convertMs: 0, sessionMs: 0 }, storage: 'not-stored', threads: session.info.device === 'wasm' ? rt.threads : null };
}

function checkGenerate(req: GenerateRequest): void {
  const bad = (m: string) => {
    throw new SteerlabError('BAD_ARGUMENT', m);
  };
  if (typeof req.prompt !== 'string' || req.prompt.length === 0) bad('the prompt is empty');
  if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1 || req.maxNewTokens > 4096) bad(`max new tokens must be a whole number in 1..4096, got ${req.maxNewTokens}`);
  if (!Number.isFinite(req.temperature) || req.temperature < 0) bad(`temperature must be >= 0, got ${req.temperature}`);
  if (!Number.isFinite(req.seed)) bad(`seed must be a number, got ${req.seed}`);
}

async function generate(req: GenerateRequest): Promise<GenerateResponse> {
  if (!model) throw new SteerlabError('BAD_ARGUMENT', 'no model is loaded');
  checkGenerate(req);
  const m = model;
  const t0 = performance.now();
  const text = req.chat ? m.chat([{ role: 'user', content: req.prompt }]) : req.prompt;
  const promptIds = m.encode(text, !req.chat);
  if (promptIds.length === 0) throw new SteerlabError('BAD_ARGUMENT', 'the prompt encodes to no tokens');
  const rng = new Rng(req.seed);
  const add = settingHooks(settingFromWire(req.steering, m.info));
  const opts = { maxNewTokens: req.maxNewTokens, temperature: req.temperature, random: () => rng.next(), add };
  const r = req.vreason ? await generateWithVReason(m, promptIds, opts, checkVReason(req.vreason)) : { ...(await m.generate(promptIds, opts)), vreason: undefined };
  r.cache.dispose();
  // The end-of-turn token that stopped generation is not text: it shows as an empty token (its entropy kept), never as a literal '<|im_end|>'.
  const shownIds = r.stoppedBy === 'stop' && r.ids.length && !r.text.endsWith(m.decode(r.ids.slice(-1))) ? r.ids.slice(0, -1) : r.ids;
  const texts = [...tokenTexts((ids) => m.decode(ids), shownIds), ...(shownIds.length < r.ids.length ? [''] : [])];
  return {
    text: r.text,
    ids: r.ids,
    tokens: r.tokens.map((t, i) => ({ id: t.id, text: texts[i]!, logprob: t.logprob, entropy: t.entropy })),
    promptTokens: promptIds.length,
    stoppedBy: r.stoppedBy,
    ms: performance.now() - t0,
    ...(r.vreason ? { vreason: r.vreason } : {}),
  };
}

const episodes = new EpisodeRunner();

function loaded(): ModelSession {
  if (!model) throw new SteerlabError('BAD_ARGUMENT', 'no model is loaded');
  return model;
}

const api: ModelApi = {
  loadModel,
  generate,
  runEpisode: async (req, onStep) => {
    try {
      return await episodes.run(model, req, onStep);
    } finally {
      // The page's callback lives on its own message port; close it once the episode is over.
      (onStep as Partial<Comlink.Remote<unknown>> | undefined)?.[Comlink.releaseProxy]?.();
    }
  },
  setSteering: async (steering) => episodes.setSteering(steering, model?.info ?? null),
  setVReason: async (settings) => episodes.setVReason(settings),
  setAutopilot: async (settings) => episodes.setAutopilot(settings),
  stopEpisode: async () => episodes.stop(),
  pauseEpisode: async () => episodes.pause(),
  resumeEpisode: async () => episodes.resume(),
  stepEpisode: async () => episodes.step(),
  residualNorms: async () => residualNorms(loaded()),
  eastVector: async (req) => eastFromRuns(loaded(), req, () => new Promise((r) => setTimeout(r, 0))),
  cachedModels: async () => {
    const cache = await ModelCache.open();
    try {
      return await cache.list();
    } finally {
      cache.close();
    }
  },
  deleteCachedModel: async (url) => {
    const cache = await ModelCache.open();
    try {
      await cache.delete(url);
    } finally {
      cache.close();
    }
  },
  clearModelCache: async () => {
    const cache = await ModelCache.open();
    try {
      return { removed: await cache.clear() };
    } finally {
      cache.close();
    }
  },
  devices: async () => {
    const rt = await runtime();
    return { devices: [...rt.devices], webgpuProblem: rt.webgpuProblem };
  },
  dispose: async () => {
    if (model) await model.dispose();
    model = null;
  },
};

// One call at a time: a load must not swap the model out under a running generate or episode.
// The live controls and the cache calls are answered at once (`now`), even while an episode runs.
let queue: Promise<unknown> = Promise.resolve();

function now<K extends keyof ModelApi>(name: K): WorkerEndpointApi[K] {
  const fn = api[name] as (...a: unknown[]) => Promise<unknown>;
  return ((...args: unknown[]) =>
    Promise.resolve()
      .then(() => fn(...args))
      .then(
        (value) => ({ ok: true as const, value }),
        (e: unknown) => ({ ok: false as const, error: toWireError(e) }),
      )) as WorkerEndpointApi[K];
}

function serial<K extends keyof ModelApi>(name: K): WorkerEndpointApi[K] {
  const fn = api[name] as (...a: unknown[]) => Promise<unknown>;
  return ((...args: unknown[]) => {
    const run = queue.then(() => fn(...args)).then(
      (value) => ({ ok: true as const, value }),
      (e: unknown) => ({ ok: false as const, error: toWireError(e) }),
    );
    queue = run;
    return run;
  }) as WorkerEndpointApi[K];
}

const endpoint: WorkerEndpointApi = {
  loadModel: serial('loadModel'),
  generate: serial('generate'),
  devices: serial('devices'),
  runEpisode: serial('runEpisode'),
  setSteering: now('setSteering'),
  setVReason: now('setVReason'),
  setAutopilot: now('setAutopilot'),
  stopEpisode: now('stopEpisode'),
  pauseEpisode: now('pauseEpisode'),
  resumeEpisode: now('resumeEpisode'),
  stepEpisode: now('stepEpisode'),
  residualNorms: serial('residualNorms'),
  eastVector: serial('eastVector'),
  cachedModels: now('cachedModels'),
  clearModelCache: now('clearModelCache'),
  deleteCachedModel: now('deleteCachedModel'),
  dispose: serial('dispose'),
};

Comlink.expose(endpoint);
