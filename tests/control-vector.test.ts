import { describe, expect, it } from 'vitest';
import { residPost } from '../src/engine/hook-points.js';
import { ControlVector, settingHooks } from '../src/steering/control-vector.js';
import { eastVector, type EastRun } from '../src/steering/east.js';

const f = (...x: number[]) => Float32Array.from(x);
// The hand-computed runs of tests/east.test.ts: EAST gives u = (0.25, 0.75).
const runs: EastRun[] = [
  { z: [f(1, 0), f(3, 2)], h: [1, 3] },
  { z: [f(0, 4), f(0, 0), f(0, 2)], h: [2, 0, 2] },
];

describe('ControlVector', () => {
  it('fromRuns builds one direction per layer with the typical residual norm and metadata', () => {
    const shifted = runs.map((r) => ({ z: r.z.map((z) => z.map((x) => 2 * x)), h: r.h }));
    const cv = ControlVector.fromRuns(new Map([[5, runs], [10, shifted]]), 'east', { sourceRuns: ['a', 'b'] });
    expect(cv.layers).toEqual([5, 10]);
    expect(Array.from(cv.direction(5).vector)).toEqual([0.25, 0.75]);
    expect(Array.from(cv.direction(10).vector)).toEqual([0.5, 1.5]);
    expect(cv.meta).toMatchObject({ method: 'east', sourceRuns: ['a', 'b'], options: { steps: 5 } });
    // mean L2 norm of the five activations: (1 + sqrt(13) + 4 + 0 + 2) / 5
    expect(cv.direction(5).residNorm).toBeCloseTo((1 + Math.sqrt(13) + 4 + 0 + 2) / 5, 6);
    expect(cv.id).toBe('east@5,10');
    const shuffledOnce = ControlVector.fromRuns(new Map([[5, runs]]), 'shuffled');
    expect([...shuffledOnce.direction(5).vector].sort()).toEqual([...eastVector(runs)].sort());
  });

  it('scale, add, select and atLayer return new vectors and leave the original alone', () => {
    const a = ControlVector.of({ id: 'a', hidden: 2, directions: [{ layer: 1, vector: f(1, 2) }, { layer: 3, vector: f(0, 1) }], meta: {} });
    const b = ControlVector.single(3, f(2, 2), { id: 'b' });
    expect(Array.from(a.scale(2).direction(1).vector)).toEqual([2, 4]);
    const sum = a.add(b);
    expect(sum.layers).toEqual([1, 3]);
    expect(Array.from(sum.direction(3).vector)).toEqual([2, 3]);
    expect(Array.from(a.direction(3).vector)).toEqual([0, 1]);
    expect(a.select([3]).layers).toEqual([3]);
    expect(b.atLayer(7).layers).toEqual([7]);
    expect(() => a.atLayer(2)).toThrow(/only a one-layer vector can be moved/);
    expect(() => a.add(ControlVector.single(1, f(1, 2, 3)))).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });

  it('strength relative to the residual norm: beta·|u| = r·|resid|', () => {
    const cv = ControlVector.single(4, f(3, 4), { residNorm: 50 });
    expect(cv.relativeNorm(4)).toBeCloseTo(0.1, 12);
    expect(cv.betaForRelative(2)).toBeCloseTo(20, 12);
    expect(() => ControlVector.single(4, f(3, 4)).betaForRelative(2)).toThrow(/no residual norm/);
  });

  it('toHooks adds beta·u_L at blocks.{L}.hook_resid_post on the chosen positions; beta 0 is no steering', () => {
    const cv = ControlVector.of({ id: 'm', hidden: 2, directions: [{ layer: 2, vector: f(1, 0) }, { layer: 5, vector: f(0, 1) }], meta: {} });
    expect(cv.toHooks(1.5, 'prompt')).toEqual([
      { hook: residPost(2), vector: cv.direction(2).vector, scale: 1.5, positions: 'prompt' },
      { hook: residPost(5), vector: cv.direction(5).vector, scale: 1.5, positions: 'prompt' },
    ]);
    expect(settingHooks({ vector: cv, beta: 0, positions: 'all' })).toBeNull();
    expect(() => cv.toHooks(1, 'everywhere' as never)).toThrow(/unknown positions 'everywhere'/);
    expect(() => cv.toHooks(Number.NaN)).toThrow(/not finite/);
  });

  it('JSON round trip keeps every layer; format-1 files still load; bad files fail with one line', () => {
    const cv = ControlVector.of({ id: 'x', hidden: 3, directions: [{ layer: 5, vector: f(1, 2, 3), residNorm: 9 }, { layer: 10, vector: f(-1, 0, 1) }], meta: { method: 'east', model: { id: 'm', hash: 'h' } } });
    const back = ControlVector.fromJson(cv.toJson(), 'x');
    expect(back.layers).toEqual([5, 10]);
    expect(Array.from(back.direction(10).vector)).toEqual([-1, 0, 1]);
    expect(back.direction(5).residNorm).toBe(9);
    expect(back.meta).toMatchObject({ method: 'east', model: { id: 'm', hash: 'h' } });
    const v1 = ControlVector.fromJson(JSON.stringify({ format: 'steerlab.vector/1', layer: 15, hidden: 2, vector: [0.5, 1], residNorm: 3 }));
    expect(v1.layers).toEqual([15]);
    expect(v1.direction(15).residNorm).toBe(3);
    const twice = JSON.stringify({ format: 'steerlab.vector/2', hidden: 1, directions: [{ layer: 1, vector: [1] }, { layer: 1, vector: [2] }] });
    expect(() => ControlVector.fromJson(twice)).toThrow(/layer 1 appears twice/);
    expect(() => ControlVector.fromJson('{"format":"steerlab.vector/2","hidden":2,"directions":[{"layer":1,"vector":[1]}]}')).toThrow(/has 1 entries but hidden is 2/);
  });

  it('llama.cpp GGUF round trip keeps every layer (direction.L = layer L)', () => {
    const cv = ControlVector.of({ id: 'g', hidden: 2, directions: [{ layer: 3, vector: f(1, 2) }, { layer: 7, vector: f(3, 4) }], meta: {} });
    const back = ControlVector.fromGguf(cv.toGguf('llama'));
    expect(back.layers).toEqual([3, 7]);
    expect(Array.from(back.direction(7).vector)).toEqual([3, 4]);
    expect(() => ControlVector.single(0, f(1, 2)).toGguf()).toThrow(/block 0/);
  });

  it('checkFits names the mismatch in one line', () => {
    const cv = ControlVector.single(40, f(1, 2));
    expect(() => cv.checkFits({ layers: 30, hidden: 2 })).toThrow(/is for layer 40; this model has layers 0..29/);
    expect(() => cv.checkFits({ layers: 50, hidden: 576 })).toThrow(/2 dimensions; this model's hidden size is 576/);
  });
});
