/**
 * Browser-test harness page: starts the real model worker and hands its client to the test
 * (window.steerlab), which drives it through page.evaluate. Not part of the app build.
 */
import { createModelClient, type ModelClient } from '../../src/workers/client.js';
import { DEFAULT_MODEL_URL } from '../../src/workers/api.js';

declare global {
  interface Window {
    steerlab: { client: ModelClient; defaultModelUrl: string };
  }
}

window.steerlab = { client: createModelClient(), defaultModelUrl: DEFAULT_MODEL_URL };
document.getElementById('status')!.textContent = 'ready';
