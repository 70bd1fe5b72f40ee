/**
 * V-Reason on the offline default model (SmolLM2-135M-Instruct), with and without it and each
 * ablation, on seeded items (see the README's V-Reason section):
 *  1. the bandit agent in thought mode on the transcript wording (token level, on the thoughts);
 *  2. the action-level variant in exact mode (the lab's extension);
 *  3. a procedurally generated short-answer task ("Which number is larger, a or b?"), greedy;
 *  4. wall-clock per generated token and the tail's memory, against the same runs without it.
 * Every condition keeps per-item values; means come with 95 % intervals. Deterministic.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEpisode } from '../agent/agent.js';
import type { ModelSession } from '../engine/session.js';
import { tailBytes } from '../engine/tail/weights.js';
import { createEnv } from '../envs/registry.js';
import { getScenario } from '../envs/scenario.js';
import { choiceStats } from '../metrics/choice.js';
import { interval95, type Interval } from '../metrics/stats.js';
import { generateWithVReason, type VReasonRecord } from '../steering/vreason/run.js';
import { VREASON_DEFAULTS, type VReasonMode, type VReasonSettings } from '../steering/vreason/settings.js';
import { Rng } from '../util/rng.js';

export const VREASON_REPRO = {
  settings: { ...VREASON_DEFAULTS },
  bandit: { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons-transcript', seeds: 25, seed: 6000, horizon: 2, thoughts: 1, maxThoughtTokens: 20, temperature: 0.7 },
  action: { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons', seeds: 25, seed: 7000, horizon: 2, temperature: 1 },
  task: { items: 50, seed: 8000, maxNewTokens: 6 },
  modes: ['switch', 'down', 'up'] as VReasonMode[],
  /** A stronger setting, for the action level and the short-answer task: does the method move anything at all? */
  strong: { steps: 5, lr: 0.5 },
};

type Cond = { label: string; vreason: VReasonSettings | null; perItem: Record<string, number | null>[]; msPerToken?: number; tokens?: number };

const stat = (c: Cond, k: string): Interval & { n: number } => {
  const xs = c.perItem.flatMap((r) => (r[k] === null || r[k] === undefined ? [] : [r[k]!]));
  return { ...interval95(xs), n: xs.length };
};

/** "Which number is larger (or smaller), a or b?" with a and b in 10..99, a != b; half of each, seeded. */
export function comparisonItems(n: number, seed: number): { prompt: string; answer: number }[] {
  const rng = new Rng(seed).fork('comparison');
  return Array.from({ length: n }, () => {
    const a = 10 + rng.int(90);
    let b = 10 + rng.int(89);
    if (b >= a) b++;
    const w = rng.int(2) ? 'larger' : 'smaller';
    return { prompt: `Question: Which number is ${w}, ${a} or ${b}?\nAnswer: The ${w} number is`, answer: w === 'larger' ? Math.max(a, b) : Math.min(a, b) };
  });
}

export async function reproduceVReason(session: ModelSession, outDir: string, log: (s: string) => void, cfg = VREASON_REPRO) {
  const t0 = performance.now();
  // With --expose-gc (npm run repro:vreason), the RSS figures are after a full collection, so the
  // transient copy of the file read to extract the tail does not count as resident.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rss0 = process.memoryUsage().rss;
  const tail = await session.tail();
  gc?.();
  const memory = { tailBytes: tailBytes(tail), rssBeforeTailMB: rss0 / 2 ** 20, rssAfterTailMB: process.memoryUsage().rss / 2 ** 20, collected: gc !== undefined };
  log(`tail: ${(memory.tailBytes / 2 ** 20).toFixed(1)} MiB; RSS ${memory.rssBeforeTailMB.toFixed(0)} -> ${memory.rssAfterTailMB.toFixed(0)} MiB`);
  const variants: { label: string; v: VReasonSettings | null }[] = [{ label: 'off', v: null }, ...cfg.modes.map((mode) => ({ label: mode, v: { ...cfg.settings, mode } }))];
  const strongLabel = `${cfg.strong.steps} steps, lr ${cfg.strong.lr}`;
  const withStrong = [...variants, ...cfg.modes.map((mode) => ({ label: `${mode} (${strongLabel})`, v: { ...cfg.settings, ...cfg.strong, mode } }))];
  const seeds = (n: number, from: number) => Array.from({ length: n }, (_, k) => from + k);
  const records = (x: unknown): VReasonRecord[] => (Array.isArray(x) ? (x as unknown[]).flat(2) as VReasonRecord[] : x ? [x as VReasonRecord] : []);

  // 1. Bandit, thought mode, token level on the thoughts.
  const b = cfg.bandit;
  const bandit: Cond[] = [];
  for (const { label, v } of variants) {
    const c: Cond = { label, vreason: v, perItem: [] };
    const t = performance.now();
    for (const seed of seeds(b.seeds, b.seed)) {
      const r = await runEpisode(session, createEnv(b.env, b.envOptions), getScenario(b.scenario), seed, { mode: 'thought', samples: b.thoughts, maxThoughtTokens: b.maxThoughtTokens, temperature: b.temperature, horizon: b.horizon, vreason: v });
      const cs = choiceStats(r.steps);
      for (const st of r.steps) {
        const lens = (st.extra?.thoughtTokens as number[] | undefined) ?? [];
        c.perItem.push({ seed, step: st.step, reward: st.reward, invalid: st.valid ? 0 : 1, validMass: st.validMass ?? null, entropy: st.valid ? st.entropy : null, thoughtTokens: lens.length ? lens.reduce((a, x) => a + x, 0) / lens.length : null, updates: records(st.extra?.vreason).filter((x) => x.steps > 0).length });
      }
      c.perItem.push({ seed, step: -1, regret: cs.regret });
    }
    c.msPerToken = (performance.now() - t) / c.perItem.reduce((a, r) => a + (r.thoughtTokens ?? 0), 0);
    bandit.push(c);
    log(`bandit thought ${label}: reward ${stat(c, 'reward').mean.toFixed(2)}, valid mass ${stat(c, 'validMass').mean.toFixed(3)}, entropy ${stat(c, 'entropy').mean.toFixed(3)}, thought ${stat(c, 'thoughtTokens').mean.toFixed(1)} tokens`);
  }

  // 2. Action level, exact mode.
  const a = cfg.action;
  const action: Cond[] = [];
  for (const { label, v } of withStrong) {
    const c: Cond = { label, vreason: v ? { ...v, level: 'action' } : null, perItem: [] };
    for (const seed of seeds(a.seeds, a.seed)) {
      const r = await runEpisode(session, createEnv(a.env, a.envOptions), getScenario(a.scenario), seed, { mode: 'exact', temperature: a.temperature, horizon: a.horizon, vreason: c.vreason });
      const cs = choiceStats(r.steps);
      for (const st of r.steps) {
        const rec = records(st.extra?.vreason)[0];
        c.perItem.push({ seed, step: st.step, reward: st.reward, invalid: st.valid ? 0 : 1, validMass: st.validMass ?? null, entropy: st.valid ? st.entropy : null, entropyBefore: rec?.entropy ?? null, validMassBefore: rec?.validMass ?? null, alpha: rec?.alpha ?? null });
      }
      c.perItem.push({ seed, step: -1, regret: cs.regret });
    }
    action.push(c);
    log(`action-level exact ${label}: entropy ${stat(c, 'entropy').mean.toFixed(3)}, valid mass ${stat(c, 'validMass').mean.toFixed(3)}`);
  }

  // 3. Short-answer comparisons, greedy, token level on the question.
  const items = comparisonItems(cfg.task.items, cfg.task.seed);
  const task: Cond[] = [];
  for (const { label, v } of withStrong) {
    const c: Cond = { label, vreason: v, perItem: [], tokens: 0 };
    const t = performance.now();
    for (const [i, it] of items.entries()) {
      const ids = session.encode(it.prompt);
      const opts = { maxNewTokens: cfg.task.maxNewTokens, temperature: 0, random: () => 0 };
      const r = v ? await generateWithVReason(session, ids, opts, v) : { ...(await session.generate(ids, opts)), vreason: [] };
      r.cache.dispose();
      const got = Number(/\d+/.exec(r.text)?.[0] ?? Number.NaN);
      c.perItem.push({ item: i, correct: got === it.answer ? 1 : 0, tokens: r.ids.length, firstEntropy: r.tokens[0]?.entropy ?? null });
      c.tokens! += r.ids.length;
    }
    c.msPerToken = (performance.now() - t) / c.tokens!;
    task.push(c);
    log(`comparison ${label}: accuracy ${stat(c, 'correct').mean.toFixed(3)}, ${c.msPerToken.toFixed(1)} ms/token`);
  }

  const summarise = (cs: Cond[], keys: string[]) => cs.map((c) => ({ label: c.label, ...Object.fromEntries(keys.map((k) => [k, stat(c, k)])), ...(c.msPerToken ? { msPerToken: c.msPerToken } : {}) }));
  const json = {
    experiment: 'vreason/1',
    model: { id: session.info.modelId, hash: session.info.hash },
    settings: cfg,
    memory: { ...memory, peakRssMB: process.resourceUsage().maxRSS / 1024 },
    bandit: { summary: summarise(bandit, ['reward', 'regret', 'invalid', 'validMass', 'entropy', 'thoughtTokens']), conditions: bandit },
    action: { summary: summarise(action, ['reward', 'regret', 'invalid', 'validMass', 'entropy', 'entropyBefore', 'validMassBefore']), conditions: action },
    task: { summary: summarise(task, ['correct', 'tokens']), conditions: task },
    minutes: (performance.now() - t0) / 60000,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'vreason.json'), `${JSON.stringify(json, null, 1)}\n`);
  writeFileSync(join(outDir, 'vreason.md'), renderVReasonReport(json));
  return json;
}

type Json = Awaited<ReturnType<typeof reproduceVReason>>;
const fmt = (x: { mean: number; lo: number | null; hi: number | null }, d = 3) => (Number.isFinite(x.mean) ? `${x.mean.toFixed(d)}${x.lo === null ? '' : ` [${x.lo.toFixed(d)}, ${x.hi!.toFixed(d)}]`}` : '–');

export function renderVReasonReport(j: Json): string {
  const row = (r: Record<string, unknown>, keys: string[]) => `| ${r.label} | ${keys.map((k) => fmt(r[k] as never)).join(' | ')} |`;
  const off = (xs: { label: string; msPerToken?: number }[]) => xs.find((x) => x.label === 'off')?.msPerToken ?? Number.NaN;
  const s = j.settings.settings;
  return `# V-Reason on ${j.model.id}

Generated by \`npm run repro:vreason\` (${j.minutes.toFixed(1)} min); per-item values are in vreason.json.
Settings: update every ${s.every} generated tokens, ${s.steps} Adam step(s) per update, learning rate ${s.lr},
EMA coefficient ${s.ema}, rows: the ${s.span === 'step' ? "current step's new prompt tokens" : 'whole prompt'}; action level adds ${s.mass} x (-log valid mass).
Conditions: off, switch (the paper's rule), down and up (its ablations). Means with 95 % intervals (t).
Paper (Qwen2.5-VL-7B, video QA): about +1.3 to +1.4 points of accuracy, 58.6 % fewer output tokens than an
RL-trained model, ~1.5x peak memory and >= 20 % more wall-clock than the base model.

## Bandit agent, thought mode (${j.settings.bandit.scenario}, ${j.settings.bandit.seeds} seeds x ${j.settings.bandit.horizon} steps, ${j.settings.bandit.thoughts} thought of <= ${j.settings.bandit.maxThoughtTokens} tokens, T = ${j.settings.bandit.temperature})

| condition | reward | regret (per run) | invalid answers | valid mass | action entropy | thought tokens |
|---|---|---|---|---|---|---|
${j.bandit.summary.map((r) => row(r, ['reward', 'regret', 'invalid', 'validMass', 'entropy', 'thoughtTokens'])).join('\n')}

## Action level, exact mode (${j.settings.action.scenario}, ${j.settings.action.seeds} seeds x ${j.settings.action.horizon} steps)

Entropy and valid mass before the update (the same step's unedited distribution) sit beside the
values after it, so each row carries its own paired control; the histories differ between rows
because the played actions do.

| condition | reward | regret (per run) | invalid answers | valid mass | action entropy | entropy before update | valid mass before update |
|---|---|---|---|---|---|---|---|
${j.action.summary.map((r) => row(r, ['reward', 'regret', 'invalid', 'validMass', 'entropy', 'entropyBefore', 'validMassBefore'])).join('\n')}

## Short answers: "Which number is larger (or smaller), a or b?" (${j.settings.task.items} items, greedy, <= ${j.settings.task.maxNewTokens} tokens)

| condition | accuracy | output tokens | ms per token | vs off |
|---|---|---|---|---|
${j.task.summary.map((r) => `${row(r, ['correct', 'tokens']).slice(0, -1)}| ${(r.msPerToken ?? Number.NaN).toFixed(1)} | ${((r.msPerToken ?? Number.NaN) / off(j.task.summary)).toFixed(2)}x |`).join('\n')}

## Cost

- Thought tokens: ${j.bandit.summary.map((r) => `${r.label} ${(r.msPerToken ?? Number.NaN).toFixed(1)} ms/token (${((r.msPerToken ?? Number.NaN) / off(j.bandit.summary)).toFixed(2)}x)`).join(', ')} (wall-clock of the whole step, scoring included).
- The tail's weights (last block + lm_head, quantised as in the file): ${(j.memory.tailBytes / 2 ** 20).toFixed(1)} MiB; process RSS ${j.memory.rssBeforeTailMB.toFixed(0)} MiB before loading them, ${j.memory.rssAfterTailMB.toFixed(0)} MiB after${j.memory.collected ? ' (each after a full garbage collection)' : ''}; peak RSS of the whole run ${j.memory.peakRssMB.toFixed(0)} MiB.
`;
}
