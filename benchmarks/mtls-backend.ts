// The mTLS benchmark's backend: a meshed server of Service `secure` (STRICT) with a workload identity from the token it
// is given; tells its parent its port once its certificate is in hand.
import { createMesh } from './lib.js';

const [controlPlane, token] = process.argv.slice(2) as [string, string];
const mesh = await createMesh({ service: 'secure', controlPlane, identity: { token } });
const served = await mesh.serve((_req, res) => res.end('ok'), { port: 0 });
await mesh.ready();
process.send?.({ port: served.port });
process.on('disconnect', () => void mesh.close().then(() => process.exit(0)));
