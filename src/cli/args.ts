/** Small helpers over node:util parseArgs so each command states its flags once. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SteerlabError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', (e as Error).message);
  }
}

export function num(v: unknown, name: string, fallback?: number): number {
  if (v === undefined) {
    if (fallback === undefined) throw new SteerlabError('BAD_ARGUMENT', `--${name} is required`);
    return fallback;
  }
  const n = Number(v);
  if (!Number.isFinite(n)) throw new SteerlabError('BAD_ARGUMENT', `--${name} must be a number, got '${String(v)}'`);
  return n;
}

export function list(v: unknown, name: string): number[] {
  if (v === undefined) return [];
  return String(v).split(',').map((x) => num(x.trim(), name));
}

export function need<T>(v: T | undefined, what: string): T {
  if (v === undefined || v === '') throw new SteerlabError('BAD_ARGUMENT', `missing ${what}`);
  return v;
}

export const print = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
