// Tests parsing the `store` option's etcd URL: hosts, default port and prefix, and a clear error for each bad part.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, isMeshError } from '../../../src/core/errors.js';
import { etcdKeys, isEtcdStore, parseEtcdStoreUrl } from './etcd-client.js';

describe('parseEtcdStoreUrl', () => {
  it('reads hosts (default port 2379, IPv6 in brackets) and the prefix (default /weft/)', () => {
    assert.deepEqual(parseEtcdStoreUrl('etcd://127.0.0.1:2379'), { hosts: ['http://127.0.0.1:2379'], prefix: '/weft/' });
    assert.deepEqual(parseEtcdStoreUrl('etcd://a.example,b.example:32379,[::1]:4001/mesh/prod'), {
      hosts: ['http://a.example:2379', 'http://b.example:32379', 'http://[::1]:4001'],
      prefix: '/mesh/prod/',
    });
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
      ['http://h:2379', /not an etcd:\/\/ URL/],
    ] as const) {
      assert.throws(() => parseEtcdStoreUrl(url), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && e.message.includes(`'${url}'`) && part.test(e.message), url);
    }
  });

  it('tells an etcd store from a directory, and lays keys out under the prefix', () => {
    assert.equal(isEtcdStore('etcd://h'), true);
    assert.equal(isEtcdStore('./mesh'), false);
    assert.deepEqual(etcdKeys('/weft/'), { config: '/weft/config/', configGuard: '/weft/meta/config-guard', registry: '/weft/registry/', replicas: '/weft/replicas/', secrets: '/weft/secrets/' });
  });
});
