#!/usr/bin/env node
// The CLI runs the TypeScript sources directly (the same modules the browser worker bundles).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
