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
