/**
 * The page side of the self-test worker (selftest.worker.ts), for the browser test harness. The
 * worker starts on the first call, so a page that never runs the self-test never loads it.
 */
import * as Comlink from 'comlink';
import { fromWire } from '../workers/api.js';
import type { SelfTestApi, SelfTestEndpointApi } from './selftest-api.js';

export interface SelfTestClient extends SelfTestApi {
  /** Stops the worker, if it was started. */
  terminate(): void;
}

export function createSelfTestClient(): SelfTestClient {
  let started: { worker: Worker; remote: Comlink.Remote<SelfTestEndpointApi> } | null = null;
  const start = () => {
    if (!started) {
      const worker = new Worker(new URL('./selftest.worker.ts', import.meta.url), { type: 'module', name: 'steerlab-selftest' });
      started = { worker, remote: Comlink.wrap<SelfTestEndpointApi>(worker) };
    }
    return started.remote;
  };
  return {
    async tinySelfTest(req) {
      return fromWire(await start().tinySelfTest(req));
    },
    terminate() {
      if (!started) return;
      started.remote[Comlink.releaseProxy]();
      started.worker.terminate();
      started = null;
    },
  };
}
