// A mesh on the production topology for the chaos tests: three `weft control-plane --store etcd://...` replicas on
// one real etcd (restartable on their own ports), workloads that register through the registry (etcd leases), and
// client meshes calling HTTP `echo` and gRPC `gecho`, every mesh naming all replicas and each preferring another.
// Routes are edited through the admin API; each edit carries its number, so a replica or client can be checked for it.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMesh, type Mesh, type MeshOptions } from '../../src/index.js';
import { addEchoService, EchoClient, say, type EchoClientInstance } from '../../src/testing/index.js';
import { startControlPlane } from '../../control-plane/src/index.js';
import { adminCaller, freePort, startControlPlaneProcess, type ControlPlaneProcess } from './control-plane-process.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { serviceYaml, waitFor } from './helpers.js';

/** Where an edit routes `echo` and `gecho`: their v1 Service, their v2 Service (`echo-v2`, `gecho-v2`), or half to each. */
export type Target = 'v1' | 'v2' | 'split';

/** The routes of edit number `edit`: HTTPRoute `echo` and GRPCRoute `gecho`, both to `target`. */
export function routesYaml(target: Target, edit: number): string {
  const refs = (name: string, port: number) =>
    target === 'split'
      ? `[{ name: ${name}, port: ${port}, weight: 50 }, { name: ${name}-v2, port: ${port}, weight: 50 }]`
      : `[{ name: ${target === 'v1' ? name : `${name}-v2`}, port: ${port} }]`;
  // The edit number in a label makes every edit a change, even one that routes where the last one did.
  const route = (kind: string, name: string, port: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: ${name}, labels: { edit: "${edit}" } }
spec:
  parentRefs: [{ kind: Service, name: ${name} }]
  rules:
    - backendRefs: ${refs(name, port)}
`;
  return `${route('HTTPRoute', 'echo', 8080)}---\n${route('GRPCRoute', 'gecho', 8080)}`;
}

/** A workload: a mesh serving one instance of a Service, registered through the registry under an etcd lease. */
export interface Workload {
  readonly service: string;
  readonly instance: string;
  readonly mesh: Mesh;
  readonly port: number;
}

/** A client mesh and its meshed gRPC client of `gecho`. */
export interface ChaosClient {
  readonly mesh: Mesh;
  readonly echo: EchoClientInstance;
}

/** What `/v1/endpoints` lists per registered endpoint (the fields read here). */
interface EndpointView {
  readonly leaseId: string;
  readonly port: number;
}

/** What `/v1/status` lists per live replica (the fields read here). */
interface ReplicaView {
  readonly xdsAddress: string;
  readonly startedAt: string;
}

/** A replica as the kit drives it: its admin API, and stop (a `weft control-plane` process: SIGKILL by default). */
export type Replica = Pick<ControlPlaneProcess, 'admin' | 'stop'>;

/**
 * How replicas run: `processes` (real `weft control-plane` processes, for SIGKILL) or `in-process` (startControlPlane
 * in the test process: the same code, without the start-up cost of three more processes where none is killed).
 */
export type ReplicaMode = 'processes' | 'in-process';

/** The workloads a ReplicaMesh starts with: instance name → Service (`echo`, `echo-v2`, `gecho` or `gecho-v2`). */
export type WorkloadSpec = Readonly<Record<string, 'echo' | 'echo-v2' | 'gecho' | 'gecho-v2'>>;

/** Three replicas on one etcd with workloads and clients; see startReplicaMesh. */
export class ReplicaMesh {
  /** Number of control-plane replicas. */
  static readonly REPLICAS = 3;
  readonly etcd: EtcdServer;
  /** The xDS port of each replica slot (kept across restarts). */
  readonly ports: readonly number[];
  /** The live replica per slot; undefined while killed or restarting. */
  readonly live: (Replica | undefined)[] = [];
  /** When each slot was last killed (ms since the epoch). */
  readonly killedAt = new Map<number, number>();
  readonly workloads: Workload[] = [];
  readonly clients: ChaosClient[] = [];
  /** Edits applied so far (the last one's number is in the routes' `edit` label). */
  edits = 0;
  readonly #cacheDir: string;
  readonly #mode: ReplicaMode;

  constructor(etcd: EtcdServer, ports: readonly number[], cacheDir: string, mode: ReplicaMode) {
    this.etcd = etcd;
    this.ports = ports;
    this.#cacheDir = cacheDir;
    this.#mode = mode;
  }

  /** `host:port` of replica slot `i`, as meshes and `/v1/status` name it. */
  addressOf(i: number): string {
    return `127.0.0.1:${this.ports[i]}`;
  }

  /** Starts replica slot `i` on its port; resolves once it serves. */
  async start(i: number): Promise<void> {
    const store = `${this.etcd.endpoint}/chaos`;
    if (this.#mode === 'processes') {
      this.live[i] = await startControlPlaneProcess({ xdsPort: this.ports[i]!, args: ['--store', store, '--no-state'] });
      return;
    }
    const cp = await startControlPlane({ store, xdsPort: this.ports[i]!, adminPort: 0, stateDir: false });
    this.live[i] = { admin: adminCaller(cp.adminUrl, cp.adminToken), stop: () => cp.close() };
  }

  /** Stops replica slot `i` (a process: SIGKILL, a crashed machine) and records when. */
  async kill(i: number): Promise<void> {
    const p = this.live[i]!;
    this.live[i] = undefined;
    await p.stop('SIGKILL');
    this.killedAt.set(i, Date.now());
  }

  /** Mesh options naming every replica, in slot order from `first`, tried in that order. */
  meshOptions(service: string, first: number): MeshOptions {
    const list = this.ports.map((_, i) => `http://127.0.0.1:${this.ports[(first + i) % this.ports.length]}`);
    return { service, controlPlane: list, controlPlaneOrder: 'given', ready: { timeoutMs: 60_000 }, xdsCache: { dir: this.#cacheDir } };
  }

  /** Starts a workload of `service` answering `instance`; resolves once its lease is granted (through list `first`). */
  async startWorkload(service: string, instance: string, first: number): Promise<Workload> {
    const mesh = await createMesh(this.meshOptions(service, first));
    let port: number;
    if (service.startsWith('gecho')) {
      const server = mesh.grpc.server();
      addEchoService(server, instance);
      port = (await mesh.grpc.serve(server, { port: 0 })).port;
    } else {
      const served = await mesh.serve((_req, res) => res.end(JSON.stringify({ instance })), { port: 0 });
      port = (served.server.address() as AddressInfo).port;
    }
    const w = { service, instance, mesh, port };
    this.workloads.push(w); // before ready(), so close() finds it
    await mesh.ready();
    return w;
  }

  /** Applies the next edit, routing to `target`, through replica `i`; asserts it was accepted. */
  async edit(i: number, target: Target, why: string): Promise<void> {
    const applied = await this.live[i]!.admin('POST', '/v1/apply', routesYaml(target, this.edits + 1));
    assert.equal(applied.status, 200, `edit ${this.edits + 1} through replica ${i}: ${JSON.stringify(applied.body)} (${why})`);
    this.edits++;
  }

  /** GET `urlPath` on replica `i`'s admin API; asserts 200 and resolves the body. */
  async adminOf(i: number, urlPath: string): Promise<unknown> {
    const res = await this.live[i]!.admin('GET', urlPath);
    assert.equal(res.status, 200, `GET ${urlPath} on replica ${i}: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** Waits until replica `i` holds the last edit. */
  async holdsLastEdit(i: number, why: string): Promise<void> {
    await waitFor(async () => {
      const route = (await this.adminOf(i, '/v1/resources/HTTPRoute/echo')) as { metadata: { labels?: Record<string, string> } };
      return route.metadata.labels?.['edit'] === String(this.edits);
    }, `replica ${i} to hold edit ${this.edits} (${why})`, 30_000, 100);
  }

  /**
   * Calls through every client until each reaches exactly the instances routes to `target` lead to (HTTP and gRPC),
   * given the live instances of each Service.
   */
  async converged(target: Target, why: string): Promise<void> {
    const of = (service: string) => this.workloads.filter((w) => w.service === service && !w.mesh.status().closed).map((w) => w.instance);
    const want = {
      http: target === 'v1' ? of('echo') : target === 'v2' ? of('echo-v2') : [...of('echo'), ...of('echo-v2')],
      grpc: target === 'v1' ? of('gecho') : target === 'v2' ? of('gecho-v2') : [...of('gecho'), ...of('gecho-v2')],
    };
    const same = (seen: Set<string>, expected: readonly string[]) => seen.size === expected.length && expected.every((x) => seen.has(x));
    for (const { mesh, echo } of this.clients) {
      await waitFor(async () => {
        const seenHttp = new Set<string>();
        const seenGrpc = new Set<string>();
        for (let i = 0; i < 24; i++) {
          seenHttp.add(((await (await mesh.fetch('http://echo/')).json()) as { instance: string }).instance);
          seenGrpc.add((await say(echo, { text: 'c' })).server);
        }
        return same(seenHttp, want.http) && same(seenGrpc, want.grpc);
      }, `${mesh.service} to reach exactly ${JSON.stringify(want)} (${why})`, 60_000, 200);
    }
  }

  /** Meshed HTTP and gRPC calls from every client in a loop until stop(), which resolves the counts. */
  startTraffic(): { stop(): Promise<{ ok: number; failures: readonly string[] }> } {
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const loop = async (what: string, call: () => Promise<void>) => {
      while (running) {
        try {
          await call();
          ok++;
        } catch (e: unknown) {
          failures.push(`${what} ${String(e)}: ${String((e as { cause?: unknown }).cause)} at ${new Date().toISOString()}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const loops = this.clients.flatMap(({ mesh, echo }) => [
      loop(`${mesh.service} HTTP`, async () => {
        const res = await mesh.fetch('http://echo/');
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      }),
      loop(`${mesh.service} gRPC`, async () => {
        await say(echo, { text: 'x' });
      }),
    ]);
    return {
      async stop() {
        running = false;
        await Promise.all(loops);
        return { ok, failures };
      },
    };
  }

  /**
   * Every live workload's lease was never lost (one Register each) and is listed by each live replica, a closed
   * workload's by none; each live replica's status lists every live one, those killed with a start after their last kill.
   */
  async leasesAndPresenceHold(why: string): Promise<void> {
    const alive = this.workloads.filter((w) => !w.mesh.status().closed);
    const gone = this.workloads.filter((w) => w.mesh.status().closed);
    for (const w of alive) {
      // A keep-alive that failed while a replica or etcd was away is retried within a third of the TTL: wait for it.
      const status = () => w.mesh.status().registrations[0]!;
      await waitFor(() => status().state === 'registered', `${w.instance}'s lease to be kept alive again (${why})`, 30_000, 100).catch(() => undefined);
      const reg = status();
      assert.equal(reg.registrations, 1, `${w.instance} registered ${reg.registrations} times: its lease was lost (${reg.lastError ?? ''}) (${why})`);
      assert.equal(reg.state, 'registered', `${w.instance}: ${reg.lastError ?? ''} (${why})`);
    }
    const liveSlots = this.ports.flatMap((_, i) => (this.live[i] !== undefined ? [i] : []));
    for (const i of liveSlots) {
      await waitFor(async () => {
        const { endpoints } = (await this.adminOf(i, '/v1/endpoints')) as { endpoints: EndpointView[] };
        const leases = new Set(endpoints.map((e) => `${e.leaseId}@${e.port}`));
        return alive.every((w) => leases.has(`${w.mesh.status().registrations[0]!.leaseId}@${w.port}`)) && !endpoints.some((e) => gone.some((w) => w.port === e.port));
      }, `replica ${i} to list every live workload's lease and no closed one's (${why})`, 30_000, 200);
    }
    for (const i of liveSlots) {
      await waitFor(async () => {
        const status = (await this.adminOf(i, '/v1/status')) as { replicas?: { live: ReplicaView[] } };
        const byAddress = new Map((status.replicas?.live ?? []).map((r) => [r.xdsAddress, r]));
        return liveSlots.every((slot) => {
          const r = byAddress.get(this.addressOf(slot));
          return r !== undefined && Date.parse(r.startedAt) > (this.killedAt.get(slot) ?? 0);
        });
      }, `replica ${i}'s status to list every live replica, the killed ones rejoined (${why})`, 30_000, 200);
    }
  }

  /** Closes clients and workloads, stops every replica and etcd, removes the cache dir. */
  async close(): Promise<void> {
    for (const c of this.clients) c.echo.close();
    await Promise.all(this.clients.map((c) => c.mesh.close()));
    await Promise.all(this.workloads.map((w) => w.mesh.close()));
    await Promise.all(this.live.map((p) => p?.stop()));
    await this.etcd.stop();
    await rm(this.#cacheDir, { recursive: true, force: true });
  }
}

/**
 * Starts etcd and three replicas (as `mode` says), applies the Services `echo`, `echo-v2` (HTTP), `gecho`, `gecho-v2` (gRPC) and edit
 * 0 (routes to v1), starts `workloads` and `clients` client meshes (each preferring the next replica), and waits until
 * every client reaches every v1 instance.
 */
export async function startReplicaMesh(workloads: WorkloadSpec, clients: number, mode: ReplicaMode = 'processes'): Promise<ReplicaMesh> {
  const etcd = await startEtcd();
  const ports: number[] = [];
  for (let i = 0; i < ReplicaMesh.REPLICAS; i++) ports.push(await freePort());
  const m = new ReplicaMesh(etcd, ports, await mkdtemp(path.join(tmpdir(), 'weft-chaos-cache-')), mode);
  try {
    await setUp(m, workloads, clients);
  } catch (e: unknown) {
    await m.close().catch(() => undefined); // no replica, etcd or mesh left behind by a failed start-up
    throw e;
  }
  return m;
}

async function setUp(m: ReplicaMesh, workloads: WorkloadSpec, clients: number): Promise<void> {
  await Promise.all(m.ports.map((_, i) => m.start(i)));
  const services = [serviceYaml('echo'), serviceYaml('echo-v2'), serviceYaml('gecho', 'GRPC'), serviceYaml('gecho-v2', 'GRPC')];
  const applied = await m.live[0]!.admin('POST', '/v1/apply', [...services, routesYaml('v1', 0)].join('---\n'));
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  await Promise.all(Object.entries(workloads).map(([instance, service], i) => m.startWorkload(service, instance, i % ReplicaMesh.REPLICAS)));
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const mesh = await createMesh({ ...m.meshOptions(`client-${i}`, i), dependsOn: ['echo', 'echo-v2', 'gecho', 'gecho-v2'] });
      m.clients.push({ mesh, echo: mesh.grpc.client(EchoClient, 'gecho') }); // before ready(), so close() finds it
      await mesh.ready();
    }),
  );
  // Every client routes by the first edit before the counted runs start, so a failure in them is the chaos's doing.
  await m.converged('v1', 'warm-up');
}
