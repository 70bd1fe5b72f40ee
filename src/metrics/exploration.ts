/**
 * Per-run exploration metrics on action/reward sequences (Krishnamurthy et al. 2024; Schmied et al.
 * 2025). Rounds are 1-based in the formulas, arrays 0-based. An action of null marks a round where
 * nothing was played (unparseable answer that ended the episode).
 */
import { SteerlabError } from '../errors.js';

/** Tolerance below which an expected regret counts as zero, i.e. the action was optimal. */
export const REGRET_TOL = 1e-9;

function checkT(t: number, T: number, what: string): void {
  if (!Number.isInteger(t) || t < 1 || t > Math.max(T, 1)) {
    throw new SteerlabError('BAD_ARGUMENT', `${what}: t must be an integer in 1..${Math.max(T, 1)}, got ${t}`);
  }
}

/** Running sum of per-step expected regrets. */
export function cumulativeRegret(regrets: readonly number[]): number[] {
  let acc = 0;
  return regrets.map((r) => (acc += r));
}

/** The round Krishnamurthy et al. report suffix failure at: T/2 (rounded down, at least 1). */
export function halfway(T: number): number {
  return Math.max(1, Math.floor(T / 2));
}

/**
 * Suffix failure of one run: true when no optimal action was played in rounds [t, T].
 * `optimal[i]` says whether round i+1 played a best arm (several arms count when means tie).
 */
export function suffixFailure(optimal: readonly boolean[], t: number = halfway(optimal.length)): boolean {
  checkT(t, optimal.length, 'suffixFailure');
  for (let i = t - 1; i < optimal.length; i++) if (optimal[i]) return false;
  return true;
}

/** SuffFailFreq(t): the fraction of runs whose best arm is never chosen in [t, T]. */
export function suffFailFreq(runs: readonly (readonly boolean[])[], t?: number): number {
  if (runs.length === 0) throw new SteerlabError('BAD_ARGUMENT', 'suffFailFreq needs at least one run');
  return runs.filter((r) => suffixFailure(r, t ?? halfway(r.length))).length / runs.length;
}

/** MinFrac(t) of one run: min over actions of the share of rounds 1..t that played it. */
export function minFrac(actions: readonly (number | null)[], K: number, t: number = actions.length): number {
  checkT(t, actions.length, 'minFrac');
  if (actions.length === 0) return 0;
  const counts = new Array<number>(K).fill(0);
  for (let i = 0; i < t; i++) {
    const a = actions[i];
    if (a !== null && a !== undefined) counts[a]!++;
  }
  return Math.min(...counts) / t;
}

/** K * MinFrac(t): 1 for perfectly even play, 0 when some action was never tried. */
export function kMinFrac(actions: readonly (number | null)[], K: number, t: number = actions.length): number {
  return K * minFrac(actions, K, t);
}

/**
 * GreedyFrac: the share of the agent's own choices that picked an arm with the best empirical mean
 * so far (ties count as greedy). Arms never played have no mean. Rounds before any arm was played,
 * and rounds whose action was a random replacement for an unparseable answer (valid false), are
 * left out of the share; their rewards still enter the means, as the agent saw them. 0 when no
 * round qualifies.
 */
export function greedyFrac(actions: readonly (number | null)[], rewards: readonly number[], valid?: readonly boolean[]): number {
  const sum = new Map<number, number>();
  const count = new Map<number, number>();
  let eligible = 0;
  let greedy = 0;
  actions.forEach((a, i) => {
    if (a === null) return;
    if (count.size > 0 && (valid ? valid[i] : true)) {
      eligible++;
      let best = Number.NEGATIVE_INFINITY;
      for (const [arm, n] of count) best = Math.max(best, sum.get(arm)! / n);
      const n = count.get(a);
      if (n !== undefined && sum.get(a)! / n >= best - 1e-12) greedy++;
    }
    sum.set(a, (sum.get(a) ?? 0) + rewards[i]!);
    count.set(a, (count.get(a) ?? 0) + 1);
  });
  return eligible === 0 ? 0 : greedy / eligible;
}

/** Share of rounds that played an optimal action. */
export function bestArmFrac(optimal: readonly boolean[]): number {
  return optimal.length === 0 ? 0 : optimal.filter(Boolean).length / optimal.length;
}

/** Action coverage C_T = |{a : N_T(a) > 0}| / K (Schmied et al.). */
export function coverage(actions: readonly (number | null)[], K: number): number {
  return new Set(actions.filter((a) => a !== null)).size / K;
}

/** Share of rounds whose answer could not be parsed. */
export function invalidRate(valid: readonly boolean[]): number {
  return valid.length === 0 ? 0 : valid.filter((v) => !v).length / valid.length;
}

/** Time-averaged reward. */
export function meanReward(rewards: readonly number[]): number {
  return rewards.length === 0 ? 0 : rewards.reduce((s, r) => s + r, 0) / rewards.length;
}
