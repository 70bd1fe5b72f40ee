/**
 * Helpers shared by the browser test files (worker.test.ts, page.test.ts, cache-build.test.ts):
 * an elementwise comparison, and generation through the harness page's model client with an
 * optional one-layer test vector.
 */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { Positions } from '../../src/engine/hook-points.js';
import type { GenerateRequest, GenerateResponse } from '../../src/workers/api.js';

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A one-layer test vector as the page sends it (SteeringWire); positions default to 'generated', as on the page. */
export interface TestSteering {
  layer: number;
  beta: number;
  vector: number[];
  positions?: Positions;
}

export function generate(page: Page, req: Omit<GenerateRequest, 'steering'> & { steering?: TestSteering }): Promise<GenerateResponse> {
  return page.evaluate(({ steering: s, ...r }) => {
    const steering = s
      ? { vector: { id: 'test-vector', hidden: s.vector.length, directions: [{ layer: s.layer, vector: Float32Array.from(s.vector) }], meta: {} }, beta: s.beta, positions: s.positions ?? 'generated' }
      : null;
    return window.steerlab.client.generate({ ...r, steering });
  }, req);
}
