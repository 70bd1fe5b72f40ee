/**
 * Half-precision helpers. GGUF stores block scales as IEEE fp16 and some tensors as fp16 or
 * bfloat16; JS has neither type (Math.f16round is not in Node 20), so convert bit patterns here.
 */

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** fp16 bit pattern -> number. Exact: every fp16 value is representable in float32. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/**
 * number -> fp16 bit pattern, round to nearest even (what ggml's GGML_FP32_TO_FP16 and numpy's
 * astype(float16) do). The input is first rounded to float32, as the C code would see it.
 */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf / quiet NaN
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    // Result is an fp16 subnormal (or zero): shift the full 24-bit significand into 10 bits.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity at the top).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** number -> nearest fp16 value, as a number. */
export function roundToF16(value: number): number {
  return f16BitsToF32(f32ToF16Bits(value));
}

let f16Table: Float32Array | null = null;

/** 65536-entry fp16 -> float32 lookup table (256 KiB), built on first use: dequantization hot loops. */
export function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/** bfloat16 bit pattern -> number: the top half of a float32. */
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** number -> bfloat16 bits, exactly as ggml_compute_fp32_to_bf16: NaN forced quiet, else round to nearest even. */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const u = u32Scratch[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  // u + 0x8000 stays below 2^32 for every non-NaN pattern, so plain arithmetic is exact here.
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}
