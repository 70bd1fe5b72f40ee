/** Numerics on logit vectors: log-softmax, entropy, sampling. Pure functions. */

export function logSoftmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const n = logits.length;
  const out = new Float64Array(n);
  let mx = -Infinity;
  for (let i = 0; i < n; i++) mx = Math.max(mx, logits[i]! / temperature);
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(logits[i]! / temperature - mx);
  const lz = mx + Math.log(z);
  for (let i = 0; i < n; i++) out[i] = logits[i]! / temperature - lz;
  return out;
}

/** log softmax(logits / T)[id] in one pass without allocation. */
export function logProbAt(logits: ArrayLike<number>, id: number, temperature = 1): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! / temperature > m) m = logits[i]! / temperature;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! / temperature - m);
  // Same operation order as logSoftmax, so both give bit-identical values.
  return logits[id]! / temperature - (m + Math.log(z));
}

/** Shannon entropy in nats of a distribution given by log-probabilities. */
export function entropyFromLogProbs(lp: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < lp.length; i++) {
    const l = lp[i]!;
    if (l > -Infinity) h -= Math.exp(l) * l;
  }
  return h;
}

/**
 * log p(id) and the entropy (nats) of softmax(logits) in one pass and no allocation: the decode
 * loop calls this for every generated token over the whole vocabulary.
 *   H = log Z - (1/Z) sum e^(x-m) (x-m),  log p(id) = x_id - m - log Z
 */
export function tokenStats(logits: ArrayLike<number>, id: number): { logprob: number; entropy: number } {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  let z = 0;
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const d = logits[i]! - m;
    const e = Math.exp(d);
    z += e;
    s += e * d;
  }
  const logZ = Math.log(z);
  return { logprob: logits[id]! - m - logZ, entropy: logZ - s / z };
}

/** The k most probable ids (temperature 1) with their probabilities, most probable first. */
export function topTokens(logits: ArrayLike<number>, k: number): { id: number; p: number }[] {
  const best: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    if (best.length < k) {
      best.push(i);
      best.sort((a, b) => logits[b]! - logits[a]!);
    } else if (logits[i]! > logits[best[k - 1]!]!) {
      best[k - 1] = i;
      best.sort((a, b) => logits[b]! - logits[a]!);
    }
  }
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - m);
  return best.map((id) => ({ id, p: Math.exp(logits[id]! - m) / z }));
}

/** Normalises candidate scores (summed log-probs) into a distribution over the candidates. */
export function normalizeLogProbs(scores: number[]): number[] {
  const mx = Math.max(...scores);
  const e = scores.map((s) => Math.exp(s - mx));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

export interface SampleOptions {
  temperature?: number;
  topP?: number;
  /** Uniform [0,1) source; a seeded generator makes sampling reproducible. */
  random: () => number;
}

/** Greedy at temperature 0; otherwise nucleus sampling from softmax(logits / T). */
export function sampleToken(logits: ArrayLike<number>, opts: SampleOptions): number {
  const T = opts.temperature ?? 1;
  if (T <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const lp = logSoftmax(logits, T);
  const topP = opts.topP ?? 1;
  let order: number[];
  if (topP < 1) {
    order = Array.from(lp.keys()).sort((a, b) => lp[b]! - lp[a]!);
    let cum = 0;
    let k = 0;
    while (k < order.length && cum < topP) cum += Math.exp(lp[order[k++]!]!);
    order = order.slice(0, Math.max(1, k));
  } else {
    order = Array.from(lp.keys());
  }
  let z = 0;
  for (const i of order) z += Math.exp(lp[i]!);
  let u = opts.random() * z;
  for (const i of order) {
    u -= Math.exp(lp[i]!);
    if (u < 0) return i;
  }
  return order[order.length - 1]!;
}
