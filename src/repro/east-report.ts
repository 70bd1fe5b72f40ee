/**
 * The EAST report (east.md) rendered from east.json alone, so `steerlab repro east --report-only`
 * re-renders it without a model. Every number in it is computed here from the per-seed values;
 * intervals are 95 % Student-t over seeds, differences are paired by seed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { interval95, type Interval } from '../metrics/stats.js';
import { svgPanels } from './svg.js';

export interface SeedValues {
  seed: number;
  steps: number;
  entropy: number | null;
  validMass: number | null;
  brokenRate: number;
  invalidRate: number;
  regret: number;
  /** Free-text modes: share of thoughts/completions using a hedge word; share of completions that parse. */
  hedgeRate?: number | null;
  parseRate?: number | null;
}

export interface Condition {
  label: string;
  /** tune | eval | replay | transfer | thought | sampled */
  set: string;
  scenario: string;
  mode: string;
  vector: 'none' | 'east' | 'shuffled' | 'permuted' | 'projected' | 'random';
  layer: number | null;
  r: number;
  beta: number;
  temperature: number;
  /** Played the unsteered run's actions (paired on the same histories). */
  replay?: boolean;
  perSeed: SeedValues[];
}

export interface EastJson {
  experiment: string;
  model: { id: string; hash: string };
  settings: { minValidMass: number; evaluate: { seeds: number; horizon: number; replaySeeds: number; replayHorizon: number; randomDirections: number }; tune: { seeds: number; horizon: number; maxBrokenRate: number; minValidMassRatio: number; strengths: number[] }; collect: { episodes: number; horizon: number; layers: number[] }; thought: { thoughts: number; seeds: number; horizon: number }; sampled: { samples: number; seeds: number; horizon: number }; hedges: string[] };
  collection: { steps: number; runs: number };
  layers: { layer: number; norm: number; promptNorm: number; prefixNorm: number; cosStep: number }[];
  choice: { layer: number; r: number; keptFormat: boolean; tried: number };
  conditions: Condition[];
  minutes: number;
}

type Key = 'entropy' | 'validMass' | 'brokenRate' | 'invalidRate' | 'regret' | 'hedgeRate' | 'parseRate';

const vals = (c: Condition, k: Key) => c.perSeed.flatMap((s) => (s[k] === null || s[k] === undefined ? [] : [s[k] as number]));
export const over = (c: Condition, k: Key): Interval & { n: number } => ({ ...interval95(vals(c, k)), n: vals(c, k).length });

/** Paired difference a - b over the seeds where both have a value. */
export function paired(a: Condition, b: Condition, k: Key): Interval & { n: number } {
  const d = a.perSeed.flatMap((s) => {
    const t = b.perSeed.find((x) => x.seed === s.seed);
    const x = s[k], y = t?.[k];
    return x === null || x === undefined || y === null || y === undefined ? [] : [(x as number) - (y as number)];
  });
  return { ...interval95(d), n: d.length };
}

const f3 = (i: Interval & { n?: number }) => (Number.isNaN(i.mean) ? '–' : `${i.mean.toFixed(3)}${i.lo === null ? '' : ` [${i.lo.toFixed(3)}, ${i.hi!.toFixed(3)}]`}`);
const sign = (i: Interval) => (i.lo === null || Number.isNaN(i.mean) ? 'not measurable' : i.lo > 0 ? 'higher' : i.hi! < 0 ? 'lower' : 'not distinguishable');

function table(conds: Condition[], ref: Condition | undefined, extra: Key[] = []): string {
  const head = `| condition | seeds | entropy over choice steps (nats) | Δ entropy vs ${ref?.label ?? '–'} (paired) | valid mass | format-broken share | invalid rate | regret |${extra.map((k) => ` ${k} |`).join('')}`;
  const sep = `|${'---|'.repeat(8 + extra.length)}`;
  const rows = conds.map((c) => `| ${c.label} | ${c.perSeed.length} | ${f3(over(c, 'entropy'))} (n=${over(c, 'entropy').n}) | ${ref && c !== ref ? f3(paired(c, ref, 'entropy')) : '–'} | ${f3(over(c, 'validMass'))} | ${f3(over(c, 'brokenRate'))} | ${f3(over(c, 'invalidRate'))} | ${f3(over(c, 'regret'))} |${extra.map((k) => ` ${f3(over(c, k))} |`).join('')}`);
  return [head, sep, ...rows].join('\n');
}

export function eastReport(j: EastJson): string {
  const s = j.settings;
  const by = (set: string) => j.conditions.filter((c) => c.set === set);
  const find = (set: string, pred: (c: Condition) => boolean) => by(set).find(pred);
  const L = j.choice.layer;
  const plain = find('eval', (c) => c.vector === 'none' && c.temperature === 1)!;
  const east = find('eval', (c) => c.vector === 'east' && c.r === j.choice.r)!;
  const shuffled = find('eval', (c) => c.vector === 'shuffled');
  const replays = by('replay');
  const rPlain = replays.find((c) => c.vector === 'none')!;
  const rEast = replays.find((c) => c.vector === 'east')!;
  const randoms = replays.filter((c) => c.vector === 'random');
  // Directions whose steps were mostly format-broken have no meaningful entropy: counted apart.
  const brokeFormat = (c: Condition) => over(c, 'brokenRate').mean >= 0.5 || Number.isNaN(over(c, 'entropy').mean);
  const measurable = randoms.filter((c) => !brokeFormat(c));
  const below = (k: Key) => measurable.filter((c) => over(c, k).mean <= over(rEast, k).mean).length;
  const randomLine = `of ${randoms.length} random directions, ${randoms.length - measurable.length} broke the format (half or more of their steps format-broken)${measurable.length ? `; the vector's choice-step entropy is at or above ${below('entropy')} of the other ${measurable.length}` : ''}`;
  const layer = j.layers.find((x) => x.layer === L)!;
  const tPlain = find('thought', (c) => c.vector === 'none' && c.label.includes('unsteered'));
  const tEast = find('thought', (c) => c.vector === 'east');
  const sPlain = find('sampled', (c) => c.vector === 'none' && c.label.includes('unsteered'));
  const sEast = find('sampled', (c) => c.vector === 'east');
  const transfer = by('transfer');
  const dEast = paired(east, plain, 'entropy');
  const dMass = paired(east, plain, 'validMass');
  const conditionsTried = j.conditions.length;
  return `# EAST on ${j.model.id} (equal-means two-armed Gaussian bandit)

Generated by \`npm run repro:east\` (${j.minutes.toFixed(1)} min on this machine's CPU); every number below is
computed from the per-seed values in [east.json](east.json) (\`steerlab repro east --report-only\`
re-renders this page). Model sha256 \`${j.model.hash.slice(0, 16)}…\`. ${conditionsTried} conditions were run in all
(${j.choice.tried} of them to choose the layer and strength).

## How it was measured
- **Exact mode**: the action distribution is the model's probability of each answer after the fixed
  prefix "Action: I choose Button ", renormalised over the two answers. Before renormalising, their
  sum is the **valid mass**. A step with valid mass < ${s.minValidMass} is **format-broken**: it counts as invalid
  and its entropy is not averaged in. Entropy is averaged over choice steps only (n says how many seeds
  had any).
- **Vector**: Eq. 1 over ${j.collection.runs} collection runs (${j.collection.steps} steps), z at the last prompt token.
  **Strength r**: beta·|u| = r × the typical residual norm at the **last answer-prefix token** (a steered
  position, where the action logits are read), measured on unsteered collection runs.
- **Choice of layer and strength** (fixed in advance): on ${s.tune.seeds} tuning seeds × ${s.tune.horizon} steps, replaying
  the unsteered histories, the highest choice-step entropy among layers ${s.collect.layers.join(', ')} × r ∈ {${s.tune.strengths.join(', ')}}
  that kept the format: at most ${s.tune.maxBrokenRate * 100} % format-broken steps and at least ${s.tune.minValidMassRatio * 100} % of the unsteered
  valid mass. Chosen: **layer ${L}, r = ${j.choice.r}**${j.choice.keptFormat ? '' : ' — no condition kept the format; this is the highest-entropy one'}.
- **Evaluation** on ${s.evaluate.seeds} held-out seeds × ${s.evaluate.horizon} steps, closed loop (the agent plays its own
  actions), differences paired by seed. **Nulls at the same norm**: the entries shuffled, the
  permuted-entropy vector (entropies permuted within runs, then Eq. 1), the vector with its
  step-index component projected out, and ${randoms.length} random directions — these on paired replays of
  the unsteered histories (the first ${s.evaluate.replayHorizon} steps of the first ${s.evaluate.replaySeeds} held-out seeds), so every
  direction meets the same prompts.

## The vector
| layer | |u| | typical resid norm, last prompt token | at last prefix token | cos(u, step-index direction) |
|---|---|---|---|---|
${j.layers.map((x) => `| ${x.layer} | ${x.norm.toFixed(3)} | ${x.promptNorm.toFixed(2)} | ${x.prefixNorm.toFixed(2)} | ${x.cosStep.toFixed(2)} |`).join('\n')}

## Held-out seeds, closed loop (exact mode)
${table(by('eval'), plain)}

## Paired replays: the vector against ${randoms.length} random directions of the same norm
${table([rPlain, rEast, ...replays.filter((c) => c.vector !== 'none' && c.vector !== 'east' && c.vector !== 'random')], rPlain)}

Random directions (${randoms.length}), the mean over directions of each one's seed mean: choice-step entropy
${f3(interval95(measurable.map((c) => over(c, 'entropy').mean)))} (over the ${measurable.length} that kept the format), valid mass
${f3(interval95(randoms.map((c) => over(c, 'validMass').mean)))}, format-broken share ${f3(interval95(randoms.map((c) => over(c, 'brokenRate').mean)))}. The vector: entropy
${f3(over(rEast, 'entropy'))}, valid mass ${f3(over(rEast, 'validMass'))}, broken ${f3(over(rEast, 'brokenRate'))}. In words: ${randomLine}; the vector's valid
mass is at or above ${randoms.filter((c) => over(c, 'validMass').mean <= over(rEast, 'validMass').mean).length} of ${randoms.length}.

## Transfer to the ${transfer[0]?.scenario ?? '–'} wording (closed loop)
${transfer.length ? table(transfer, transfer[0]) : '–'}

## Free text where the format holds (${s.thought ? 'transcript wording' : ''})
Thought mode (${s.thought.thoughts} thoughts per step, ${s.thought.seeds} seeds × ${s.thought.horizon} steps): the action distribution is the
mixture over thoughts of the exact distribution after each thought; hedge rate = share of thoughts
containing one of: ${s.hedges.map((h) => `"${h}"`).join(', ')}.
${table(by('thought'), tPlain, ['hedgeRate'])}

Sampled free text, the paper's setting (${s.sampled.samples} completions per step) at small scale (${s.sampled.seeds} seeds × ${s.sampled.horizon} steps):
entropy of the parsed-action frequencies; parse rate = share of completions whose action parses.
${table(by('sampled'), sPlain, ['parseRate', 'hedgeRate'])}

## The paper's claims beside these numbers
| Rahn et al. (EAST) claim | here (${j.model.id}) |
|---|---|
| Steering raises action entropy | EAST at layer ${L}, r = ${j.choice.r} vs unsteered: paired Δ entropy ${f3(dEast)} nats (${sign(dEast)}), Δ valid mass ${f3(dMass)} (${sign(dMass)}) |
| …without breaking the answer format (unlike temperature) | format-broken share ${f3(over(east, 'brokenRate'))} with EAST vs ${f3(over(plain, 'brokenRate'))} unsteered; temperature: ${by('eval').filter((c) => c.vector === 'none' && c.temperature !== 1).map((c) => `T = ${c.temperature}: entropy ${f3(over(c, 'entropy'))}, broken ${f3(over(c, 'brokenRate'))}`).join('; ')} |
| A shuffled vector does nothing | shuffled vs unsteered: paired Δ entropy ${shuffled ? f3(paired(shuffled, plain, 'entropy')) : '–'} (${shuffled ? sign(paired(shuffled, plain, 'entropy')) : '–'}) |
| The direction matters, not the size | on the same histories, ${randomLine} |
| The vector encodes uncertainty | cos(u, step-index direction) = ${layer.cosStep.toFixed(2)} at layer ${L}; with that component projected out: ${(() => { const p = find('eval', (c) => c.vector === 'projected'); return p ? `paired Δ entropy vs unsteered ${f3(paired(p, plain, 'entropy'))}` : '–'; })()} |
| Vectors transfer between wordings | ${transfer.length > 1 ? `${transfer[1]!.label}: paired Δ entropy ${f3(paired(transfer[1]!, transfer[0]!, 'entropy'))} (${sign(paired(transfer[1]!, transfer[0]!, 'entropy'))})` : '–'} |
| Thoughts express more uncertainty | thought mode, hedge rate ${tPlain ? f3(over(tPlain, 'hedgeRate')) : '–'} unsteered vs ${tEast ? f3(over(tEast, 'hedgeRate')) : '–'} with EAST (paired Δ ${tEast && tPlain ? f3(paired(tEast, tPlain, 'hedgeRate')) : '–'}) |
| (paper's setting) sampled free text | ${sEast && sPlain ? `Δ entropy ${f3(paired(sEast, sPlain, 'entropy'))}, parse rate ${f3(over(sPlain, 'parseRate'))} → ${f3(over(sEast, 'parseRate'))}` : '–'} |
`;
}

/**
 * The figure: each condition's choice-step entropy against its valid mass (seed means), so a gain
 * in entropy bought by losing the answer format shows as a move to the left.
 */
export function eastFigure(j: EastJson): string {
  const pt = (c: Condition) => ({ x: over(c, 'validMass').mean, y: over(c, 'entropy').mean });
  const keep = (cs: Condition[]) => cs.map(pt).filter((q) => !Number.isNaN(q.x) && !Number.isNaN(q.y));
  const ev = j.conditions.filter((c) => c.set === 'eval');
  const rp = j.conditions.filter((c) => c.set === 'replay');
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const yMax = Math.log(2) * 1.05;
  return svgPanels([
    { title: 'Held-out seeds, closed loop', xLabel: 'valid mass (probability of any valid answer)', yLabel: 'entropy over choice steps (nats)', yMax, xTicks: ticks, series: [
      { name: 'unsteered', color: '#2ca02c', line: false, points: keep(ev.filter((c) => c.vector === 'none' && c.temperature === 1)) },
      { name: 'temperature alone', color: '#ff7f0e', points: keep(ev.filter((c) => c.vector === 'none' && c.temperature !== 1).sort((a, b) => a.temperature - b.temperature)) },
      { name: 'EAST (r, 2r)', color: '#d62728', points: keep(ev.filter((c) => c.vector === 'east').sort((a, b) => a.r - b.r)) },
      { name: 'shuffled / permuted / projected', color: '#7f7f7f', line: false, points: keep(ev.filter((c) => ['shuffled', 'permuted', 'projected'].includes(c.vector))) },
    ] },
    { title: 'Paired replays: EAST vs random directions', xLabel: 'valid mass', yLabel: 'entropy over choice steps (nats)', yMax, xTicks: ticks, series: [
      { name: 'unsteered', color: '#2ca02c', line: false, points: keep(rp.filter((c) => c.vector === 'none')) },
      { name: 'random directions, same norm', color: '#9467bd', line: false, points: keep(rp.filter((c) => c.vector === 'random')) },
      { name: 'EAST', color: '#d62728', line: false, points: keep(rp.filter((c) => c.vector === 'east')) },
    ] },
  ]);
}

export function renderEastReport(outDir: string, json: EastJson): void {
  writeFileSync(join(outDir, 'east.md'), eastReport(json));
  writeFileSync(join(outDir, 'east-tradeoff.svg'), eastFigure(json));
}
