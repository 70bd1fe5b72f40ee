import { describe, expect, it } from 'vitest';
import { errorOf } from './helpers/scenarios.js';
import {
  formatTrace,
  formatTraceLine,
  parseTrace,
  splitRuns,
  STEP_COLUMNS,
  summaryRecordFor,
  SUMMARY_COLUMNS,
  toCsv,
  type RunConfig,
  type StepRecord,
  type TraceRecord,
} from '../src/trace/index';

const config: RunConfig = {
  modelId: 'qwen2.5-0.5b-instruct',
  modelHash: 'sha256:abc',
  env: 'east-gauss2',
  envOptions: { preset: 'equal' },
  scenario: 'east-buttons',
  seed: 7,
  policy: 'sample',
  mode: 'sampled',
  steering: { layer: 12, beta: 2, vectorId: 'east-u-l12' },
};

function step(i: number, over: Partial<StepRecord> = {}): StepRecord {
  return {
    type: 'step',
    runId: 'run-1',
    step: i,
    config,
    promptTokens: 120 + i,
    completion: `Thought: "hmm", fine.\nAction: I choose Button ${(i % 2) + 1}.`,
    completions: ['Action: I choose Button 1.', 'Action: I choose Button 2.'],
    actionProbs: [0.5, 0.5],
    entropy: Math.LN2,
    action: i % 2,
    actionLabel: `Button ${(i % 2) + 1}`,
    valid: true,
    reward: 100.25 - i,
    regret: 0,
    cumRegret: 0,
    done: i === 3,
    steering: { layer: 12, beta: 2 },
    timings: { prompt: 10, decode: 55.5 },
    ...over,
  };
}


describe('JSONL round trip', () => {
  it('writes one line per record and parses back to the same records', () => {
    const steps = [0, 1, 2, 3].map((i) => step(i));
    const records: TraceRecord[] = [...steps, summaryRecordFor('run-1', config, steps)];
    const text = formatTrace(records);
    expect(text.split('\n')).toHaveLength(6); // 5 lines + trailing newline
    expect(text.endsWith('\n')).toBe(true);
    expect(parseTrace(text)).toEqual(records);
    // blank lines and CRLF are tolerated
    expect(parseTrace(text.replace(/\n/g, '\r\n\r\n'))).toEqual(records);
  });

  it('summary line carries the metrics summary computed from the steps', () => {
    const steps = [0, 1, 2, 3].map((i) => step(i));
    const s = summaryRecordFor('run-1', config, steps);
    expect(s).toMatchObject({ type: 'summary', steps: 4, numActions: 2 });
    expect(s.summary.entropy).toBeCloseTo(Math.LN2, 12);
    expect(s.summary.meanReward).toBeCloseTo(98.75, 12);
    expect(s.summary.coverage).toBe(1);
    expect(() => summaryRecordFor('empty', config, [])).toThrow(/at least one step/);
  });

  it('accepts baseline lines with null model fields', () => {
    const line = formatTraceLine(
      step(0, {
        config: { ...config, modelId: null, modelHash: null, mode: 'baseline', policy: 'ucb', steering: null },
        promptTokens: null,
        completion: null,
        completions: undefined,
        steering: null,
        timings: {},
      }),
    );
    const [back] = parseTrace(line);
    expect(back!.config.mode).toBe('baseline');
  });
});

describe('rejection of bad lines', () => {
  const good = formatTraceLine(step(0)).trim();
  const mutate = (change: (o: Record<string, any>) => void): string => {
    const o = JSON.parse(good);
    change(o);
    return JSON.stringify(o);
  };

  const cases: Array<[string, string, RegExp]> = [
    ['broken JSON', '{"type": "step",', /^line 2: not valid JSON/],
    ['unknown type', mutate((o) => (o.type = 'episode')), /^line 2: field 'type': /],
    ['bad mode', mutate((o) => (o.config.mode = 'greedy')), /^line 2: field 'config.mode': Invalid option/],
    ['misspelt field', mutate((o) => (o.rewrd = 1)), /^line 2: Unrecognized key: "rewrd"/],
    ['missing field', mutate((o) => delete o.cumRegret), /^line 2: field 'cumRegret'/],
    ['negative probability', mutate((o) => (o.actionProbs = [1.2, -0.2])), /^line 2: field 'actionProbs\[1\]'/],
    ['action out of range', mutate((o) => (o.action = 2)), /^line 2: field 'action': action 2 is outside actionProbs/],
    ['label without action', mutate((o) => (o.action = null)), /^line 2: field 'actionLabel': must be null exactly when action is null/],
    ['fractional step', mutate((o) => (o.step = 1.5)), /^line 2: field 'step'/],
    ['steering without beta', mutate((o) => delete o.steering.beta), /^line 2: field 'steering.beta'/],
    ['summary missing a metric', JSON.stringify({ ...JSON.parse(formatTraceLine(summaryRecordFor('r', config, [step(0)]))), summary: { entropy: 0 } }), /^line 2: field 'summary.regret'/],
  ];
  for (const [name, badLine, pattern] of cases) {
    it(`rejects ${name} with a BAD_TRACE message naming the line`, () => {
      const err = errorOf(() => parseTrace(`${good}\n${badLine}\n${good}\n`));
      expect(err.code).toBe('BAD_TRACE');
      expect(err.message).toMatch(pattern);
      expect(err.message).not.toContain('\n');
    });
  }

  it('refuses to write an invalid record', () => {
    const err = errorOf(() => formatTraceLine(step(0, { entropy: Number.NaN })));
    expect(err.code).toBe('BAD_TRACE');
    expect(err.message).toMatch(/^step record: field 'entropy'/);
  });
});

describe('CSV and grouping', () => {
  it('writes one row per step with quoting, and one per summary', () => {
    const steps = [0, 1].map((i) => step(i));
    const records: TraceRecord[] = [...steps, summaryRecordFor('run-1', config, steps)];
    const csv = toCsv(records);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(STEP_COLUMNS.join(','));
    expect(lines).toHaveLength(4); // header, 2 steps, trailing '' (records end in CRLF; the \n inside a completion stays quoted)
    expect(csv).toContain('"Thought: ""hmm"", fine.\nAction: I choose Button 1."');
    expect(lines[1]!.startsWith('run-1,east-gauss2,east-buttons,7,sample,sampled,qwen2.5-0.5b-instruct,sha256:abc,east-u-l12,12,2,0,0,Button 1,true,100.25,0,0,')).toBe(true);
    expect(csv).toContain(',0.5;0.5,');
    expect(csv).toContain('"{""prompt"":10,""decode"":55.5}"');

    const sum = toCsv(records, 'summaries').split('\r\n');
    expect(sum[0]).toBe(SUMMARY_COLUMNS.join(','));
    expect(sum[0]!.endsWith('entropy,validMass,regret,suffFailFreq,kMinFrac,greedyFrac,bestArmFrac,coverage,invalidRate,invalidAnswerRate,meanReward')).toBe(true);
    expect(sum).toHaveLength(3);
    expect(sum[1]!.split(',').slice(11, 13)).toEqual(['2', '2']);
  });

  it('groups records by run, sorting steps', () => {
    const a = [step(1), step(0)];
    const b = [step(0, { runId: 'run-2' })];
    const runs = splitRuns([...a, ...b, summaryRecordFor('run-1', config, a)]);
    expect(runs.map((r) => r.runId)).toEqual(['run-1', 'run-2']);
    expect(runs[0]!.steps.map((s) => s.step)).toEqual([0, 1]);
    expect(runs[0]!.summary?.steps).toBe(2);
    expect(runs[1]!.summary).toBeNull();
  });
});
