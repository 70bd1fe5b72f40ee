/** `steerlab east`, `steerlab vector export|import|info`, `steerlab sweep`. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { collectEastRuns, vectorFromRuns, type VectorMethod } from '../agent/east-collect.js';
import type { Mode, SteeringControl } from '../agent/agent.js';
import { SteerlabError } from '../errors.js';
import { aggregate } from '../metrics/summary.js';
import { loadModel } from '../node/models.js';
import { exportControlVector, importControlVector } from '../steering/controlvector.js';
import { shuffledControl } from '../steering/east.js';
import { l2, makeVectorFile, parseVectorFile } from '../steering/vector.js';
import { formatTraceLine } from '../trace/jsonl.js';
import { list, need, num, parse, print } from './args.js';
import { envOptionsFrom, episodeFlags, runLlmEpisodes, scenarioFrom } from './run.js';

const common = episodeFlags;

export async function eastCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...common, episodes: { type: 'string' }, layer: { type: 'string' }, out: { type: 'string' }, method: { type: 'string' }, trace: { type: 'string' }, position: { type: 'string' } });
  const zPosition = ((values.position as string | undefined) ?? 'last-prompt') as 'last-prompt' | 'last-prefix';
  if (!['last-prompt', 'last-prefix'].includes(zPosition)) throw new SteerlabError('BAD_ARGUMENT', '--position must be last-prompt or last-prefix');
  const envId = need(values.env as string | undefined, '--env ENV');
  const layers = list(need(values.layer as string | undefined, '--layer L'), 'layer');
  const method = ((values.method as string | undefined) ?? 'east') as VectorMethod;
  if (!['east', 'uncentred', 'contrastive', 'shuffled'].includes(method)) throw new SteerlabError('BAD_ARGUMENT', '--method must be east, uncentred, contrastive or shuffled');
  const out = need(values.out as string | undefined, '--out vector.json');
  const trace = values.trace as string | undefined;
  if (trace) writeFileSync(trace, '');
  const session = await loadModel(need(values.model as string | undefined, '--model M'));
  try {
    for (const l of layers) if (l < 0 || l >= session.info.layers) throw new SteerlabError('BAD_ARGUMENT', `--layer ${l} is outside 0..${session.info.layers - 1}`);
    const c = await collectEastRuns(session, {
      envId,
      envOptions: envOptionsFrom(values['env-options']),
      scenario: scenarioFrom(values.scenario as string | undefined, envId),
      episodes: num(values.episodes, 'episodes', 10),
      horizon: values.horizon === undefined ? undefined : num(values.horizon, 'horizon'),
      seed: num(values.seed, 'seed', 0),
      layers,
      zPosition,
      mode: ((values.mode as string | undefined) ?? 'exact') as Mode,
      samples: num(values.samples, 'samples', 25),
      temperature: num(values.temperature, 'temperature', 1),
      onStep: trace ? (r) => appendFileSync(trace, formatTraceLine(r)) : undefined,
      onEpisode: (k, n) => process.stderr.write(`episode ${k + 1}: ${n} steps\n`),
    });
    const files = layers.map((l) => vectorFromRuns(session, l, c.runs.get(l)!, method, c.runIds, { env: envId, scenario: values.scenario ?? null, position: zPosition }));
    // One layer: the file is the vector; several: out gets a .L suffix per layer.
    files.forEach((f, i) => writeFileSync(layers.length === 1 ? out : out.replace(/(\.json)?$/, `.${layers[i]}.json`), `${JSON.stringify(f)}\n`));
    print(JSON.stringify(files.map((f) => ({ layer: f.layer, norm: f.norm, residNorm: f.residNorm, relative: f.norm! / f.residNorm!, steps: c.steps, method }))));
  } finally {
    await session.dispose();
  }
}

export async function vectorCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, { gguf: { type: 'string' }, out: { type: 'string' }, layer: { type: 'string' }, 'model-hint': { type: 'string' } });
  const input = need(positionals[0], 'an input file');
  if (sub === 'export') {
    const v = parseVectorFile(readFileSync(input, 'utf8'));
    const hint = (values['model-hint'] as string | undefined) ?? 'llama';
    writeFileSync(need(values.gguf as string | undefined, '--gguf out.gguf'), exportControlVector([{ layer: v.layer, vector: Float32Array.from(v.vector) }], hint));
    print(JSON.stringify({ layer: v.layer, direction: `direction.${v.layer}`, hidden: v.hidden }));
    return;
  }
  if (sub === 'import') {
    const cv = importControlVector(new Uint8Array(readFileSync(input)));
    let dir = cv.directions[0]!;
    if (values.layer !== undefined) {
      const L = num(values.layer, 'layer');
      dir = cv.directions.find((d) => d.layer === L) ?? (() => { throw new SteerlabError('BAD_VECTOR', `no direction.${L} in ${input} (has ${cv.directions.map((d) => d.layer).join(', ')})`); })();
    } else if (cv.directions.length > 1) {
      throw new SteerlabError('BAD_ARGUMENT', `${input} holds ${cv.directions.length} layers (${cv.directions.map((d) => d.layer).join(', ')}); choose one with --layer`);
    }
    const file = makeVectorFile(dir.layer, dir.vector, { method: 'llama.cpp control vector', model: cv.modelHint ? { id: cv.modelHint } : undefined });
    writeFileSync(need(values.out as string | undefined, '--out vector.json'), `${JSON.stringify(file)}\n`);
    print(JSON.stringify({ layer: dir.layer, hidden: dir.vector.length, norm: file.norm }));
    return;
  }
  if (sub === 'info') {
    const v = parseVectorFile(readFileSync(input, 'utf8'));
    const norm = l2(v.vector);
    print(JSON.stringify({ layer: v.layer, hidden: v.hidden, method: v.method ?? null, model: v.model ?? null, norm, residNorm: v.residNorm ?? null, relativeToResid: v.residNorm ? norm / v.residNorm : null, sourceRuns: v.sourceRuns?.length ?? 0 }));
    return;
  }
  throw new SteerlabError('BAD_ARGUMENT', `unknown 'vector' subcommand '${sub ?? ''}' (export, import, info)`);
}

export interface SweepRow {
  layer: number;
  beta: number;
  temperature: number;
  control: string;
  runs: number;
  entropy: { mean: number; lo: number | null; hi: number | null };
  invalidRate: { mean: number; lo: number | null; hi: number | null };
  regret: { mean: number; lo: number | null; hi: number | null };
}

export async function sweepCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...common, vector: { type: 'string' }, layers: { type: 'string' }, betas: { type: 'string' }, temperatures: { type: 'string' }, seeds: { type: 'string' }, out: { type: 'string' }, control: { type: 'string' }, positions: { type: 'string' } });
  const envId = need(values.env as string | undefined, '--env ENV');
  const file = parseVectorFile(readFileSync(need(values.vector as string | undefined, '--vector FILE'), 'utf8'));
  const layers = values.layers ? list(values.layers, 'layers') : [file.layer];
  const betas = values.betas ? list(values.betas, 'betas') : [0, 1, 2, 4];
  const temps = values.temperatures ? list(values.temperatures, 'temperatures') : [num(values.temperature, 'temperature', 1)];
  const seeds = num(values.seeds, 'seeds', 5);
  const out = values.out as string | undefined;
  if (out) writeFileSync(out, '');
  const control = (values.control as string | undefined) ?? 'none';
  if (!['none', 'shuffled'].includes(control)) throw new SteerlabError('BAD_ARGUMENT', '--control must be none or shuffled');
  const vector = control === 'shuffled' ? shuffledControl(Float32Array.from(file.vector), 'sweep-control') : Float32Array.from(file.vector);
  const session = await loadModel(need(values.model as string | undefined, '--model M'));
  const rows: SweepRow[] = [];
  try {
    for (const layer of layers) for (const temperature of temps) for (const beta of betas) {
      const steering: SteeringControl | null = beta === 0 ? null : { id: `${control === 'shuffled' ? 'shuffled:' : ''}${file.method ?? 'vector'}@${layer}`, layer, vector, positions: (values.positions as 'generated' | 'all' | undefined) ?? 'generated', beta: () => beta };
      const summaries = await runLlmEpisodes({
        session, envId, envOptions: envOptionsFrom(values['env-options']), scenario: scenarioFrom(values.scenario as string | undefined, envId),
        episodes: seeds, horizon: values.horizon === undefined ? undefined : num(values.horizon, 'horizon'), seed: num(values.seed, 'seed', 0),
        mode: ((values.mode as string | undefined) ?? 'exact') as Mode, samples: num(values.samples, 'samples', 25), temperature, steering, out,
      });
      const agg = aggregate(summaries.map((s) => s.summary));
      const row: SweepRow = { layer, beta, temperature, control, runs: summaries.length, entropy: agg.entropy, invalidRate: agg.invalidRate, regret: agg.regret };
      rows.push(row);
      process.stderr.write(`layer ${layer} T ${temperature} beta ${beta}: entropy ${agg.entropy.mean.toFixed(3)} invalid ${agg.invalidRate.mean.toFixed(2)}\n`);
    }
  } finally {
    await session.dispose();
  }
  const ci = (x: SweepRow['entropy']) => `${x.mean.toFixed(3)} [${x.lo?.toFixed(3) ?? '-'}, ${x.hi?.toFixed(3) ?? '-'}]`;
  print(['layer\ttemp\tbeta\truns\tentropy (95% CI)\tinvalid rate (95% CI)\tregret (95% CI)', ...rows.map((r) => `${r.layer}\t${r.temperature}\t${r.beta}\t${r.runs}\t${ci(r.entropy)}\t${ci(r.invalidRate)}\t${ci(r.regret)}`)].join('\n'));
  // Calibration: per layer and temperature, the smallest beta at which half the answers fail to parse.
  const breaksAt = [...new Set(rows.map((r) => `${r.layer}|${r.temperature}`))].map((k) => {
    const [layer, temperature] = k.split('|').map(Number);
    const hit = rows.filter((r) => r.layer === layer && r.temperature === temperature).sort((a, b) => a.beta - b.beta).find((r) => r.invalidRate.mean >= 0.5);
    return { layer, temperature, beta: hit ? hit.beta : null };
  });
  print(JSON.stringify({ rows, breaksAt }));
}
