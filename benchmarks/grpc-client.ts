// One client process of the gRPC benchmark: builds one kind of echo client (CLIENT_KIND = plain | weft | xds), makes
// sure its first call succeeds, then runs closed-loop unary load whenever its parent (benchmarks/grpc.ts) asks.
// Environment (the same for every kind): CLIENT_KIND, BACKEND_PORT, WEFT_CONTROL_PLANE, GRPC_XDS_BOOTSTRAP_CONFIG.
import * as grpc from '@grpc/grpc-js';
import { createMesh, type Mesh } from './lib.js';
import { EchoClient, say, type EchoClientInstance } from './lib.js';
import { runLoad } from './load.js';

/** What the parent asks: a run of `durationMs` at `concurrency`, or to close. */
export type ClientCommand = { readonly type: 'run'; readonly durationMs: number; readonly concurrency: number } | { readonly type: 'close' };

const kind = process.env.CLIENT_KIND;
const port = Number(process.env.BACKEND_PORT);
const controlPlane = process.env.WEFT_CONTROL_PLANE!;

let mesh: Mesh | undefined;
let client: EchoClientInstance;
if (kind === 'plain') {
  client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
} else if (kind === 'weft') {
  mesh = await createMesh({ service: 'bench', controlPlane });
  client = mesh.grpc.client(EchoClient, 'echo');
} else if (kind === 'xds') {
  // Unmodified grpc-js-xds: registers the xds: scheme and its LB policies in this process's grpc-js.
  const grpcXds = await import('@grpc/grpc-js-xds');
  grpcXds.register();
  client = new EchoClient('xds:///echo', grpc.credentials.createInsecure());
} else {
  throw new Error(`CLIENT_KIND must be plain, weft or xds, got '${String(kind)}'`);
}

// The first call resolves the target (through xDS for weft and xds) and connects; it must succeed before any run.
const REQUEST = { text: 'hello' };
await say(client, REQUEST, { deadlineMs: 20_000 });

process.on('message', (m: ClientCommand) => {
  if (m.type === 'run') {
    void runLoad(() => say(client, REQUEST).then(() => undefined), m.concurrency, m.durationMs).then((result) => process.send!({ type: 'result', result }));
  } else {
    client.close();
    void (mesh?.close() ?? Promise.resolve()).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' });
