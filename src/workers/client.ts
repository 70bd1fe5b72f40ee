/**
 * The page side of the model worker: starts it, and turns its Wire results back into values or
 * thrown SteerlabErrors, so callers see a plain ModelApi.
 */
import * as Comlink from 'comlink';
import { fromWire, type ModelApi, type WorkerEndpointApi } from './api.js';

export interface ModelClient extends ModelApi {
  /** Stops the worker (and everything it holds) at once. */
  terminate(): void;
}

export function createModelClient(): ModelClient {
  const worker = new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module', name: 'steerlab-model' });
  const remote = Comlink.wrap<WorkerEndpointApi>(worker);
  return {
    async loadModel(req, onProgress) {
      return fromWire(await remote.loadModel(req, onProgress ? Comlink.proxy(onProgress) : undefined));
    },
    async generate(req) {
      return fromWire(await remote.generate(req));
    },
    async devices() {
      return fromWire(await remote.devices());
    },
    async runEpisode(req, onStep) {
      return fromWire(await remote.runEpisode(req, onStep ? Comlink.proxy(onStep) : undefined));
    },
    async setSteering(steering) {
      return fromWire(await remote.setSteering(steering));
    },
    async setVReason(settings) {
      return fromWire(await remote.setVReason(settings));
    },
    async stopEpisode() {
      return fromWire(await remote.stopEpisode());
    },
    async pauseEpisode() {
      return fromWire(await remote.pauseEpisode());
    },
    async resumeEpisode() {
      return fromWire(await remote.resumeEpisode());
    },
    async stepEpisode() {
      return fromWire(await remote.stepEpisode());
    },
    async cachedModels() {
      return fromWire(await remote.cachedModels());
    },
    async clearModelCache() {
      return fromWire(await remote.clearModelCache());
    },
    async dispose() {
      return fromWire(await remote.dispose());
    },
    terminate() {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
