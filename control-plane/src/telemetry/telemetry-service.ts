// Serves weft.telemetry.v1.Telemetry (proto/weft/telemetry/v1/telemetry.proto): checks each traffic report and hands it
// to the TrafficAggregator.
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS, type RouteTraffic } from '../../../src/telemetry/traffic-summary.js';
import type { RegistryAuth } from '../registry/registry-service.js';
import type { TrafficAggregator } from './traffic-aggregator.js';
import type { TrafficReport } from './traffic-views.js';

/** Longest node id, service, instance, peer or route name accepted (characters). */
export const MAX_NAME_LENGTH = 256;

/**
 * grpc-js handlers of weft.telemetry.v1.Telemetry. With `auth`, a report is authenticated exactly as Registry calls
 * are (refused UNAUTHENTICATED), and an authenticated workload may report only for its own service
 * (PERMISSION_DENIED). A malformed report (missing node id or service, more than MAX_TRAFFIC_ROWS rows, a latency
 * histogram that is not buckets + 1 long, a negative or non-integer counter) is refused INVALID_ARGUMENT naming the field.
 */
export function telemetryHandlers(aggregator: TrafficAggregator, logger: Logger = NOOP_LOGGER, auth?: RegistryAuth): grpc.UntypedServiceImplementation {
  const Report: grpc.handleUnaryCall<ProtoObject, ProtoObject> = (call, callback) => {
    const accept = (identity: string, allowed: (service: string) => boolean) => {
      const parsed = parseReport(call.request, identity);
      if ('error' in parsed) return callback({ code: grpc.status.INVALID_ARGUMENT, details: parsed.error });
      if (!allowed(parsed.report.service)) return;
      aggregator.record(parsed.report);
      callback(null, {});
    };
    if (auth === undefined) return accept('', () => true);
    auth.authenticate(call.metadata, call.getPeer(), 'telemetry Report').then(
      (result) => {
        if (!result.ok) return callback({ code: grpc.status.UNAUTHENTICATED, details: result.error });
        const caller = result.caller;
        if (!caller.authenticated) return accept('', () => true);
        accept(caller.spiffeId, (service) => {
          const ns = auth.namespaceOf?.(service);
          if (caller.id.service === service && (ns === undefined || ns === caller.id.namespace)) return true;
          logger.warn('telemetry: caller may not report for another service', { peer: caller.peer, identity: caller.spiffeId, service });
          callback({ code: grpc.status.PERMISSION_DENIED, details: `${caller.spiffeId} may report only its own service's traffic, not '${service}'s` });
          return false;
        });
      },
      (e: unknown) => callback({ code: grpc.status.INTERNAL, details: `authentication failed: ${String(e)}` }),
    );
  };
  return { Report };
}

/** Adds the Telemetry service feeding `aggregator` to `server` (authenticated with `auth` when given). */
export function addTelemetryService(server: grpc.Server, aggregator: TrafficAggregator, logger?: Logger, auth?: RegistryAuth): void {
  server.addService(protos().telemetryService, telemetryHandlers(aggregator, logger, auth));
}

/** Checks a decoded ReportRequest; returns the report or what is wrong with it. */
export function parseReport(request: ProtoObject, identity: string): { report: TrafficReport } | { error: string } {
  const nodeId = str(request['node_id']);
  const service = str(request['service']);
  if (nodeId === '' || nodeId.length > MAX_NAME_LENGTH) return { error: `node_id: required, at most ${MAX_NAME_LENGTH} characters` };
  if (service === '' || service.length > MAX_NAME_LENGTH) return { error: `service: required, at most ${MAX_NAME_LENGTH} characters` };
  const rows = Array.isArray(request['traffic']) ? (request['traffic'] as unknown[]) : [];
  if (rows.length > MAX_TRAFFIC_ROWS) return { error: `traffic: ${rows.length} rows, at most ${MAX_TRAFFIC_ROWS} allowed (fold the rest into route '*')` };
  const traffic: RouteTraffic[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as ProtoObject;
    const field = `traffic[${i}]`;
    const direction = r['direction'] === 'INBOUND' ? 'inbound' : r['direction'] === 'OUTBOUND' ? 'outbound' : undefined;
    if (direction === undefined) return { error: `${field}.direction: must be INBOUND or OUTBOUND` };
    const protocol = r['protocol'] === 'GRPC' ? 'grpc' : 'http';
    const peer = str(r['peer']);
    const route = str(r['route']);
    if (peer.length > MAX_NAME_LENGTH || route.length > MAX_NAME_LENGTH) return { error: `${field}: peer and route are at most ${MAX_NAME_LENGTH} characters` };
    const latencyIn = Array.isArray(r['latency']) ? (r['latency'] as unknown[]) : [];
    if (latencyIn.length !== LATENCY_BUCKETS_MS.length + 1) return { error: `${field}.latency: ${latencyIn.length} counts, expected ${LATENCY_BUCKETS_MS.length + 1} (one per bucket and one for larger values)` };
    const counts = [r['requests'], r['failures'], r['retries'], ...latencyIn].map(count);
    if (counts.some((c) => c === undefined)) return { error: `${field}: counters must be whole numbers below 2^53` };
    const [requests, failures, retries, ...latency] = counts as number[];
    traffic.push({ direction, protocol, peer: peer === '' ? 'unknown' : peer, route, requests: requests!, failures: failures!, retries: retries!, latency });
  }
  return {
    report: {
      nodeId,
      service,
      instance: str(request['instance']).slice(0, MAX_NAME_LENGTH),
      startedAtMs: count(request['started_at_ms']) ?? 0,
      certificateExpiresAtMs: count(request['certificate_expires_at_ms']) ?? 0,
      sdkVersion: str(request['sdk_version']).slice(0, 64),
      identity,
      traffic,
    },
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A uint64 as protobufjs decodes it (a string with `longs: String`), as a safe integer. */
function count(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
