/**
 * The model worker: owns the ONNX runtime and at most one loaded model, and answers the page
 * through comlink (api.ts). Calls run one at a time, in the order they arrive.
 */
import * as Comlink from 'comlink';
import { createWebRuntime, type WebRuntime } from '../engine/runtime/web.js';
import { SteerlabError } from '../engine/errors.js';
import type { ModelSession } from '../engine/session.js';
import { openGguf } from '../engine/sources/gguf.js';
import { Rng } from '../util/rng.js';
import { tinySelfTest } from './selftest.js';
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
const runtime = () => (runtimePromise ??= createWebRuntime());
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

async function fetchModel(url: string, report: (p: LoadProgress) => void): Promise<Uint8Array> {
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
  return readWithProgress(res, report);
}

function modelIdOf(req: LoadRequest): string {
  const name = req.file?.name ?? req.url?.split('/').pop() ?? 'model.gguf';
  return name.replace(/\.gguf$/i, '');
}

async function loadModel(req: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel> {
  const report = (p: LoadProgress) => {
    // A comlink proxy returns a promise; progress is best-effort and must never fail the load.
    void Promise.resolve(onProgress?.(p)).catch(() => {});
  };
  if (!req.file && !req.url) throw new SteerlabError('BAD_ARGUMENT', 'loadModel needs a url or a file');
  if (req.device !== undefined && req.device !== 'webgpu' && req.device !== 'wasm') throw new SteerlabError('BAD_ARGUMENT', `unknown device '${String(req.device)}' (webgpu or wasm)`);
  const rt = await runtime();
  if (model) {
    await model.dispose();
    model = null;
  }
  const t0 = performance.now();
  report({ phase: 'download', fraction: 0, loaded: 0, total: req.file?.size });
  const bytes = req.file ? new Uint8Array(await req.file.arrayBuffer()) : await fetchModel(req.url!, report);
  report({ phase: 'download', fraction: 1, loaded: bytes.length, total: bytes.length });
  const downloadMs = performance.now() - t0;

  const { session, timings } = await openGguf(rt, bytes, modelIdOf(req), {
    device: req.device ?? rt.devices[0],
    onPhase: (phase, done) => report({ phase, fraction: done ? 1 : 0 }),
  });
  model = session;
  return { ...session.info, size: bytes.length, timings: { downloadMs, parseMs: timings.parseMs, convertMs: timings.convertMs + timings.graphMs, sessionMs: timings.sessionMs } };
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
  const steering = req.steering ? { vectors: [{ layer: req.steering.layer, vector: req.steering.vector, beta: req.steering.beta }], positions: 'all' as const } : null;
  const r = await m.generate(promptIds, { maxNewTokens: req.maxNewTokens, temperature: req.temperature, random: () => rng.next(), steering });
  r.cache.dispose();
  const texts = tokenTexts((ids) => m.decode(ids), r.ids);
  return {
    text: r.text,
    ids: r.ids,
    tokens: r.tokens.map((t, i) => ({ id: t.id, text: texts[i]!, logprob: t.logprob, entropy: t.entropy })),
    promptTokens: promptIds.length,
    stoppedBy: r.stoppedBy,
    ms: performance.now() - t0,
  };
}

const api: ModelApi = {
  loadModel,
  generate,
  tinySelfTest: async (req) => tinySelfTest(await runtime(), req),
  devices: async () => {
    const rt = await runtime();
    return { devices: [...rt.devices], webgpuProblem: rt.webgpuProblem };
  },
  dispose: async () => {
    if (model) await model.dispose();
    model = null;
  },
};

// One call at a time: a load must not swap the model out under a running generate.
let queue: Promise<unknown> = Promise.resolve();

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
  tinySelfTest: serial('tinySelfTest'),
  devices: serial('devices'),
  dispose: serial('dispose'),
};

Comlink.expose(endpoint);
