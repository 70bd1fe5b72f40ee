/**
 * Browser-test harness page: starts the real model worker and hands its client to the test
 * (window.steerlab), which drives it through page.evaluate. Also opens the worker's model cache
 * (same origin, same IndexedDB) so a test can plant a damaged entry, and offers the test-only
 * self-test worker (src/testing/selftest.worker.ts, started on its first call) as
 * window.steerlab.selfTest. Not part of the app build.
 */
import { createModelClient, type ModelClient } from '../../src/workers/client.js';
import { DEFAULT_MODEL_URL } from '../../src/workers/api.js';
import { ModelCache } from '../../src/workers/model-cache.js';
import { createSelfTestClient, type SelfTestClient } from '../../src/testing/selftest-client.js';

declare global {
  interface Window {
    steerlab: { client: ModelClient; selfTest: SelfTestClient; defaultModelUrl: string; openModelCache: () => Promise<ModelCache> };
  }
}

window.steerlab = { client: createModelClient(), selfTest: createSelfTestClient(), defaultModelUrl: DEFAULT_MODEL_URL, openModelCache: () => ModelCache.open() };
document.getElementById('status')!.textContent = 'ready';
