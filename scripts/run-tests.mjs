// Runs every *.test.ts under src/, control-plane/, cli/ and test/ with Node's own test runner (TypeScript via tsx).
// Node 20's --test takes no globs, so the files are listed here. Extra arguments are passed to node --test
// (e.g. `npm test -- --test-name-pattern=lease`); a path argument limits the run to matching files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const roots = ['src', 'control-plane', 'cli', 'test'];
const files = [];
function walk(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full);
    else if (name.endsWith('.test.ts')) files.push(full);
  }
}
roots.forEach(walk);

const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
// Files that run a whole demo and a browser: alone, after the rest, so their load does not starve timing-sensitive
// tests running beside them on a 2-core machine (nor theirs them).
const ALONE = ['test/integration/dashboard.test.ts'];
const alone = selected.filter((f) => ALONE.some((a) => f.endsWith(path.normalize(a))));
const together = selected.filter((f) => !alone.includes(f));
console.log(`run-tests: ${selected.length} test files on Node ${process.version}${alone.length ? ` (${alone.length} run alone, last)` : ''}`);
// Meshes keep their xDS disk cache (static stability) in WEFT_CACHE_DIR: one fresh directory per run, so tests never
// write to the user's ~/.local/state nor start from a cache an earlier run left.
const cacheDir = mkdtempSync(path.join(tmpdir(), 'weft-test-cache-'));
const run = (files, concurrency) =>
  files.length === 0
    ? 0
    : (spawnSync(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, '--test-timeout=120000', ...flags, ...files],
        { stdio: 'inherit', env: { ...process.env, WEFT_TEST: '1', WEFT_CACHE_DIR: cacheDir } },
      ).status ?? 1);
const status = run(together, 2);
const aloneStatus = run(alone, 1);
rmSync(cacheDir, { recursive: true, force: true });
process.exit(status !== 0 ? status : aloneStatus);
