/**
 * Keeps the KV cache of the prompt seen so far. When the next prompt extends the last one (the
 * history only grows), a step costs just its new tokens; when tokenisation at the seam differs,
 * the cache is rewound to the longest common prefix first. The result equals a fresh prefill.
 */
import type { KVCache } from '../engine/kvcache.js';
import type { ForwardResult, ModelSession, Steering } from '../engine/session.js';

export interface ExtendResult extends ForwardResult {
  reused: number;
  computed: number;
}

const vectorIds = new WeakMap<Float32Array, number>();
let nextVectorId = 1;
/** Identity of a steering setting (vector object, layer, strength, positions). */
function steeringKey(s: Steering | null): string | null {
  if (!s || s.vectors.length === 0) return null;
  return `${s.positions}|${s.vectors
    .map((v) => {
      if (!vectorIds.has(v.vector)) vectorIds.set(v.vector, nextVectorId++);
      return `${vectorIds.get(v.vector)}@${v.layer}x${v.beta}`;
    })
    .join(',')}`;
}

export class PromptCache {
  private cache: KVCache;
  private ids: number[] = [];
  /** The steering the cached prompt was computed with; a different one invalidates the cache. */
  private steeredWith: string | null = null;

  constructor(private readonly session: ModelSession, private readonly reuse = true) {
    this.cache = session.newCache();
  }

  get kv(): KVCache {
    return this.cache;
  }

  get length(): number {
    return this.ids.length;
  }

  /**
   * Brings the cache to exactly `ids` (prompt region) and returns the last position's logits and
   * the hidden state at `hiddenAt` (absolute position; default the last one, and it must be new).
   */
  async extend(ids: number[], steering: Steering | null, hiddenAt = ids.length - 1): Promise<ExtendResult> {
    let lcp = 0;
    const key = steeringKey(steering);
    if (this.reuse && key === this.steeredWith) {
      // Keep >= 1 new token so logits exist, and recompute the position whose hidden state we read.
      const n = Math.min(ids.length - 1, this.ids.length, hiddenAt);
      while (lcp < n && ids[lcp] === this.ids[lcp]) lcp++;
    }
    if (lcp < this.ids.length) {
      if (lcp === 0) {
        this.cache.dispose();
        this.cache = this.session.newCache();
      } else await this.session.truncate(this.cache, lcp);
    }
    const fresh = ids.slice(lcp);
    const r = await this.session.forward(this.cache, fresh, { region: 'prompt', steering, hiddenPositions: [hiddenAt - lcp] });
    this.ids = ids.slice();
    this.steeredWith = key;
    return { ...r, reused: lcp, computed: fresh.length };
  }

  dispose(): void {
    this.cache.dispose();
  }
}
