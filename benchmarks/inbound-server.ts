// The inbound benchmark's servers, in their own process: a raw node:http server, and mesh.serve() servers of a
// Service with no inbound policy (`plain`) and of one with policy (`guarded`); reports ports and, on request, its CPU.
import http from 'node:http';
import { createMesh } from './lib.js';

const controlPlane = process.argv[2]!;
const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.setHeader('content-type', 'text/plain');
  res.end('ok');
};
const raw = http.createServer(handler);
raw.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
const ports: Record<string, number> = { raw: (raw.address() as { port: number }).port };
for (const service of ['plain', 'guarded']) {
  const mesh = await createMesh({ service, controlPlane, ready: { timeoutMs: 10_000 } });
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  ports[service] = (await mesh.serve(server, { port: 0 })).port;
  await mesh.ready();
}
process.on('message', (m) => {
  if (m === 'cpu') {
    const c = process.cpuUsage();
    process.send?.({ cpuUs: c.user + c.system });
  }
});
process.send?.({ ports });
process.on('disconnect', () => process.exit(0));
