/**
 * How many wasm threads onnxruntime-web may use: every core when the page is cross-origin
 * isolated (SharedArrayBuffer needs COOP/COEP), else one, with the reason, so the page can say so.
 */
export interface ThreadPlan {
  threads: number;
  /** Why only one thread (null when all cores are used). */
  reason: string | null;
}

export function threadPlan(g: { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } } = globalThis as never): ThreadPlan {
  const cores = Math.max(1, Math.floor(g.navigator?.hardwareConcurrency ?? 1));
  if (!g.crossOriginIsolated) return { threads: 1, reason: 'the page is not cross-origin isolated (no COOP/COEP headers), so wasm runs on one thread' };
  if (typeof SharedArrayBuffer === 'undefined') return { threads: 1, reason: 'this browser has no SharedArrayBuffer, so wasm runs on one thread' };
  return { threads: cores, reason: cores === 1 ? 'this device reports one core' : null };
}
