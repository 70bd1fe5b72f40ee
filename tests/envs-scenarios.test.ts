import { describe, expect, it } from 'vitest';
import { answerCompletion, buildMessages, builtinScenarios, createEnv, getScenario, loadScenario, parseAction, scenarioActions } from '../src/envs/index';
import eastButtonsJson from '../src/scenarios/east-buttons.json';
import { errorOf, withChange } from './helpers/scenarios.js';

const EXPECTED_IDS = [
  'east-buttons',
  'east-buttons-transcript',
  'east-slot-machine',
  'krishnamurthy-buttons',
  'krishnamurthy-ads',
  'banditbench-videos',
  'banditbench-clothes',
  'frozenlake-text',
  'cliffwalking-text',
];

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
