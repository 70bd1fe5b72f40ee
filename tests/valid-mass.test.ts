/**
 * Exact mode measures how much probability the model puts on valid answers at all (valid mass),
 * names the likeliest invalid next token, marks steps under minValidMass as format-broken, and
 * scores answers whose tokens clash through what ends them.
 */
import { describe, expect, it } from 'vitest';
import { runEpisode } from '../src/agent/agent.js';
import { logSoftmax } from '../src/engine/logits.js';
import { buildMessages } from '../src/envs/prompt.js';
import { createEnv } from '../src/envs/registry.js';
import { getScenario, loadScenario } from '../src/envs/scenario.js';
import { fullForwardScores, normalised, useTinyChar } from './helpers/tiny.js';

describe('valid mass and format-broken steps (tiny character model)', () => {
  const t = useTinyChar();

  /** Log-probs after prompt + answer prefix, by one plain forward. */
  async function afterPrefix(scenarioId: string, seed: number, T = 1) {
    const s = t.session;
    const scenario = getScenario(scenarioId);
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const prompt = s.chat(buildMessages(scenario, env, { initial: env.reset(seed), turns: [] }) as never);
    const r = await s.forward(s.newCache(), s.encode(prompt + scenario.answer.prefix));
    return logSoftmax(r.logits, T);
  }

  it('valid mass is the hand-summed probability of the answers, and the likeliest invalid token is named', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const r = await runEpisode(t.session, env, getScenario('east-buttons'), 2, { mode: 'exact', horizon: 1, minValidMass: 0 });
    const lp = await afterPrefix('east-buttons', 2);
    const [one, two] = [t.session.encode('1')[0]!, t.session.encode('2')[0]!];
    const mass = Math.exp(lp[one]!) + Math.exp(lp[two]!);
    expect(r.steps[0]!.validMass).toBeCloseTo(mass, 6);
    expect(r.steps[0]!.valid).toBe(true);
    let best = -1;
    lp.forEach((x, i) => {
      if (i !== one && i !== two && (best < 0 || x > lp[best]!)) best = i;
    });
    expect(r.steps[0]!.extra!.topInvalid).toMatchObject({ token: best });
    expect((r.steps[0]!.extra!.topInvalid as { logprob: number }).logprob).toBeCloseTo(lp[best]!, 6);
  });

  it('valid mass is measured at the temperature in force (per token)', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const r = await runEpisode(t.session, env, getScenario('east-buttons'), 2, { mode: 'exact', horizon: 1, minValidMass: 0, temperature: 0.5 });
    const lp = await afterPrefix('east-buttons', 2, 0.5);
    const mass = Math.exp(lp[t.session.encode('1')[0]!]!) + Math.exp(lp[t.session.encode('2')[0]!]!);
    expect(r.steps[0]!.validMass).toBeCloseTo(mass, 6);
  });

  it('a step under minValidMass is format-broken: invalid, played by the scenario rule for invalid answers', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const ends = await runEpisode(t.session, env, getScenario('east-buttons'), 2, { mode: 'exact', horizon: 4, minValidMass: 0.99 });
    expect(ends.steps).toHaveLength(1);
    expect(ends.steps[0]).toMatchObject({ valid: false, formatBroken: true, action: null, done: true });
    expect(ends.summary!.summary.invalidRate).toBe(1);
    const goesOn = await runEpisode(t.session, env, { ...getScenario('east-buttons'), onInvalid: 'random-arm' }, 2, { mode: 'exact', horizon: 4, minValidMass: 0.99 });
    expect(goesOn.steps).toHaveLength(4);
    for (const s of goesOn.steps) expect(s).toMatchObject({ valid: false, formatBroken: true });
    expect(goesOn.steps.every((s) => s.action !== null)).toBe(true);
    // Under the threshold nothing is marked.
    const fine = await runEpisode(t.session, env, getScenario('east-buttons'), 2, { mode: 'exact', horizon: 2, minValidMass: 0 });
    for (const s of fine.steps) expect(s.formatBroken).toBeUndefined();
  });
});

describe('sampled mode with no parsed answer', () => {
  const t = useTinyChar();

  it('has no action distribution (not a uniform one), and the summary keeps it out of entropy', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const scenario = { ...getScenario('east-buttons'), onInvalid: 'random-arm' as const };
    const r = await runEpisode(t.session, env, scenario, 3, { mode: 'sampled', samples: 3, maxThoughtTokens: 4, temperature: 1, horizon: 2 });
    // Four random characters never spell "Action: I choose Button N".
    for (const s of r.steps) expect(s).toMatchObject({ actionProbs: null, entropy: null, valid: false, extra: { invalidFraction: 1 } });
    expect(r.steps.every((s) => s.action !== null)).toBe(true);
    expect(r.summary!.summary.entropy).toBeNull();
    expect(r.summary!.summary.invalidAnswerRate).toBe(1);
  });
});

describe('answers whose tokens clash', () => {
  const t = useTinyChar();

  const names = Array.from({ length: 12 }, (_, i) => `n${i}`);

  it('without a suffix, "1" and "10" are scored as whole answers through the end of the turn', async () => {
    const base = getScenario('east-buttons');
    const scenario = loadScenario({ ...base, id: 'buttons-12-nosuffix', games: ['gaussian-named'], actions: { template: 'Button {n}' }, answer: { ...base.answer, suffix: '' } });
    const env = createEnv('gaussian-named', { names, horizon: 1 });
    const r = await runEpisode(t.session, env, scenario, 1, { mode: 'exact', horizon: 1, minValidMass: 0 });
    const s = t.session;
    const env2 = createEnv('gaussian-named', { names, horizon: 1 });
    const prompt = s.chat(buildMessages(scenario, env2, { initial: env2.reset(1), turns: [] }) as never);
    const head = s.encode(prompt + scenario.answer.prefix).length;
    const end = s.tokenizer.eosIds[0]!;
    const scores = await fullForwardScores(s, Array.from({ length: 12 }, (_, k) => ({ ids: [...s.encode(`${prompt}${scenario.answer.prefix}${k + 1}`), end], head })));
    normalised(scores).forEach((p, k) => expect(Math.abs(r.steps[0]!.actionProbs![k]! - p)).toBeLessThan(1e-5));
    expect(r.steps[0]!.validMass).toBeCloseTo(scores.reduce((a, b) => a + Math.exp(b), 0), 6);
  });

  it('answers that cannot be told apart are refused with one line', async () => {
    const base = getScenario('east-buttons');
    const scenario = loadScenario({ ...base, id: 'same-answers', games: ['gaussian-named'], actions: { template: 'Button' }, answer: { ...base.answer, text: '{label}', suffix: '' } });
    const env = createEnv('gaussian-named', { names: ['a', 'b'], horizon: 1 });
    await expect(runEpisode(t.session, env, scenario, 1, { mode: 'exact', horizon: 1, minValidMass: 0 })).rejects.toThrow(/^scenario 'same-answers': answers 'Button' and 'Button' cannot be told apart by their tokens, even with the end of the answer$/);
  });
});
