/**
 * The tiny template language of scenario files: `{name}` is replaced by a value. Only
 * `{letters}` counts as a placeholder, so other braces in prose stay as they are. Scenario
 * loading checks every placeholder against the names its field allows, so rendering never meets
 * an unknown one.
 */

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

export type TemplateVars = Record<string, string | number>;

export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

export function renderTemplate(template: string, vars: TemplateVars): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => (Object.hasOwn(vars, name) ? String(vars[name]) : whole));
}

/** Fixed decimals without a "-0.0" for tiny negatives. */
export function formatNumber(x: number, decimals: number): string {
  const text = x.toFixed(decimals);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}
