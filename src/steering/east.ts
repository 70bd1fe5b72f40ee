/**
 * EAST (Rahn et al. 2024, Eq. 1): an entropy-weighted average of residual activations, each
 * centred on the mean of its own run,
 *
 *     u = sum_k sum_t h_t^k (z_t^k - mean_t' z_t'^k) / sum_k sum_t h_t^k
 *
 * plus the controls a user needs to read it: no centring, a shuffled-entries vector, and a
 * contrastive mean difference (high- minus low-entropy steps). Pure functions on Float32Arrays.
 */
import { SteerlabError } from '../errors.js';
import { Rng, type Seed } from '../util/rng.js';

/** One logged run: z per step (residual at the chosen layer and position) and that step's action entropy. */
export interface EastRun {
  z: Float32Array[];
  h: number[];
}

function check(runs: readonly EastRun[]): number {
  if (!runs.length) throw new SteerlabError('BAD_ARGUMENT', 'EAST needs at least one run');
  const H = runs[0]!.z[0]?.length ?? 0;
  for (const [k, r] of runs.entries()) {
    if (r.z.length !== r.h.length) throw new SteerlabError('BAD_SHAPE', `run ${k}: ${r.z.length} activations but ${r.h.length} entropies`);
    for (const z of r.z) if (z.length !== H) throw new SteerlabError('BAD_SHAPE', `run ${k}: activation of size ${z.length}, expected ${H}`);
    for (const h of r.h) if (!(h >= 0) || !Number.isFinite(h)) throw new SteerlabError('BAD_ARGUMENT', `run ${k}: entropy ${h} is not a finite non-negative number`);
  }
  return H;
}

export function runMean(z: readonly Float32Array[], H: number): Float64Array {
  const m = new Float64Array(H);
  for (const v of z) for (let i = 0; i < H; i++) m[i] += v[i]!;
  for (let i = 0; i < H; i++) m[i] /= Math.max(1, z.length);
  return m;
}

/** Eq. 1. With center = false the run means are not subtracted (to show why centring matters). */
export function eastVector(runs: readonly EastRun[], opts: { center?: boolean } = {}): Float32Array {
  const H = check(runs);
  const center = opts.center ?? true;
  const acc = new Float64Array(H);
  let Z = 0;
  for (const r of runs) {
    const m = center ? runMean(r.z, H) : new Float64Array(H);
    r.z.forEach((z, t) => {
      const h = r.h[t]!;
      Z += h;
      for (let i = 0; i < H; i++) acc[i] += h * (z[i]! - m[i]!);
    });
  }
  if (Z === 0) throw new SteerlabError('BAD_ARGUMENT', 'every logged step has zero entropy: Eq. 1 is undefined (Z = 0)');
  return Float32Array.from(acc, (x) => x / Z);
}

/**
 * Contrastive variant: mean of (run-centred) z over the top `fraction` of steps by entropy minus
 * the mean over the bottom `fraction`.
 */
export function contrastiveVector(runs: readonly EastRun[], opts: { fraction?: number; center?: boolean } = {}): Float32Array {
  const H = check(runs);
  const frac = opts.fraction ?? 0.25;
  if (!(frac > 0 && frac <= 0.5)) throw new SteerlabError('BAD_ARGUMENT', `fraction must be in (0, 0.5], got ${frac}`);
  const items: { h: number; z: Float64Array }[] = [];
  for (const r of runs) {
    const m = opts.center ?? true ? runMean(r.z, H) : new Float64Array(H);
    r.z.forEach((z, t) => items.push({ h: r.h[t]!, z: Float64Array.from(z, (v, i) => v - m[i]!) }));
  }
  items.sort((a, b) => a.h - b.h);
  const n = Math.max(1, Math.floor(items.length * frac));
  const mean = (xs: typeof items) => {
    const s = new Float64Array(H);
    for (const x of xs) for (let i = 0; i < H; i++) s[i] += x.z[i]! / xs.length;
    return s;
  };
  const hi = mean(items.slice(-n));
  const lo = mean(items.slice(0, n));
  return Float32Array.from(hi, (v, i) => v - lo[i]!);
}

/** The control: the same entries in a random order (same norm and value distribution, no direction). */
export function shuffledControl(u: Float32Array, seed: Seed): Float32Array {
  const out = Float32Array.from(u);
  new Rng(seed).shuffle(out as unknown as number[]);
  return out;
}

/** Mean L2 norm of the logged activations: the yardstick for a vector's size at that layer. */
export function typicalNorm(runs: readonly EastRun[]): number {
  let s = 0;
  let n = 0;
  for (const r of runs) for (const z of r.z) {
    let q = 0;
    for (let i = 0; i < z.length; i++) q += z[i]! * z[i]!;
    s += Math.sqrt(q);
    n++;
  }
  return n ? s / n : 0;
}

/**
 * The permuted-entropy null: entropies shuffled within each run (seeded), then Eq. 1 exactly as
 * for the vector itself. It keeps every step's activation and each run's entropy values, and
 * breaks only which step had which entropy.
 */
export function permutedEntropyVector(runs: readonly EastRun[], seed: Seed): Float32Array {
  const rng = new Rng(seed);
  return eastVector(runs.map((r) => ({ z: r.z, h: rng.shuffle([...r.h]) })));
}

/**
 * The direction along which activations move with the step index inside a run: the within-run
 * least-squares slope of z on t, d = sum (t - mean t)(z_t - mean z) / sum (t - mean t)^2, pooled.
 * A vector with a large cosine to it encodes "early vs late in the episode".
 */
export function stepDirection(runs: readonly EastRun[]): Float32Array {
  const H = check(runs);
  const acc = new Float64Array(H);
  let den = 0;
  for (const r of runs) {
    const n = r.z.length;
    if (n < 2) continue;
    const m = runMean(r.z, H);
    const tm = (n - 1) / 2;
    r.z.forEach((z, t) => {
      den += (t - tm) ** 2;
      for (let i = 0; i < H; i++) acc[i] += (t - tm) * (z[i]! - m[i]!);
    });
  }
  if (den === 0) throw new SteerlabError('BAD_ARGUMENT', 'the step direction needs runs of at least two steps');
  return Float32Array.from(acc, (x) => x / den);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa && bb ? ab / Math.sqrt(aa * bb) : 0;
}

/** u with its component along d removed (same construction otherwise). */
export function projectOut(u: Float32Array, d: ArrayLike<number>): Float32Array {
  let ud = 0, dd = 0;
  for (let i = 0; i < u.length; i++) {
    ud += u[i]! * d[i]!;
    dd += d[i]! * d[i]!;
  }
  const k = dd ? ud / dd : 0;
  return Float32Array.from(u, (x, i) => x - k * d[i]!);
}

/** A direction drawn uniformly on the sphere and scaled to `norm`, reproducible by seed. */
export function randomDirection(hidden: number, norm: number, seed: Seed): Float32Array {
  const rng = new Rng(seed);
  const v = Float64Array.from({ length: hidden }, () => rng.normal());
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return Float32Array.from(v, (x) => (x / n) * norm);
}
