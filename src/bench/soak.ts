/**
 * Soak: long exact-mode episodes on the real model, each in its own child process (soak-child.ts),
 * resident memory sampled along the way; reports the memory slope (MiB per 100 steps, after a
 * warm-up), the step time, live KV tensors, and checks that the JSONL trace holds every step's
 * record (steps 0..n-1, once each, plus the summary when the episode finished).
 *
 * Two runs:
 *  - bounded: 1,000 steps of a game whose prompt stays the same size (Krishnamurthy's summarised
 *    history on bernoulli-hard, horizon 1,000): the leak test at full length.
 *  - growing: EAST's dialogue transcript (east-buttons on east-gauss2, horizon 1,000), whose prompt
 *    grows ~55 tokens a step; it outgrows SmolLM2's 8,192-position window around step 150. The run
 *    reports what the agent does then (today: the step throws; no truncation or sliding window).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrace } from '../trace/jsonl.js';
import type { SoakJob, SoakRun, SoakSample } from './soak-child.js';

export interface SoakResult {
  label: string;
  env: string;
  scenario: string;
  historyStyle: string;
  horizon: number;
  steps: number;
  completed: boolean;
  /** What ended the run early (null: it played every step). */
  error: SoakRun['error'];
  /** Least-squares slope of RSS over the steps after the first 10% (warm-up), MiB per 100 steps. */
  rssSlopeMiBPer100Steps: number | null;
  /** The same for the JS heap (after GC): what the episode's own records and any JS-side leak add. */
  heapSlopeMiBPer100Steps: number | null;
  rssFirstMiB: number;
  rssLastMiB: number;
  rssMaxMiB: number;
  /** Live KV tensors in the session's TensorPool at each sample: flat when nothing leaks. */
  liveTensorsMin: number;
  liveTensorsMax: number;
  liveTensorsAfter: number;
  promptTokensFirst: number;
  promptTokensLast: number;
  stepMsFirst: number;
  stepMsLast: number;
  elapsedMs: number;
  trace: { stepRecords: number; everyStepOnce: boolean; summaryRecords: number; bytes: number };
  samples: SoakSample[];
}

/** Least-squares slope of y on x. */
export function slope(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}

/** RSS (or another byte count, `bytes`) slope in MiB per 100 steps over the samples after the warm-up (the first 10% of steps). */
export function rssSlope<T extends { step: number; rssBytes: number }>(samples: readonly T[], bytes: (s: T) => number = (s) => s.rssBytes): number | null {
  const last = samples.at(-1)?.step ?? 0;
  const kept = samples.filter((s) => s.step >= Math.max(2, last * 0.1));
  const s = slope(kept.map((x) => x.step), kept.map((x) => bytes(x) / 2 ** 20));
  return s === null ? null : s * 100;
}

/** Step records in a trace: how many, and whether steps 0..n-1 each appear exactly once. */
export function checkTrace(text: string, steps: number): SoakResult['trace'] {
  const records = parseTrace(text);
  const stepIdx = records.filter((r) => r.type === 'step').map((r) => (r as { step: number }).step);
  const seen = new Set(stepIdx);
  const everyStepOnce = stepIdx.length === steps && seen.size === steps && Array.from({ length: steps }, (_, i) => i).every((i) => seen.has(i));
  return { stepRecords: stepIdx.length, everyStepOnce, summaryRecords: records.filter((r) => r.type === 'summary').length, bytes: Buffer.byteLength(text) };
}

function runSoak(modelPath: string, label: string, job: Omit<SoakJob, 'trace'>, dir: string, log: (s: string) => void): SoakResult {
  const trace = join(dir, `${label}.jsonl`);
  const jobPath = join(dir, `${label}.json`);
  writeFileSync(jobPath, JSON.stringify({ ...job, trace }));
  const script = join(import.meta.dirname, 'soak-child.ts');
  log(`  soak ${label}: ${job.scenario} on ${job.env}, horizon ${job.horizon}, exact mode (child process)`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, modelPath, jobPath], { encoding: 'utf8', timeout: 3_600_000, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`soak child (${label}) exited with ${r.status ?? r.signal}: ${r.error?.message ?? 'see its stderr above'}`);
  const run = JSON.parse(line) as SoakRun;
  const s = run.samples;
  const mib = (b: number) => b / 2 ** 20;
  const text = readFileSync(trace, 'utf8');
  return {
    label,
    env: job.env,
    scenario: job.scenario,
    historyStyle: job.historyStyle ?? 'scenario default',
    horizon: job.horizon,
    steps: run.steps,
    completed: run.completed,
    error: run.error,
    rssSlopeMiBPer100Steps: rssSlope(s),
    heapSlopeMiBPer100Steps: rssSlope(s, (x) => x.heapUsedBytes),
    rssFirstMiB: mib(s[0]?.rssBytes ?? 0),
    rssLastMiB: mib(s.at(-1)?.rssBytes ?? 0),
    rssMaxMiB: mib(Math.max(...s.map((x) => x.rssBytes))),
    liveTensorsMin: Math.min(...s.map((x) => x.liveTensors)),
    liveTensorsMax: Math.max(...s.map((x) => x.liveTensors)),
    liveTensorsAfter: run.liveTensorsAfter,
    promptTokensFirst: s[0]?.promptTokens ?? 0,
    promptTokensLast: s.at(-1)?.promptTokens ?? 0,
    stepMsFirst: s[0]?.stepMs ?? 0,
    stepMsLast: s.at(-1)?.stepMs ?? 0,
    elapsedMs: run.elapsedMs,
    trace: { ...checkTrace(text, run.steps), bytes: statSync(trace).size },
    samples: s,
  };
}

export interface SoakBench {
  bounded: SoakResult;
  growing: SoakResult;
}

export function benchSoak(modelPath: string, log: (s: string) => void, horizon = 1000): SoakBench {
  const dir = mkdtempSync(join(tmpdir(), 'steerlab-soak-'));
  try {
    const bounded = runSoak(modelPath, 'bounded', { env: 'bernoulli-hard', envOptions: {}, scenario: 'krishnamurthy-buttons', horizon, seed: 1, sampleEvery: 25 }, dir, log);
    const growing = runSoak(modelPath, 'growing', { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons', horizon, seed: 1, sampleEvery: 10 }, dir, log);
    return { bounded, growing };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
