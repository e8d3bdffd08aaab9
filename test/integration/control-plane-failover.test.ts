// Two dir-backed control-plane replicas as real processes (each its own config dir holding the same YAML): the replica
// a mesh is connected to is killed (SIGKILL) under load; the mesh's xDS stream moves to the other within 2 s, no call
// fails, its endpoint registration moves too, and the mesh follows edits made on the survivor.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { freePort, startControlPlaneProcess, type ControlPlaneProcess } from './control-plane-process.js';
import { waitFor } from './helpers.js';

/** YAML of Service `echo` with static endpoints (the same on both replicas: dir-backed replicas share no registry). */
function echoYaml(ports: readonly number[]): string {
  return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: echo
spec:
  ports:
    - name: http
      port: 8080
  endpoints:
${ports.map((p) => `    - address: 127.0.0.1\n      port: ${p}`).join('\n')}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: registered
spec:
  ports:
    - name: http
      port: 8080
`;
}

describe('control-plane failover (two dir-backed replicas, real processes)', { timeout: 180_000 }, () => {
  const dirs: string[] = [];
  const replicas: ControlPlaneProcess[] = [];
  const backends: http.Server[] = [];
  const meshes: Mesh[] = [];
  let client: Mesh;
  let server: Mesh;
  let portB: number;

  const backend = async (instance: string): Promise<number> => {
    const s = http.createServer((_req, res) => res.end(JSON.stringify({ instance })));
    s.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    backends.push(s);
    return (s.address() as AddressInfo).port;
  };

  before(async () => {
    const a = await backend('a');
    for (let i = 0; i < 2; i++) {
      const dir = await mkdtemp(path.join(tmpdir(), `weft-failover-${i}-`));
      await writeFile(path.join(dir, 'mesh.yaml'), echoYaml([a]));
      dirs.push(dir);
    }
    // Replica B is listed from the start but started only once the meshes are on A, so both meshes are on A when A dies.
    portB = await freePort();
    replicas.push(await startControlPlaneProcess({ configDir: dirs[0]! }));
    const controlPlane = [replicas[0]!.xdsUrl, `http://127.0.0.1:${portB}`];
    client = await createMesh({ service: 'client', controlPlane, dependsOn: ['echo'], ready: { timeoutMs: 30_000 } });
    server = await createMesh({ service: 'registered', controlPlane, ready: { timeoutMs: 30_000 }, drain: { drainDelayMs: 0 } });
    meshes.push(client, server);
    await server.serve((_req, res) => res.end('registered'), { port: 0 });
    await Promise.all([client.ready(), server.ready()]);
    replicas.push(await startControlPlaneProcess({ configDir: dirs[1]!, xdsPort: portB }));
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(backends.map((s) => new Promise((r) => s.close(r))));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('status says which replica each mesh is connected to, and lists both', () => {
    for (const m of meshes) {
      const st = m.status();
      assert.equal(st.connectedControlPlane, replicas[0]!.xdsAddress);
      assert.deepEqual([...st.controlPlanes].sort(), [replicas[0]!.xdsAddress, `127.0.0.1:${portB}`].sort());
    }
  });

  it('moves to the other replica within 2 s of a SIGKILL, with no failed call, and re-registers there', async (t) => {
    const [a, b] = replicas as [ControlPlaneProcess, ControlPlaneProcess];
    let calls = 0;
    const failures: string[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        try {
          const res = await client.fetch('http://echo/');
          await res.arrayBuffer();
          if (res.status !== 200) failures.push(`HTTP ${res.status}`);
        } catch (e: unknown) {
          failures.push(String(e));
        }
        calls++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    await waitFor(() => calls > 50, 'traffic to flow', 30_000);
    const killedAtMs = Date.now();
    await a.stop('SIGKILL');
    for (const m of meshes) {
      await waitFor(() => m.status().connectedControlPlane === b.xdsAddress, `${m.service} to connect to replica B`, 30_000);
      const connectedAtMs = m.status().discovery?.connectedAtMs ?? Infinity;
      t.diagnostic(`${m.service}: reconnected ${connectedAtMs - killedAtMs} ms after the kill`);
      assert.ok(connectedAtMs - killedAtMs < 2_000, `${m.service} reconnected ${connectedAtMs - killedAtMs} ms after the kill`);
    }
    // Dir-backed replicas share no registry: the server's KeepAlive on B finds no lease, and it registers again there.
    await waitFor(() => (server.status().registrations[0]?.registrations ?? 0) >= 2, 'the server to register a second time', 30_000);
    await waitFor(async () => JSON.stringify((await b.admin('GET', '/v1/endpoints')).body).includes('"registered"'), 'the endpoint registered on B', 30_000);
    const before = calls;
    await waitFor(() => calls > before + 50, 'traffic to go on after the failover', 30_000);
    running = false;
    await traffic;
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed across the failover`);
  });

  it('follows an edit made on the surviving replica', async () => {
    const b2 = await backend('b');
    await writeFile(path.join(dirs[1]!, 'mesh.yaml'), echoYaml([(backends[0]!.address() as AddressInfo).port, b2]));
    await waitFor(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add(((await (await client.fetch('http://echo/')).json()) as { instance: string }).instance);
      return seen.has('b');
    }, 'the new endpoint to take traffic', 30_000);
  });
});
