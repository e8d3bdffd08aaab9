// The demo's traffic generator: calls http://frontend/checkout through the mesh at a steady rate with a few workers.
// Environment: RATE (requests/s, default 40), WORKERS (default 4), REPORT_INTERVAL_MS (traffic reports, default 2000), WEFT_CONTROL_PLANE.
import { createMesh } from '../../src/index.js';
import { Stats } from './stats.js';

const rate = Number(process.env.RATE ?? '40');
const workers = Number(process.env.WORKERS ?? '4');
const url = process.env.TARGET_URL ?? 'http://frontend/checkout';

const mesh = await createMesh({
  service: 'loadgen',
  dependsOn: [new URL(url).host],
  reporting: { intervalMs: Number(process.env.REPORT_INTERVAL_MS ?? '2000') },
});
await mesh.ready();
const stats = new Stats('loadgen', `loadgen-${process.pid}`);
process.stdout.write(`${JSON.stringify({ type: 'ready', service: 'loadgen' })}\n`);

let running = true;
const intervalMs = (1000 * workers) / rate;
async function worker(): Promise<void> {
  while (running) {
    const start = performance.now();
    try {
      const response = await mesh.fetch(url);
      await response.arrayBuffer();
      stats.record(performance.now() - start, response.ok, response.ok ? undefined : `status ${response.status}`);
    } catch (e: unknown) {
      // fetch() rejects with "fetch failed"; the mesh's typed error (WEFT_ERR_*) is its cause.
      const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
      stats.record(performance.now() - start, false, e instanceof Error ? `${e.message}${cause}` : String(e));
    }
    const wait = intervalMs - (performance.now() - start);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
const loops = Array.from({ length: workers }, () => worker());
const timer = setInterval(() => stats.report(), 1000);

process.on('SIGINT', () => {});
process.on('SIGTERM', async () => {
  running = false;
  clearInterval(timer);
  await Promise.all(loops);
  stats.report();
  await mesh.close();
  process.exit(0);
});
