/**
 * The browser lab's build. The model worker is an ES module worker; onnxruntime-web's wasm binary
 * is imported with `?url` in src/engine/runtime/web.ts, so Vite serves it in dev and emits it
 * into dist/assets (no CDN). wasm runs single-threaded, so no COOP/COEP headers are needed.
 *
 * The dev and preview servers also serve the default model at /models/default.gguf from the
 * Node cache ($STEERLAB_MODEL_GGUF, else the path src/node/cache.ts computes), so the page can
 * load it without a download; `npm run lab` fetches it into the cache first.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type Plugin } from 'vite';
import { defaultModelPath } from './src/node/cache';

export const DEFAULT_MODEL_ROUTE = '/models/default.gguf';

function defaultModelFile(): string {
  return process.env.STEERLAB_MODEL_GGUF || defaultModelPath();
}

function serveDefaultModel(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  if ((req.url ?? '').split('?')[0] !== DEFAULT_MODEL_ROUTE || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
  const path = defaultModelFile();
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(`the default model is not in the cache (${path}); run \`node bin/steerlab.mjs model fetch\` or set STEERLAB_MODEL_GGUF\n`);
    return;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Length', String(size));
  res.setHeader('Cache-Control', 'no-cache');
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

function defaultModelPlugin(): Plugin {
  return {
    name: 'steerlab:default-model',
    configureServer(server) {
      server.middlewares.use(serveDefaultModel);
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveDefaultModel);
    },
  };
}

export default defineConfig({
  plugins: [svelte(), defaultModelPlugin()],
  worker: { format: 'es' },
  // The worker's dependencies are found only when it starts; pre-bundling them up front avoids a
  // mid-session re-optimisation (which reloads the page).
  optimizeDeps: { include: ['comlink', 'onnxruntime-web/webgpu', '@huggingface/transformers', 'onnx-proto', 'zod'] },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  build: { target: 'es2022' },
});
