// Tests route predicates (Envoy semantics for paths, headers, query) and the why-not explanations explain() shows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Route } from '../../discovery/mesh-state.js';
import { compileRoute, selectVirtualHost, whyNotMatched, type RequestFacts } from './route-match.js';
import { getHeader, withHost } from './headers.js';

function facts(path: string, headers: RequestFacts['headers'] = null, method = 'GET'): RequestFacts {
  const q = path.indexOf('?');
  return { method, path: q < 0 ? path : path.slice(0, q), query: q < 0 ? '' : path.slice(q + 1), headers, authority: 'svc', scheme: 'http' };
}

function r(partial: Partial<Route>): Route {
  return {
    name: 'r',
    path: { kind: 'prefix', value: '/', ignoreCase: false },
    headers: [],
    queryParams: [],
    action: { kind: 'direct', status: 200, body: '' },
    ...partial,
  };
}

describe('route matching', { timeout: 5_000 }, () => {
  it('matches separated prefixes on path elements, exact paths and regexes on the path without query', () => {
    const sep = compileRoute(r({ path: { kind: 'separated-prefix', value: '/api', ignoreCase: false } }));
    assert.equal(sep(facts('/api')), true);
    assert.equal(sep(facts('/api/v1?x=1')), true);
    assert.equal(sep(facts('/apiv1')), false);
    const exact = compileRoute(r({ path: { kind: 'exact', value: '/A', ignoreCase: true } }));
    assert.equal(exact(facts('/a?q')), true);
    const re = compileRoute(r({ path: { kind: 'regex', value: '/u/[0-9]+', regex: /^(?:\/u\/[0-9]+)$/ } }));
    assert.equal(re(facts('/u/12')), true);
    assert.equal(re(facts('/u/12/x')), false);
  });

  it('applies header matchers to every header shape, with invert and presence rules', () => {
    const route = r({
      headers: [
        { name: 'x-env', match: { kind: 'prefix', value: 'prod', ignoreCase: false }, invert: false },
        { name: 'x-debug', match: { kind: 'present' }, invert: true },
      ],
    });
    const m = compileRoute(route);
    assert.equal(m(facts('/', { 'X-Env': 'prod-eu' })), true);
    assert.equal(m(facts('/', ['x-env', 'prod'])), true);
    assert.equal(m(facts('/', [['x-env', 'prod']] as unknown as string[])), true);
    assert.equal(m(facts('/', new Map([['x-env', 'prod']]) as unknown as RequestFacts['headers'])), true);
    assert.equal(m(facts('/', { 'x-env': 'prod', 'x-debug': '1' })), false);
    assert.equal(m(facts('/', {})), false);
    assert.equal(whyNotMatched(route, facts('/', {})), "header 'x-env' is absent (wants prefix 'prod')");
    assert.equal(whyNotMatched(route, facts('/', { 'x-env': 'prod', 'x-debug': '1' })), "header 'x-debug' is '1' (wants not present)");
    assert.equal(whyNotMatched(route, facts('/', { 'x-env': 'prod' })), undefined);
  });

  it('explains method and query failures', () => {
    const route = r({
      path: { kind: 'exact', value: '/pay', ignoreCase: false },
      headers: [{ name: ':method', match: { kind: 'exact', value: 'POST', ignoreCase: false }, invert: false }],
      queryParams: [{ name: 'v', match: { kind: 'exact', value: '2', ignoreCase: false } }],
    });
    assert.equal(whyNotMatched(route, facts('/other')), "path '/other' does not match exact '/pay'");
    assert.equal(whyNotMatched(route, facts('/pay')), "method is 'GET' (wants exact 'POST')");
    assert.equal(whyNotMatched(route, facts('/pay?v=1', null, 'POST')), "query parameter 'v' is '1' (wants exact '2')");
    assert.equal(compileRoute(route)(facts('/pay?v=2', null, 'POST')), true);
  });

  it('selects virtual hosts by exact, suffix, prefix, then wildcard domain', () => {
    const vh = (name: string, domains: string[]) => ({ name, domains, routes: [] });
    const hosts = [vh('any', ['*']), vh('suffix', ['*.example']), vh('exact', ['svc:8080']), vh('prefix', ['svc.*'])];
    assert.equal(selectVirtualHost(hosts, 'svc:8080')?.name, 'exact');
    assert.equal(selectVirtualHost(hosts, 'a.example')?.name, 'suffix');
    assert.equal(selectVirtualHost(hosts, 'svc.x')?.name, 'prefix');
    assert.equal(selectVirtualHost(hosts, 'other')?.name, 'any');
    assert.equal(selectVirtualHost([vh('only', ['svc'])], 'svc:9000')?.name, 'only', 'port stripped on a second try');
  });

  it('adds the host header once, to every header shape, without mutating the input', () => {
    const obj = { accept: 'x' };
    assert.deepEqual(withHost(obj, 'svc'), { accept: 'x', host: 'svc' });
    assert.deepEqual(obj, { accept: 'x' });
    assert.deepEqual(withHost(['a', 'b'], 'svc'), ['a', 'b', 'host', 'svc']);
    assert.deepEqual(withHost(null, 'svc'), ['host', 'svc']);
    const kept = { Host: 'override' };
    assert.equal(withHost(kept, 'svc'), kept);
    assert.equal(getHeader({ 'X-A': ['1', '2'] }, 'x-a'), '1,2');
  });
});
