/**
 * The lab's own IndexedDB database (through idb), apart from the worker's model cache: runs and
 * their steps (one row per step, written as it arrives, so a closed tab loses at most the step in
 * flight), vectors, and scenarios the user imported. Pure storage: no Svelte, testable in Node
 * with fake-indexeddb.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { ControlVectorData } from '../../steering/control-vector.js';
import type { StepRecord, SummaryRecord } from '../../trace/schema.js';
import type { LabSetup } from '../setup.js';
import type { Scenario } from '../../envs/scenario.js';

export type StoredStatus = 'running' | 'done' | 'stopped' | 'failed' | 'interrupted';

export interface StoredRun {
  id: string;
  name: string;
  createdAt: number;
  setup: LabSetup;
  /** e.g. "layer 10, β 8, generated positions, random unit direction, seed 7", or "none". */
  steering: string;
  status: StoredStatus;
  steps: number;
  summary: SummaryRecord | null;
  /** Set when the run is one side of a comparison: the pair shares the group. */
  compare?: { group: string; side: 'A' | 'B' };
  /** The run this one was forked from, and at which step. */
  forkOf?: { run: string; step: number };
  error?: string;
}

export interface StoredStep {
  runId: string;
  step: number;
  record: StepRecord;
}

export interface StoredVector {
  id: string;
  name: string;
  createdAt: number;
  /** Where it came from: an imported file, computed from runs in the page, or the shuffled control of one. */
  origin: 'file' | 'east' | 'shuffled';
  data: ControlVectorData;
  note?: string;
}

export interface StoredScenario {
  id: string;
  scenario: Scenario;
  createdAt: number;
}

interface LabSchema extends DBSchema {
  runs: { key: string; value: StoredRun; indexes: { createdAt: number } };
  steps: { key: [string, number]; value: StoredStep; indexes: { runId: string } };
  vectors: { key: string; value: StoredVector };
  scenarios: { key: string; value: StoredScenario };
  /** The page's controls as last set ('last'), restored on the next visit when no link says otherwise. */
  settings: { key: string; value: { name: string; setup: LabSetup; savedAt: number } };
}

export type LabDb = IDBPDatabase<LabSchema>;

export const LAB_DB_NAME = 'steerlab-lab';

export function openLabDb(name = LAB_DB_NAME): Promise<LabDb> {
  return openDB<LabSchema>(name, 1, {
    upgrade(db) {
      db.createObjectStore('runs', { keyPath: 'id' }).createIndex('createdAt', 'createdAt');
      db.createObjectStore('steps', { keyPath: ['runId', 'step'] }).createIndex('runId', 'runId');
      db.createObjectStore('vectors', { keyPath: 'id' });
      db.createObjectStore('scenarios', { keyPath: 'id' });
      db.createObjectStore('settings', { keyPath: 'name' });
    },
  });
}

/** True for the errors a full disk gives (a rejected put, or an aborted transaction). */
export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || (name === 'AbortError' && /quota/i.test(String((e as Error).message)));
}
