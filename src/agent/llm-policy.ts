/**
 * What both LLM policies share: the prompt of a step (scenario + history through the chat
 * template, tokenised incrementally), the kept prompt cache, the seeded generator, and the
 * residuals recorded for EAST. The decisions themselves live in exact.ts and sampled.ts.
 *
 * Steering positions: 'generated' steers the assistant's turn only (in sampled mode every thought
 * token; in exact mode the answer prefix and the scored action tokens), 'prompt' the prompt only,
 * 'all' both. Each forward is given the step's additions and the engine applies those whose
 * positions cover the forward's region, so the kept cache holds the history exactly as a fresh
 * prefill with the same prompt steering would.
 */
import { SteerlabError } from '../errors.js';
import { residPost } from '../engine/hook-points.js';
import type { ActivationCache } from '../engine/hook-points.js';
import type { ModelSession } from '../engine/session.js';
import { buildMessages } from '../envs/prompt.js';
import { renderTranscript } from '../envs/transcript.js';
import type { HistoryStyle, Scenario } from '../envs/scenario.js';
import type { Env } from '../envs/types.js';
import { Rng, type Seed } from '../util/rng.js';
import type { Decision, EpisodePolicy, StepContext } from '../episode/loop.js';
import { PromptCache } from './prompt-cache.js';
import { TranscriptTokens } from './transcript.js';
import type { VReasonSettings } from '../steering/vreason/settings.js';
import { ActionVReason } from '../steering/vreason/run.js';

export type Mode = 'exact' | 'sampled' | 'thought';
export const MODES: readonly Mode[] = ['exact', 'sampled', 'thought'];
export const DEFAULT_MIN_VALID_MASS = 0.05;

export interface LlmOptions {
  mode: Mode;
  /** Sampled mode: completions per step (EAST: 25); thought mode: thoughts per step (default 5). */
  samples?: number;
  /** Thought mode: steer the thought tokens, the answer positions, or both (default both). */
  thoughtSteering?: 'thought' | 'answer' | 'both';
  /** Sampling temperature of completions (sampled) or of the action distribution (exact). */
  temperature?: number;
  topP?: number;
  /** How the played action is chosen from the exact distribution. */
  actionPolicy?: 'sample' | 'greedy';
  maxThoughtTokens?: number;
  /** Layers whose residual (blocks.{L}.hook_resid_post) is kept per step, for EAST. */
  recordLayers?: number[];
  /** Where it is read: the last prompt token (the paper's choice) or, in exact mode, the last answer-prefix token. */
  zPosition?: 'last-prompt' | 'last-prefix';
  /** Keep the prompt's KV cache across steps (default true; false re-runs the full prompt). */
  reuseCache?: boolean;
  historyStyle?: HistoryStyle;
  /**
   * Exact mode: a step whose valid mass (the probability of any valid answer before renormalising,
   * at the temperature in force) is below this is format-broken: it counts as invalid and its
   * entropy is not a choice (default 0.05).
   */
  minValidMass?: number;
  /**
   * Exact mode, for paired comparisons: play these actions (by step) instead of the model's own
   * choice, so every condition is measured on the same histories (teacher forcing).
   */
  forcedActions?: readonly number[];
  /** config.policy in the trace (default llm-sample-T{T} / llm-greedy-T0). */
  policyName?: string;
  /**
   * V-Reason: token level acts on generated thoughts/completions (thought and sampled modes),
   * action level on the exact action distribution (exact and thought modes). Null: off.
   */
  vreason?: VReasonSettings | null | (() => VReasonSettings | null);
}

export abstract class LlmPolicy implements EpisodePolicy {
  readonly name: string;
  readonly mode: Mode;
  /** Per step: one residual per recorded layer (same order as recordLayers). */
  readonly hidden: Float32Array[][] = [];
  protected rng!: Rng;
  protected cache!: PromptCache;
  protected tokens!: TranscriptTokens;
  protected readonly T: number;
  protected readonly recordLayers: number[];

  constructor(protected readonly session: ModelSession, protected readonly scenario: Scenario, protected readonly o: LlmOptions) {
    this.mode = o.mode;
    this.T = o.temperature ?? 1;
    this.name = o.policyName ?? `llm-${this.T > 0 ? 'sample' : 'greedy'}-T${this.T}`;
    this.recordLayers = o.recordLayers ?? [];
    for (const l of this.recordLayers) if (l < 0 || l >= session.info.layers) throw new SteerlabError('BAD_ARGUMENT', `record layer ${l} is outside 0..${session.info.layers - 1}`);
    if (typeof o.vreason !== 'function') this.checkVr(o.vreason ?? null);
  }

  private checkVr(v: VReasonSettings | null): VReasonSettings | null {
    if (v && v.level === 'token' && this.mode === 'exact') throw new SteerlabError('BAD_ARGUMENT', "V-Reason level 'token' needs generated text: use mode thought or sampled, or level=action");
    if (v && v.level === 'action' && this.mode === 'sampled') throw new SteerlabError('BAD_ARGUMENT', "V-Reason level 'action' needs an exact action distribution: use mode exact or thought");
    return v;
  }

  /** The V-Reason settings in force at this step (a function: live control from the worker). */
  protected get vr(): VReasonSettings | null {
    const v = this.o.vreason;
    return typeof v === 'function' ? this.checkVr(v()) : (v ?? null);
  }

  /** Action-level V-Reason for this episode (its sign rule runs across the steps), when on. */
  protected vrAction: ActionVReason | null = null;

  /** V-Reason's rows for a step: this step's new prompt tokens, or the whole prompt. */
  protected vrSpan(reused: number, promptLen: number): { start: number; end: number } {
    return { start: this.vr?.span === 'prompt' ? 0 : Math.min(reused, promptLen - 1), end: promptLen };
  }

  /** Before a decision: the action-level controller exists while action level is on (its sign rule runs across steps). */
  protected async vrStart(): Promise<VReasonSettings | null> {
    const v = this.vr;
    if (v?.level === 'action') {
      if (!this.vrAction) this.vrAction = await ActionVReason.create(this.session, v);
      this.vrAction.settings = v;
    }
    this.vrActive = v?.level === 'action' ? this.vrAction : null;
    return v;
  }

  /** The action-level controller for this decision (null: off now). */
  protected vrActive: ActionVReason | null = null;


  start(_env: Env, seed: Seed): void {
    this.rng = new Rng(seed).fork(`agent:${this.mode}`);
    this.cache = new PromptCache(this.session, this.o.reuseCache ?? true);
    this.tokens = new TranscriptTokens(this.session.tokenizer);
    this.vrAction = null;
  }

  abstract decide(ctx: StepContext): Promise<Decision>;

  /**
   * The step's prompt text and ids: the transcript so far, ending where the agent writes (the chat
   * template's assistant header, or the scenario's agent marker in transcript style).
   */
  protected prompt(ctx: StepContext): { text: string; ids: number[] } {
    const style = this.o.historyStyle ?? this.scenario.history.style;
    const text =
      this.scenario.prompt.style === 'transcript'
        ? renderTranscript(this.scenario, ctx.env, ctx.history, style)
        : this.session.chat(buildMessages(this.scenario, ctx.env, ctx.history, style), true);
    return { text, ids: this.tokens.encode(text) };
  }

  /** Keeps the recorded layers' residuals at read position `index` of a forward. */
  protected record(acts: ActivationCache, index = 0): void {
    if (this.recordLayers.length) this.hidden.push(this.recordLayers.map((l) => acts.row(residPost(l), index)));
  }

  protected get readLayers() {
    return this.recordLayers.map(residPost);
  }

  dispose(): void {
    this.cache?.dispose();
  }
}
