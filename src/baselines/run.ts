/**
 * Runs a baseline policy on a game and returns trace records (steps, then a summary per episode)
 * in the same format as LLM runs, so the lab's plots and metrics treat both alike.
 *
 * Seeding: episode e is played with env seed `seed + e` (numeric seed) or `${seed}:${e}` (text), so
 * 100 one-episode runs with seeds 0..99 equal one run of 100 episodes from seed 0, and an LLM run
 * that calls env.reset(s) meets the same game instance as the baseline's episode with seed s. The
 * policy draws from new Rng(envSeed).fork('policy:<name>'), independent of the game's own draws.
 */
import { runLoop, type Decision, type EpisodePolicy } from '../episode/loop.js';
import { SteerlabError } from '../errors.js';
import { createEnv } from '../envs/registry';
import { checkFits, getScenario, type Scenario } from '../envs/scenario';
import { isBandit, type Env } from '../envs/types';
import type { TraceRecord } from '../trace/schema';
import { Rng, type Seed } from '../util/rng';
import { EpsilonGreedyPolicy, GreedyPolicy, OptimalPolicy, RandomPolicy, ThompsonPolicy, UcbPolicy, type Policy } from './policies';

export const POLICY_NAMES = ['random', 'greedy', 'eps-greedy', 'ucb', 'ts', 'optimal'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export interface PolicyOptions {
  /** eps-greedy exploration rate (default 0.1). */
  epsilon?: number;
  /** UCB bonus constant C in sqrt(C / n_a) (default 1). */
  c?: number;
  /** Thompson sampling: posterior draws per step for the action distribution (default 1000). */
  mcDraws?: number;
  /** Thompson sampling, Gaussian rewards: prior N(priorMean, priorSd^2) (default N(0, 1000^2), nearly flat). */
  priorMean?: number;
  priorSd?: number;
}

/** A fresh policy for this game. Learning policies need a bandit; random and optimal fit any game. */
export function createPolicy(name: PolicyName, env: Env, opts: PolicyOptions = {}): Policy {
  const K = env.actions().length;
  if (name === 'random') return new RandomPolicy(K);
  if (name === 'optimal') return new OptimalPolicy(env);
  if (!isBandit(env)) {
    throw new SteerlabError('BAD_ARGUMENT', `policy ${name} needs a bandit; ${env.id} is a ${env.kind} game (use random or optimal)`);
  }
  switch (name) {
    case 'greedy':
      return new GreedyPolicy(K);
    case 'eps-greedy':
      return new EpsilonGreedyPolicy(K, opts.epsilon ?? 0.1);
    case 'ucb':
      return new UcbPolicy(K, opts.c ?? 1);
    case 'ts':
      return new ThompsonPolicy(K, { law: env.law, mcDraws: opts.mcDraws ?? 1000, priorMean: opts.priorMean ?? 0, priorSd: opts.priorSd ?? 1000 });
    default:
      throw new SteerlabError('BAD_ARGUMENT', `unknown policy '${String(name)}'; known: ${POLICY_NAMES.join(', ')}`);
  }
}

export interface BaselineOptions {
  seed: Seed;
  /** Overrides the game's horizon (bandit T or grid time limit). */
  horizon?: number;
  /** Episodes to play (default 1). */
  episodes?: number;
  /** Scenario (id or object) whose action labels go into the trace; it must fit the game. */
  scenario?: string | Scenario;
  envOptions?: Record<string, unknown>;
  policyOptions?: PolicyOptions;
}

function episodeSeed(seed: Seed, e: number): Seed {
  return typeof seed === 'number' ? seed + e : `${seed}:${e}`;
}

/** A baseline as an episode policy: a fresh policy and generator per episode, seeded by the episode. */
export class BaselinePolicy implements EpisodePolicy {
  readonly mode = 'baseline' as const;
  private policy!: Policy;
  private rng!: Rng;

  constructor(readonly name: PolicyName, private readonly opts: PolicyOptions = {}) {}

  start(env: Env, seed: Seed): void {
    this.policy = createPolicy(this.name, env, this.opts);
    this.rng = new Rng(seed).fork(`policy:${this.name}`);
  }

  decide(): Decision {
    const { action, probs } = this.policy.decide(this.rng);
    return { probs, action, valid: true, completion: '' };
  }

  observe(action: number, reward: number): void {
    this.policy.update(action, reward);
  }
}

export async function runBaseline(envId: string, policyName: PolicyName, opts: BaselineOptions): Promise<TraceRecord[]> {
  if (!(POLICY_NAMES as readonly string[]).includes(policyName)) {
    throw new SteerlabError('BAD_ARGUMENT', `unknown policy '${policyName}'; known: ${POLICY_NAMES.join(', ')}`);
  }
  const episodes = opts.episodes ?? 1;
  if (!Number.isInteger(episodes) || episodes < 1) throw new SteerlabError('BAD_ARGUMENT', `episodes must be an integer >= 1, got ${episodes}`);
  const env = createEnv(envId, { ...opts.envOptions, ...(opts.horizon === undefined ? {} : { horizon: opts.horizon }) });
  const scenario = typeof opts.scenario === 'string' ? getScenario(opts.scenario) : (opts.scenario ?? null);
  if (scenario) checkFits(scenario, env);
  const records: TraceRecord[] = [];
  for (let e = 0; e < episodes; e++) {
    const r = await runLoop(env, new BaselinePolicy(policyName, opts.policyOptions), { seed: episodeSeed(opts.seed, e), scenario });
    records.push(...r.steps, ...(r.summary ? [r.summary] : []));
  }
  return records;
}
