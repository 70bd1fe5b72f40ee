/** `steerlab bench`: runs the benchmarks on the real model and writes one JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAgent } from '../bench/agent.js';
import { benchDecode, benchLoad, benchScoring } from '../bench/engine.js';
import { loadModel, modelPath } from '../node/models.js';
import { int, oneOfList, parseFlags, path, print } from './flags.js';

export const BENCH_SECTIONS = ['load', 'decode', 'scoring', 'agent', 'east'] as const;

export async function benchCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, {
    model: path().default('default'),
    out: path().optional(),
    only: oneOfList(BENCH_SECTIONS).default([...BENCH_SECTIONS]),
    reps: int({ min: 1 }).default(9),
  }, {});
  const spec = values.model;
  const file = modelPath(spec);
  const only = new Set<string>(values.only);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    model: file,
    backend: 'onnxruntime-node (cpu)',
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  };
  if (only.has('load')) {
    log('load: GGUF parse + convert + session, in a child process');
    result.load = benchLoad(file);
  }
  if (only.has('decode')) {
    log('decode: transformers.js generate() vs our loop');
    result.decode = await benchDecode(file, join(tmpdir(), 'steerlab-bench'), log, values.reps);
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
  const out = values.out ?? join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  print(JSON.stringify(result));
  log(`wrote ${out}`);
}
