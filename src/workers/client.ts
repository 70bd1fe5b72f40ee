/**
 * The page side of the model worker: starts it, and turns its Wire results back into values or
 * thrown SteerlabErrors, so callers see a plain ModelApi.
 *
 * A worker that dies (an uncaught error or an abort inside it) answers nothing: every call in
 * flight and every later call rejects with WORKER_CRASHED instead of hanging, and onCrash
 * listeners hear of it once. restart() starts a fresh worker behind the same client.
 */
import * as Comlink from 'comlink';
import { SteerlabError } from '../errors.js';
import { fromWire, type ModelApi, type Wire, type WorkerEndpointApi } from './api.js';

export interface ModelClient extends ModelApi {
  /** Stops the worker (and everything it holds) at once. */
  terminate(): void;
  /** A fresh worker (no model loaded) in place of the current one, e.g. after a crash. */
  restart(): void;
  /** Called once per worker when it crashes, with one line saying how; returns the unsubscribe. */
  onCrash(fn: (message: string) => void): () => void;
}

interface Running {
  worker: Worker;
  remote: Comlink.Remote<WorkerEndpointApi>;
  /** Rejects when the worker dies. */
  crashed: Promise<never>;
}

export function createModelClient(): ModelClient {
  const listeners = new Set<(message: string) => void>();
  const start = (): Running => {
    const worker = new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module', name: 'steerlab-model' });
    const remote = Comlink.wrap<WorkerEndpointApi>(worker);
    const crashed = new Promise<never>((_, reject) => {
      const died = (message: string) => {
        reject(new SteerlabError('WORKER_CRASHED', message));
        for (const fn of listeners) fn(message);
      };
      worker.addEventListener('error', (e) => {
        e.preventDefault();
        died(`the model worker crashed (${e.message || 'no message'}); its model is gone: reload it`);
      }, { once: true });
      worker.addEventListener('messageerror', () => died('the model worker sent a message the page could not read; reload the model'), { once: true });
    });
    crashed.catch(() => {});
    return { worker, remote, crashed };
  };
  let cur = start();
  const call = async <T>(f: (r: Comlink.Remote<WorkerEndpointApi>) => Promise<Wire<T>>): Promise<T> => {
    const c = cur;
    return fromWire(await Promise.race([f(c.remote) as Promise<Wire<T>>, c.crashed]));
  };
  return {
    loadModel: (req, onProgress) => call((r) => r.loadModel(req, onProgress ? Comlink.proxy(onProgress) : undefined)),
    generate: (req) => call((r) => r.generate(req)),
    devices: () => call((r) => r.devices()),
    runEpisode: (req, onStep) => call((r) => r.runEpisode(req, onStep ? Comlink.proxy(onStep) : undefined)),
    setSteering: (steering) => call((r) => r.setSteering(steering)),
    setVReason: (settings) => call((r) => r.setVReason(settings)),
    setAutopilot: (settings) => call((r) => r.setAutopilot(settings)),
    stopEpisode: () => call((r) => r.stopEpisode()),
    pauseEpisode: () => call((r) => r.pauseEpisode()),
    resumeEpisode: () => call((r) => r.resumeEpisode()),
    stepEpisode: () => call((r) => r.stepEpisode()),
    residualNorms: () => call((r) => r.residualNorms()),
    eastVector: (req) => call((r) => r.eastVector(req)),
    cachedModels: () => call((r) => r.cachedModels()),
    clearModelCache: () => call((r) => r.clearModelCache()),
    deleteCachedModel: (url) => call((r) => r.deleteCachedModel(url)),
    dispose: () => call((r) => r.dispose()),
    terminate() {
      cur.remote[Comlink.releaseProxy]();
      cur.worker.terminate();
    },
    restart() {
      this.terminate();
      cur = start();
    },
    onCrash(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
