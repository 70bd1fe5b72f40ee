/**
 * Page entry: start the model worker, build the page state (one module per concern, shared with
 * the components through Svelte context: src/ui/context.ts), open the run and vector store,
 * restore a setup from the URL fragment (#setup=…), mount the UI and load the default model.
 * URL parameters: ?device=webgpu|wasm picks the device, ?threads=N caps the wasm threads,
 * ?hub=URL points hub loading at a mirror,
 * ?autoload=0 skips the load.
 */
import { mount } from 'svelte';
import App from './ui/App.svelte';
import { createLab, labContext } from './ui/context.js';
import { createModelClient } from './workers/client.js';

const params = new URLSearchParams(location.search);
const lab = createLab(createModelClient());
const device = params.get('device');
if (device === 'webgpu' || device === 'wasm') lab.model.device = device;
const hub = params.get('hub');
if (hub) lab.model.hubBase = hub.replace(/\/+$/, '');
const threads = Number(params.get('threads'));
if (Number.isInteger(threads) && threads >= 1) lab.model.maxThreads = threads;

mount(App, { target: document.getElementById('app')!, context: labContext(lab) });
// The store first: a link may name a library vector.
void lab.init(undefined, location.hash);
if (params.get('autoload') !== '0') void lab.model.loadDefault();
else void lab.model.refreshCache();
