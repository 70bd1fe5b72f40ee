/**
 * Action entropy in nats. The input is a probability vector or raw counts (EAST's Monte-Carlo
 * estimate is the plug-in entropy of the empirical action frequencies, so counts are normalised).
 */
import { SteerlabError } from '../errors.js';

/**
 * H(p) = -sum p_i ln p_i after normalising by the sum. An all-zero vector (no valid action among
 * the samples) has entropy 0: there is no mass to be uncertain about.
 */
export function entropy(probs: readonly number[]): number {
  let total = 0;
  for (const p of probs) {
    if (!(p >= 0) || !Number.isFinite(p)) throw new SteerlabError('BAD_ARGUMENT', `entropy needs finite weights >= 0, got ${p}`);
    total += p;
  }
  if (total === 0) return 0;
  let h = 0;
  for (const p of probs) if (p > 0) h -= (p / total) * Math.log(p / total);
  return Math.max(0, h); // rounding can give -1e-17 for a one-hot vector
}

/** Empirical action frequencies over K actions; null entries (unparseable samples) are left out. */
export function actionFrequencies(actions: readonly (number | null)[], K: number): number[] {
  const counts = new Array<number>(K).fill(0);
  let n = 0;
  for (const a of actions) {
    if (a === null) continue;
    if (!Number.isInteger(a) || a < 0 || a >= K) throw new SteerlabError('BAD_ARGUMENT', `action ${a} is not in 0..${K - 1}`);
    counts[a]!++;
    n++;
  }
  return n === 0 ? counts : counts.map((c) => c / n);
}
