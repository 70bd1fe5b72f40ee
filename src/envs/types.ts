/**
 * One interface for every game the agent plays. Games are plain, deterministic state machines:
 * all randomness comes from the seed given to reset(), and all wording the agent sees beyond the
 * bare observation lives in scenario JSON (src/scenarios), not here.
 */
import type { Seed } from '../util/rng';

export type EnvKind = 'bandit' | 'grid';

export interface ActionSpec {
  /** 0-based action index, the value passed to step(). */
  readonly id: number;
  /** The game's default name for the action ("Button 1", "left"); a scenario may rename it. */
  readonly label: string;
}

/**
 * What a grid step can report, as facts: the agent moved as asked or slipped to another
 * direction, bumped the edge, fell into a hole, fell off the cliff, reached the goal, or ran out of
 * moves. Scenarios word each one (their `events` texts); games never do.
 */
export const STEP_EVENTS = ['moved', 'slipped', 'edge', 'hole', 'cliff', 'goal', 'out-of-moves'] as const;
export type StepEvent = (typeof STEP_EVENTS)[number];

export interface StepResult {
  reward: number;
  /** True once the episode is over (terminal state or horizon reached); step() then throws until reset(). */
  done: boolean;
  /** Bandits: the game's plain account of the pull ("Button 1 gave a reward of 0.50."). Grid games report `events` instead. */
  feedback?: string;
  /** Grid games: what happened, in the order it happened (e.g. ['moved', 'edge']); see STEP_EVENTS. */
  events?: StepEvent[];
  /** Grid games: the direction actually moved, as an action id (differs from the action taken when the agent slipped). */
  moved?: number;
  /** The observation text after the step. */
  observation: string;
  /**
   * Expected regret of the action just taken, judged at the state it was taken in: for a bandit
   * max_a mu_a - mu_action; for a grid game V*(s) - Q*(s, action). 0 means the action was optimal.
   */
  regret: number;
}

export interface Env {
  readonly id: string;
  readonly kind: EnvKind;
  /** Maximum number of steps in an episode (the bandit horizon T, or a grid game's time limit). */
  readonly horizon: number;
  /** Grid games: every event this game's steps may report, so a scenario can be checked for its texts up front. */
  readonly stepEvents?: readonly StepEvent[];
  /** Starts a new episode; the same seed always gives the same episode for the same actions. */
  reset(seed: Seed): string;
  actions(): ActionSpec[];
  step(action: number): StepResult;
  /** The current observation text (what reset() or the last step() returned). */
  observation(): string;
  /** Steps taken in the current episode. */
  stepCount(): number;
  isDone(): boolean;
  /** An optimal action now (lowest id on ties), or null when the episode is over. */
  optimalAction(): number | null;
  /** Expected regret of taking this action now (see StepResult.regret). */
  actionRegret(action: number): number;
  /** Bandits only: the arm's mean reward. */
  expectedReward?(action: number): number;
  /** The resolved options (defaults filled in, per-seed draws such as shuffled means included). */
  params(): Record<string, unknown>;
}

/** How a bandit's rewards are drawn around the arm means. */
export type RewardLaw = { kind: 'gaussian'; sigma: number } | { kind: 'bernoulli' };

/** A bandit additionally exposes its arm means and reward law, for regret metrics and baselines. */
export interface BanditEnv extends Env {
  readonly kind: 'bandit';
  readonly law: RewardLaw;
  means(): number[];
  /** All arms whose mean equals the best mean (several when means tie). */
  bestArms(): number[];
  expectedReward(action: number): number;
}

export function isBandit(env: Env): env is BanditEnv {
  return env.kind === 'bandit';
}
