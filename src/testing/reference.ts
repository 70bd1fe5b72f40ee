/**
 * A plain TypeScript forward pass of the Llama/Qwen2/Qwen3/Gemma 3 decoder (the optional parts
 * of model/architectures.ts written out: q/k norms, sandwich norms, GELU, embedding and
 * attention scales, sliding windows with their own rotary base), one token at a time with its own
 * KV cache. It is the ground truth the ONNX graphs are tested against (steering, hidden states,
 * cached decode, value-cache edits), so it is written for clarity, not speed.
 */
import type { DecoderConfig, DecoderWeights } from '../engine/model/types.js';
import { isLocalLayer, layerRopeScale, layerRopeTheta, matrixToFloat } from '../engine/model/types.js';
import { ropeCache } from '../engine/onnx/decoder.js';

interface FloatLayer {
  attnNorm: Float32Array; ffnNorm: Float32Array;
  q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array;
  qBias?: Float32Array; kBias?: Float32Array; vBias?: Float32Array;
  qNorm?: Float32Array; kNorm?: Float32Array; postAttnNorm?: Float32Array; postFfnNorm?: Float32Array;
  gate: Float32Array; up: Float32Array; down: Float32Array;
  cos: Float32Array; sin: Float32Array;
}

/** GELU, tanh approximation (as llama.cpp's ggml_gelu and HF's gelu_pytorch_tanh). */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

function matvec(W: Float32Array, x: Float32Array, rows: number, cols: number, bias?: Float32Array): Float32Array {
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += W[o + c]! * x[c]!;
    y[r] = s + (bias ? bias[r]! : 0);
  }
  return y;
}

function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

export interface RefStepOptions {
  /** [layers * hidden]; row L is added to the residual after block L. */
  steering?: Float32Array;
  steer?: boolean;
}

export class ReferenceModel {
  private readonly L: FloatLayer[];
  private readonly lmHead: Float32Array;
  private readonly embed: Float32Array;
  /** keys[l][t] and values[l][t]: [kvHeads * headDim] per position. */
  keys: Float32Array[][];
  values: Float32Array[][];

  constructor(readonly cfg: DecoderConfig, private readonly w: DecoderWeights) {
    const tables2 = new Map<string, { cos: Float32Array; sin: Float32Array }>();
    const rope = (theta: number, scale: number) => {
      const key = `${theta}:${scale}`;
      return tables2.get(key) ?? tables2.set(key, ropeCache(cfg, theta, scale)).get(key)!;
    };
    this.L = w.layers.map((l, i) => ({
      attnNorm: l.attnNorm, ffnNorm: l.ffnNorm,
      q: matrixToFloat(l.q), k: matrixToFloat(l.k), v: matrixToFloat(l.v), o: matrixToFloat(l.o),
      qBias: l.qBias, kBias: l.kBias, vBias: l.vBias,
      qNorm: l.qNorm, kNorm: l.kNorm, postAttnNorm: l.postAttnNorm, postFfnNorm: l.postFfnNorm,
      gate: matrixToFloat(l.gate), up: matrixToFloat(l.up), down: matrixToFloat(l.down),
      ...rope(layerRopeTheta(cfg, i), layerRopeScale(cfg, i)),
    }));
    this.lmHead = matrixToFloat(w.lmHead);
    this.embed = matrixToFloat(w.embed);
    this.keys = this.L.map(() => []);
    this.values = this.L.map(() => []);
  }

  get length(): number {
    return this.keys[0]!.length;
  }

  private rope(vec: Float32Array, nHeads: number, pos: number, lw: FloatLayer): void {
    const D = this.cfg.headDim, half = D / 2;
    for (let h = 0; h < nHeads; h++) {
      const o = h * D;
      for (let i = 0; i < half; i++) {
        const c = lw.cos[pos * half + i]!, s = lw.sin[pos * half + i]!;
        const a = vec[o + i]!, b = vec[o + i + half]!;
        vec[o + i] = a * c - b * s;
        vec[o + i + half] = b * c + a * s;
      }
    }
  }

  /** Runs one token; returns logits and the residual after every block (post-steering). */
  step(token: number, opts: RefStepOptions = {}): { logits: Float32Array; resid: Float32Array[] } {
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: D, intermediate: I, vocab: V } = this.cfg;
    const pos = this.length;
    const eps = this.cfg.rmsEps;
    let x = this.embed.slice(token * H, token * H + H);
    if (this.cfg.embedScale !== undefined) x = x.map((v) => v * this.cfg.embedScale!);
    const scale = this.cfg.attnScale ?? 1 / Math.sqrt(D);
    const headNorm = (t: Float32Array, n: number, wt: Float32Array) => {
      for (let hh = 0; hh < n; hh++) t.set(rmsNorm(t.subarray(hh * D, (hh + 1) * D), wt, eps), hh * D);
    };
    const resid: Float32Array[] = [];
    for (let l = 0; l < this.L.length; l++) {
      const lw = this.L[l]!;
      const h = rmsNorm(x, lw.attnNorm, eps);
      const q = matvec(lw.q, h, nH * D, H, lw.qBias);
      const k = matvec(lw.k, h, nKV * D, H, lw.kBias);
      const v = matvec(lw.v, h, nKV * D, H, lw.vBias);
      if (lw.qNorm) headNorm(q, nH, lw.qNorm);
      if (lw.kNorm) headNorm(k, nKV, lw.kNorm);
      this.rope(q, nH, pos, lw);
      this.rope(k, nKV, pos, lw);
      // A local layer sees the last slidingWindow keys, the current one included (llama.cpp's SWA_TYPE_STANDARD).
      const first = isLocalLayer(this.cfg, l) ? Math.max(0, pos + 1 - this.cfg.slidingWindow!) : 0;
      this.keys[l]!.push(k);
      this.values[l]!.push(v);
      const ctx = new Float32Array(nH * D);
      const T = pos + 1;
      for (let hh = 0; hh < nH; hh++) {
        const kv = Math.floor(hh / (nH / nKV));
        const sc = new Float64Array(T);
        let mx = -Infinity;
        for (let t = first; t < T; t++) {
          let s = 0;
          const kt = this.keys[l]![t]!;
          for (let d = 0; d < D; d++) s += q[hh * D + d]! * kt[kv * D + d]!;
          sc[t] = s * scale;
          mx = Math.max(mx, sc[t]!);
        }
        let z = 0;
        for (let t = first; t < T; t++) z += sc[t] = Math.exp(sc[t]! - mx);
        for (let t = first; t < T; t++) {
          const vt = this.values[l]![t]!;
          const a = sc[t]! / z;
          for (let d = 0; d < D; d++) ctx[hh * D + d] += a * vt[kv * D + d]!;
        }
      }
      let attnOut = matvec(lw.o, ctx, H, nH * D);
      if (lw.postAttnNorm) attnOut = rmsNorm(attnOut, lw.postAttnNorm, eps);
      const mid = x.map((v, i) => v + attnOut[i]!);
      const h2 = rmsNorm(mid, lw.ffnNorm, eps);
      const gate = matvec(lw.gate, h2, I, H);
      const up = matvec(lw.up, h2, I, H);
      const gelu = this.cfg.activation === 'gelu_tanh';
      const act = gate.map((gv, i) => (gelu ? geluTanh(gv) : gv / (1 + Math.exp(-gv))) * up[i]!);
      let down = matvec(lw.down, act, H, I);
      if (lw.postFfnNorm) down = rmsNorm(down, lw.postFfnNorm, eps);
      x = mid.map((v, i) => v + down[i]!);
      if (opts.steering && opts.steer !== false) for (let i = 0; i < H; i++) x[i] += opts.steering[l * H + i]!;
      resid.push(x.slice());
    }
    const logits = matvec(this.lmHead, rmsNorm(x, this.w.finalNorm, this.cfg.rmsEps), V, H);
    const cap = this.cfg.finalSoftcap;
    if (cap) for (let i = 0; i < V; i++) logits[i] = cap * Math.tanh(logits[i]! / cap);
    return { logits, resid };
  }

  /** Overwrite value rows [start, start+n) of layer l; data is [n, kvHeads*headDim]. */
  writeValues(l: number, start: number, data: Float32Array): void {
    const row = this.cfg.kvHeads * this.cfg.headDim;
    for (let i = 0; i * row < data.length; i++) this.values[l]![start + i] = data.slice(i * row, (i + 1) * row);
  }
}
