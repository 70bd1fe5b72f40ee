import { describe, expect, it } from 'vitest';
import {
  actionFrequencies,
  aggregate,
  bestArmFrac,
  coverage,
  cumulativeRegret,
  entropy,
  greedyFrac,
  halfway,
  interval95,
  invalidRate,
  kMinFrac,
  meanReward,
  METRIC_KEYS,
  minFrac,
  suffFailFreq,
  suffixFailure,
  summarizeRun,
  tQuantile975,
  type RunSummary,
  type StepLike,
} from '../src/metrics/index';

describe('entropy', () => {
  it('is in nats, normalises counts, and is 0 for one-hot or empty mass', () => {
    expect(entropy([0.5, 0.5])).toBeCloseTo(Math.LN2, 12);
    expect(entropy([3, 3])).toBeCloseTo(Math.LN2, 12);
    expect(entropy([0.25, 0.25, 0.25, 0.25])).toBeCloseTo(Math.log(4), 12);
    expect(entropy([0.7, 0.2, 0.1])).toBeCloseTo(-(0.7 * Math.log(0.7) + 0.2 * Math.log(0.2) + 0.1 * Math.log(0.1)), 12);
    expect(entropy([0, 1, 0])).toBe(0);
    expect(entropy([0, 0])).toBe(0);
    expect(() => entropy([0.5, -0.5])).toThrow(/>= 0/);
    expect(() => entropy([Number.NaN])).toThrow(/finite/);
  });

  it('actionFrequencies gives the EAST plug-in estimate from parsed samples', () => {
    expect(actionFrequencies([0, 1, 1, null, 1], 2)).toEqual([0.25, 0.75]);
    expect(actionFrequencies([null, null], 3)).toEqual([0, 0, 0]);
    expect(entropy(actionFrequencies([0, 1, 0, 1], 2))).toBeCloseTo(Math.LN2, 12);
    expect(() => actionFrequencies([2], 2)).toThrow(/not in 0..1/);
  });
});

// A hand-worked run: K = 3, arm 2 is best (regret 0), arm 0 costs 0.1, arm 1 costs 0.2.
const ACTIONS = [0, 1, 0, 2, 0, 0];
const REWARDS = [1, 0, 1, 0, 0, 1];
const REGRET_OF = [0.1, 0.2, 0];
const OPTIMAL = ACTIONS.map((a) => a === 2); // only round 4

describe('sequence metrics on a hand-worked run', () => {
  it('cumulative regret', () => {
    const cum = cumulativeRegret(ACTIONS.map((a) => REGRET_OF[a]!));
    [0.1, 0.3, 0.4, 0.4, 0.5, 0.6].forEach((x, i) => expect(cum[i]).toBeCloseTo(x, 12));
  });

  it('suffix failure: round 4 is in [3, 6] but not in [5, 6]', () => {
    expect(halfway(6)).toBe(3);
    expect(halfway(100)).toBe(50);
    expect(halfway(1)).toBe(1);
    expect(suffixFailure(OPTIMAL)).toBe(false);
    expect(suffixFailure(OPTIMAL, 4)).toBe(false);
    expect(suffixFailure(OPTIMAL, 5)).toBe(true);
    expect(suffFailFreq([OPTIMAL, [false, false, false, false], [true, true]])).toBeCloseTo(1 / 3, 12);
    expect(suffFailFreq([OPTIMAL, OPTIMAL], 5)).toBe(1);
    expect(() => suffixFailure(OPTIMAL, 7)).toThrow(/1..6/);
    expect(() => suffFailFreq([])).toThrow(/at least one run/);
  });

  it('MinFrac and K * MinFrac', () => {
    // counts after 6 rounds: arm0 4, arm1 1, arm2 1
    expect(minFrac(ACTIONS, 3)).toBeCloseTo(1 / 6, 12);
    expect(kMinFrac(ACTIONS, 3)).toBeCloseTo(0.5, 12);
    // after 3 rounds arm 2 is untried
    expect(minFrac(ACTIONS, 3, 3)).toBe(0);
    expect(kMinFrac([0, 1, 2, 0, 1, 2], 3)).toBeCloseTo(1, 12);
    // a null round counts in t but for no arm
    expect(kMinFrac([0, 1, null, 0], 2)).toBeCloseTo(0.5, 12);
  });

  it('GreedyFrac counts choices of the best empirical mean so far', () => {
    // r1 skipped (nothing played yet); r2 arm1 untried: no; r3 arm0 mean 1 = best: yes;
    // r4 arm2 untried: no; r5 arm0 mean 1 = best: yes; r6 arm0 mean 2/3 = best: yes -> 3 / 5
    expect(greedyFrac(ACTIONS, REWARDS)).toBeCloseTo(0.6, 12);
    // ties count as greedy: r2 tries an untried arm (no), r3 and r4 pick arms tied at mean 1 (yes)
    expect(greedyFrac([0, 1, 0, 1], [1, 1, 1, 1])).toBeCloseTo(2 / 3, 12);
    // an invalid round (random replacement) is left out of the share but its reward counts
    expect(greedyFrac([0, 1, 1], [0, 1, 1], [true, false, true])).toBe(1);
    expect(greedyFrac([0, 1, 1], [0, 1, 1], [true, true, true])).toBeCloseTo(0.5, 12);
    expect(greedyFrac([0], [1])).toBe(0);
  });

  it('best-arm fraction, coverage, invalid rate, mean reward', () => {
    expect(bestArmFrac(OPTIMAL)).toBeCloseTo(1 / 6, 12);
    expect(coverage(ACTIONS, 3)).toBe(1);
    expect(coverage([0, 0, null], 4)).toBe(0.25);
    expect(invalidRate([true, false, true, false])).toBe(0.5);
    expect(meanReward(REWARDS)).toBe(0.5);
  });
});

describe('summarizeRun', () => {
  const uniform = [1 / 3, 1 / 3, 1 / 3];
  const steps: StepLike[] = ACTIONS.map((a, i) => ({
    action: a,
    valid: true,
    reward: REWARDS[i]!,
    regret: REGRET_OF[a]!,
    actionProbs: i < 3 ? uniform : [0, 0, 1],
  }));

  it('returns exactly the documented keys with hand-computed values', () => {
    const s = summarizeRun(steps);
    expect(Object.keys(s)).toEqual([
      'entropy',
      'validMass',
      'regret',
      'suffFailFreq',
      'kMinFrac',
      'greedyFrac',
      'bestArmFrac',
      'coverage',
      'invalidRate',
      'invalidAnswerRate',
      'meanReward',
    ]);
    expect(Object.keys(s)).toEqual([...METRIC_KEYS]);
    expect(s.entropy).toBeCloseTo(Math.log(3) / 2, 12);
    expect(s.regret).toBeCloseTo(0.6, 12);
    expect(s.suffFailFreq).toBe(0);
    expect(s.kMinFrac).toBeCloseTo(0.5, 12);
    expect(s.greedyFrac).toBeCloseTo(0.6, 12);
    expect(s.bestArmFrac).toBeCloseTo(1 / 6, 12);
    expect(s.coverage).toBe(1);
    expect(s.invalidRate).toBe(0);
    expect(s.invalidAnswerRate).toBe(0);
    expect(s.validMass).toBeNull();
    expect(s.meanReward).toBe(0.5);
  });

  it('flags a suffix failure and counts an episode-ending invalid step', () => {
    const failing: StepLike[] = [
      { action: 2, valid: true, reward: 0, regret: 0, actionProbs: uniform },
      { action: 0, valid: true, reward: 1, regret: 0.1, actionProbs: uniform },
      { action: 0, valid: true, reward: 1, regret: 0.1, actionProbs: uniform },
      { action: null, valid: false, reward: 0, regret: 0, actionProbs: [0, 0, 0] },
    ];
    const s = summarizeRun(failing);
    expect(s.suffFailFreq).toBe(1); // rounds 2..4 never play arm 2
    expect(s.invalidRate).toBe(0.25);
    expect(s.bestArmFrac).toBe(0.25); // the null step is not optimal
    expect(s.coverage).toBeCloseTo(2 / 3, 12);
    // The invalid step is no choice: entropy is the mean over the three valid steps.
    expect(s.entropy).toBeCloseTo(Math.log(3), 12);
    expect(s.invalidAnswerRate).toBe(0.25);
  });

  it('keeps format-broken and no-distribution steps out of entropy, and reports valid mass and invalid answers', () => {
    const p = [0.5, 0.5];
    const mixed: StepLike[] = [
      { action: 0, valid: true, reward: 1, regret: 0, actionProbs: [0.9, 0.1], validMass: 0.8 },
      // renormalised ~50/50 from almost nothing: format-broken, not a choice
      { action: 1, valid: false, formatBroken: true, reward: 0, regret: 0.1, actionProbs: p, validMass: 0.01 },
      { action: 1, valid: true, reward: 0, regret: 0.1, actionProbs: [0.2, 0.8], validMass: 0.6 },
    ];
    const s = summarizeRun(mixed);
    const h = (q: number[]) => -q.reduce((a, x) => a + x * Math.log(x), 0);
    expect(s.entropy).toBeCloseTo((h([0.9, 0.1]) + h([0.2, 0.8])) / 2, 12);
    expect(s.validMass).toBeCloseTo((0.8 + 0.01 + 0.6) / 3, 12);
    expect(s.invalidRate).toBeCloseTo(1 / 3, 12);
    // sampled: no parse gives no distribution; invalid answers count per completion
    const sampled: StepLike[] = [
      { action: 0, valid: true, reward: 1, regret: 0, actionProbs: [1, 0], extra: { invalidFraction: 0.5 } },
      { action: null, valid: false, reward: 0, regret: 0, actionProbs: null, extra: { invalidFraction: 1 } },
    ];
    const t = summarizeRun(sampled, { numActions: 2 });
    expect(t.entropy).toBe(0);
    expect(t.invalidRate).toBe(0.5);
    expect(t.invalidAnswerRate).toBe(0.75);
    const none = summarizeRun([{ action: null, valid: false, reward: 0, regret: 0, actionProbs: null }], { numActions: 2 });
    expect(none.entropy).toBeNull();
  });

  it('judges a run that ended early on the configured horizon', () => {
    const u = [1 / 3, 1 / 3, 1 / 3];
    // best arm 2 played at once, then the episode ended at step 2 of a 10-round horizon
    const early: StepLike[] = [
      { action: 2, valid: true, reward: 1, regret: 0, actionProbs: u },
      { action: null, valid: false, reward: 0, regret: 0, actionProbs: null },
    ];
    // On its own length (2 rounds) the run looks fine: round 1 of [1, 2] played the best arm.
    const own = summarizeRun(early, { numActions: 3 });
    expect(own.suffFailFreq).toBe(0);
    const onHorizon = summarizeRun(early, { numActions: 3, horizon: 10 });
    expect(onHorizon.suffFailFreq).toBe(1); // rounds 5..10 never play the best arm
    expect(onHorizon.bestArmFrac).toBeCloseTo(1 / 10, 12);
    expect(onHorizon.kMinFrac).toBe(0);
    expect(own.bestArmFrac).toBeCloseTo(1 / 2, 12);
  });

  it('rejects empty runs and inconsistent action counts', () => {
    expect(() => summarizeRun([])).toThrow(/at least one step/);
    expect(() => summarizeRun([steps[0]!, { ...steps[1]!, actionProbs: [1, 0] }])).toThrow(/step 1: actionProbs has 2 entries, expected 3/);
  });
});

describe('intervals and aggregate', () => {
  it('t quantiles match tables inside and beyond the lookup range', () => {
    expect(tQuantile975(1)).toBeCloseTo(12.7062, 4);
    expect(tQuantile975(10)).toBeCloseTo(2.228139, 6);
    expect(tQuantile975(31)).toBeCloseTo(2.039513, 5);
    expect(tQuantile975(40)).toBeCloseTo(2.021075, 5);
    expect(tQuantile975(60)).toBeCloseTo(2.000298, 5);
    expect(tQuantile975(100)).toBeCloseTo(1.983972, 5);
    expect(tQuantile975(1000)).toBeCloseTo(1.962339, 5);
  });

  it('interval95 is mean ± t * sd / sqrt(n), and has no bounds for one value', () => {
    const i = interval95([1, 2, 3]);
    const half = (4.30265273 * 1) / Math.sqrt(3);
    expect(i.mean).toBe(2);
    expect(i.lo!).toBeCloseTo(2 - half, 6);
    expect(i.hi!).toBeCloseTo(2 + half, 6);
    expect(interval95([5])).toEqual({ mean: 5, lo: null, hi: null });
    expect(interval95([4, 4, 4])).toEqual({ mean: 4, lo: 4, hi: 4 });
  });

  it('aggregates every key over runs', () => {
    const base = Object.fromEntries(METRIC_KEYS.map((k) => [k, 0])) as unknown as RunSummary;
    const runs = [1, 2, 3].map((x) => ({ ...base, regret: x, suffFailFreq: x === 2 ? 1 : 0 }));
    const agg = aggregate(runs);
    expect(Object.keys(agg)).toEqual([...METRIC_KEYS]);
    expect(agg.regret.mean).toBe(2);
    expect(agg.regret.hi!).toBeCloseTo(2 + 4.30265273 / Math.sqrt(3), 6);
    expect(agg.suffFailFreq.mean).toBeCloseTo(1 / 3, 12);
    expect(agg.entropy).toEqual({ mean: 0, lo: 0, hi: 0, n: 3 });
    // runs without a value are left out, and n says so
    const partial = aggregate([{ ...base, entropy: null }, { ...base, entropy: 0.5 }, { ...base, entropy: 0.7 }]);
    expect(partial.entropy.n).toBe(2);
    expect(partial.entropy.mean).toBeCloseTo(0.6, 12);
    expect(() => aggregate([])).toThrow(/at least one/);
  });
});
