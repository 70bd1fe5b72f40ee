// AssemblyScript, compiled to wasm by scripts/build-kernels.mjs (the memory layout is in ../head8.ts).
//
// Logits of an 8-bit lm_head straight from its bytes, for P positions:
//   out[p * rows + v] = sum_b  s[v, b] * sum_i q[v, b, i] * x[p, b, i]   (+ o[v, b] * xs[p, b])
// q holds signed bytes (Q8_0's values), 32 per block; x is float32. Each product q * x is formed
// in float32 from the exact integer, as a float matmul over the dequantised weights forms it; only
// the order of the sums differs. The lm_head is read from memory once per 4 positions (the bytes
// of a block are widened once for all four): decode is bound by reading it, scoring by the products.

// @ts-ignore: decorator
@inline function widen(q: v128, hi: bool, upper: bool): v128 {
  const a = hi ? i16x8.extend_high_i8x16_s(q) : i16x8.extend_low_i8x16_s(q);
  return f32x4.convert_i32x4_s(upper ? i32x4.extend_high_i16x8_s(a) : i32x4.extend_low_i16x8_s(a));
}

// @ts-ignore: decorator
@inline function dot32(xb: usize, w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128): v128 {
  let d = f32x4.mul(w0, v128.load(xb));
  d = f32x4.add(d, f32x4.mul(w1, v128.load(xb, 16)));
  d = f32x4.add(d, f32x4.mul(w2, v128.load(xb, 32)));
  d = f32x4.add(d, f32x4.mul(w3, v128.load(xb, 48)));
  d = f32x4.add(d, f32x4.mul(w4, v128.load(xb, 64)));
  d = f32x4.add(d, f32x4.mul(w5, v128.load(xb, 80)));
  d = f32x4.add(d, f32x4.mul(w6, v128.load(xb, 96)));
  return f32x4.add(d, f32x4.mul(w7, v128.load(xb, 112)));
}

// @ts-ignore: decorator
@inline function finish(acc: v128, o: usize, xs: usize, v: usize, p: usize, nb: usize, out: usize, rows: usize): void {
  let r = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  if (o != 0) {
    const or = o + ((v * nb) << 2);
    const xsr = xs + ((p * nb) << 2);
    for (let b: usize = 0; b < nb; b++) r += load<f32>(or + (b << 2)) * load<f32>(xsr + (b << 2));
  }
  store<f32>(out + ((p * rows + v) << 2), r);
}

export function head8(q: usize, s: usize, o: usize, x: usize, xs: usize, out: usize, rows: i32, cols: i32, positions: i32): void {
  const C = <usize>cols;
  const nb = C >> 5;
  const R = <usize>rows;
  const P = <usize>positions;
  const xStride = C << 2;
  for (let v: usize = 0; v < R; v++) {
    const qr = q + v * C;
    const sr = s + ((v * nb) << 2);
    let p: usize = 0;
    for (; p + 4 <= P; p += 4) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      const x0 = x + p * xStride;
      for (let b: usize = 0; b < nb; b++) {
        const q0 = v128.load(qr + (b << 5));
        const q1 = v128.load(qr + (b << 5), 16);
        const w0 = widen(q0, false, false), w1 = widen(q0, false, true), w2 = widen(q0, true, false), w3 = widen(q0, true, true);
        const w4 = widen(q1, false, false), w5 = widen(q1, false, true), w6 = widen(q1, true, false), w7 = widen(q1, true, true);
        const sc = f32x4.splat(load<f32>(sr + (b << 2)));
        const xb = x0 + (b << 7);
        a0 = f32x4.add(a0, f32x4.mul(dot32(xb, w0, w1, w2, w3, w4, w5, w6, w7), sc));
        a1 = f32x4.add(a1, f32x4.mul(dot32(xb + xStride, w0, w1, w2, w3, w4, w5, w6, w7), sc));
        a2 = f32x4.add(a2, f32x4.mul(dot32(xb + 2 * xStride, w0, w1, w2, w3, w4, w5, w6, w7), sc));
        a3 = f32x4.add(a3, f32x4.mul(dot32(xb + 3 * xStride, w0, w1, w2, w3, w4, w5, w6, w7), sc));
      }
      finish(a0, o, xs, v, p, nb, out, R);
      finish(a1, o, xs, v, p + 1, nb, out, R);
      finish(a2, o, xs, v, p + 2, nb, out, R);
      finish(a3, o, xs, v, p + 3, nb, out, R);
    }
    for (; p < P; p++) {
      let a = f32x4.splat(0);
      const xp = x + p * xStride;
      for (let b: usize = 0; b < nb; b++) {
        const q0 = v128.load(qr + (b << 5));
        const q1 = v128.load(qr + (b << 5), 16);
        const d = dot32(xp + (b << 7), widen(q0, false, false), widen(q0, false, true), widen(q0, true, false), widen(q0, true, true), widen(q1, false, false), widen(q1, false, true), widen(q1, true, false), widen(q1, true, true));
        a = f32x4.add(a, f32x4.mul(d, f32x4.splat(load<f32>(sr + (b << 2)))));
      }
      finish(a, o, xs, v, p, nb, out, R);
    }
  }
}
