/** The vector library in IndexedDB: vectors imported from files or computed in the page, renamed and deleted by the user. */
import { ControlVector } from '../../steering/control-vector.js';
import type { LabDb, StoredVector } from './db.js';

export class VectorStore {
  constructor(readonly db: LabDb) {}

  /** Stores a vector under a fresh id (a name is kept as given; two vectors may share one). */
  async add(v: ControlVector, name: string, origin: StoredVector['origin'], note?: string, now = Date.now()): Promise<StoredVector> {
    const row: StoredVector = { id: `vec-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`, name, createdAt: now, origin, data: v.toData(), ...(note ? { note } : {}) };
    await this.db.put('vectors', row);
    return row;
  }

  async list(): Promise<StoredVector[]> {
    return (await this.db.getAll('vectors')).sort((a, b) => a.createdAt - b.createdAt);
  }

  async rename(id: string, name: string): Promise<void> {
    const v = await this.db.get('vectors', id);
    if (v && name.trim()) await this.db.put('vectors', { ...v, name: name.trim() });
  }

  async delete(id: string): Promise<void> {
    await this.db.delete('vectors', id);
  }
}

/** A stored row as a ControlVector named by the row's name (the trace's vectorId). */
export function toControlVector(row: StoredVector): ControlVector {
  return ControlVector.of({ ...row.data, id: row.name });
}
