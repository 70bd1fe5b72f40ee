import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import {
  answerCompletion,
  buildMessages,
  builtinScenarios,
  createEnv,
  getScenario,
  loadScenario,
  parseAction,
  renderFeedback,
  renderSummary,
  scenarioActions,
  type Scenario,
  type Turn,
} from '../src/envs/index';
import eastButtonsJson from '../src/scenarios/east-buttons.json';

const EXPECTED_IDS = [
  'east-buttons',
  'east-slot-machine',
  'krishnamurthy-buttons',
  'krishnamurthy-ads',
  'banditbench-videos',
  'banditbench-clothes',
  'frozenlake-text',
  'cliffwalking-text',
];

function errorOf(fn: () => unknown): SteerlabError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SteerlabError);
    return e as SteerlabError;
  }
  throw new Error('expected a throw');
}

function withChange(change: (s: Record<string, any>) => void): Record<string, any> {
  const copy = structuredClone(eastButtonsJson) as Record<string, any>;
  change(copy);
  return copy;
}

function turn(action: number | null, reward: number, extra: Partial<Turn> = {}): Turn {
  return { action, reward, valid: true, completion: `answer ${action}`, observation: 'obs', envFeedback: 'env says', ...extra };
}

describe('built-in scenarios', () => {
  it('all load and have the expected ids', () => {
    expect(builtinScenarios().map((s) => s.id)).toEqual(EXPECTED_IDS);
  });

  it('every scenario fits its games, and prefix + answer + suffix parses back to each action', () => {
    for (const s of builtinScenarios()) {
      for (const game of s.games) {
        const env = createEnv(game);
        const initial = env.reset(0);
        const actions = scenarioActions(s, env.actions());
        expect(actions).toHaveLength(env.actions().length);
        for (const a of actions) {
          const text = `Thought: let me think about ${actions[0]!.label}.\n${answerCompletion(s, a)}`;
          expect(parseAction(s, text, actions), `${s.id} ${a.label}`).toBe(a.id);
        }
        const msgs = buildMessages(s, env, { initial, turns: [] });
        expect(msgs.at(-1)!.role).toBe('user');
        expect(msgs.map((m) => m.content).join('\n')).not.toMatch(/\{[A-Za-z]+\}/); // no placeholder left
      }
    }
  });

  it('Krishnamurthy colours are cut to K for the easy game', () => {
    const s = getScenario('krishnamurthy-buttons');
    const easy = scenarioActions(s, createEnv('bernoulli-easy').actions());
    expect(easy.map((a) => a.label)).toEqual(['blue', 'green', 'red', 'yellow']);
    expect(easy[2]!.answer).toBe('red');
    const east = scenarioActions(getScenario('east-buttons'), createEnv('east-gauss2').actions());
    expect(east).toEqual([
      { id: 0, label: 'Button 1', answer: '1' },
      { id: 1, label: 'Button 2', answer: '2' },
    ]);
    expect(answerCompletion(getScenario('east-buttons'), east[1]!)).toBe('Action: I choose Button 2.');
  });

  it('getScenario names the known ids when one is missing', () => {
    expect(errorOf(() => getScenario('nope')).message).toMatch(/unknown scenario 'nope'; built in: east-buttons, /);
    // builtins are copies: mutating one does not change the next call
    getScenario('east-buttons').feedback = 'changed';
    expect(getScenario('east-buttons').feedback).not.toBe('changed');
  });
});

describe('loadScenario validation', () => {
  it('accepts JSON text and fills defaults', () => {
    const s = loadScenario(JSON.stringify(eastButtonsJson));
    expect(s.history.summaryLine).toBe('{label}: chosen {count} times with average reward {mean}');
    expect(s.history.meanDecimals).toBe(2);
    expect(s.parser).toMatchObject({ kind: 'regex', occurrence: 'last' });
  });

  const cases: Array<[string, () => unknown, RegExp]> = [
    ['invalid JSON', () => loadScenario('{"id": '), /^scenario is not valid JSON/],
    ['missing field', () => loadScenario(withChange((s) => delete s.feedback)), /^scenario 'east-buttons': field 'feedback': /],
    ['unknown key', () => loadScenario(withChange((s) => (s.colour = 'red'))), /Unrecognized key: "colour"/],
    [
      'unknown placeholder',
      () => loadScenario(withChange((s) => (s.feedback = 'You got {rewards}'))),
      /field 'feedback': unknown placeholder \{rewards\}; allowed: \{label\} \{n\} \{reward\}/,
    ],
    [
      'placeholder not allowed in that field',
      () => loadScenario(withChange((s) => (s.history.header = 'After {step} steps'))),
      /field 'history.header': unknown placeholder \{step\}/,
    ],
    [
      'regex without a capture group',
      () => loadScenario(withChange((s) => (s.parser.pattern = 'Action: \\d+'))),
      /field 'parser.pattern': needs a capture group/,
    ],
    ['broken regex', () => loadScenario(withChange((s) => (s.parser.pattern = 'Action: (\\d+'))), /field 'parser.pattern': not a valid regex/],
    ['bad flag', () => loadScenario(withChange((s) => (s.parser.flags = 'g'))), /field 'parser.flags': only the flags/],
    ['bad style', () => loadScenario(withChange((s) => (s.history.style = 'chat'))), /field 'history.style'/],
    ['bad onInvalid', () => loadScenario(withChange((s) => (s.onInvalid = 'retry'))), /field 'onInvalid'/],
    ['bad id', () => loadScenario(withChange((s) => (s.id = 'East Buttons'))), /field 'id': use lower-case/],
    [
      'duplicate labels',
      () => loadScenario(withChange((s) => (s.actions = { labels: ['Red', 'red'] }))),
      /field 'actions.labels': labels must be unique/,
    ],
    ['no games', () => loadScenario(withChange((s) => (s.games = []))), /field 'games'/],
  ];
  for (const [name, fn, pattern] of cases) {
    it(`rejects ${name} with a one-line BAD_SCENARIO message`, () => {
      const err = errorOf(fn);
      expect(err.code).toBe('BAD_SCENARIO');
      expect(err.message).toMatch(pattern);
      expect(err.message).not.toContain('\n');
    });
  }
});

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
      turns: [{ action: 2, valid: true, completion: 'Action: right', reward: r.reward, observation: r.observation, envFeedback: r.feedback }],
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
