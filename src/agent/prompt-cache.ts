/**
 * Keeps the KV cache of the prompt seen so far. When the next prompt extends the last one (the
 * history only grows), a step costs just its new tokens; when tokenisation at the seam differs,
 * the cache is rewound to the longest common prefix first. The result equals a fresh prefill.
 */
import { addsKey, type HookAdd } from '../engine/hook-points.js';
import type { KVCache } from '../engine/kvcache.js';
import type { ForwardResult, ModelSession } from '../engine/session.js';

export interface ExtendResult extends ForwardResult {
  reused: number;
  computed: number;
}

export class PromptCache {
  private cache: KVCache;
  private ids: number[] = [];
  /** The prompt-region additions the cached prompt was computed with; different ones invalidate it. */
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
   * Brings the cache to exactly `ids` (prompt region) with the additions that apply there, and
   * returns the last position's logits and the `read` hooks at `hiddenAt` (absolute position;
   * default the last one, and it is always recomputed).
   */
  async extend(ids: number[], add: readonly HookAdd[] | null, hiddenAt = ids.length - 1, read: string[] = []): Promise<ExtendResult> {
    let lcp = 0;
    const key = addsKey(add, 'prompt');
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
    const r = await this.session.forward(this.cache, fresh, { region: 'prompt', add, read: read.length ? { hooks: read, at: [hiddenAt - lcp] } : null });
    this.ids = ids.slice();
    this.steeredWith = key;
    return { ...r, reused: lcp, computed: fresh.length };
  }

  dispose(): void {
    this.cache.dispose();
  }
}
