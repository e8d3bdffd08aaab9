// The gRPC mTLS benchmark's backend: a meshed gRPC server (mesh.grpc.server(), Service `secure`, STRICT) with a
// workload identity from the token it is given, serving the test kit's echo service; tells its parent its port once
// its certificate is in hand.
import { addEchoService, createMesh } from './lib.js';

const [controlPlane, token] = process.argv.slice(2) as [string, string];
const mesh = await createMesh({ service: 'secure', controlPlane, identity: { token } });
const server = mesh.grpc.server({ health: false });
addEchoService(server, 'secure');
const served = await mesh.grpc.serve(server, { port: 0 });
await mesh.ready();
process.send?.({ port: served.port });
process.on('disconnect', () => void mesh.close().then(() => process.exit(0)));
