/**
 * V-Reason on a live session: a controller dV on the last layer's value rows of a context span,
 * optimised online with the exact gradient of the last block's tail (engine/tail), written into
 * the cache with the norm-preserving update. Two levels:
 *  - token (the paper): before a generated token is sampled, every k-th token, Adam steps on
 *    alpha * KL(p || U) of that token's distribution; the token is drawn from the updated one;
 *  - action (the lab's extension): at a decision, Adam steps on alpha * KL(pi || U) - mass * log M
 *    of the exact action distribution pi (M: its valid mass), alpha from the EMA of action entropy
 *    across steps.
 * dV starts at zero per query (a generation, or a decision) and only the span's rows change:
 * keys, other rows and other layers stay bit-identical.
 */
import { SteerlabError } from '../../errors.js';
import { packAdds, type HookAdd, type Region } from '../../engine/hook-points.js';
import type { KVCache } from '../../engine/kvcache.js';
import type { BeforeSample, GenerateOptions, ModelSession } from '../../engine/session.js';
import { tailBackward, tailForward, type TailSite } from '../../engine/tail/forward.js';
import type { TailWeights } from '../../engine/tail/weights.js';
import { newSwitch, observe, type SwitchState } from './switch.js';
import { actionObjective, Adam, norm2, normPreserve, normPreserveBack, softmaxEntropy, tokenObjective } from './update.js';
import type { VReasonSettings } from './settings.js';

/** What the trace keeps per token (token level) or per step (action level). */
export interface VReasonRecord {
  index: number;
  /** Entropy before the update (the observed one, which drives the EMA). */
  entropy: number;
  ema: number;
  peak: number;
  alpha: 1 | -1;
  /** Objective before and entropy after this update; null on tokens without an update. */
  loss: number | null;
  entropyAfter: number | null;
  dvNorm: number;
  steps: number;
  /** Action level: valid mass before and after. */
  validMass?: number;
  validMassAfter?: number;
  /** Max |tail logits - model logits| at the first update of a query (the tail's self-check). */
  tailError?: number;
}

/** Logits the tail may differ from the model's by before V-Reason refuses (quantised activations differ by ~1e-1). */
export const MAX_TAIL_ERROR = 0.5;

export interface Span {
  start: number;
  end: number;
}

/** The hook V-Reason reads at each query position: the residual entering the last block. */
export const tailHook = (layers: number) => `blocks.${layers - 1}.hook_resid_pre`;

function lastAdd(adds: readonly HookAdd[] | null | undefined, region: Region, layers: number, hidden: number): Float32Array | null {
  const packed = packAdds(adds, region, layers, hidden);
  return packed ? packed.slice((layers - 1) * hidden, layers * hidden) : null;
}

/** One query's controller: the span's original rows, dV and its optimiser. */
class Controller {
  readonly dv: Float64Array;
  private readonly adam: Adam;
  constructor(readonly tail: TailWeights, readonly span: Span, readonly v0: Float32Array, readonly s: VReasonSettings) {
    this.dv = new Float64Array(v0.length);
    this.adam = new Adam(v0.length, s.lr);
  }
  get n(): number {
    return this.span.end - this.span.start;
  }
  rows(): Float64Array {
    return normPreserve(this.v0, this.dv, this.tail.headDim);
  }
  override() {
    return { start: this.span.start, rows: this.rows(), n: this.n };
  }
  /** One Adam step given dLoss/dV~ for the span's rows. */
  step(gRows: Float64Array): void {
    this.adam.step(this.dv, normPreserveBack(this.v0, this.dv, gRows, this.tail.headDim));
  }
}

async function siteOf(session: ModelSession, cache: KVCache, tail: TailWeights, x: Float32Array, add: Float32Array | null): Promise<TailSite> {
  const T = cache.length;
  const [keys, values] = await Promise.all([session.readKeys(cache, tail.layer, 0, T), session.readValues(cache, tail.layer, 0, T)]);
  return { x, pos: T - 1, keys, values, T, lastAdd: add };
}

function checkSpan(span: Span, len: number): void {
  if (!(Number.isInteger(span.start) && Number.isInteger(span.end) && span.start >= 0 && span.end <= len && span.start < span.end)) {
    throw new SteerlabError('BAD_ARGUMENT', `V-Reason span [${span.start}, ${span.end}) is outside the cache (length ${len})`);
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Token level, for one generation: pass `beforeSample` and `read` to generate/generateFrom.
 * The span's rows are written into that generation's cache; `restore` puts the originals back.
 */
export class TokenVReason {
  readonly records: VReasonRecord[] = [];
  private sw: SwitchState = newSwitch();
  private c: Controller | null = null;
  private written = false;
  readonly read: string[];

  private constructor(private readonly session: ModelSession, private readonly tail: TailWeights, private readonly span: Span, private readonly s: VReasonSettings) {
    this.read = [tailHook(session.info.layers)];
  }

  static async create(session: ModelSession, span: Span, s: VReasonSettings): Promise<TokenVReason> {
    return new TokenVReason(session, await session.tail(), span, s);
  }

  /** The span's current rows V~ (for scoring an answer under the same cache edit), or null before any update. */
  edited(): { start: number; values: Float32Array } | null {
    return this.c && this.written ? { start: this.span.start, values: Float32Array.from(this.c.rows()) } : null;
  }

  readonly beforeSample = async (b: BeforeSample): Promise<Float32Array> => {
    const { session, tail, s } = this;
    const stats = softmaxEntropy(b.logits);
    const o = observe(this.sw, stats.h, s.ema, s.mode);
    this.sw = o.state;
    const rec: VReasonRecord = { index: b.index, entropy: stats.h, ema: o.state.ema!, peak: o.state.peak, alpha: o.alpha, loss: null, entropyAfter: null, dvNorm: this.c ? norm2(this.c.dv) : 0, steps: 0 };
    this.records.push(rec);
    if ((b.index + 1) % s.every !== 0) return b.logits;
    if (!b.acts) throw new SteerlabError('BAD_ARGUMENT', `V-Reason needs ${this.read[0]} at each query position (pass its read/firstActs to the generation)`);
    if (!this.c) {
      checkSpan(this.span, b.cache.length);
      this.c = new Controller(tail, this.span, await session.readValues(b.cache, tail.layer, this.span.start, this.span.end), s);
    }
    const c = this.c;
    const site = await siteOf(session, b.cache, tail, b.acts.row(this.read[0]!, b.acts.at.length - 1), lastAdd(b.add, b.region, session.info.layers, session.info.hidden));
    const t0 = tailForward(tail, site, c.override());
    if (!this.written) {
      rec.tailError = maxAbsDiff(t0.logits, b.logits);
      if (rec.tailError > MAX_TAIL_ERROR) throw new SteerlabError('BAD_GRAPH', `V-Reason: the last block's tail differs from the model's logits by ${rec.tailError.toFixed(3)} (> ${MAX_TAIL_ERROR}); its gradient would not be this model's`);
    }
    let f = t0;
    for (let k = 0; k < s.steps; k++) {
      const obj = tokenObjective(f.logits, o.alpha);
      if (k === 0) rec.loss = obj.loss;
      const g = new Float64Array(c.v0.length);
      tailBackward(tail, f, obj.grad, this.span.start, c.n, g);
      c.step(g);
      f = tailForward(tail, site, c.override());
    }
    await session.writeValues(b.cache, tail.layer, this.span.start, Float32Array.from(c.rows()));
    this.written = true;
    rec.entropyAfter = softmaxEntropy(f.logits).h;
    rec.dvNorm = norm2(c.dv);
    rec.steps = s.steps;
    return Float32Array.from(f.logits);
  };

  /** Puts the span's original rows back (the cache then equals a plain run's for the same tokens). */
  async restore(cache: KVCache): Promise<void> {
    if (this.c && this.written && !cache.isDisposed) await this.session.writeValues(cache, this.tail.layer, this.span.start, this.c.v0);
  }
}

/** One scored answer token: candidate `cand`'s token `token` is read from site `site`'s logits. */
export interface AnswerTerm {
  site: number;
  cand: number;
  token: number;
}

export interface AnswerSites {
  sites: TailSite[];
  terms: AnswerTerm[];
  candidates: number;
  /** The model's own logits at site 0 (for the tail's self-check). */
  logits0: Float32Array;
}

function answerScores(logits: Float64Array[], terms: readonly AnswerTerm[], K: number, T: number): { lp: number[]; lt: number[]; soft: { p1: Float64Array; pT: Float64Array }[] } {
  const soft = logits.map((l) => ({ p1: softmaxEntropy(l).p, pT: softmaxEntropy(l, T).p }));
  const lp = new Array<number>(K).fill(0), lt = new Array<number>(K).fill(0);
  for (const t of terms) {
    lp[t.cand] += Math.log(soft[t.site]!.p1[t.token]!);
    lt[t.cand] += Math.log(soft[t.site]!.pT[t.token]!);
  }
  return { lp, lt, soft };
}

/** Action level, for one episode: the sign rule runs across its steps; dV is new at every step. */
export class ActionVReason {
  readonly records: VReasonRecord[] = [];
  private sw: SwitchState = newSwitch();
  private constructor(private readonly session: ModelSession, private readonly tail: TailWeights, private s: VReasonSettings) {}

  /** The settings of the next decisions (live changes between steps). */
  set settings(s: VReasonSettings) {
    this.s = s;
  }

  static async create(session: ModelSession, s: VReasonSettings): Promise<ActionVReason> {
    return new ActionVReason(session, await session.tail(), s);
  }

  get hook(): string {
    return tailHook(this.session.info.layers);
  }

  /**
   * The sites of the answers' tokens: the last shared position (its own forward, on a fork
   * rewound by one token) and, for answers of several tokens, each of their inner positions.
   */
  async sites(cache: KVCache, lastId: number, region: Region, rest: number[][], add: readonly HookAdd[] | null): Promise<AnswerSites> {
    const { session, tail } = this;
    const L = session.info.layers, H = session.info.hidden;
    const read = { hooks: [this.hook] };
    const sites: TailSite[] = [];
    const terms: AnswerTerm[] = [];
    const fork = cache.fork();
    let logits0: Float32Array;
    try {
      await session.truncate(fork, cache.length - 1);
      const r = await session.forward(fork, [lastId], { region, add, read });
      logits0 = r.logits;
      sites.push(await siteOf(session, fork, tail, r.acts.row(this.hook, 0), lastAdd(add, region, L, H)));
    } finally {
      fork.dispose();
    }
    rest.forEach((ids, c) => terms.push({ site: 0, cand: c, token: ids[0]! }));
    for (let c = 0; c < rest.length; c++) {
      const ids = rest[c]!;
      if (ids.length < 2) continue;
      const f = cache.fork();
      try {
        const inner = ids.slice(0, -1);
        const r = await session.forward(f, inner, { region: 'generated', add, read: { hooks: [this.hook], at: inner.map((_, i) => i) } });
        const [keys, values] = await Promise.all([session.readKeys(f, tail.layer, 0, f.length), session.readValues(f, tail.layer, 0, f.length)]);
        const la = lastAdd(add, 'generated', L, H);
        inner.forEach((_, i) => {
          terms.push({ site: sites.length, cand: c, token: ids[i + 1]! });
          sites.push({ x: r.acts.row(this.hook, i), pos: cache.length + i, keys, values, T: f.length, lastAdd: la });
        });
      } finally {
        f.dispose();
      }
    }
    return { sites, terms, candidates: rest.length, logits0 };
  }

  /**
   * Optimises dV for one decision and returns the answers' log-probs under it (at temperature 1
   * and at T per token), and the updated logits at the last shared position.
   */
  async decide(cache: KVCache, span: Span, a: AnswerSites, T: number): Promise<{ logprobs: number[]; tempered: number[]; lastLogits: Float32Array; record: VReasonRecord }> {
    const { session, tail, s } = this;
    checkSpan(span, cache.length);
    const c = new Controller(tail, span, await session.readValues(cache, tail.layer, span.start, span.end), s);
    const Tq = T > 0 ? T : 1;
    const run = () => a.sites.map((site) => tailForward(tail, site, c.override()));
    let fw = run();
    const tailError = maxAbsDiff(fw[0]!.logits, a.logits0);
    if (tailError > MAX_TAIL_ERROR) throw new SteerlabError('BAD_GRAPH', `V-Reason: the last block's tail differs from the model's logits by ${tailError.toFixed(3)} (> ${MAX_TAIL_ERROR}); its gradient would not be this model's`);
    let sc = answerScores(fw.map((f) => f.logits), a.terms, a.candidates, Tq);
    const before = actionObjective(sc.lt, 1, 0);
    const o = observe(this.sw, before.entropy, s.ema, s.mode);
    this.sw = o.state;
    const rec: VReasonRecord = { index: this.records.length, entropy: before.entropy, ema: o.state.ema!, peak: o.state.peak, alpha: o.alpha, loss: null, entropyAfter: null, dvNorm: 0, steps: s.steps, validMass: before.validMass, tailError };
    for (let k = 0; k < s.steps; k++) {
      const obj = actionObjective(sc.lt, o.alpha, s.mass);
      if (k === 0) rec.loss = obj.loss;
      // dl_a/dlogits at a site: (onehot(token) - softmax(logits / T)) / T for each of a's tokens there.
      const dl = a.sites.map((site) => new Float64Array(tail.vocab));
      for (const t of a.terms) {
        const g = obj.grad[t.cand]! / Tq;
        const pT = sc.soft[t.site]!.pT;
        const d = dl[t.site]!;
        for (let i = 0; i < d.length; i++) d[i] -= g * pT[i]!;
        d[t.token] += g;
      }
      const gRows = new Float64Array(c.v0.length);
      fw.forEach((f, i) => tailBackward(tail, f, dl[i]!, span.start, c.n, gRows));
      c.step(gRows);
      fw = run();
      sc = answerScores(fw.map((f) => f.logits), a.terms, a.candidates, Tq);
    }
    const after = actionObjective(sc.lt, 1, 0);
    Object.assign(rec, { entropyAfter: after.entropy, validMassAfter: after.validMass, dvNorm: norm2(c.dv) });
    this.records.push(rec);
    return { logprobs: sc.lp, tempered: sc.lt, lastLogits: Float32Array.from(fw[0]!.logits), record: rec };
  }
}

/**
 * generate() with token-level V-Reason on the prompt's rows (default: the whole prompt). The
 * returned cache holds the original rows again (V~ only ever lives for the generation).
 */
export async function generateWithVReason(session: ModelSession, promptIds: number[], opts: GenerateOptions, s: VReasonSettings, span: Span = { start: 0, end: promptIds.length }) {
  if (s.level !== 'token') throw new SteerlabError('BAD_ARGUMENT', "V-Reason level 'action' needs an agent's decisions; free-text generation uses level=token");
  const vr = await TokenVReason.create(session, span, s);
  const r = await session.generate(promptIds, { ...opts, read: vr.read, beforeSample: vr.beforeSample });
  await vr.restore(r.cache);
  return { ...r, vreason: vr.records };
}
