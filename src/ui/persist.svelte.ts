/**
 * The page's controls survive a reload: the setup is saved to IndexedDB ('settings', 'last') a
 * moment after it changes, and restored when the page opens without a #setup link (a link wins).
 */
import { setupSchema, type LabSetup } from './setup.js';
import type { LabDb } from './store/db.js';

export async function restoreLast(db: LabDb, apply: (s: LabSetup) => void): Promise<boolean> {
  const row = await db.get('settings', 'last');
  const parsed = row ? setupSchema.safeParse(row.setup) : null;
  if (!parsed?.success) return false;
  apply(parsed.data);
  return true;
}

export async function saveSetup(db: LabDb, s: LabSetup): Promise<void> {
  await db.put('settings', { name: 'last', setup: s, savedAt: Date.now() });
}

/** Saves the setup whenever it changes (debounced; an effect, so in the page only); returns the stop function. */
export function keepSaving(db: LabDb, setup: () => LabSetup, delayMs = 400): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return $effect.root(() => {
    $effect(() => {
      const s = $state.snapshot(setup()) as LabSetup;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => void saveSetup(db, s).catch(() => {}), delayMs);
    });
  });
}
