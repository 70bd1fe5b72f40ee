/**
 * The vector library: steering vectors kept in IndexedDB (src/ui/store/vectors.ts), imported from
 * steerlab JSON or llama.cpp control-vector GGUF files, or computed here with EAST from stored
 * runs (with the shuffled control beside it); renamed, deleted and exported in either format.
 * Every imported file is validated (the CLI's parsers) before it is stored.
 */
import { ControlVector } from '../steering/control-vector.js';
import { loadScenario } from '../envs/scenario.js';
import type { EpisodeRequest } from '../workers/api.js';
import type { ModelClient } from '../workers/client.js';
import { describe } from './describe.js';
import { downloadBytes, downloadText } from './download.js';
import { gameOptions } from './games.js';
import type { StoredRun, StoredVector } from './store/db.js';
import { toControlVector, type VectorStore } from './store/vectors.js';

/** The episode a stored run was, as the worker replays it (unsteered). */
export function replayRequest(r: StoredRun): EpisodeRequest {
  const s = r.setup;
  return {
    env: s.env,
    envOptions: gameOptions(s.env, s.preset ?? 'equal'),
    scenario: s.scenarioJson ? loadScenario(s.scenarioJson) : s.scenario,
    mode: s.mode,
    temperature: s.temperature,
    minValidMass: s.minValidMass,
    horizon: s.horizon,
    seed: s.seed,
  };
}

/** A vector file's bytes as a ControlVector: GGUF by its magic, else steerlab JSON. Throws one line when invalid. */
export function readVectorBytes(bytes: Uint8Array, name: string): ControlVector {
  const gguf = bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46;
  return gguf ? ControlVector.fromGguf(bytes, name) : ControlVector.fromJson(new TextDecoder().decode(bytes), name);
}

export class LibraryState {
  list = $state.raw<StoredVector[]>([]);
  problem = $state<string | null>(null);
  /** One line while EAST is being computed. */
  busy = $state<string | null>(null);
  /** What the last EAST computation gave (steps used, the two rows). */
  lastEast = $state<string | null>(null);

  constructor(
    private readonly client: ModelClient,
    private store: VectorStore | null,
  ) {}

  async init(open: () => Promise<VectorStore>): Promise<void> {
    try {
      this.store = await open();
    } catch (e) {
      this.problem = `vectors are not kept: IndexedDB is unavailable (${describe(e)})`;
    }
    await this.refresh();
  }

  async refresh(): Promise<void> {
    if (!this.store) return;
    this.list = await this.store.list();
  }

  get(id: string | null): StoredVector | null {
    return this.list.find((v) => v.id === id) ?? null;
  }

  /** Stores a vector read elsewhere (the steering panel's file input); returns its row, or null when not kept. */
  async add(v: ControlVector, name: string, origin: StoredVector['origin'], note?: string): Promise<StoredVector | null> {
    if (!this.store) return null;
    try {
      const row = await this.store.add(v, name, origin, note);
      await this.refresh();
      return row;
    } catch (e) {
      this.problem = describe(e);
      return null;
    }
  }

  async importFile(file: File): Promise<StoredVector | null> {
    this.problem = null;
    try {
      const v = readVectorBytes(new Uint8Array(await file.arrayBuffer()), file.name);
      return await this.add(v, file.name, 'file');
    } catch (e) {
      this.problem = describe(e);
      return null;
    }
  }

  async rename(id: string, name: string): Promise<void> {
    await this.store?.rename(id, name);
    await this.refresh();
  }

  async remove(id: string): Promise<void> {
    await this.store?.delete(id);
    await this.refresh();
  }

  export(id: string, format: 'json' | 'gguf'): void {
    const row = this.get(id);
    if (!row) return;
    try {
      const v = toControlVector(row);
      const stem = row.name.replace(/\.(json|gguf)$/i, '').replace(/[^\w.@-]+/g, '_');
      if (format === 'json') downloadText(`${stem}.json`, v.toJson(), 'application/json');
      else downloadBytes(`${stem}.gguf`, v.toGguf(), 'application/octet-stream');
    } catch (e) {
      this.problem = describe(e);
    }
  }

  /** EAST at `layer` from stored exact-mode runs (replayed unsteered), stored with its shuffled control. */
  async computeEast(runs: StoredRun[], layer: number): Promise<StoredVector | null> {
    this.problem = null;
    this.lastEast = null;
    this.busy = `computing EAST at layer ${layer} from ${runs.length} run${runs.length === 1 ? '' : 's'}…`;
    try {
      const r = await this.client.eastVector({ runs: runs.map(replayRequest), layer });
      const sources = runs.map((x) => x.name).join(', ');
      const note = `${r.steps} valid steps from ${sources}`;
      const east = ControlVector.of(r.vector);
      const row = await this.add(east, `east L${layer} (${runs.length} run${runs.length === 1 ? '' : 's'})`, 'east', note);
      await this.add(ControlVector.of(r.shuffled), `shuffled control of east L${layer}`, 'shuffled', note);
      this.lastEast = `EAST at layer ${layer}: ${note}; its shuffled control is stored beside it`;
      return row;
    } catch (e) {
      this.problem = describe(e);
      return null;
    } finally {
      this.busy = null;
    }
  }
}
