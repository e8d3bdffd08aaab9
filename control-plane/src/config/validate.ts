// Checks a whole configuration: duplicates, references between resources, and the rules a schema cannot express
// (unique names, regexes that compile, rules whose weights are all zero). Returns every error; never throws.
import type { ConfigError, ConfigResource } from '../model.js';
import { closest, formatFieldPath, type FieldPath } from './issues.js';
import {
  destinationPolicies,
  concurrencyLimits,
  faultInjections,
  keyOf,
  routes,
  services,
  type DestinationPolicyResource,
  type FaultInjectionResource,
  type RouteResource,
  type ServiceResource,
} from './mesh-config.js';
import { checkRegex, grpcMethodPattern } from './regex.js';
import type { FilterKind } from './rule-filters-schema.js';
import { checkInboundPolicies } from './validate-inbound.js';
import { checkTelemetries } from './validate-telemetry.js';
import { nonIdempotentRules, RETRY_NON_IDEMPOTENT_ANNOTATION } from './retry-schema.js';
import type { BackendRef, HeaderMatch, ParentRef } from './schema.js';

/**
 * Validates `resources` as one configuration (the whole set that would be served). An empty result means valid.
 * Errors name the file, `Kind/name` and field of the resource at fault; a duplicate is reported on its second
 * definition and names both files.
 */
export function validateConfig(resources: readonly ConfigResource[]): ConfigError[] {
  const errors: ConfigError[] = [];
  const seen = new Map<string, ConfigResource>();
  const unique: ConfigResource[] = [];
  for (const r of resources) {
    const key = keyOf(r);
    const first = seen.get(key);
    if (first) {
      const where = first.source === r.source ? `twice in ${r.source}` : `in both ${first.source} and ${r.source}`;
      errors.push({ file: r.source, resource: key, message: `is defined ${where}; keep one definition` });
      continue;
    }
    seen.set(key, r);
    unique.push(r);
  }
  const byName = new Map(services(unique).map((s) => [s.metadata.name, s]));
  for (const svc of byName.values()) errors.push(...checkService(svc));
  const faults = new Map(faultInjections(unique).map((f) => [f.metadata.name, f]));
  const filterTargets = new Map<FilterKind, ReadonlySet<string>>([
    ['FaultInjection', new Set(faults.keys())],
    ['ConcurrencyLimit', new Set(concurrencyLimits(unique).map((l) => l.metadata.name))],
  ]);
  for (const route of routes(unique)) errors.push(...checkRoute(route, byName), ...checkFilters(route, filterTargets));
  for (const fault of faults.values()) errors.push(...checkHeaders(fault, fault.spec.headers, ['spec', 'headers'], true));
  errors.push(...checkDestinationPolicies(destinationPolicies(unique), byName));
  errors.push(...checkInboundPolicies(unique, byName));
  errors.push(...checkTelemetries(unique, byName));
  return errors;
}

/** Each DestinationPolicy must target a Service that exists, and a Service may have only one. */
function checkDestinationPolicies(list: readonly DestinationPolicyResource[], svcs: ReadonlyMap<string, ServiceResource>): ConfigError[] {
  const errors: ConfigError[] = [];
  const owner = new Map<string, DestinationPolicyResource>();
  for (const policy of list) {
    const name = policy.spec.targetRef.name;
    if (!svcs.has(name)) {
      const guess = closest(name, [...svcs.keys()]);
      errors.push({
        ...place(policy, ['spec', 'targetRef', 'name']),
        message: `no Service named "${name}" in the configuration${guess ? ` (did you mean "${guess}"?)` : ''}`,
      });
      continue;
    }
    const first = owner.get(name);
    if (first !== undefined) {
      errors.push({
        ...place(policy, ['spec', 'targetRef', 'name']),
        message: `Service "${name}" already has ${keyOf(first)}; a Service takes one DestinationPolicy (merge them)`,
      });
    } else owner.set(name, policy);
  }
  return errors;
}

function place(r: ConfigResource, path: FieldPath): { file: string; resource: string; field: string } {
  return { file: r.source, resource: keyOf(r), field: formatFieldPath(path) };
}

function checkService(svc: ServiceResource): ConfigError[] {
  const errors: ConfigError[] = [];
  const names = new Map<string, number>();
  const numbers = new Map<number, number>();
  svc.spec.ports.forEach((p, i) => {
    const sameName = names.get(p.name);
    if (sameName !== undefined) {
      errors.push({ ...place(svc, ['spec', 'ports', i, 'name']), message: `port name "${p.name}" is also used by ports[${sameName}]` });
    } else names.set(p.name, i);
    const sameNumber = numbers.get(p.port);
    if (sameNumber !== undefined) {
      errors.push({ ...place(svc, ['spec', 'ports', i, 'port']), message: `port ${p.port} is also declared by ports[${sameNumber}]` });
    } else numbers.set(p.port, i);
  });
  const endpoints = new Map<string, number>();
  svc.spec.endpoints.forEach((e, i) => {
    const portName = e.portName ?? svc.spec.ports[0]?.name ?? '';
    if (e.portName !== undefined && !names.has(e.portName)) {
      errors.push({
        ...place(svc, ['spec', 'endpoints', i, 'portName']),
        message: `the Service has no port named "${e.portName}" (ports: ${svc.spec.ports.map((p) => p.name).join(', ')})`,
      });
    }
    const key = `${portName} ${e.address} ${e.port}`;
    const same = endpoints.get(key);
    if (same !== undefined) {
      errors.push({ ...place(svc, ['spec', 'endpoints', i]), message: `endpoint ${e.address}:${e.port} is listed twice (also endpoints[${same}])` });
    } else endpoints.set(key, i);
  });
  return errors;
}

function checkRoute(route: RouteResource, svcs: ReadonlyMap<string, ServiceResource>): ConfigError[] {
  const errors: ConfigError[] = [];
  route.spec.parentRefs.forEach((ref, i) => {
    errors.push(...checkRef(route, ref, ['spec', 'parentRefs', i], svcs));
  });
  const optIn = nonIdempotentRules(route.metadata.annotations?.[RETRY_NON_IDEMPOTENT_ANNOTATION], route.spec.rules.length);
  if ('error' in optIn) {
    errors.push({ ...place(route, ['metadata', 'annotations', RETRY_NON_IDEMPOTENT_ANNOTATION]), message: optIn.error });
  }
  route.spec.rules.forEach((rule, i) => {
    const rulePath: FieldPath = ['spec', 'rules', i];
    rule.backendRefs.forEach((ref, k) => {
      errors.push(...checkRef(route, ref, [...rulePath, 'backendRefs', k], svcs));
    });
    if (rule.backendRefs.length > 0 && rule.backendRefs.every((b: BackendRef) => b.weight === 0)) {
      errors.push({
        ...place(route, [...rulePath, 'backendRefs']),
        message: 'every backendRef has weight 0, so the rule would send traffic nowhere; give at least one a weight above 0',
      });
    }
    rule.matches.forEach((match, j) => {
      const matchPath: FieldPath = [...rulePath, 'matches', j];
      errors.push(...checkHeaders(route, match.headers, [...matchPath, 'headers'], true));
      if ('queryParams' in match) {
        errors.push(...checkHeaders(route, match.queryParams, [...matchPath, 'queryParams'], false));
        if (match.path.type === 'RegularExpression') {
          errors.push(...checkPattern(route, match.path.value, [...matchPath, 'path', 'value']));
        }
      }
      if ('method' in match && typeof match.method === 'object' && match.method.type === 'RegularExpression') {
        const m = match.method;
        const parts = [
          ...(m.service !== undefined ? checkPattern(route, m.service, [...matchPath, 'method', 'service']) : []),
          ...(m.method !== undefined ? checkPattern(route, m.method, [...matchPath, 'method', 'method']) : []),
        ];
        errors.push(...parts);
        // Parts valid alone can still combine badly ((?i) in one part only); the SDK gets the combination.
        const combined = parts.length === 0 ? checkPattern(route, grpcMethodPattern(m.service, m.method), [...matchPath, 'method']) : [];
        errors.push(...combined.map((e) => ({ ...e, message: `service and method combined as ${grpcMethodPattern(m.service, m.method)} ${e.message}` })));
      }
    });
  });
  return errors;
}

/** Every rule filter must name a resource of its kind that exists (ExtensionRef: FaultInjection, ConcurrencyLimit). */
function checkFilters(route: RouteResource, known: ReadonlyMap<FilterKind, ReadonlySet<string>>): ConfigError[] {
  const errors: ConfigError[] = [];
  route.spec.rules.forEach((rule, i) => {
    (rule.filters ?? []).forEach((f, k) => {
      const { kind, name } = f.extensionRef;
      const names = known.get(kind) ?? new Set<string>();
      if (names.has(name)) return;
      const guess = closest(name, [...names]);
      const hint = guess ? ` (did you mean "${guess}"?)` : '';
      errors.push({
        ...place(route, ['spec', 'rules', i, 'filters', k, 'extensionRef', 'name']),
        message: `no ${kind} named "${name}" in the configuration${hint}`,
      });
    });
  });
  return errors;
}

function checkRef(
  route: RouteResource,
  ref: ParentRef | BackendRef,
  path: FieldPath,
  svcs: ReadonlyMap<string, ServiceResource>,
): ConfigError[] {
  const svc = svcs.get(ref.name);
  if (!svc) {
    const guess = closest(ref.name, [...svcs.keys()]);
    const hint = guess ? ` (did you mean "${guess}"?)` : '';
    return [{ ...place(route, [...path, 'name']), message: `no Service named "${ref.name}" in the configuration${hint}` }];
  }
  if (ref.port !== undefined && !svc.spec.ports.some((p) => p.port === ref.port)) {
    const declared = svc.spec.ports.map((p) => p.port).join(', ');
    return [{ ...place(route, [...path, 'port']), message: `Service "${ref.name}" declares no port ${ref.port} (its ports: ${declared})` }];
  }
  return [];
}

function checkHeaders(route: RouteResource | FaultInjectionResource, list: readonly HeaderMatch[], path: FieldPath, caseInsensitive: boolean): ConfigError[] {
  const errors: ConfigError[] = [];
  const seen = new Map<string, number>();
  list.forEach((h, k) => {
    const name = caseInsensitive ? h.name.toLowerCase() : h.name;
    const first = seen.get(name);
    if (first !== undefined) {
      const what = caseInsensitive ? 'header (names are case-insensitive)' : 'query parameter';
      errors.push({ ...place(route, [...path, k, 'name']), message: `"${h.name}" repeats the ${what} of entry ${first}; combine them into one condition` });
    } else seen.set(name, k);
    if (h.type === 'RegularExpression') errors.push(...checkPattern(route, h.value, [...path, k, 'value']));
  });
  return errors;
}

function checkPattern(route: RouteResource | FaultInjectionResource, pattern: string, path: FieldPath): ConfigError[] {
  const problem = checkRegex(pattern);
  return problem ? [{ ...place(route, path), message: problem }] : [];
}
