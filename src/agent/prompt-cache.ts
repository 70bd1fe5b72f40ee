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

export class PromptCache {
  private cache: KVCache;
  private ids: number[] = [];

  constructor(private readonly session: ModelSession, private readonly reuse = true) {
    this.cache = session.newCache();
  }

  get kv(): KVCache {
    return this.cache;
  }

  get length(): number {
    return this.ids.length;
  }

  /** Brings the cache to exactly `ids` (prompt region) and returns the last position's logits and hidden state. */
  async extend(ids: number[], steering: Steering | null): Promise<ExtendResult> {
    let lcp = 0;
    if (this.reuse) {
      const n = Math.min(ids.length - 1, this.ids.length); // keep >= 1 new token so logits exist
      while (lcp < n && ids[lcp] === this.ids[lcp]) lcp++;
    }
    if (lcp < this.ids.length) {
      if (lcp === 0) {
        this.cache.dispose();
        this.cache = this.session.newCache();
      } else await this.session.truncate(this.cache, lcp);
    }
    const fresh = ids.slice(lcp);
    const r = await this.session.forward(this.cache, fresh, { region: 'prompt', steering, hiddenPositions: [fresh.length - 1] });
    this.ids = ids.slice();
    return { ...r, reused: lcp, computed: fresh.length };
  }

  dispose(): void {
    this.cache.dispose();
  }
}
