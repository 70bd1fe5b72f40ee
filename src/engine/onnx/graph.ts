/**
 * A small builder for ONNX graphs: named values, initializers from typed arrays, nodes with
 * attributes. Used by the decoder generator (GGUF conversion, tiny test models) and the hook
 * rewrite, so both emit graphs the same way.
 */
import { f16Lut, f32ToF16Bits } from '../gguf/half.js';
import { DT, encodeModel, valueInfo, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.js';

export type AttrValue = number | string | number[] | { floats: number[] } | { int: number } | { float: number };

export type InitData = Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export function makeAttr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: ATTR.INT, i: v } : { name, type: ATTR.FLOAT, f: v };
  }
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  if ('floats' in v) return { name, type: ATTR.FLOATS, floats: v.floats };
  if ('int' in v) return { name, type: ATTR.INT, i: v.int };
  return { name, type: ATTR.FLOAT, f: v.float };
}

function bytesOf(data: InitData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function makeTensor(name: string, data: InitData, dims: number[], dataType: number): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n && !(dataType === DT.UINT8 && data.length === n)) {
    throw new Error(`initializer ${name}: ${data.length} elements for dims [${dims}]`);
  }
  return { name, dims, dataType, rawData: bytesOf(data) };
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();

  /** prefix keeps generated names apart when a builder adds to an existing graph. */
  constructor(private readonly prefix = '') {}

  input(name: string, elemType: number, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: (number | string)[]): string {
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  init(name: string, data: InitData, dims: number[], dataType: number): string {
    this.initializers.push(makeTensor(name, data, dims, dataType));
    return name;
  }

  /** Small constants are shared by value so repeated shapes/axes appear once in the graph. */
  constI64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims}:${values}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = `${this.prefix}/const/i64_${this.constCache.size}`;
      this.init(name, BigInt64Array.from(values.map(BigInt)), dims, DT.INT64);
      this.constCache.set(key, name);
    }
    return name;
  }

  constF(values: number[], dims: number[], dataType: number): string {
    const key = `f${dataType}:${dims}:${values}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = `${this.prefix}/const/f_${this.constCache.size}`;
      if (dataType === DT.FLOAT16) this.init(name, f32ToF16Array(Float32Array.from(values)), dims, DT.FLOAT16);
      else this.init(name, Float32Array.from(values), dims, DT.FLOAT);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output names (generated from the node name when not given). */
  node(
    opType: string,
    inputs: string[],
    opts: { name?: string; outputs?: number | string[]; attrs?: Record<string, AttrValue>; domain?: string } = {},
  ): string[] {
    const name = opts.name ?? `${this.prefix}/${opType}_${this.counter++}`;
    const outs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${name}/output_${i}`);
    const attribute = Object.entries(opts.attrs ?? {}).map(([k, v]) => makeAttr(k, v));
    this.nodes.push({ name, opType, domain: opts.domain ?? '', input: inputs, output: outs, attribute });
    return outs;
  }

  /** Single-output convenience. */
  op(opType: string, inputs: string[], attrs?: Record<string, AttrValue>, name?: string, domain?: string): string {
    return this.node(opType, inputs, { attrs, name, domain })[0]!;
  }

  toModel(metadata: Record<string, string> = {}): ModelProto {
    return {
      irVersion: 8,
      producerName: 'steerlab',
      opsetImport: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: {
        name: 'steerlab',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    };
  }

  encode(metadata?: Record<string, string>): Uint8Array {
    return encodeModel(this.toModel(metadata));
  }

  /**
   * Encodes the graph with large initializers moved to one external-data buffer (ONNX's
   * data_location = EXTERNAL). The graph proto stays small, so hook rewriting never re-encodes
   * weights, and the runtime receives the weights once instead of inside a protobuf copy.
   */
  encodeExternal(location: string, metadata?: Record<string, string>, minBytes = 1024): { graph: Uint8Array; data: Uint8Array } {
    const big = this.initializers.filter((t) => (t.rawData?.byteLength ?? 0) >= minBytes);
    let total = 0;
    const offsets = big.map((t) => {
      const off = total;
      total += Math.ceil(t.rawData!.byteLength / 64) * 64; // 64-byte aligned, as ORT prefers
      return off;
    });
    const data = new Uint8Array(total);
    big.forEach((t, i) => {
      data.set(t.rawData!, offsets[i]);
      t.externalData = [
        { key: 'location', value: location },
        { key: 'offset', value: String(offsets[i]) },
        { key: 'length', value: String(t.rawData!.byteLength) },
      ];
      t.dataLocation = 1;
      delete t.rawData;
    });
    return { graph: encodeModel(this.toModel(metadata)), data };
  }
}

// ---- half floats (Node 20 has no Float16Array); scalar conversions live with the GGUF code ----
export function f32ToF16Array(a: Float32Array): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f32ToF16Bits(a[i]!);
  return out;
}

export function f16ToF32Array(a: Uint16Array): Float32Array {
  const lut = f16Lut();
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = lut[a[i]!]!;
  return out;
}
