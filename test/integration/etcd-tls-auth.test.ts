// A control plane on an etcd that requires TLS with client certificates and password authentication (the real etcd,
// started with --cert-file/--key-file/--trusted-ca-file/--client-cert-auth, auth enabled through the etcd3 client):
// it works end to end with the right files and password, and each wrong credential fails start-up with a clear error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { ERROR_CODES, isMeshError, type ErrorCode } from '../../src/core/errors.js';
import { startControlPlane, type ControlPlane, type EtcdConnectionOptions } from '../../control-plane/src/index.js';
import { weftBinary } from '../../cli/cli-test-kit.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { serviceYaml, servesListener, waitFor } from './helpers.js';
import { createTestCa, type TestCa } from './test-ca.js';

const PREFIX = 'mesh-tls';
const PASSWORD = 'correct horse battery staple';

describe('etcd over TLS with client certificates and password auth', { timeout: 180_000 }, () => {
  let etcd: EtcdServer;
  let ca: TestCa;
  let otherCa: TestCa;
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  /** The store option a correctly configured control plane gets. */
  const good = (): EtcdConnectionOptions => ({ url: `${etcd.endpoint}/${PREFIX}`, caFile: file('ca.pem'), certFile: file('client.pem'), keyFile: file('client.key'), username: 'weft', passwordFile: file('password') });
  const start = (store: EtcdConnectionOptions): Promise<ControlPlane> => startControlPlane({ store, xdsPort: 0, adminPort: 0, etcdConnectTimeoutMs: 20_000 });

  before(async () => {
    ca = await createTestCa();
    otherCa = await createTestCa();
    const server = await ca.issue('spiffe://weft.local/ns/infra/sa/etcd', ['127.0.0.1']);
    const client = await ca.issue('spiffe://weft.local/ns/infra/sa/control-plane');
    const stranger = await otherCa.issue('spiffe://weft.local/ns/infra/sa/control-plane');
    dir = await mkdtemp(path.join(tmpdir(), 'weft-etcd-tls-'));
    await Promise.all([
      writeFile(file('ca.pem'), ca.ca),
      writeFile(file('other-ca.pem'), otherCa.ca),
      writeFile(file('client.pem'), client.cert),
      writeFile(file('client.key'), client.key, { mode: 0o600 }),
      writeFile(file('stranger.pem'), stranger.cert),
      writeFile(file('stranger.key'), stranger.key, { mode: 0o600 }),
      writeFile(file('password'), `${PASSWORD}\n`, { mode: 0o600 }),
      writeFile(file('wrong-password'), 'not the password\n', { mode: 0o600 }),
    ]);
    etcd = await startEtcd({ tls: { cert: server.cert, key: server.key, clientCa: ca.ca } });
    // etcd's own auth: root (required to enable it) and a user whose role may use only the mesh's prefix.
    const admin = new Etcd3({ hosts: etcd.clientUrl, credentials: { rootCertificate: Buffer.from(ca.ca), certChain: Buffer.from(client.cert), privateKey: Buffer.from(client.key) } });
    try {
      const root = await admin.user('root').create('root password');
      await root.addRole('root');
      const role = await admin.role('weft-control-plane').create();
      await role.grant({ permission: 'Readwrite', range: admin.range({ prefix: `/${PREFIX}/` }) });
      const weft = await admin.user('weft').create(PASSWORD);
      await weft.addRole('weft-control-plane');
      await admin.auth.authEnable({});
    } finally {
      admin.close();
    }
  });
  after(async () => {
    await etcd?.stop();
    await ca?.close();
    await otherCa?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('serves end to end: an apply through one replica reaches a client of another, all over TLS and auth', async () => {
    const a = await start(good());
    try {
      const b = await start(good());
      try {
        assert.deepEqual(b.ca.trustBundlePem(), a.ca.trustBundlePem(), 'the CA created by A went through etcd to B');
        const result = await a.store.apply(serviceYaml('payments'));
        assert.equal(result.ok, true, JSON.stringify(result));
        await waitFor(() => servesListener(b, 'payments'), 'the Service applied on A served by B over ADS', 30_000);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });

  /** Starting with `store` fails with `code` and a message matching `message`. */
  const refused = async (store: EtcdConnectionOptions, code: ErrorCode, message: RegExp) => {
    await assert.rejects(start(store), (e: unknown) => {
      assert.ok(isMeshError(e, code), `expected ${code}, got ${String(e)}`);
      assert.match(e.message, message);
      return true;
    });
  };
  const at = () => new RegExp(`etcd at 127\\.0\\.0\\.1:${new URL(etcd.clientUrl).port} refused: `);

  it('a wrong CA fails start-up: the TLS handshake, named', async () => {
    await refused({ ...good(), caFile: file('other-ca.pem') }, ERROR_CODES.STORE_UNAVAILABLE, new RegExp(`${at().source}TLS handshake failed \\(.*certificate.*\\); check --etcd-ca-file`));
  });

  it('no client certificate, or one etcd does not trust, fails start-up: the TLS handshake, named', async () => {
    const { certFile: _c, keyFile: _k, ...noCert } = good();
    await refused(noCert, ERROR_CODES.STORE_UNAVAILABLE, new RegExp(`${at().source}TLS handshake failed`));
    await refused({ ...good(), certFile: file('stranger.pem'), keyFile: file('stranger.key') }, ERROR_CODES.STORE_UNAVAILABLE, new RegExp(`${at().source}TLS handshake failed`));
  });

  it('a wrong password, or no user at all, fails start-up with WEFT_ERR_INVALID_ARG', async () => {
    await refused({ ...good(), passwordFile: file('wrong-password') }, ERROR_CODES.INVALID_ARG, new RegExp(`${at().source}authentication failed for user 'weft'`));
    const { username: _u, passwordFile: _p, ...anonymous } = good();
    await refused(anonymous, ERROR_CODES.INVALID_ARG, new RegExp(`${at().source}permission denied .*give --etcd-user`));
  });

  it('a user without a role on the prefix is refused, naming the prefix', async () => {
    await refused({ ...good(), url: `${etcd.endpoint}/elsewhere` }, ERROR_CODES.INVALID_ARG, new RegExp(`${at().source}permission denied to user 'weft' under /elsewhere/`));
  });

  it('the CLI takes the --etcd-* flags and WEFT_ETCD_PASSWORD, and never a password flag', async () => {
    const flags = ['--store', `${etcd.endpoint}/${PREFIX}`, '--etcd-ca-file', file('ca.pem'), '--etcd-cert-file', file('client.pem'), '--etcd-key-file', file('client.key'), '--etcd-user', 'weft'];
    const wrong = await weftBinary(['control-plane', ...flags, '--xds-port', '0', '--admin-port', '0'], { WEFT_ETCD_PASSWORD: 'nope' });
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /etcd at 127\.0\.0\.1:\d+ refused: authentication failed for user 'weft'/);
    const unreadable = await weftBinary(['control-plane', ...flags, '--etcd-password-file', file('missing')], {});
    assert.equal(unreadable.code, 1, unreadable.stderr);
    assert.match(unreadable.stderr, new RegExp(`--etcd-password-file \\(passwordFile\\) '${file('missing')}': cannot read it`));
    const leaky = await weftBinary(['control-plane', ...flags, '--etcd-password', PASSWORD], {});
    assert.equal(leaky.code, 2);
    assert.match(leaky.stderr, /never a command-line flag .* WEFT_ETCD_PASSWORD or give --etcd-password-file/);
    const help = await weftBinary(['control-plane', '--help'], {});
    for (const flag of ['--etcd-ca-file', '--etcd-cert-file', '--etcd-key-file', '--etcd-user', '--etcd-password-file', 'WEFT_ETCD_PASSWORD', '--etcd-allow-plaintext', 'etcds://']) assert.ok(help.stdout.includes(flag), flag);
  });
});
