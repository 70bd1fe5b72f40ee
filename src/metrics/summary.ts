/**
 * One summary per run, and the mean with a 95 % t-interval of each summary value over runs
 * (seeds). Trace step records satisfy StepLike, so a trace summarises directly.
 */
import { SteerlabError } from '../errors.js';
import { choiceStats } from './choice';
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
  /** False when the answer could not be parsed, or the format broke. */
  valid: boolean;
  reward: number;
  /** Expected regret of the action played (0 when none was). */
  regret: number;
  /** The agent's action distribution at this step, length K; null when it had none (nothing parsed). */
  actionProbs: readonly number[] | null;
  /** Exact and thought modes: probability of any valid answer before renormalising. */
  validMass?: number;
  formatBroken?: true;
  /** Sampled mode: share of completions that did not parse. */
  extra?: Record<string, unknown>;
}

export const METRIC_KEYS = [
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
] as const;

export type MetricKey = (typeof METRIC_KEYS)[number];
/** Metrics that a run may lack: no choice step has an entropy, no step measured valid mass. */
export const OPTIONAL_METRICS: readonly MetricKey[] = ['entropy', 'validMass'];

/**
 * entropy: mean action entropy over choice steps (valid, with a distribution; null if none) in
 * nats; validMass: mean valid mass (exact/thought; null otherwise); regret: cumulative expected
 * regret; suffFailFreq: 1 if no optimal action in rounds [T/2, T], else 0 (its mean over runs is
 * SuffFailFreq(T/2)); kMinFrac: K * min_a N_T(a) / T; greedyFrac, bestArmFrac, coverage: shares
 * in [0, 1]; invalidRate: share of steps that were no valid choice (unparseable or format-broken);
 * invalidAnswerRate: share of invalid answers (sampled: of all completions; else = invalidRate);
 * meanReward: time-averaged reward over the steps played.
 *
 * T is the run's own length, except for a run cut short by an unparseable answer ('end-episode':
 * its last action is null), which is judged on the configured horizon: its missing rounds count
 * as rounds in which nothing, so no optimal arm, was played. It fails the suffix test if it ended
 * before T/2, and its MinFrac and best-arm share are over T rounds. Runs the game ended (a goal, a
 * hole) or the user stopped keep their own length.
 */
export interface RunSummary {
  entropy: number | null;
  /** Optional in traces written before it was measured (summarizeRun always sets it). */
  validMass?: number | null;
  regret: number;
  suffFailFreq: number;
  kMinFrac: number;
  greedyFrac: number;
  bestArmFrac: number;
  coverage: number;
  invalidRate: number;
  /** Optional in older traces, like validMass. */
  invalidAnswerRate?: number;
  meanReward: number;
}

export function summarizeRun(steps: readonly StepLike[], opts: { numActions?: number; horizon?: number } = {}): RunSummary {
  if (steps.length === 0) throw new SteerlabError('BAD_ARGUMENT', 'summarizeRun needs at least one step');
  const K = opts.numActions ?? steps.find((s) => s.actionProbs)?.actionProbs!.length;
  if (!Number.isInteger(K) || K! < 1) throw new SteerlabError('BAD_ARGUMENT', `summarizeRun needs numActions >= 1, got ${K}`);
  steps.forEach((s, i) => {
    if (s.actionProbs && s.actionProbs.length !== K) {
      throw new SteerlabError('BAD_ARGUMENT', `step ${i}: actionProbs has ${s.actionProbs.length} entries, expected ${K}`);
    }
  });
  // A run cut short by an unparseable answer (last action null) is judged on the configured
  // horizon; one the game ended (goal, hole) or the user stopped, on its own length.
  const cutShort = steps[steps.length - 1]!.action === null && opts.horizon !== undefined;
  const T = cutShort ? Math.max(opts.horizon!, steps.length) : steps.length;
  const pad = <V>(xs: V[], fill: V): V[] => [...xs, ...new Array<V>(T - xs.length).fill(fill)];
  const actions = pad(steps.map((s) => s.action), null);
  const rewards = steps.map((s) => s.reward);
  const valid = steps.map((s) => s.valid);
  const optimal = pad(steps.map((s) => s.action !== null && s.regret <= REGRET_TOL), false);
  const c = choiceStats(steps);
  const answers = steps.map((s) => (typeof s.extra?.invalidFraction === 'number' ? s.extra.invalidFraction : s.valid ? 0 : 1));
  return {
    entropy: c.entropy,
    validMass: c.validMass,
    regret: c.regret,
    suffFailFreq: suffixFailure(optimal, halfway(T)) ? 1 : 0,
    kMinFrac: kMinFrac(actions, K!),
    greedyFrac: greedyFrac(steps.map((s) => s.action), rewards, valid),
    bestArmFrac: bestArmFrac(optimal),
    coverage: coverage(actions, K!),
    invalidRate: invalidRate(valid),
    invalidAnswerRate: answers.reduce((a, b) => a + b, 0) / answers.length,
    meanReward: meanReward(rewards),
  };
}

export type Aggregate = Record<MetricKey, Interval & { n: number }>;

/** Mean and 95 % Student-t interval of every metric over the runs that have it (n says how many; older traces lack the newer keys). */
export function aggregate(runs: readonly RunSummary[]): Aggregate {
  if (runs.length === 0) throw new SteerlabError('BAD_ARGUMENT', 'aggregate needs at least one run summary');
  return Object.fromEntries(
    METRIC_KEYS.map((k) => {
      const xs = runs.flatMap((r) => (r[k] === null || r[k] === undefined ? [] : [r[k] as number]));
      return [k, { ...interval95(xs), n: xs.length }];
    }),
  ) as Aggregate;
}
