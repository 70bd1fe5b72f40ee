/**
 * The run list: every run the page made, kept in IndexedDB (src/ui/store) step by step, shown
 * after a reload; one stored run can be opened, two compared, any exported, renamed or deleted.
 * It is also the recorder the Agent panel writes its runs through. Without IndexedDB (or when
 * storage is full) it says so in `problem` and runs go on in memory.
 */
import { formatTrace } from '../trace/jsonl.js';
import { toCsv } from '../trace/csv.js';
import type { StepRecord, SummaryRecord, TraceRecord } from '../trace/schema.js';
import { describe } from './describe.js';
import { downloadText } from './download.js';
import type { StoredRun, StoredStatus } from './store/db.js';
import { RunStore, type NewRun } from './store/runs.js';

export interface RunView {
  run: StoredRun;
  steps: StepRecord[];
}

/** What the Agent panel tells the run list as a run goes. */
export interface RunRecorder {
  start(meta: NewRun): Promise<StoredRun>;
  step(runId: string, record: StepRecord): void;
  end(runId: string, status: StoredStatus, summary: SummaryRecord | null, error?: string): Promise<void>;
}

export function traceOf(v: RunView): TraceRecord[] {
  return v.run.summary ? [...v.steps, v.run.summary] : [...v.steps];
}

export class RunsState implements RunRecorder {
  list = $state.raw<StoredRun[]>([]);
  /** Why runs are not being kept (no IndexedDB, storage full, a failed write). */
  problem = $state<string | null>(null);
  /** Runs cut off by a reload or a crash, found when the page opened. */
  recovered = $state(0);
  /** The stored run opened for viewing. */
  view = $state.raw<RunView | null>(null);
  /** The ids ticked in the list (for Compare and EAST). */
  selected = $state<string[]>([]);
  /** Two stored runs side by side. */
  pair = $state.raw<[RunView, RunView] | null>(null);

  /** Writes of a run, chained so steps land in order and end() waits for them. */
  private writes = new Map<string, Promise<unknown>>();

  constructor(private store: RunStore | null) {}

  /** Opens the store, marks cut-off runs and reads the list; without IndexedDB the page keeps runs in memory and says so. */
  async init(open: () => Promise<RunStore>): Promise<void> {
    try {
      this.store = await open();
      this.recovered = await this.store.recover();
    } catch (e) {
      this.store = null;
      this.problem = `runs are not kept: IndexedDB is unavailable (${describe(e)})`;
    }
    await this.refresh();
  }

  async refresh(): Promise<void> {
    if (!this.store) return;
    try {
      this.list = await this.store.list();
    } catch (e) {
      this.problem = describe(e);
    }
  }

  private chain(runId: string, f: () => Promise<unknown>): Promise<unknown> {
    const p = (this.writes.get(runId) ?? Promise.resolve()).then(f, f);
    this.writes.set(runId, p);
    return p;
  }

  private syncProblem(): void {
    if (this.store?.problem) this.problem = this.store.problem;
  }

  async start(meta: NewRun): Promise<StoredRun> {
    if (!this.store) return { ...meta, id: meta.id ?? `mem-${Date.now().toString(36)}`, createdAt: Date.now(), status: 'running', steps: 0, summary: null };
    const run = await this.store.create(meta);
    this.syncProblem();
    await this.refresh();
    return run;
  }

  step(runId: string, record: StepRecord): void {
    const store = this.store;
    if (!store) return;
    void this.chain(runId, async () => {
      await store.append(runId, record);
      this.syncProblem();
    });
  }

  async end(runId: string, status: StoredStatus, summary: SummaryRecord | null, error?: string): Promise<void> {
    const store = this.store;
    if (!store) return;
    await this.chain(runId, () => store.finish(runId, status, summary, error));
    this.writes.delete(runId);
    this.syncProblem();
    await this.refresh();
  }

  /** Waits for every write in flight (tests, and before a fork reads a run). */
  async flushed(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  async load(runId: string): Promise<RunView> {
    if (!this.store) throw new Error('runs are not kept in this browser');
    const run = await this.store.get(runId);
    if (!run) throw new Error(`run ${runId} is not in the store`);
    return { run, steps: await this.store.steps(runId) };
  }

  async open(runId: string): Promise<void> {
    await this.guard(async () => {
      this.view = await this.load(runId);
    });
  }

  close(): void {
    this.view = null;
  }

  toggle(runId: string): void {
    this.selected = this.selected.includes(runId) ? this.selected.filter((x) => x !== runId) : [...this.selected, runId].slice(-2);
  }

  /** The two ticked runs side by side (A = the older). */
  async compareSelected(): Promise<void> {
    if (this.selected.length !== 2) {
      this.problem = 'tick two runs to compare';
      return;
    }
    await this.guard(async () => {
      const views = await Promise.all(this.selected.map((id) => this.load(id)));
      views.sort((a, b) => a.run.createdAt - b.run.createdAt);
      this.pair = [views[0]!, views[1]!];
    });
  }

  async rename(runId: string, name: string): Promise<void> {
    await this.guard(async () => {
      await this.store?.rename(runId, name);
      await this.refresh();
    });
  }

  async remove(runId: string): Promise<void> {
    await this.guard(async () => {
      await this.store?.delete(runId);
      if (this.view?.run.id === runId) this.view = null;
      this.selected = this.selected.filter((x) => x !== runId);
      await this.refresh();
    });
  }

  async exportRun(runId: string, format: 'jsonl' | 'csv' | 'summary'): Promise<void> {
    await this.guard(async () => {
      const v = await this.load(runId);
      const stem = `steerlab-${v.run.name.replace(/[^\w.-]+/g, '_')}`;
      if (format === 'jsonl') downloadText(`${stem}.jsonl`, formatTrace(traceOf(v)), 'application/x-ndjson');
      else if (format === 'csv') downloadText(`${stem}.csv`, toCsv(traceOf(v)), 'text/csv');
      else downloadText(`${stem}.summary.json`, JSON.stringify(v.run.summary, null, 2) + '\n', 'application/json');
    });
  }

  private async guard(f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.problem = describe(e);
    }
  }
}
