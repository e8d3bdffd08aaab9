// The mesh channel credentials against a real TLS server on loopback with certificates of a real (in-memory) mesh CA:
// plaintext without the subchannel argument; with it, the current workload certificate (a rotation reaches the next
// connection), the SPIFFE check of the server, and WEFT_ERR_IDENTITY when it cannot connect as itself.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../../control-plane/src/ca/authority.js';
import { isMeshError } from '../../core/errors.js';
import type { Disposable } from '../../core/watch.js';
import { generateWorkloadKey } from '../../identity/csr.js';
import { MeshTls, type CertificateSource } from '../../identity/mesh-tls.js';
import type { WorkloadCertificate } from '../../identity/workload-identity.js';
import { meshChannelCredentials, MTLS_SUBCHANNEL_ARG, subchannelTls } from './mesh-credentials.js';

const ID = (service: string) => `spiffe://weft.local/ns/default/sa/${service}`;
const exact = (value: string) => ({ kind: 'exact', value, ignoreCase: false }) as const;

describe('mesh channel credentials', { timeout: 30_000 }, () => {
  let ca: CertificateAuthority;
  let server: tls.Server;
  let port = 0;
  /** Serial numbers of the client certificates the server saw, in order. */
  const clients: string[] = [];

  const certificate = (spiffeId: string): WorkloadCertificate => {
    const key = generateWorkloadKey();
    const issued = ca.issue(key.publicKey, spiffeId);
    const chain = issued.chainPem.map((p) => new X509Certificate(p));
    const bundle = ca.trustBundlePem();
    return {
      spiffeId,
      certificateChainPem: issued.chainPem.join(''),
      privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      privateKey: key.privateKey,
      trustBundlePem: bundle.join(''),
      chain,
      trustBundle: bundle.map((p) => new X509Certificate(p)),
      serialNumber: chain[0]!.serialNumber.toLowerCase(),
      notBeforeMs: Date.parse(chain[0]!.validFrom),
      notAfterMs: Date.parse(chain[0]!.validTo),
    };
  };
  /** A certificate source the test swaps by hand. */
  const source = (first: WorkloadCertificate | undefined): CertificateSource & { set(c: WorkloadCertificate | undefined): void } => {
    let cert = first;
    return { current: () => cert, onChange: (): Disposable => ({ dispose() {} }), set: (c) => void (cert = c) };
  };
  /** One connector of the credentials for `options`, connected once to the server. */
  const connect = async (credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => {
    const connector = (credentials as unknown as { _createSecureConnector(t: unknown, o: grpc.ChannelOptions): grpc.experimental.SecureConnector })._createSecureConnector(
      { path: `127.0.0.1:${port}` },
      options,
    );
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    try {
      const result = await connector.connect(socket);
      // TLS 1.3: the server takes the client certificate after the client's handshake is done; wait for its answer.
      if (result.secure) await new Promise((resolve) => result.socket.once('data', resolve).once('close', resolve));
      result.socket.destroy();
      return result;
    } finally {
      socket.destroy();
    }
  };

  before(async () => {
    ca = await CertificateAuthority.open({ stateDir: false });
    const own = certificate(ID('payments'));
    server = tls.createServer({ key: own.privateKeyPem, cert: own.certificateChainPem, ca: own.trustBundlePem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (s) => {
      clients.push(s.getPeerCertificate().serialNumber.toLowerCase());
      s.end('ok');
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await ca.close();
  });

  it('connects plaintext when the subchannel carries no mTLS argument', async () => {
    const result = await connect(meshChannelCredentials(grpc), {});
    assert.equal(result.secure, false);
    assert.ok(!(result.socket instanceof tls.TLSSocket));
  });

  it('presents the current certificate, accepts the expected SPIFFE ID, and a rotation reaches the next connection', async () => {
    const first = certificate(ID('checkout'));
    const certs = source(first);
    const meshTls = new MeshTls(certs);
    const spec = subchannelTls(meshTls, { peerIds: [exact(ID('payments'))] });
    const credentials = meshChannelCredentials(grpc);
    const result = await connect(credentials, { [MTLS_SUBCHANNEL_ARG]: spec });
    assert.equal(result.secure, true);
    assert.equal((result.socket as tls.TLSSocket).alpnProtocol, 'h2');
    const context = meshTls.context();
    assert.equal(meshTls.context(), context, 'one secure context per certificate, not per connection');
    await connect(credentials, { [MTLS_SUBCHANNEL_ARG]: spec });
    const second = certificate(ID('checkout'));
    certs.set(second);
    await connect(credentials, { [MTLS_SUBCHANNEL_ARG]: spec });
    assert.notEqual(meshTls.context(), context, 'rebuilt once for the new certificate');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(clients.slice(-3), [first.serialNumber, first.serialNumber, second.serialNumber]);
    assert.equal(spec.lastIdentityError, undefined);
  });

  it('refuses a server with another SPIFFE ID (WEFT_ERR_IDENTITY, remembered until a connection succeeds)', async () => {
    const meshTls = new MeshTls(source(certificate(ID('checkout'))));
    const spec = subchannelTls(meshTls, { peerIds: [exact(ID('ghost'))] });
    const err = await connect(meshChannelCredentials(grpc), { [MTLS_SUBCHANNEL_ARG]: spec }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isMeshError(err, 'WEFT_ERR_IDENTITY'), String(err));
    assert.match(err.message, new RegExp(`presented ${ID('payments')}, not ${ID('ghost')}`));
    assert.equal(spec.lastIdentityError, err);
  });

  it('fails at once with WEFT_ERR_IDENTITY when the process has no certificate', async () => {
    const before = clients.length;
    const spec = subchannelTls(new MeshTls(source(undefined)), { peerIds: [] });
    const err = await connect(meshChannelCredentials(grpc), { [MTLS_SUBCHANNEL_ARG]: spec }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isMeshError(err, 'WEFT_ERR_IDENTITY'), String(err));
    assert.match(err.message, /no workload certificate/);
    assert.equal(clients.length, before, 'no handshake was attempted');
  });

  it('interns the subchannel argument per identity and peer IDs (so channels share connections)', () => {
    const meshTls = new MeshTls(source(undefined));
    const a = subchannelTls(meshTls, { peerIds: [exact(ID('payments'))] });
    assert.equal(subchannelTls(meshTls, { peerIds: [exact(ID('payments'))] }), a);
    assert.notEqual(subchannelTls(meshTls, { peerIds: [exact(ID('ledger'))] }), a);
    assert.notEqual(subchannelTls(new MeshTls(source(undefined)), { peerIds: [exact(ID('payments'))] }), a);
  });
});
