// The data the control plane's parts hand each other: config resources, errors, registered endpoints, xDS resource sets.
import type { Disposable } from '../../src/core/watch.js';
import type { ERROR_CODES } from '../../src/core/errors.js';
import type { ProtoObject, ResourceTypeUrl } from '../../src/discovery/xds/protos.js';

/** Where and why a piece of configuration was refused. Every field that is known is set. */
export interface ConfigError {
  /** File the resource came from (path as given), or `<apply>` for text sent to the admin API. */
  readonly file?: string;
  /** `Kind/name` of the resource, e.g. `HTTPRoute/payments-split`. */
  readonly resource?: string;
  /** Dotted path inside the resource, e.g. `spec.rules[0].backendRefs[1].weight`. */
  readonly field?: string;
  /** Why, in words a user can act on. */
  readonly message: string;
}

/** Formats an error as one line: `file: Kind/name: field: message` (missing parts left out). */
export function formatConfigError(e: ConfigError): string {
  return [e.file, e.resource, e.field, e.message].filter((part) => part !== undefined && part !== '').join(': ');
}

/** Kubernetes-style metadata Weft reads. */
export interface ResourceMetadata {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Annotations Weft reads (e.g. `retry.weft.dev/non-idempotent`); the rest are kept and ignored. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** One validated configuration resource, as written by the user, plus where it came from. */
export interface ConfigResource<K extends string = string, S = unknown> {
  readonly apiVersion: string;
  readonly kind: K;
  readonly metadata: ResourceMetadata;
  readonly spec: S;
  /** File it was read from, or `<apply>`. */
  readonly source: string;
}

/** A whole, validated, internally consistent configuration. Immutable. */
export interface MeshConfig {
  /** Increases by one every time a new configuration is accepted. */
  readonly generation: number;
  /** Every resource, sorted by kind then name. */
  readonly resources: readonly ConfigResource[];
}

/** The result of applying or deleting: the new config, or every error found (nothing was changed then). */
export type ConfigChange =
  | { readonly ok: true; readonly config: MeshConfig; readonly changed: readonly string[] }
  | {
      readonly ok: false;
      readonly errors: readonly ConfigError[];
      /** Set when the backing store could not be reached: nothing is wrong with the edit, retry it later. */
      readonly code?: typeof ERROR_CODES.STORE_UNAVAILABLE;
    };

/** Holds the desired configuration; the embedded default keeps it in a directory of YAML files. */
export interface ConfigStore {
  /** The last good configuration. */
  current(): MeshConfig;
  /** Errors of the last refused reload from the backing store (e.g. a bad file edited by hand), if any. */
  lastErrors(): readonly ConfigError[];
  /** Called with every newly accepted configuration (never synchronously inside onChange). */
  onChange(fn: (config: MeshConfig) => void): Disposable;
  /** Validates `yamlText` (one or more documents) against the whole config and stores it, or changes nothing. */
  apply(yamlText: string, source?: string): Promise<ConfigChange>;
  /** Deletes `kind/name`, or changes nothing if that would leave the config invalid (e.g. a route still names it). */
  delete(kind: string, name: string): Promise<ConfigChange>;
  /** Stops watching. Idempotent. */
  close(): Promise<void>;
}

/** An endpoint registered by an SDK server under a lease. */
export interface RegisteredEndpoint {
  readonly leaseId: string;
  readonly service: string;
  /** Service port name it serves ('' = the Service's first port). */
  readonly portName: string;
  readonly address: string;
  readonly port: number;
  readonly nodeId: string;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly expiresAtMs: number;
}

/** An xDS resource in proto JSON form with its `'@type'` (see src/discovery/xds/protos.ts). */
export type XdsResource = ProtoObject & { readonly '@type': string };

/** Every resource the control plane serves, by type URL then resource name. Immutable. */
export type XdsResources = { readonly [K in ResourceTypeUrl]: ReadonlyMap<string, XdsResource> };
