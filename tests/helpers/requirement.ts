/**
 * Tests that need something outside the repository (the real model, a chromium) never skip
 * silently. `requirement()` gives suite and test registrars for one such thing:
 *  - present: plain `describe` / `it`;
 *  - missing, and the run opted out (its environment variable set, e.g. STEERLAB_SKIP_REAL=1):
 *    `describe.skip` / `it.skip`, so the report lists them as skipped;
 *  - missing, no opt-out: one failing test in place of each suite or test, whose message says
 *    where the thing was looked for and how to get it. The suite's body is not run (it may read
 *    the missing file while it is collected).
 */
import { describe, it } from 'vitest';

export type SuiteRegistrar = (name: string, factory: () => void) => void;
export type TestRegistrar = (name: string, fn: () => unknown, timeout?: number) => void;

export interface Requirement {
  /** The thing is there. */
  readonly available: boolean;
  /** It is missing and the run asked to skip what needs it. */
  readonly skipped: boolean;
  /** Why a test that needs it fails (when missing), one line. */
  readonly message: string;
  /** `describe` for a suite that needs it. */
  readonly describe: SuiteRegistrar;
  /** `it` for a single test that needs it. */
  readonly it: TestRegistrar;
}

/** An opt-out variable counts when set to anything but '', '0' or 'false'. */
export function optedOut(variable: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env[variable] ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

export function requirement(opts: { available: boolean; optOut: string; message: string }): Requirement {
  const { available, message } = opts;
  const skipped = !available && optedOut(opts.optOut);
  const fail = () => {
    throw new Error(message);
  };
  return {
    available,
    skipped,
    message,
    describe: available
      ? (name, factory) => describe(name, factory)
      : skipped
        ? (name, factory) => describe.skip(name, factory)
        : (name) => describe(name, () => it(message, fail)),
    it: available
      ? (name, fn, timeout) => it(name, fn, timeout)
      : skipped
        ? (name, fn, timeout) => it.skip(name, fn, timeout)
        : (name) => it(name, fail),
  };
}
