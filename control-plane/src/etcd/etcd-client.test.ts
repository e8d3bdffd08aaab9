// Tests parsing the `store` option's etcd URL (hosts, default port and prefix, TLS scheme) and resolving its TLS files
// and credentials, with a clear error for each bad part.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ERROR_CODES, isMeshError } from '../../../src/core/errors.js';
import { recordingLogger } from '../ca/ca-test-kit.js';
import { etcdKeys, isEtcdStore, parseEtcdStoreUrl, resolveEtcdConnection, type EtcdConnectionOptions } from './etcd-client.js';

describe('parseEtcdStoreUrl', () => {
  it('reads hosts (default port 2379, IPv6 in brackets) and the prefix (default /weft/)', () => {
    assert.deepEqual(parseEtcdStoreUrl('etcd://127.0.0.1:2379'), { hosts: ['http://127.0.0.1:2379'], prefix: '/weft/', tls: false });
    assert.deepEqual(parseEtcdStoreUrl('etcd://a.example,b.example:32379,[::1]:4001/mesh/prod'), {
      hosts: ['http://a.example:2379', 'http://b.example:32379', 'http://[::1]:4001'],
      prefix: '/mesh/prod/',
      tls: false,
    });
    assert.deepEqual(parseEtcdStoreUrl('etcds://a.example,b.example:32379/p'), { hosts: ['https://a.example:2379', 'https://b.example:32379'], prefix: '/p/', tls: true });
    assert.equal(parseEtcdStoreUrl('etcd://h/p/').prefix, '/p/');
  });

  it('refuses a bad URL with WEFT_ERR_INVALID_ARG naming the URL and the part', () => {
    for (const [url, part] of [
      ['etcd://', /no host/],
      ['etcd:///weft', /no host/],
      ['etcd://h:0', /port 0/],
      ['etcd://h:70000', /port 70000/],
      ['etcd://h:x', /'h:x' is not host\[:port\]/],
      ['etcd://h,,k', /'' is not host/],
      ['etcd://h/a//b', /prefix/],
      ['etcd://h/a/../b', /prefix/],
      ['http://h:2379', /not an etcd:\/\/ or etcds:\/\/ URL/],
      ['etcds://', /no host/],
    ] as const) {
      assert.throws(() => parseEtcdStoreUrl(url), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && e.message.includes(`'${url}'`) && part.test(e.message), url);
    }
  });

  it('refuses user:password@ in the URL without echoing the password', () => {
    assert.throws(
      () => parseEtcdStoreUrl('etcds://weft:hunter2@db.example:2379'),
      (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && !e.message.includes('hunter2') && /carries no user:password@.*--etcd-user/.test(e.message),
    );
  });

  it('tells an etcd store from a directory, and lays keys out under the prefix', () => {
    assert.equal(isEtcdStore('etcd://h'), true);
    assert.equal(isEtcdStore('etcds://h'), true);
    assert.equal(isEtcdStore('./mesh'), false);
    assert.deepEqual(etcdKeys('/weft/'), { config: '/weft/config/', configGuard: '/weft/meta/config-guard', registry: '/weft/registry/', replicas: '/weft/replicas/', secrets: '/weft/secrets/' });
  });
});

describe('resolveEtcdConnection', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-etcd-conn-'));
    await writeFile(file('ca.pem'), 'CA PEM');
    await writeFile(file('cert.pem'), 'CERT PEM');
    await writeFile(file('key.pem'), 'KEY PEM');
    await writeFile(file('password'), 's3cret\n');
    await writeFile(file('empty'), '\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads the TLS files and the password file (one trailing newline dropped)', async () => {
    const conn = await resolveEtcdConnection({ url: 'etcds://db.example:2379', caFile: file('ca.pem'), certFile: file('cert.pem'), keyFile: file('key.pem'), username: 'weft', passwordFile: file('password') });
    assert.equal(conn.url.tls, true);
    assert.equal(conn.credentials?.rootCertificate.toString(), 'CA PEM');
    assert.equal(conn.credentials?.certChain?.toString(), 'CERT PEM');
    assert.equal(conn.credentials?.privateKey?.toString(), 'KEY PEM');
    assert.deepEqual(conn.auth, { username: 'weft', password: 's3cret' });
    // No CA file: Node's public roots, so a client certificate can still be presented.
    const publicRoots = await resolveEtcdConnection({ url: 'etcds://db.example', username: 'weft', password: 'pw' });
    assert.match(publicRoots.credentials?.rootCertificate.toString() ?? '', /BEGIN CERTIFICATE/);
    assert.deepEqual(publicRoots.auth, { username: 'weft', password: 'pw' });
  });

  it('allows plaintext to loopback, and to another host only when asked (warning once)', async () => {
    for (const url of ['etcd://127.0.0.1:2379', 'etcd://localhost', 'etcd://[::1]:2379']) assert.equal((await resolveEtcdConnection({ url })).credentials, undefined, url);
    const logger = recordingLogger();
    const conn = await resolveEtcdConnection({ url: 'etcd://10.0.0.5:2379', allowPlaintext: true, username: 'weft', password: 'pw' }, logger);
    assert.equal(conn.url.tls, false);
    assert.equal(logger.entries.filter((e) => e.level === 'warn' && /plaintext/.test(e.message)).length, 1);
  });

  it('refuses each bad combination with WEFT_ERR_INVALID_ARG naming the flag (and the path)', async () => {
    const cases: [EtcdConnectionOptions, RegExp][] = [
      [{ url: 'etcd://10.0.0.5:2379' }, /plaintext to 10\.0\.0\.5, which is not loopback.*etcds:\/\/.*--etcd-allow-plaintext/],
      [{ url: 'etcd://127.0.0.1', caFile: file('ca.pem') }, /--etcd-ca-file \(caFile\) given, but store 'etcd:\/\/127\.0\.0\.1' is plaintext: write etcds:\/\//],
      [{ url: 'etcds://h', certFile: file('cert.pem') }, /--etcd-cert-file \(certFile\) and --etcd-key-file \(keyFile\) go together/],
      [{ url: 'etcds://h', caFile: file('missing.pem') }, new RegExp(`--etcd-ca-file \\(caFile\\) '${file('missing.pem')}': cannot read it \\(ENOENT`)],
      [{ url: 'etcds://h', certFile: file('cert.pem'), keyFile: file('nope.key') }, new RegExp(`--etcd-key-file \\(keyFile\\) '${file('nope.key')}': cannot read it`)],
      [{ url: 'etcds://h', username: 'weft', passwordFile: file('empty') }, /--etcd-password-file \(passwordFile\) '.*empty' is empty/],
      [{ url: 'etcds://h', username: 'weft' }, /--etcd-user \(username\) 'weft' needs a password: set WEFT_ETCD_PASSWORD or give --etcd-password-file/],
      [{ url: 'etcds://h', password: 'pw' }, /password was given without --etcd-user/],
      [{ url: 'etcds://h', username: 'weft', password: 'pw', passwordFile: file('password') }, /give the etcd password once/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(resolveEtcdConnection(options), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && message.test(e.message), JSON.stringify(options));
    }
  });
});
