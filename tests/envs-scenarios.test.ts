import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import {
  answerCompletion,
  buildMessages,
  builtinScenarios,
  checkFits,
  createEnv,
  FROZENLAKE_MAPS,
  getScenario,
  loadScenario,
  parseAction,
  renderFeedback,
  renderSummary,
  scenarioActions,
  type Env,
  type Scenario,
  type StepEvent,
  type Turn,
} from '../src/envs/index';
import { stepFeedback } from '../src/envs/prompt';
import { Rng } from '../src/util/rng';
import eastButtonsJson from '../src/scenarios/east-buttons.json';
import frozenlakeJson from '../src/scenarios/frozenlake-text.json';
import cliffwalkingJson from '../src/scenarios/cliffwalking-text.json';

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

/**
 * The games' feedback sentences as they were written before the wording moved into the scenario
 * JSON: a reference copy of the old rules (moves, slipping draws and sentences), played in lockstep
 * with the env so every composed line can be compared byte for byte.
 */
interface OldStep {
  text: string;
  reward: number;
  row: number;
  col: number;
}

function oldFrozenLake(map: readonly string[], slippery: boolean, horizon: number, seed: number) {
  const labels = ['left', 'down', 'right', 'up'];
  const deltas = [
    [0, -1],
    [1, 0],
    [0, 1],
    [-1, 0],
  ] as const;
  const rng = new Rng(seed).fork('frozenlake');
  const start = map.join('').indexOf('S');
  let row = Math.floor(start / map[0]!.length);
  let col = start % map[0]!.length;
  let t = 0;
  return (action: number): OldStep => {
    const dirs = slippery ? [(action + 3) % 4, action, (action + 1) % 4] : [action];
    const moved = dirs[dirs.length === 1 ? 0 : rng.categorical([1 / 3, 1 / 3, 1 / 3])]!;
    const [r0, c0] = [row, col];
    row = Math.min(map.length - 1, Math.max(0, row + deltas[moved]![0]));
    col = Math.min(map[0]!.length - 1, Math.max(0, col + deltas[moved]![1]));
    t++;
    const here = map[row]![col];
    let text = moved === action ? `You moved ${labels[action]}.` : `You tried to move ${labels[action]} but slipped ${labels[moved]}.`;
    if (row === r0 && col === c0) text += ' You hit the edge and stayed where you were.';
    if (here === 'H') text += ' You fell into a hole. The episode is over.';
    else if (here === 'G') text += ' You reached the goal! The episode is over.';
    else if (t >= horizon) text += ' You are out of moves. The episode is over.';
    return { text, reward: here === 'G' ? 1 : 0, row, col };
  };
}

function oldCliffWalking(horizon: number) {
  const labels = ['up', 'right', 'down', 'left'];
  const deltas = [
    [-1, 0],
    [0, 1],
    [1, 0],
    [0, -1],
  ] as const;
  let row = 3;
  let col = 0;
  let t = 0;
  return (action: number): OldStep => {
    const r1 = Math.min(3, Math.max(0, row + deltas[action]![0]));
    const c1 = Math.min(11, Math.max(0, col + deltas[action]![1]));
    const fell = r1 === 3 && c1 > 0 && c1 < 11;
    const stayed = !fell && r1 === row && c1 === col;
    [row, col] = fell ? [3, 0] : [r1, c1];
    t++;
    const atGoal = row === 3 && col === 11;
    let text = `You moved ${labels[action]}.`;
    if (stayed) text += ' You hit the edge and stayed where you were.';
    if (fell) text += ' You fell off the cliff (reward -100) and are back at the start.';
    if (atGoal) text += ' You reached the goal! The episode is over.';
    else if (t >= horizon) text += ' You are out of moves. The episode is over.';
    return { text, reward: fell ? -100 : -1, row, col };
  };
}

describe('grid feedback wording lives in the scenario', () => {
  /** Plays seeded episodes (mostly optimal moves, some random) and checks each prompt line against the old rule. */
  function compareEpisodes(env: Env, scenarioId: string, seeds: number, old: (seed: number) => (action: number) => OldStep) {
    const s = getScenario(scenarioId);
    const actions = scenarioActions(s, env.actions());
    const labels = env.actions().map((a) => a.label);
    const seen = new Set<StepEvent>();
    let steps = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const initial = env.reset(seed);
      const reference = old(seed);
      const policy = new Rng(`policy-${seed}`);
      const turns: Turn[] = [];
      const expected: string[] = [];
      while (!env.isDone()) {
        const a = policy.next() < 0.6 ? env.optimalAction()! : policy.int(labels.length);
        const r = env.step(a);
        const want = reference(a);
        expect(r.reward).toBe(want.reward);
        expect((env as unknown as { position(): { row: number; col: number } }).position()).toEqual({ row: want.row, col: want.col });
        for (const e of r.events!) seen.add(e);
        const envFeedback = stepFeedback(s, actions, a, r);
        expect(envFeedback).toBe(want.text);
        const turn: Turn = { action: a, valid: true, completion: `Thought: go.\nAction: ${labels[a]}`, reward: r.reward, observation: r.observation, envFeedback };
        const i = turns.length;
        expect(renderFeedback(s, actions, turn, i)).toBe(`${want.text} Reward: ${want.reward}.`);
        expect(renderFeedback(s, actions, { ...turn, valid: false }, i)).toBe(
          `Your answer did not follow the format, so you moved ${labels[a]} at random. ${want.text} Reward: ${want.reward}.`,
        );
        turns.push(turn);
        expected.push(`${want.text} Reward: ${want.reward}.\n\n${r.observation}\nWhich way do you move?`);
        steps++;
      }
      // the whole dialogue prompt: every feedback turn exactly as the old wording produced it
      const msgs = buildMessages(s, env, { initial, turns });
      expect(msgs.filter((m, k) => m.role === 'user' && k > 1).map((m) => m.content)).toEqual(expected);
    }
    // every event the game declares turned up at least once, so every text was compared
    expect([...seen].sort()).toEqual([...env.stepEvents!].sort());
    return steps;
  }

  it('frozenlake 4x4 slippery: composed feedback is byte-identical to the old game sentences', () => {
    const env = createEnv('frozenlake', { map: '4x4', slippery: true, horizon: 12 });
    expect(env.stepEvents).toEqual(['moved', 'slipped', 'edge', 'hole', 'goal', 'out-of-moves']);
    const steps = compareEpisodes(env, 'frozenlake-text', 60, (seed) => oldFrozenLake(FROZENLAKE_MAPS['4x4'], true, 12, seed));
    expect(steps).toBeGreaterThan(200);
  });

  it('frozenlake 8x8 slippery: composed feedback is byte-identical to the old game sentences', () => {
    const env = createEnv('frozenlake', { map: '8x8', slippery: true, horizon: 40 });
    const steps = compareEpisodes(env, 'frozenlake-text', 40, (seed) => oldFrozenLake(FROZENLAKE_MAPS['8x8'], true, 40, seed));
    expect(steps).toBeGreaterThan(200);
  });

  it('frozenlake 4x4 not slippery: no slipped event is declared or reported', () => {
    const env = createEnv('frozenlake', { horizon: 8 });
    expect(env.stepEvents).toEqual(['moved', 'edge', 'hole', 'goal', 'out-of-moves']);
    compareEpisodes(env, 'frozenlake-text', 30, (seed) => oldFrozenLake(FROZENLAKE_MAPS['4x4'], false, 8, seed));
  });

  it('cliffwalking: composed feedback is byte-identical to the old game sentences', () => {
    const env = createEnv('cliffwalking', { horizon: 25 });
    expect(env.stepEvents).toEqual(['moved', 'edge', 'cliff', 'goal', 'out-of-moves']);
    const steps = compareEpisodes(env, 'cliffwalking-text', 30, () => oldCliffWalking(25));
    expect(steps).toBeGreaterThan(200);
  });

  it('bandits report no events; their own line passes through unchanged', () => {
    const env = createEnv('east-gauss2');
    env.reset(0);
    const r = env.step(0);
    expect(r.events).toBeUndefined();
    expect(env.stepEvents).toBeUndefined();
    const east = getScenario('east-buttons');
    expect(stepFeedback(east, scenarioActions(east, env.actions()), 0, r)).toBe(r.feedback);
  });

  it('event texts use the scenario labels: {label} the action taken, {moved} the direction moved', () => {
    const s = loadScenario({ ...structuredClone(frozenlakeJson), actions: { labels: ['west', 'south', 'east', 'north'] } });
    const actions = scenarioActions(s, createEnv('frozenlake').actions());
    expect(stepFeedback(s, actions, 1, { events: ['slipped', 'edge'], moved: 0 })).toBe(
      'You tried to move south but slipped west. You hit the edge and stayed where you were.',
    );
  });

  it('refuses a scenario that lacks a text for an event the game reports, naming the field', () => {
    const noSlip = structuredClone(frozenlakeJson) as Record<string, any>;
    delete noSlip.events.slipped;
    const s = loadScenario(noSlip);
    const slippery = createEnv('frozenlake', { slippery: true });
    const start = slippery.reset(0);
    for (const fn of [() => checkFits(s, slippery), () => buildMessages(s, slippery, { initial: start, turns: [] })]) {
      const err = errorOf(fn);
      expect(err.code).toBe('BAD_SCENARIO');
      expect(err.message).toBe("scenario 'frozenlake-text' does not fit env 'frozenlake': field 'events.slipped' is missing (a text for the game's 'slipped' event)");
    }
    // without slipping the game never reports it, so the scenario fits
    expect(() => checkFits(s, createEnv('frozenlake'))).not.toThrow();
    // composing an event the scenario has no text for fails the same way
    const err = errorOf(() => stepFeedback(s, scenarioActions(s, slippery.actions()), 0, { events: ['slipped'], moved: 1 }));
    expect(err.code).toBe('BAD_SCENARIO');
    expect(err.message).toBe("scenario 'frozenlake-text': field 'events.slipped' is missing (a text for the game's 'slipped' event)");

    const noEvents = structuredClone(cliffwalkingJson) as Record<string, any>;
    delete noEvents.events;
    const cliff = errorOf(() => checkFits(loadScenario(noEvents), createEnv('cliffwalking')));
    expect(cliff.code).toBe('BAD_SCENARIO');
    expect(cliff.message).toMatch(/^scenario 'cliffwalking-text' does not fit env 'cliffwalking': field 'events.moved' is missing/);
    expect(cliff.message).not.toContain('\n');
  });

  it('validates event texts: known events only, and only {label} {n} {moved}', () => {
    const bad = (change: (s: Record<string, any>) => void) => {
      const copy = structuredClone(frozenlakeJson) as Record<string, any>;
      change(copy);
      return errorOf(() => loadScenario(copy));
    };
    const placeholder = bad((s) => (s.events.edge = ' You lost {reward}.'));
    expect(placeholder.code).toBe('BAD_SCENARIO');
    expect(placeholder.message).toBe(
      "scenario 'frozenlake-text': field 'events.edge': unknown placeholder {reward}; allowed: {label} {n} {moved}",
    );
    expect(bad((s) => (s.events.splash = 'Splash.')).message).toMatch(/^scenario 'frozenlake-text': field 'events': Unrecognized key: "splash"/);
  });
});
