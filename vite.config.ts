/**
 * The browser lab's build. The model worker is an ES module worker; onnxruntime-web's wasm binary
 * is imported with `?url` in src/engine/runtime/web.ts, so Vite serves it in dev and emits it
 * into dist/assets (no CDN).
 *
 * Headers: every server (dev, preview) sends COOP/COEP, so the page is cross-origin isolated and
 * onnxruntime-web's wasm may use all cores (SharedArrayBuffer); preview (the built app) also sends
 * the content-security policy the app is built for. public/_headers carries the same headers for
 * static hosts that read that file (Netlify, Cloudflare Pages); README says how for others.
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

/** Cross-origin isolation: needed for wasm threads. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * No unsafe-eval: 'wasm-unsafe-eval' lets onnxruntime compile its own wasm (served by the app);
 * workers only from the app itself (and blob: for onnxruntime's thread workers); nothing from
 * another origin. Inline styles are Svelte's and uPlot's.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  // the hub and its file CDNs, for hub models in transformers.js layout
  "connect-src 'self' blob: data: https://huggingface.co https://*.huggingface.co https://*.hf.co",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ');

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
  server: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  preview: { host: '127.0.0.1', headers: { ...ISOLATION_HEADERS, 'Content-Security-Policy': CONTENT_SECURITY_POLICY } },
  build: { target: 'es2022' },
});
