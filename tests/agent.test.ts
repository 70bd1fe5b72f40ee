import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEpisode, type AgentOptions } from '../src/agent/agent.js';
import { logSoftmax } from '../src/engine/logits.js';
import { residPost, type Positions } from '../src/engine/hook-points.js';
import { ControlVector } from '../src/steering/control-vector.js';
import type { ModelSession } from '../src/engine/session.js';
import { createEnv } from '../src/envs/registry.js';
import { getScenario } from '../src/envs/scenario.js';
import { parseTrace, formatTrace } from '../src/trace/jsonl.js';
import { loadModel } from '../src/node/models.js';
import { Rng } from '../src/util/rng.js';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';
import { fullForwardScores, normalised, useTinyChar } from './helpers/tiny.js';

const policyName = 'sample';
/** A one-layer vector whose strength follows beta(step, token). */
const live = (vector: Float32Array, layer: number, positions: Positions, beta: (step: number, token?: number) => number) => {
  const v = ControlVector.single(layer, vector, { id: 'v' });
  return (step: number, token?: number) => ({ vector: v, beta: beta(step, token), positions });
};

describe('agent on a tiny character-level model', () => {
  const t = useTinyChar();

  it.each([1, 0.5])('exact candidate probabilities at temperature %s (per token) match sampled frequencies within sampling error', async (T) => {
    const s = t.session;
    const prompt = s.encode('user: press a button\nassistant: ');
    const cache = s.newCache();
    const { logits } = await s.forward(cache, prompt);
    // Candidates: every two-token continuation starting with the 3 likeliest first tokens.
    const lp = logSoftmax(logits);
    const firsts = Array.from(lp.keys()).sort((a, b) => lp[b]! - lp[a]!).slice(0, 3);
    const cands: number[][] = [];
    for (const f of firsts) for (let second = 0; second < t.cfg.vocab; second++) cands.push([f, second]);
    const scores = (await s.scoreAnswers(cache, logits, cands, { temperature: T })).tempered;
    const exact = new Map(cands.map((c, i) => [c.join(','), Math.exp(scores[i]!)]));
    const N = 3000;
    const rng = new Rng(3);
    const counts = new Map<string, number>();
    for (let n = 0; n < N; n++) {
      const f = cache.fork();
      const g = await s.generateFrom(f, logits, { maxNewTokens: 2, temperature: T, random: () => rng.next(), stopIds: [] });
      f.dispose();
      const key = g.ids.join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    // Pearson chi-square over bins with >= 5 expected counts (the rest pooled) must pass at p = 0.001.
    const bins = [...exact.entries()].filter(([, p]) => p * N >= 5);
    expect(bins.length).toBeGreaterThanOrEqual(3);
    let chi = 0;
    let restP = 1;
    let restC = N;
    for (const [key, p] of bins) {
      const c = counts.get(key) ?? 0;
      chi += (c - N * p) ** 2 / (N * p);
      restP -= p;
      restC -= c;
    }
    chi += (restC - N * restP) ** 2 / (N * restP);
    // Critical value at p = 0.001 with bins.length degrees of freedom: the table up to 12, beyond it
    // Wilson-Hilferty (which is within 2 % of the table there, on the lenient side).
    const table: Record<number, number> = { 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32, 8: 26.12, 9: 27.88, 10: 29.59, 11: 31.26, 12: 32.91 };
    const k = bins.length;
    const critical = table[k] ?? k * (1 - 2 / (9 * k) + 3.0902 * Math.sqrt(2 / (9 * k))) ** 3;
    expect(chi, `chi-square ${chi.toFixed(1)} over ${k} bins`).toBeLessThan(critical);
    cache.dispose();
  });

  it('keeping the prompt cache across steps gives the same trace as re-running the full prompt', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = getScenario('east-buttons');
    const opts: AgentOptions = { mode: 'exact', horizon: 6, recordLayers: [1], policyName, minValidMass: 0 };
    const kept = await runEpisode(t.session, env, scenario, 5, { ...opts, reuseCache: true });
    const fresh = await runEpisode(t.session, env, scenario, 5, { ...opts, reuseCache: false });
    expect(kept.steps.map((s) => s.action)).toEqual(fresh.steps.map((s) => s.action));
    kept.steps.forEach((s, i) => {
      s.actionProbs!.forEach((p, k) => expect(Math.abs(p - fresh.steps[i]!.actionProbs![k]!)).toBeLessThan(1e-4));
    });
    // Later steps really reused the cache.
    expect((kept.steps[3]!.extra as { cachedTokens: number }).cachedTokens).toBeGreaterThan(0);
    expect((fresh.steps[3]!.extra as { cachedTokens: number }).cachedTokens).toBe(0);
    expect(kept.hidden).toHaveLength(6);
    expect(kept.hidden[0]![0]).toHaveLength(t.cfg.hidden);
  });

  it('z is read at the last prompt token by default, or at the last answer-prefix token on request', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = getScenario('east-buttons');
    const s = t.session;
    const atPrompt = await runEpisode(s, env, scenario, 2, { mode: 'exact', horizon: 1, recordLayers: [0, 2] });
    const atPrefix = await runEpisode(s, env, scenario, 2, { mode: 'exact', horizon: 1, recordLayers: [0, 2], zPosition: 'last-prefix' });
    // Recompute both positions with one plain forward over prompt + prefix.
    const env2 = createEnv('east-gauss2', { preset: 'equal' });
    const { buildMessages } = await import('../src/envs/prompt.js');
    const prompt = s.chat(buildMessages(scenario, env2, { initial: env2.reset(2), turns: [] }) as never);
    const promptIds = s.encode(prompt);
    const withPrefix = s.encode(prompt + scenario.answer.prefix);
    const r = await s.forward(s.newCache(), withPrefix, { read: { hooks: [residPost(0), residPost(2)], at: [promptIds.length - 1, withPrefix.length - 1] } });
    const row = (layer: number, p: number) => r.acts.row(residPost(layer), p);
    [0, 2].forEach((layer, i) => {
      row(layer, 0).forEach((v, k) => expect(Math.abs(v - atPrompt.hidden[0]![i]![k]!)).toBeLessThan(1e-4));
      row(layer, 1).forEach((v, k) => expect(Math.abs(v - atPrefix.hidden[0]![i]![k]!)).toBeLessThan(1e-4));
    });
  });

  it('steering on generated positions changes the exact distribution, beta 0 does not', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = getScenario('east-buttons');
    const vector = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.cos(i));
    const run = (beta: number) => runEpisode(t.session, env, scenario, 9, { mode: 'exact', horizon: 3, steering: live(vector, 1, 'generated', () => beta), policyName });
    const plain = await runEpisode(t.session, env, scenario, 9, { mode: 'exact', horizon: 3, policyName });
    const zero = await run(0);
    const strong = await run(3);
    // beta = 0: the whole trace (all but wall-clock timings) is identical to the unsteered run.
    const strip = (steps: typeof plain.steps) => steps.map((s) => ({ ...s, timings: {} }));
    expect(strip(zero.steps)).toEqual(strip(plain.steps));
    expect(Math.abs(strong.steps[0]!.actionProbs![0]! - plain.steps[0]!.actionProbs![0]!)).toBeGreaterThan(1e-3);
    expect(strong.steps[0]!.steering).toEqual({ layer: 1, beta: 3 });
  });

  it("steering on prompt positions changes the exact distribution too (it used to steer nothing), and the trace says where", async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = getScenario('east-buttons');
    const vector = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.cos(i));
    const plain = await runEpisode(t.session, env, scenario, 9, { mode: 'exact', horizon: 2, policyName });
    const prompt = await runEpisode(t.session, env, scenario, 9, { mode: 'exact', horizon: 2, policyName, steering: live(vector, 1, 'prompt', () => 3) });
    const generated = await runEpisode(t.session, env, scenario, 9, { mode: 'exact', horizon: 2, policyName, steering: live(vector, 1, 'generated', () => 3) });
    expect(Math.abs(prompt.steps[0]!.actionProbs![0]! - plain.steps[0]!.actionProbs![0]!)).toBeGreaterThan(1e-3);
    expect(Math.abs(prompt.steps[0]!.actionProbs![0]! - generated.steps[0]!.actionProbs![0]!)).toBeGreaterThan(1e-3);
    expect(prompt.steps[0]!.config.steering).toEqual({ layer: 1, beta: 3, vectorId: 'v', positions: 'prompt' });
    // Distinct steering gives distinct run ids (a sweep's cells never merge).
    expect(new Set([plain, prompt, generated].map((r) => r.summary!.runId)).size).toBe(3);
  });
});

needsRealModel.describe('agent on SmolLM2-135M-Instruct', () => {
  let s: ModelSession;
  beforeAll(async () => {
    s = await loadModel(REAL_MODEL);
  });
  afterAll(async () => s?.dispose());

  it('a 20-step exact-mode run writes a valid trace, and the same seed gives an identical trace', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = getScenario('east-buttons');
    const run = () => runEpisode(s, env, scenario, 42, { mode: 'exact', horizon: 20 });
    const a = await run();
    const b = await run();
    expect(a.steps).toHaveLength(20);
    const strip = (r: typeof a) => formatTrace([...r.steps, r.summary!].map((x) => ('timings' in x ? { ...x, timings: {} } : x)));
    const text = strip(a);
    expect(parseTrace(text)).toHaveLength(21);
    expect(text).toEqual(strip(b));
    for (const st of a.steps) {
      expect(st.actionProbs!.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
      expect(st.entropy).toBeGreaterThanOrEqual(0);
      expect(st.entropy).toBeLessThanOrEqual(Math.log(2) + 1e-9);
    }
  });

  it('the growing transcript is tokenised incrementally with exactly the ids of a full encode', async () => {
    const { TranscriptTokens } = await import('../src/agent/transcript.js');
    const { buildMessages } = await import('../src/envs/prompt.js');
    for (const [scenarioId, envId] of [['east-buttons', 'east-gauss2'], ['krishnamurthy-buttons', 'bernoulli-easy']] as const) {
      const scenario = getScenario(scenarioId);
      const env = createEnv(envId);
      const history = { initial: env.reset(3), turns: [] as import('../src/envs/prompt.js').Turn[] };
      const tokens = new TranscriptTokens(s.tokenizer);
      let reusedAny = false;
      for (let t = 0; t < 12; t++) {
        const text = s.chat(buildMessages(scenario, env, history, scenario.history.style), true);
        const ids = tokens.encode(text);
        expect(ids).toEqual(s.encode(text));
        for (const a of ['1', '2']) expect(tokens.extend(`${scenario.answer.prefix}${a}`)).toEqual(s.encode(text + scenario.answer.prefix + a));
        const action = t % 2;
        const r = env.step(action);
        history.turns.push({ action, valid: true, completion: `${scenario.answer.prefix}${action + 1}`, reward: r.reward, observation: r.observation, envFeedback: r.feedback ?? '' });
        reusedAny ||= (tokens as unknown as { incremental: boolean }).incremental;
      }
      expect(reusedAny).toBe(true);
    }
  });
});

describe('live steering strength', () => {
  const t = useTinyChar();

  it('beta can change between steps and between tokens of a thought; every change is recorded', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = { ...getScenario('east-buttons'), onInvalid: 'random-arm' as const };
    const vector = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.sin(i));
    // step 0: beta 1 until token 3, then 2; step 1: beta 0 (off); step 2: beta 3 throughout
    const beta = (step: number, token?: number) => (step === 0 ? ((token ?? 0) < 3 ? 1 : 2) : step === 1 ? 0 : 3);
    const r = await runEpisode(t.session, env, scenario, 4, { mode: 'sampled', samples: 2, maxThoughtTokens: 6, temperature: 1, horizon: 3, steering: live(vector, 1, 'generated', beta), policyName });
    expect(r.steps.map((s) => s.steering)).toEqual([{ layer: 1, beta: 1 }, null, { layer: 1, beta: 3 }]);
    const changes = r.steps[0]!.extra!.betaChanges as { sample: number; token: number; beta: number }[];
    expect(changes.filter((c) => c.sample === 0)).toEqual([{ sample: 0, token: 3, beta: 2 }]);
    expect(r.steps[2]!.extra!.betaChanges).toBeUndefined();
  });
});

describe('exact scoring when one answer is a prefix of another', () => {
  const t = useTinyChar();

  it('scores whole answers through the suffix: p("Button 1.") and p("Button 10.") are not double-counted', async () => {
    // A 12-armed Gaussian bandit with "Button N" labels: "1" is a token prefix of "10", "11", "12".
    const { loadScenario, getScenario } = await import('../src/envs/scenario.js');
    const base = getScenario('east-buttons');
    const scenario = loadScenario({ ...base, id: 'buttons-12', games: ['gaussian-named'], actions: { template: 'Button {n}' } });
    const env = createEnv('gaussian-named', { names: Array.from({ length: 12 }, (_, i) => `n${i}`), horizon: 1 });
    const r = await runEpisode(t.session, env, scenario, 1, { mode: 'exact', horizon: 1 });
    const s = t.session;
    const { buildMessages } = await import('../src/envs/prompt.js');
    const env2 = createEnv('gaussian-named', { names: Array.from({ length: 12 }, (_, i) => `n${i}`), horizon: 1 });
    const prompt = s.chat(buildMessages(scenario, env2, { initial: env2.reset(1), turns: [] }) as never);
    // Reference: full forward of each complete answer, summed token log-probs, normalised.
    const head = s.encode(prompt + scenario.answer.prefix).length;
    const scores = await fullForwardScores(s, Array.from({ length: 12 }, (_, k) => ({ ids: s.encode(`${prompt}${scenario.answer.prefix}${k + 1}${scenario.answer.suffix}`), head })));
    normalised(scores).forEach((p, k) => expect(Math.abs(r.steps[0]!.actionProbs![k]! - p)).toBeLessThan(1e-5));
  });
});

describe('prompt cache and steering on all positions', () => {
  const t = useTinyChar();

  it('a beta change with positions = all recomputes the prompt, so kept-cache traces equal full re-runs', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = getScenario('east-buttons');
    const vector = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.cos(i * 0.3));
    const opts = (reuse: boolean): AgentOptions => ({ mode: 'exact', horizon: 4, reuseCache: reuse, minValidMass: 0, steering: live(vector, 1, 'all', (step) => [0, 1, 1, 2][step]!), policyName });
    const kept = await runEpisode(t.session, env, scenario, 3, opts(true));
    const fresh = await runEpisode(t.session, env, scenario, 3, opts(false));
    kept.steps.forEach((s, i) => s.actionProbs!.forEach((p, k) => expect(Math.abs(p - fresh.steps[i]!.actionProbs![k]!)).toBeLessThan(1e-4)));
    // step 2 keeps beta 1 and reuses the cache; steps 1 and 3 change beta and recompute
    expect((kept.steps[2]!.extra as { cachedTokens: number }).cachedTokens).toBeGreaterThan(0);
    expect((kept.steps[3]!.extra as { cachedTokens: number }).cachedTokens).toBe(0);
  });
});
