/**
 * Agent-loop benchmarks: step latency early vs late in an episode with the prompt cache kept,
 * the same with the full prompt re-run every step, and exact vs sampled (M completions) steps.
 */
import { runEpisode } from '../agent/agent.js';
import type { ModelSession } from '../engine/session.js';
import { createEnv } from '../envs/registry.js';
import { getScenario } from '../envs/scenario.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface AgentBench {
  horizon: number;
  cacheKept: { step5Ms: number; step50Ms: number; ratio: number; promptTokensAtStep50: number };
  fullPromptEachStep: { step5Ms: number; step50Ms: number; ratio: number };
  step50FullOverKept: number;
  exactStepMs: number;
  sampledStepMs: number;
  samples: number;
  maxThoughtTokens: number;
  sampledOverExact: number;
}

export async function benchAgent(session: ModelSession, log: (s: string) => void, samples = 25, maxThoughtTokens = 48): Promise<AgentBench> {
  const scenario = getScenario('east-buttons');
  const run = async (reuse: boolean) => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const r = await runEpisode(session, env, scenario, 7, { mode: 'exact', horizon: 50, reuseCache: reuse, policyName: 'bench' });
    return r.steps;
  };
  // Steps 4..6 and 47..49 (0-based) averaged, around "step 5" and "step 50".
  const around = (steps: { timings: Record<string, number> }[], i: number) => mean(steps.slice(i - 1, i + 2).map((s) => s.timings.total!));
  log('  agent: 50 steps with the cache kept');
  const kept = await run(true);
  log('  agent: 50 steps re-running the full prompt');
  const full = await run(false);
  const k5 = around(kept, 5), k50 = around(kept, 48), f5 = around(full, 5), f50 = around(full, 48);
  log(`  agent: one sampled step, M = ${samples}`);
  const env = createEnv('east-gauss2', { preset: 'equal' });
  const sampled = await runEpisode(session, env, scenario, 7, { mode: 'sampled', samples, maxThoughtTokens, temperature: 1, horizon: 1, policyName: 'bench' });
  const exactStepMs = kept[0]!.timings.total!;
  const sampledStepMs = sampled.steps[0]!.timings.total!;
  return {
    horizon: 50,
    cacheKept: { step5Ms: k5, step50Ms: k50, ratio: k50 / k5, promptTokensAtStep50: kept[48]!.promptTokens ?? 0 },
    fullPromptEachStep: { step5Ms: f5, step50Ms: f50, ratio: f50 / f5 },
    step50FullOverKept: f50 / k50,
    exactStepMs,
    sampledStepMs,
    samples,
    maxThoughtTokens,
    sampledOverExact: sampledStepMs / exactStepMs,
  };
}
