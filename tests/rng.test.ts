import { describe, expect, it } from 'vitest';
import { Rng } from '../src/util/rng';
import { SteerlabError } from '../src/errors.js';

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.next());
}

describe('Rng', () => {
  it('is deterministic for the same seed and differs across seeds', () => {
    expect(draws(new Rng(42), 20)).toEqual(draws(new Rng(42), 20));
    expect(draws(new Rng('42'), 5)).toEqual(draws(new Rng(42), 5)); // number and its text are the same seed
    expect(draws(new Rng(42), 5)).not.toEqual(draws(new Rng(43), 5));
    expect(draws(new Rng('a'), 5)).not.toEqual(draws(new Rng('b'), 5));
  });

  it('next() stays in [0, 1) with mean near 1/2 and variance near 1/12', () => {
    const xs = draws(new Rng('uniform'), 20000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(v - 1 / 12)).toBeLessThan(0.003);
  });

  it('int(n) covers 0..n-1 roughly evenly and rejects bad n', () => {
    const rng = new Rng(1);
    const counts = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 60000; i++) counts[rng.int(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(() => rng.int(0)).toThrow(SteerlabError);
    expect(() => rng.int(2.5)).toThrow(/integer n/);
  });

  it('normal(mean, sd) has the requested moments', () => {
    const rng = new Rng(7);
    const xs = Array.from({ length: 40000 }, () => rng.normal(100, 10));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
    expect(Math.abs(mean - 100)).toBeLessThan(0.25);
    expect(Math.abs(sd - 10)).toBeLessThan(0.25);
    // about 68.3 % within one sd
    const within = xs.filter((x) => Math.abs(x - 100) < 10).length / xs.length;
    expect(Math.abs(within - 0.6827)).toBeLessThan(0.01);
  });

  it('beta(a, b) has mean a / (a + b), including shapes below 1', () => {
    const rng = new Rng(3);
    for (const [a, b] of [
      [2, 5],
      [0.5, 0.5],
      [1, 1],
    ] as const) {
      const xs = Array.from({ length: 20000 }, () => rng.beta(a, b));
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
      expect(Math.abs(mean - a / (a + b))).toBeLessThan(0.01);
      expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
    }
  });

  it('shuffle permutes in place and is seed-determined', () => {
    const a = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const out = new Rng(5).shuffle(a);
    expect(out).toBe(a);
    expect([...a].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a).toEqual(new Rng(5).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(a).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // every element lands in position 0 about equally often
    const rng = new Rng('perm');
    const first = [0, 0, 0, 0];
    for (let i = 0; i < 8000; i++) first[rng.shuffle([0, 1, 2, 3])[0]!]!++;
    for (const c of first) expect(Math.abs(c - 2000)).toBeLessThan(150);
  });

  it('choice picks members and rejects an empty array', () => {
    const rng = new Rng(9);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(rng.choice(['x', 'y', 'z']));
    expect([...seen].sort()).toEqual(['x', 'y', 'z']);
    expect(() => rng.choice([])).toThrow(/non-empty/);
  });

  it('categorical follows the weights, accepts counts, never picks zero weight', () => {
    const rng = new Rng(11);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40000; i++) counts[rng.categorical([0.1, 0, 0.6, 0.3])]!++;
    expect(counts[1]).toBe(0);
    expect(Math.abs(counts[0]! / 40000 - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(counts[2]! / 40000 - 0.6)).toBeLessThan(0.01);
    expect(rng.categorical([0, 0, 5])).toBe(2);
    expect(() => rng.categorical([0, 0])).toThrow(/positive weight/);
    expect(() => rng.categorical([0.5, -0.1])).toThrow(/>= 0/);
    expect(() => rng.categorical([Number.NaN])).toThrow(SteerlabError);
  });

  it('fork gives independent, reproducible child streams unaffected by parent draws', () => {
    const parent = new Rng(42);
    const childBefore = draws(parent.fork('env'), 5);
    draws(parent, 100);
    expect(draws(parent.fork('env'), 5)).toEqual(childBefore);
    expect(draws(parent.fork('policy'), 5)).not.toEqual(childBefore);
    expect(draws(new Rng(42), 5)).not.toEqual(childBefore);
    expect(parent.fork('env').seed).toBe('42/env');
  });
});
