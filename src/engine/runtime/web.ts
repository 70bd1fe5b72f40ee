/**
 * onnxruntime-web in the browser worker: WebGPU when the browser has an adapter, wasm (CPU)
 * always. transformers.js imports the same 'onnxruntime-web/webgpu' module; we also publish it
 * under Symbol.for('onnxruntime') so transformers.js never loads a second copy.
 *
 * The wasm binary is the app's own asset (Vite's `?url` import: served from node_modules in dev,
 * emitted into dist/assets by `vite build`), never a CDN. wasm uses every core when the page is
 * cross-origin isolated (threads.ts), else one thread; the count is fixed when onnxruntime
 * first starts, so the first createWebRuntime call decides it.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { InferenceSession } from 'onnxruntime-common';
import { SteerlabError } from '../../errors.js';
import type { CreateSessionOptions, Device, OrtLike, Runtime } from './types.js';
import { threadPlan } from './threads.js';

interface GpuLike {
  requestAdapter(): Promise<object | null>;
}

export interface WebRuntime extends Runtime {
  /** Why WebGPU is not among `devices` (null when it is). */
  readonly webgpuProblem: string | null;
  /** wasm threads in use. */
  readonly threads: number;
}

const ORT_SYMBOL = Symbol.for('onnxruntime');
(globalThis as Record<symbol, unknown>)[ORT_SYMBOL] ??= ort;

/** Absolute URL of the wasm binary; resolved against the worker's own location. */
export function ortWasmUrl(): string {
  return new URL(wasmUrl, globalThis.location?.href).href;
}

let threads = 1;

function configure(): void {
  // Object form with only `wasm`: the WebGPU bundle keeps its built-in JS glue and fetches just the binary.
  ort.env.wasm.wasmPaths = { wasm: ortWasmUrl() };
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
}

/** Asks the browser for a WebGPU adapter; returns it, or the reason there is none. */
async function probeWebGpu(): Promise<{ adapter: object | null; problem: string | null }> {
  const gpu = (globalThis.navigator as unknown as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) {
    const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
    return { adapter: null, problem: secure === false ? 'navigator.gpu is missing: the page is not a secure context (serve it from https or localhost)' : 'navigator.gpu is missing: this browser has no WebGPU' };
  }
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? { adapter, problem: null } : { adapter: null, problem: 'the browser offered no WebGPU adapter (GPU blocklisted or disabled)' };
  } catch (e) {
    return { adapter: null, problem: `requesting a WebGPU adapter failed: ${(e as Error).message}` };
  }
}

/** `opts.threads` caps the wasm threads (the benchmark's 1-thread run); default: threadPlan(). */
export async function createWebRuntime(opts: { threads?: number } = {}): Promise<WebRuntime> {
  const plan = threadPlan();
  threads = Math.max(1, Math.min(plan.threads, opts.threads ?? plan.threads));
  configure();
  const { adapter, problem } = await probeWebGpu();
  if (adapter) (ort.env.webgpu as { adapter?: unknown }).adapter = adapter;
  const devices: Device[] = adapter ? ['webgpu', 'wasm'] : ['wasm'];
  return {
    name: 'web',
    ort: ort as unknown as OrtLike,
    devices,
    webgpuProblem: problem,
    threads,
    async createSession(model: Uint8Array | string, opts: CreateSessionOptions): Promise<InferenceSession> {
      if (typeof model === 'string') throw new SteerlabError('BAD_ARGUMENT', 'the browser runtime takes model bytes, not a file path');
      if (opts.device === 'cpu') throw new SteerlabError('BAD_ARGUMENT', "device 'cpu' is the Node runtime's; in the browser use 'wasm'");
      if (opts.device === 'webgpu' && !adapter) throw new SteerlabError('NO_WEBGPU', problem ?? 'WebGPU is unavailable');
      configure();
      const keep = opts.device === 'webgpu' && opts.keepOnDevice?.length
        ? { preferredOutputLocation: Object.fromEntries(opts.keepOnDevice.map((n) => [n, 'gpu-buffer' as const])) }
        : {};
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [opts.device],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        ...(opts.externalData ? { externalData: opts.externalData } : {}),
        ...keep,
      });
      return session as unknown as InferenceSession;
    },
  };
}
