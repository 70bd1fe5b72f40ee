/** Where model files come from: a local folder (Node), the hub or any URL base (fetch). */
import { SteerlabError } from '../../errors.js';

export interface FileSource {
  /** A human-readable location, for error messages. */
  readonly where: string;
  /** The file's bytes, or null when it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
}

/** The hub's address; STEERLAB_HUB_BASE points it at a mirror (Node). */
export const HUB_BASE = (typeof process !== 'undefined' && process.env?.STEERLAB_HUB_BASE) || 'https://huggingface.co';

/** Files under a URL base, e.g. `${HUB_BASE}/${id}/resolve/main`. */
export function urlSource(base: string, fetchImpl: typeof fetch = fetch): FileSource {
  return {
    where: base,
    async read(name) {
      let res: Response;
      try {
        res = await fetchImpl(`${base}/${name}`);
      } catch (e) {
        throw new SteerlabError('FETCH_FAILED', `could not reach ${base}/${name}: ${(e as Error).message}`);
      }
      if (res.status === 404) return null;
      if (!res.ok) throw new SteerlabError('FETCH_FAILED', `${base}/${name} answered HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}
