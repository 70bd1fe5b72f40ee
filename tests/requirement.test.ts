/**
 * Tests that need the real model or chromium never skip silently (tests/helpers/requirement.ts):
 * run a small test file in a child vitest with the thing pointed at a missing path, once without
 * and once with the opt-out variable.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optedOut } from './helpers/requirement.js';

const ROOT = resolve(import.meta.dirname, '..');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const MISSING = join(ROOT, 'tests', 'no-such-dir', 'missing.gguf');

interface JsonReport {
  numFailedTests: number;
  numPassedTests: number;
  numPendingTests: number;
  testResults: Array<{ assertionResults: Array<{ status: string; failureMessages: string[] }> }>;
}

/** Runs one test file in a child vitest (JSON report on stdout) with the given variables. */
function runChild(file: string, vars: Record<string, string | undefined>): { status: number | null; report: JsonReport; failures: string[] } {
  const env: NodeJS.ProcessEnv = {};
  // the child is a fresh run: none of this worker's vitest variables, nor an opt-out of our own
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && !k.startsWith('STEERLAB_SKIP_') && k !== 'CI') env[k] = v;
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const r = spawnSync(process.execPath, [VITEST, 'run', file, '--reporter=json'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  const start = r.stdout.indexOf('{');
  expect(start, `no JSON report; stderr:\n${r.stderr}`).toBeGreaterThanOrEqual(0);
  const report = JSON.parse(r.stdout.slice(start)) as JsonReport;
  const failures = report.testResults.flatMap((f) => f.assertionResults.flatMap((a) => a.failureMessages));
  return { status: r.status, report, failures };
}

describe('optedOut', () => {
  it('counts any value but empty, 0 and false', () => {
    expect(optedOut('X', {})).toBe(false);
    for (const v of ['', '0', 'false', 'FALSE', ' ']) expect(optedOut('X', { X: v }), v).toBe(false);
    for (const v of ['1', 'true', 'yes']) expect(optedOut('X', { X: v }), v).toBe(true);
  });
});

describe('a test that needs the real model', () => {
  const file = 'tests/converted-cache.test.ts';

  it('fails, saying how to get the model, when it is missing', () => {
    const { status, report, failures } = runChild(file, { STEERLAB_MODEL_GGUF: MISSING });
    expect(status).not.toBe(0);
    expect(report.numFailedTests).toBe(1);
    expect(report.numPassedTests).toBe(0);
    expect(failures.join('\n')).toContain(`real model missing at ${MISSING}; run: npx steerlab model fetch (or npm test, whose pretest fetches it); set STEERLAB_SKIP_REAL=1 to skip the real-model tests explicitly`);
  }, 150_000);

  it('is skipped, and the run passes, with STEERLAB_SKIP_REAL=1', () => {
    const { status, report } = runChild(file, { STEERLAB_MODEL_GGUF: MISSING, STEERLAB_SKIP_REAL: '1' });
    expect(status).toBe(0);
    expect(report.numFailedTests).toBe(0);
    expect(report.numPassedTests).toBe(0);
    expect(report.numPendingTests).toBeGreaterThan(0);
  }, 150_000);
});

describe('a test that needs chromium', () => {
  const file = 'tests/browser/cache-build.test.ts';
  const chromium = join(ROOT, 'tests', 'no-such-dir', 'chromium');

  it('fails, naming apt-get install chromium and CHROMIUM_PATH, when it is missing', () => {
    const { status, report, failures } = runChild(file, { CHROMIUM_PATH: chromium });
    expect(status).not.toBe(0);
    expect(report.numFailedTests).toBe(1);
    expect(report.numPassedTests).toBe(0);
    expect(failures.join('\n')).toContain(`chromium missing at ${chromium}; run: apt-get install chromium (or set CHROMIUM_PATH to a chromium binary); set STEERLAB_SKIP_BROWSER=1 to skip the browser tests explicitly`);
  }, 150_000);

  it('is skipped, and the run passes, with STEERLAB_SKIP_BROWSER=1', () => {
    const { status, report } = runChild(file, { CHROMIUM_PATH: chromium, STEERLAB_SKIP_BROWSER: '1' });
    expect(status).toBe(0);
    expect(report.numFailedTests).toBe(0);
    expect(report.numPassedTests).toBe(0);
    expect(report.numPendingTests).toBeGreaterThan(0);
  }, 150_000);
});
