/**
 * A context longer than the model holds is refused in one line (CONTEXT_FULL), before
 * onnxruntime sees it; an agent episode whose transcript outgrows the model fails with that line
 * and keeps every step it played.
 */
import { describe, expect, it } from 'vitest';
import { runEpisode } from '../src/agent/agent.js';
import { nodeRuntime } from '../src/engine/runtime/node.js';
import { openGguf } from '../src/engine/sources/gguf.js';
import { createEnv } from '../src/envs/registry.js';
import { getScenario } from '../src/envs/scenario.js';
import type { StepRecord } from '../src/trace/schema.js';
import { tinyGguf } from './browser/tiny-gguf.js';

describe('the context limit', () => {
  it('a forward past the context length fails with CONTEXT_FULL in one line', async () => {
    const { session } = await openGguf(nodeRuntime, tinyGguf(3, 64).bytes, 'tiny-64');
    try {
      expect(session.info.maxPositions).toBe(64);
      const cache = session.newCache();
      await session.forward(cache, Array.from({ length: 60 }, (_, i) => i + 1));
      await session.forward(cache, [1, 2, 3, 4]);
      await expect(session.forward(cache, [5])).rejects.toThrow("the context would hold 65 tokens; tiny-64 holds at most 64 (its context length)");
      cache.dispose();
    } finally {
      await session.dispose();
    }
  });

  it('an episode that outgrows the model ends with that line, its steps kept', async () => {
    const { session } = await openGguf(nodeRuntime, tinyGguf(3, 2048).bytes, 'tiny-2048');
    const steps: StepRecord[] = [];
    try {
      const run = runEpisode(session, createEnv('east-gauss2', { horizon: 100 }), getScenario('east-buttons'), 1, { mode: 'exact', temperature: 1, minValidMass: 0, onStep: (r) => void steps.push(r) });
      await expect(run).rejects.toMatchObject({ code: 'CONTEXT_FULL' });
      expect(steps.length).toBeGreaterThan(0);
      expect(steps.map((s) => s.step)).toEqual(steps.map((_, i) => i));
    } finally {
      await session.dispose();
    }
  });
});
