/**
 * Test-only code (src/testing: tiny models built from code, the TypeScript reference forward,
 * the browser self-test and its worker) stays out of what the app ships. A static scan of the
 * import specifiers, no build: nothing under src/ outside src/testing imports from src/testing,
 * and the import graph reached from the app's entries (the page and the model worker) never
 * enters it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const TESTING = join(SRC, 'testing');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return walk(p);
    return /\.(ts|svelte)$/.test(name) ? [p] : [];
  });
}

/**
 * Every module specifier in a file: static imports and re-exports (also `import type`), bare
 * `import 'x'`, dynamic `import('x')`, and worker URLs (`new URL('x', import.meta.url)`).
 * Comments are stripped first so a path named in prose does not count.
 */
function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\bnew\s+URL\s*\(\s*['"`]([^'"`]+)['"`]\s*,\s*import\.meta\.url\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

/** A relative specifier as a file on disk ('./x.js' is written for './x.ts'); null for packages. */
function resolveLocal(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec.split('?')[0]!);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? base;
}

const inTesting = (p: string) => p === TESTING || p.startsWith(TESTING + sep);
const rel = (p: string) => relative(ROOT, p).split(sep).join('/');

describe('test-only code stays out of the app', () => {
  it('finds import specifiers of every kind, and none in comments', () => {
    const src = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "import './e.css';",
      "const f = await import('./f.js');",
      "new Worker(new URL('./g.worker.ts', import.meta.url), { type: 'module' });",
      'import {\n  h,\n  type H,\n} from "./h.js";',
      "// import { no } from './comment.js';",
      "/* import { no } from './block.js'; */",
      "const url = 'http://example.com/x'; // a url is not an import",
    ].join('\n');
    expect(importSpecifiers(src).sort()).toEqual(['../b.js', './a.js', './c.js', './d.js', './e.css', './f.js', './g.worker.ts', './h.js']);
  });

  it('nothing under src/ outside src/testing imports from src/testing', () => {
    const files = walk(SRC).filter((f) => !inTesting(f));
    expect(files.length).toBeGreaterThan(50);
    const offenders: string[] = [];
    for (const f of files) {
      for (const spec of importSpecifiers(readFileSync(f, 'utf8'))) {
        const target = resolveLocal(f, spec);
        if ((target && inTesting(target)) || /(^|\/)src\/testing(\/|$)/.test(spec)) offenders.push(`${rel(f)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the page and the model worker never reach src/testing through their imports', () => {
    const entries = [join(SRC, 'main.ts'), join(SRC, 'workers', 'model.worker.ts')];
    const seen = new Set<string>();
    const reached: string[] = [];
    const stack = [...entries];
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      if (inTesting(f)) reached.push(rel(f));
      if (!existsSync(f) || !/\.(ts|svelte)$/.test(f)) continue;
      for (const spec of importSpecifiers(readFileSync(f, 'utf8'))) {
        const target = resolveLocal(f, spec);
        if (target) stack.push(target);
      }
    }
    // the walk did reach the engine and the UI (so it followed the graph at all)
    expect(seen.has(join(SRC, 'engine', 'runtime', 'web.ts'))).toBe(true);
    expect(seen.has(join(SRC, 'ui', 'App.svelte'))).toBe(true);
    expect(reached).toEqual([]);
  });

  it('the production worker API has no self-test', () => {
    for (const f of ['workers/api.ts', 'workers/model.worker.ts', 'workers/client.ts']) {
      expect(readFileSync(join(SRC, f), 'utf8'), f).not.toMatch(/selftest|SelfTest/i);
    }
  });
});
