/**
 * Page entry: start the model worker, build the page state, mount the UI and load the default
 * model. URL parameters: ?device=webgpu|wasm picks the device, ?autoload=0 skips the load.
 */
import { mount } from 'svelte';
import App from './ui/App.svelte';
import { Lab } from './ui/lab.svelte';
import { createModelClient } from './workers/client.js';

const params = new URLSearchParams(location.search);
const lab = new Lab(createModelClient());
const device = params.get('device');
if (device === 'webgpu' || device === 'wasm') lab.device = device;

mount(App, { target: document.getElementById('app')!, props: { lab } });
if (params.get('autoload') !== '0') void lab.loadDefault();
else void lab.refreshCache();
