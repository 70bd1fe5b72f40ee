/**
 * Turns the first zod issue into one readable line that names the bad field, e.g.
 * "field 'history.style': Invalid option: expected one of ...". Used by every schema in the lab
 * so option, scenario and trace errors read alike.
 */
import type { z } from 'zod';

export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid value';
  const where = formatPath(issue.path);
  return where ? `field '${where}': ${issue.message}` : issue.message;
}
