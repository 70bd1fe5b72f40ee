/**
 * The sweep grid: every run a sweep plays, in one fixed order (layer, temperature, beta, then
 * seed), so any process can tell which runs are its shard's and which a file already holds.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { SummaryRecord } from '../trace/schema.js';

export interface GridAxes {
  layers: readonly number[];
  temperatures: readonly number[];
  betas: readonly number[];
  /** Episodes per cell; episode e plays seed + e. */
  seeds: number;
  control: string;
}

/** What a sweep writes under `extra.sweep` of each summary line: the run's place in its grid. */
export const sweepTagSchema = z.strictObject({
  /** Fingerprint of everything that decides the records (see gridFingerprint). */
  grid: z.string().min(1),
  /** Grid index of the run, 0-based; size: runs in the whole grid. */
  index: z.number().int().min(0),
  size: z.number().int().min(1),
  /** The table row the run belongs to (0-based, in grid order). */
  cell: z.number().int().min(0),
  layer: z.number().int().min(0),
  temperature: z.number().min(0),
  beta: z.number(),
  control: z.string(),
  episode: z.number().int().min(0),
});
export type SweepTag = z.output<typeof sweepTagSchema>;

export interface TaggedRun {
  tag: SweepTag;
  summary: SummaryRecord;
}

/** Every run of the grid, index i at position i. */
export function gridRuns(axes: GridAxes, grid: string): SweepTag[] {
  const size = axes.layers.length * axes.temperatures.length * axes.betas.length * axes.seeds;
  const out: SweepTag[] = [];
  let cell = 0;
  for (const layer of axes.layers) for (const temperature of axes.temperatures) for (const beta of axes.betas) {
    for (let episode = 0; episode < axes.seeds; episode++) out.push({ grid, index: out.length, size, cell, layer, temperature, beta, control: axes.control, episode });
    cell++;
  }
  return out;
}

/** Shard k of n (k from 1) holds the runs whose index i has i mod n = k - 1. */
export function inShard(index: number, shard: { k: number; n: number } | undefined): boolean {
  return !shard || index % shard.n === shard.k - 1;
}

/** A short hash of the sweep's defining inputs: files from different sweeps are never mixed. */
export function gridFingerprint(inputs: unknown): string {
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
}
