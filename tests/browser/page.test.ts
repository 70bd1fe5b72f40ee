/**
 * The lab page in a real browser (Debian chromium, headless, on the project's Vite dev server):
 * a tiny GGUF served as the default model drives the Generate, steering and Agent panels; the
 * default model (SmolLM2) generates a few tokens from the page. Without chromium or the real model
 * the suites that need them fail, unless STEERLAB_SKIP_BROWSER=1 / STEERLAB_SKIP_REAL=1 skips them
 * (tests/helpers/requirement.ts).
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_COLUMNS } from '../../src/trace/csv.js';
import { parseTrace } from '../../src/trace/jsonl.js';
import type { StepRecord } from '../../src/trace/schema.js';
import { needsRealModel, REAL_MODEL } from '../helpers/real.js';
import { labHarness, needsChromium, openPage, pageWithTinyDefaultModel } from './setup.js';
import { maxAbsDiff } from './shared.js';

needsChromium.describe('in chromium', () => {
// The dev server and chromium, started before this suite and closed after it.
const lab = labHarness();

describe('the lab page', () => {
  const served = pageWithTinyDefaultModel(lab, 'steerlab-browser-');
  let page: Page;
  let errors: string[];
  let external: string[];

  beforeAll(() => {
    ({ page, errors, external } = served());
  });

  it('loads the served model and shows its device', async () => {
    await expect.poll(() => page.locator('.model').getAttribute('data-status')).toBe('ready');
    const info = await page.locator('.model .info').innerText();
    expect(info).toMatch(/on wasm/);
    expect(info).toMatch(/3 layers, hidden 64, vocab 259/);
    expect(await page.locator('.fallback').count()).toBe(0);
    // one steering control for both panels, at the middle block, its thumb where its label says
    expect(await page.locator('input[name=layer]').count()).toBe(1);
    expect(await page.locator('input[name=beta]').count()).toBe(1);
    expect(await page.locator('input[name=layer]').getAttribute('max')).toBe('2');
    expect(await page.locator('input[name=layer]').inputValue()).toBe('1');
    expect(await page.locator('section.steering').getByText('layer 1', { exact: true }).count()).toBe(1);
    expect(await page.locator('input[name=positions]:checked').getAttribute('value')).toBe('generated');
    expect(await page.locator('section.agent .steering-summary').innerText()).toBe('layer 1, β 8, generated positions, random unit direction, seed 7');
    await page.screenshot({ path: 'test-results/browser/lab-loaded.png', fullPage: true });
  }, 30_000);

  it('generates with and without steering side by side, shaded by entropy', async () => {
    await page.locator('input[name=max-tokens]').fill('6');
    await page.locator('input[name=temperature]').fill('0');
    await page.locator('input[name=beta]').fill('20');
    expect(await page.locator('input[name=beta-value]').inputValue()).toBe('20');
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await page.locator('.comparison').waitFor({ timeout: 60_000 });
    const ids = (side: string) => page.locator(`.comparison .${side} .tok`).evaluateAll((els) => els.map((e) => Number(/^#(\d+)/.exec(e.getAttribute('title')!)![1])));
    const plain = await ids('plain');
    const steered = await ids('steered');
    // 'generated' positions: the first token comes from the unsteered prompt, the rest are steered
    expect(steered[0]).toBe(plain[0]);
    expect(steered).not.toEqual(plain);
    for (const side of ['plain', 'steered']) {
      const toks = page.locator(`.comparison .${side} .tok`);
      const n = await toks.count();
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(6);
      expect(await toks.first().getAttribute('title')).toMatch(/entropy \d+\.\d\d nats/);
      expect(await toks.first().getAttribute('style')).toMatch(/background-color: rgba\(230, 120, 20, [\d.]+\)/);
    }
    expect(await page.locator('.comparison .steered h3').innerText()).toBe('with steering layer 1, β 20, generated positions, random unit direction, seed 7');
    await page.screenshot({ path: 'test-results/browser/lab-generated.png', fullPage: true });
  }, 60_000);

  it('reads a vector file, and reports a bad one', async () => {
    const input = page.locator('input[name=vector-file]');
    await input.setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"layer": 1,') });
    await expect.poll(() => page.locator('.steering .error').first().innerText()).toMatch(/^BAD_VECTOR: vector file is not JSON/);
    const vector = Array.from({ length: 64 }, (_, i) => Math.cos(i));
    await input.setInputFiles({ name: 'v.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ layer: 2, hidden: 64, vector, method: 'test' })) });
    await expect.poll(() => page.locator('input[name=layer]').inputValue()).toBe('2');
    expect(await page.locator('input[name=vector-source][value=file]').isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await expect.poll(() => page.locator('.comparison .steered h3').innerText(), { timeout: 60_000 }).toMatch(/layer 2, .*file v\.json/);
    await input.setInputFiles({ name: 'wide.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ layer: 0, hidden: 3, vector: [1, 0, 0] })) });
    await expect.poll(() => page.locator('.steering .error').first().innerText()).toBe("vector 'wide.json' has 3 dimensions; this model's hidden size is 64");
    expect(await page.getByRole('button', { name: 'Generate with and without steering' }).isEnabled()).toBe(true);
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await expect.poll(() => page.locator('.generate .generate-error').innerText()).toBe("vector 'wide.json' has 3 dimensions; this model's hidden size is 64");
    // a format-2 file with two layers is used whole: the layer slider does not apply
    const two = { format: 'steerlab.vector/2', hidden: 64, directions: [0, 2].map((layer) => ({ layer, vector: vector.map((x) => x * (layer + 1)) })), method: 'test' };
    await input.setInputFiles({ name: 'two.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(two)) });
    await expect.poll(() => page.locator('.steering .file-info').innerText()).toBe('two.json: layers 0, 2, hidden 64, test');
    expect(await page.locator('input[name=layer]').isDisabled()).toBe(true);
    expect(await page.locator('.steering .error').count()).toBe(0);
    await page.locator('input[name=positions][value=all]').check();
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await expect.poll(() => page.locator('.comparison .steered h3').innerText(), { timeout: 60_000 }).toBe('with steering layers 0, 2, β 20, all positions, file two.json');
    await page.locator('input[name=positions][value=generated]').check();
  }, 90_000);

  it('logged no page errors and fetched nothing from outside', () => {
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  });
});

describe('the agent panel', () => {
  const served = pageWithTinyDefaultModel(lab, 'steerlab-agent-');
  let page: Page;
  let errors: string[];

  beforeAll(() => {
    ({ page, errors } = served());
  });

  const agent = () => page.locator('section.agent');
  const stepsShown = async () => Number(await agent().locator('.progress-text').getAttribute('data-steps'));
  const chartPoints = async () => Number(await agent().locator('.chart').getAttribute('data-points'));

  async function exported(button: string): Promise<{ name: string; text: string }> {
    const [download] = await Promise.all([page.waitForEvent('download'), agent().getByRole('button', { name: button }).click()]);
    return { name: download.suggestedFilename(), text: readFileSync(await download.path(), 'utf8') };
  }

  async function settings(s: { mode: 'exact' | 'sampled'; horizon: number; seed: number; temperature: number; preset?: string }): Promise<void> {
    await page.locator('select[name=agent-env]').selectOption('east-gauss2');
    await page.locator('select[name=agent-scenario]').selectOption('east-buttons');
    if (s.preset) await page.locator('select[name=agent-preset]').selectOption(s.preset);
    await page.locator(`input[name=agent-mode][value=${s.mode}]`).check();
    await page.locator('input[name=agent-horizon]').fill(String(s.horizon));
    await page.locator('input[name=agent-seed]').fill(String(s.seed));
    await page.locator('input[name=agent-temperature]').fill(String(s.temperature));
    // The tiny random model never puts 5 % on the answers: measure every step.
    if (s.mode !== 'sampled') await page.locator('input[name=agent-min-valid-mass]').fill('0');
  }

  it('runs an exact-mode episode step by step into the chart and the action bars, and exports JSONL and CSV', async () => {
    expect(await page.locator('.model').getAttribute('data-status')).toBe('ready');
    await settings({ mode: 'exact', horizon: 6, seed: 3, temperature: 2, preset: '95-105' });
    await page.locator('input[name=beta]').fill('0');
    await agent().getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    expect(await stepsShown()).toBe(6);
    expect(await chartPoints()).toBe(6);
    expect(await agent().locator('.progress-text').innerText()).toBe('step 6 / 6 · finished');

    const { name, text } = await exported('Export trace (JSONL)');
    expect(name).toBe('steerlab-east-gauss2-east-buttons-seed3.jsonl');
    const records = parseTrace(text);
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    expect(steps.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records.at(-1)).toMatchObject({ type: 'summary', steps: 6, numActions: 2 });
    expect(steps[0]!.config).toMatchObject({ env: 'east-gauss2', envOptions: { preset: '95-105', means: [95, 105] }, scenario: 'east-buttons', seed: 3, mode: 'exact', policy: 'llm-sample-T2' });
    // 95-105: Button 1 costs 10 a press
    for (const r of steps) expect(r.regret).toBe(r.action === 0 ? 10 : 0);

    // the panel shows the last step
    const last = steps.at(-1)!;
    const bars = agent().locator('.bar');
    expect(await bars.locator('.label').allInnerTexts()).toEqual(['Button 1', 'Button 2']);
    const shown = (await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-prob')))));
    expect(shown).toEqual(last.actionProbs);
    expect(await agent().locator('.bar.chosen .label').innerText()).toBe(last.actionLabel);
    expect(await agent().locator('.regret').innerText()).toBe(last.cumRegret.toFixed(2));
    expect(await agent().locator('.entropy').innerText()).toMatch(new RegExp(`^${last.entropy!.toFixed(3)} nats \\(max 0\\.693\\)$`));

    const csv = await exported('Export CSV');
    expect(csv.name).toBe('steerlab-east-gauss2-east-buttons-seed3.csv');
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(STEP_COLUMNS.join(','));
    expect(lines).toHaveLength(1 + 6);
    const stepCol = STEP_COLUMNS.indexOf('step');
    expect(lines.slice(1).map((l) => l.split(',')[stepCol])).toEqual(['0', '1', '2', '3', '4', '5']);
  }, 60_000);

  it('sampled mode shows the completion the action came from', async () => {
    await settings({ mode: 'sampled', horizon: 2, seed: 4, temperature: 1 });
    await page.locator('input[name=agent-samples]').fill('2');
    await page.locator('input[name=agent-max-thought]').fill('6');
    await agent().getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    const steps = parseTrace((await exported('Export trace (JSONL)')).text).filter((r): r is StepRecord => r.type === 'step');
    expect(steps.length).toBeGreaterThan(0);
    expect(await chartPoints()).toBe(steps.length);
    const last = steps.at(-1)!;
    expect(last.completions).toHaveLength(2);
    expect(last.completion).not.toBeNull();
    expect(await agent().locator('.completion').textContent()).toBe(last.completion);
  }, 60_000);

  it('moving the strength during a run steers the next steps (their action probabilities leave the unsteered run\'s), and Stop ends the run early', async () => {
    const horizon = 20;
    const changeAt = 2;
    const stopAt = 7;
    await settings({ mode: 'exact', horizon, seed: 5, temperature: 2, preset: 'equal' });
    await page.locator('input[name=vector-source][value=random]').check();
    await page.locator('input[name=positions][value=generated]').check();
    await page.locator('input[name=beta]').fill('0');
    expect(await page.locator('input[name=layer]').inputValue()).toBe('1');
    // Drive the (one, shared) strength slider and Stop from inside the page as step records
    // arrive, as a user would, but without a round trip to the test process between steps.
    await page.evaluate(({ changeAt, stopAt }) => {
      const panel = document.querySelector('section.agent')!;
      const slider = document.querySelector<HTMLInputElement>('section.steering input[name=beta]')!;
      const stop = [...panel.querySelectorAll('button')].find((b) => b.textContent === 'Stop')!;
      const log = { changedAfter: -1, stoppedAfter: -1 };
      (window as unknown as { liveLog: typeof log }).liveLog = log;
      const observer = new MutationObserver(() => {
        if (panel.getAttribute('data-status') !== 'running') return;
        const n = Number(panel.querySelector('.progress-text')?.getAttribute('data-steps') ?? 0);
        if (log.changedAfter < 0 && n >= changeAt) {
          log.changedAfter = n;
          slider.value = '6';
          slider.dispatchEvent(new Event('input', { bubbles: true }));
        }
        if (log.stoppedAfter < 0 && n >= stopAt) {
          log.stoppedAfter = n;
          stop.click();
          observer.disconnect();
        }
      });
      observer.observe(panel, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-steps', 'data-status'] });
    }, { changeAt, stopAt });
    await agent().getByRole('button', { name: 'Start', exact: true }).click();
    // mid-run, once a steered step is shown: the screenshot for the record
    await expect.poll(() => agent().locator('.beta-in-force').innerText(), { timeout: 30_000, interval: 20 }).toBe('6 at layer 1');
    await page.screenshot({ path: 'test-results/browser/agent-running.png', fullPage: true });
    await page.locator('section.agent[data-status="stopped"], section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('stopped');
    const log = await page.evaluate(() => (window as unknown as { liveLog: { changedAfter: number; stoppedAfter: number } }).liveLog);
    expect(log.changedAfter).toBeGreaterThanOrEqual(changeAt);
    expect(log.stoppedAfter).toBeGreaterThanOrEqual(stopAt);

    const records = parseTrace((await exported('Export trace (JSONL)')).text);
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    const n = steps.length;
    expect(n).toBeGreaterThanOrEqual(log.stoppedAfter);
    expect(n).toBeLessThan(horizon);
    expect(records.at(-1)).toMatchObject({ type: 'summary', steps: n });
    expect(await stepsShown()).toBe(n);
    expect(await chartPoints()).toBe(n);
    expect(await agent().locator('.progress-text').innerText()).toBe(`step ${n} / ${horizon} · stopped`);
    expect(steps[0]!.config.steering).toEqual({ layer: 1, beta: 0, vectorId: 'random-seed-7', positions: 'generated' });
    // Steps made before the slider moved ran unsteered; from some step after it, every step ran at beta 6.
    const first = steps.findIndex((r) => r.steering !== null);
    expect(first).toBeGreaterThanOrEqual(log.changedAfter);
    expect(steps.slice(0, first).every((r) => r.steering === null)).toBe(true);
    expect(steps.slice(first).map((r) => r.steering)).toEqual(steps.slice(first).map(() => ({ layer: 1, beta: 6 })));
    expect(await agent().locator('.beta-in-force').innerText()).toBe('6 at layer 1');

    // The same seed unsteered (beta 0 all along): the same steps until the slider moved, and
    // different action probabilities at every steered step, the first of which saw the same history.
    await page.locator('input[name=beta]').fill('0');
    await agent().getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    const plain = parseTrace((await exported('Export trace (JSONL)')).text).filter((r): r is StepRecord => r.type === 'step');
    expect(plain).toHaveLength(horizon);
    expect(plain.every((r) => r.steering === null)).toBe(true);
    expect(plain[0]!.config).toEqual(steps[0]!.config);
    expect(steps.slice(0, first).map((r) => [r.action, r.actionProbs])).toEqual(plain.slice(0, first).map((r) => [r.action, r.actionProbs]));
    expect(steps.slice(0, first + 1).map((r) => r.promptTokens)).toEqual(plain.slice(0, first + 1).map((r) => r.promptTokens));
    const moved = steps.slice(first).map((r, i) => maxAbsDiff(r.actionProbs!, plain[first + i]!.actionProbs!));
    for (const d of moved) expect(d, `|steered - unsteered| per step from step ${first}: ${moved.join(', ')}`).toBeGreaterThan(1e-3);
  }, 120_000);

  it('Step plays one step at a time, Resume runs on, and V-Reason switched on mid-run acts from the next step', async () => {
    await settings({ mode: 'exact', horizon: 4, seed: 6, temperature: 1, preset: 'equal' });
    await page.locator('input[name=beta]').fill('0');
    const stepBtn = agent().getByRole('button', { name: 'Step', exact: true });
    await stepBtn.click();
    await expect.poll(stepsShown, { timeout: 30_000 }).toBe(1);
    expect(await agent().getAttribute('data-status')).toBe('paused');
    await page.waitForTimeout(400);
    expect(await stepsShown()).toBe(1);
    await stepBtn.click();
    await expect.poll(stepsShown, { timeout: 30_000 }).toBe(2);
    await page.waitForTimeout(400);
    expect(await stepsShown()).toBe(2);
    // V-Reason on (exact mode: action level), raising entropy, then Resume (Alt+P).
    await page.locator('input[name=vreason-on]').check();
    await page.locator('select[name=vreason-mode]').selectOption('up');
    await page.locator('input[name=vreason-lr]').fill('0.2');
    await page.locator('h1').click();
    await page.keyboard.press('Alt+P');
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await agent().getAttribute('data-status'), await agent().innerText()).toBe('done');
    const steps = parseTrace((await exported('Export trace (JSONL)')).text).filter((r): r is StepRecord => r.type === 'step');
    expect(steps).toHaveLength(4);
    expect(steps.slice(0, 2).every((r) => r.extra?.vreason === undefined)).toBe(true);
    for (const r of steps.slice(2)) {
      // The direction of each update is tested in Node (tests/vreason.test.ts); here: it ran, live, as set.
      const v = r.extra!.vreason as { alpha: number; steps: number; dvNorm: number; tailError: number };
      expect(v.alpha).toBe(1);
      expect(v.steps).toBe(1);
      expect(v.dvNorm).toBeGreaterThan(0);
      expect(v.tailError).toBeLessThan(0.5);
    }
    expect(steps[0]!.config.vreason ?? null).toBeNull();
    await page.locator('input[name=vreason-on]').uncheck();
    await agent().getByRole('button', { name: 'Reset', exact: true }).click();
    expect(await agent().locator('.progress-text').count()).toBe(0);
  }, 120_000);

  it('the model panel says the model came from the browser cache, and clears it', async () => {
    expect(await page.locator('.model .storage').getAttribute('data-storage')).toBe('stored');
    await page.reload();
    await page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('.model .storage').getAttribute('data-storage')).toBe('reused');
    expect(await page.locator('.model .storage').innerText()).toBe("read from this browser's model cache (no download)");
    await expect.poll(() => page.locator('.model .cache-info').innerText()).toBe('model cache: 1 model, 0.4 MB');
    await page.getByRole('button', { name: 'Clear model cache' }).click();
    await expect.poll(() => page.locator('.model .cache-message').innerText()).toBe('removed 1 cached model');
    // the size line is refreshed after the message, by a second worker call: wait for it too
    await expect.poll(() => page.locator('.model .cache-info').innerText()).toBe('model cache: 0 models, 0.0 MB');
  }, 60_000);

  it('logged no page errors', () => {
    expect(errors).toEqual([]);
  });
});

needsRealModel.describe('the default model on wasm', () => {
  let modelBefore: string | undefined;
  let page: Page;

  beforeAll(() => {
    modelBefore = process.env.STEERLAB_MODEL_GGUF;
    process.env.STEERLAB_MODEL_GGUF = REAL_MODEL;
  });

  afterAll(async () => {
    await page?.close();
    if (modelBefore === undefined) delete process.env.STEERLAB_MODEL_GGUF;
    else process.env.STEERLAB_MODEL_GGUF = modelBefore;
  }, 30_000);

  it('loads SmolLM2 in the page and generates a few tokens with and without steering', async () => {
    ({ page } = await openPage(lab.browser, `${lab.server.url}/?device=wasm`));
    // converting and creating the session take seconds, so the progress line is there to see
    await expect.poll(() => page.locator('.model .progress span').first().innerText().catch(() => ''), { timeout: 30_000, interval: 50 }).toMatch(/^(downloading: [\d.]+ \/ 98\.4 MB|parsing GGUF|converting weights|creating session)$/);
    await page.locator('.model[data-status="ready"], .model[data-status="failed"]').waitFor({ timeout: 90_000 });
    expect(await page.locator('.model').getAttribute('data-status'), await page.locator('.model').innerText()).toBe('ready');
    expect(await page.locator('.model .info').innerText()).toMatch(/on wasm · llama, 30 layers, hidden 576, vocab 49152, fp32, 8-bit lm_head kernel/);
    // the layer slider's thumb sits where its label says, in the loaded model's range
    expect(await page.locator('input[name=layer]').getAttribute('max')).toBe('29');
    expect(await page.locator('input[name=layer]').inputValue()).toBe('15');
    expect(await page.locator('section.steering').getByText('layer 15', { exact: true }).count()).toBe(1);
    await page.locator('input[name=max-tokens]').fill('4');
    // SmolLM2's residual stream at block 15 is large: a unit direction needs beta ~100 to move
    // greedy tokens, and on 'generated' positions alone its first tokens hardly move; steer all.
    await page.locator('input[name=beta-value]').fill('120');
    await page.locator('input[name=positions][value=all]').check();
    await page.getByRole('button', { name: 'Generate with and without steering' }).click();
    await page.locator('.comparison').waitFor({ timeout: 120_000 });
    const plain = await page.locator('.comparison .plain .tokens').innerText();
    expect(plain.trim().length).toBeGreaterThan(0);
    expect(await page.locator('.comparison .plain .tok').count()).toBe(4);
    expect(await page.locator('.comparison .steered h3').innerText()).toBe('with steering layer 15, β 120, all positions, random unit direction, seed 7');
    const ids = (side: string) => page.locator(`.comparison .${side} .tok`).evaluateAll((els) => els.map((e) => e.getAttribute('title')!.split(' ')[0]));
    expect(await ids('steered')).not.toEqual(await ids('plain'));
    expect(await page.locator('.comparison .steered .tokens').innerText()).not.toBe(plain);
    expect(plain).not.toContain('<|im_end|>');
    // a few agent steps of the real model in the page (exact mode, wasm)
    await page.locator('input[name=beta-value]').fill('0');
    await page.locator('input[name=agent-horizon]').fill('2');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('section.agent[data-status="done"], section.agent[data-status="failed"]').waitFor({ timeout: 180_000 });
    expect(await page.locator('section.agent').getAttribute('data-status'), await page.locator('section.agent .agent-error').innerText().catch(() => '')).toBe('done');
    expect(await page.locator('section.agent .progress-text').getAttribute('data-steps')).toBe('2');
    expect(await page.locator('section.agent .entropy').innerText()).toMatch(/^(\d\.\d{3} nats \(max 0\.693\)|format broken: not a choice)$/);
    await page.screenshot({ path: 'test-results/browser/lab-smollm2.png', fullPage: true });
  }, 420_000);
});
});
