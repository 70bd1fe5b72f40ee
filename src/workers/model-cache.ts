/**
 * The browser's model cache: downloaded GGUF files in IndexedDB (idb), keyed by absolute URL,
 * so the next load of the same URL reads them back without a request. The bytes are kept as a
 * Blob (the browser stores large blobs as files, and listing the cache reads no model bytes),
 * with the size and the server's ETag / Last-Modified when it sent them.
 *
 * Used by the model worker; the browser tests also open it from the page (same origin, same
 * database) to plant a damaged entry.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { CachedModelInfo } from './api.js';

export const MODEL_CACHE_DB = 'steerlab-model-cache';
const STORE = 'models';

export interface CachedModel extends CachedModelInfo {
  bytes: Blob;
}

interface CacheSchema extends DBSchema {
  models: { key: string; value: CachedModel };
}

/** What reading an entry gave: its bytes, or why the entry cannot be used (it is then deleted). */
export type CacheRead = { bytes: Uint8Array; entry: CachedModelInfo } | { problem: string };

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function errorText(e: unknown): string {
  const err = e as { name?: string; message?: string } | null;
  const name = err?.name && err.name !== 'Error' ? `${err.name}: ` : '';
  return `${name}${err?.message ?? String(e)}`.split('\n')[0]!;
}

/** The one-line reason a model was not cached, for LoadedModel.storageProblem. */
export function storeFailureMessage(e: unknown): string {
  const name = (e as { name?: string } | null)?.name;
  if (name === 'QuotaExceededError') return 'browser storage is full (QuotaExceededError): the model was not cached and will be downloaded again next time';
  return `the model could not be cached (${errorText(e)}): it will be downloaded again next time`;
}

export class ModelCache {
  private constructor(private readonly db: IDBPDatabase<CacheSchema>) {}

  static async open(): Promise<ModelCache> {
    const db = await openDB<CacheSchema>(MODEL_CACHE_DB, 1, {
      upgrade(d) {
        d.createObjectStore(STORE);
      },
    });
    return new ModelCache(db);
  }

  /** Opens the cache, or says in one line why IndexedDB is not available here. */
  static async tryOpen(): Promise<ModelCache | { problem: string }> {
    try {
      return await ModelCache.open();
    } catch (e) {
      return { problem: `the browser's IndexedDB is not available (${errorText(e)}): the model was not cached` };
    }
  }

  /**
   * The cached bytes of `url`, null when there are none. An entry whose blob is missing,
   * unreadable or not the recorded size is deleted and reported as a problem.
   */
  async read(url: string): Promise<CacheRead | null> {
    const entry = await this.db.get(STORE, url);
    if (!entry) return null;
    let problem: string;
    try {
      if (!(entry.bytes instanceof Blob)) throw new Error('no stored bytes');
      const bytes = new Uint8Array(await entry.bytes.arrayBuffer());
      if (bytes.length === entry.size) {
        const { bytes: _blob, ...info } = entry;
        return { bytes, entry: info };
      }
      problem = `the cached copy of ${url} was damaged (${bytes.length} bytes, expected ${entry.size})`;
    } catch (e) {
      problem = `the cached copy of ${url} could not be read (${errorText(e)})`;
    }
    await this.delete(url);
    return { problem };
  }

  /**
   * Stores a model. Throws what IndexedDB threw (QuotaExceededError when storage is full); a
   * model over `maxBytes` is refused with a QuotaExceededError too, before anything is written.
   */
  async put(url: string, bytes: Uint8Array, meta: { etag: string | null; lastModified: string | null }, maxBytes?: number): Promise<void> {
    if (maxBytes !== undefined && bytes.length > maxBytes) {
      throw new DOMException(`the model (${mb(bytes.length)}) is over the cache limit of ${maxBytes} bytes`, 'QuotaExceededError');
    }
    const entry: CachedModel = { url, size: bytes.length, etag: meta.etag, lastModified: meta.lastModified, storedAt: Date.now(), bytes: new Blob([bytes as Uint8Array<ArrayBuffer>]) };
    const tx = this.db.transaction(STORE, 'readwrite');
    // A quota failure may reject the put or only abort the transaction; wait for both.
    await Promise.all([tx.store.put(entry, url), tx.done]);
  }

  /** Writes an entry as given (no checks): for tests that plant a damaged copy. */
  async putRaw(entry: CachedModel): Promise<void> {
    await this.db.put(STORE, entry, entry.url);
  }

  async delete(url: string): Promise<void> {
    await this.db.delete(STORE, url);
  }

  async list(): Promise<CachedModelInfo[]> {
    const out: CachedModelInfo[] = [];
    let cursor = await this.db.transaction(STORE).store.openCursor();
    while (cursor) {
      const { bytes: _blob, ...info } = cursor.value;
      out.push(info);
      cursor = await cursor.continue();
    }
    return out;
  }

  /** Deletes every entry; returns how many there were. */
  async clear(): Promise<number> {
    const tx = this.db.transaction(STORE, 'readwrite');
    const n = await tx.store.count();
    await tx.store.clear();
    await tx.done;
    return n;
  }

  close(): void {
    this.db.close();
  }
}
