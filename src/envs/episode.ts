/**
 * Bookkeeping every game shares: whether reset() has run, the step counter, the current
 * observation text, and the argument checks. Games extend this and keep only their dynamics.
 */
import { SteerlabError } from '../errors.js';
import type { Cell } from './grid';
import type { ActionSpec } from './types';

export abstract class Episode {
  abstract readonly id: string;
  protected started = false;
  protected t = 0;
  protected obs = '';

  /** Number of actions, for checkAction. */
  protected abstract actionCount(): number;

  observation(): string {
    this.requireStarted();
    return this.obs;
  }

  stepCount(): number {
    return this.t;
  }

  protected requireStarted(): void {
    if (!this.started) throw new SteerlabError('BAD_ARGUMENT', `env ${this.id}: call reset(seed) first`);
  }

  protected checkAction(action: number): void {
    this.requireStarted();
    const K = this.actionCount();
    if (!Number.isInteger(action) || action < 0 || action >= K) {
      throw new SteerlabError('BAD_ARGUMENT', `env ${this.id}: action ${action} is not in 0..${K - 1}`);
    }
  }
}

/** Grid games: a position, an end flag, and named moves. */
export abstract class GridEpisode extends Episode {
  protected pos: Cell = { row: 0, col: 0 };
  protected over = false;
  protected abstract readonly labels: readonly string[];

  actions(): ActionSpec[] {
    return this.labels.map((label, id) => ({ id, label }));
  }

  isDone(): boolean {
    this.requireStarted();
    return this.over;
  }

  /** Current cell, 0-based. */
  position(): Cell {
    this.requireStarted();
    return { ...this.pos };
  }

  protected actionCount(): number {
    return this.labels.length;
  }

  /** An action may be taken: started, valid, and the episode not over. */
  protected beginStep(action: number): void {
    this.checkAction(action);
    if (this.over) throw new SteerlabError('BAD_ARGUMENT', `env ${this.id}: the episode is over; call reset(seed)`);
  }
}
