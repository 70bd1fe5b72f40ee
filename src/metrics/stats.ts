/**
 * Means with 95 % Student-t confidence intervals, for metrics averaged over seeds. A t-interval is
 * used rather than a bootstrap so the result needs no random numbers and no resampling count.
 * Caveat: for a proportion that is 0 (or 1) in every run, the interval collapses to a point.
 */

/** Two-sided 95 % quantiles t_{0.975, df} for df = 1..30. */
const T975 = [
  12.706204736, 4.30265273, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252, 2.306004135, 2.262157163,
  2.228138852, 2.20098516, 2.17881283, 2.160368656, 2.144786688, 2.131449546, 2.119905299, 2.109815578, 2.10092204,
  2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.06865761, 2.063898562, 2.059538553, 2.055529439, 2.051830516,
  2.048407142, 2.045229642, 2.042272456,
];

/** t_{0.975, df}: table up to 30, then the Cornish-Fisher expansion around z (error < 1e-6 there). */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) return Number.NaN;
  if (df <= 30 && Number.isInteger(df)) return T975[df - 1]!;
  const z = 1.959963984540054;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  const z9 = z ** 9;
  const g1 = (z3 + z) / 4;
  const g2 = (5 * z5 + 16 * z3 + 3 * z) / 96;
  const g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384;
  const g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4;
}

export interface Interval {
  mean: number;
  /** Lower and upper 95 % bounds; null with fewer than 2 values (no spread to estimate). */
  lo: number | null;
  hi: number | null;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator). */
export function sampleSd(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

/** mean ± t_{0.975, n-1} * sd / sqrt(n). */
export function interval95(xs: readonly number[]): Interval {
  if (xs.length === 0) return { mean: Number.NaN, lo: null, hi: null };
  const m = mean(xs);
  if (xs.length < 2) return { mean: m, lo: null, hi: null };
  const half = (tQuantile975(xs.length - 1) * sampleSd(xs)) / Math.sqrt(xs.length);
  return { mean: m, lo: m - half, hi: m + half };
}
