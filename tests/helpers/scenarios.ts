/**
 * Helpers for the scenario tests (tests/envs-scenarios*.test.ts): the SteerlabError a call throws,
 * and a changed copy of the east-buttons scenario JSON.
 */
import { expect } from 'vitest';
import { SteerlabError } from '../../src/errors.js';
import eastButtonsJson from '../../src/scenarios/east-buttons.json';

export function errorOf(fn: () => unknown): SteerlabError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SteerlabError);
    return e as SteerlabError;
  }
  throw new Error('expected a throw');
}

export function withChange(change: (s: Record<string, any>) => void): Record<string, any> {
  const copy = structuredClone(eastButtonsJson) as Record<string, any>;
  change(copy);
  return copy;
}
