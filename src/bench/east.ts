/**
 * EAST costs: recording the residual at the last prompt token during a run (the graph returns
 * it from the same forward; recording = asking for the position and copying the rows out), and
 * computing a vector from 3,000 logged steps.
 */
import { runEpisode } from '../agent/agent.js';
import type { ModelSession } from '../engine/session.js';
import { createEnv } from '../envs/registry.js';
import { getScenario } from '../envs/scenario.js';
import { eastVector, type EastRun } from '../steering/east.js';
import { Rng } from '../util/rng.js';

export interface EastBench {
  stepMsWithoutRecording: number;
  stepMsRecordingAllLayers: number;
  recordingOverhead: number;
  vectorFrom3000StepsMs: number;
  hidden: number;
}

export async function benchEast(session: ModelSession, log: (s: string) => void, horizon = 12, reps = 3): Promise<EastBench> {
  const scenario = getScenario('east-buttons');
  const all = Array.from({ length: session.info.layers }, (_, l) => l);
  const run = async (record: boolean) => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const r = await runEpisode(session, env, scenario, 3, { mode: 'exact', horizon, recordLayers: record ? all : [], policyName: 'bench' });
    return r.steps.reduce((a, s) => a + s.timings.total!, 0) / r.steps.length;
  };
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < reps; i++) {
    off.push(await run(false));
    on.push(await run(true));
    log(`  east rep ${i + 1}/${reps}: ${off.at(-1)!.toFixed(1)} ms/step without, ${on.at(-1)!.toFixed(1)} ms/step recording all layers`);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // 3,000 steps as 60 runs x 50 steps (the paper's 65 x 50 scale) of random activations.
  const H = session.info.hidden;
  const rng = new Rng(1);
  const runs: EastRun[] = Array.from({ length: 60 }, () => ({ z: Array.from({ length: 50 }, () => Float32Array.from({ length: H }, () => rng.normal())), h: Array.from({ length: 50 }, () => rng.next()) }));
  const t0 = performance.now();
  eastVector(runs);
  const vecMs = performance.now() - t0;
  return { stepMsWithoutRecording: med(off), stepMsRecordingAllLayers: med(on), recordingOverhead: med(on) / med(off) - 1, vectorFrom3000StepsMs: vecMs, hidden: H };
}
