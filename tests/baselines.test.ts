import { beforeAll, describe, expect, it } from 'vitest';
import {
  createPolicy,
  EpsilonGreedyPolicy,
  GreedyPolicy,
  RandomPolicy,
  runBaseline,
  ThompsonPolicy,
  UcbPolicy,
  type PolicyName,
} from '../src/baselines/index';
import { createEnv } from '../src/envs/registry';
import { aggregate, type Aggregate, type RunSummary } from '../src/metrics/index';
import { formatTrace, parseTrace, splitRuns, type StepRecord, type SummaryRecord, type TraceRecord } from '../src/trace/index';
import { Rng } from '../src/util/rng';

function summaries(records: TraceRecord[]): RunSummary[] {
  return records.flatMap((r) => (r.type === 'summary' ? [r.summary] : []));
}

function stepsOf(records: TraceRecord[]): StepRecord[] {
  return records.flatMap((r) => (r.type === 'step' ? [r] : []));
}

describe('policy action distributions', () => {
  it('random is uniform', () => {
    const p = new RandomPolicy(4);
    const d = p.decide(new Rng(0));
    expect(d.probs).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(d.action).toBeGreaterThanOrEqual(0);
    expect(d.action).toBeLessThan(4);
  });

  it('greedy tries untried arms first, then is uniform over best-mean ties', () => {
    const p = new GreedyPolicy(3);
    expect(p.decide(new Rng(0)).probs).toEqual([1 / 3, 1 / 3, 1 / 3]);
    p.update(0, 1);
    expect(p.decide(new Rng(0)).probs).toEqual([0, 0.5, 0.5]);
    p.update(1, 1);
    p.update(2, 0);
    expect(p.decide(new Rng(0)).probs).toEqual([0.5, 0.5, 0]);
    p.update(1, 0); // arm1 mean 0.5 now
    const d = p.decide(new Rng(0));
    expect(d).toEqual({ action: 0, probs: [1, 0, 0] });
  });

  it('eps-greedy is the exact mixture', () => {
    const p = new EpsilonGreedyPolicy(4, 0.2);
    [0, 1, 2, 3].forEach((a) => p.update(a, a === 2 ? 1 : 0));
    const probs = p.decide(new Rng(0)).probs;
    [0.05, 0.05, 0.85, 0.05].forEach((x, i) => expect(probs[i]).toBeCloseTo(x, 12));
    // the draws follow the mixture
    const rng = new Rng(1);
    let best = 0;
    for (let i = 0; i < 4000; i++) if (p.act(rng) === 2) best++;
    expect(Math.abs(best / 4000 - 0.85)).toBeLessThan(0.02);
    expect(() => new EpsilonGreedyPolicy(2, 1.5)).toThrow(/epsilon/);
  });

  it('UCB pulls each arm once in order, then maximises mean + sqrt(C / n)', () => {
    const p = new UcbPolicy(3, 1);
    const rng = new Rng(0);
    for (const expected of [0, 1, 2]) {
      const d = p.decide(rng);
      expect(d.action).toBe(expected);
      expect(d.probs).toEqual([0, 1, 2].map((i) => (i === expected ? 1 : 0)));
      p.update(d.action, [1, 0, 0.5][expected]!);
    }
    p.update(0, 1); // arm0: n 2, mean 1 -> 1 + sqrt(1/2) = 1.707; arm1: 0 + 1 = 1; arm2: 0.5 + 1 = 1.5
    expect(p.indices().map((x) => Number(x.toFixed(6)))).toEqual([1.707107, 1, 1.5]);
    expect(p.decide(rng).action).toBe(0);
    p.update(0, 0);
    p.update(0, 0); // arm0: n 4, mean 0.5 -> 1.0; arm2 1.5 wins
    expect(p.decide(rng).action).toBe(2);
  });

  it('Thompson sampling estimates its distribution by Monte Carlo and concentrates on a clear winner', () => {
    const bern = new ThompsonPolicy(2, { law: { kind: 'bernoulli' }, mcDraws: 4000, priorMean: 0, priorSd: 1 });
    // Beta(1,1) vs Beta(1,1): 1/2 each
    const even = bern.decide(new Rng(0)).probs;
    expect(even[0]! + even[1]!).toBeCloseTo(1, 12);
    expect(Math.abs(even[0]! - 0.5)).toBeLessThan(0.03);
    // Beta(2,1) vs Beta(1,2): P(X > Y) = 5/6
    bern.update(0, 1);
    bern.update(1, 0);
    expect(Math.abs(bern.decide(new Rng(1)).probs[0]! - 5 / 6)).toBeLessThan(0.03);
    expect(() => bern.update(0, 3)).toThrow(/\[0, 1\]/);

    const gauss = new ThompsonPolicy(2, { law: { kind: 'gaussian', sigma: 10 }, mcDraws: 2000, priorMean: 0, priorSd: 1000 });
    for (let i = 0; i < 20; i++) {
      gauss.update(0, 95);
      gauss.update(1, 105);
    }
    // posterior sd ~ 10 / sqrt(20) = 2.24 per arm; P(arm1 > arm0) = Phi(10 / 3.16) ~ 0.9992
    expect(gauss.decide(new Rng(2)).probs[1]).toBeGreaterThan(0.99);
  });

  it('createPolicy refuses learning policies on grid games', async () => {
    const lake = createEnv('frozenlake');
    lake.reset(0);
    expect(() => createPolicy('ucb', lake)).toThrow(/needs a bandit; frozenlake is a grid game/);
    expect(createPolicy('random', lake).decide(new Rng(0)).probs).toEqual([0.25, 0.25, 0.25, 0.25]);
    await expect(runBaseline('bernoulli-hard', 'softmax' as PolicyName, { seed: 0 })).rejects.toThrow(/unknown policy 'softmax'/);
  });
});

describe('Krishnamurthy et al. baselines on bernoulli-hard (K = 5, T = 100, 100 seeds)', () => {
  const run = async (policy: PolicyName) =>
    aggregate(summaries(await runBaseline('bernoulli-hard', policy, { seed: 0, episodes: 100, policyOptions: { mcDraws: 100 } })));
  let ucb: Aggregate, ts: Aggregate, greedy: Aggregate, random: Aggregate;
  beforeAll(async () => {
    [ucb, ts, greedy, random] = [await run('ucb'), await run('ts'), await run('greedy'), await run('random')];
  });

  it('UCB and Thompson sampling rarely suffer a suffix failure', () => {
    expect(ucb.suffFailFreq.mean).toBeLessThanOrEqual(0.1);
    expect(ts.suffFailFreq.mean).toBeLessThanOrEqual(0.1);
  });

  it('greedy fails more often than UCB', () => {
    expect(greedy.suffFailFreq.mean).toBeGreaterThan(ucb.suffFailFreq.mean + 0.2);
    expect(greedy.greedyFrac.mean).toBeGreaterThan(0.9);
  });

  it('random explores near-uniformly', () => {
    // E[K * min_a N(a) / T] for Multinomial(100, 1/5) is about 0.75, not 1: the minimum of five
    // counts sits below their mean even for perfectly uniform play.
    expect(random.kMinFrac.mean).toBeGreaterThanOrEqual(0.65);
    expect(random.kMinFrac.mean).toBeGreaterThan(3 * ucb.kMinFrac.mean);
    expect(random.kMinFrac.mean).toBeGreaterThan(10 * greedy.kMinFrac.mean);
    expect(random.entropy.mean).toBeCloseTo(Math.log(5), 12);
    expect(random.bestArmFrac.mean).toBeGreaterThan(0.15);
    expect(random.bestArmFrac.mean).toBeLessThan(0.25);
    // regret: 100 rounds x 4/5 wrong x 0.2 = 16 expected
    expect(random.regret.lo!).toBeLessThan(16);
    expect(random.regret.hi!).toBeGreaterThan(16);
  });

  it('UCB and TS earn more than random', () => {
    expect(ucb.meanReward.mean).toBeGreaterThan(random.meanReward.mean);
    expect(ts.meanReward.mean).toBeGreaterThan(random.meanReward.mean);
    expect(ucb.regret.mean).toBeLessThan(random.regret.mean);
  });
});

describe('runBaseline traces', () => {
  it('produces valid, reproducible trace records with a summary per episode', async () => {
    const records = await runBaseline('east-gauss2', 'eps-greedy', { seed: 5, episodes: 3, scenario: 'east-slot-machine', envOptions: { preset: '95-105' } });
    expect(parseTrace(formatTrace(records))).toEqual(records);
    expect(await runBaseline('east-gauss2', 'eps-greedy', { seed: 5, episodes: 3, scenario: 'east-slot-machine', envOptions: { preset: '95-105' } })).toEqual(records);
    const runs = splitRuns(records);
    expect(runs.map((r) => r.runId)).toEqual(['east-gauss2:eps-greedy:5', 'east-gauss2:eps-greedy:6', 'east-gauss2:eps-greedy:7']);
    for (const r of runs) {
      expect(r.steps).toHaveLength(50);
      expect(r.steps.at(-1)!.done).toBe(true);
      expect(r.summary!.steps).toBe(50);
      expect(r.summary!.numActions).toBe(2);
    }
    const first = runs[0]!.steps;
    expect(first[0]!.config).toMatchObject({ env: 'east-gauss2', scenario: 'east-slot-machine', seed: 5, policy: 'eps-greedy', mode: 'baseline', modelId: null, steering: null });
    expect(first[0]!.config.envOptions).toMatchObject({ means: [95, 105], sigma: 10 });
    expect(new Set(first.map((s) => s.actionLabel))).toEqual(new Set(['Slot Machine 1', 'Slot Machine 2']));
    // cumRegret is the running sum of per-step regrets (10 per pull of the worse machine)
    let cum = 0;
    for (const s of first) {
      expect(s.regret).toBe(s.action === 0 ? 10 : 0);
      cum += s.regret;
      expect(s.cumRegret).toBe(cum);
    }
    expect(runs[0]!.summary!.summary.regret).toBe(cum);
  });

  it('episode e with seed s equals a one-episode run with seed s + e', async () => {
    const many = await runBaseline('bernoulli-easy', 'ts', { seed: 10, episodes: 2, policyOptions: { mcDraws: 50 } });
    const single = await runBaseline('bernoulli-easy', 'ts', { seed: 11, policyOptions: { mcDraws: 50 } });
    expect(splitRuns(many)[1]).toEqual(splitRuns(single)[0]);
    expect(await runBaseline('bernoulli-easy', 'ts', { seed: 12, policyOptions: { mcDraws: 50 } })).not.toEqual(single);
  });

  it('optimal reference walks FrozenLake in 6 steps and CliffWalking in 13, random does worse', async () => {
    const lake = await runBaseline('frozenlake', 'optimal', { seed: 0, scenario: 'frozenlake-text' });
    const lakeSteps = stepsOf(lake);
    expect(lakeSteps.map((s) => s.actionLabel)).toHaveLength(6);
    expect(lakeSteps.at(-1)).toMatchObject({ reward: 1, done: true, cumRegret: 0 });
    const lakeSummary = lake.at(-1) as SummaryRecord;
    expect(lakeSummary.summary).toMatchObject({ bestArmFrac: 1, entropy: 0, suffFailFreq: 0, regret: 0 });

    const cliff = stepsOf(await runBaseline('cliffwalking', 'optimal', { seed: 0 }));
    expect(cliff).toHaveLength(13);
    expect(cliff.reduce((s, r) => s + r.reward, 0)).toBe(-13);

    const randomCliff = await runBaseline('cliffwalking', 'random', { seed: 0, episodes: 5, horizon: 50 });
    for (const s of summaries(randomCliff)) {
      expect(s.entropy).toBeCloseTo(Math.log(4), 12);
      expect(s.meanReward).toBeLessThan(-1); // 13 steps at -1 each is the best possible
      expect(s.regret).toBeGreaterThan(0);
    }
  });

  it('rejects a scenario that does not fit the game', async () => {
    await expect(runBaseline('frozenlake', 'random', { seed: 0, scenario: 'east-buttons' })).rejects.toThrow(/does not fit env 'frozenlake'/);
    await expect(runBaseline('bernoulli-hard', 'ucb', { seed: 0, episodes: 0 })).rejects.toThrow(/episodes/);
  });
});
