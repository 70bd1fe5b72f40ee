/** Node-side tests of the pure helpers the page and the worker use (no browser needed). */
import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../../src/errors.js';
import { parseGguf } from '../../src/engine/gguf/reader.js';
import { ggufTokenizer } from '../../src/engine/sources/gguf.js';
import { listEnvs } from '../../src/envs/registry.js';
import type { StepRecord } from '../../src/trace/schema.js';
import { entropyChartData } from '../../src/ui/chart.js';
import { actionLabels, gameChoices, gameOptions } from '../../src/ui/games.js';
import { parseVectorJson, randomUnitVector, vectorProblem } from '../../src/ui/vectors.js';
import { tokenTexts } from '../../src/workers/token-text.js';
import { tinyGguf } from './tiny-gguf.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SteerlabError);
    return (e as SteerlabError).code;
  }
  return undefined;
}

describe('vector files', () => {
  it('reads layer, hidden, vector and keeps the rest as metadata', () => {
    const v = parseVectorJson(JSON.stringify({ layer: 3, hidden: 2, vector: [0.5, -1], method: 'east', model: { id: 'smol' } }));
    expect(v.layer).toBe(3);
    expect(v.hidden).toBe(2);
    expect(Array.from(v.vector)).toEqual([0.5, -1]);
    expect(v.vector).toBeInstanceOf(Float32Array);
    expect(v.metadata).toEqual({ method: 'east', model: { id: 'smol' } });
  });

  it('rejects broken files with BAD_VECTOR and a message naming the field', () => {
    expect(codeOf(() => parseVectorJson('{"layer":'))).toBe('BAD_VECTOR');
    expect(() => parseVectorJson(JSON.stringify({ layer: -1, hidden: 1, vector: [1] }))).toThrow(/layer/);
    expect(() => parseVectorJson(JSON.stringify({ layer: 0, hidden: 2, vector: [1, 'x'] }))).toThrow(/vector\.1/);
    expect(() => parseVectorJson(JSON.stringify({ layer: 0, hidden: 3, vector: [1, 2] }))).toThrow(/the layer 0 direction has 2 entries but hidden is 3/);
    expect(() => parseVectorJson(JSON.stringify([1, 2]))).toThrow(SteerlabError);
  });

  it('checks a vector against the model shape', () => {
    expect(vectorProblem({ layer: 2, hidden: 64 }, { layers: 3, hidden: 64 })).toBeNull();
    expect(vectorProblem({ layer: 3, hidden: 64 }, { layers: 3, hidden: 64 })).toMatch(/layers 0\.\.2/);
    expect(vectorProblem({ layer: 0, hidden: 32 }, { layers: 3, hidden: 64 })).toMatch(/32 dimensions; this model's hidden size is 64/);
  });
});

describe('random unit directions', () => {
  it('have norm 1, depend only on the seed, and differ between seeds', () => {
    const a = randomUnitVector(576, 7);
    const norm = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    expect(norm).toBeCloseTo(1, 6);
    expect(Array.from(randomUnitVector(576, 7))).toEqual(Array.from(a));
    const b = randomUnitVector(576, 8);
    const cos = a.reduce((s, x, i) => s + x * b[i]!, 0);
    expect(Math.abs(cos)).toBeLessThan(0.2); // random directions in 576-d are nearly orthogonal
    expect(codeOf(() => randomUnitVector(0, 1))).toBe('BAD_ARGUMENT');
  });
});

describe('per-token text', () => {
  const tok = ggufTokenizer(parseGguf(tinyGguf().bytes));

  it('holds back half a character until the token that completes it', () => {
    const ids = tok.encode('aé€b');
    expect(ids.length).toBe(7); // a, 2 bytes of é, 3 bytes of €, b: one token per byte here
    const texts = tokenTexts((x) => tok.decode(x), ids);
    expect(texts).toEqual(['a', '', 'é', '', '', '€', 'b']);
    expect(texts.join('')).toBe(tok.decode(ids));
  });

  it('keeps a trailing incomplete character visible at the end', () => {
    const ids = tok.encode('é').slice(0, 1);
    expect(tokenTexts((x) => tok.decode(x), ids)).toEqual(['\uFFFD']);
  });
});

describe("the agent panel's games", () => {
  it('offers every game that has a built-in scenario, with the scenarios that fit it', () => {
    const games = gameChoices();
    expect(games.map((g) => g.id)).toEqual(listEnvs().map((e) => e.id));
    const east = games.find((g) => g.id === 'east-gauss2')!;
    expect(east.horizon).toBe(50);
    expect(east.scenarios.map((s) => s.id)).toEqual(['east-buttons', 'east-buttons-transcript', 'east-slot-machine']);
    for (const g of games) expect(g.scenarios.length).toBeGreaterThan(0);
  });

  it('labels the actions as each fitting scenario words them', () => {
    expect(actionLabels('east-gauss2', gameOptions('east-gauss2', '95-105'), 'east-buttons')).toEqual(['Button 1', 'Button 2']);
    expect(gameOptions('east-gauss2', '95-105')).toEqual({ preset: '95-105' });
    expect(gameOptions('frozenlake', '95-105')).toEqual({});
    for (const g of gameChoices()) {
      for (const s of g.scenarios) {
        const labels = actionLabels(g.id, gameOptions(g.id, 'equal'), s.id);
        expect(labels.length, `${g.id} / ${s.id}`).toBeGreaterThanOrEqual(2);
        expect(new Set(labels).size).toBe(labels.length);
      }
    }
    // a scenario for another game has no labels to offer
    expect(actionLabels('east-gauss2', {}, 'frozenlake-text')).toEqual([]);
  });

  it('charts entropy, the ln K ceiling, the beta in force (0 when unsteered) and valid mass per step; a broken step has no entropy point', () => {
    const step = (i: number, entropy: number, beta: number | null, extra: Partial<StepRecord> = {}) => ({ step: i, entropy, valid: true, steering: beta === null ? null : { layer: 1, beta }, ...extra }) as StepRecord;
    const { columns } = entropyChartData([step(0, 0.5, null, { validMass: 0.7 }), step(1, 0.25, 4, { validMass: 0.4 }), step(2, 0.69, -2, { validMass: 0.01, valid: false, formatBroken: true }), step(3, 0.125, 0)], 4);
    expect(columns).toEqual([
      [0, 1, 2, 3],
      [0.5, 0.25, null, 0.125],
      [Math.log(4), Math.log(4), Math.log(4), Math.log(4)],
      [0, 4, -2, 0],
      [0.7, 0.4, 0.01, null],
    ]);
  });
});
