// Builds the ClusterLoadAssignment of one Service port from registered and static endpoints, grouped by locality
// (docs/xds-mapping.md "ClusterLoadAssignment").
import type { ServiceResource } from '../config/mesh-config.js';
import type { RegisteredEndpoint, XdsResource } from '../model.js';
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import { clusterName, compareStrings } from './names.js';
import { TLS_MODE_LABEL, TLS_MODE_WEFT } from '../../../src/identity/mtls-wire.js';
import { TLS_ENDPOINT_METADATA } from './mtls.js';

/** Largest endpoint weight sent; larger ones are clamped so a locality's sum stays far below UINT32_MAX. */
export const MAX_ENDPOINT_WEIGHT = 1_000_000;

/** An endpoint of one cluster, whatever its origin. */
interface Member {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
  /** Sort tie-breaker: static endpoints first, then by lease id. */
  readonly origin: string;
  /** True for a Weft server that registered as serving mTLS (TLS_MODE_LABEL): its endpoint says `tlsMode: weft`. */
  readonly tls: boolean;
}

/**
 * The ClusterLoadAssignment of `service`'s port `portIndex`: its registered endpoints (`portName` equal to the
 * port's name, or '' for the first port) plus its static endpoints (`portName` omitted = first port).
 * One LocalityLbEndpoints per locality (sorted), priority 0, `load_balancing_weight` = sum of its endpoints'
 * weights; each endpoint HEALTHY with weight clamped to [1, MAX_ENDPOINT_WEIGHT], and the `tlsMode: weft` metadata
 * when its server registered as serving mTLS. An address:port listed twice is
 * sent once (xDS clients refuse duplicates): the static entry wins, then the lowest lease id.
 */
export function buildLoadAssignment(
  service: ServiceResource,
  portIndex: number,
  registered: readonly RegisteredEndpoint[],
): XdsResource {
  const port = service.spec.ports[portIndex]!;
  const isFirst = portIndex === 0;
  const members: Member[] = [];
  for (const e of service.spec.endpoints) {
    if ((e.portName ?? service.spec.ports[0]!.name) !== port.name) continue;
    members.push({ address: e.address, port: e.port, weight: clampWeight(e.weight), ...e.locality, origin: '', tls: false });
  }
  for (const e of registered) {
    if (e.service !== service.metadata.name) continue;
    if (!(e.portName === port.name || (e.portName === '' && isFirst))) continue;
    members.push({ address: e.address, port: e.port, weight: clampWeight(e.weight), ...e.locality, origin: `lease:${e.leaseId}`, tls: e.labels[TLS_MODE_LABEL] === TLS_MODE_WEFT });
  }
  members.sort(
    (a, b) =>
      compareStrings(a.region, b.region) ||
      compareStrings(a.zone, b.zone) ||
      compareStrings(a.subZone, b.subZone) ||
      compareStrings(a.address, b.address) ||
      a.port - b.port ||
      compareStrings(a.origin, b.origin),
  );

  const groups = new Map<string, { locality: ProtoObject; weight: number; lbEndpoints: ProtoObject[] }>();
  for (const m of dedupe(members)) {
    const key = `${m.region}\u0000${m.zone}\u0000${m.subZone}`;
    let group = groups.get(key);
    if (!group) {
      group = { locality: { region: m.region, zone: m.zone, sub_zone: m.subZone }, weight: 0, lbEndpoints: [] };
      groups.set(key, group);
    }
    group.weight += m.weight;
    group.lbEndpoints.push({
      endpoint: { address: { socket_address: { address: m.address, port_value: m.port } } },
      health_status: 'HEALTHY',
      load_balancing_weight: { value: m.weight },
      ...(m.tls && { metadata: TLS_ENDPOINT_METADATA }),
    });
  }
  return {
    '@type': TYPE_URL.clusterLoadAssignment,
    cluster_name: clusterName(service.metadata.name, port.port),
    endpoints: [...groups.values()].map((g) => ({
      locality: g.locality,
      load_balancing_weight: { value: g.weight },
      priority: 0,
      lb_endpoints: g.lbEndpoints,
    })),
  };
}

/** Keeps the first of each address:port across localities: static first, then lowest lease id. */
function dedupe(members: readonly Member[]): Member[] {
  const best = new Map<string, Member>();
  for (const m of members) {
    const key = `${m.address} ${m.port}`;
    const cur = best.get(key);
    if (!cur || compareStrings(m.origin, cur.origin) < 0) best.set(key, m);
  }
  return members.filter((m) => best.get(`${m.address} ${m.port}`) === m);
}

function clampWeight(weight: number): number {
  if (!Number.isFinite(weight) || weight < 1) return 1;
  return Math.min(Math.floor(weight), MAX_ENDPOINT_WEIGHT);
}
