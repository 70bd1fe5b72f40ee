/**
 * The self-test worker's API (src/testing/selftest.worker.ts), shared by the worker and its page
 * client. Test-only: the browser test harness loads it; the app and the production model worker
 * never import anything under src/testing. Results travel as Wire<T> like the model worker's, so
 * a failure comes back as a SteerlabError with its code.
 */
import type { Wire, WebDevice } from '../workers/api.js';

export interface SelfTestRequest {
  device: WebDevice;
  /** Also run fp16 graphs (skipped, with the reason, where the device cannot). */
  fp16?: boolean;
}

/** One tiny model checked against the TypeScript reference forward, all numbers as plain arrays. */
export interface SelfTestCase {
  style: 'optimum' | 'genai';
  dtype: 'fp32' | 'fp16';
  device: string;
  fallbackReason?: string;
  layers: number;
  hidden: number;
  /** Steered layer, strength and the prompt used. */
  layer: number;
  beta: number;
  prompt: number[];
  /** Chunk positions whose residuals are in `hidden*`: [layers, positions.length, hidden]. */
  positions: number[];
  /** Graph with the steering vector: last-position logits and residuals. */
  logits: number[];
  hiddenStates: number[];
  /** Reference forward (computed in the worker) with the same vector added. */
  refLogits: number[];
  refHiddenStates: number[];
  /** A zero vector at full strength vs no steering at all, and vs the graph without hooks. */
  zeroLogits: number[];
  unsteeredLogits: number[];
  plainLogits: number[];
  /** Cached decode of one more steered token vs the reference. */
  decodeLogits: number[];
  refDecodeLogits: number[];
  ms: number;
}

export interface SelfTestResult {
  devices: string[];
  webgpuProblem: string | null;
  cases: SelfTestCase[];
  /** fp16 cases that were not run, and why. */
  skipped: string[];
}

/** What the test page calls. */
export interface SelfTestApi {
  /** Builds tiny random decoders in the worker and runs them next to the TypeScript reference forward. */
  tinySelfTest(req: SelfTestRequest): Promise<SelfTestResult>;
}

/** What the self-test worker exposes through comlink: SelfTestApi with every result wrapped in a Wire. */
export type SelfTestEndpointApi = {
  [K in keyof SelfTestApi]: (...args: Parameters<SelfTestApi[K]>) => Promise<Wire<Awaited<ReturnType<SelfTestApi[K]>>>>;
};
