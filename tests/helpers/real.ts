/** Locates the real test model (fetched by `steerlab model fetch`; CI does that first). */
import { existsSync } from 'node:fs';
import { defaultModelPath } from '../../src/node/cache.js';

export const REAL_MODEL = process.env.STEERLAB_MODEL_GGUF ?? defaultModelPath();
export const HAVE_REAL_MODEL = existsSync(REAL_MODEL);
/** In CI a missing model is an error, not a skip: the fixture step must have run. */
if (!HAVE_REAL_MODEL && process.env.CI) throw new Error(`real model missing at ${REAL_MODEL}; run: steerlab model fetch`);
