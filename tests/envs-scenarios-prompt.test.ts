import { describe, expect, it } from 'vitest';
import { buildMessages, createEnv, getScenario, loadScenario, parseAction, renderFeedback, renderSummary, scenarioActions, type Scenario, type Turn } from '../src/envs/index';
import { stepFeedback } from '../src/envs/prompt';
import { errorOf, withChange } from './helpers/scenarios.js';

function turn(action: number | null, reward: number, extra: Partial<Turn> = {}): Turn {
  return { action, reward, valid: true, completion: `answer ${action}`, observation: 'obs', envFeedback: 'env says', ...extra };
}

describe('parseAction', () => {
  const east = getScenario('east-buttons');
  const eastActions = scenarioActions(east, createEnv('east-gauss2').actions());
  const k = getScenario('krishnamurthy-buttons');
  const kActions = scenarioActions(k, createEnv('bernoulli-hard').actions());

  it('reads the EAST format, case-insensitively, taking the last Action line', () => {
    expect(parseAction(east, 'Thought: Button 2 paid well.\nAction: I choose Button 2.', eastActions)).toBe(1);
    expect(parseAction(east, 'action: i choose button 1', eastActions)).toBe(0);
    expect(parseAction(east, 'Format is Action: I choose Button 1.\nThought: hmm\nAction: I choose Button 2', eastActions)).toBe(1);
    expect(parseAction(east, 'Action: I choose Button 3.', eastActions)).toBeNull();
    expect(parseAction(east, 'I think Button 1 is best.', eastActions)).toBeNull();
    expect(parseAction(east, '', eastActions)).toBeNull();
  });

  it('reads answer tags by label, ignoring case, spaces and punctuation', () => {
    expect(parseAction(k, 'Let me think... <Answer>Green</Answer>', kActions)).toBe(1);
    expect(parseAction(k, '<Answer> purple. </Answer>', kActions)).toBe(4);
    expect(parseAction(k, '<Answer>**red**</Answer>', kActions)).toBe(2);
    expect(parseAction(k, '<Answer>orange</Answer>', kActions)).toBeNull();
    expect(parseAction(k, '<Answer>blue or red</Answer>', kActions)).toBeNull();
  });

  it("honours occurrence 'first'", () => {
    const first = loadScenario(withChange((s) => (s.parser.occurrence = 'first')));
    expect(parseAction(first, 'Action: I choose Button 1. Action: I choose Button 2.', eastActions)).toBe(0);
  });

  it('label mode: first whole-word label after the marker, longer label on ties', () => {
    const s = loadScenario(
      withChange((x) => {
        x.parser = { kind: 'label', marker: 'Action:' };
        x.actions = { labels: ['light', 'light blue', 'red'] };
        x.games = ['bernoulli-easy'];
      }),
    );
    const actions = scenarioActions(s, [
      { id: 0, label: 'a' },
      { id: 1, label: 'b' },
      { id: 2, label: 'c' },
    ]);
    expect(parseAction(s, 'red is tempting. Action: the light blue one', actions)).toBe(1);
    expect(parseAction(s, 'Action: red, not light', actions)).toBe(2);
    expect(parseAction(s, 'Action: reddish', actions)).toBeNull(); // whole words only
    expect(parseAction(s, 'I pick red', actions)).toBeNull(); // marker missing
  });
});

describe('feedback, summary and messages', () => {
  const east = getScenario('east-buttons');
  const env = createEnv('east-gauss2');
  const initial = env.reset(0);
  const actions = scenarioActions(east, env.actions());

  it('renders feedback with the scenario rounding and the invalid variant', () => {
    expect(renderFeedback(east, actions, turn(0, 103.456), 0)).toBe('You pressed Button 1 and received a reward of 103.5.');
    expect(renderFeedback(east, actions, turn(1, -0.04), 0)).toBe('You pressed Button 2 and received a reward of 0.0.');
    expect(renderFeedback(east, actions, turn(1, 97, { valid: false }), 0)).toBe(
      'Your answer did not follow the format, so Button 2 was pressed at random. You received a reward of 97.0.',
    );
    expect(() => renderFeedback(east, actions, turn(null, 0, { valid: false }), 0)).toThrow(/no action/);
  });

  it('summarises per action like Krishnamurthy et al., and raw lines per step', () => {
    const k = getScenario('krishnamurthy-buttons');
    const kActions = scenarioActions(k, createEnv('bernoulli-easy').actions());
    const turns = [turn(0, 1), turn(0, 0), turn(0, 1), turn(2, 0)];
    expect(renderSummary(k, kActions, turns)).toBe(
      [
        'So far you have played 4 times with your past choices and rewards summarised as follows:',
        'blue button: pressed 3 times with average reward 0.67',
        'green button: pressed 0 times',
        'red button: pressed 1 times with average reward 0.00',
        'yellow button: pressed 0 times',
      ].join('\n'),
    );
    expect(renderSummary(k, kActions, turns.slice(0, 2), 'raw').split('\n').slice(1)).toEqual([
      'blue button, reward 1',
      'blue button, reward 0',
    ]);
  });

  it('dialogue style: user / assistant / user-feedback turns ending on the next question', () => {
    const msgs = buildMessages(east, env, {
      initial,
      turns: [turn(0, 101.24, { completion: 'Thought: try 1.\nAction: I choose Button 1.', observation: 'Round 2 of 50.' })],
    });
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(msgs[1]!.content).toMatch(/^You are in a room with 2 buttons: Button 1, Button 2\./);
    expect(msgs[1]!.content.endsWith('\n\nRound 1 of 50. Which button do you press?')).toBe(true);
    expect(msgs[2]!.content).toBe('Thought: try 1.\nAction: I choose Button 1.');
    expect(msgs[3]!.content).toBe('You pressed Button 1 and received a reward of 101.2.\n\nRound 2 of 50. Which button do you press?');
  });

  it('summary style: one user message, style can be overridden', () => {
    const k = getScenario('krishnamurthy-buttons');
    const hard = createEnv('bernoulli-hard');
    const start = hard.reset(3);
    const turns = [turn(4, 1)];
    const msgs = buildMessages(k, hard, { initial: start, turns });
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user']);
    expect(msgs[1]!.content).toContain('purple button: pressed 1 times with average reward 1.00');
    expect(msgs[1]!.content.endsWith('Which button will you choose next?')).toBe(true);
    expect(buildMessages(k, hard, { initial: start, turns: [] })[1]!.content).not.toContain('So far');
    const asDialogue = buildMessages(k, hard, { initial: start, turns }, 'dialogue');
    expect(asDialogue.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(asDialogue[3]!.content).toMatch(/^You pressed the purple button and got reward 1\./);
  });

  it('grid dialogue shows the board and the game feedback', () => {
    const s = getScenario('frozenlake-text');
    const lake = createEnv('frozenlake');
    const start = lake.reset(0);
    const r = lake.step(2);
    const msgs = buildMessages(s, lake, {
      initial: start,
      turns: [
        {
          action: 2,
          valid: true,
          completion: 'Action: right',
          reward: r.reward,
          observation: r.observation,
          envFeedback: stepFeedback(s, scenarioActions(s, lake.actions()), 2, r),
        },
      ],
    });
    expect(msgs[1]!.content).toContain('@FFF\nFHFH\nFFFH\nHFFG');
    expect(msgs[1]!.content).toContain('left, down, right, up');
    expect(msgs[3]!.content).toBe('You moved right. Reward: 0.\n\nS@FF\nFHFH\nFFFH\nHFFG\nYou (@) are at row 1, column 2.\nWhich way do you move?');
  });

  it('refuses a game the scenario does not fit, short label lists and ended episodes', () => {
    const lake = createEnv('frozenlake');
    lake.reset(0);
    const err = errorOf(() => buildMessages(east, lake, { initial: '', turns: [] }));
    expect(err.code).toBe('BAD_SCENARIO');
    expect(err.message).toBe("scenario 'east-buttons' does not fit env 'frozenlake' (it fits: east-gauss2)");
    const short: Scenario = loadScenario(withChange((s) => (s.actions = { labels: ['x', 'y'] })));
    expect(() => scenarioActions(short, createEnv('bernoulli-easy').actions())).toThrow(/'actions.labels' has 2 labels but the game has 4 actions/);
    expect(() => buildMessages(east, env, { initial, turns: [turn(null, 0, { valid: false })] })).toThrow(/ended there/);
  });
});
