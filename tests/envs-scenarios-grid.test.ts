import { describe, expect, it } from 'vitest';
import { buildMessages, checkFits, createEnv, FROZENLAKE_MAPS, getScenario, loadScenario, renderFeedback, scenarioActions, type Env, type StepEvent, type Turn } from '../src/envs/index';
import { stepFeedback } from '../src/envs/prompt';
import { Rng } from '../src/util/rng';
import frozenlakeJson from '../src/scenarios/frozenlake-text.json';
import cliffwalkingJson from '../src/scenarios/cliffwalking-text.json';
import { errorOf } from './helpers/scenarios.js';

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
