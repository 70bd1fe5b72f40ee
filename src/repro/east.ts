/**
 * EAST on the offline default model (SmolLM2-135M-Instruct), measured so the numbers can be
 * trusted (see the README's EAST section and ../shared notes on experiments):
 *  1. collect: logged exact-mode runs on collection seeds give the vector per layer (Eq. 1), the
 *     permuted-entropy null, the step-index direction, and the residual norm at the steered
 *     positions (the last answer-prefix token, where the action logits are read);
 *  2. tune: layer and strength are chosen on separate tuning seeds by a rule fixed in advance
 *     (highest choice-step entropy among conditions with at most 10 % format-broken steps);
 *  3. evaluate on held-out seeds: closed-loop episodes (the agent plays its own actions) for the
 *     vector, its controls and temperature alone, and paired replays of the unsteered histories
 *     for the vector against 20 random directions of the same norm; then thought mode and a small
 *     sampled free-text check on the transcript wording, where the format holds.
 * Every condition keeps per-seed values: entropy over choice steps, valid mass, the format-broken
 * share, invalid rate and regret. Deterministic given the settings below.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectEastRuns, type Collected } from '../agent/east-collect.js';
import { runEpisode, type AgentOptions } from '../agent/agent.js';
import type { ModelSession } from '../engine/session.js';
import { createEnv } from '../envs/registry.js';
import { getScenario } from '../envs/scenario.js';
import { choiceStats } from '../metrics/choice.js';
import { ControlVector, l2, type SteeringSetting } from '../steering/control-vector.js';
import { cosine, eastVector, permutedEntropyVector, projectOut, randomDirection, shuffledControl, stepDirection, typicalNorm } from '../steering/east.js';
import type { StepRecord } from '../trace/schema.js';
import { renderEastReport, type Condition, type EastJson, type SeedValues } from './east-report.js';

export { renderEastReport, type EastJson } from './east-report.js';

export const EAST_REPRO = {
  env: 'east-gauss2',
  envOptions: { preset: 'equal' },
  minValidMass: 0.05,
  collect: { scenario: 'east-buttons', episodes: 10, horizon: 24, seed: 1000, layers: [5, 10, 15, 20], temperature: 1, prefixNormEpisodes: 3 },
  tune: { seeds: 4, seed: 2000, horizon: 8, strengths: [0.5, 1, 2], maxBrokenRate: 0.1, minValidMassRatio: 0.5 },
  evaluate: { seeds: 20, seed: 3000, horizon: 10, replaySeeds: 10, replayHorizon: 6, temperatures: [1.5, 3], randomDirections: 20, transfer: 'east-slot-machine' },
  thought: { scenario: 'east-buttons-transcript', seeds: 6, seed: 4000, horizon: 4, thoughts: 2, maxThoughtTokens: 20, temperature: 0.7, temperatures: [1.3] },
  sampled: { scenario: 'east-buttons-transcript', seeds: 3, seed: 5000, horizon: 3, samples: 25, maxThoughtTokens: 28, temperature: 0.7, temperatures: [1] },
  /** Words that express uncertainty in a thought (lower-case, matched as substrings). */
  hedges: ['not sure', 'unsure', 'uncertain', "don't know", 'do not know', 'maybe', 'perhaps', 'might', 'explore', 'try'],
};

export type EastCfg = typeof EAST_REPRO;

function seedValues(seed: number, steps: StepRecord[], hedges?: readonly string[]): SeedValues {
  const c = choiceStats(steps);
  const v: SeedValues = { seed, steps: c.steps, entropy: c.entropy, validMass: c.validMass, brokenRate: c.brokenRate, invalidRate: c.invalidRate, regret: c.regret };
  if (hedges) {
    const thoughts = steps.flatMap((s) => s.completions ?? []);
    v.hedgeRate = thoughts.length ? thoughts.filter((t) => hedges.some((h) => t.toLowerCase().includes(h))).length / thoughts.length : null;
    v.parseRate = steps.length ? steps.reduce((a, s) => a + (s.extra?.invalidFraction === undefined ? 0 : 1 - (s.extra.invalidFraction as number)), 0) / steps.length : null;
  }
  return v;
}

export async function reproduceEast(session: ModelSession, outDir: string, log: (s: string) => void, cfg: EastCfg = EAST_REPRO): Promise<EastJson> {
  const t0 = performance.now();
  const env = () => createEnv(cfg.env, cfg.envOptions);
  const buttons = getScenario(cfg.collect.scenario);
  const conditions: Condition[] = [];

  // 1. Collection: z at the last prompt token (the vector), and at the last prefix token (the yardstick).
  log(`collect: ${cfg.collect.episodes} x ${cfg.collect.horizon} steps at layers ${cfg.collect.layers}`);
  const base = { envId: cfg.env, envOptions: cfg.envOptions, scenario: buttons, horizon: cfg.collect.horizon, seed: cfg.collect.seed, layers: cfg.collect.layers, temperature: cfg.collect.temperature };
  const c: Collected = await collectEastRuns(session, { ...base, episodes: cfg.collect.episodes, onEpisode: (k, n) => log(`  episode ${k + 1}: ${n} steps`) });
  const atPrefix = await collectEastRuns(session, { ...base, episodes: cfg.collect.prefixNormEpisodes, zPosition: 'last-prefix' });
  const layers = cfg.collect.layers.map((L) => {
    const runs = c.runs.get(L)!;
    const u = eastVector(runs);
    const d = stepDirection(runs);
    return { layer: L, u, norm: l2(u), promptNorm: typicalNorm(runs), prefixNorm: typicalNorm(atPrefix.runs.get(L)!), cosStep: cosine(u, d), d };
  });
  const at = (L: number) => layers.find((x) => x.layer === L)!;
  /** Strength r: beta · |u| = r · (typical residual norm at the last answer-prefix token). */
  const betaOf = (L: number, r: number) => (r * at(L).prefixNorm) / at(L).norm;
  const sameNorm = (v: Float32Array, L: number) => Float32Array.from(v, (x) => (x * at(L).norm) / l2(v));
  const directions = (L: number) => ({
    east: at(L).u,
    shuffled: shuffledControl(at(L).u, `repro-shuffle-${L}`),
    permuted: sameNorm(permutedEntropyVector(c.runs.get(L)!, `repro-permute-${L}`), L),
    projected: sameNorm(projectOut(at(L).u, at(L).d), L),
  });
  const setting = (L: number, v: Float32Array, r: number, id: string): SteeringSetting => ({ vector: ControlVector.single(L, v, { id }), beta: betaOf(L, r), positions: 'generated' });

  const play = async (label: string, scenarioId: string, seeds: number[], opts: Omit<AgentOptions, 'steering'>, steer: SteeringSetting | null, meta: Omit<Condition, 'label' | 'scenario' | 'mode' | 'perSeed'>, forced?: Map<number, number[]>, hedges?: readonly string[]) => {
    const scenario = getScenario(scenarioId);
    const perSeed: SeedValues[] = [];
    const runs = new Map<number, StepRecord[]>();
    for (const seed of seeds) {
      const r = await runEpisode(session, env(), scenario, seed, { minValidMass: cfg.minValidMass, ...opts, steering: steer, forcedActions: forced?.get(seed) });
      runs.set(seed, r.steps);
      perSeed.push(seedValues(seed, r.steps, hedges));
    }
    const cond: Condition = { label, scenario: scenarioId, mode: opts.mode, ...meta, perSeed };
    conditions.push(cond);
    log(`  ${label}: ${summaryLine(cond)}`);
    return runs;
  };
  const seedsOf = (n: number, from: number) => Array.from({ length: n }, (_, k) => from + k);
  const actionsOf = (runs: Map<number, StepRecord[]>) => new Map([...runs].map(([s, st]) => [s, st.flatMap((x) => (x.action === null ? [] : [x.action]))]));

  // 2. Tuning seeds: unsteered runs, then paired replays of each layer x strength.
  log('tune: layer x strength on tuning seeds (replays of the unsteered histories)');
  const tuneSeeds = seedsOf(cfg.tune.seeds, cfg.tune.seed);
  const exact = { mode: 'exact' as const, temperature: 1 };
  const tuneBase = await play('tune: unsteered', buttons.id, tuneSeeds, { ...exact, horizon: cfg.tune.horizon }, null, { set: 'tune', vector: 'none', layer: null, r: 0, beta: 0, temperature: 1 });
  const tuneForced = actionsOf(tuneBase);
  for (const L of cfg.collect.layers) for (const r of cfg.tune.strengths) {
    await play(`tune: east L${L} r=${r}`, buttons.id, tuneSeeds, { ...exact, horizon: cfg.tune.horizon }, setting(L, at(L).u, r, `east@${L}`), { set: 'tune', vector: 'east', layer: L, r, beta: betaOf(L, r), temperature: 1, replay: true }, tuneForced);
  }
  const tuned = conditions.filter((x) => x.set === 'tune' && x.vector === 'east');
  // Keeping the format: few broken steps, and at least half the unsteered valid mass.
  const baseMass = meanOf(conditions.find((x) => x.label === 'tune: unsteered')!, 'validMass');
  const ok = tuned.filter((x) => mean(x.perSeed.map((s) => s.brokenRate)) <= cfg.tune.maxBrokenRate && meanOf(x, 'validMass') >= cfg.tune.minValidMassRatio * baseMass);
  const pick = (ok.length ? ok : tuned).reduce((a, b) => (meanOf(b, 'entropy') > meanOf(a, 'entropy') ? b : a));
  const choice = { layer: pick.layer!, r: pick.r, keptFormat: ok.length > 0, tried: tuned.length };
  log(`  chosen: layer ${choice.layer}, r = ${choice.r}${choice.keptFormat ? '' : ' (no condition kept the format; the highest-entropy one is used)'}`);

  // 3. Held-out evaluation seeds.
  const L = choice.layer;
  const r = choice.r;
  const dirs = directions(L);
  const evalSeeds = seedsOf(cfg.evaluate.seeds, cfg.evaluate.seed);
  const ev = { ...exact, horizon: cfg.evaluate.horizon };
  log('evaluate: closed loop on held-out seeds');
  const plain = await play('unsteered', buttons.id, evalSeeds, ev, null, { set: 'eval', vector: 'none', layer: null, r: 0, beta: 0, temperature: 1 });
  for (const kind of ['east', 'shuffled', 'permuted', 'projected'] as const) {
    await play(`${kind} L${L} r=${r}`, buttons.id, evalSeeds, ev, setting(L, dirs[kind], r, `${kind}@${L}`), { set: 'eval', vector: kind, layer: L, r, beta: betaOf(L, r), temperature: 1 });
  }
  await play(`east L${L} r=${2 * r}`, buttons.id, evalSeeds, ev, setting(L, dirs.east, 2 * r, `east@${L}`), { set: 'eval', vector: 'east', layer: L, r: 2 * r, beta: betaOf(L, 2 * r), temperature: 1 });
  for (const T of cfg.evaluate.temperatures) {
    await play(`temperature ${T}`, buttons.id, evalSeeds, { ...ev, temperature: T }, null, { set: 'eval', vector: 'none', layer: null, r: 0, beta: 0, temperature: T });
  }
  await play(`transfer: unsteered (${cfg.evaluate.transfer})`, cfg.evaluate.transfer, evalSeeds, ev, null, { set: 'transfer', vector: 'none', layer: null, r: 0, beta: 0, temperature: 1 });
  await play(`transfer: east L${L} r=${r}`, cfg.evaluate.transfer, evalSeeds, ev, setting(L, dirs.east, r, `east@${L}`), { set: 'transfer', vector: 'east', layer: L, r, beta: betaOf(L, r), temperature: 1 });

  log(`evaluate: paired replays of the unsteered histories (${cfg.evaluate.replaySeeds} seeds, first ${cfg.evaluate.replayHorizon} steps), vector vs ${cfg.evaluate.randomDirections} random directions of the same norm`);
  const forced = actionsOf(plain);
  const rp = { ...exact, horizon: cfg.evaluate.replayHorizon };
  const replaySeeds = evalSeeds.slice(0, cfg.evaluate.replaySeeds);
  await play('replay: unsteered', buttons.id, replaySeeds, rp, null, { set: 'replay', vector: 'none', layer: null, r: 0, beta: 0, temperature: 1, replay: true }, forced);
  for (const kind of ['east', 'shuffled', 'permuted', 'projected'] as const) {
    await play(`replay: ${kind} L${L} r=${r}`, buttons.id, replaySeeds, rp, setting(L, dirs[kind], r, `${kind}@${L}`), { set: 'replay', vector: kind, layer: L, r, beta: betaOf(L, r), temperature: 1, replay: true }, forced);
  }
  for (let i = 0; i < cfg.evaluate.randomDirections; i++) {
    const v = randomDirection(session.info.hidden, at(L).norm, `repro-random-${L}-${i}`);
    await play(`replay: random #${i + 1} L${L} r=${r}`, buttons.id, replaySeeds, rp, setting(L, v, r, `random${i + 1}@${L}`), { set: 'replay', vector: 'random', layer: L, r, beta: betaOf(L, r), temperature: 1, replay: true }, forced);
  }

  // 4. Free text where the format holds: thought mode and sampled completions on the transcript wording.
  const th = cfg.thought;
  log(`thought mode on ${th.scenario} (${th.thoughts} thoughts of <= ${th.maxThoughtTokens} tokens)`);
  const thSeeds = seedsOf(th.seeds, th.seed);
  const thOpts = { mode: 'thought' as const, samples: th.thoughts, maxThoughtTokens: th.maxThoughtTokens, horizon: th.horizon };
  await play(`thought: unsteered T=${th.temperature}`, th.scenario, thSeeds, { ...thOpts, temperature: th.temperature }, null, { set: 'thought', vector: 'none', layer: null, r: 0, beta: 0, temperature: th.temperature }, undefined, cfg.hedges);
  await play(`thought: east L${L} r=${r}`, th.scenario, thSeeds, { ...thOpts, temperature: th.temperature }, setting(L, dirs.east, r, `east@${L}`), { set: 'thought', vector: 'east', layer: L, r, beta: betaOf(L, r), temperature: th.temperature }, undefined, cfg.hedges);
  await play(`thought: shuffled L${L} r=${r}`, th.scenario, thSeeds, { ...thOpts, temperature: th.temperature }, setting(L, dirs.shuffled, r, `shuffled@${L}`), { set: 'thought', vector: 'shuffled', layer: L, r, beta: betaOf(L, r), temperature: th.temperature }, undefined, cfg.hedges);
  for (const T of th.temperatures) {
    await play(`thought: temperature ${T}`, th.scenario, thSeeds, { ...thOpts, temperature: T }, null, { set: 'thought', vector: 'none', layer: null, r: 0, beta: 0, temperature: T }, undefined, cfg.hedges);
  }
  const sm = cfg.sampled;
  log(`sampled free text on ${sm.scenario} (${sm.samples} completions per step)`);
  const smSeeds = seedsOf(sm.seeds, sm.seed);
  const smOpts = { mode: 'sampled' as const, samples: sm.samples, maxThoughtTokens: sm.maxThoughtTokens, horizon: sm.horizon };
  const smScenario = sm.scenario;
  await play(`sampled: unsteered T=${sm.temperature}`, smScenario, smSeeds, { ...smOpts, temperature: sm.temperature }, null, { set: 'sampled', vector: 'none', layer: null, r: 0, beta: 0, temperature: sm.temperature }, undefined, cfg.hedges);
  await play(`sampled: east L${L} r=${r}`, smScenario, smSeeds, { ...smOpts, temperature: sm.temperature }, setting(L, dirs.east, r, `east@${L}`), { set: 'sampled', vector: 'east', layer: L, r, beta: betaOf(L, r), temperature: sm.temperature }, undefined, cfg.hedges);
  for (const T of sm.temperatures) {
    await play(`sampled: temperature ${T}`, smScenario, smSeeds, { ...smOpts, temperature: T }, null, { set: 'sampled', vector: 'none', layer: null, r: 0, beta: 0, temperature: T }, undefined, cfg.hedges);
  }

  const json: EastJson = {
    experiment: 'east/2',
    model: { id: session.info.modelId, hash: session.info.hash },
    settings: cfg,
    collection: { steps: c.steps, runs: c.runIds.length },
    layers: layers.map(({ layer, norm, promptNorm, prefixNorm, cosStep }) => ({ layer, norm, promptNorm, prefixNorm, cosStep })),
    choice,
    conditions,
    minutes: (performance.now() - t0) / 60000,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'east.json'), `${JSON.stringify(json, null, 1)}\n`);
  const cv = ControlVector.fromRuns(new Map([[L, c.runs.get(L)!]]), 'east', { model: json.model, sourceRuns: c.runIds, options: { position: 'last-prompt', env: cfg.env, scenario: buttons.id } });
  writeFileSync(join(outDir, `east-vector-L${L}.json`), cv.toJson());
  renderEastReport(outDir, json);
  return json;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
function meanOf(c: Condition, key: 'entropy' | 'validMass'): number {
  return mean(c.perSeed.flatMap((s) => (s[key] === null ? [] : [s[key]!])));
}
function summaryLine(c: Condition): string {
  return `entropy ${meanOf(c, 'entropy').toFixed(3)}, valid mass ${meanOf(c, 'validMass').toFixed(3)}, broken ${mean(c.perSeed.map((s) => s.brokenRate)).toFixed(2)}, invalid ${mean(c.perSeed.map((s) => s.invalidRate)).toFixed(2)}`;
}
