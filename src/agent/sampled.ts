/**
 * Sampled mode: M free-text completions per step ("Thought: ... Action: ..."), each parsed for an
 * action; the action distribution is the frequency of parsed actions, and the played action is
 * the one of a random parsed completion. Steering is read at every token, so its strength can
 * change inside a thought; every change is recorded in extra.betaChanges.
 */
import { parseAction } from '../envs/parse.js';
import { settingHooks } from '../steering/control-vector.js';
import type { Decision, StepContext } from '../episode/loop.js';
import { LlmPolicy } from './llm-policy.js';
import { tailHook, TokenVReason, type VReasonRecord } from '../steering/vreason/run.js';
import type { GeneratedToken } from '../engine/session.js';
import { TOP_ALTERNATIVES, tokenView } from './token-view.js';

export class SampledPolicy extends LlmPolicy {
  async decide(ctx: StepContext): Promise<Decision> {
    const t0 = performance.now();
    const { ids: promptIds } = this.prompt(ctx);
    const K = ctx.actions.length;
    const add = settingHooks(ctx.steering);
    const vr = this.vr;
    const hook = tailHook(this.session.info.layers);
    const pr = await this.cache.extend(promptIds, add, promptIds.length - 1, vr ? [...this.readLayers, hook] : this.readLayers);
    const span = vr ? this.vrSpan(pr.reused, promptIds.length) : null;
    const vrRecords: VReasonRecord[][] = [];
    const tPrompt = performance.now() - t0;
    const extra: Record<string, unknown> = { cachedTokens: pr.reused, newTokens: pr.computed };
    this.record(pr.acts);
    const completions: string[] = [];
    const parsed: (number | null)[] = [];
    const M = this.o.samples ?? 25;
    const betaChanges: { sample: number; token: number; beta: number }[] = [];
    const generated: GeneratedToken[][] = [];
    const steeringAt = ctx.hooks.steering;
    const random = () => this.rng.next();
    for (let m = 0; m < M; m++) {
      const fork = this.cache.kv.fork();
      try {
        let beta = ctx.steering?.beta ?? 0;
        // Token-level V-Reason: dV is new for each completion and lives in this fork only.
        const tv = vr ? await TokenVReason.create(this.session, span!, vr) : null;
        const g = await this.session.generateFrom(fork, pr.logits, {
          ...(tv ? { read: tv.read, firstActs: pr.acts, beforeSample: tv.beforeSample } : {}),
          maxNewTokens: this.o.maxThoughtTokens ?? 64,
          temperature: this.T,
          topP: this.o.topP,
          topK: TOP_ALTERNATIVES,
          random,
          add,
          onToken: steeringAt
            ? async (_tok, i) => {
                await ctx.hooks.pause?.();
                const next = steeringAt(ctx.step, i + 1);
                if ((next?.beta ?? 0) !== beta) {
                  beta = next?.beta ?? 0;
                  betaChanges.push({ sample: m, token: i + 1, beta });
                }
                return settingHooks(next);
              }
            : undefined,
        });
        completions.push(g.text);
        generated.push(g.tokens);
        if (tv) vrRecords.push(tv.records);
        parsed.push(parseAction(this.scenario, g.text, ctx.env.actions()));
      } finally {
        fork.dispose();
      }
    }
    if (betaChanges.length) extra.betaChanges = betaChanges;
    if (vrRecords.length) extra.vreason = vrRecords;
    const counts = new Array<number>(K).fill(0);
    const validIdx: number[] = [];
    parsed.forEach((a, i) => {
      if (a !== null) {
        counts[a]!++;
        validIdx.push(i);
      }
    });
    extra.invalidFraction = (M - validIdx.length) / M;
    const base = { promptTokens: promptIds.length, completions, timings: { prompt: tPrompt }, extra };
    if (validIdx.length) {
      const pick = validIdx[this.rng.int(validIdx.length)]!;
      extra.tokens = tokenView(this.session, generated[pick]!);
      return { ...base, probs: counts.map((c) => c / validIdx.length), action: parsed[pick]!, valid: true, completion: completions[pick]!, traceCompletion: completions[pick]! };
    }
    const completion = completions[0] ?? '';
    if (generated[0]) extra.tokens = tokenView(this.session, generated[0]);
    const action = this.scenario.onInvalid === 'random-arm' ? this.rng.int(K) : null;
    // Nothing parsed: there is no action distribution (not a uniform one).
    return { ...base, probs: null, action, valid: false, completion, traceCompletion: completion };
  }
}
