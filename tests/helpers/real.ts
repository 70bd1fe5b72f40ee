/**
 * Locates the real test model (fetched by `steerlab model fetch`; `npm test`'s pretest does that
 * first). Tests that need it register through `needsRealModel.describe` / `needsRealModel.it`: without the
 * model they fail with a message saying how to get it, unless the run sets STEERLAB_SKIP_REAL=1,
 * which skips them explicitly (see requirement.ts).
 */
import { existsSync } from 'node:fs';
import { defaultModelPath } from '../../src/node/cache.js';
import { requirement } from './requirement.js';

export const REAL_MODEL = process.env.STEERLAB_MODEL_GGUF || defaultModelPath();
export const HAVE_REAL_MODEL = existsSync(REAL_MODEL);
export const SKIP_REAL_VARIABLE = 'STEERLAB_SKIP_REAL';

export const needsRealModel = requirement({
  available: HAVE_REAL_MODEL,
  optOut: SKIP_REAL_VARIABLE,
  message: `real model missing at ${REAL_MODEL}; run: npx steerlab model fetch (or npm test, whose pretest fetches it); set ${SKIP_REAL_VARIABLE}=1 to skip the real-model tests explicitly`,
});
