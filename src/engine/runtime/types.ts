/**
 * The runtime seam: onnxruntime-node in the CLI, onnxruntime-web (WebGPU or wasm) in the
 * worker. The session code only sees this interface and onnxruntime-common's types.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';

export type Device = 'cpu' | 'wasm' | 'webgpu';

export interface OrtLike {
  Tensor: typeof Tensor;
  InferenceSession: typeof InferenceSession;
}

export interface CreateSessionOptions {
  device: Device;
  externalData?: { path: string; data: Uint8Array }[];
  /** Outputs that should stay on the device (KV cache on WebGPU). */
  keepOnDevice?: string[];
}

export interface Runtime {
  readonly name: 'node' | 'web';
  readonly ort: OrtLike;
  /** Devices this runtime can try, best first. */
  readonly devices: Device[];
  /** A path string is accepted where the runtime reads files itself (Node); external data then sits beside it. */
  createSession(model: Uint8Array | string, opts: CreateSessionOptions): Promise<InferenceSession>;
}
