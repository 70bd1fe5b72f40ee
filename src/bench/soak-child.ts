/**
 * Child process for the soak benchmark (soak.ts): one long exact-mode episode on the real model in
 * a fresh process, every step's record appended to a JSONL trace as it arrives, resident memory
 * sampled along the way (after a GC, so the slope is what stays, not garbage). A step that throws
 * (e.g. the transcript outgrew the model's context window) ends the run; the error is reported.
 * argv: <gguf path> <job.json>. Prints one JSON line (SoakRun) on stdout.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { runEpisode } from '../agent/agent.js';
import type { HistoryStyle } from '../envs/scenario.js';
import { createEnv } from '../envs/registry.js';
import { getScenario } from '../envs/scenario.js';
import { loadModel } from '../node/models.js';
import { formatTraceLine } from '../trace/jsonl.js';

export interface SoakJob {
  env: string;
  envOptions: Record<string, unknown>;
  scenario: string;
  historyStyle?: HistoryStyle;
  horizon: number;
  seed: number;
  trace: string;
  sampleEvery: number;
}

export interface SoakSample {
  step: number;
  rssBytes: number;
  heapUsedBytes: number;
  liveTensors: number;
  promptTokens: number;
  stepMs: number;
  elapsedMs: number;
}

export interface SoakRun {
  steps: number;
  completed: boolean;
  error: { step: number; code: string | null; message: string; promptTokensAtLastStep: number } | null;
  samples: SoakSample[];
  liveTensorsAfter: number;
  elapsedMs: number;
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function main() {
  const [path, jobPath] = process.argv.slice(2) as [string, string];
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as SoakJob;
  const session = await loadModel(path);
  const env = createEnv(job.env, { ...job.envOptions, horizon: job.horizon });
  writeFileSync(job.trace, '');
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  let steps = 0;
  let lastTokens = 0;
  const sample = (step: number, stepMs: number) => {
    gc();
    const m = process.memoryUsage();
    samples.push({ step, rssBytes: m.rss, heapUsedBytes: m.heapUsed, liveTensors: session.pool.size, promptTokens: lastTokens, stepMs, elapsedMs: performance.now() - t0 });
  };
  let error: SoakRun['error'] = null;
  let completed = false;
  try {
    const r = await runEpisode(session, env, getScenario(job.scenario), job.seed, {
      mode: 'exact',
      horizon: job.horizon,
      historyStyle: job.historyStyle,
      policyName: 'soak',
      onStep: (rec) => {
        appendFileSync(job.trace, formatTraceLine(rec));
        steps++;
        lastTokens = rec.promptTokens ?? 0;
        if (steps === 1 || steps % job.sampleEvery === 0) {
          sample(steps, rec.timings.total ?? 0);
          const s = samples.at(-1)!;
          process.stderr.write(`    soak step ${steps}: ${lastTokens} prompt tokens, ${s.stepMs.toFixed(0)} ms/step, rss ${(s.rssBytes / 2 ** 20).toFixed(0)} MiB, ${s.liveTensors} live tensors\n`);
        }
      },
    });
    if (r.summary) appendFileSync(job.trace, formatTraceLine(r.summary));
    completed = r.steps.length === job.horizon;
  } catch (e) {
    const err = e as Error & { code?: string };
    error = { step: steps, code: err.code ?? null, message: err.message.split('\n')[0]!.slice(0, 400), promptTokensAtLastStep: lastTokens };
  }
  const out: SoakRun = { steps, completed, error, samples, liveTensorsAfter: session.pool.size, elapsedMs: performance.now() - t0 };
  await session.dispose();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
