import { describe, expect, it } from 'vitest';
import { entropyFromLogProbs, logSoftmax, normalizeLogProbs, sampleToken, tokenStats } from '../src/engine/logits.js';
import { Rng } from '../src/util/rng.js';

describe('logit numerics', () => {
  it('tokenStats equals log-softmax and the entropy computed the long way', () => {
    const rng = new Rng(4);
    const logits = Float32Array.from({ length: 1000 }, () => rng.normal(0, 3));
    const lp = logSoftmax(logits);
    for (const id of [0, 17, 999]) {
      const s = tokenStats(logits, id);
      expect(s.logprob).toBeCloseTo(lp[id]!, 9);
      expect(s.entropy).toBeCloseTo(entropyFromLogProbs(lp), 9);
    }
  });

  it('entropy of a uniform distribution over K is ln K; of a one-hot, 0', () => {
    expect(tokenStats(new Float32Array(8), 3).entropy).toBeCloseTo(Math.log(8), 12);
    expect(tokenStats(Float32Array.from([0, 1000, 0]), 1).entropy).toBeCloseTo(0, 12);
  });

  it('normalizes summed log-probs into a distribution', () => {
    const p = normalizeLogProbs([Math.log(0.2), Math.log(0.6)]);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[1]).toBeCloseTo(0.75, 12);
  });

  it('sampling: greedy at T = 0, seeded and reproducible, top-p keeps the nucleus only', () => {
    const logits = Float32Array.from([1, 3, 2, -5]);
    expect(sampleToken(logits, { temperature: 0, random: () => 0.5 })).toBe(1);
    const draw = (seed: number) => { const r = new Rng(seed); return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1, random: () => r.next() })); };
    expect(draw(9)).toEqual(draw(9));
    const r = new Rng(1);
    const nucleus = new Set(Array.from({ length: 300 }, () => sampleToken(logits, { temperature: 1, topP: 0.6, random: () => r.next() })));
    expect([...nucleus]).toEqual([1]); // p(1) = 0.66 >= 0.6 alone
  });
});
