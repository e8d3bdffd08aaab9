// Interop under STRICT mTLS: an unmodified @grpc/grpc-js-xds client (XdsChannelCredentials, a `weft` file_watcher
// certificate provider over the files `weft cert issue` wrote) calls a Weft gRPC server through Weft's control plane:
// the Cluster's UpstreamTlsContext (gRFC A29) makes it present its certificate and check the server's SPIFFE ID, and
// the server's handler and AuthorizationPolicy see the client's identity.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { main as weft } from '../../cli/cli.js';
import { createMesh, peerIdentity, type Mesh } from '../../src/index.js';
import { echoHandlers, echoService, type EchoReply, type EchoRequest } from '../../src/testing/index.js';
import { runXdsClient, serviceYaml, startTestControlPlane, type TestControlPlane } from './helpers.js';

const ID = (service: string) => `spiffe://weft.local/ns/default/sa/${service}`;
const CONFIG = {
  'services.yaml': [serviceYaml('echo', 'GRPC', 50051), serviceYaml('interop-client')].join('---\n'),
  'security.yaml': `apiVersion: weft.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: mesh }
spec: { mtls: { mode: STRICT } }
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: echo-callers }
spec:
  targetRef: { kind: Service, name: echo }
  action: ALLOW
  rules: [{ from: [{ source: { principals: ["${ID('interop-client')}"] } }] }]
`,
};

describe('grpc-js-xds client to a Weft gRPC server under STRICT mTLS', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  let dir = '';
  let port = 0;
  let providers: Record<string, unknown> = {};
  const peers: (string | undefined)[] = [];

  /** `weft cert issue --service <service> --out <dir>/<service>`, run by the CLI's main() with the operator token. */
  const issue = async (service: string): Promise<string> => {
    const out = path.join(dir, service);
    let stderr = '';
    const code = await weft(['cert', 'issue', '--service', service, '--out', out], {
      out: () => {},
      err: (t) => void (stderr += t),
      env: { WEFT_ADMIN: tcp.cp.adminUrl, WEFT_ADMIN_TOKEN: tcp.cp.adminToken },
      readStdin: async () => '',
    });
    assert.equal(code, 0, stderr);
    return out;
  };
  const fileWatcher = (files: string) => ({
    weft: {
      plugin_name: 'file_watcher',
      config: {
        certificate_file: path.join(files, 'cert.pem'),
        private_key_file: path.join(files, 'key.pem'),
        ca_certificate_file: path.join(files, 'ca.pem'),
        refresh_interval: '10s',
      },
    },
  });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-xds-mtls-'));
    tcp = await startTestControlPlane(CONFIG);
    const token = String((await tcp.admin('POST', '/v1/tokens', { service: 'echo' })).body['token']);
    mesh = await createMesh({ service: 'echo', controlPlane: tcp.cp.xdsUrl, identity: { token } });
    const server = mesh.grpc.server({ health: false });
    server.addService(echoService, {
      ...echoHandlers('echo', { calls: {} }),
      Say: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
        peers.push(peerIdentity(call));
        cb(null, { server: 'echo', text: '', attempt: 1, headers: {} });
      },
    });
    port = (await mesh.grpc.serve(server, { port: 0 })).port;
    await mesh.ready();
    providers = fileWatcher(await issue('interop-client'));
  });

  after(async () => {
    await mesh?.close();
    await tcp?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('calls the Weft server over mTLS with certificates from `weft cert issue`; the server sees its SPIFFE ID', async () => {
    const result = await runXdsClient(tcp.cp.xdsAddress, 20, 'xds:///echo', undefined, { certificateProviders: providers, xdsCredentials: true });
    assert.deepEqual(result, { counts: { echo: 20 }, failures: 0, lastError: '' });
    assert.equal(peers.length, 20);
    assert.deepEqual(new Set(peers), new Set([ID('interop-client')]));
  });

  it('the same client with plaintext credentials is refused by the STRICT server', async () => {
    const result = await runXdsClient(tcp.cp.xdsAddress, 3, 'xds:///echo', undefined, { certificateProviders: providers });
    assert.equal(result.failures, 3, JSON.stringify(result));
    assert.match(result.lastError, /no_filter_chain/);
  });

  it('a certificate of another identity passes the handshake and is denied by the AuthorizationPolicy', async () => {
    const other = fileWatcher(await issue('intruder'));
    const result = await runXdsClient(tcp.cp.xdsAddress, 3, 'xds:///echo', undefined, { certificateProviders: other, xdsCredentials: true });
    assert.equal(result.failures, 3, JSON.stringify(result));
    assert.match(result.lastError, /rbac_denied/);
  });

  it("grpc-js-xds checks the server's SPIFFE ID (match_subject_alt_names): a server of another identity is refused", async () => {
    // ghost's only endpoint is echo's server: the client expects ghost's SPIFFE ID and gets echo's.
    const applied = await tcp.apply(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ghost }
spec:
  ports: [{ name: grpc, port: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
`);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const before = peers.length;
    const result = await runXdsClient(tcp.cp.xdsAddress, 3, 'xds:///ghost', undefined, { certificateProviders: providers, xdsCredentials: true });
    assert.equal(result.failures, 3, JSON.stringify(result));
    assert.match(result.lastError, /subject alternative name/i);
    assert.equal(peers.length, before, 'no call reached the handler');
  });
});
