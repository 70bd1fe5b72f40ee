/**
 * The pieces of a V-Reason update that do not need the model: the norm-preserving row update
 * V~ = (V + dV) / ||V + dV|| * ||V|| (per cache row: one kv head at one position) and its
 * backward, the objectives' gradients with respect to logits, and Adam.
 */
import { entropyFromLogProbs, logSoftmax } from '../../engine/logits.js';

/** V~ for rows of length D (all arrays [rows * D]). */
export function normPreserve(v0: Float32Array | Float64Array, dv: Float64Array, D: number): Float64Array {
  const out = new Float64Array(v0.length);
  for (let r = 0; r < v0.length / D; r++) {
    let n0 = 0, n1 = 0;
    for (let d = 0; d < D; d++) {
      const a = v0[r * D + d]!, u = a + dv[r * D + d]!;
      n0 += a * a;
      n1 += u * u;
    }
    const k = n1 > 0 ? Math.sqrt(n0 / n1) : 1;
    for (let d = 0; d < D; d++) out[r * D + d] = (v0[r * D + d]! + dv[r * D + d]!) * k;
  }
  return out;
}

/** dLoss/d(dV) from dLoss/dV~: per row, (||V|| / ||u||) (g - (g.u^)u^) with u = V + dV. */
export function normPreserveBack(v0: Float32Array | Float64Array, dv: Float64Array, g: Float64Array, D: number): Float64Array {
  const out = new Float64Array(g.length);
  for (let r = 0; r < v0.length / D; r++) {
    let n0 = 0, n1 = 0, gu = 0;
    for (let d = 0; d < D; d++) {
      const a = v0[r * D + d]!, u = a + dv[r * D + d]!;
      n0 += a * a;
      n1 += u * u;
      gu += g[r * D + d]! * u;
    }
    if (n1 === 0) continue;
    const k = Math.sqrt(n0 / n1);
    for (let d = 0; d < D; d++) out[r * D + d] = k * (g[r * D + d]! - (gu / n1) * (v0[r * D + d]! + dv[r * D + d]!));
  }
  return out;
}

/** Softmax and entropy (nats) of a logit vector, at temperature T (the engine's log-softmax). */
export function softmaxEntropy(logits: ArrayLike<number>, T = 1): { p: Float64Array; logp: Float64Array; h: number } {
  const logp = logSoftmax(logits, T);
  const p = logp.map(Math.exp);
  return { p, logp, h: entropyFromLogProbs(logp) };
}

/**
 * The paper's token objective L = alpha * KL(p || Uniform) = alpha * (log V - H(p)) and its
 * gradient in the logits: dH/dl_i = -p_i (log p_i + H).
 */
export function tokenObjective(logits: ArrayLike<number>, alpha: number): { loss: number; entropy: number; grad: Float64Array } {
  const { p, logp, h } = softmaxEntropy(logits);
  const grad = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) grad[i] = alpha * p[i]! * (logp[i]! + h);
  return { loss: alpha * (Math.log(p.length) - h), entropy: h, grad };
}

/**
 * The action objective on tempered answer log-probs l_a (sum over the answer's tokens of
 * log softmax(logits / T)): L = alpha (log |A| - H(pi)) - mass * log M with pi = softmax(l) and
 * M = sum_a exp(l_a), the valid mass. Returns dL/dl_a.
 */
export function actionObjective(l: readonly number[], alpha: number, mass: number): { loss: number; entropy: number; validMass: number; grad: number[] } {
  const M = l.reduce((s, x) => s + Math.exp(x), 0);
  const pi = l.map((x) => Math.exp(x) / M);
  const h = -pi.reduce((s, p) => s + (p > 0 ? p * Math.log(p) : 0), 0);
  const grad = l.map((x, a) => alpha * pi[a]! * (Math.log(pi[a]!) + h) - (mass * Math.exp(x)) / M);
  return { loss: alpha * (Math.log(l.length) - h) - mass * Math.log(M), entropy: h, validMass: M, grad };
}

/** Adam on one parameter vector (bias-corrected, the usual defaults). */
export class Adam {
  private m: Float64Array;
  private v: Float64Array;
  private t = 0;
  constructor(n: number, private readonly lr: number, private readonly b1 = 0.9, private readonly b2 = 0.999, private readonly eps = 1e-8) {
    this.m = new Float64Array(n);
    this.v = new Float64Array(n);
  }
  step(x: Float64Array, g: Float64Array): void {
    this.t++;
    const c1 = 1 - this.b1 ** this.t, c2 = 1 - this.b2 ** this.t;
    for (let i = 0; i < x.length; i++) {
      this.m[i] = this.b1 * this.m[i]! + (1 - this.b1) * g[i]!;
      this.v[i] = this.b2 * this.v[i]! + (1 - this.b2) * g[i]! * g[i]!;
      x[i] -= (this.lr * (this.m[i]! / c1)) / (Math.sqrt(this.v[i]! / c2) + this.eps);
    }
  }
}

export function norm2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}
