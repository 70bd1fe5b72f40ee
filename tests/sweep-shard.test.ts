/** `steerlab sweep --shard k/n`, `--resume` and `--merge` on a tiny GGUF model, through the real CLI. */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gridRuns, inShard } from '../src/cli/sweep-grid.js';
import { parseTrace } from '../src/trace/jsonl.js';
import { tinyGguf } from './browser/tiny-gguf.js';

const BIN = join(__dirname, '..', 'bin', 'steerlab.mjs');
const dir = mkdtempSync(join(tmpdir(), 'steerlab-sweep-shard-'));
const model = join(dir, 'tiny.gguf');
const vector = join(dir, 'v.json');
// No converted-model cache on disk for a throwaway model.
const env = { ...process.env, STEERLAB_NO_CONVERT_CACHE: '1' };

type Result = { code: number | null; out: string; err: string };
function cli(...args: string[]): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function cliAsync(...args: string[]): Promise<Result> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [BIN, ...args], { env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => done({ code, out, err }));
  });
}
/** The one error line (npm may add warnings of its own). */
const errorLine = (r: Result) => r.err.trim().split('\n').filter((l) => !l.startsWith('npm warn'));

// 2 layers x 2 temperatures x 2 betas x 2 seeds = 16 runs; min-valid-mass 0 lets the tiny model play all 3 steps.
const GRID = ['--env', 'east-gauss2', '--layers', '0,1', '--temperatures', '0.5,1', '--betas', '0,4', '--seeds', '2', '--horizon', '3', '--min-valid-mass', '0'];
const sweep = (...extra: string[]) => cli('sweep', '--model', model, '--vector', vector, ...GRID, ...extra);

/** The file's records without wall-clock timings, one JSON string each. */
function records(file: string): string[] {
  return parseTrace(readFileSync(file, 'utf8')).map((r) => JSON.stringify(r.type === 'step' ? { ...r, timings: {} } : r));
}

let full: Result;
const fullOut = join(dir, 'full.jsonl');

beforeAll(() => {
  writeFileSync(model, tinyGguf().bytes);
  writeFileSync(vector, JSON.stringify({ format: 'steerlab.vector/2', hidden: 64, directions: [{ layer: 1, vector: Array.from({ length: 64 }, (_, i) => Math.sin(1.3 * i)) }] }));
  full = sweep('--out', fullOut);
  expect(full.code, full.err).toBe(0);
});

describe('sweep grid', () => {
  it('shards k/n partition the grid: every run in exactly one shard', () => {
    const runs = gridRuns({ layers: [0, 1], temperatures: [1], betas: [0, 2, 4], seeds: 3, control: 'none' }, 'g');
    expect(runs.map((r) => r.index)).toEqual([...runs.keys()]);
    expect(runs[4]).toMatchObject({ layer: 0, beta: 2, episode: 1, cell: 1, size: 18 });
    for (const n of [1, 4, 7, 25]) {
      const counts = runs.map((r) => [...Array(n).keys()].filter((k) => inShard(r.index, { k: k + 1, n })).length);
      expect(counts.every((c) => c === 1)).toBe(true);
    }
  });
});

describe('steerlab sweep --shard / --resume / --merge', () => {
  it('the full sweep tags each summary line with its grid place', () => {
    const recs = parseTrace(readFileSync(fullOut, 'utf8'));
    const tags = recs.flatMap((r) => (r.type === 'summary' ? [r.extra!.sweep as { index: number; size: number }] : []));
    expect(tags.map((t) => t.index)).toEqual([...Array(16).keys()]);
    expect(tags.every((t) => t.size === 16)).toBe(true);
    expect(recs.filter((r) => r.type === 'step').length).toBeGreaterThan(16);
  });

  it('3 shards in parallel, merged, equal the unsharded sweep record for record and print the same table', async () => {
    const shards = [1, 2, 3].map((k) => join(dir, `shard-${k}.jsonl`));
    const results = await Promise.all(shards.map((f, i) => cliAsync('sweep', '--model', model, '--vector', vector, ...GRID, '--shard', `${i + 1}/3`, '--out', f)));
    for (const r of results) expect(r.code, r.err).toBe(0);
    // Shard 1/3 holds grid runs 0, 3, 6, ...
    const first = parseTrace(readFileSync(shards[0]!, 'utf8')).flatMap((r) => (r.type === 'summary' ? [(r.extra!.sweep as { index: number }).index] : []));
    expect(first).toEqual([0, 3, 6, 9, 12, 15]);
    const merged = join(dir, 'merged.jsonl');
    const m = cli('sweep', '--merge', ...[...shards].reverse(), '--out', merged);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toBe(full.out);
    expect(records(merged)).toEqual(records(fullOut));
    // A missing shard is named, not silently left out of the table.
    const partial = cli('sweep', '--merge', shards[1]!, shards[2]!);
    expect(partial.code).not.toBe(0);
    expect(errorLine(partial)).toEqual([expect.stringMatching(/^steerlab: BAD_TRACE: --merge: 6 of 16 runs missing \(grid index 0, 3, 6, 9, 12, 15\); finish their shards with --resume$/)]);
  });

  it('--resume after a kill mid-run drops the cut-off tail and ends equal to the full sweep', () => {
    const f = join(dir, 'resumed.jsonl');
    copyFileSync(fullOut, f);
    const text = readFileSync(f, 'utf8');
    // Cut inside a line a little past the middle, as a kill during a write would.
    let cut = Math.floor(text.length * 0.55);
    if (text[cut - 1] === '\n') cut += 5;
    truncateSync(f, cut);
    const done = parseTrace(text.slice(0, text.lastIndexOf('\n', cut) + 1)).filter((r) => r.type === 'summary').length;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(16);
    const r = sweep('--out', f, '--resume');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`resume: ${done} runs already in .*; dropped \\d+ lines of an unfinished run`));
    // Only the runs not yet finished were played.
    expect(r.err.match(/^run \d+\/16 /gm)).toHaveLength(16 - done);
    expect(r.out).toBe(full.out);
    expect(records(f)).toEqual(records(fullOut));
    // Resuming a finished sweep plays nothing and prints the same table.
    const again = sweep('--out', f, '--resume');
    expect(again.code, again.err).toBe(0);
    expect(again.err).not.toMatch(/^run /m);
    expect(again.out).toBe(full.out);
    // A shard resumes its own part; a missing file starts fresh.
    const s = join(dir, 'resumed-shard.jsonl');
    expect(sweep('--shard', '2/3', '--out', s, '--resume').code).toBe(0);
    writeFileSync(s, readFileSync(s, 'utf8').slice(0, 100));
    expect(sweep('--shard', '2/3', '--out', s, '--resume').code).toBe(0);
    expect(records(s)).toEqual(records(join(dir, 'shard-2.jsonl')));
  });

  it('--resume refuses a file from another sweep or another shard', () => {
    const f = join(dir, 'other.jsonl');
    copyFileSync(fullOut, f);
    const other = cli('sweep', '--model', model, '--vector', vector, ...GRID, '--betas', '0,5', '--out', f, '--resume');
    expect(other.code).not.toBe(0);
    expect(errorLine(other)).toEqual([expect.stringMatching(/^steerlab: BAD_ARGUMENT: --resume: .*other\.jsonl was written by a different sweep/)]);
    const shard = sweep('--shard', '1/2', '--out', f, '--resume');
    expect(errorLine(shard)).toEqual([expect.stringMatching(/^steerlab: BAD_ARGUMENT: --resume: .*holds grid run 1, which is not in --shard 1\/2/)]);
    // The refused file is left as it was.
    expect(records(f)).toEqual(records(fullOut));
  });

  it.each([
    ['--shard 0/3', ['--shard', '0/3', '--out', 'x.jsonl'], /--shard must be k\/n with whole numbers 1 <= k <= n, e\.g\. 2\/4 \(got '0\/3'\)/],
    ['--shard 4/3', ['--shard', '4/3', '--out', 'x.jsonl'], /--shard must be k\/n .*\(got '4\/3'\)/],
    ['--shard x', ['--shard', 'x', '--out', 'x.jsonl'], /--shard must be k\/n .*\(got 'x'\)/],
    ['--shard 1/0', ['--shard', '1/0', '--out', 'x.jsonl'], /--shard must be k\/n .*\(got '1\/0'\)/],
    ['--shard 1.5/3', ['--shard', '1.5/3', '--out', 'x.jsonl'], /--shard must be k\/n .*\(got '1\.5\/3'\)/],
    ['--shard without --out', ['--shard', '1/3'], /--shard needs --out FILE/],
    ['--resume without --out', ['--resume'], /--resume needs --out FILE/],
  ])('%s: one BAD_ARGUMENT line before any model is loaded', (_name, args, msg) => {
    const r = cli('sweep', '--model', join(dir, 'missing.gguf'), '--vector', vector, '--env', 'east-gauss2', ...args);
    expect(r.code).not.toBe(0);
    expect(r.out).toBe('');
    const lines = errorLine(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^steerlab: BAD_ARGUMENT: /);
    expect(lines[0]).toMatch(msg);
  });

  it('--merge refuses files of different sweeps and files that are not sweeps', () => {
    const other = join(dir, 'other-sweep.jsonl');
    expect(cli('sweep', '--model', model, '--vector', vector, ...GRID, '--seeds', '1', '--out', other).code).toBe(0);
    const r = cli('sweep', '--merge', fullOut, other);
    expect(errorLine(r)).toEqual([expect.stringMatching(/^steerlab: BAD_TRACE: --merge: .*other-sweep\.jsonl and .*full\.jsonl come from different sweeps/)]);
    const plain = join(dir, 'plain.jsonl');
    expect(cli('run', '--env', 'bernoulli-easy', '--policy', 'ucb', '--episodes', '1', '--horizon', '2', '--out', plain).code).toBe(0);
    expect(errorLine(cli('sweep', '--merge', plain))).toEqual([expect.stringMatching(/BAD_TRACE: .*plain\.jsonl line \d+: a summary without a sweep tag/)]);
    expect(errorLine(cli('sweep', '--merge'))).toEqual([expect.stringMatching(/BAD_ARGUMENT: missing shard\.jsonl/)]);
    expect(errorLine(cli('sweep', '--merge', fullOut, '--shard', '1/2'))).toEqual([expect.stringMatching(/BAD_ARGUMENT: unknown flag '--shard'/)]);
  });
});
