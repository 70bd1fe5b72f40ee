/** Linux's per-process memory figures for the benchmark children. */
import { readFileSync } from 'node:fs';

/** Fields of /proc/self/status ('RssAnon', 'VmHWM', ...) in bytes; null each where absent or not Linux. */
export function statusBytes(...keys: string[]): (number | null)[] {
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // not Linux
  }
  return keys.map((k) => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : null;
  });
}
