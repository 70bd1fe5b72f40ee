/**
 * The caller-owned KV cache, in one of two storages:
 *
 *  - tensors: the graph's `present.*` outputs, immutable once produced (on WebGPU they stay in GPU
 *    buffers). fork() shares them; a reference count decides when one is really disposed.
 *  - host rows: one growable token-major [capacity, kvHeads, headDim] array per layer and
 *    key/value, owned by JS. The graph (kv 'rows') reads the valid prefix of the array in place as
 *    its past and returns only the new rows, which are written after it. Nothing O(context) is
 *    copied per token (onnxruntime-node copies every output into a fresh buffer).
 *
 * Host rows are shared by forks. Every cache's valid rows are a prefix, so a cache may write rows
 * [a, b) in place when no other cache sharing the array holds more than a rows; otherwise it first
 * copies its own prefix into a new array (copy-on-write). Forking and truncating are O(1).
 */
import type { Tensor } from 'onnxruntime-common';
import { SteerlabError } from '../errors.js';

/** Graph outputs `present_rows.{L}.key|value`: only the rows a forward added, [B, kvHeads, S, headDim]. */
export const PRESENT_ROWS = 'present_rows';

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
  /** Live host row sets (see HostRows). */
  hostSets = 0;
  /** Live KV storage (tensors plus host row sets), for leak tests. */
  get size(): number {
    return this.refs.size + this.hostSets;
  }
}

/** Rows [n, kvHeads, headDim] (token-major, as host rows are kept) in the API's [kvHeads, n, headDim]. */
export function rowsToHeads(rows: Float32Array, kvHeads: number, headDim: number): Float32Array {
  const n = rows.length / (kvHeads * headDim);
  const out = new Float32Array(rows.length);
  for (let t = 0; t < n; t++) for (let h = 0; h < kvHeads; h++) out.set(rows.subarray((t * kvHeads + h) * headDim, (t * kvHeads + h + 1) * headDim), (h * n + t) * headDim);
  return out;
}

/** Writes data [kvHeads, n, headDim] into token-major rows from row `start` on. */
export function headsIntoRows<T extends Float32Array | Uint16Array>(data: T, rows: T, kvHeads: number, headDim: number, start: number): void {
  const n = data.length / (kvHeads * headDim);
  for (let t = 0; t < n; t++) for (let h = 0; h < kvHeads; h++) rows.set(data.subarray((h * n + t) * headDim, (h * n + t + 1) * headDim), ((start + t) * kvHeads + h) * headDim);
}

/** Shape of host rows: fp16 graphs keep raw half bits. */
export interface HostLayout {
  kvHeads: number;
  headDim: number;
  half: boolean;
  /** The most rows a cache can hold (the model's context length), when known. */
  maxRows?: number;
}

type Rows = Float32Array | Uint16Array;

/** Resizable ArrayBuffers (ES2024): Node 20+, Chromium 111+. */
const resizable = 'resize' in ArrayBuffer.prototype;

const rowBytes = (layout: HostLayout) => layout.kvHeads * layout.headDim * (layout.half ? 2 : 4);

/**
 * The arrays several forks share. With a known maximum they are resizable buffers reserved up to
 * it: growing commits pages in place instead of allocating and copying every row (at 2,200 rows
 * of SmolLM2, the copy took 280 ms of one agent step and held old and new arrays at once).
 */
class HostRows {
  readonly users = new Set<KVCache>();
  private constructor(readonly layout: HostLayout, public capacity: number, readonly data: [Rows, Rows][], private readonly buffers: ArrayBuffer[]) {}

  static alloc(layout: HostLayout, layers: number, capacity: number): HostRows {
    const row = rowBytes(layout);
    const max = layout.maxRows;
    const buffers: ArrayBuffer[] = [];
    const make = (): Rows => {
      const b = resizable && max && max >= capacity ? new ArrayBuffer(capacity * row, { maxByteLength: max * row }) : new ArrayBuffer(capacity * row);
      buffers.push(b);
      // Length-tracking views (no length given) follow the buffer when it grows.
      return layout.half ? new Uint16Array(b) : new Float32Array(b);
    };
    return new HostRows(layout, capacity, Array.from({ length: layers }, () => [make(), make()] as [Rows, Rows]), buffers);
  }

  get layers(): number {
    return this.data.length;
  }

  /** Grows to `capacity` rows in place when the buffers allow it; false when they cannot. */
  growInPlace(capacity: number): boolean {
    const bytes = capacity * rowBytes(this.layout);
    if (!this.buffers.every((b) => b.resizable && b.maxByteLength >= bytes)) return false;
    for (const b of this.buffers) b.resize(bytes);
    this.capacity = capacity;
    return true;
  }

  /** Longest prefix another user holds. */
  othersHold(me: KVCache): number {
    let m = 0;
    for (const u of this.users) if (u !== me) m = Math.max(m, u.length);
    return m;
  }

  /** A new array of `capacity` rows holding the first `rows` rows of this one. */
  copyPrefix(rows: number, capacity: number): HostRows {
    const n = rows * this.layout.kvHeads * this.layout.headDim;
    const out = HostRows.alloc(this.layout, this.layers, capacity);
    for (let l = 0; l < this.data.length; l++) for (const w of [0, 1] as const) out.data[l]![w].set(this.data[l]![w].subarray(0, n));
    return out;
  }
}

/** Capacity grows in steps so that appending token by token reallocates O(log n) times. */
function grown(need: number, have: number, max?: number): number {
  const step = Math.max(need, Math.ceil(Math.max(have * 1.5, 256) / 64) * 64);
  return max && need <= max ? Math.min(step, max) : step;
}

export class KVCache {
  private disposed = false;
  /** [layer][0 = key, 1 = value]; null until the first forward. */
  private tensors: [Tensor, Tensor][] | null = null;
  private host: HostRows | null = null;
  length = 0;

  constructor(private readonly pool: TensorPool, readonly layers: number, readonly hostLayout: HostLayout | null = null) {}

  /** True when this cache keeps host rows (see above), false for present tensors. */
  get isHost(): boolean {
    return this.hostLayout !== null;
  }

  get entries(): [Tensor, Tensor][] | null {
    this.check();
    if (this.isHost) throw new SteerlabError('BAD_ARGUMENT', 'this cache keeps host rows, not tensors');
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

  // ---------- host rows ----------
  /** The whole array of one layer (the graph's past) and its capacity; null while empty. */
  hostPast(layer: number, which: 0 | 1): { data: Rows; capacity: number } | null {
    return this.length === 0 ? null : this.hostRows(layer, which);
  }

  /** Read access to one layer's array: token t, head h at (t * kvHeads + h) * headDim. */
  hostRows(layer: number, which: 0 | 1): { data: Rows; capacity: number } {
    this.check();
    if (!this.host) throw new SteerlabError('BAD_ARGUMENT', 'cache is empty');
    return { data: this.host.data[layer]![which], capacity: this.host.capacity };
  }

  /**
   * Makes rows [from, upto) writable by this cache alone (copying its prefix first when another
   * fork holds rows there or the capacity is short) and returns the arrays to write them into.
   */
  hostWritable(from: number, upto: number): { data: [Rows, Rows][]; capacity: number } {
    this.check();
    const layout = this.hostLayout;
    if (!layout) throw new SteerlabError('BAD_ARGUMENT', 'this cache keeps tensors, not host rows');
    const h = this.host;
    const shared = h !== null && h.othersHold(this) > from;
    if (!h || shared || h.capacity < upto) {
      const capacity = h && h.capacity >= upto ? h.capacity : grown(upto, h?.capacity ?? 0, layout.maxRows);
      // Alone past `from`: grow the arrays in place (other forks' rows lie within their lengths).
      if (!(h && !shared && h.growInPlace(capacity))) this.attach(h && this.length > 0 ? h.copyPrefix(this.length, capacity) : HostRows.alloc(layout, this.layers, capacity));
    }
    return { data: this.host!.data, capacity: this.host!.capacity };
  }

  /** Sets the number of valid rows (after a forward wrote them, or to truncate). */
  setHostLength(n: number): void {
    this.check();
    this.length = n;
  }

  private attach(next: HostRows | null): void {
    if (this.host === next) return;
    if (this.host) {
      this.host.users.delete(this);
      if (this.host.users.size === 0) this.pool.hostSets--;
    }
    this.host = next;
    if (next) {
      if (next.users.size === 0) this.pool.hostSets++;
      next.users.add(this);
    }
  }

  fork(): KVCache {
    this.check();
    const c = new KVCache(this.pool, this.layers, this.hostLayout);
    if (this.isHost) {
      c.attach(this.host);
      c.length = this.length;
    } else if (this.tensors) c.replace(this.tensors.map(([k, v]) => [k, v]), this.length);
    return c;
  }

  dispose(): void {
    if (this.disposed) return;
    this.releaseAll();
    this.tensors = null;
    this.attach(null);
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
