/**
 * The page's model state: which model is loaded (or loading, with progress), on which device,
 * and what the worker's IndexedDB model cache holds. All work happens in the worker behind
 * ModelClient; other state modules learn of a new model through onChange.
 */
import { DEFAULT_MODEL_URL, type CachedModelInfo, type LoadedModel, type LoadProgress, type WebDevice } from '../workers/api.js';
import type { ModelClient } from '../workers/client.js';
import { describe } from './describe.js';
import { threadPlan } from '../engine/runtime/threads.js';

export type DeviceChoice = 'auto' | WebDevice;

/** Hub models in transformers.js layout the panel offers (any other id can be typed). */
export const HUB_PRESETS: readonly { id: string; dtype: string }[] = [
  { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', dtype: 'q4' },
  { id: 'HuggingFaceTB/SmolLM2-360M-Instruct', dtype: 'q4' },
  { id: 'onnx-community/Qwen2.5-0.5B-Instruct', dtype: 'q4' },
];

/** Bytes per second and seconds left, from the first and the latest progress of a download. */
export function downloadRate(first: { t: number; loaded: number }, now: { t: number; loaded: number; total?: number }): { rate: number; eta: number | null } | null {
  const dt = (now.t - first.t) / 1000;
  if (dt <= 0.2 || now.loaded <= first.loaded) return null;
  const rate = (now.loaded - first.loaded) / dt;
  return { rate, eta: now.total ? Math.max(0, (now.total - now.loaded) / rate) : null };
}
export type ModelStatus = 'idle' | 'loading' | 'ready' | 'failed';

export class ModelState {
  status = $state<ModelStatus>('idle');
  progress = $state.raw<LoadProgress | null>(null);
  /** The loaded model, null while none is (or while one loads). */
  info = $state.raw<LoadedModel | null>(null);
  error = $state<string | null>(null);
  device = $state<DeviceChoice>('auto');
  /** The URL or file name of the model shown or loading. */
  source = $state<string>(DEFAULT_MODEL_URL);
  /** The loaded model came from a local File (never cached). */
  fromFile = $state(false);

  /** The browser's model cache (null: not read, or unreadable). */
  cached = $state.raw<CachedModelInfo[] | null>(null);
  cacheMessage = $state<string | null>(null);
  readonly cacheBytes = $derived((this.cached ?? []).reduce((s, c) => s + c.size, 0));

  /** One line when the worker crashed (its model is gone); cleared by reloadAfterCrash. */
  crashed = $state<string | null>(null);
  /** Where hub models come from (?hub=URL points it at a mirror). */
  hubBase = 'https://huggingface.co';
  hubId = $state(HUB_PRESETS[0]!.id);
  hubDtype = $state(HUB_PRESETS[0]!.dtype);
  /** Download rate and time left, while downloading. */
  rate = $state.raw<{ rate: number; eta: number | null } | null>(null);
  /** At most this many wasm threads (?threads=N); null: the plan's. */
  maxThreads: number | null = null;
  /** wasm threads the worker may use, and why only one when the page is not cross-origin isolated. */
  readonly threads = threadPlan();

  private readonly listeners = new Set<(info: LoadedModel | null) => void>();
  private last: { url: string } | { file: File } | { hub: { id: string; dtype: string } } = { url: DEFAULT_MODEL_URL };

  constructor(private readonly client: ModelClient) {
    client.onCrash((message) => {
      this.crashed = message;
      this.info = null;
      this.status = 'failed';
      this.error = message;
      this.changed(null);
    });
  }

  /** A fresh worker, and the model that was loaded (or loading) when it crashed. */
  async reloadAfterCrash(): Promise<void> {
    this.client.restart();
    this.crashed = null;
    await this.load(this.last);
  }

  /** Calls `fn` when a load starts (null) and when a model is ready (its info); returns the unsubscribe. */
  onChange(fn: (info: LoadedModel | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(info: LoadedModel | null): void {
    for (const fn of this.listeners) fn(info);
  }

  async load(what: { url: string } | { file: File } | { hub: { id: string; dtype: string } }): Promise<void> {
    this.last = what;
    this.status = 'loading';
    this.error = null;
    this.progress = null;
    this.rate = null;
    this.info = null;
    this.source = 'url' in what ? what.url : 'file' in what ? what.file.name : `hub: ${what.hub.id} (${what.hub.dtype})`;
    this.fromFile = 'file' in what;
    let first: { t: number; loaded: number } | null = null;
    this.changed(null);
    try {
      const device = this.device === 'auto' ? undefined : this.device;
      const req = 'hub' in what ? { hub: { ...what.hub, base: this.hubBase } } : what;
      const info = await this.client.loadModel({ ...req, device, ...(this.maxThreads ? { threads: this.maxThreads } : {}) }, (p) => {
        this.progress = p;
        if (p.phase === 'download' && p.loaded !== undefined) {
          const now = { t: performance.now(), loaded: p.loaded, total: p.total };
          first ??= now;
          this.rate = downloadRate(first, now);
        }
      });
      this.info = info;
      this.status = 'ready';
      this.changed(info);
    } catch (e) {
      this.error = describe(e);
      this.status = 'failed';
    }
    await this.refreshCache();
  }

  loadHub(): Promise<void> {
    return this.load({ hub: { id: this.hubId.trim(), dtype: this.hubDtype } });
  }

  async deleteCached(url: string): Promise<void> {
    try {
      await this.client.deleteCachedModel(url);
      this.cacheMessage = `removed ${url}`;
    } catch (e) {
      this.cacheMessage = describe(e);
    }
    await this.refreshCache();
  }

  loadDefault(): Promise<void> {
    return this.load({ url: DEFAULT_MODEL_URL });
  }

  async refreshCache(): Promise<void> {
    try {
      this.cached = await this.client.cachedModels();
    } catch (e) {
      this.cached = null;
      this.cacheMessage = describe(e);
    }
  }

  async clearCache(): Promise<void> {
    try {
      const { removed } = await this.client.clearModelCache();
      this.cacheMessage = `removed ${removed} cached model${removed === 1 ? '' : 's'}`;
    } catch (e) {
      this.cacheMessage = describe(e);
    }
    await this.refreshCache();
  }
}
