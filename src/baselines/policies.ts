/**
 * Model-free reference agents. Each reports its action distribution at every step, so the same
 * entropy trace as for an LLM agent can be drawn:
 *  - random: uniform;
 *  - greedy: plays each untried arm first (uniformly among them), then the best empirical mean,
 *    uniform over ties;
 *  - eps-greedy: the exact mixture eps * uniform + (1 - eps) * greedy;
 *  - ucb: each arm once (lowest index first), then argmax mean + sqrt(C / n_a) (Krishnamurthy et
 *    al.'s bonus, C = 1), lowest index on ties: one-hot;
 *  - ts: Thompson sampling, Beta(1, 1) prior for Bernoulli rewards, Normal prior with known noise
 *    sigma for Gaussian rewards. Its distribution (the chance each arm has the largest posterior
 *    draw) has no closed form; it is estimated from `mcDraws` (default 1000) extra posterior draws
 *    each step, so each entry has standard error at most 1/(2 sqrt(mcDraws)) ~ 0.016. The action
 *    itself comes from one further, independent posterior draw, as in plain Thompson sampling.
 *  - optimal: the game's own optimal action (best arm, or shortest path in grid games): one-hot.
 */
import { SteerlabError } from '../errors.js';
import type { Env, RewardLaw } from '../envs/types';
import type { Rng } from '../util/rng';

export interface Decision {
  action: number;
  /** The distribution the action was drawn from (sums to 1). */
  probs: number[];
}

export interface Policy {
  readonly name: string;
  /** The current action distribution and an action drawn from it. */
  decide(rng: Rng): Decision;
  /** Shorthand for decide(rng).action. */
  act(rng: Rng): number;
  /** What the action just played earned. */
  update(action: number, reward: number): void;
}

/** Counts and reward sums per arm, shared by the bandit policies. */
abstract class ArmStats implements Policy {
  abstract readonly name: string;
  protected readonly n: number[];
  protected readonly sum: number[];

  constructor(protected readonly K: number) {
    if (!Number.isInteger(K) || K < 1) throw new SteerlabError('BAD_ARGUMENT', `a policy needs K >= 1 actions, got ${K}`);
    this.n = new Array<number>(K).fill(0);
    this.sum = new Array<number>(K).fill(0);
  }

  abstract decide(rng: Rng): Decision;

  act(rng: Rng): number {
    return this.decide(rng).action;
  }

  update(action: number, reward: number): void {
    if (!Number.isInteger(action) || action < 0 || action >= this.K) {
      throw new SteerlabError('BAD_ARGUMENT', `${this.name}: action ${action} is not in 0..${this.K - 1}`);
    }
    this.n[action]!++;
    this.sum[action]! += reward;
  }

  protected untried(): number[] {
    return this.n.flatMap((c, i) => (c === 0 ? [i] : []));
  }

  protected mean(a: number): number {
    return this.sum[a]! / this.n[a]!;
  }
}

function uniformOver(K: number, arms: readonly number[]): number[] {
  const p = new Array<number>(K).fill(0);
  for (const a of arms) p[a] = 1 / arms.length;
  return p;
}

function oneHot(K: number, a: number): number[] {
  return uniformOver(K, [a]);
}

/** Indices whose value is within 1e-12 of the maximum. */
function argmaxAll(values: readonly number[]): number[] {
  const best = Math.max(...values);
  return values.flatMap((v, i) => (v >= best - 1e-12 ? [i] : []));
}

export class RandomPolicy extends ArmStats {
  readonly name = 'random';
  decide(rng: Rng): Decision {
    return { action: rng.int(this.K), probs: uniformOver(this.K, [...this.n.keys()]) };
  }
}

export class GreedyPolicy extends ArmStats {
  readonly name: string = 'greedy';
  protected greedyProbs(): number[] {
    const untried = this.untried();
    if (untried.length > 0) return uniformOver(this.K, untried);
    return uniformOver(this.K, argmaxAll(this.n.map((_, a) => this.mean(a))));
  }
  decide(rng: Rng): Decision {
    const probs = this.greedyProbs();
    return { action: rng.categorical(probs), probs };
  }
}

export class EpsilonGreedyPolicy extends GreedyPolicy {
  override readonly name = 'eps-greedy';
  constructor(
    K: number,
    readonly epsilon: number,
  ) {
    super(K);
    if (!(epsilon >= 0 && epsilon <= 1)) throw new SteerlabError('BAD_ARGUMENT', `eps-greedy: epsilon must be in [0, 1], got ${epsilon}`);
  }
  override decide(rng: Rng): Decision {
    const probs = this.greedyProbs().map((g) => this.epsilon / this.K + (1 - this.epsilon) * g);
    return { action: rng.categorical(probs), probs };
  }
}

export class UcbPolicy extends ArmStats {
  readonly name = 'ucb';
  constructor(
    K: number,
    readonly c: number,
  ) {
    super(K);
    if (!(c >= 0) || !Number.isFinite(c)) throw new SteerlabError('BAD_ARGUMENT', `ucb: C must be a finite number >= 0, got ${c}`);
  }
  /** Upper confidence index of each arm; Infinity for untried arms. */
  indices(): number[] {
    return this.n.map((n, a) => (n === 0 ? Number.POSITIVE_INFINITY : this.mean(a) + Math.sqrt(this.c / n)));
  }
  decide(_rng: Rng): Decision {
    const idx = this.indices();
    const action = idx.indexOf(Math.max(...idx)); // lowest index on ties
    return { action, probs: oneHot(this.K, action) };
  }
}

export interface ThompsonOptions {
  law: RewardLaw;
  /** Posterior draws used to estimate the action distribution each step. */
  mcDraws: number;
  /** Gaussian prior N(priorMean, priorSd^2) on each arm mean (Gaussian rewards only). */
  priorMean: number;
  priorSd: number;
}

export class ThompsonPolicy extends ArmStats {
  readonly name = 'ts';
  constructor(
    K: number,
    readonly opts: ThompsonOptions,
  ) {
    super(K);
    if (!Number.isInteger(opts.mcDraws) || opts.mcDraws < 1) {
      throw new SteerlabError('BAD_ARGUMENT', `ts: mcDraws must be an integer >= 1, got ${opts.mcDraws}`);
    }
    if (!(opts.priorSd > 0)) throw new SteerlabError('BAD_ARGUMENT', `ts: priorSd must be > 0, got ${opts.priorSd}`);
  }

  /** One posterior sample of every arm's mean. */
  private sample(rng: Rng): number[] {
    const law = this.opts.law;
    if (law.kind === 'bernoulli') {
      // Beta(1 + successes, 1 + failures); rewards in [0, 1] count fractionally.
      return this.n.map((n, a) => rng.beta(1 + this.sum[a]!, 1 + n - this.sum[a]!));
    }
    const priorPrec = 1 / this.opts.priorSd ** 2;
    const noisePrec = 1 / law.sigma ** 2;
    return this.n.map((n, a) => {
      const prec = priorPrec + n * noisePrec;
      const m = (this.opts.priorMean * priorPrec + this.sum[a]! * noisePrec) / prec;
      return rng.normal(m, 1 / Math.sqrt(prec));
    });
  }

  override update(action: number, reward: number): void {
    if (this.opts.law.kind === 'bernoulli' && !(reward >= 0 && reward <= 1)) {
      throw new SteerlabError('BAD_ARGUMENT', `ts: Bernoulli rewards must be in [0, 1], got ${reward}`);
    }
    super.update(action, reward);
  }

  decide(rng: Rng): Decision {
    const wins = new Array<number>(this.K).fill(0);
    for (let i = 0; i < this.opts.mcDraws; i++) {
      const s = this.sample(rng);
      wins[s.indexOf(Math.max(...s))]!++;
    }
    const draw = this.sample(rng);
    return { action: draw.indexOf(Math.max(...draw)), probs: wins.map((w) => w / this.opts.mcDraws) };
  }
}

/** Plays the game's optimal action (Env.optimalAction); works for bandits and grid games alike. */
export class OptimalPolicy implements Policy {
  readonly name = 'optimal';
  constructor(private readonly env: Env) {}
  decide(_rng: Rng): Decision {
    const action = this.env.optimalAction();
    if (action === null) throw new SteerlabError('BAD_ARGUMENT', `optimal: env ${this.env.id} has no action to take (episode over)`);
    return { action, probs: oneHot(this.env.actions().length, action) };
  }
  act(rng: Rng): number {
    return this.decide(rng).action;
  }
  update(): void {
    // The optimal reference reads the game state directly and learns nothing.
  }
}
