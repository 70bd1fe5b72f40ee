/** `steerlab bench`: runs the benchmarks on the real model and writes one JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { benchAgent, type KeptCacheRatio } from '../bench/agent.js';
import { benchDecode, benchLoad, benchScoring } from '../bench/engine.js';
import { modelFlops } from '../bench/flops.js';
import { loadModel, modelPath } from '../node/models.js';
import { int, oneOfList, parseFlags, path, print } from './flags.js';

export const BENCH_SECTIONS = ['load', 'decode', 'scoring', 'agent', 'east', 'peer', 'soak', 'browser'] as const;
/** What a plain `steerlab bench` runs: all but the soak (minutes of a 1,000-step episode; `--only soak`). */
export const DEFAULT_BENCH_SECTIONS = BENCH_SECTIONS.filter((s) => s !== 'soak');

export async function benchCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, {
    model: path().default('default'),
    out: path().optional(),
    only: oneOfList(BENCH_SECTIONS).default([...DEFAULT_BENCH_SECTIONS]),
    reps: int({ min: 1 }).default(9),
  }, {});
  const spec = values.model;
  const file = modelPath(spec);
  const only = new Set<string>(values.only);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    // The file's name, not where this machine keeps it: results are committed.
    model: basename(file),
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
  if (only.has('soak')) {
    const { benchSoak } = await import('../bench/soak.js');
    log('soak: 1,000-step exact-mode episodes in child processes, RSS sampled (minutes)');
    result.soak = benchSoak(file, log);
  }
  const session = await loadModel(spec);
  try {
    if (only.has('scoring')) {
      log('scoring: exact action distributions vs one decode step');
      result.scoring = await benchScoring(session);
    }
    if (only.has('agent')) {
      log('agent: step latency');
      result.agent = await benchAgent(session, log, modelFlops(file));
    }
    if (only.has('east')) {
      const { benchEast } = await import('../bench/east.js');
      log('east: hidden-state recording cost and vector computation');
      result.east = await benchEast(session, log);
    }
    if (only.has('peer')) {
      const { benchPeer } = await import('../bench/peer.js');
      log('peer: llama.cpp (node-llama-cpp) beside ours on the same GGUF and thread count, each in its own child process');
      const agent = result.agent as { cacheKept?: KeptCacheRatio } | undefined;
      result.peer = await benchPeer(session, file, log, { agent: agent?.cacheKept });
    }
    if (only.has('browser')) {
      const { benchBrowser } = await import('../bench/browser.js');
      log('browser: the model on wasm in chromium (Vite dev server on 127.0.0.1), 1 thread and all threads, vs Node at the same threads');
      result.browser = await benchBrowser(session, file, log);
      const b = result.browser as { problem: string | null };
      if (b.problem) log(`  browser: ${b.problem}`);
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
