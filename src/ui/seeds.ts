/** The seed queue: "1-5", "1,3,7" or "1-3, 10" as a list of whole seeds (at most 1000), or a one-line error. */
import { SteerlabError } from '../errors.js';

export const MAX_QUEUE = 1000;

export function parseSeedQueue(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(-?\d+)(?:\s*-\s*(-?\d+))?$/.exec(part);
    if (!m) throw new SteerlabError('BAD_ARGUMENT', `seed queue: '${part}' is not a seed or a range like 1-5`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new SteerlabError('BAD_ARGUMENT', `seed queue: range '${part}' runs backwards`);
    if (out.length + (b - a + 1) > MAX_QUEUE) throw new SteerlabError('BAD_ARGUMENT', `seed queue: more than ${MAX_QUEUE} seeds`);
    for (let s = a; s <= b; s++) out.push(s);
  }
  if (!out.length) throw new SteerlabError('BAD_ARGUMENT', 'seed queue is empty');
  return out;
}
