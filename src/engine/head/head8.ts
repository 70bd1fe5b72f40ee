/**
 * An 8-bit lm_head run outside onnxruntime, by a small wasm SIMD kernel (assembly/head8.ts).
 *
 * Why: onnxruntime-web's wasm build has no fast exact kernel for 8-bit weights (MatMulNBits
 * dequantises the whole matrix on every call), so the browser's wasm device used to hold the
 * lm_head as a float32 copy: 4 bytes per weight, 671 MB for Gemma 3's tied 262k x 640 table. Here
 * the weights stay one signed byte each, plus one float32 scale per 32, in the kernel's own
 * memory; the graph stops at the final norm (`head_input`) and the session turns those rows into
 * logits. The kernel forms every product in float32 from the exact integer, as a float matmul over
 * the dequantised weights does; only the order of the sums differs.
 */
import { SteerlabError } from '../../errors.js';
import type { Matrix } from '../model/types.js';
import { HEAD8_WASM } from './head8-wasm.js';

/** What the session needs from a head that runs outside the graph. */
export interface LogitsHead {
  readonly rows: number;
  readonly cols: number;
  /** Bytes the head holds (weights, scales, offsets). */
  readonly bytes: number;
  /** [positions, cols] final-norm rows -> [positions, rows] logits. */
  logits(hidden: Float32Array, positions: number): Float32Array;
  /** For a tied table: the embedding rows of `ids`, [ids.length, cols], as the graph's gather would give them. */
  embed?(ids: readonly number[]): Float32Array;
}

type Head8Exports = {
  memory: WebAssembly.Memory;
  head8: (q: number, s: number, o: number, x: number, xs: number, out: number, rows: number, cols: number, positions: number) => void;
};

let compiled: WebAssembly.Module | null = null;
function kernelModule(): WebAssembly.Module {
  if (!compiled) {
    const bin = atob(HEAD8_WASM);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    try {
      compiled = new WebAssembly.Module(bytes);
    } catch (e) {
      throw new SteerlabError('BAD_GRAPH', `this runtime cannot compile the 8-bit lm_head kernel (it needs WebAssembly SIMD): ${(e as Error).message}`, { cause: e });
    }
  }
  return compiled;
}

const PAGE = 65536;
const align = (n: number) => Math.ceil(n / 16) * 16;

/** Whether a matrix can go to Head8: 8-bit blocks of 32 over whole rows (w = s (q - z); no minima). */
export function head8Supports(m: Matrix): boolean {
  return m.kind === 'nbits' && m.bits === 8 && m.cols % 32 === 0 && !m.mins;
}

export class Head8 implements LogitsHead {
  readonly rows: number;
  readonly cols: number;
  readonly bytes: number;
  private readonly k: Head8Exports;
  private readonly qOff: number;
  private readonly sOff: number;
  /** 0 when every block's offset is 0 (Q8_0: w = s q exactly). */
  private readonly oOff: number;
  /** Where the per-call buffers (x, block sums of x, logits) start; sized for `capacity` positions. */
  private readonly ioOff: number;
  private capacity = 0;

  /** softcap: Gemma 2 style cap * tanh(logits / cap), applied after the product. */
  constructor(m: Matrix, private readonly softcap?: number) {
    if (m.kind !== 'nbits' || !head8Supports(m)) throw new SteerlabError('BAD_ARGUMENT', 'Head8 takes an 8-bit matrix in blocks of 32');
    const { rows: V, cols: C, B, scales, zeroPoints } = m;
    const nb = C / 32;
    this.rows = V;
    this.cols = C;
    const hasOffsets = !!zeroPoints;
    this.qOff = PAGE;
    this.sOff = align(this.qOff + V * C);
    this.oOff = hasOffsets ? align(this.sOff + V * nb * 4) : 0;
    this.ioOff = align((hasOffsets ? this.oOff : this.sOff) + V * nb * 4);
    this.bytes = this.ioOff - this.qOff;
    this.k = new WebAssembly.Instance(kernelModule(), {}).exports as unknown as Head8Exports;
    this.reserve(1);
    const mem = this.k.memory.buffer;
    // Stored bytes are unsigned, w = s (byte - z) with z = 128 unless the matrix gives zero points:
    // the kernel reads byte - 128 as a signed byte and adds s (128 - z) per block.
    const q = new Uint8Array(mem, this.qOff, V * C);
    for (let i = 0; i < q.length; i++) q[i] = B[i]! ^ 0x80;
    new Float32Array(mem, this.sOff, V * nb).set(scales);
    if (hasOffsets) {
      const o = new Float32Array(mem, this.oOff, V * nb);
      for (let i = 0; i < o.length; i++) o[i] = scales[i]! * (128 - zeroPoints[i]!);
    }
  }

  private reserve(positions: number): void {
    if (positions <= this.capacity) return;
    const need = this.ioOff + align(positions * this.cols * 4) + align(positions * (this.cols / 32) * 4) + positions * this.rows * 4;
    const have = this.k.memory.buffer.byteLength;
    if (need > have) {
      try {
        this.k.memory.grow(Math.ceil((need - have) / PAGE));
      } catch (e) {
        throw new SteerlabError('STORAGE_FULL', `the 8-bit lm_head kernel could not get ${((need / 2 ** 20) | 0)} MiB of wasm memory`, { cause: e });
      }
    }
    this.capacity = positions;
  }

  /** Rows of the table, dequantised: s (q - z), the values matrixToFloat gives. */
  embed(ids: readonly number[]): Float32Array {
    const { rows: V, cols: C } = this;
    const nb = C / 32;
    const mem = this.k.memory.buffer;
    const q = new Int8Array(mem, this.qOff, V * C);
    const sc = new Float32Array(mem, this.sOff, V * nb);
    const off = this.oOff ? new Float32Array(mem, this.oOff, V * nb) : null;
    const out = new Float32Array(ids.length * C);
    ids.forEach((id, p) => {
      for (let b = 0; b < nb; b++) {
        const s = sc[id * nb + b]!;
        const o = off ? off[id * nb + b]! : 0;
        for (let i = 0; i < 32; i++) out[p * C + b * 32 + i] = Math.fround(s * q[id * C + b * 32 + i]!) + o;
      }
    });
    return out;
  }

  logits(hidden: Float32Array, positions: number): Float32Array {
    const { rows: V, cols: C } = this;
    if (hidden.length !== positions * C) throw new SteerlabError('BAD_SHAPE', `lm_head input has ${hidden.length} values, expected ${positions} x ${C}`);
    this.reserve(positions);
    const nb = C / 32;
    const xOff = this.ioOff;
    const xsOff = align(xOff + this.capacity * C * 4);
    const outOff = align(xsOff + this.capacity * nb * 4);
    const mem = this.k.memory.buffer;
    new Float32Array(mem, xOff, positions * C).set(hidden);
    if (this.oOff) {
      const xs = new Float32Array(mem, xsOff, positions * nb);
      for (let p = 0; p < positions; p++) {
        for (let b = 0; b < nb; b++) {
          let t = 0;
          for (let i = 0; i < 32; i++) t += hidden[p * C + b * 32 + i]!;
          xs[p * nb + b] = t;
        }
      }
    }
    this.k.head8(this.qOff, this.sOff, this.oOff, xOff, xsOff, outOff, V, C, positions);
    const out = new Float32Array(mem, outOff, positions * V).slice();
    const cap = this.softcap;
    if (cap) for (let i = 0; i < out.length; i++) out[i] = cap * Math.tanh(out[i]! / cap);
    return out;
  }
}
