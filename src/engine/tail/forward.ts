/**
 * The last decoder block after its value cache, as a differentiable function of the value rows:
 * for one query site (the residual entering the last block at position t, and that layer's keys
 * and values up to t) it gives the logits, and the gradient of any loss on those logits with
 * respect to the value rows. The attention weights of the query do not depend on the values, so
 * the backward is exact: softmax <- lm_head <- final norm <- MLP residual (<- post-MLP norm) <-
 * pre-MLP norm (<- post-attention norm) <- o_proj <- weighted sum of value rows. Float64
 * throughout. The Qwen3/Gemma 3 parts (query norm, sandwich norms, GELU, attention scale, a
 * sliding window) are taken from the weights when present.
 */
import { SteerlabError } from '../../errors.js';
import { matTVec, matVec } from './matrix.js';
import type { TailWeights } from './weights.js';

/** One position whose next-token logits depend on the last layer's value rows. */
export interface TailSite {
  /** Residual stream entering the last block at this position (blocks.{N-2}.hook_resid_post). */
  x: Float32Array;
  /** The position (for the rotary phase); keys and values cover positions 0..pos. */
  pos: number;
  /** Last layer's keys and values [kvHeads, T, headDim] with T > pos (rows after pos are ignored). */
  keys: Float32Array;
  values: Float32Array;
  T: number;
  /** A steering vector added to blocks.{N-1}.hook_resid_post at this position, if any. */
  lastAdd?: Float32Array | null;
}

/** Value rows [kvHeads, n, headDim] that replace positions [start, start + n) of every site. */
export interface RowOverride {
  start: number;
  rows: Float64Array | Float32Array;
  n: number;
}

export interface TailForward {
  logits: Float64Array;
  /** Attention weights [heads, pos + 1]. */
  attn: Float64Array;
  // Saved for the backward.
  y: Float64Array;
  n2: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  z: Float64Array;
  /** o_proj and down_proj outputs before their post-norms (Gemma), when there are post-norms. */
  attnOut: Float64Array;
  mlpOut: Float64Array;
  site: TailSite;
}

function rms(x: ArrayLike<number>, w: Float32Array, eps: number): { out: Float64Array; r: number } {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const r = Math.sqrt(ss / x.length + eps);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (w[i]! * x[i]!) / r;
  return { out, r };
}

/** d/dx of w * x / rms(x), applied to dn. */
function rmsBack(x: Float64Array, w: Float32Array, eps: number, dn: Float64Array): Float64Array {
  const H = x.length;
  let ss = 0;
  for (let i = 0; i < H; i++) ss += x[i]! * x[i]!;
  const r = Math.sqrt(ss / H + eps);
  let dot = 0;
  for (let i = 0; i < H; i++) dot += w[i]! * dn[i]! * x[i]!;
  const out = new Float64Array(H);
  const c = dot / (H * r * r * r);
  for (let i = 0; i < H; i++) out[i] = (w[i]! * dn[i]!) / r - x[i]! * c;
  return out;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const GELU_C = Math.sqrt(2 / Math.PI);
/** GELU (tanh approximation) and its derivative. */
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
function geluGrad(x: number): number {
  const th = Math.tanh(GELU_C * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * GELU_C * (1 + 3 * 0.044715 * x * x);
}

function valueAt(site: TailSite, ov: RowOverride | null, h: number, j: number, d: number, D: number): number {
  if (ov && j >= ov.start && j < ov.start + ov.n) return ov.rows[(h * ov.n + (j - ov.start)) * D + d]!;
  return site.values[(h * site.T + j) * D + d]!;
}

export function checkSite(t: TailWeights, s: TailSite): void {
  const { kvHeads, headDim, hidden } = t;
  if (s.x.length !== hidden) throw new SteerlabError('BAD_SHAPE', `tail site residual has ${s.x.length} entries, the model's hidden size is ${hidden}`);
  if (s.keys.length !== kvHeads * s.T * headDim || s.values.length !== s.keys.length) throw new SteerlabError('BAD_SHAPE', `tail site keys/values are not [${kvHeads}, ${s.T}, ${headDim}]`);
  if (!(s.pos >= 0 && s.pos < s.T)) throw new SteerlabError('BAD_ARGUMENT', `tail site position ${s.pos} is outside the ${s.T} cached rows`);
  if (s.pos >= t.cos.length / (headDim / 2)) throw new SteerlabError('BAD_ARGUMENT', `position ${s.pos} is beyond the model's rotary table`);
}

export function tailForward(t: TailWeights, site: TailSite, ov: RowOverride | null = null): TailForward {
  checkSite(t, site);
  const { heads: nH, kvHeads: nKV, headDim: D, rmsEps: eps } = t;
  const half = D / 2;
  const group = nH / nKV;
  const P = site.pos + 1;
  // Query with its rotary phase.
  const n1 = rms(site.x, t.attnNorm, eps).out;
  const q = matVec(t.q, n1);
  if (t.qBias) for (let i = 0; i < q.length; i++) q[i] += t.qBias[i]!;
  if (t.qNorm) for (let h = 0; h < nH; h++) q.set(rms(q.subarray(h * D, (h + 1) * D), t.qNorm, eps).out, h * D);
  for (let h = 0; h < nH; h++) {
    for (let i = 0; i < half; i++) {
      const c = t.cos[site.pos * half + i]!, s = t.sin[site.pos * half + i]!;
      const a = q[h * D + i]!, b = q[h * D + half + i]!;
      q[h * D + i] = a * c - b * s;
      q[h * D + half + i] = b * c + a * s;
    }
  }
  const scale = t.attnScale ?? 1 / Math.sqrt(D);
  // A sliding-window layer sees the last `window` keys (weights of earlier ones stay 0).
  const j0 = t.window ? Math.max(0, P - t.window) : 0;
  const attn = new Float64Array(nH * P);
  const o = new Float64Array(nH * D);
  for (let h = 0; h < nH; h++) {
    const g = Math.floor(h / group);
    let mx = -Infinity;
    for (let j = j0; j < P; j++) {
      let s = 0;
      const ko = (g * site.T + j) * D;
      for (let d = 0; d < D; d++) s += q[h * D + d]! * site.keys[ko + d]!;
      s *= scale;
      attn[h * P + j] = s;
      if (s > mx) mx = s;
    }
    let z = 0;
    for (let j = j0; j < P; j++) z += attn[h * P + j] = Math.exp(attn[h * P + j]! - mx);
    for (let j = j0; j < P; j++) {
      const a = (attn[h * P + j]! /= z);
      for (let d = 0; d < D; d++) o[h * D + d] += a * valueAt(site, ov, g, j, d, D);
    }
  }
  const attnOut = matVec(t.o, o);
  const y = t.postAttnNorm ? rms(attnOut, t.postAttnNorm, eps).out : attnOut.slice();
  for (let i = 0; i < y.length; i++) y[i] += site.x[i]!;
  const n2 = rms(y, t.ffnNorm, eps).out;
  const gate = matVec(t.gate, n2);
  const up = matVec(t.up, n2);
  const m = new Float64Array(gate.length);
  const act = t.activation === 'gelu_tanh' ? gelu : (v: number) => v * sigmoid(v);
  for (let i = 0; i < m.length; i++) m[i] = act(gate[i]!) * up[i]!;
  const mlpOut = matVec(t.down, m);
  const z = t.postFfnNorm ? rms(mlpOut, t.postFfnNorm, eps).out : mlpOut.slice();
  for (let i = 0; i < z.length; i++) z[i] += y[i]! + (site.lastAdd ? site.lastAdd[i]! : 0);
  const logits = matVec(t.lmHead, rms(z, t.finalNorm, eps).out);
  if (t.finalSoftcap) for (let i = 0; i < logits.length; i++) logits[i] = t.finalSoftcap * Math.tanh(logits[i]! / t.finalSoftcap);
  return { logits, attn, y, n2, gate, up, z, attnOut, mlpOut, site };
}

/**
 * Gradient of a loss with respect to the value rows [start, start + n) of the site's layer,
 * given dLoss/dlogits; added into `into` ([kvHeads, n, headDim]).
 */
export function tailBackward(t: TailWeights, f: TailForward, dlogits: ArrayLike<number>, start: number, n: number, into: Float64Array): void {
  const { heads: nH, kvHeads: nKV, headDim: D, rmsEps: eps } = t;
  const group = nH / nKV;
  const P = f.site.pos + 1;
  let dl: ArrayLike<number> = dlogits;
  if (t.finalSoftcap) {
    // d(cap tanh(u / cap))/du = 1 - (logit / cap)^2
    const c = t.finalSoftcap;
    dl = Float64Array.from(dlogits, (d, i) => d * (1 - (f.logits[i]! / c) ** 2));
  }
  const dn3 = matTVec(t.lmHead, dl);
  const dz = rmsBack(f.z, t.finalNorm, eps, dn3);
  const dm = matTVec(t.down, t.postFfnNorm ? rmsBack(f.mlpOut, t.postFfnNorm, eps, dz) : dz);
  const dgate = new Float64Array(dm.length);
  const dup = new Float64Array(dm.length);
  const geluAct = t.activation === 'gelu_tanh';
  for (let i = 0; i < dm.length; i++) {
    const g = f.gate[i]!;
    if (geluAct) {
      dup[i] = dm[i]! * gelu(g);
      dgate[i] = dm[i]! * f.up[i]! * geluGrad(g);
    } else {
      const s = sigmoid(g);
      dup[i] = dm[i]! * g * s;
      dgate[i] = dm[i]! * f.up[i]! * s * (1 + g * (1 - s));
    }
  }
  const dn2 = matTVec(t.gate, dgate);
  const dn2u = matTVec(t.up, dup);
  for (let i = 0; i < dn2.length; i++) dn2[i] += dn2u[i]!;
  const dy = rmsBack(f.y, t.ffnNorm, eps, dn2);
  for (let i = 0; i < dy.length; i++) dy[i] += dz[i]!;
  const dout = matTVec(t.o, t.postAttnNorm ? rmsBack(f.attnOut, t.postAttnNorm, eps, dy) : dy);
  const lo = Math.max(start, 0), hi = Math.min(start + n, P);
  for (let h = 0; h < nH; h++) {
    const g = Math.floor(h / group);
    for (let j = lo; j < hi; j++) {
      const a = f.attn[h * P + j]!;
      const base = (g * n + (j - start)) * D;
      for (let d = 0; d < D; d++) into[base + d] += a * dout[h * D + d]!;
    }
  }
}
