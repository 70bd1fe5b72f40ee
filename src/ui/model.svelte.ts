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
  /** wasm threads the worker may use, and why only one when the page is not cross-origin isolated. */
  readonly threads = threadPlan();

  private readonly listeners = new Set<(info: LoadedModel | null) => void>();
  private last: { url: string } | { file: File } = { url: DEFAULT_MODEL_URL };

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

  async load(what: { url: string } | { file: File }): Promise<void> {
    this.last = what;
    this.status = 'loading';
    this.error = null;
    this.progress = null;
    this.info = null;
    this.source = 'url' in what ? what.url : what.file.name;
    this.fromFile = 'file' in what;
    this.changed(null);
    try {
      const device = this.device === 'auto' ? undefined : this.device;
      const info = await this.client.loadModel({ ...what, device }, (p) => {
        this.progress = p;
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
