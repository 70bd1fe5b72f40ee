/** Thought mode (sample a thought, then score the actions exactly) and the transcript prompt style. */
import { describe, expect, it } from 'vitest';
import { runEpisode } from '../src/agent/agent.js';
import { cutAtStop, mixture } from '../src/agent/thought.js';
import { logSoftmax } from '../src/engine/logits.js';
import { buildMessages } from '../src/envs/prompt.js';
import { createEnv } from '../src/envs/registry.js';
import { getScenario, loadScenario } from '../src/envs/scenario.js';
import { renderTranscript } from '../src/envs/transcript.js';
import { useTinyChar } from './helpers/tiny.js';

describe('thought-mode pieces', () => {
  it('a thought ends before the first stop string', () => {
    expect(cutAtStop(' I will try 2.\nAction: I choose', ['Action:'])).toEqual({ thought: ' I will try 2.\n', stopped: true, by: 'Action:' });
    expect(cutAtStop('abc', ['Action:'])).toEqual({ thought: 'abc', stopped: false, by: null });
    expect(cutAtStop('x\n\nAction: y', ['Action:', '\n\n'])).toEqual({ thought: 'x', stopped: true, by: '\n\n' });
  });

  it('mixture entropy, mean conditional entropy and their gap, by hand', () => {
    const h = (p: number[]) => -p.reduce((s, x) => s + (x > 0 ? x * Math.log(x) : 0), 0);
    const m = mixture([[0.9, 0.1], [0.1, 0.9]]);
    expect(m.probs[0]).toBeCloseTo(0.5, 12);
    expect(m.entropy).toBeCloseTo(Math.log(2), 12);
    expect(m.conditional).toBeCloseTo(h([0.9, 0.1]), 12);
    expect(m.gap).toBeCloseTo(Math.log(2) - h([0.9, 0.1]), 12);
    const same = mixture([[0.3, 0.7], [0.3, 0.7]]);
    expect(same.gap).toBeCloseTo(0, 12);
  });
});

describe('thought mode on a tiny character model', () => {
  const t = useTinyChar();

  it('the action distribution is the mean of the per-thought exact distributions', async () => {
    const scenario = getScenario('east-buttons');
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const r = await runEpisode(t.session, env, scenario, 6, { mode: 'thought', samples: 3, maxThoughtTokens: 8, temperature: 1, horizon: 1, minValidMass: 0 });
    const step = r.steps[0]!;
    expect(step.completions).toHaveLength(3);
    const s = t.session;
    const env2 = createEnv('east-gauss2', { preset: 'equal' });
    const prompt = s.chat(buildMessages(scenario, env2, { initial: env2.reset(6), turns: [] }) as never);
    const per: number[][] = [];
    const masses: number[] = [];
    for (const thought of step.completions!) {
      const head = s.encode(`${prompt}${scenario.thought.prefix}${thought}${scenario.answer.prefix}`);
      const lp = logSoftmax((await s.forward(s.newCache(), head)).logits);
      const p = ['1', '2'].map((a) => Math.exp(lp[s.encode(a)[0]!]!));
      masses.push(p[0]! + p[1]!);
      per.push(p.map((x) => x / (p[0]! + p[1]!)));
    }
    const mean = [0, 1].map((k) => per.reduce((a, p) => a + p[k]!, 0) / 3);
    step.actionProbs!.forEach((p, k) => expect(p).toBeCloseTo(mean[k]!, 5));
    (step.extra!.validMassPerThought as number[]).forEach((m, i) => expect(m).toBeCloseTo(masses[i]!, 5));
    expect(step.extra!.meanConditionalEntropy).toBeGreaterThanOrEqual(0);
    expect(step.config.mode).toBe('thought');
    expect(step.completion).toMatch(/^Thought:.*Action: I choose Button [12]\.$/s);
  });
});

describe('transcript prompt style', () => {
  it('renders system, intro, worked examples and the rounds as one continuing text', () => {
    const base = getScenario('east-buttons');
    const scenario = loadScenario({ ...base, id: 'tr', system: 'SYS', intro: 'INTRO {K}', turnPrompt: 'Round {step}. {observation} Which?', prompt: { style: 'transcript', examples: 'EXAMPLES', agent: 'Agent: ' } });
    const env = createEnv('east-gauss2', { preset: 'equal' });
    const initial = env.reset(0);
    const r1 = env.step(0);
    const history = { initial, turns: [{ action: 0, valid: true, completion: 'Action: I choose Button 1.', reward: r1.reward, observation: r1.observation, envFeedback: '' }] };
    const text = renderTranscript(scenario, env, history);
    const reward = r1.reward.toFixed(1);
    expect(text).toBe(`SYS\n\nINTRO 2\n\nEXAMPLES\n\nRound 1. ${initial} Which?\nAgent: Action: I choose Button 1.\nYou pressed Button 1 and received a reward of ${reward}.\n\nRound 2. ${r1.observation} Which?\nAgent: `);
    expect(renderTranscript(scenario, env, { initial, turns: [] })).toBe(`SYS\n\nINTRO 2\n\nEXAMPLES\n\nRound 1. ${initial} Which?\nAgent: `);
  });
});
