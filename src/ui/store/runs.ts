/**
 * Runs kept in IndexedDB: created when a run starts, one row per step as it arrives, the summary
 * when it ends. A run still marked 'running' when the page opens was cut off (reload, closed tab,
 * crashed worker): it becomes 'interrupted' with the steps it saved. When storage is full the
 * store says so once (the caller keeps the run in memory) and never throws into the run.
 */
import type { StepRecord, SummaryRecord } from '../../trace/schema.js';
import { isQuotaError, type LabDb, type StoredRun, type StoredStatus } from './db.js';

export type NewRun = Omit<StoredRun, 'id' | 'createdAt' | 'status' | 'steps' | 'summary'> & { id?: string };

export const STORAGE_FULL_MESSAGE = 'browser storage is full: this run goes on in memory and will not survive a reload (delete old runs or cached models to make room)';

export class RunStore {
  /** One line when writing failed (storage full or another IndexedDB failure); the run goes on in memory. */
  problem: string | null = null;

  constructor(readonly db: LabDb) {}

  private note(e: unknown): void {
    this.problem = isQuotaError(e) ? STORAGE_FULL_MESSAGE : `saving the run failed (${(e as Error).name}: ${(e as Error).message}); it goes on in memory`;
  }

  /** Stores a new run and returns it; on a storage failure the run is returned unsaved (see `problem`). */
  async create(r: NewRun, now = Date.now()): Promise<StoredRun> {
    const run: StoredRun = { ...r, id: r.id ?? `run-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`, createdAt: now, status: 'running', steps: 0, summary: null };
    try {
      await this.db.put('runs', run);
    } catch (e) {
      this.note(e);
    }
    return run;
  }

  /** Writes one step and the run's step count in one transaction; false when it could not be saved. */
  async append(runId: string, record: StepRecord): Promise<boolean> {
    try {
      const tx = this.db.transaction(['runs', 'steps'], 'readwrite');
      const run = await tx.objectStore('runs').get(runId);
      await tx.objectStore('steps').put({ runId, step: record.step, record });
      if (run) await tx.objectStore('runs').put({ ...run, steps: Math.max(run.steps, record.step + 1) });
      await tx.done;
      return true;
    } catch (e) {
      this.note(e);
      return false;
    }
  }

  async finish(runId: string, status: StoredStatus, summary: SummaryRecord | null, error?: string): Promise<void> {
    await this.update(runId, (r) => ({ ...r, status, summary, ...(error ? { error } : {}) }));
  }

  async rename(runId: string, name: string): Promise<void> {
    await this.update(runId, (r) => ({ ...r, name: name.trim() || r.name }));
  }

  private async update(runId: string, f: (r: StoredRun) => StoredRun): Promise<void> {
    try {
      const tx = this.db.transaction('runs', 'readwrite');
      const run = await tx.store.get(runId);
      if (run) await tx.store.put(f(run));
      await tx.done;
    } catch (e) {
      this.note(e);
    }
  }

  /** Newest first. */
  async list(): Promise<StoredRun[]> {
    return (await this.db.getAllFromIndex('runs', 'createdAt')).reverse();
  }

  async get(runId: string): Promise<StoredRun | undefined> {
    return this.db.get('runs', runId);
  }

  /** The run's steps in order. */
  async steps(runId: string): Promise<StepRecord[]> {
    const rows = await this.db.getAllFromIndex('steps', 'runId', runId);
    return rows.sort((a, b) => a.step - b.step).map((r) => r.record);
  }

  async delete(runId: string): Promise<void> {
    const tx = this.db.transaction(['runs', 'steps'], 'readwrite');
    await tx.objectStore('runs').delete(runId);
    const steps = tx.objectStore('steps');
    for (const key of await steps.index('runId').getAllKeys(runId)) await steps.delete(key);
    await tx.done;
  }

  /** Runs left 'running' by a page that went away become 'interrupted'; returns how many. */
  async recover(): Promise<number> {
    let n = 0;
    for (const r of await this.list()) {
      if (r.status !== 'running') continue;
      const steps = (await this.db.getAllKeysFromIndex('steps', 'runId', r.id)).length;
      await this.update(r.id, (x) => ({ ...x, status: 'interrupted', steps }));
      n++;
    }
    return n;
  }
}
