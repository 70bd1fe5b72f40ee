/** onnxruntime-node on the CPU: the Node CLI and the Node test suite. */
import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-common';
import type { CreateSessionOptions, OrtLike, Runtime } from './types.js';

export const nodeRuntime: Runtime = {
  name: 'node',
  ort: ort as unknown as OrtLike,
  devices: ['cpu'],
  async createSession(model: Uint8Array | string, opts: CreateSessionOptions): Promise<InferenceSession> {
    return (await ort.InferenceSession.create(model as Uint8Array, {
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
      graphOptimizationLevel: 'all',
      ...(opts.externalData ? { externalData: opts.externalData } : {}),
    })) as unknown as InferenceSession;
  },
};
