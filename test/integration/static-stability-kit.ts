// The world of the static-stability tests: a control plane in its own process (so it can be killed), HTTP and gRPC
// backends with a canary route each, and the YAML to edit those routes.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serviceYaml, spawnFixture, waitFor, type TestProcess } from './helpers.js';

/** HTTPRoute `web` and GRPCRoute `echo`: `x-canary: yes` goes to the v2 backend; other HTTP calls to `httpDefault`. */
export const ROUTES = (httpDefault: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{ kind: Service, name: web }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: web-v2, port: 8080 }]
    - backendRefs: [{ name: ${httpDefault}, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: echo-v2, port: 50051 }]
    - backendRefs: [{ name: echo-v1, port: 50051 }]
`;

/** What the control-plane fixture prints when it serves. */
export interface CpLine {
  readonly xdsUrl: string;
  readonly adminUrl: string;
  readonly adminToken: string;
}

/** A running world: HTTP backends h1 (web-v1) and h2 (web-v2), gRPC backends g1 (echo-v1) and g2 (echo-v2). */
export interface StaticWorld {
  readonly configDir: string;
  /** The latest control plane's addresses. */
  readonly cp: CpLine;
  /** Starts the control plane process on `port` (0 = any) over the same config and state. */
  startCp(port: number): Promise<CpLine>;
  /** SIGKILLs the control plane process (a crash: nothing is flushed). */
  killCp(): Promise<void>;
  /** Replaces routes.yaml (read by the next control plane, or live by a running one). */
  writeRoutes(httpDefault: string): Promise<void>;
  close(): Promise<void>;
}

/** Starts the control plane and the four backends, and waits until the registry has saved all four leases. */
export async function startStaticWorld(): Promise<StaticWorld> {
  const configDir = await mkdtemp(path.join(tmpdir(), 'weft-static-cp-'));
  const services = [...['web', 'web-v1', 'web-v2'].map((s) => serviceYaml(s)), ...['echo', 'echo-v1', 'echo-v2'].map((s) => serviceYaml(s, 'GRPC', 50051))];
  await writeFile(path.join(configDir, 'services.yaml'), services.join('---\n'));
  await writeFile(path.join(configDir, 'routes.yaml'), ROUTES('web-v1'));
  let cpProcess: TestProcess | undefined;
  let cp: CpLine | undefined;
  const backends: TestProcess[] = [];
  const world: StaticWorld = {
    configDir,
    get cp() {
      if (cp === undefined) throw new Error('no control plane started yet');
      return cp;
    },
    async startCp(port) {
      cpProcess = spawnFixture('test/integration/fixtures/control-plane.ts', { CONFIG_DIR: configDir, XDS_PORT: String(port) });
      cp = await cpProcess.waitForLine<CpLine>((l) => l['type'] === 'ready');
      return cp;
    },
    async killCp() {
      await cpProcess?.stop('SIGKILL');
      cpProcess = undefined;
    },
    writeRoutes: (httpDefault) => writeFile(path.join(configDir, 'routes.yaml'), ROUTES(httpDefault)),
    async close() {
      await Promise.all(backends.map((b) => b.stop('SIGKILL')));
      await world.killCp();
      await rm(configDir, { recursive: true, force: true });
    },
  };
  try {
    const env = { WEFT_CONTROL_PLANE: (await world.startCp(0)).xdsUrl };
    backends.push(spawnFixture('test/integration/fixtures/static-backends.ts', env));
    await Promise.all(backends.map((b) => b.waitForLine((l) => l['type'] === 'ready')));
    // The control plane keeps its registry on disk: a kill before all four leases are saved would lose endpoints.
    await waitFor(async () => {
      const text = await readFile(path.join(configDir, '.weft', 'registry.json'), 'utf8').catch(() => '');
      return ['web-v1', 'web-v2', 'echo-v1', 'echo-v2'].every((s) => text.includes(`"${s}"`));
    }, 'the registry state to hold every backend', 30_000);
    return world;
  } catch (e: unknown) {
    await world.close();
    throw e;
  }
}
