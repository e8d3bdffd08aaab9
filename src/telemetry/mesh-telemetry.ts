// What every traced or logged request needs from its mesh: the tracing switch, the access-log writer and the
// service name. One per mesh, made at createMesh().
import { AccessLogWriter, type AccessLogOptions } from './access-log.js';
import { Tracing } from './tracing.js';

/** The telemetry of one mesh (shared by its HTTP and gRPC clients and servers). */
export interface MeshTelemetry {
  readonly service: string;
  readonly tracing: Tracing;
  /** The access-log writer; lines are written only where a Telemetry switched access logs on. */
  readonly log: AccessLogWriter;
}

/** Makes the telemetry of a mesh for `service`, with access logs going to `accessLog` (default stdout). */
export function createMeshTelemetry(service: string, accessLog: AccessLogOptions = {}): MeshTelemetry {
  return Object.freeze({ service, tracing: new Tracing(), log: new AccessLogWriter(accessLog) });
}
