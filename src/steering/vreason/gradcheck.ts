/**
 * Checks V-Reason's gradient against central finite differences through the model itself: the
 * loss alpha * KL(p || U) of the next token after `ids`, as a function of dV on the value rows
 * of the prompt before the query token, is evaluated by writing V~ into a cache and running the
 * real graph; the analytic gradient comes from the tail's backward. Directions mix the gradient
 * with random ones so each directional derivative stands well above float32 noise.
 */
import { SteerlabError } from '../../errors.js';
import type { ModelSession } from '../../engine/session.js';
import { tailBackward, tailForward } from '../../engine/tail/forward.js';
import { Rng } from '../../util/rng.js';
import { tailHook } from './run.js';
import { normPreserve, normPreserveBack, norm2, tokenObjective } from './update.js';

export interface GradCheck {
  checks: { fd: number; analytic: number; relError: number }[];
  maxRelError: number;
  /** Max |tail logits - model logits| at the query. */
  tailError: number;
  rows: number;
}

export async function gradCheck(session: ModelSession, ids: number[], o: { directions?: number; alpha?: number; seed?: number } = {}): Promise<GradCheck> {
  if (ids.length < 3) throw new SteerlabError('BAD_ARGUMENT', 'the gradient check needs a prompt of at least 3 tokens');
  const tail = await session.tail();
  const L = tail.layer, D = tail.headDim;
  const alpha = o.alpha ?? 1;
  const rng = new Rng(o.seed ?? 0).fork('gradcheck');
  const prefix = session.newCache();
  try {
    await session.forward(prefix, ids.slice(0, -1));
    const span = { start: 0, end: ids.length - 1 };
    const n = span.end - span.start;
    const v0 = await session.readValues(prefix, L, span.start, span.end);
    // The model's loss at dV: V~ written into a fork of the prefix, then the query token's forward.
    const lossAt = async (dv: Float64Array) => {
      const f = prefix.fork();
      try {
        await session.writeValues(f, L, span.start, Float32Array.from(normPreserve(v0, dv, D)));
        return tokenObjective((await session.forward(f, ids.slice(-1))).logits, alpha).loss;
      } finally {
        f.dispose();
      }
    };
    // A general point: dV0 a small random perturbation (at 0 the norm Jacobian is a plain projection).
    const scale = norm2(v0) / Math.sqrt(v0.length);
    const dv0 = Float64Array.from(v0, () => 0.2 * scale * (rng.next() * 2 - 1));
    const q = session.newCache();
    let analytic: Float64Array, tailError: number;
    try {
      await session.forward(q, ids.slice(0, -1));
      const r = await session.forward(q, ids.slice(-1), { read: { hooks: [tailHook(session.info.layers)] } });
      const T = q.length;
      const site = { x: r.acts.row(tailHook(session.info.layers), 0), pos: T - 1, keys: await session.readKeys(q, L, 0, T), values: await session.readValues(q, L, 0, T), T };
      const f0 = tailForward(tail, site, { start: span.start, rows: normPreserve(v0, new Float64Array(v0.length), D), n });
      tailError = Math.max(...Array.from(f0.logits, (x, i) => Math.abs(x - r.logits[i]!)));
      const f = tailForward(tail, site, { start: span.start, rows: normPreserve(v0, dv0, D), n });
      const g = new Float64Array(v0.length);
      tailBackward(tail, f, tokenObjective(f.logits, alpha).grad, span.start, n, g);
      analytic = normPreserveBack(v0, dv0, g, D);
    } finally {
      q.dispose();
    }
    const gn = norm2(analytic);
    if (!(gn > 0)) throw new SteerlabError('BAD_ARGUMENT', 'the gradient is zero here: nothing to check');
    const checks: GradCheck['checks'] = [];
    const K = o.directions ?? 6;
    for (let k = 0; k < K; k++) {
      const u = Float64Array.from(analytic, (x) => (k === 0 ? x / gn : (0.5 * x) / gn + (0.5 * (rng.next() * 2 - 1)) / Math.sqrt(v0.length / 3)));
      const un = norm2(u);
      for (let i = 0; i < u.length; i++) u[i] /= un;
      let dot = 0;
      for (let i = 0; i < u.length; i++) dot += analytic[i]! * u[i]!;
      // Step: a loss change of ~5e-2, far above float32 noise; Richardson's (4 D(h/2) - D(h)) / 3
      // cancels the h^2 truncation term of the central difference.
      const h = Math.min(5e-2 / Math.abs(dot), 0.2 * scale);
      const central = async (step: number) => {
        const plus = Float64Array.from(dv0, (x, i) => x + step * u[i]!);
        const minus = Float64Array.from(dv0, (x, i) => x - step * u[i]!);
        return ((await lossAt(plus)) - (await lossAt(minus))) / (2 * step);
      };
      const fd = (4 * (await central(h / 2)) - (await central(h))) / 3;
      checks.push({ fd, analytic: dot, relError: Math.abs(fd - dot) / Math.max(Math.abs(fd), Math.abs(dot), 1e-12) });
    }
    return { checks, maxRelError: Math.max(...checks.map((c) => c.relError)), tailError, rows: n * session.info.kvHeads };
  } finally {
    prefix.dispose();
  }
}
