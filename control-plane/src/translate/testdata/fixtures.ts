// Test helpers for translate: build a validated MeshConfig from YAML, and registered endpoints with defaults.
import { createMeshConfig } from '../../config/mesh-config.js';
import { parseConfigText } from '../../config/parse.js';
import { validateConfig } from '../../config/validate.js';
import { formatConfigError, type MeshConfig, type RegisteredEndpoint } from '../../model.js';

/** Parses and validates `yaml` (throws if it is not a valid config) into a MeshConfig of generation 1. */
export function meshConfig(yaml: string): MeshConfig {
  const { resources, errors } = parseConfigText(yaml, 'test.yaml');
  const all = errors.length > 0 ? errors : validateConfig(resources);
  if (all.length > 0) throw new Error(`invalid test fixture:\n${all.map(formatConfigError).join('\n')}`);
  return createMeshConfig(resources, 1);
}

/** A Service document with the given ports (`name:port` or `name:port:GRPC`) and extra spec lines. */
export function serviceYaml(name: string, ports: readonly string[], extra = ''): string {
  const list = ports
    .map((p) => {
      const [pn, port, protocol] = p.split(':');
      return `{ name: ${pn}, port: ${port}${protocol ? `, protocol: ${protocol}` : ''} }`;
    })
    .join(', ');
  return `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [${list}]\n${extra}---\n`;
}

/** A route document of `kind` attached to `parent`, with `rules` given as YAML lines (indented by 2). */
export function routeYaml(kind: 'HTTPRoute' | 'GRPCRoute', name: string, parent: string, rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1\nkind: ${kind}\nmetadata: { name: ${name} }\nspec:\n  parentRefs: [{ kind: Service, name: ${parent} }]\n  rules:\n${rules}---\n`;
}

let leaseCounter = 0;

/** A registered endpoint with sensible defaults. */
export function registered(partial: Partial<RegisteredEndpoint> & Pick<RegisteredEndpoint, 'service' | 'address' | 'port'>): RegisteredEndpoint {
  return {
    leaseId: `lease-${String(++leaseCounter).padStart(4, '0')}`,
    portName: '',
    nodeId: 'node-1',
    locality: { region: '', zone: '', subZone: '' },
    weight: 1,
    labels: {},
    expiresAtMs: 0,
    ...partial,
  };
}
