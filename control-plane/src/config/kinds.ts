// The configuration kinds Weft knows: their apiVersion, the names a user may type for them, and their file names.

/** A kind Weft accepts in its configuration. */
export type ConfigKind =
  | 'Service'
  | 'HTTPRoute'
  | 'GRPCRoute'
  | 'FaultInjection'
  | 'ConcurrencyLimit'
  | 'DestinationPolicy'
  | 'AuthorizationPolicy'
  | 'RequestAuthentication'
  | 'LocalRateLimit'
  | 'PeerAuthentication'
  | 'Telemetry';

/** What Weft knows about one kind. */
export interface KindInfo {
  readonly kind: ConfigKind;
  /** The one apiVersion accepted for this kind. */
  readonly apiVersion: string;
  /** Lower-case names accepted by `delete` and the CLI (`svc`, `httproutes`...), the kind itself included. */
  readonly aliases: readonly string[];
}

/** Every kind, in the order they are listed to users. */
export const KINDS: readonly KindInfo[] = Object.freeze([
  { kind: 'Service', apiVersion: 'weft.dev/v1alpha1', aliases: ['service', 'services', 'svc'] },
  { kind: 'HTTPRoute', apiVersion: 'gateway.networking.k8s.io/v1', aliases: ['httproute', 'httproutes'] },
  { kind: 'GRPCRoute', apiVersion: 'gateway.networking.k8s.io/v1', aliases: ['grpcroute', 'grpcroutes'] },
  { kind: 'FaultInjection', apiVersion: 'weft.dev/v1alpha1', aliases: ['faultinjection', 'faultinjections', 'fault', 'faults'] },
  { kind: 'ConcurrencyLimit', apiVersion: 'weft.dev/v1alpha1', aliases: ['concurrencylimit', 'concurrencylimits', 'limit', 'limits'] },
  { kind: 'DestinationPolicy', apiVersion: 'weft.dev/v1alpha1', aliases: ['destinationpolicy', 'destinationpolicies', 'dp'] },
  { kind: 'AuthorizationPolicy', apiVersion: 'weft.dev/v1alpha1', aliases: ['authorizationpolicy', 'authorizationpolicies', 'authz', 'ap'] },
  { kind: 'RequestAuthentication', apiVersion: 'weft.dev/v1alpha1', aliases: ['requestauthentication', 'requestauthentications', 'ra'] },
  { kind: 'LocalRateLimit', apiVersion: 'weft.dev/v1alpha1', aliases: ['localratelimit', 'localratelimits', 'ratelimit', 'rl'] },
  { kind: 'PeerAuthentication', apiVersion: 'weft.dev/v1alpha1', aliases: ['peerauthentication', 'peerauthentications', 'pa', 'mtls'] },
  { kind: 'Telemetry', apiVersion: 'weft.dev/v1alpha1', aliases: ['telemetry', 'telemetries'] },
] as const);

/** Returns the info of `kind` spelled exactly (`HTTPRoute`), or undefined. */
export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/**
 * Resolves what a user typed (`HTTPRoute`, `httproute`, `httproutes`, `svc`, `services`, `grpcroute`...),
 * case-insensitively, to a kind; undefined if it names none.
 */
export function resolveKind(alias: string): ConfigKind | undefined {
  const lower = alias.trim().toLowerCase();
  return KINDS.find((k) => k.aliases.includes(lower))?.kind;
}

/** `Service (weft.dev/v1alpha1), HTTPRoute (gateway.networking.k8s.io/v1), ...`: for error messages. */
export function describeKnownKinds(): string {
  return KINDS.map((k) => `${k.kind} (${k.apiVersion})`).join(', ');
}

/** `Kind/name`, the key that identifies a resource everywhere (errors, `changed`, route names). */
export function resourceKey(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/** The file the directory store writes a resource to: `<kind-lower>-<name>.yaml`. */
export function resourceFileName(kind: string, name: string): string {
  return `${kind.toLowerCase()}-${name}.yaml`;
}
