// The edit scenario of the scale benchmark and of the harness's smoke test: a mesh of `hub` (the Service whose route
// is edited), hub-a, hub-b and app-0..app-(S-1); client i runs app-(i mod S) and calls `hub` and the next app, so
// every edit reaches every client and there are S distinct node views.
import { markerPath, type SimClientSpec } from './sim-client.js';

/** What a run of the edit scenario needs. */
export interface EditScenario {
  /** The config directory's files (name → YAML). */
  readonly files: Readonly<Record<string, string>>;
  /** The HTTPRoute of `hub` at edit `n` (n ≥ 1 carries the marker of n; `files` holds edit 0). */
  edit(n: number): string;
  /** The first `count` clients. */
  specs(count: number): SimClientSpec[];
}

/** The edit scenario over `services` app Services (≥ 1). */
export function editScenario(services: number): EditScenario {
  const serviceYaml = (name: string, port: number) =>
    `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 80 }]\n  endpoints: [{ address: 127.0.0.1, port: ${port} }]\n`;
  const edit = (n: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: hub-route }
spec:
  parentRefs: [{ kind: Service, name: hub }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: ${markerPath(n)} } }]
      backendRefs: [{ name: ${n % 2 === 0 ? 'hub-a' : 'hub-b'}, port: 80 }]
    - backendRefs: [{ name: hub, port: 80 }]
`;
  const names = ['hub', 'hub-a', 'hub-b', ...Array.from({ length: services }, (_, i) => `app-${i}`)];
  return {
    files: { 'services.yaml': names.map((n, i) => serviceYaml(n, 20_000 + i)).join('---\n'), 'route.yaml': edit(0) },
    edit,
    specs: (count) => Array.from({ length: count }, (_, id) => ({ id, service: `app-${id % services}`, dependsOn: ['hub', `app-${(id + 1) % services}`], port: 80 })),
  };
}
