/**
 * Exact mode: nothing is generated freely. The assistant's turn is the scenario's fixed answer
 * prefix followed by each action's answer, and the action distribution is the model's own
 * probability of each whole answer, renormalised over the actions.
 */
import { SteerlabError } from '../errors.js';
import { normalizeLogProbs } from '../engine/logits.js';
import { answerCompletion, type Scenario, type ScenarioAction } from '../envs/scenario.js';
import { settingHooks } from '../steering/control-vector.js';
import type { Decision, StepContext } from '../episode/loop.js';
import { LlmPolicy } from './llm-policy.js';

function argmax(p: number[]): number {
  let b = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[b]!) b = i;
  return b;
}

/** Token ids of each candidate's full text, split into the part all share and the rest. */
export function splitShared(all: number[][]): { shared: number[]; rest: number[][] } {
  let n = 0;
  const min = Math.min(...all.map((a) => a.length));
  while (n < min && all.every((a) => a[n] === all[0]![n])) n++;
  // Each candidate must keep >= 1 own token to be scored.
  if (all.some((a) => a.length === n)) n--;
  return { shared: all[0]!.slice(0, n), rest: all.map((a) => a.slice(n)) };
}

function hasPrefixClash(rest: number[][]): boolean {
  return rest.some((a, i) => rest.some((b, j) => i !== j && a.length < b.length && a.every((x, k) => x === b[k])));
}

export class ExactPolicy extends LlmPolicy {
  /** Candidate ids: prompt + answer prefix + each answer, split at the shared head. */
  private candidates(promptIds: number[], actions: readonly ScenarioAction[], scenario: Scenario) {
    let full = actions.map((a) => this.tokens.extend(scenario.answer.prefix + a.answer));
    // When one answer's tokens start another's ("1" vs "10"), score through the suffix ("1." vs
    // "10.") so each probability is of the whole answer, not of a prefix shared with others.
    if (scenario.answer.suffix && hasPrefixClash(splitShared(full).rest)) {
      full = actions.map((a) => this.tokens.extend(answerCompletion(scenario, a)));
    }
    const { shared, rest } = splitShared(full);
    if (shared.length < promptIds.length || shared.slice(0, promptIds.length).some((x, i) => x !== promptIds[i])) {
      throw new SteerlabError('BAD_SCENARIO', `scenario '${scenario.id}': the answer prefix merges with the prompt's last token; exact scoring needs a clean boundary`);
    }
    return { shared, rest, prefix: shared.slice(promptIds.length) };
  }

  async decide(ctx: StepContext): Promise<Decision> {
    const t0 = performance.now();
    const { ids: promptIds } = this.prompt(ctx);
    const { shared, rest, prefix } = this.candidates(promptIds, ctx.actions, this.scenario);
    const zAtPrefix = this.o.zPosition === 'last-prefix' && prefix.length > 0;
    const read = this.readLayers;
    const add = settingHooks(ctx.steering);
    const extra: Record<string, unknown> = {};
    let scores: number[];
    let tPrompt: number;
    if (!add) {
      // Unsteered: prompt and answer prefix go through the kept cache in one forward; the next
      // prompt repeats this prefix, so it is reused too.
      const pr = await this.cache.extend(shared, null, zAtPrefix ? shared.length - 1 : promptIds.length - 1, read);
      tPrompt = performance.now() - t0;
      Object.assign(extra, { cachedTokens: pr.reused, newTokens: pr.computed });
      this.record(pr.acts);
      scores = await this.session.scoreContinuations(this.cache.kv, pr.logits, rest, null);
    } else {
      // Steered: the prompt (steered where the positions say) goes through the kept cache; the
      // prefix and actions run on a fork, so the kept cache never holds a steered answer.
      const pr = await this.cache.extend(promptIds, add, promptIds.length - 1, zAtPrefix ? [] : read);
      tPrompt = performance.now() - t0;
      Object.assign(extra, { cachedTokens: pr.reused, newTokens: pr.computed });
      if (!zAtPrefix) this.record(pr.acts);
      const fork = this.cache.kv.fork();
      try {
        let logits = pr.logits;
        if (prefix.length) {
          const fr = await this.session.forward(fork, prefix, { region: 'generated', add, read: zAtPrefix && read.length ? { hooks: read, at: [prefix.length - 1] } : null });
          logits = fr.logits;
          if (zAtPrefix) this.record(fr.acts);
        }
        scores = await this.session.scoreContinuations(fork, logits, rest, add);
      } finally {
        fork.dispose();
      }
    }
    const T = this.T;
    const probs = normalizeLogProbs(scores.map((sc) => sc / (T > 0 ? T : 1)));
    extra.logprobs = scores;
    const action = T <= 0 || this.o.actionPolicy === 'greedy' ? argmax(probs) : this.rng.categorical(probs);
    return {
      probs,
      action,
      valid: true,
      completion: answerCompletion(this.scenario, ctx.actions[action]!),
      promptTokens: promptIds.length,
      traceCompletion: null,
      timings: { prompt: tPrompt },
      extra,
    };
  }
}
