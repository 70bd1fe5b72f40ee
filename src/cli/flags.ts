/**
 * Every CLI flag goes through one schema. A command states its flags once as a zod shape built
 * from the blocks below; parseFlags tokenises argv with node:util parseArgs (strict, so unknown
 * flags are refused; option types come from the shape: booleans as boolean, the rest as string)
 * and validates the strings with the zod object. Every failure is one line:
 * `BAD_ARGUMENT: --mode must be one of exact, sampled (got 'exakt')`.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseVReason } from '../steering/vreason/settings.js';
import { parseAutopilot } from '../steering/autopilot.js';
import { MODES } from '../agent/agent.js';
import { POSITIONS } from '../engine/hook-points.js';
import { SteerlabError } from '../errors.js';

// ---------- building blocks ----------
/** A string flag; its absence reads "is required" (wrap in .optional() / .default() otherwise). */
function str(what: string) {
  return z.string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be ${what}`) });
}

type Issues = { issues: { push(i: { code: 'custom'; message: string; input: unknown }): void } };
const bad = (ctx: Issues, message: string, input: unknown): never => {
  ctx.issues.push({ code: 'custom', message, input });
  return z.NEVER;
};

export interface Bounds {
  /** Whole numbers only. */
  int?: boolean;
  min?: number;
  max?: number;
  /** Strictly greater than. */
  gt?: number;
}

function describeNumber(b: Bounds, plural = false): string {
  const kind = plural ? (b.int ? 'whole numbers' : 'numbers') : b.int ? 'a whole number' : 'a number';
  const parts = [b.gt !== undefined ? `> ${b.gt}` : null, b.min !== undefined ? `>= ${b.min}` : null, b.max !== undefined ? `<= ${b.max}` : null].filter(Boolean);
  return parts.length ? `${kind} ${parts.join(' and ')}` : kind;
}

function toNumber(s: string, b: Bounds): number | null {
  if (s.trim() === '') return null;
  const n = Number(s);
  if (!Number.isFinite(n)) return null;
  if (b.int && !Number.isInteger(n)) return null;
  if (b.min !== undefined && n < b.min) return null;
  if (b.max !== undefined && n > b.max) return null;
  if (b.gt !== undefined && !(n > b.gt)) return null;
  return n;
}

/** A finite number, optionally bounded. */
export function number(b: Bounds = {}) {
  const what = describeNumber(b);
  return str(what).transform((s, ctx) => toNumber(s, b) ?? bad(ctx, `must be ${what} (got '${s}')`, s));
}

/** A whole number, optionally bounded. */
export function int(b: Omit<Bounds, 'int'> = {}) {
  return number({ ...b, int: true });
}

/** A comma-separated list of numbers ("0,1,2.5"), each within the bounds; never empty. */
export function numbers(b: Bounds = {}) {
  const what = `a comma-separated list of ${describeNumber(b, true)}`;
  return str(what).transform((s, ctx) => {
    const out: number[] = [];
    for (const part of s.split(',')) {
      const n = toNumber(part.trim(), b);
      if (n === null) return bad(ctx, `must be ${what} (got '${part.trim()}' in '${s}')`, s);
      out.push(n);
    }
    return out;
  });
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly string[]>(values: T) {
  return z.enum(values, {
    error: (iss) => (iss.input === undefined ? 'is required' : `must be one of ${values.join(', ')} (got '${String(iss.input)}')`),
  });
}

/** A comma-separated list of words from a fixed set ("load,decode"); never empty. */
export function oneOfList<const T extends readonly string[]>(values: T) {
  const what = `a comma-separated list of ${values.join(', ')}`;
  return str(what).transform((s, ctx) => {
    const out: T[number][] = [];
    for (const part of s.split(',').map((x) => x.trim())) {
      if (!values.includes(part)) return bad(ctx, `must be ${what} (got '${part}' in '${s}')`, s);
      out.push(part);
    }
    return out;
  });
}

/** JSON text, optionally checked against a schema (`what` names it in the message). */
export function json<T extends z.ZodType = z.ZodUnknown>(schema?: T, what = 'JSON') {
  return str(what).transform((s, ctx): z.output<T> => {
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      return bad(ctx, `must be ${what} (${(e as Error).message.split('\n')[0]})`, s);
    }
    if (!schema) return v as z.output<T>;
    const r = schema.safeParse(v);
    return r.success ? (r.data as z.output<T>) : bad(ctx, `must be ${what} (got '${s}')`, s);
  });
}

/** V-Reason settings, `k=2,steps=3,lr=0.01[,mode=..][,level=..]` (see steering/vreason/settings.ts). */
export function vreason() {
  return str('V-Reason settings (k=2,steps=3,lr=0.01,...)').transform((s, ctx) => {
    try {
      return parseVReason(s);
    } catch (e) {
      return bad(ctx, (e as Error).message.replace(/^--vreason: /, ''), s);
    }
  });
}

/** Entropy autopilot settings, `target=0.6[,kp=2,...]` (see steering/autopilot.ts). */
export function autopilot() {
  return str('autopilot settings (target=0.6,...)').transform((s, ctx) => {
    try {
      return parseAutopilot(s);
    } catch (e) {
      return bad(ctx, (e as Error).message.replace(/^autopilot: /, ''), s);
    }
  });
}

/** A shard of a grid, `k/n` with 1 <= k <= n (k counts from 1, as Slurm array ids usually do). */
export function shard() {
  const what = 'k/n with whole numbers 1 <= k <= n, e.g. 2/4';
  return str(what).transform((s, ctx) => {
    const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(s);
    const k = m ? Number(m[1]) : NaN;
    const n = m ? Number(m[2]) : NaN;
    return k >= 1 && k <= n ? { k, n } : bad(ctx, `must be ${what} (got '${s}')`, s);
  });
}

/** A JSON object ({"key": value, ...}). */
export const jsonObject = () => json(z.record(z.string(), z.unknown()), 'a JSON object');

/** A file or folder path (not empty). */
export function path() {
  return str('a path').refine((s) => s !== '', { message: 'must be a path (got \'\')' });
}

/** Free text (not empty). */
export function text() {
  return str('text').refine((s) => s !== '', { message: 'must not be empty' });
}

/** A switch: present is true, absent false; takes no value. */
export function boolean() {
  return z.boolean().default(false);
}

// ---------- shared groups ----------
/** Flags of every command that plays LLM episodes (run, east, sweep). */
export const episodeFlags = {
  model: path().optional(),
  env: text(),
  'env-options': jsonObject().default({}),
  scenario: text().optional(),
  horizon: int({ min: 1 }).optional(),
  seed: int().default(0),
  mode: oneOf(MODES).default('exact'),
  /** Completions (sampled, default 25) or thoughts (thought, default 5) per step. */
  samples: int({ min: 1 }).optional(),
  temperature: number({ min: 0 }).default(1),
  /** Exact and thought modes: a step whose valid answers hold less probability is format-broken. */
  'min-valid-mass': number({ min: 0, max: 1 }).default(0.05),
  vreason: vreason().optional(),
};

/** Steering from a vector file (generate, run); defaults are applied by settingFromFlags. */
export const steeringFlags = {
  vector: path().optional(),
  layer: int({ min: 0 }).optional(),
  beta: number().optional(),
  positions: oneOf(POSITIONS).optional(),
};

// ---------- parsing ----------
export type FlagShape = Record<string, z.ZodType>;

export interface PositionalSpec {
  /** Names of the required positionals, in order, for the "missing" message (e.g. '<model>'). */
  required?: readonly string[];
  /** Whether more positionals than `required` are accepted. */
  rest?: boolean;
}

function isBoolean(s: z.ZodType): boolean {
  let t: unknown = s;
  for (let i = 0; i < 16 && t; i++) {
    const d = (t as { _zod: { def: { type: string; innerType?: unknown; in?: unknown } } })._zod.def;
    if (d.type === 'boolean') return true;
    t = d.innerType ?? (d.type === 'pipe' ? d.in : undefined);
  }
  return false;
}

/** Turns `--beta -2` into `--beta=-2` for string flags, so negative numbers need no '='. */
function joinNegativeValues(argv: readonly string[], strings: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)$/.exec(a);
    const next = argv[i + 1];
    if (m && strings.has(m[1]!) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function tokenError(e: unknown, flags: string[]): SteerlabError {
  const err = e as Error & { code?: string };
  const name = /'(-[^' ]+)/.exec(err.message)?.[1] ?? '';
  let msg: string;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') msg = `unknown flag '${name}' (${flags.length ? `flags: ${flags.map((f) => `--${f}`).join(', ')}` : 'this command takes no flags'})`;
  else if (/argument missing/.test(err.message)) msg = `${name} needs a value`;
  else if (/does not take an argument/.test(err.message)) msg = `${name} takes no value`;
  else if (/ambiguous/.test(err.message)) msg = `${name} needs a value (for one that starts with '-', write ${name}=VALUE)`;
  else msg = err.message.split('\n')[0]!;
  return new SteerlabError('BAD_ARGUMENT', msg);
}

/**
 * Tokenises and validates argv against a flag shape; throws one-line BAD_ARGUMENT errors for
 * unknown flags, missing or bad values, and missing or unexpected positionals.
 */
export function parseFlags<S extends FlagShape>(
  argv: readonly string[],
  shape: S,
  positionals: PositionalSpec = { rest: true },
): { values: z.output<z.ZodObject<S>>; positionals: string[] } {
  const names = Object.keys(shape);
  const options = Object.fromEntries(names.map((k) => [k, { type: isBoolean(shape[k]!) ? 'boolean' : 'string' }] as const));
  const strings = new Set(names.filter((k) => options[k]!.type === 'string'));
  let tokens: { values: Record<string, unknown>; positionals: string[] };
  try {
    tokens = parseArgs({ args: joinNegativeValues(argv, strings), options, allowPositionals: true, strict: true });
  } catch (e) {
    throw tokenError(e, names);
  }
  const r = z.strictObject(shape).safeParse({ ...tokens.values });
  if (!r.success) {
    const i = r.error.issues[0]!;
    const key = i.path[0];
    throw new SteerlabError('BAD_ARGUMENT', `${key === undefined ? '' : `--${String(key)} `}${i.message.split('\n')[0]}`);
  }
  const required = positionals.required ?? [];
  const pos = tokens.positionals;
  if (pos.length < required.length) throw new SteerlabError('BAD_ARGUMENT', `missing ${required.slice(pos.length).join(' ')}`);
  if (!positionals.rest && pos.length > required.length) throw new SteerlabError('BAD_ARGUMENT', `unexpected argument '${pos[required.length]}'`);
  return { values: r.data as z.output<z.ZodObject<S>>, positionals: pos };
}

export const print = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
