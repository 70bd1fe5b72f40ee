/**
 * Agent-loop benchmarks: step latency early vs late in an episode with the prompt cache kept,
 * the same with the full prompt re-run every step, and exact vs sampled (M completions) steps.
 */
import { runEpisode } from '../agent/agent.js';
import { TranscriptTokens } from '../agent/transcript.js';
import type { ModelSession } from '../engine/session.js';
import { buildMessages, stepFeedback, type Turn } from '../envs/prompt.js';
import { createEnv } from '../envs/registry.js';
import { getScenario, scenarioActions, type Scenario } from '../envs/scenario.js';
import type { FlopsOf } from './flops.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/**
 * The median of steps i-1..i+1 (0-based): "step 5" is around(steps, 5), "step 50" around(steps, 48).
 * A median, because this machine's noise comes in bursts that can double one step.
 */
const around = (steps: { timings: Record<string, number> }[], i: number) => median(steps.slice(i - 1, i + 2).map((s) => s.timings.total!));

export interface AgentBench {
  horizon: number;
  cacheKept: KeptCacheRatio;
  fullPromptEachStep: { step5Ms: number; step50Ms: number; ratio: number };
  step50FullOverKept: number;
  exactStepMs: number;
  sampledStepMs: number;
  samples: number;
  maxThoughtTokens: number;
  sampledOverExact: number;
  /** Tokenising a 50-step transcript and its K = 2 answers each step: full re-encodes vs incremental (TranscriptTokens). */
  tokenise: { fullMs: number; incrementalMs: number; fullOverIncremental: number; promptTokensAtStep50: number };
}

/** The 50 prompts of an episode that alternates buttons, tokenised both ways (same ids; checked in tests). */
function benchTokenise(session: ModelSession) {
  const scenario = getScenario('east-buttons');
  const env = createEnv('east-gauss2', { preset: 'equal' });
  const actions = scenarioActions(scenario, env.actions());
  const history = { initial: env.reset(1), turns: [] as Turn[] };
  const texts: string[] = [];
  for (let t = 0; t < 50; t++) {
    texts.push(session.chat(buildMessages(scenario, env, history), true));
    const r = env.step(t % 2);
    history.turns.push({ action: t % 2, valid: true, completion: `${scenario.answer.prefix}${(t % 2) + 1}.`, reward: r.reward, observation: r.observation, envFeedback: stepFeedback(scenario, actions, t % 2, r) });
  }
  const answers = actions.map((a) => scenario.answer.prefix + a.answer);
  const time = (f: () => void) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  const reps = [0, 1, 2].map(() => ({
    full: time(() => texts.forEach((x) => [x, ...answers.map((a) => x + a)].forEach((y) => session.encode(y)))),
    incremental: time(() => {
      const tt = new TranscriptTokens(session.tokenizer);
      for (const x of texts) {
        tt.encode(x);
        for (const a of answers) tt.extend(a);
      }
    }),
  }));
  const fullMs = median(reps.map((r) => r.full));
  const incrementalMs = median(reps.map((r) => r.incremental));
  return { fullMs, incrementalMs, fullOverIncremental: fullMs / incrementalMs, promptTokensAtStep50: session.encode(texts[49]!).length };
}

export async function benchAgent(session: ModelSession, log: (s: string) => void, flops?: FlopsOf, samples = 25, maxThoughtTokens = 48): Promise<AgentBench> {
  const scenario = getScenario('east-buttons');
  const keptCache = await keptCacheRatio(session, scenario, log, flops);
  log('  agent: 50 steps re-running the full prompt');
  const full = (await runEpisode(session, createEnv('east-gauss2', { preset: 'equal' }), scenario, 7, { mode: 'exact', horizon: 50, reuseCache: false, policyName: 'bench' })).steps;
  const f5 = around(full, 5), f50 = around(full, 48);
  log(`  agent: one sampled step, M = ${samples}`);
  const env = createEnv('east-gauss2', { preset: 'equal' });
  const sampled = await runEpisode(session, env, scenario, 7, { mode: 'sampled', samples, maxThoughtTokens, temperature: 1, horizon: 1, policyName: 'bench' });
  const exactStepMs = keptCache.firstStepMs;
  const sampledStepMs = sampled.steps[0]!.timings.total!;
  return {
    horizon: 50,
    cacheKept: keptCache,
    fullPromptEachStep: { step5Ms: f5, step50Ms: f50, ratio: f50 / f5 },
    step50FullOverKept: f50 / keptCache.step50Ms,
    exactStepMs,
    sampledStepMs,
    samples,
    maxThoughtTokens,
    sampledOverExact: sampledStepMs / exactStepMs,
    tokenise: benchTokenise(session),
  };
}

export interface KeptCacheRatio {
  /** Medians over the episodes of the median of steps 4..6 and 47..49 (0-based). */
  step5Ms: number;
  step50Ms: number;
  ratio: number;
  promptTokensAtStep50: number;
  /** Each episode's own step 50 / step 5: the spread on this machine. */
  ratioPerEpisode: number[];
  /** The first step of the first episode (the prompt's prefill included). */
  firstStepMs: number;
  /**
   * The same ratio of the steps' FLOPs (same windows, each step's cached and new tokens), and
   * attention's share of step 50's: what the ratio would be if every FLOP took the same time.
   */
  flops?: { ratio: number; attentionShareStep50: number; step5Gflop: number; step50Gflop: number };
}

/**
 * Exact mode with the prompt cache kept, 50 steps of east-gauss2, five times: on a shared machine
 * one episode's ratio moved between 1.1 and 2.6 within one run.
 */
export async function keptCacheRatio(session: ModelSession, scenario: Scenario, log: (s: string) => void, flops?: FlopsOf, episodes = 5): Promise<KeptCacheRatio> {
  const runs: Awaited<ReturnType<typeof runEpisode>>['steps'][] = [];
  for (let r = 0; r < episodes; r++) {
    log(`  agent: 50 steps with the cache kept (${r + 1}/${episodes})`);
    const env = createEnv('east-gauss2', { preset: 'equal' });
    runs.push((await runEpisode(session, env, scenario, 7, { mode: 'exact', horizon: 50, reuseCache: true, policyName: 'bench' })).steps);
  }
  const s5 = median(runs.map((k) => around(k, 5)));
  const s50 = median(runs.map((k) => around(k, 48)));
  const out: KeptCacheRatio = { step5Ms: s5, step50Ms: s50, ratio: s50 / s5, promptTokensAtStep50: runs[0]![48]!.promptTokens ?? 0, ratioPerEpisode: runs.map((k) => around(k, 48) / around(k, 5)), firstStepMs: runs[0]![0]!.timings.total! };
  if (flops) out.flops = stepFlops(runs[0]!, flops);
  return out;
}

/** FLOPs of the windows' middle steps (5 and 48, 0-based), from what each step's forward computed. */
function stepFlops(steps: { extra?: Record<string, unknown> }[], flops: FlopsOf): NonNullable<KeptCacheRatio['flops']> {
  const of = (i: number) => {
    const e = steps[i]!.extra ?? {};
    if (typeof e.cachedTokens !== 'number' || typeof e.newTokens !== 'number') throw new Error(`agent bench: step ${i} recorded no cached/new token counts`);
    return flops(e.cachedTokens, e.newTokens);
  };
  // Their neighbours' FLOPs differ by about 1%.
  const f5 = of(5), f50 = of(48);
  const total = (x: ReturnType<typeof of>) => x.linear + x.attention;
  return { ratio: total(f50) / total(f5), attentionShareStep50: f50.attention / total(f50), step5Gflop: total(f5) / 1e9, step50Gflop: total(f50) / 1e9 };
}
