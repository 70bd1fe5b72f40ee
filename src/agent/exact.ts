/**
 * Exact mode: nothing is generated freely. The assistant's turn is the scenario's fixed answer
 * prefix followed by each action's answer, and the action distribution is the model's own
 * probability of each whole answer, renormalised over the actions.
 */
import { SteerlabError } from '../errors.js';
import { normalizeLogProbs } from '../engine/logits.js';
import { answerCompletion, type Scenario, type ScenarioAction } from '../envs/scenario.js';
import type { HookAdd } from '../engine/hook-points.js';
import { settingHooks } from '../steering/control-vector.js';
import type { Decision, StepContext } from '../episode/loop.js';
import { DEFAULT_MIN_VALID_MASS, LlmPolicy } from './llm-policy.js';
import type { VReasonRecord } from '../steering/vreason/run.js';

/** The first n1 of n0 rows of each head in [kvHeads, n0, D]. */
function clipRows(v: Float32Array, heads: number, n0: number, n1: number, D: number): Float32Array {
  const out = new Float32Array(heads * n1 * D);
  for (let h = 0; h < heads; h++) out.set(v.subarray(h * n0 * D, (h * n0 + n1) * D), h * n1 * D);
  return out;
}

export function argmax(p: number[]): number {
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

/** Two candidates whose scored tokens cannot be told apart: one's tokens start (or equal) the other's. */
export function findClash(rest: number[][]): [number, number] | null {
  for (let i = 0; i < rest.length; i++) {
    for (let j = 0; j < rest.length; j++) {
      const a = rest[i]!, b = rest[j]!;
      if (i !== j && a.length <= b.length && a.every((x, k) => x === b[k])) return [i, j];
    }
  }
  return null;
}

/** The most likely next token that starts no valid answer, at temperature T: its id and log-prob. */
export function bestInvalid(logits: Float32Array, valid: ReadonlySet<number>, T: number): { id: number; logprob: number } {
  let m = -Infinity;
  let best = -1;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]! / T;
    if (x > m) m = x;
    if (!valid.has(i) && (best < 0 || logits[i]! > logits[best]!)) best = i;
  }
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! / T - m);
  return { id: best, logprob: logits[best]! / T - (m + Math.log(z)) };
}

export class ExactPolicy extends LlmPolicy {
  /** Candidate ids: prompt + tail (a thought) + answer prefix + each answer, split at the shared head. */
  protected candidates(promptIds: number[], actions: readonly ScenarioAction[], scenario: Scenario, tail = '') {
    let full = actions.map((a) => this.tokens.extend(tail + scenario.answer.prefix + a.answer));
    // When one answer's tokens start another's ("1" vs "10"), score through what ends the answer
    // so each probability is of the whole answer, not of a prefix shared with others: the
    // scenario's suffix ("1." vs "10."), else the end of the turn (the tokenizer's end token).
    if (findClash(splitShared(full).rest)) {
      const end = this.session.tokenizer.eosIds[0];
      if (scenario.answer.suffix) full = actions.map((a) => this.tokens.extend(tail + answerCompletion(scenario, a)));
      else if (end !== undefined) full = full.map((ids) => [...ids, end]);
      const clash = findClash(splitShared(full).rest);
      if (clash) {
        throw new SteerlabError('BAD_SCENARIO', `scenario '${scenario.id}': answers '${actions[clash[0]]!.answer}' and '${actions[clash[1]]!.answer}' cannot be told apart by their tokens, even with the end of the answer`);
      }
    }
    const { shared, rest } = splitShared(full);
    if (!tail && (shared.length < promptIds.length || shared.slice(0, promptIds.length).some((x, i) => x !== promptIds[i]))) {
      throw new SteerlabError('BAD_SCENARIO', `scenario '${scenario.id}': the answer prefix merges with the prompt's last token; exact scoring needs a clean boundary`);
    }
    return { shared, rest, prefix: shared.slice(promptIds.length) };
  }

  /**
   * The exact distribution after the kept prompt + `tail` + answer prefix, on a fork: the tail's
   * tokens get `add.tail`, the prefix and scored answers `add.answer` (thought mode steers either).
   */
  protected async scoreAfter(
    ctx: StepContext,
    promptIds: number[],
    promptLogits: Float32Array,
    tail: string,
    add: { tail: readonly HookAdd[] | null; answer: readonly HookAdd[] | null; prompt?: readonly HookAdd[] | null },
    vr: { span: { start: number; end: number }; edit?: { start: number; values: Float32Array } | null } | null = null,
  ) {
    const { shared, rest } = this.candidates(promptIds, ctx.actions, this.scenario, tail);
    // Free text may merge with the prompt's last token ("Thought:" + "?"): rewind to the ids shared.
    let keep = 0;
    while (keep < promptIds.length && keep < shared.length - 1 && shared[keep] === promptIds[keep]) keep++;
    const head = shared.slice(keep);
    const tailIds = this.tokens.extend(tail).slice(keep);
    let n = 0;
    while (n < tailIds.length && n < head.length && tailIds[n] === head[n]) n++;
    const fork = this.cache.kv.fork();
    try {
      if (keep < promptIds.length) await this.session.truncate(fork, keep);
      // Token-level V-Reason's rows from the thought's generation (only those the rewind kept).
      const ed = vr?.edit;
      if (ed && ed.start < keep) {
        const rowLen = this.session.info.kvHeads * this.session.info.headDim;
        const n0 = ed.values.length / rowLen, n1 = Math.min(n0, keep - ed.start);
        const v = n1 === n0 ? ed.values : clipRows(ed.values, this.session.info.kvHeads, n0, n1, this.session.info.headDim);
        await this.session.writeValues(fork, this.session.info.layers - 1, ed.start, v);
      }
      let logits = promptLogits;
      if (n > 0) logits = (await this.session.forward(fork, head.slice(0, n), { region: 'generated', add: add.tail })).logits;
      if (head.length > n) logits = (await this.session.forward(fork, head.slice(n), { region: 'generated', add: add.answer })).logits;
      let scores: { logprobs: number[]; tempered: number[] };
      let record: VReasonRecord | undefined;
      const span = vr && { start: vr.span.start, end: Math.min(vr.span.end, keep) };
      if (this.vrActive && span && span.start < span.end) {
        // Action-level V-Reason: the last shared token's forward came from the answer prefix, the thought, or the prompt.
        const [region, lastAdd] = head.length > n ? ['generated', add.answer] as const : n > 0 ? ['generated', add.tail] as const : ['prompt', add.prompt ?? null] as const;
        const sites = await this.vrActive.sites(fork, shared[shared.length - 1]!, region, rest, lastAdd);
        const d = await this.vrActive.decide(fork, span, sites, this.T);
        scores = d;
        logits = d.lastLogits;
        record = d.record;
      } else scores = await this.session.scoreAnswers(fork, logits, rest, { add: add.answer, temperature: this.T });
      return { probs: normalizeLogProbs(scores.tempered), validMass: scores.tempered.reduce((m, lp) => m + Math.exp(lp), 0), logprobs: scores.logprobs, tempered: scores.tempered, lastLogits: logits, rest, vreason: record };
    } finally {
      fork.dispose();
    }
  }

  async decide(ctx: StepContext): Promise<Decision> {
    const t0 = performance.now();
    const { ids: promptIds } = this.prompt(ctx);
    const { shared, rest, prefix } = this.candidates(promptIds, ctx.actions, this.scenario);
    if ((await this.vrStart())?.level === 'action') return this.decideVReason(ctx, promptIds, t0);
    const zAtPrefix = this.o.zPosition === 'last-prefix' && prefix.length > 0;
    const read = this.readLayers;
    const add = settingHooks(ctx.steering);
    const extra: Record<string, unknown> = {};
    let scores: { logprobs: number[]; tempered: number[] };
    let lastLogits: Float32Array;
    let tPrompt: number;
    if (!add) {
      // Unsteered: prompt and answer prefix go through the kept cache in one forward; the next
      // prompt repeats this prefix, so it is reused too.
      const pr = await this.cache.extend(shared, null, zAtPrefix ? shared.length - 1 : promptIds.length - 1, read);
      tPrompt = performance.now() - t0;
      Object.assign(extra, { cachedTokens: pr.reused, newTokens: pr.computed });
      this.record(pr.acts);
      lastLogits = pr.logits;
      scores = await this.session.scoreAnswers(this.cache.kv, pr.logits, rest, { temperature: this.T });
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
        lastLogits = logits;
        scores = await this.session.scoreAnswers(fork, logits, rest, { add, temperature: this.T });
      } finally {
        fork.dispose();
      }
    }
    return this.finish(ctx, promptIds, scores, lastLogits, rest, tPrompt, extra);
  }

  /** Exact mode with action-level V-Reason: the prompt through the kept cache, prefix and answers on a fork with dV. */
  private async decideVReason(ctx: StepContext, promptIds: number[], t0: number): Promise<Decision> {
    const add = settingHooks(ctx.steering);
    const pr = await this.cache.extend(promptIds, add, promptIds.length - 1, this.readLayers);
    const tPrompt = performance.now() - t0;
    if (this.readLayers.length) this.record(pr.acts);
    const s = await this.scoreAfter(ctx, promptIds, pr.logits, '', { tail: add, answer: add, prompt: add }, { span: this.vrSpan(pr.reused, promptIds.length) });
    const extra: Record<string, unknown> = { cachedTokens: pr.reused, newTokens: pr.computed };
    if (s.vreason) extra.vreason = s.vreason;
    return this.finish(ctx, promptIds, s, s.lastLogits, s.rest, tPrompt, extra);
  }

  private finish(ctx: StepContext, promptIds: number[], scores: { logprobs: number[]; tempered: number[] }, lastLogits: Float32Array, rest: number[][], tPrompt: number, extra: Record<string, unknown>): Decision {
    const T = this.T > 0 ? this.T : 1;
    // Valid mass: the probability of answering with any action at all, before renormalising.
    const validMass = scores.tempered.reduce((m, lp) => m + Math.exp(lp), 0);
    const probs = normalizeLogProbs(scores.tempered);
    const invalid = bestInvalid(lastLogits, new Set(rest.map((r) => r[0]!)), T);
    extra.logprobs = scores.logprobs;
    extra.topInvalid = { token: invalid.id, text: this.session.decode([invalid.id]), logprob: invalid.logprob };
    const formatBroken = validMass < (this.o.minValidMass ?? DEFAULT_MIN_VALID_MASS);
    let action: number | null;
    const forced = this.o.forcedActions?.[ctx.step];
    if (forced !== undefined) action = forced;
    else if (!formatBroken) action = this.T <= 0 || this.o.actionPolicy === 'greedy' ? argmax(probs) : this.rng.categorical(probs);
    else action = this.scenario.onInvalid === 'random-arm' ? this.rng.int(ctx.actions.length) : null;
    return {
      probs,
      action,
      valid: !formatBroken,
      validMass,
      ...(formatBroken ? { formatBroken } : {}),
      completion: action === null ? '' : answerCompletion(this.scenario, ctx.actions[action]!),
      promptTokens: promptIds.length,
      traceCompletion: null,
      timings: { prompt: tPrompt },
      extra,
    };
  }
}
