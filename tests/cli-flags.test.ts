import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boolean, episodeFlags, int, json, jsonObject, number, numbers, oneOf, oneOfList, parseFlags, path, steeringFlags } from '../src/cli/flags.js';
import { settingFromFlags } from '../src/cli/steering.js';
import { sweepVectors } from '../src/cli/east.js';
import { ControlVector } from '../src/steering/control-vector.js';
import { z } from 'zod';

/** The one-line message parseFlags throws, or null when it parses. */
function failure(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    const err = e as Error & { code?: string };
    expect(err.code).toBe('BAD_ARGUMENT');
    expect(err.message).not.toMatch(/\n/);
    return err.message;
  }
}

describe('parseFlags and its building blocks', () => {
  const shape = {
    n: number({ min: 0 }).default(1),
    k: int({ min: 1, max: 9 }).optional(),
    list: numbers({ int: true, min: 0 }).optional(),
    mode: oneOf(['exact', 'sampled'] as const).default('exact'),
    out: path(),
    opts: jsonObject().default({}),
    quiet: boolean(),
  };

  it('parses typed values, defaults and positionals', () => {
    const r = parseFlags(['pos', '--out', 'f.json', '--n', '2.5', '--k=3', '--list', '5, 10,0', '--quiet', '--opts', '{"a":1}'], shape, { required: ['<model>'] });
    expect(r.values).toEqual({ n: 2.5, k: 3, list: [5, 10, 0], mode: 'exact', out: 'f.json', opts: { a: 1 }, quiet: true });
    expect(r.positionals).toEqual(['pos']);
    const d = parseFlags(['--out', 'x'], shape, {});
    expect(d.values).toEqual({ n: 1, mode: 'exact', out: 'x', opts: {}, quiet: false });
  });

  it('accepts negative numbers without =', () => {
    const r = parseFlags(['--beta', '-2', '--betas', '-1,0,2'], { beta: number(), betas: numbers() }, {});
    expect(r.values).toEqual({ beta: -2, betas: [-1, 0, 2] });
  });

  it('refuses a bad number, naming the flag and the value', () => {
    expect(failure(() => parseFlags(['--out', 'x', '--n', 'abc'], shape, {}))).toBe("--n must be a number >= 0 (got 'abc')");
    expect(failure(() => parseFlags(['--out', 'x', '--n', '-1'], shape, {}))).toBe("--n must be a number >= 0 (got '-1')");
    expect(failure(() => parseFlags(['--out', 'x', '--n', 'Infinity'], shape, {}))).toMatch(/^--n must be a number/);
    expect(failure(() => parseFlags(['--out', 'x', '--n', ''], shape, {}))).toMatch(/^--n must be a number/);
    expect(failure(() => parseFlags(['--out', 'x', '--k', '2.5'], shape, {}))).toBe("--k must be a whole number >= 1 and <= 9 (got '2.5')");
    expect(failure(() => parseFlags(['--out', 'x', '--k', '10'], shape, {}))).toBe("--k must be a whole number >= 1 and <= 9 (got '10')");
  });

  it('refuses a bad enum with the allowed values and the bad one', () => {
    expect(failure(() => parseFlags(['--out', 'x', '--mode', 'exakt'], shape, {}))).toBe("--mode must be one of exact, sampled (got 'exakt')");
    expect(failure(() => parseFlags(['--only', 'load,foo'], { only: oneOfList(['load', 'decode'] as const) }, {}))).toBe("--only must be a comma-separated list of load, decode (got 'foo' in 'load,foo')");
  });

  it('refuses unknown flags and flag misuse', () => {
    expect(failure(() => parseFlags(['--out', 'x', '--frob', '1'], shape, {}))).toMatch(/^unknown flag '--frob' \(flags: --n, --k, /);
    expect(failure(() => parseFlags(['-x'], {}, {}))).toBe("unknown flag '-x' (this command takes no flags)");
    expect(failure(() => parseFlags(['--out'], shape, {}))).toBe('--out needs a value');
    expect(failure(() => parseFlags(['--out', 'x', '--quiet=yes'], shape, {}))).toBe('--quiet takes no value');
    expect(failure(() => parseFlags(['--out', '--quiet'], shape, {}))).toMatch(/^--out needs a value/);
  });

  it('refuses missing required flags and positionals, and unexpected positionals', () => {
    expect(failure(() => parseFlags([], shape, {}))).toBe('--out is required');
    expect(failure(() => parseFlags([], { m: oneOf(['a', 'b'] as const) }, {}))).toBe('--m is required');
    expect(failure(() => parseFlags(['--out', 'x'], shape, { required: ['<model>'] }))).toBe('missing <model>');
    expect(failure(() => parseFlags(['a', 'b', '--out', 'x'], shape, { required: ['<model>'] }))).toBe("unexpected argument 'b'");
    expect(parseFlags(['a', 'b'], {}, { required: ['f'], rest: true }).positionals).toEqual(['a', 'b']);
  });

  it('parses lists and refuses bad items', () => {
    expect(parseFlags(['--l', '0.5,1,2'], { l: numbers() }, {}).values.l).toEqual([0.5, 1, 2]);
    expect(parseFlags(['--l', '7'], { l: numbers() }, {}).values.l).toEqual([7]);
    expect(failure(() => parseFlags(['--l', '1,,2'], { l: numbers() }, {}))).toBe("--l must be a comma-separated list of numbers (got '' in '1,,2')");
    expect(failure(() => parseFlags(['--l', '5,x'], { l: numbers({ int: true, min: 0 }) }, {}))).toBe("--l must be a comma-separated list of whole numbers >= 0 (got 'x' in '5,x')");
    expect(failure(() => parseFlags(['--l', '1,-3'], { l: numbers({ min: 0 }) }, {}))).toMatch(/got '-3' in '1,-3'/);
  });

  it('parses JSON, optionally against a schema', () => {
    expect(parseFlags(['--j', '[1,2]'], { j: json() }, {}).values.j).toEqual([1, 2]);
    expect(parseFlags(['--j', '[1,2]'], { j: json(z.array(z.number()), 'a JSON array of numbers') }, {}).values.j).toEqual([1, 2]);
    expect(failure(() => parseFlags(['--j', '{x'], { j: json() }, {}))).toMatch(/^--j must be JSON \(/);
    expect(failure(() => parseFlags(['--j', '[1]'], { j: jsonObject() }, {}))).toBe("--j must be a JSON object (got '[1]')");
    expect(failure(() => parseFlags(['--p', ''], { p: path() }, {}))).toBe("--p must be a path (got '')");
  });

  it('episode and steering groups validate every value', () => {
    const shape2 = { ...episodeFlags, ...steeringFlags };
    const r = parseFlags(['--env', 'bernoulli-easy'], shape2, {});
    expect(r.values).toMatchObject({ env: 'bernoulli-easy', 'env-options': {}, seed: 0, mode: 'exact', temperature: 1, 'min-valid-mass': 0.05 });
    expect(r.values.samples).toBeUndefined();
    expect(r.values.positions).toBeUndefined();
    for (const [argv, msg] of [
      [['--horizon', '0'], /^--horizon must be a whole number >= 1/],
      [['--samples', '0'], /^--samples must be a whole number >= 1/],
      [['--temperature', '-0.5'], /^--temperature must be a number >= 0/],
      [['--mode', 'exakt'], /^--mode must be one of exact, sampled, thought/],
      [['--min-valid-mass', '1.5'], /^--min-valid-mass must be/],
      [['--positions', 'everywhere'], /^--positions must be one of all, prompt, generated \(got 'everywhere'\)/],
      [['--layer', '-1'], /^--layer must be a whole number >= 0/],
      [['--beta', 'NaN'], /^--beta must be a number/],
    ] as const) expect(failure(() => parseFlags(['--env', 'e', ...argv], shape2, {}))).toMatch(msg);
  });
});

describe('steering from flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steerlab-flags-'));
  const one = join(dir, 'one.json');
  writeFileSync(one, JSON.stringify({ layer: 3, hidden: 2, vector: [1, 2] }));
  const two = join(dir, 'two.json');
  writeFileSync(two, JSON.stringify({ format: 'steerlab.vector/2', hidden: 2, directions: [{ layer: 5, vector: [1, 0] }, { layer: 10, vector: [0, 1] }] }));

  it('reads the file as a ControlVector named by its base name; --layer moves it; defaults beta 1 and generated', () => {
    const s = settingFromFlags({ vector: one })!;
    expect(s).toMatchObject({ beta: 1, positions: 'generated' });
    expect(s.vector.id).toBe('one.json');
    expect(s.vector.layers).toEqual([3]);
    const m = settingFromFlags({ vector: one, layer: 7, beta: -2, positions: 'prompt' })!;
    expect(m.vector.layers).toEqual([7]);
    expect(m).toMatchObject({ beta: -2, positions: 'prompt' });
    expect(settingFromFlags({ vector: two, layer: 10 })!.vector.layers).toEqual([10]);
    expect(settingFromFlags({ vector: two })!.vector.layers).toEqual([5, 10]);
    expect(settingFromFlags({})).toBeNull();
  });

  it('refuses --layer/--beta without --vector, and moving a multi-layer vector', () => {
    expect(failure(() => settingFromFlags({ beta: 2 }))).toBe('--beta needs --vector FILE');
    expect(failure(() => settingFromFlags({ layer: 1, beta: 2 }))).toBe('--layer/--beta need --vector FILE');
    expect(() => settingFromFlags({ vector: two, layer: 7 })).toThrow(/2 layers \(5, 10\)/);
  });

  it('sweep moves a one-layer vector and selects layers of a multi-layer one', () => {
    const v1 = ControlVector.single(3, Float32Array.of(1, 2), { id: 'v' });
    expect([...sweepVectors(v1, [5, 9]).entries()].map(([l, v]) => [l, v.layers])).toEqual([[5, [5]], [9, [9]]]);
    expect([...sweepVectors(v1, undefined).keys()]).toEqual([3]);
    const v2 = ControlVector.fromJson(JSON.stringify({ format: 'steerlab.vector/2', hidden: 2, directions: [{ layer: 5, vector: [1, 0] }, { layer: 10, vector: [0, 1] }] }), 'two');
    const sel = sweepVectors(v2, [10]);
    expect([...sel.keys()]).toEqual([10]);
    expect(Array.from(sel.get(10)!.direction(10).vector)).toEqual([0, 1]);
    expect(() => sweepVectors(v2, [5, 7])).toThrow(/--layers 7: vector 'two' has layers 5, 10/);
  });
});

describe('CLI validation happens before any model is loaded', () => {
  const BIN = join(__dirname, '..', 'bin', 'steerlab.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'steerlab-flags-cli-'));
  const vec = join(dir, 'v.json');
  writeFileSync(vec, JSON.stringify({ layer: 3, hidden: 2, vector: [1, 2] }));
  const two = join(dir, 'two.json');
  writeFileSync(two, JSON.stringify({ format: 'steerlab.vector/2', hidden: 2, directions: [{ layer: 5, vector: [1, 0] }, { layer: 10, vector: [0, 1] }] }));
  // A model path that does not exist: reaching the model load would fail with MODEL_NOT_FOUND instead.
  const model = join(dir, 'missing.gguf');
  function cli(...args: string[]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it.each([
    ['east --mode exakt', ['east', '--model', model, '--env', 'east-gauss2', '--layer', '5', '--out', join(dir, 'e.json'), '--mode', 'exakt'], /--mode must be one of exact, sampled, thought \(got 'exakt'\)/],
    ['sweep --mode exakt', ['sweep', '--model', model, '--env', 'east-gauss2', '--vector', vec, '--mode', 'exakt'], /--mode must be one of exact, sampled, thought \(got 'exakt'\)/],
    ['run --positions everywhere', ['run', '--model', model, '--env', 'east-gauss2', '--vector', vec, '--positions', 'everywhere'], /--positions must be one of all, prompt, generated \(got 'everywhere'\)/],
    ['run --episodes 0', ['run', '--model', model, '--env', 'east-gauss2', '--episodes', '0'], /--episodes must be a whole number >= 1 \(got '0'\)/],
    ['generate --temperature -1', ['generate', model, '--prompt', 'x', '--temperature', '-1'], /--temperature must be a number >= 0 \(got '-1'\)/],
    ['east --method bogus', ['east', '--model', model, '--env', 'east-gauss2', '--layer', '5', '--out', join(dir, 'e.json'), '--method', 'bogus'], /--method must be one of east, uncentred, contrastive, shuffled/],
    ['east --position bogus', ['east', '--model', model, '--env', 'east-gauss2', '--layer', '5', '--out', join(dir, 'e.json'), '--position', 'middle'], /--position must be one of last-prompt, last-prefix \(got 'middle'\)/],
    ['run --frob (unknown flag)', ['run', '--model', model, '--env', 'east-gauss2', '--frob'], /unknown flag '--frob'/],
    ['generate --beta without --vector', ['generate', model, '--prompt', 'x', '--beta', '2'], /--beta needs --vector FILE/],
    ['sweep --layers outside a multi-layer file', ['sweep', '--model', model, '--env', 'east-gauss2', '--vector', two, '--layers', '5,7'], /--layers 7: vector 'two.json' has layers 5, 10/],
    ['sweep --control bogus', ['sweep', '--model', model, '--env', 'east-gauss2', '--vector', vec, '--control', 'bogus'], /--control must be one of none, shuffled/],
    ['run --vreason k=0', ['run', '--model', model, '--env', 'east-gauss2', '--vreason', 'k=0'], /--vreason .*field 'every'/],
    ['generate --vreason mode=sideways', ['generate', model, '--prompt', 'x', '--vreason', 'mode=sideways'], /--vreason .*field 'mode'/],
    ['sweep --vreason speed=1', ['sweep', '--model', model, '--env', 'east-gauss2', '--vector', vec, '--vreason', 'speed=1'], /--vreason .*unknown field 'speed'/],
    ['east --vreason', ['east', '--model', model, '--env', 'east-gauss2', '--layer', '5', '--out', join(dir, 'e.json'), '--vreason', 'on'], /--vreason applies to run, sweep and generate/],
    ['run --autopilot without --vector', ['run', '--model', model, '--env', 'east-gauss2', '--autopilot', 'target=0.5'], /--autopilot .*needs --vector FILE/],
    ['run --autopilot gain=2', ['run', '--model', model, '--env', 'east-gauss2', '--vector', vec, '--autopilot', 'target=0.5,gain=2'], /--autopilot .*unknown field 'gain'/],
  ])('%s exits non-zero with one BAD_ARGUMENT line and no stdout', (_name, args, msg) => {
    const r = cli(...args);
    expect(r.code).not.toBe(0);
    expect(r.out).toBe('');
    const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^steerlab: BAD_ARGUMENT: /);
    expect(lines[0]).toMatch(msg);
  });
});
