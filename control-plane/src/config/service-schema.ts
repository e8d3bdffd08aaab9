// Schema and types of Weft's own `Service` kind (weft.dev/v1alpha1): a mesh name, its ports and optional static endpoints.
import { z } from 'zod';
import { dnsLabel, ipLiteral, portNumber } from './schema.js';

/** Application protocol of a port. Informational today (shown by tools); routing is the same for both. */
export type PortProtocol = 'HTTP' | 'GRPC';

/** One declared port; it becomes the Listener `<service>:<port>` and the Cluster `<service>:<port>`. */
export interface ServicePort {
  /** DNS-1123 label, unique in the Service; registered endpoints name it (`portName`). */
  readonly name: string;
  /** 1..65535, unique in the Service. The port callers use in `http://<service>:<port>`. */
  readonly port: number;
  /** Default HTTP. */
  readonly protocol: PortProtocol;
}

/** Locality of an endpoint (Envoy Locality); every part defaults to ''. */
export interface EndpointLocality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** A backend written in configuration, for processes that are not in the mesh (no registration). */
export interface StaticEndpoint {
  /** IP literal. */
  readonly address: string;
  /** Port the backend listens on. */
  readonly port: number;
  /** Which Service port it serves; omitted = the first declared port. */
  readonly portName?: string;
  /** Relative load-balancing weight, 1..1000000, default 1. */
  readonly weight: number;
  readonly locality: EndpointLocality;
}

/** `spec` of a Service. */
export interface ServiceSpec {
  /** At least one. The first is the default for backendRefs without a port and for endpoints without a portName. */
  readonly ports: readonly ServicePort[];
  /** Static endpoints, added to the registered ones. Default none. */
  readonly endpoints: readonly StaticEndpoint[];
  /**
   * Kubernetes `Service.spec.trafficDistribution`: `PreferClose` makes callers send to endpoints in their own zone
   * while it has an available one, and to other zones otherwise. Absent = every zone alike.
   */
  readonly trafficDistribution?: 'PreferClose';
}

const localitySchema = z.strictObject({
  region: z.string().default(''),
  zone: z.string().default(''),
  subZone: z.string().default(''),
});

/** `spec` schema of a Service (uniqueness and portName references are checked in validate.ts). */
export const serviceSpecSchema: z.ZodType<ServiceSpec> = z.strictObject({
  ports: z
    .array(
      z.strictObject({
        name: dnsLabel,
        port: portNumber,
        protocol: z.enum(['HTTP', 'GRPC']).default('HTTP'),
      }),
    )
    .min(1, { error: 'needs at least one port' }),
  endpoints: z
    .array(
      z.strictObject({
        address: ipLiteral,
        port: portNumber,
        portName: dnsLabel.optional(),
        weight: z.number().int().min(1).max(1_000_000).default(1),
        locality: localitySchema.prefault({}),
      }),
    )
    .default([]),
  trafficDistribution: z.enum(['PreferClose']).optional(),
});

/** A Service's name is a DNS-1123 label: it is the host callers use (`http://payments/`). */
export const serviceNameSchema = dnsLabel;
