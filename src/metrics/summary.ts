/**
 * One summary per run, and the mean with a 95 % t-interval of each summary value over runs
 * (seeds). Trace step records satisfy StepLike, so a trace summarises directly.
 */
import { SteerlabError } from '../errors.js';
import { entropy } from './entropy';
import {
  REGRET_TOL,
  bestArmFrac,
  coverage,
  greedyFrac,
  halfway,
  invalidRate,
  kMinFrac,
  meanReward,
  suffixFailure,
} from './exploration';
import { interval95, type Interval } from './stats';

export interface StepLike {
  /** The action played, or null when nothing was played. */
  action: number | null;
  /** False when the answer could not be parsed. */
  valid: boolean;
  reward: number;
  /** Expected regret of the action played (0 when none was). */
  regret: number;
  /** The agent's action distribution at this step (probabilities or counts), length K. */
  actionProbs: readonly number[];
}

export const METRIC_KEYS = [
  'entropy',
  'regret',
  'suffFailFreq',
  'kMinFrac',
  'greedyFrac',
  'bestArmFrac',
  'coverage',
  'invalidRate',
  'meanReward',
] as const;

export type MetricKey = (typeof METRIC_KEYS)[number];

/**
 * entropy: mean action entropy per step (nats); regret: cumulative expected regret;
 * suffFailFreq: 1 if no optimal action in rounds [T/2, T], else 0 (its mean over runs is
 * SuffFailFreq(T/2)); kMinFrac: K * min_a N_T(a) / T; greedyFrac, bestArmFrac, coverage,
 * invalidRate: shares in [0, 1]; meanReward: time-averaged reward. T is the run's own length.
 */
export type RunSummary = Record<MetricKey, number>;

export function summarizeRun(steps: readonly StepLike[], opts: { numActions?: number } = {}): RunSummary {
  if (steps.length === 0) throw new SteerlabError('BAD_ARGUMENT', 'summarizeRun needs at least one step');
  const K = opts.numActions ?? steps[0]!.actionProbs.length;
  if (!Number.isInteger(K) || K < 1) throw new SteerlabError('BAD_ARGUMENT', `summarizeRun needs numActions >= 1, got ${K}`);
  steps.forEach((s, i) => {
    if (s.actionProbs.length !== K) {
      throw new SteerlabError('BAD_ARGUMENT', `step ${i}: actionProbs has ${s.actionProbs.length} entries, expected ${K}`);
    }
  });
  const actions = steps.map((s) => s.action);
  const rewards = steps.map((s) => s.reward);
  const valid = steps.map((s) => s.valid);
  const optimal = steps.map((s) => s.action !== null && s.regret <= REGRET_TOL);
  return {
    entropy: steps.reduce((h, s) => h + entropy(s.actionProbs), 0) / steps.length,
    regret: steps.reduce((r, s) => r + s.regret, 0),
    suffFailFreq: suffixFailure(optimal, halfway(steps.length)) ? 1 : 0,
    kMinFrac: kMinFrac(actions, K),
    greedyFrac: greedyFrac(actions, rewards, valid),
    bestArmFrac: bestArmFrac(optimal),
    coverage: coverage(actions, K),
    invalidRate: invalidRate(valid),
    meanReward: meanReward(rewards),
  };
}

export type Aggregate = Record<MetricKey, Interval>;

/** Mean and 95 % Student-t interval of every metric over runs. */
export function aggregate(runs: readonly RunSummary[]): Aggregate {
  if (runs.length === 0) throw new SteerlabError('BAD_ARGUMENT', 'aggregate needs at least one run summary');
  return Object.fromEntries(METRIC_KEYS.map((k) => [k, interval95(runs.map((r) => r[k]))])) as Aggregate;
}
