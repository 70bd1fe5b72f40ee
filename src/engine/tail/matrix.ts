/**
 * Matrix-vector products on the engine's weight matrices (float or block-quantised), in float64
 * accumulators, straight from the quantised blocks: the last block's tail is evaluated on the CPU
 * without a dequantised copy of the lm_head (which would add vocab x hidden floats).
 */
import type { Matrix } from '../model/types.js';

type Vec = ArrayLike<number>;

/** Block parameters of a quantised matrix: w = scale * q + offset for every element of block (n, b). */
function blockParams(m: Extract<Matrix, { kind: 'nbits' }>): { scale: Float32Array; offset: Float32Array } {
  const nb = m.cols / 32;
  const scale = m.scales;
  const offset = new Float32Array(m.rows * nb);
  for (let i = 0; i < offset.length; i++) {
    if (m.mins) offset[i] = m.mins[i]!;
    else offset[i] = -scale[i]! * (m.zeroPoints ? m.zeroPoints[i]! : m.bits === 8 ? 128 : 8);
  }
  return { scale, offset };
}

const paramsCache = new WeakMap<Matrix, { scale: Float32Array; offset: Float32Array }>();
function params(m: Extract<Matrix, { kind: 'nbits' }>) {
  let p = paramsCache.get(m);
  if (!p) paramsCache.set(m, (p = blockParams(m)));
  return p;
}

/** y = W x for W [rows, cols]. */
export function matVec(m: Matrix, x: Vec): Float64Array {
  const { rows: N, cols: K } = m;
  const y = new Float64Array(N);
  if (m.kind === 'float') {
    const d = m.data;
    for (let n = 0; n < N; n++) {
      let acc = 0;
      const o = n * K;
      for (let k = 0; k < K; k++) acc += d[o + k]! * x[k]!;
      y[n] = acc;
    }
    return y;
  }
  const nb = K / 32;
  const { scale, offset } = params(m);
  // Block sums of x serve the offset term: sum_i (s q_i + o) x_i = s sum q_i x_i + o sum x_i.
  const xs = new Float64Array(nb);
  for (let b = 0; b < nb; b++) {
    let s = 0;
    for (let i = 0; i < 32; i++) s += x[b * 32 + i]!;
    xs[b] = s;
  }
  const B = m.B;
  const xv = Float64Array.from(x);
  for (let n = 0; n < N; n++) {
    let acc = 0;
    for (let b = 0; b < nb; b++) {
      const blk = n * nb + b;
      let qx = 0;
      const xo = b * 32;
      if (m.bits === 8) {
        const bo = blk * 32;
        // Four accumulators: the lm_head is the tail's hot loop.
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (let i = 0; i < 32; i += 4) {
          a0 += B[bo + i]! * xv[xo + i]!;
          a1 += B[bo + i + 1]! * xv[xo + i + 1]!;
          a2 += B[bo + i + 2]! * xv[xo + i + 2]!;
          a3 += B[bo + i + 3]! * xv[xo + i + 3]!;
        }
        qx = a0 + a1 + a2 + a3;
      } else {
        const bo = blk * 16;
        for (let i = 0; i < 16; i++) {
          const byte = B[bo + i]!;
          qx += (byte & 15) * xv[xo + 2 * i]! + (byte >> 4) * xv[xo + 2 * i + 1]!;
        }
      }
      acc += scale[blk]! * qx + offset[blk]! * xs[b]!;
    }
    y[n] = acc;
  }
  return y;
}

/** x = W^T g for W [rows, cols]: the backward of matVec. */
export function matTVec(m: Matrix, g: Vec): Float64Array {
  const { rows: N, cols: K } = m;
  const out = new Float64Array(K);
  if (m.kind === 'float') {
    const d = m.data;
    for (let n = 0; n < N; n++) {
      const gn = g[n]!;
      if (gn === 0) continue;
      const o = n * K;
      for (let k = 0; k < K; k++) out[k] += gn * d[o + k]!;
    }
    return out;
  }
  const nb = K / 32;
  const { scale, offset } = params(m);
  const B = m.B;
  for (let n = 0; n < N; n++) {
    const gn = g[n]!;
    if (gn === 0) continue;
    for (let b = 0; b < nb; b++) {
      const blk = n * nb + b;
      const c = gn * scale[blk]!;
      const d = gn * offset[blk]!;
      const xo = b * 32;
      if (m.bits === 8) {
        const bo = blk * 32;
        for (let i = 0; i < 32; i += 4) {
          out[xo + i] += c * B[bo + i]! + d;
          out[xo + i + 1] += c * B[bo + i + 1]! + d;
          out[xo + i + 2] += c * B[bo + i + 2]! + d;
          out[xo + i + 3] += c * B[bo + i + 3]! + d;
        }
      } else {
        const bo = blk * 16;
        for (let i = 0; i < 16; i++) {
          const byte = B[bo + i]!;
          out[xo + 2 * i] += c * (byte & 15) + d;
          out[xo + 2 * i + 1] += c * (byte >> 4) + d;
        }
      }
    }
  }
  return out;
}

/** Bytes a matrix holds (for memory reports). */
export function matrixBytes(m: Matrix): number {
  if (m.kind === 'float') return m.data.byteLength;
  return m.B.byteLength + m.scales.byteLength + (m.zeroPoints?.byteLength ?? 0) + (m.mins?.byteLength ?? 0);
}
