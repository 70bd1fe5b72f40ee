/**
 * FrozenLake as in Gymnasium's toy-text version: S start, F frozen, H hole (episode ends, reward 0),
 * G goal (episode ends, reward 1); actions 0 left, 1 down, 2 right, 3 up. When slippery, the agent
 * moves in the intended direction or either perpendicular one with probability 1/3 each.
 *
 * Optimal reference: without slipping, the first step of a shortest path (BFS, holes impassable);
 * with slipping, the greedy action of value iteration. Regret is V*(s) - Q*(s, a) under discount
 * `gamma` (default 0.99): without discounting every safe detour would tie with the shortest path.
 */
import { SteerlabError } from '../errors.js';
import { Rng, type Seed } from '../util/rng';
import { bfsDistances, cellIndex, indexCell, moveClamped, renderGrid, type Delta } from './grid';
import { GridEpisode } from './episode';
import type { Env, StepEvent, StepResult } from './types';

export const FROZENLAKE_MAPS: Record<'4x4' | '8x8', readonly string[]> = {
  '4x4': ['SFFF', 'FHFH', 'FFFH', 'HFFG'],
  '8x8': ['SFFFFFFF', 'FFFFFFFF', 'FFFHFFFF', 'FFFFFHFF', 'FFFHFFFF', 'FHHFFFHF', 'FHFFHFHF', 'FFFHFFFG'],
};

const LABELS = ['left', 'down', 'right', 'up'] as const;
const DELTAS: readonly Delta[] = [
  [0, -1],
  [1, 0],
  [0, 1],
  [-1, 0],
];

export interface FrozenLakeOptions {
  map: readonly string[];
  slippery: boolean;
  horizon: number;
  gamma: number;
}

/** Checks a map: rectangular, only S/F/H/G, exactly one S, at least one G. */
export function checkFrozenLakeMap(map: readonly string[]): void {
  const bad = (why: string): never => {
    throw new SteerlabError('BAD_ARGUMENT', `env frozenlake: option 'map': ${why}`);
  };
  if (map.length === 0) bad('needs at least one row');
  const cols = map[0]!.length;
  if (map.some((r) => r.length !== cols || cols === 0)) bad('rows must be non-empty and of equal length');
  if (map.some((r) => /[^SFHG]/.test(r))) bad('cells must be S, F, H or G');
  if (map.join('').split('S').length !== 2) bad('needs exactly one S');
  if (!map.join('').includes('G')) bad('needs at least one G');
}

export class FrozenLake extends GridEpisode implements Env {
  protected readonly labels = LABELS;
  readonly id = 'frozenlake';
  readonly kind = 'grid' as const;
  readonly horizon: number;
  readonly stepEvents: readonly StepEvent[];
  private readonly opts: FrozenLakeOptions;
  private readonly rows: number;
  private readonly cols: number;
  private readonly cells: string;
  /** Q*[s][a] under the env's own dynamics and gamma. */
  private readonly q: number[][];
  /** BFS steps to the goal, used for the non-slippery optimal action. */
  private readonly dist: number[];
  private rng: Rng | null = null;

  constructor(opts: FrozenLakeOptions) {
    super();
    checkFrozenLakeMap(opts.map);
    this.opts = opts;
    this.horizon = opts.horizon;
    this.rows = opts.map.length;
    this.cols = opts.map[0]!.length;
    this.cells = opts.map.join('');
    this.stepEvents = [
      'moved',
      ...(opts.slippery ? (['slipped'] as const) : []),
      'edge',
      ...(this.cells.includes('H') ? (['hole'] as const) : []),
      'goal',
      'out-of-moves',
    ];
    const goals = [...this.cells].flatMap((c, i) => (c === 'G' ? [i] : []));
    this.dist = bfsDistances(this.rows, this.cols, goals, (i) => this.cells[i] !== 'H', DELTAS);
    this.q = this.valueIteration();
  }

  /** Outcomes of action a from state s: [probability, next state, direction actually moved]. */
  private transitions(s: number, a: number): Array<[number, number, number]> {
    const cell = indexCell(s, this.cols);
    // Gymnasium's order: (a - 1) mod 4, a, (a + 1) mod 4.
    const dirs = this.opts.slippery ? [(a + 3) % 4, a, (a + 1) % 4] : [a];
    return dirs.map((d) => [1 / dirs.length, cellIndex(moveClamped(cell, DELTAS[d]!, this.rows, this.cols), this.cols), d]);
  }

  private isTerminal(s: number): boolean {
    const c = this.cells[s];
    return c === 'H' || c === 'G';
  }

  private valueIteration(): number[][] {
    const n = this.cells.length;
    const gamma = this.opts.gamma;
    let v = new Array<number>(n).fill(0);
    const q = Array.from({ length: n }, () => [0, 0, 0, 0]);
    for (let iter = 0; iter < 100_000; iter++) {
      let change = 0;
      const next = new Array<number>(n).fill(0);
      for (let s = 0; s < n; s++) {
        if (this.isTerminal(s)) continue;
        for (let a = 0; a < 4; a++) {
          let value = 0;
          for (const [p, s2] of this.transitions(s, a)) {
            const reward = this.cells[s2] === 'G' ? 1 : 0;
            value += p * (reward + (this.isTerminal(s2) ? 0 : gamma * v[s2]!));
          }
          q[s]![a] = value;
        }
        next[s] = Math.max(...q[s]!);
        change = Math.max(change, Math.abs(next[s]! - v[s]!));
      }
      v = next;
      if (change < 1e-13) break;
    }
    return q;
  }

  reset(seed: Seed): string {
    this.started = true;
    this.rng = new Rng(seed).fork(this.id);
    this.pos = indexCell(this.cells.indexOf('S'), this.cols);
    this.t = 0;
    this.over = false;
    this.obs = this.render();
    return this.obs;
  }

  step(action: number): StepResult {
    this.beginStep(action);
    const regret = this.actionRegret(action);
    const outcomes = this.transitions(this.state(), action);
    const pick = outcomes.length === 1 ? 0 : this.rng!.categorical(outcomes.map(([p]) => p));
    const [, target, moved] = outcomes[pick]!;
    const before = this.state();
    this.pos = indexCell(target, this.cols);
    this.t++;
    const here = this.cells[this.state()];
    const reward = here === 'G' ? 1 : 0;
    const events: StepEvent[] = [moved === action ? 'moved' : 'slipped'];
    if (this.state() === before) events.push('edge');
    if (here === 'H') events.push('hole');
    else if (here === 'G') events.push('goal');
    else if (this.t >= this.horizon) events.push('out-of-moves');
    this.over = here === 'H' || here === 'G' || this.t >= this.horizon;
    this.obs = this.render();
    return { reward, regret, done: this.over, events, moved, observation: this.obs };
  }

  optimalAction(): number | null {
    if (this.isDone()) return null;
    const s = this.state();
    if (!this.opts.slippery && Number.isFinite(this.dist[s])) {
      const cell = indexCell(s, this.cols);
      let best = 0;
      let bestDist = Number.POSITIVE_INFINITY;
      for (let a = 0; a < 4; a++) {
        const d = this.dist[cellIndex(moveClamped(cell, DELTAS[a]!, this.rows, this.cols), this.cols)]!;
        if (d < bestDist) [best, bestDist] = [a, d];
      }
      return best;
    }
    return argmax(this.q[s]!);
  }

  actionRegret(action: number): number {
    this.checkAction(action);
    const q = this.q[this.state()]!;
    return Math.max(...q) - q[action]!;
  }


  /** Steps of a shortest safe path to the goal from the current cell (Infinity if none). */
  distanceToGoal(): number {
    this.requireStarted();
    return this.dist[this.state()]!;
  }

  params(): Record<string, unknown> {
    return { map: [...this.opts.map], slippery: this.opts.slippery, horizon: this.horizon, gamma: this.opts.gamma };
  }

  private state(): number {
    return cellIndex(this.pos, this.cols);
  }

  private render(): string {
    const grid = renderGrid(this.opts.map, this.pos, '@');
    return `${grid}\nYou (@) are at row ${this.pos.row + 1}, column ${this.pos.col + 1}.`;
  }
}

/** Index of the largest value, lowest index on ties. */
function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}
