/**
 * Browser-test harness page: starts the real model worker and hands its client to the test
 * (window.steerlab), which drives it through page.evaluate. Also opens the worker's model cache
 * (same origin, same IndexedDB) so a test can plant a damaged entry. Not part of the app build.
 */
import { createModelClient, type ModelClient } from '../../src/workers/client.js';
import { DEFAULT_MODEL_URL } from '../../src/workers/api.js';
import { ModelCache } from '../../src/workers/model-cache.js';

declare global {
  interface Window {
    steerlab: { client: ModelClient; defaultModelUrl: string; openModelCache: () => Promise<ModelCache> };
  }
}

window.steerlab = { client: createModelClient(), defaultModelUrl: DEFAULT_MODEL_URL, openModelCache: () => ModelCache.open() };
document.getElementById('status')!.textContent = 'ready';
