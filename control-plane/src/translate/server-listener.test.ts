// Tests the gRFC A36 server Listener: reading its name (IPv4, IPv6, malformed) and every field the builder sets,
// checked against grpc-js-xds's own Listener validator.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import grpcXds from '@grpc/grpc-js-xds';
// Not public API, but it is the exact code that decides whether grpc-js-xds accepts a Listener (NACK or not).
import { ListenerResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js';
import { TYPE_URL, protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import {
  SERVER_LISTENER_NAME_PREFIX,
  buildServerListener,
  parseServerListenerName,
  serverListenerFor,
  type ListeningAddress,
} from './server-listener.js';

const nameOf = (address: string) => `${SERVER_LISTENER_NAME_PREFIX}${address}`;
const obj = (v: unknown) => v as ProtoObject;

/** Runs grpc-js-xds's Listener decoder + validator on the encoded resource; returns its errors ('' = accepted). */
function grpcXdsVerdict(resource: ProtoObject & { '@type': string }): string {
  grpcXds.register(); // registers the router filter the validator looks up
  const context = { bootstrap: { certificateProviders: {} } } as unknown as Parameters<ListenerResourceType['decode']>[0];
  const result = ListenerResourceType.get().decode(context, protos().toAny(resource) as unknown as Parameters<ListenerResourceType['decode']>[1]);
  return 'error' in result ? String(result.error) : '';
}

describe('parseServerListenerName', () => {
  it('the prefix is the A36 template without %s', () => {
    assert.equal(SERVER_LISTENER_NAME_PREFIX, 'grpc/server?xds.resource.listening_address=');
  });

  it('reads IPv4, bracketed IPv6 and plain IPv6 addresses with their port', () => {
    const cases: [string, ListeningAddress][] = [
      ['127.0.0.1:50051', { ip: '127.0.0.1', port: 50051 }],
      ['0.0.0.0:1', { ip: '0.0.0.0', port: 1 }],
      ['[::1]:50051', { ip: '::1', port: 50051 }],
      ['[::]:65535', { ip: '::', port: 65535 }],
      ['[fe80::1:2]:8080', { ip: 'fe80::1:2', port: 8080 }],
      ['::1:50051', { ip: '::1', port: 50051 }],
      ['2001:db8::7:443', { ip: '2001:db8::7', port: 443 }],
    ];
    for (const [address, want] of cases) {
      assert.deepEqual(parseServerListenerName(nameOf(address)), { kind: 'server', address: want }, address);
    }
  });

  it('says what is wrong with a name that is not IP:port, and never throws', () => {
    const cases: [string, RegExp][] = [
      ['', /'' has no port/],
      ['127.0.0.1', /'127.0.0.1' has no port/],
      ['localhost:50051', /'localhost' is not an IP address/],
      ['127.0.0.1:0', /port '0' is not 1\.\.65535/],
      ['127.0.0.1:65536', /port '65536'/],
      ['127.0.0.1:', /port ''/],
      ['127.0.0.1:+80', /port '\+80'/],
      ['127.0.0.1:50051&x=1', /port '50051&x=1'/],
      ['[::1]', /no ':port' after '\]'/],
      ['[::1:50051', /'\[' without '\]'/],
      ['[::1]:x', /port 'x'/],
      ['[nope]:80', /'nope' is not an IP address/],
      ['999.0.0.1:80', /'999.0.0.1' is not an IP address/],
      ['::1', /':' is not an IP address/],
    ];
    for (const [address, why] of cases) {
      const parsed = parseServerListenerName(nameOf(address));
      assert.equal(parsed.kind, 'malformed', address);
      if (parsed.kind !== 'malformed') continue;
      assert.match(parsed.error, why, address);
      assert.ok(parsed.error.includes(`'${nameOf(address)}'`), `the error names the name: ${parsed.error}`);
    }
  });

  it('leaves other names (client Listeners, other templates) alone', () => {
    for (const name of ['echo', 'echo:50051', 'grpc/server', 'xds.istio.io/grpc/lds/inbound/127.0.0.1:80', ` ${nameOf('127.0.0.1:80')}`]) {
      assert.deepEqual(parseServerListenerName(name), { kind: 'not-server' }, name);
      assert.equal(serverListenerFor(name), undefined, name);
    }
  });
});

describe('buildServerListener', () => {
  const name = nameOf('127.0.0.1:50051');
  const listener = buildServerListener(name, { ip: '127.0.0.1', port: 50051 });
  const chains = listener['filter_chains'] as ProtoObject[];
  const filters = (chains[0]?.['filters'] ?? []) as ProtoObject[];
  const hcm = obj(filters[0]?.['typed_config']);

  it('repeats the bound address exactly in address.socket_address', () => {
    assert.equal(listener['@type'], TYPE_URL.listener);
    assert.equal(listener['name'], name);
    assert.deepEqual(listener['address'], { socket_address: { address: '127.0.0.1', port_value: 50051 } });
    const v6 = buildServerListener(nameOf('[::1]:7'), { ip: '::1', port: 7 });
    assert.deepEqual(v6['address'], { socket_address: { address: '::1', port_value: 7 } }, 'IPv6 without brackets');
  });

  it('has one filter chain, matching every connection, with exactly one filter: an HCM', () => {
    assert.equal(chains.length, 1);
    assert.equal(chains[0]?.['filter_chain_match'], undefined);
    assert.equal(chains[0]?.['transport_socket'], undefined, 'no mTLS yet (gRFC A29 is a later change)');
    assert.equal(filters.length, 1);
    assert.equal(filters[0]?.['name'], 'envoy.filters.network.http_connection_manager');
    assert.equal(hcm['@type'], TYPE_URL.httpConnectionManager);
  });

  it('the HCM routes inline: one virtual host * whose route prefix / has non_forwarding_action', () => {
    assert.equal(hcm['rds'], undefined);
    const rc = obj(hcm['route_config']);
    const hosts = rc['virtual_hosts'] as ProtoObject[];
    assert.equal(hosts.length, 1);
    assert.deepEqual(hosts[0]?.['domains'], ['*']);
    const routes = hosts[0]?.['routes'] as ProtoObject[];
    assert.equal(routes.length, 1);
    assert.deepEqual(routes[0]?.['match'], { prefix: '/' });
    assert.deepEqual(routes[0]?.['non_forwarding_action'], {});
    assert.equal(routes[0]?.['route'], undefined);
  });

  it('the router is the last HTTP filter, and there is no idle_timeout, listener filter or original-dst', () => {
    const httpFilters = hcm['http_filters'] as ProtoObject[];
    assert.equal(obj(httpFilters.at(-1)?.['typed_config'])['@type'], TYPE_URL.router);
    assert.equal(hcm['common_http_protocol_options'], undefined);
    assert.equal(listener['listener_filters'], undefined);
    assert.equal(listener['use_original_dst'], undefined);
    assert.equal(listener['api_listener'], undefined, 'a server Listener is not an api_listener');
  });

  it('is accepted by grpc-js-xds, which refuses the mistakes the builder avoids', () => {
    assert.equal(grpcXdsVerdict(listener), '');
    assert.equal(grpcXdsVerdict(buildServerListener(nameOf('[::1]:7'), { ip: '::1', port: 7 })), '');
    const twoFilters = { ...listener, filter_chains: [{ ...chains[0], filters: [filters[0], filters[0]] }] };
    assert.match(grpcXdsVerdict(twoFilters), /Incorrect filters length: 2/);
    assert.match(grpcXdsVerdict({ ...listener, use_original_dst: { value: true } }), /use_original_dst/);
    assert.match(grpcXdsVerdict({ ...listener, listener_filters: [{ name: 'x' }] }), /listener_filters populated/);
  });

  it('serverListenerFor builds it for a good name and explains a malformed one', () => {
    assert.deepEqual(serverListenerFor(name), { ok: true, resource: listener });
    const bad = serverListenerFor(nameOf('localhost:80'));
    assert.equal(bad?.ok, false);
    assert.match(bad && !bad.ok ? bad.error : '', /'localhost' is not an IP address/);
  });
});
