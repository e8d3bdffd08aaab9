// Parses multi-document YAML text into typed ConfigResources, collecting every syntax and schema error.
import { parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod';
import type { ConfigError, ConfigResource } from '../model.js';
import { concurrencyLimitSpecSchema } from './concurrency-limit-schema.js';
import { authorizationPolicySpecSchema } from './authorization-policy-schema.js';
import { peerAuthenticationSpecSchema } from './peer-authentication-schema.js';
import { destinationPolicySpecSchema } from './destination-policy-schema.js';
import { faultInjectionSpecSchema } from './fault-injection-schema.js';
import { grpcRouteSpecSchema } from './grpc-route-schema.js';
import { httpRouteSpecSchema } from './http-route-schema.js';
import { issuesToErrors } from './issues.js';
import { describeKnownKinds, kindInfo, resourceKey, type ConfigKind } from './kinds.js';
import { localRateLimitSpecSchema } from './local-rate-limit-schema.js';
import { requestAuthenticationSpecSchema } from './request-authentication-schema.js';
import { dnsSubdomain, resourceSchema } from './schema.js';
import { serviceNameSchema, serviceSpecSchema } from './service-schema.js';
import { telemetrySpecSchema } from './telemetry-schema.js';

const SCHEMAS: Readonly<Record<ConfigKind, z.ZodType>> = {
  Service: resourceSchema(serviceNameSchema, serviceSpecSchema),
  HTTPRoute: resourceSchema(dnsSubdomain, httpRouteSpecSchema),
  GRPCRoute: resourceSchema(dnsSubdomain, grpcRouteSpecSchema),
  FaultInjection: resourceSchema(dnsSubdomain, faultInjectionSpecSchema),
  ConcurrencyLimit: resourceSchema(dnsSubdomain, concurrencyLimitSpecSchema),
  DestinationPolicy: resourceSchema(dnsSubdomain, destinationPolicySpecSchema),
  AuthorizationPolicy: resourceSchema(dnsSubdomain, authorizationPolicySpecSchema),
  RequestAuthentication: resourceSchema(dnsSubdomain, requestAuthenticationSpecSchema),
  LocalRateLimit: resourceSchema(dnsSubdomain, localRateLimitSpecSchema),
  PeerAuthentication: resourceSchema(dnsSubdomain, peerAuthenticationSpecSchema),
  Telemetry: resourceSchema(dnsSubdomain, telemetrySpecSchema),
};

/** A parsed resource with the YAML document it came from (the store writes documents back as written). */
export interface ParsedDocument {
  readonly resource: ConfigResource;
  readonly document: Document;
  /** 1-based position of the document in its text. */
  readonly index: number;
}

/** Result of parseConfigDocuments: the valid resources and every error (a resource with errors is left out). */
export interface ParsedDocuments {
  readonly documents: readonly ParsedDocument[];
  readonly errors: readonly ConfigError[];
}

/**
 * Parses `text` (one or more YAML documents) and checks each document against its kind's schema.
 * `source` names the text in errors (a file path, or `<apply>`). Never throws. Empty documents are skipped.
 */
export function parseConfigText(text: string, source: string): { resources: ConfigResource[]; errors: ConfigError[] } {
  const { documents, errors } = parseConfigDocuments(text, source);
  return { resources: documents.map((d) => d.resource), errors: [...errors] };
}

/** Like parseConfigText, but keeps each resource's YAML document (with its comments) for writing it back. */
export function parseConfigDocuments(text: string, source: string): ParsedDocuments {
  const documents: ParsedDocument[] = [];
  const errors: ConfigError[] = [];
  let docs: Document[];
  try {
    // logLevel 'error': yaml would otherwise report odd input (a mapping used as a key) with process.emitWarning, a
    // process-wide side effect any client of the admin API could trigger; such a key fails the schema by name anyway.
    docs = parseAllDocuments(text, { logLevel: 'error' }) as Document[];
  } catch (e: unknown) {
    return { documents, errors: [{ file: source, message: `YAML syntax error: ${(e as Error).message}` }] };
  }
  if (!Array.isArray(docs)) docs = [docs];
  docs.forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push({ file: source, message: `YAML syntax error: ${firstLine(e.message)}` });
      return;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 1000 });
    } catch (e: unknown) {
      errors.push({ file: source, message: `YAML error in document ${index}: ${firstLine((e as Error).message)}` });
      return;
    }
    if (raw === null || raw === undefined) return; // an empty document (a trailing '---', comments only)
    const result = parseResource(raw, source, index);
    if ('errors' in result) errors.push(...result.errors);
    else documents.push({ resource: result.resource, document: doc, index });
  });
  return { documents, errors };
}

/** Checks one already-loaded document (a plain object) and returns the typed resource or its errors. */
export function parseResource(
  raw: unknown,
  source: string,
  index = 1,
): { resource: ConfigResource } | { errors: ConfigError[] } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      errors: [{ file: source, message: `document ${index} is not a mapping: expected apiVersion, kind, metadata and spec` }],
    };
  }
  const obj = raw as Record<string, unknown>;
  const kind = typeof obj['kind'] === 'string' ? obj['kind'] : undefined;
  const meta = obj['metadata'];
  const name =
    meta !== null && typeof meta === 'object' && typeof (meta as Record<string, unknown>)['name'] === 'string'
      ? ((meta as Record<string, unknown>)['name'] as string)
      : undefined;
  const resource = name !== undefined ? resourceKey(kind ?? '?', name) : `${kind ?? '?'} (document ${index})`;
  const place = { file: source, resource };

  const info = kind !== undefined ? kindInfo(kind) : undefined;
  if (!info) {
    const what = obj['kind'] === undefined ? 'is required' : `${JSON.stringify(obj['kind'])} is not a kind Weft knows`;
    return { errors: [{ ...place, field: 'kind', message: `${what}; Weft knows ${describeKnownKinds()}` }] };
  }
  const errors: ConfigError[] = [];
  if (obj['apiVersion'] !== info.apiVersion) {
    const got = obj['apiVersion'] === undefined ? 'missing' : `got ${JSON.stringify(obj['apiVersion'])}`;
    errors.push({ ...place, field: 'apiVersion', message: `must be ${info.apiVersion} for kind ${info.kind} (${got})` });
  }
  const schema = SCHEMAS[info.kind];
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    errors.push(...issuesToErrors(parsed.error.issues, raw, schema, place, info.kind === 'HTTPRoute' || info.kind === 'GRPCRoute'));
  }
  if (errors.length > 0 || !parsed.success) return { errors };
  const value = parsed.data as Omit<ConfigResource, 'source'>;
  return {
    resource: { apiVersion: value.apiVersion, kind: value.kind, metadata: value.metadata, spec: value.spec, source },
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/:$/, '');
}
