/**
 * K-armed bandits with Gaussian or Bernoulli rewards. One class: the reward law and how the arm
 * means are chosen at reset (fixed, shuffled, or drawn) are passed in, so every bandit game shares
 * the same step/regret/observation code.
 */
import { SteerlabError } from '../errors.js';
import { Rng, type Seed } from '../util/rng';
import { Episode } from './episode';
import type { ActionSpec, BanditEnv, RewardLaw, StepResult } from './types';

export interface BanditSpec {
  id: string;
  labels: string[];
  horizon: number;
  law: RewardLaw;
  /** Arm means for one episode, from that episode's rng (fixed means just ignore it). */
  meansFor(rng: Rng): number[];
  /** Decimals shown in the game's own feedback line (the exact reward is what step() returns). */
  feedbackDecimals: number;
  /** Extra resolved options reported by params(). */
  extraParams?: Record<string, unknown>;
}

export class Bandit extends Episode implements BanditEnv {
  readonly kind = 'bandit' as const;
  readonly id: string;
  readonly horizon: number;
  readonly law: RewardLaw;
  private readonly spec: BanditSpec;
  private armMeans: number[] = [];
  private rng: Rng | null = null;

  constructor(spec: BanditSpec) {
    super();
    if (spec.labels.length < 2) throw new SteerlabError('BAD_ARGUMENT', `env ${spec.id}: a bandit needs at least 2 arms`);
    this.spec = spec;
    this.id = spec.id;
    this.horizon = spec.horizon;
    this.law = spec.law;
  }

  reset(seed: Seed): string {
    this.started = true;
    this.rng = new Rng(seed).fork(this.id);
    const means = this.spec.meansFor(this.rng.fork('means'));
    if (means.length !== this.spec.labels.length) {
      throw new SteerlabError('BAD_ARGUMENT', `env ${this.id}: ${means.length} means for ${this.spec.labels.length} arms`);
    }
    this.armMeans = means;
    this.t = 0;
    this.obs = this.roundText();
    return this.obs;
  }

  actions(): ActionSpec[] {
    return this.spec.labels.map((label, id) => ({ id, label }));
  }

  means(): number[] {
    this.requireStarted();
    return [...this.armMeans];
  }

  bestArms(): number[] {
    const best = Math.max(...this.means());
    return this.armMeans.flatMap((m, i) => (m === best ? [i] : []));
  }

  expectedReward(action: number): number {
    this.checkAction(action);
    return this.armMeans[action]!;
  }

  actionRegret(action: number): number {
    this.checkAction(action);
    return Math.max(...this.armMeans) - this.armMeans[action]!;
  }

  optimalAction(): number | null {
    if (this.isDone()) return null;
    return this.bestArms()[0]!;
  }

  step(action: number): StepResult {
    this.checkAction(action);
    if (this.isDone()) throw new SteerlabError('BAD_ARGUMENT', `env ${this.id}: the episode is over; call reset(seed)`);
    const rng = this.rng!;
    const mean = this.armMeans[action]!;
    const law = this.spec.law;
    const reward = law.kind === 'gaussian' ? rng.normal(mean, law.sigma) : rng.next() < mean ? 1 : 0;
    const regret = this.actionRegret(action);
    this.t++;
    this.obs = this.isDone() ? `All ${this.horizon} rounds are done.` : this.roundText();
    const shown = reward.toFixed(this.spec.feedbackDecimals);
    return {
      reward,
      regret,
      done: this.isDone(),
      feedback: `${this.spec.labels[action]} gave a reward of ${shown}.`,
      observation: this.obs,
    };
  }

  isDone(): boolean {
    this.requireStarted();
    return this.t >= this.horizon;
  }

  params(): Record<string, unknown> {
    this.requireStarted();
    const law = this.spec.law;
    return {
      means: [...this.armMeans],
      ...(law.kind === 'gaussian' ? { sigma: law.sigma } : {}),
      horizon: this.horizon,
      labels: [...this.spec.labels],
      ...this.spec.extraParams,
    };
  }

  private roundText(): string {
    return `Round ${this.t + 1} of ${this.horizon}.`;
  }

  protected actionCount(): number {
    return this.spec.labels.length;
  }
}
