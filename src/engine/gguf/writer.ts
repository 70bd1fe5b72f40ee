/**
 * GGUF v3 writer for tiny test models, vocabulary-only files and llama.cpp control vectors.
 * Everything is assembled in memory; files here are small.
 *
 * Value types: JS numbers are ambiguous, so a value without an explicit type is inferred as
 * UINT32 (integer in 0..2^32-1), INT32 (negative integer >= -2^31) or FLOAT32 (anything else);
 * bigint as UINT64 (>= 0) or INT64. Keys that llama.cpp reads as float (rope.freq_base,
 * layer_norm_rms_epsilon, ...) must be given GgufValueType.FLOAT32 explicitly when the value may
 * be integral, since llama.cpp rejects a key stored with the wrong type.
 */
import { SteerlabError } from '../../errors.js';
import { GgmlType, ggmlByteSize, ggmlTypeInfo } from './ggml-types';
import { GgufValueType, type GgufTypeSpec, type GgufValue, type GgufValueTypeId } from './reader';

export type GgufMetadataEntry = [key: string, value: GgufValue, type?: GgufTypeSpec];

export interface GgufTensorInput {
  name: string;
  /** ne0 first (a weight of out x in is [in, out]) */
  dims: number[];
  /** ggml type id */
  type: number;
  /** exactly the encoded bytes of the tensor */
  data: Uint8Array;
}

export interface WriteGgufOptions {
  metadata: GgufMetadataEntry[];
  tensors?: GgufTensorInput[];
  /** power of two; when not 32 a general.alignment key is added unless present. Default 32. */
  alignment?: number;
}

const bad = (msg: string): never => {
  throw new SteerlabError('BAD_ARGUMENT', `writeGguf: ${msg}`);
};

class ByteWriter {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private static readonly enc = new TextEncoder();

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  private put(n: number, f: (dv: DataView, o: number) => void): void {
    this.reserve(n);
    f(this.dv, this.len);
    this.len += n;
  }
  u8(v: number): void { this.put(1, (d, o) => d.setUint8(o, v)); }
  i8(v: number): void { this.put(1, (d, o) => d.setInt8(o, v)); }
  u16(v: number): void { this.put(2, (d, o) => d.setUint16(o, v, true)); }
  i16(v: number): void { this.put(2, (d, o) => d.setInt16(o, v, true)); }
  u32(v: number): void { this.put(4, (d, o) => d.setUint32(o, v, true)); }
  i32(v: number): void { this.put(4, (d, o) => d.setInt32(o, v, true)); }
  f32(v: number): void { this.put(4, (d, o) => d.setFloat32(o, v, true)); }
  f64(v: number): void { this.put(8, (d, o) => d.setFloat64(o, v, true)); }
  u64(v: bigint): void { this.put(8, (d, o) => d.setBigUint64(o, v, true)); }
  i64(v: bigint): void { this.put(8, (d, o) => d.setBigInt64(o, v, true)); }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.len); this.len += b.length; }
  string(s: string): void { const b = ByteWriter.enc.encode(s); this.u64(BigInt(b.length)); this.bytes(b); }
  padTo(alignment: number): void { const n = (alignment - (this.len % alignment)) % alignment; this.reserve(n); this.buf.fill(0, this.len, this.len + n); this.len += n; }
  result(): Uint8Array { return this.buf.slice(0, this.len); }
}

function inferScalar(v: unknown, key: string): GgufValueTypeId {
  if (typeof v === 'string') return GgufValueType.STRING;
  if (typeof v === 'boolean') return GgufValueType.BOOL;
  if (typeof v === 'bigint') return v >= 0n ? GgufValueType.UINT64 : GgufValueType.INT64;
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return GgufValueType.UINT32;
    if (Number.isInteger(v) && v < 0 && v >= -0x80000000) return GgufValueType.INT32;
    if (Number.isInteger(v) && Math.abs(v) > 0xffffffff) return bad(`${key}: integer ${v} needs an explicit 64-bit type`);
    return GgufValueType.FLOAT32;
  }
  return bad(`${key}: cannot infer a GGUF type for ${typeof v}`);
}

/** Infer a full type spec; arrays take the widest type their elements agree on. */
export function inferGgufType(value: GgufValue, key = 'value'): GgufTypeSpec {
  if (value instanceof Uint8Array) return { array: GgufValueType.UINT8 };
  if (value instanceof Int8Array) return { array: GgufValueType.INT8 };
  if (value instanceof Uint16Array) return { array: GgufValueType.UINT16 };
  if (value instanceof Int16Array) return { array: GgufValueType.INT16 };
  if (value instanceof Uint32Array) return { array: GgufValueType.UINT32 };
  if (value instanceof Int32Array) return { array: GgufValueType.INT32 };
  if (value instanceof Float32Array) return { array: GgufValueType.FLOAT32 };
  if (value instanceof Float64Array) return { array: GgufValueType.FLOAT64 };
  if (value instanceof BigUint64Array) return { array: GgufValueType.UINT64 };
  if (value instanceof BigInt64Array) return { array: GgufValueType.INT64 };
  if (!Array.isArray(value)) return inferScalar(value, key);
  if (value.length === 0) return bad(`${key}: cannot infer the element type of an empty array; pass it explicitly`);
  if (Array.isArray(value[0]) || ArrayBuffer.isView(value[0])) return { array: inferGgufType(value[0] as GgufValue, `${key}[0]`) };
  const types = new Set((value as unknown[]).map((v, i) => inferScalar(v, `${key}[${i}]`)));
  if (types.size === 1) return { array: [...types][0]! };
  const numeric = [...types].every((t) => t === GgufValueType.UINT32 || t === GgufValueType.INT32 || t === GgufValueType.FLOAT32);
  if (!numeric) return bad(`${key}: array mixes element types`);
  if (types.has(GgufValueType.FLOAT32)) return { array: GgufValueType.FLOAT32 };
  // Mixed signs: INT32 if every value fits, else the caller must choose.
  if ((value as number[]).every((v) => v <= 0x7fffffff)) return { array: GgufValueType.INT32 };
  return bad(`${key}: integers span both uint32 and int32 ranges; pass the element type`);
}

function intIn(v: unknown, lo: number, hi: number, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(`${key}: ${String(v)} is not an integer in [${lo}, ${hi}]`);
  return v as number;
}

function big(v: unknown, signed: boolean, key: string): bigint {
  const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : bad(`${key}: ${String(v)} is not a 64-bit integer`);
  const ok = signed ? b >= -(1n << 63n) && b < 1n << 63n : b >= 0n && b < 1n << 64n;
  if (!ok) bad(`${key}: ${b} is out of range`);
  return b;
}

function writeValue(w: ByteWriter, v: unknown, spec: GgufTypeSpec, key: string): void {
  if (typeof spec === 'object') {
    if (!Array.isArray(v) && !(ArrayBuffer.isView(v) && !(v instanceof DataView))) bad(`${key}: expected an array`);
    const arr = v as ArrayLike<unknown>;
    const et = spec.array;
    w.u32(typeof et === 'object' ? GgufValueType.ARRAY : et);
    w.u64(BigInt(arr.length));
    for (let i = 0; i < arr.length; i++) {
      if (typeof et === 'object') writeValue(w, arr[i], et, `${key}[${i}]`);
      else writeScalar(w, arr[i], et, `${key}[${i}]`);
    }
    return;
  }
  writeScalar(w, v, spec, key);
}

// Nested array elements carry their own type header; top-level values get theirs in writeGguf.
function writeScalar(w: ByteWriter, v: unknown, t: GgufValueTypeId, key: string): void {
  switch (t) {
    case GgufValueType.UINT8: return w.u8(intIn(v, 0, 0xff, key));
    case GgufValueType.INT8: return w.i8(intIn(v, -0x80, 0x7f, key));
    case GgufValueType.UINT16: return w.u16(intIn(v, 0, 0xffff, key));
    case GgufValueType.INT16: return w.i16(intIn(v, -0x8000, 0x7fff, key));
    case GgufValueType.UINT32: return w.u32(intIn(v, 0, 0xffffffff, key));
    case GgufValueType.INT32: return w.i32(intIn(v, -0x80000000, 0x7fffffff, key));
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      if (typeof v !== 'number') bad(`${key}: expected a number`);
      return t === GgufValueType.FLOAT32 ? w.f32(v as number) : w.f64(v as number);
    case GgufValueType.UINT64: return w.u64(big(v, false, key));
    case GgufValueType.INT64: return w.i64(big(v, true, key));
    case GgufValueType.BOOL:
      if (typeof v !== 'boolean') bad(`${key}: expected a boolean`);
      return w.u8(v ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof v !== 'string') bad(`${key}: expected a string`);
      return w.string(v as string);
    default:
      return bad(`${key}: unknown GGUF value type ${String(t)}`);
  }
}

/** Serialize a GGUF v3 file. Tensor data is placed in order, each at an aligned offset. */
export function writeGguf(opts: WriteGgufOptions): Uint8Array {
  const alignment = opts.alignment ?? 32;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || alignment > 0x7fffffff) {
    bad(`alignment ${alignment} is not a power of two`);
  }
  const metadata = [...opts.metadata];
  const alignEntry = metadata.find(([k]) => k === 'general.alignment');
  if (alignEntry) {
    if (alignEntry[1] !== alignment) bad(`general.alignment ${String(alignEntry[1])} disagrees with alignment ${alignment}`);
    alignEntry[2] = GgufValueType.UINT32; // readers (ours and llama.cpp's) require exactly this type
  } else if (alignment !== 32) {
    metadata.push(['general.alignment', alignment, GgufValueType.UINT32]);
  }
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (keys.has(k)) bad(`duplicate key ${k}`);
    keys.add(k);
  }
  const tensors = opts.tensors ?? [];
  const names = new Set<string>();
  const sizes = tensors.map((t) => {
    if (names.has(t.name)) bad(`duplicate tensor ${t.name}`);
    names.add(t.name);
    if (t.dims.length < 1 || t.dims.length > 4) bad(`tensor ${t.name} needs 1..4 dims`);
    const info = ggmlTypeInfo(t.type) ?? bad(`tensor ${t.name} has unknown ggml type ${t.type}`);
    const n = t.dims.reduce((a, b) => a * intIn(b, 0, Number.MAX_SAFE_INTEGER, `tensor ${t.name} dim`), 1);
    if (t.dims[0]! % info.blockSize !== 0) bad(`tensor ${t.name}: ne0 ${t.dims[0]} is not a multiple of ${info.name}'s block ${info.blockSize}`);
    const nbytes = ggmlByteSize(t.type, n, `tensor ${t.name}`);
    if (t.data.length !== nbytes) bad(`tensor ${t.name}: ${info.name} ${t.dims.join('x')} needs ${nbytes} bytes, got ${t.data.length}`);
    return nbytes;
  });

  const w = new ByteWriter();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(BigInt(tensors.length));
  w.u64(BigInt(metadata.length));
  for (const [key, value, type] of metadata) {
    const spec = type ?? inferGgufType(value, key);
    w.string(key);
    w.u32(typeof spec === 'object' ? GgufValueType.ARRAY : spec);
    writeValue(w, value, spec, key);
  }
  let rel = 0;
  const offsets = sizes.map((n) => {
    const o = rel;
    rel = Math.ceil((rel + n) / alignment) * alignment;
    return o;
  });
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(BigInt(d));
    w.u32(t.type);
    w.u64(BigInt(offsets[i]!));
  });
  if (tensors.length > 0) {
    w.padTo(alignment);
    for (const t of tensors) {
      w.bytes(t.data);
      w.padTo(alignment);
    }
  }
  return w.result();
}

/**
 * A llama.cpp control-vector file (what repeng writes and llama.cpp's --control-vector reads):
 * general.architecture "controlvector", controlvector.model_hint, controlvector.layer_count, and
 * one 1-D F32 tensor "direction.N" of n_embd values per steered layer. llama.cpp adds direction.N
 * to the output of block N (0-based) and rejects N = 0, so layers are 1..n_layer-1.
 */
export function writeControlVector(directions: Iterable<[layer: number, direction: Float32Array]>, modelHint = 'llama'): Uint8Array {
  const entries = [...directions].sort((a, b) => a[0] - b[0]);
  if (entries.length === 0) bad('a control vector needs at least one direction');
  const nEmbd = entries[0]![1].length;
  const tensors: GgufTensorInput[] = entries.map(([layer, dir]) => {
    intIn(layer, 1, 0xffff, 'control vector layer');
    if (dir.length !== nEmbd || nEmbd === 0) bad(`direction.${layer} has ${dir.length} values, expected ${nEmbd}`);
    if (!dir.every(Number.isFinite)) bad(`direction.${layer} has non-finite values`);
    return { name: `direction.${layer}`, dims: [nEmbd], type: GgmlType.F32, data: new Uint8Array(Float32Array.from(dir).buffer) };
  });
  return writeGguf({
    metadata: [
      ['general.architecture', 'controlvector', GgufValueType.STRING],
      ['controlvector.model_hint', modelHint, GgufValueType.STRING],
      ['controlvector.layer_count', entries.length, GgufValueType.UINT32],
    ],
    tensors,
  });
}
