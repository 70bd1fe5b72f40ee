/**
 * Seeded pseudo-random numbers: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator,
 * 128-bit state, passes PractRand to 2^60 bytes) seeded by hashing the seed text with cyrb128.
 * Every random draw in steerlab goes through an Rng passed explicitly, so one seed reproduces a
 * whole run; the global unseeded generator is never used.
 */
import { SteerlabError } from '../errors.js';

export type Seed = string | number;

/** cyrb128: a fast 128-bit string hash, used only to spread a seed over sfc32's state. */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

function badArg(message: string): never {
  throw new SteerlabError('BAD_ARGUMENT', message);
}

export class Rng {
  /** The seed path this stream was built from ("42", or "42/env" for a fork). */
  readonly seed: string;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: Seed) {
    if (typeof seed === 'number' && !Number.isFinite(seed)) badArg(`rng seed must be finite, got ${seed}`);
    this.seed = String(seed);
    [this.a, this.b, this.c, this.d] = cyrb128(this.seed);
    // Discard the first outputs: sfc32 mixes weakly during its first few rounds.
    for (let i = 0; i < 15; i++) this.nextUint32();
  }

  private nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). Bias is at most n / 2^32, negligible for the small n used here. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) badArg(`rng.int needs an integer n in [1, 2^32], got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Normal draw by Box-Muller; the second value of the pair is dropped so the state stays 128 bits. */
  normal(mean = 0, sd = 1): number {
    if (!(sd >= 0) || !Number.isFinite(sd)) badArg(`rng.normal needs a finite sd >= 0, got ${sd}`);
    const u1 = 1 - this.next(); // in (0, 1], so log is finite
    const u2 = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Gamma(shape, 1) by Marsaglia-Tsang; shape < 1 uses the boost Gamma(shape+1) * U^(1/shape). */
  gamma(shape: number): number {
    if (!(shape > 0) || !Number.isFinite(shape)) badArg(`rng.gamma needs a finite shape > 0, got ${shape}`);
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(1 - this.next(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.next();
      if (u < 1 - 0.0331 * x ** 4) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** Fisher-Yates shuffle, in place; returns the same array. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i]!;
      array[i] = array[j]!;
      array[j] = tmp;
    }
    return array;
  }

  choice<T>(array: readonly T[]): T {
    if (array.length === 0) badArg('rng.choice needs a non-empty array');
    return array[this.int(array.length)]!;
  }

  /**
   * Index drawn with probability proportional to probs[i]. Weights need not sum to 1 (counts work),
   * but must be finite, non-negative and not all zero.
   */
  categorical(probs: readonly number[]): number {
    let total = 0;
    for (const p of probs) {
      if (!(p >= 0) || !Number.isFinite(p)) badArg(`rng.categorical needs finite weights >= 0, got ${p}`);
      total += p;
    }
    if (!(total > 0)) badArg('rng.categorical needs at least one positive weight');
    const u = this.next() * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < probs.length; i++) {
      if (probs[i]! > 0) last = i;
      acc += probs[i]!;
      if (u < acc) return i;
    }
    return last; // only reached through floating-point rounding at the top end
  }

  /**
   * A child stream named by label. It depends only on this stream's seed path and the label, not on
   * how many numbers were drawn so far, so adding draws in one part of a run never shifts another's.
   */
  fork(label: string | number): Rng {
    return new Rng(`${this.seed}/${label}`);
  }
}
