import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { createEnv, EAST_PRESETS, listEnvs } from '../src/envs/registry';
import { isBandit, type BanditEnv, type Env } from '../src/envs/types';
import { FROZENLAKE_MAPS, FrozenLake } from '../src/envs/frozenlake';

function play(env: Env, seed: number, actions: number[]) {
  env.reset(seed);
  return actions.map((a) => env.step(a));
}

function bandit(id: string, options: Record<string, unknown> = {}): BanditEnv {
  const env = createEnv(id, options);
  if (!isBandit(env)) throw new Error('expected a bandit');
  return env;
}

describe('registry', () => {
  it('lists every game with its defaults', () => {
    const ids = listEnvs().map((e) => e.id);
    expect(ids).toEqual(['east-gauss2', 'bernoulli-hard', 'bernoulli-easy', 'gaussian-named', 'frozenlake', 'cliffwalking']);
    const hard = listEnvs().find((e) => e.id === 'bernoulli-hard')!;
    expect(hard.defaults).toMatchObject({ K: 5, delta: 0.2, horizon: 100, shuffle: true });
    expect(listEnvs().find((e) => e.id === 'east-gauss2')!.defaults).toMatchObject({ sigma: 10, horizon: 50 });
  });

  it('rejects unknown games and bad options with a message naming the option', () => {
    expect(() => createEnv('nope')).toThrow(/unknown env 'nope'; known: east-gauss2/);
    expect(() => createEnv('east-gauss2', { sigmaa: 3 })).toThrow('env east-gauss2: options: Unrecognized key: "sigmaa"');
    expect(() => createEnv('east-gauss2', { preset: 'wide' })).toThrow(/^env east-gauss2: option 'preset': Invalid option/);
    expect(() => createEnv('east-gauss2', { preset: 'equal', means: [1, 2] })).toThrow(/either 'preset' or 'means'/);
    expect(() => createEnv('bernoulli-hard', { K: 3, labels: ['a', 'b'] })).toThrow(/'labels': needs exactly K labels/);
    expect(() => createEnv('bernoulli-easy', { delta: 0 })).toThrow(/'delta'/);
    expect(() => createEnv('frozenlake', { map: ['SFF', 'FG'] })).toThrow(/'map': rows must be/);
    expect(() => createEnv('frozenlake', { map: ['SSG'] })).toThrow(/exactly one S/);
    try {
      createEnv('cliffwalking', { horizon: 0 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SteerlabError);
      expect((e as SteerlabError).code).toBe('BAD_ARGUMENT');
    }
  });
});

describe('east-gauss2', () => {
  it('uses the paper presets, horizon 50 and sigma 10', () => {
    const env = bandit('east-gauss2', { preset: '95-105' });
    env.reset(1);
    expect(env.means()).toEqual([95, 105]);
    expect(env.horizon).toBe(50);
    expect(env.params()).toMatchObject({ sigma: 10, preset: '95-105', means: [95, 105] });
    expect(env.bestArms()).toEqual([1]);
    expect(env.optimalAction()).toBe(1);
    expect(env.actionRegret(0)).toBe(10);
    expect(env.actions()).toEqual([
      { id: 0, label: 'Button 1' },
      { id: 1, label: 'Button 2' },
    ]);
    expect(Object.keys(EAST_PRESETS)).toEqual(['equal', '95-105', '99-101', '101-99', '105-95']);
    const equal = bandit('east-gauss2');
    equal.reset(0);
    expect(equal.means()).toEqual([100, 100]);
    expect(equal.bestArms()).toEqual([0, 1]);
    expect(equal.actionRegret(1)).toBe(0);
  });

  it('is reproducible per seed, ends after T steps and has the right reward moments', () => {
    const env = bandit('east-gauss2', { means: [90, 110], horizon: 5 });
    const a = play(env, 3, [0, 1, 0, 1, 1]);
    const b = play(env, 3, [0, 1, 0, 1, 1]);
    expect(a).toEqual(b);
    expect(play(env, 4, [0, 1, 0, 1, 1])).not.toEqual(a);
    expect(a.map((s) => s.done)).toEqual([false, false, false, false, true]);
    expect(a.map((s) => s.regret)).toEqual([20, 0, 20, 0, 0]);
    expect(a[0]!.feedback).toMatch(/^Button 1 gave a reward of -?\d+\.\d\.$/);
    expect(a[0]!.observation).toBe('Round 2 of 5.');
    expect(() => env.step(0)).toThrow(/episode is over/);

    const long = bandit('east-gauss2', { means: [90, 110], horizon: 20000 });
    long.reset('moments');
    const rewards = Array.from({ length: 20000 }, () => long.step(1).reward);
    const mean = rewards.reduce((s, x) => s + x, 0) / rewards.length;
    const sd = Math.sqrt(rewards.reduce((s, x) => s + (x - mean) ** 2, 0) / rewards.length);
    expect(Math.abs(mean - 110)).toBeLessThan(0.3);
    expect(Math.abs(sd - 10)).toBeLessThan(0.3);
  });

  it('rejects actions out of range and steps before reset', () => {
    const env = bandit('east-gauss2');
    expect(() => env.step(0)).toThrow(/reset\(seed\) first/);
    env.reset(0);
    expect(() => env.step(2)).toThrow(/not in 0..1/);
    expect(() => env.step(0.5)).toThrow(SteerlabError);
  });
});

describe('bernoulli bandits', () => {
  it('hard: K = 5, best 0.6, others 0.4, best arm position varies with the seed', () => {
    const env = bandit('bernoulli-hard');
    const bestPositions = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      env.reset(seed);
      const means = env.means();
      expect([...means].sort()).toEqual([0.4, 0.4, 0.4, 0.4, 0.6].map((x) => expect.closeTo(x, 12)));
      expect(env.bestArms()).toHaveLength(1);
      bestPositions.add(env.bestArms()[0]!);
    }
    expect(bestPositions.size).toBe(5);
    env.reset(7);
    const first = env.means();
    env.reset(7);
    expect(env.means()).toEqual(first);
  });

  it('easy: K = 4, best 0.75, others 0.25; rewards are 0/1 with the arm mean', () => {
    const env = bandit('bernoulli-easy', { horizon: 8000, shuffle: false });
    env.reset(2);
    expect(env.means()).toEqual([0.75, 0.25, 0.25, 0.25]);
    expect(env.actionRegret(2)).toBeCloseTo(0.5, 12);
    const rewards = Array.from({ length: 8000 }, () => env.step(0).reward);
    expect(rewards.every((r) => r === 0 || r === 1)).toBe(true);
    expect(Math.abs(rewards.reduce((s, x) => s + x, 0) / 8000 - 0.75)).toBeLessThan(0.02);
  });
});

describe('gaussian-named', () => {
  it('uses the names as labels, draws means per seed, or takes given means', () => {
    const env = bandit('gaussian-named', { names: ['red shirt', 'blue jeans', 'hat'] });
    env.reset(1);
    expect(env.actions().map((a) => a.label)).toEqual(['red shirt', 'blue jeans', 'hat']);
    const m1 = env.means();
    env.reset(2);
    expect(env.means()).not.toEqual(m1);
    const fixed = bandit('gaussian-named', { names: ['a', 'b'], means: [0.5, 2], sigma: 0.1 });
    fixed.reset(0);
    expect(fixed.bestArms()).toEqual([1]);
    expect(fixed.expectedReward(0)).toBe(0.5);
    expect(() => createEnv('gaussian-named', { names: ['a', 'b'], means: [1] })).toThrow(/one mean per name/);
    expect(() => createEnv('gaussian-named', { names: ['a', 'a'] })).toThrow(/unique/);
  });
});

describe('frozenlake', () => {
  it('renders the 4x4 map with the agent and uses Gymnasium action order', () => {
    const env = createEnv('frozenlake');
    const obs = env.reset(0);
    expect(obs).toBe('@FFF\nFHFH\nFFFH\nHFFG\nYou (@) are at row 1, column 1.');
    expect(env.actions().map((a) => a.label)).toEqual(['left', 'down', 'right', 'up']);
    const r = env.step(2);
    expect(r.observation.split('\n')[0]).toBe('S@FF');
    // games report facts, not prose: the scenario words them (tests/envs-scenarios.test.ts)
    expect(r).toMatchObject({ events: ['moved'], moved: 2 });
    expect(r.feedback).toBeUndefined();
    expect(env.step(3)).toMatchObject({ events: ['moved', 'edge'], moved: 3 });
  });

  it('follows the BFS shortest path to the goal in 6 steps with zero regret', () => {
    const env = createEnv('frozenlake') as FrozenLake;
    env.reset(0);
    expect(env.distanceToGoal()).toBe(6);
    let total = 0;
    let steps = 0;
    for (;;) {
      const a = env.optimalAction();
      if (a === null) break;
      const res = env.step(a);
      expect(res.regret).toBeLessThan(1e-12);
      total += res.reward;
      steps++;
    }
    expect(steps).toBe(6);
    expect(total).toBe(1);
    expect(env.position()).toEqual({ row: 3, col: 3 });
    expect(env.optimalAction()).toBeNull();
  });

  it('BFS shortest-path choice agrees with the discounted value iteration on every 8x8 cell', () => {
    const cells = FROZENLAKE_MAPS['8x8'].join('').replace('S', 'F');
    let checked = 0;
    for (let i = 0; i < cells.length; i++) {
      if (cells[i] !== 'F') continue;
      const moved = cells.slice(0, i) + 'S' + cells.slice(i + 1);
      const env = createEnv('frozenlake', { map: Array.from({ length: 8 }, (_, r) => moved.slice(r * 8, r * 8 + 8)) }) as FrozenLake;
      env.reset(0);
      const a = env.optimalAction()!;
      expect(env.actionRegret(a)).toBeLessThan(1e-12);
      // and it really shortens the path by one step
      const d = env.distanceToGoal();
      env.step(a);
      if (!env.isDone()) expect(env.distanceToGoal()).toBe(d - 1);
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('ends the episode in a hole with reward 0 and charges regret for unsafe or longer moves', () => {
    const env = createEnv('frozenlake');
    env.reset(0);
    env.step(2); // (0,1), above the hole at (1,1)
    // moving left or up makes the path longer, moving down falls in the hole: all cost something
    expect(env.actionRegret(1)).toBeGreaterThan(env.actionRegret(0));
    expect(env.actionRegret(0)).toBeGreaterThan(0);
    const res = env.step(1);
    expect(res).toMatchObject({ reward: 0, done: true });
    expect(res.events).toEqual(['moved', 'hole']);
    expect(() => env.step(0)).toThrow(/episode is over/);
  });

  it('slippery: moves as intended about 1/3 of the time, perpendicular otherwise, never backwards', () => {
    const env = createEnv('frozenlake', { slippery: true, map: ['FFF', 'FSF', 'FFG'] });
    const counts = { right: 0, up: 0, down: 0, left: 0 };
    for (let seed = 0; seed < 3000; seed++) {
      env.reset(seed);
      const obs = env.step(2).observation.split('\n');
      if (obs[1] === 'FS@') counts.right++;
      else if (obs[0] === 'F@F') counts.up++;
      else if (obs[2] === 'F@G') counts.down++;
      else counts.left++;
    }
    expect(counts.left).toBe(0);
    for (const k of ['right', 'up', 'down'] as const) expect(Math.abs(counts[k] / 3000 - 1 / 3)).toBeLessThan(0.03);
  });

  it('slippery 4x4: value iteration gives the known optimal policy (gamma 0.99)', () => {
    // The standard answer for slippery 4x4 (states row-major; holes and goal omitted):
    // 0 left, 1-3 up, 4 left, 6 left, 8 up, 9 down, 10 left, 13 right, 14 down.
    const known: Record<number, number> = { 0: 0, 1: 3, 2: 3, 3: 3, 4: 0, 6: 0, 8: 3, 9: 1, 10: 0, 13: 2, 14: 1 };
    for (const [state, action] of Object.entries(known)) {
      // Moving S only changes where the episode starts; S and F behave alike.
      const cells = 'FFFFFHFHFFFHHFFG'.split('');
      cells[Number(state)] = 'S';
      const map = [0, 4, 8, 12].map((i) => cells.slice(i, i + 4).join(''));
      const env = createEnv('frozenlake', { slippery: true, map });
      env.reset(0);
      expect(env.optimalAction(), `state ${state}`).toBe(action);
      expect(env.actionRegret(action)).toBe(0);
    }
    const env = createEnv('frozenlake', { slippery: true });
    env.reset(0);
    expect(env.actionRegret(2)).toBeGreaterThan(0);
  });

  it('is reproducible per seed when slippery', () => {
    const env = createEnv('frozenlake', { slippery: true, map: '8x8', horizon: 30 });
    const run = (seed: number) => {
      env.reset(seed);
      const out: string[] = [];
      while (!env.isDone()) out.push(env.step(1).observation);
      return out;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5).length).toBeLessThanOrEqual(30);
  });

  it('truncates at the horizon', () => {
    const env = createEnv('frozenlake', { horizon: 3 });
    env.reset(0);
    env.step(0);
    env.step(0);
    const last = env.step(0);
    expect(last.done).toBe(true);
    expect(last.events).toEqual(['moved', 'edge', 'out-of-moves']);
  });
});

describe('cliffwalking', () => {
  it('renders like Gymnasium and the optimal path takes 13 steps for a return of -13', () => {
    const env = createEnv('cliffwalking');
    const obs = env.reset(0);
    expect(obs.split('\n').slice(0, 4)).toEqual(['oooooooooooo', 'oooooooooooo', 'oooooooooooo', 'xCCCCCCCCCCT']);
    let ret = 0;
    const path: number[] = [];
    while (!env.isDone()) {
      const a = env.optimalAction()!;
      path.push(a);
      const r = env.step(a);
      expect(r.regret).toBe(0);
      ret += r.reward;
    }
    expect(ret).toBe(-13);
    expect(path).toEqual([0, ...Array(11).fill(1), 2]);
  });

  it('stepping onto the cliff costs -100 and returns to the start, with exact regret', () => {
    const env = createEnv('cliffwalking');
    env.reset(0);
    // from the start, right is the cliff: Q = -100 + V(start) = -113 against V(start) = -13
    expect(env.actionRegret(1)).toBe(100);
    expect(env.actionRegret(3)).toBe(1); // bumping the wall wastes one step
    const r = env.step(1);
    expect(r).toMatchObject({ reward: -100, done: false, regret: 100 });
    expect(r.observation.split('\n')[3]).toBe('xCCCCCCCCCCT');
    expect(r).toMatchObject({ events: ['moved', 'cliff'], moved: 1 });
  });
});
