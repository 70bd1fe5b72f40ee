/**
 * The soak benchmark's short version (steerlab bench --only soak runs 1,000 steps on the real
 * model): 100 exact-mode steps on the tiny character model with a bounded prompt (summarised
 * history), checking that no KV storage outlives its step (the session's TensorPool counts live
 * tensors and host row sets), that ArrayBuffer memory after GC shows no upward trend, and that the trace holds every step once.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { runEpisode } from '../src/agent/agent.js';
import { checkTrace, rssSlope, slope } from '../src/bench/soak.js';
import { createEnv } from '../src/envs/registry.js';
import { getScenario } from '../src/envs/scenario.js';
import { formatTraceLine } from '../src/trace/jsonl.js';
import { useTinyChar } from './helpers/tiny.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('soak on the tiny model', () => {
  const t = useTinyChar();

  it('100 exact steps: live tensors flat and back to zero, no ArrayBuffer trend, every step in the trace', async () => {
    const s = t.session;
    const before = s.pool.size;
    const live: number[] = [];
    const buffers: { step: number; bytes: number }[] = [];
    let trace = '';
    const env = createEnv('bernoulli-hard', { horizon: 100 });
    const r = await runEpisode(s, env, getScenario('krishnamurthy-buttons'), 3, {
      mode: 'exact',
      horizon: 100,
      policyName: 'soak-test',
      onStep: (rec) => {
        trace += formatTraceLine(rec);
        live.push(s.pool.size);
        if ((rec.step + 1) % 10 === 0) {
          gc();
          buffers.push({ step: rec.step + 1, bytes: process.memoryUsage().arrayBuffers });
        }
      },
    });
    trace += formatTraceLine(r.summary!);
    expect(r.steps).toHaveLength(100);
    // Between steps only the prompt cache is alive (one host row set, or one key and one value
    // tensor per layer on the present-tensor path); forks are gone.
    expect(new Set(live)).toEqual(new Set([before + (t.session.newCache().isHost ? 1 : 2 * t.cfg.layers)]));
    // The episode disposes its policy, and with it the prompt cache.
    expect(s.pool.size).toBe(before);
    // ArrayBuffer memory after GC swings by ~20 MB (onnxruntime-node frees output buffers on its own
    // schedule), so the check is the trend: a KV cache of this prompt is ~1 MB, so leaking one per
    // step would climb ~100 MiB per 100 steps.
    const perStep = slope(buffers.map((b) => b.step), buffers.map((b) => b.bytes / 2 ** 20))!;
    expect(perStep * 100).toBeLessThan(30);
    expect(checkTrace(trace, 100)).toMatchObject({ stepRecords: 100, everyStepOnce: true, summaryRecords: 1 });
  }, 120_000);

  it('the slope helpers', () => {
    expect(slope([0, 1, 2], [1, 3, 5])).toBeCloseTo(2);
    expect(slope([1], [1])).toBeNull();
    // 1 MiB per step after the warm-up -> 100 MiB per 100 steps
    const samples = Array.from({ length: 20 }, (_, i) => ({ step: (i + 1) * 10, rssBytes: (500 + (i + 1) * 10) * 2 ** 20 }));
    expect(rssSlope(samples)).toBeCloseTo(100);
    expect(checkTrace('', 0)).toMatchObject({ stepRecords: 0, everyStepOnce: true });
  });
});
