// Runs the real `weft` CLI as child processes against a control plane started in the test, on loopback port 0.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { TYPE_URL } from '../src/discovery/xds/protos.js';
import { AdsTestClient } from '../control-plane/src/server/ads-test-client.js';
import { ROOT, suiteControlPlane, weftBinary, type CliRun } from './cli-test-kit.js';

const MAIN = path.join(ROOT, 'cli', 'main.ts');

const SERVICE = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments }
spec:
  ports: [{ name: http, port: 8080 }]
`;
const ROUTE = (backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: pay }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules: [{ backendRefs: [{ name: ${backend}, port: 8080 }] }]
`;

/** Runs the real `weft <args>` (input, if given, goes to stdin). */
const weft = (args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliRun> => weftBinary(args, env, input === undefined ? {} : { input });

describe('weft CLI against a running control plane', { timeout: 60_000 }, () => {
  const suite = suiteControlPlane('weft-cli-');

  it('applies a directory as one change and reports each resource', async () => {
    const input = path.join(suite.dir, 'in');
    await mkdir(input);
    await writeFile(path.join(input, '10-service.yaml'), SERVICE);
    await writeFile(path.join(input, '20-route.yml'), ROUTE('payments'));
    await writeFile(path.join(input, 'notes.txt'), 'not yaml');
    const r = await weft(['apply', '-f', input], suite.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Service\/payments applied$/m);
    assert.match(r.stdout, /^HTTPRoute\/pay applied$/m);
    assert.match(r.stdout, /2 changed, generation \d+/);
    const again = await weft(['apply', '-f', path.join(input, '10-service.yaml')], suite.env);
    assert.match(again.stdout, /^Service\/payments unchanged$/m);
  });

  it('prints every error as file: Kind/name: field: message and exits 1, changing nothing', async () => {
    const generation = suite.cp.store.current().generation;
    const bad = path.join(suite.dir, 'bad-route.yaml');
    await writeFile(bad, ROUTE('nowhere'));
    const r = await weft(['apply', '-f', bad], suite.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: HTTPRoute/pay: spec\\.rules\\[0\\]\\.backendRefs\\[0\\][^:]*: .*nowhere`, 'm'));
    assert.equal(suite.cp.store.current().generation, generation);
    const syntax = path.join(suite.dir, 'syntax.yaml');
    await writeFile(syntax, 'kind: [unclosed\n');
    const s = await weft(['apply', '-f', syntax], suite.env);
    assert.equal(s.code, 1);
    assert.match(s.stderr, new RegExp(`^${syntax.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: YAML`, 'm'));
  });

  it('reads stdin with -f - and supports --dry-run', async () => {
    const generation = suite.cp.store.current().generation;
    const dry = await weft(['apply', '-f', '-', '--dry-run'], suite.env, SERVICE.replace('payments', 'ledger'));
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /Service\/ledger would change/);
    assert.equal(suite.cp.store.current().generation, generation);
    const real = await weft(['apply', '-f', '-'], suite.env, SERVICE.replace('payments', 'ledger'));
    assert.equal(real.code, 0, real.stderr);
    assert.ok(suite.cp.store.current().resources.some((x) => x.metadata.name === 'ledger'));
  });

  it('gets routes, services and endpoints as tables, YAML that applies back, and JSON', async () => {
    const routes = await weft(['get', 'routes'], suite.env);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(routes.stdout, /^KIND\s+NAME\s+PARENTS/m);
    assert.match(routes.stdout, /^HTTPRoute\s+pay\s+payments\s+1\s+payments:8080/m);
    const yaml = await weft(['get', 'services', 'payments', '-o', 'yaml'], suite.env);
    const docs = parseAllDocuments(yaml.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['Service/payments']);
    const back = await weft(['apply', '-f', '-'], suite.env, yaml.stdout);
    assert.match(back.stdout, /Service\/payments unchanged/);

    suite.cp.registry.register({ service: 'payments', address: '10.9.0.1', port: 8080, nodeId: 'pay-1' }, 120_000); // outlive a slow suite
    suite.cp.registry.register({ service: 'ghost', address: '10.9.0.2', port: 80 }, 120_000);
    const eps = await weft(['get', 'endpoints'], suite.env);
    assert.match(eps.stdout, /^payments\s+\(first\)\s+10\.9\.0\.1:8080\s+pay-1\s+1\s+-\s+(?:\d+m)?\d+[sm]\s+yes$/m);
    assert.match(eps.stdout, /^ghost\s.*no \(Service 'ghost' is not configured\)$/m);
    const json = await weft(['get', 'endpoints', 'payments', '-o', 'json'], suite.env);
    assert.deepEqual((JSON.parse(json.stdout) as { address: string }[]).map((e) => e.address), ['10.9.0.1']);
    const svc = await weft(['get', 'svc'], suite.env);
    assert.match(svc.stdout, /^payments\s+http:8080\s+0\s+1\s/m);
    const missing = await weft(['get', 'httproute', 'nope'], suite.env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
  });

  it('shows clients, ACKed versions and NACKs in status, and a config dump', async (t) => {
    const c = new AdsTestClient(suite.cp.xdsAddress);
    t.after(() => c.close());
    c.send({ typeUrl: TYPE_URL.listener, names: ['payments'], node: { id: 'checkout-5d8f', cluster: 'checkout' } });
    const lds = await c.next();
    c.ack(lds, ['payments']);
    c.send({ typeUrl: TYPE_URL.cluster, names: ['payments:8080'] });
    const cds = await c.next();
    c.send({ typeUrl: TYPE_URL.cluster, names: ['payments:8080'], nonce: cds.nonce, errorMessage: 'cluster payments:8080: unsupported lb_policy' });
    for (let i = 0; i < 100 && !suite.cp.ads.clients().some((x) => x.types.some((ty) => ty.nack)); i++) await new Promise((r) => setTimeout(r, 10));

    const s = await weft(['status'], suite.env);
    assert.equal(s.code, 1, 'a NACK makes status exit 1');
    assert.match(s.stdout, new RegExp(`^checkout-5d8f\\s+checkout\\s+127\\.0\\.0\\.1:\\d+\\s+\\d+s\\s+${lds.version_info}\\s+-\\s+-!\\s+-$`, 'm'));
    assert.match(s.stdout, new RegExp(`checkout-5d8f CDS version ${cds.version_info} \\(nonce ${cds.nonce}\\): cluster payments:8080: unsupported lb_policy`));
    assert.match(s.stdout, /UNROUTED ENDPOINTS[^\n]*\n\s+ghost 10\.9\.0\.2:80: Service 'ghost' is not configured/);

    const dump = await weft(['config-dump', 'checkout-5'], suite.env);
    assert.equal(dump.code, 0, dump.stderr);
    const body = JSON.parse(dump.stdout) as { nodeId: string; clients: { types: { typeUrl: string; resources: { name: string }[] }[] }[] };
    assert.equal(body.nodeId, 'checkout-5d8f');
    assert.deepEqual(body.clients[0]?.types.find((x) => x.typeUrl === TYPE_URL.listener)?.resources.map((r) => r.name), ['payments']);
    const unknown = await weft(['config-dump', 'nobody'], suite.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no connected node/);
  });

  it('deletes by kind and name, refusing one that would break a reference', async () => {
    const refused = await weft(['delete', 'service', 'payments'], suite.env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTPRoute\/pay: .*still references Service "payments"/);
    const file = path.join(suite.dir, 'both.yaml');
    await writeFile(file, `${SERVICE}---\n${ROUTE('payments')}`);
    const r = await weft(['delete', '-f', file], suite.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /HTTPRoute\/pay deleted[^\n]*\nService\/payments deleted/);
    assert.equal((await weft(['delete', 'httproute', 'pay'], suite.env)).code, 1);
  });

  it('says clearly when the control plane is unreachable, and rejects bad usage with exit 2', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const r = await weft(['status', '--server', `http://127.0.0.1:${port}`], {});
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the Weft control plane admin API at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/);
    assert.match(r.stderr, /WEFT_ADMIN/);
    assert.equal((await weft(['frobnicate'], suite.env)).code, 2);
    assert.equal((await weft(['get', 'routes', '--bogus'], suite.env)).code, 2);
    assert.equal((await weft(['apply'], suite.env)).code, 2);
  });
});

describe('weft control-plane', { timeout: 30_000 }, () => {
  let child: ChildProcess | undefined;
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('starts, prints its addresses, serves the admin API and stops cleanly on SIGTERM', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-cli-cp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'payments.yaml'), SERVICE);
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'control-plane', '--config-dir', dir, '--xds-port', '0', '--admin-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stdout = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const adminUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no admin address printed; stdout: ${stdout}`)), 15_000);
      proc.stdout!.on('data', () => {
        const m = /admin API:\s+(http:\/\/\S+)/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    assert.match(stdout, /xDS \+ registry: 127\.0\.0\.1:\d+/);
    // The operator token was created in the default state dir, owner-only, and the admin API requires it.
    const tokenFile = /WEFT_ADMIN_TOKEN_FILE=(\S+)\)/.exec(stdout)?.[1];
    assert.equal(tokenFile, path.join(dir, '.weft', 'admin-token'));
    assert.equal((await stat(tokenFile!)).mode & 0o777, 0o600);
    const token = (await readFile(tokenFile!, 'utf8')).trim();
    assert.equal((await fetch(`${adminUrl}/v1/status`)).status, 401);
    const status = (await (await fetch(`${adminUrl}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { generation: number };
    assert.equal(status.generation, 1);
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stdout, /Stopped\./);
  });

  it('with --no-state writes the operator token to a private temporary file, prints only its path, and removes it at stop', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-cli-cp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'payments.yaml'), SERVICE);
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, 'control-plane', '--config-dir', dir, '--no-state', '--xds-port', '0', '--admin-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stdout = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const adminUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no admin address printed; stdout: ${stdout}`)), 15_000);
      proc.stdout!.on('data', () => {
        const m = /admin API:\s+(http:\/\/\S+)/.exec(stdout);
        if (m && /admin token:.*\n/.test(stdout)) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const tokenFile = /WEFT_ADMIN_TOKEN_FILE=(\S+)\)/.exec(stdout)?.[1];
    assert.ok(tokenFile !== undefined && tokenFile.startsWith(tmpdir()), stdout);
    assert.match(stdout, /admin token:\s+in \S+admin-token, removed at stop/);
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(tokenFile))).mode & 0o777, 0o700);
    const token = (await readFile(tokenFile, 'utf8')).trim();
    assert.ok(token.length >= 16);
    assert.ok(!stdout.includes(token), 'the token itself is not on stdout');
    const status = await fetch(`${adminUrl}/v1/status`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(status.status, 200);
    await status.body?.cancel();
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!stdout.includes(token));
    await assert.rejects(stat(path.dirname(tokenFile)), { code: 'ENOENT' }, 'the temporary directory is removed at stop');
  });

  it('exits 1 listing every error when the config dir is invalid', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-cli-cp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'bad.yaml'), SERVICE.replace('port: 8080', 'port: 0'));
    const r = await weft(['control-plane', '--config-dir', dir, '--xds-port', '0', '--admin-port', '0'], {});
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is invalid/);
    assert.match(r.stderr, /bad\.yaml: Service\/payments: spec\.ports\[0\]\.port: /);
  });
});
