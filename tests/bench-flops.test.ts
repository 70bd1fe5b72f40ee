// The agent bench's FLOP count, against a count by hand from the tiny configs' shapes.
import { describe, expect, it } from 'vitest';
import { ggufFlops } from '../src/bench/flops.js';
import { writeTinyGguf } from '../src/testing/tiny-gguf.js';
import { tinyConfig, tinyWeights } from '../src/testing/tiny.js';

describe('forward FLOPs', () => {
  it('count the block linears and the visible keys of each layer (sliding windows included)', () => {
    // Gemma 3 tiny: 6 layers, layer 5 global, the others local with a window of 4 keys.
    const cfg = tinyConfig({}, 'gemma3');
    const flops = ggufFlops(writeTinyGguf(cfg, tinyWeights(cfg, 3), {}));
    const { hidden: H, heads, kvHeads, headDim: D, intermediate: I, vocab } = cfg;
    const blockWeights = cfg.layers * (2 * H * heads * D + 2 * H * kvHeads * D + 3 * H * I);
    const f = flops(2, 5);
    expect(f.linear).toBe(2 * blockWeights * 5 + 2 * vocab * H);
    // Queries at positions 2..6 see 3..7 keys; a local layer at most 4.
    const globalPairs = 3 + 4 + 5 + 6 + 7, localPairs = 3 + 4 + 4 + 4 + 4;
    expect(f.attention).toBe(4 * heads * D * (5 * localPairs + globalPairs));
  });

  it('grow attention quadratically and linears not at all without a window', () => {
    const cfg = tinyConfig();
    const flops = ggufFlops(writeTinyGguf(cfg, tinyWeights(cfg, 4), {}));
    const a = flops(0, 10), b = flops(100, 10);
    expect(b.linear).toBe(a.linear);
    // sum_{p<10} (p+1) = 55 pairs per layer against sum (101..110) = 1055.
    expect(b.attention / a.attention).toBeCloseTo(1055 / 55, 10);
  });
});
