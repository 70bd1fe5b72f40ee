/** `steerlab bench`: runs the benchmarks on the real model and writes one JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAgent } from '../bench/agent.js';
import { benchDecode, benchLoad, benchScoring } from '../bench/engine.js';
import { loadModel, modelPath } from '../node/models.js';
import { num, parse, print } from './args.js';

export const BENCH_SECTIONS = ['load', 'decode', 'scoring', 'agent', 'east'] as const;

export async function benchCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { model: { type: 'string' }, out: { type: 'string' }, only: { type: 'string' }, reps: { type: 'string' } });
  const spec = (values.model as string | undefined) ?? 'default';
  const path = modelPath(spec);
  const only = new Set(((values.only as string | undefined) ?? BENCH_SECTIONS.join(',')).split(','));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    model: path,
    backend: 'onnxruntime-node (cpu)',
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  };
  if (only.has('load')) {
    log('load: GGUF parse + convert + session, in a child process');
    result.load = benchLoad(path);
  }
  if (only.has('decode')) {
    log('decode: transformers.js generate() vs our loop');
    result.decode = await benchDecode(path, join(tmpdir(), 'steerlab-bench'), log, num(values.reps, 'reps', 9));
  }
  const session = await loadModel(spec);
  try {
    if (only.has('scoring')) {
      log('scoring: exact action distributions vs one decode step');
      result.scoring = await benchScoring(session);
    }
    if (only.has('agent')) {
      log('agent: step latency');
      result.agent = await benchAgent(session, log);
    }
    if (only.has('east')) {
      const { benchEast } = await import('../bench/east.js');
      log('east: hidden-state recording cost and vector computation');
      result.east = await benchEast(session, log);
    }
  } finally {
    await session.dispose();
  }
  const out = (values.out as string | undefined) ?? join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  print(JSON.stringify(result));
  log(`wrote ${out}`);
}
