/**
 * The self-test worker: a test-only module worker that builds tiny random decoders on the
 * browser's own ONNX runtime and returns their numbers next to the TypeScript reference
 * forward's (selftest.ts). It has its own runtime and answers only the self-test; the browser
 * test harness starts it (selftest-client.ts). Not part of the app: src/workers/model.worker.ts
 * does not know it exists. Calls run one at a time.
 */
import * as Comlink from 'comlink';
import { createWebRuntime, type WebRuntime } from '../engine/runtime/web.js';
import { toWireError } from '../workers/api.js';
import { tinySelfTest } from './selftest.js';
import type { SelfTestEndpointApi } from './selftest-api.js';

let runtimePromise: Promise<WebRuntime> | null = null;
const runtime = () => (runtimePromise ??= createWebRuntime());
let queue: Promise<unknown> = Promise.resolve();

const endpoint: SelfTestEndpointApi = {
  tinySelfTest(req) {
    const run = queue
      .then(async () => tinySelfTest(await runtime(), req))
      .then(
        (value) => ({ ok: true as const, value }),
        (e: unknown) => ({ ok: false as const, error: toWireError(e) }),
      );
    queue = run;
    return run;
  },
};

Comlink.expose(endpoint);
