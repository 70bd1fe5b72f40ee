/**
 * Thought mode: each step samples M thoughts (the model's free text after the scenario's thought
 * prefix, up to N tokens, ended by the scenario's stop strings), then appends the fixed answer
 * prefix and scores every action exactly given that thought. The action distribution is the
 * mixture mean_m p(a | thought_m); the trace keeps its entropy, the mean conditional entropy and
 * their difference (how much the thoughts disagree), the valid mass per thought, and the thoughts.
 * The played action is drawn from one (seeded) thought's own distribution.
 *
 * Steering acts on the thought tokens, on the answer positions (prefix and scored actions), or
 * both (`thoughtSteering`); its `positions` still decide between prompt and generated forwards.
 */
import { answerCompletion } from '../envs/scenario.js';
import { entropy } from '../metrics/entropy.js';
import { settingHooks } from '../steering/control-vector.js';
import type { Decision, StepContext } from '../episode/loop.js';
import { argmax, ExactPolicy } from './exact.js';
import { DEFAULT_MIN_VALID_MASS } from './llm-policy.js';
import { tailHook, TokenVReason, type VReasonRecord } from '../steering/vreason/run.js';
import type { GeneratedToken } from '../engine/session.js';
import { TOP_ALTERNATIVES, tokenView } from './token-view.js';

export type ThoughtSteering = 'thought' | 'answer' | 'both';
export const THOUGHT_STEERING: readonly ThoughtSteering[] = ['thought', 'answer', 'both'];

/** The thought text up to (not including) the first stop string, and which one ended it (null: none). */
export function cutAtStop(text: string, stops: readonly string[]): { thought: string; stopped: boolean; by: string | null } {
  let at = -1;
  let by: string | null = null;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) [at, by] = [i, s];
  }
  return at < 0 ? { thought: text, stopped: false, by: null } : { thought: text.slice(0, at), stopped: true, by };
}

/** The mixture of per-thought distributions, its entropy, the mean conditional entropy and their gap. */
export function mixture(dists: readonly number[][]): { probs: number[]; entropy: number; conditional: number; gap: number } {
  const K = dists[0]!.length;
  const probs = new Array<number>(K).fill(0);
  for (const d of dists) d.forEach((p, k) => (probs[k]! += p / dists.length));
  const h = entropy(probs);
  const conditional = dists.reduce((s, d) => s + entropy(d), 0) / dists.length;
  return { probs, entropy: h, conditional, gap: h - conditional };
}

export class ThoughtPolicy extends ExactPolicy {
  override async decide(ctx: StepContext): Promise<Decision> {
    const t0 = performance.now();
    const { ids: promptIds } = this.prompt(ctx);
    const add = settingHooks(ctx.steering);
    const where = this.o.thoughtSteering ?? 'both';
    const thoughtAdd = where === 'answer' ? null : add;
    const answerAdd = where === 'thought' ? null : add;
    const { prefix: thoughtPrefix, stop } = this.scenario.thought;
    const vr = await this.vrStart();
    const hook = tailHook(this.session.info.layers);
    const tokenLevel = vr?.level === 'token';
    const pr = await this.cache.extend(promptIds, add, promptIds.length - 1, tokenLevel ? [...this.readLayers, hook] : this.readLayers);
    const span = vr ? this.vrSpan(pr.reused, promptIds.length) : null;
    const vrRecords: (VReasonRecord | VReasonRecord[])[] = [];
    const tPrompt = performance.now() - t0;
    this.record(pr.acts);
    const M = this.o.samples ?? 5;
    const minMass = this.o.minValidMass ?? DEFAULT_MIN_VALID_MASS;
    const thoughts: string[] = [];
    /** What ended each thought: a stop string, the end token, or the token limit. */
    const endedBy: string[] = [];
    const dists: number[][] = [];
    const masses: number[] = [];
    const kept: number[] = [];
    const random = () => this.rng.next();
    const headIds = this.tokens.extend(thoughtPrefix).slice(promptIds.length);
    const generated: GeneratedToken[][] = [];
    for (let m = 0; m < M; m++) {
      const fork = this.cache.kv.fork();
      try {
        // The thought prefix is forced text of the model's own turn: generated positions.
        let logits = pr.logits;
        let acts = pr.acts;
        if (headIds.length) ({ logits, acts } = await this.session.forward(fork, headIds, { region: 'generated', add: thoughtAdd, read: tokenLevel ? { hooks: [hook] } : null }));
        // Token-level V-Reason: dV is new for each thought (a query) and lives in this fork only.
        const tv = tokenLevel ? await TokenVReason.create(this.session, span!, vr!) : null;
        const g = await this.session.generateFrom(fork, logits, {
          ...(tv ? { read: tv.read, firstActs: acts, firstRegion: headIds.length ? ('generated' as const) : ('prompt' as const), beforeSample: tv.beforeSample } : {}),
          maxNewTokens: this.o.maxThoughtTokens ?? 64,
          temperature: this.T,
          topP: this.o.topP,
          topK: TOP_ALTERNATIVES,
          random,
          add: thoughtAdd,
          stopWhen: (ids) => cutAtStop(this.session.decode(ids), stop).stopped,
          onToken: ctx.hooks.pause ? async () => void (await ctx.hooks.pause!()) : undefined,
        });
        const cut = cutAtStop(g.text, stop);
        const by = cut.by;
        // The answer starts on its own line, as in the format, however the thought ended.
        const thought = cut.thought.endsWith('\n') ? cut.thought : `${cut.thought}\n`;
        thoughts.push(thought);
        generated.push(g.tokens);
        endedBy.push(by ?? (g.stoppedBy === 'stop' ? 'end' : 'length'));
        // Score the actions after prompt + prefix + thought + answer prefix, re-tokenised as text.
        const tail = `${thoughtPrefix}${thought}`;
        const s = await this.scoreAfter(ctx, promptIds, pr.logits, tail, { tail: thoughtAdd, answer: answerAdd, prompt: add }, span ? { span, edit: tv?.edited() } : null);
        if (tv) vrRecords.push(tv.records);
        else if (s.vreason) vrRecords.push(s.vreason);
        masses.push(s.validMass);
        dists.push(s.probs);
        if (s.validMass >= minMass) kept.push(m);
      } finally {
        fork.dispose();
      }
    }
    const extra: Record<string, unknown> = { cachedTokens: pr.reused, newTokens: pr.computed, validMassPerThought: masses, thoughtEndedBy: endedBy };
    if (vrRecords.length) extra.vreason = vrRecords;
    // Thought lengths in tokens (V-Reason's second claim is about output length).
    extra.thoughtTokens = thoughts.map((t) => this.session.encode(t).length);
    const base = { promptTokens: promptIds.length, completions: thoughts, timings: { prompt: tPrompt }, extra };
    // The step's valid mass is over all its thoughts: how well the format holds, kept or not.
    const meanMass = masses.reduce((a, b) => a + b, 0) / M;
    if (!kept.length) {
      const mix = mixture(dists);
      const action = this.scenario.onInvalid === 'random-arm' ? this.rng.int(ctx.actions.length) : null;
      return { ...base, probs: mix.probs, action, valid: false, formatBroken: true, validMass: meanMass, completion: '', traceCompletion: null };
    }
    const mix = mixture(kept.map((m) => dists[m]!));
    Object.assign(extra, { meanConditionalEntropy: mix.conditional, entropyGap: mix.gap, thoughtsKept: kept.length });
    const pick = kept[this.rng.int(kept.length)]!;
    extra.tokens = tokenView(this.session, generated[pick]!);
    const action = this.T <= 0 ? argmax(dists[pick]!) : this.rng.categorical(dists[pick]!);
    const completion = `${thoughtPrefix}${thoughts[pick]}${answerCompletion(this.scenario, ctx.actions[action]!)}`;
    return { ...base, probs: mix.probs, action, valid: true, validMass: meanMass, completion, traceCompletion: completion };
  }
}
