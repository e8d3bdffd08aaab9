// One demo service process: serves HTTP through the mesh and, per request, calls the services it depends on by mesh name.
// Environment: SERVICE (mesh Service name), INSTANCE (label), CALLS (JSON list of "METHOD url"), WEFT_CONTROL_PLANE.
import { createMesh } from '../../src/index.js';
import { Stats } from './stats.js';

const service = process.env.SERVICE ?? 'demo';
const instance = process.env.INSTANCE ?? `${service}-${process.pid}`;
const calls = (JSON.parse(process.env.CALLS ?? '[]') as string[]).map((c) => {
  const [method, url] = c.split(' ') as [string, string];
  return { method, url };
});
const dependsOn = [...new Set(calls.map((c) => new URL(c.url).host))];

const mesh = await createMesh({ service, dependsOn });
const stats = new Stats(service, instance);

await mesh.serve(
  async (req, res) => {
    const start = performance.now();
    try {
      const downstream: unknown[] = [];
      for (const call of calls) {
        const response = await mesh.fetch(call.url, { method: call.method, body: call.method === 'POST' ? '{}' : undefined });
        const body = (await response.json()) as unknown;
        if (!response.ok) throw new Error(`${call.method} ${call.url} answered ${response.status}`);
        downstream.push(body);
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service, instance, path: req.url, downstream }));
      stats.record(performance.now() - start, true);
    } catch (e: unknown) {
      const message = e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e);
      res.statusCode = 502;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service, instance, error: message }));
      stats.record(performance.now() - start, false, message);
    }
  },
  { port: 0 },
);
await mesh.ready();
process.stdout.write(`${JSON.stringify({ type: 'ready', service, instance })}\n`);

const timer = setInterval(() => stats.report(), 1000);
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  clearInterval(timer);
  await mesh.close(); // deregisters first, then drains in-flight requests
  stats.report();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', () => {}); // the parent decides when we stop
