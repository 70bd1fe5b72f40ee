/**
 * The project's Vite dev server on an ephemeral 127.0.0.1 port, for the browser tests and the
 * browser benchmark. The HMR socket rides on the same server, so the page's Vite client connects
 * without errors; no file watcher, so edits made meanwhile never reload a page mid-run.
 * `cacheDir` gives it its own dependency cache (another dev server rewriting node_modules/.vite
 * would otherwise make this one re-optimise and reload the page).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LabServer {
  url: string;
  close(): Promise<void>;
}

export async function startLabServer(opts: { cacheDir?: string } = {}): Promise<LabServer> {
  const { createServer } = await import('vite');
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const vite = await createServer({
    configFile: 'vite.config.ts',
    logLevel: 'warn',
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    server: { middlewareMode: true, hmr: { server }, watch: null },
  });
  server.on('request', vite.middlewares);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await vite.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
