/**
 * CliffWalking as in Gymnasium's toy-text version: a 4 x 12 grid, start at the bottom-left, goal at
 * the bottom-right, the cells between them are a cliff. Every step costs -1; stepping onto the
 * cliff costs -100 and sends the agent back to the start (the episode goes on). Actions 0 up,
 * 1 right, 2 down, 3 left. Rendering follows Gymnasium: x agent, o free, C cliff, T goal.
 *
 * Optimal reference: the shortest path that avoids the cliff (BFS, 13 steps from the start).
 * Dynamics are deterministic and undiscounted, so V*(s) = -(steps to goal) and the regret of an
 * action is exact, in reward units.
 */
import type { Seed } from '../util/rng';
import { bfsDistances, cellIndex, indexCell, moveClamped, renderGrid, type Cell, type Delta } from './grid';
import { GridEpisode } from './episode';
import type { Env, StepEvent, StepResult } from './types';

const ROWS = 4;
const COLS = 12;
const START: Cell = { row: 3, col: 0 };
const GOAL: Cell = { row: 3, col: 11 };
const CLIFF_PENALTY = -100;
const LABELS = ['up', 'right', 'down', 'left'] as const;
const DELTAS: readonly Delta[] = [
  [-1, 0],
  [0, 1],
  [1, 0],
  [0, -1],
];
const MAP: readonly string[] = ['oooooooooooo', 'oooooooooooo', 'oooooooooooo', 'oCCCCCCCCCCT'];

function isCliff(index: number): boolean {
  const { row, col } = indexCell(index, COLS);
  return row === 3 && col > 0 && col < 11;
}

export interface CliffWalkingOptions {
  horizon: number;
}

export class CliffWalking extends GridEpisode implements Env {
  protected readonly labels = LABELS;
  readonly id = 'cliffwalking';
  readonly kind = 'grid' as const;
  readonly horizon: number;
  readonly stepEvents: readonly StepEvent[] = ['moved', 'edge', 'cliff', 'goal', 'out-of-moves'];
  private readonly dist = bfsDistances(ROWS, COLS, [cellIndex(GOAL, COLS)], (i) => !isCliff(i), DELTAS);

  constructor(opts: CliffWalkingOptions) {
    super();
    this.horizon = opts.horizon;
  }

  /** The game is deterministic, so the seed changes nothing; it is accepted for the common interface. */
  reset(_seed: Seed): string {
    this.started = true;
    this.pos = { ...START };
    this.t = 0;
    this.over = false;
    this.obs = this.render();
    return this.obs;
  }

  /** Reward and landing cell of an action from a cell, without moving. */
  private outcome(from: Cell, action: number): { reward: number; to: Cell; fell: boolean } {
    const to = moveClamped(from, DELTAS[action]!, ROWS, COLS);
    if (isCliff(cellIndex(to, COLS))) return { reward: CLIFF_PENALTY, to: { ...START }, fell: true };
    return { reward: -1, to, fell: false };
  }

  /** Q*(s, a) = r + V*(s'), with V*(s) = -(steps to goal) and V*(goal) = 0. */
  private q(from: Cell, action: number): number {
    const { reward, to } = this.outcome(from, action);
    return reward - this.dist[cellIndex(to, COLS)]!;
  }

  step(action: number): StepResult {
    this.beginStep(action);
    const regret = this.actionRegret(action);
    const { reward, to, fell } = this.outcome(this.pos, action);
    const stayed = !fell && to.row === this.pos.row && to.col === this.pos.col;
    this.pos = to;
    this.t++;
    const atGoal = to.row === GOAL.row && to.col === GOAL.col;
    const events: StepEvent[] = ['moved'];
    if (stayed) events.push('edge');
    if (fell) events.push('cliff');
    if (atGoal) events.push('goal');
    else if (this.t >= this.horizon) events.push('out-of-moves');
    this.over = atGoal || this.t >= this.horizon;
    this.obs = this.render();
    return { reward, regret, done: this.over, events, moved: action, observation: this.obs };
  }

  optimalAction(): number | null {
    if (this.isDone()) return null;
    let best = 0;
    for (let a = 1; a < 4; a++) if (this.q(this.pos, a) > this.q(this.pos, best)) best = a;
    return best;
  }

  actionRegret(action: number): number {
    this.checkAction(action);
    const best = Math.max(...[0, 1, 2, 3].map((a) => this.q(this.pos, a)));
    return best - this.q(this.pos, action);
  }


  /** Steps of a shortest cliff-free path from the current cell to the goal. */
  distanceToGoal(): number {
    this.requireStarted();
    return this.dist[cellIndex(this.pos, COLS)]!;
  }

  params(): Record<string, unknown> {
    return { rows: ROWS, cols: COLS, horizon: this.horizon };
  }

  private render(): string {
    const grid = renderGrid(MAP, this.pos, 'x');
    return `${grid}\nYou (x) are at row ${this.pos.row + 1}, column ${this.pos.col + 1}.`;
  }
}
