/**
 * The caller-owned KV cache. Tensors are immutable once produced, so fork() shares them and a
 * reference count decides when a tensor is really disposed (GPU buffers must be released
 * explicitly). Writes are copy-on-write for the same reason.
 */
import type { Tensor } from 'onnxruntime-common';
import { SteerlabError } from '../errors.js';

export class TensorPool {
  private readonly refs = new Map<Tensor, number>();
  retain(t: Tensor): void {
    this.refs.set(t, (this.refs.get(t) ?? 0) + 1);
  }
  release(t: Tensor): void {
    const n = (this.refs.get(t) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(t, n);
      return;
    }
    this.refs.delete(t);
    t.dispose();
  }
  /** Live tensors, for leak tests. */
  get size(): number {
    return this.refs.size;
  }
}

export class KVCache {
  private disposed = false;
  /** [layer][0 = key, 1 = value]; null until the first forward. */
  private tensors: [Tensor, Tensor][] | null = null;
  length = 0;

  constructor(private readonly pool: TensorPool, readonly layers: number) {}

  get entries(): [Tensor, Tensor][] | null {
    this.check();
    return this.tensors;
  }

  /** Replace all layers (after a forward); old tensors are released. */
  replace(next: [Tensor, Tensor][], length: number): void {
    this.check();
    for (const pair of next) for (const t of pair) this.pool.retain(t);
    this.releaseAll();
    this.tensors = next;
    this.length = length;
  }

  setLayer(layer: number, which: 0 | 1, t: Tensor): void {
    this.check();
    if (!this.tensors) throw new SteerlabError('BAD_ARGUMENT', 'cache is empty');
    this.pool.retain(t);
    this.pool.release(this.tensors[layer]![which]);
    this.tensors[layer]![which] = t;
  }

  fork(): KVCache {
    this.check();
    const c = new KVCache(this.pool, this.layers);
    if (this.tensors) c.replace(this.tensors.map(([k, v]) => [k, v]), this.length);
    return c;
  }

  dispose(): void {
    if (this.disposed) return;
    this.releaseAll();
    this.tensors = null;
    this.disposed = true;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private releaseAll(): void {
    if (this.tensors) for (const pair of this.tensors) for (const t of pair) this.pool.release(t);
  }

  private check(): void {
    if (this.disposed) throw new SteerlabError('DISPOSED', 'this KV cache was disposed');
  }
}
