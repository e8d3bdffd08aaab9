// Schema and types of Weft's `Telemetry` kind (weft.dev/v1alpha1, shaped like Istio's Telemetry): trace sampling and
// access logs for the traffic to a Service, a namespace or the whole mesh. Translated into the HttpConnectionManager
// `tracing` and `access_log` fields of client and inbound Listeners (translate/telemetry.ts).
import { z } from 'zod';
import { dnsLabel } from './schema.js';

/** One comparison of an access-log filter expression. */
export interface AccessLogComparison {
  readonly field: 'response.code' | 'response.duration';
  /** Envoy ComparisonFilter ops (`>` and `<` are turned into `>=`/`<=` of the next integer). */
  readonly op: 'EQ' | 'GE' | 'LE';
  /** A status code, or a duration in ms. */
  readonly value: number;
}

/**
 * A parsed filter expression: comparisons joined by `&&` and `||` (`&&` binds tighter, no parentheses), as an OR of
 * ANDs. `[[a, b], [c]]` is `(a && b) || c`.
 */
export type AccessLogFilterExpr = readonly (readonly AccessLogComparison[])[];

/** `spec.targetRefs[]`: a Service whose traffic the Telemetry configures. */
export interface TelemetryTargetRef {
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
}

/** `spec.tracing[]` (one entry). */
export interface TracingSpec {
  /** Share of new traces (no sampled parent) to sample, 0..100; absent = the application's own sampler decides. */
  readonly randomSamplingPercentage?: number;
}

/** `spec.accessLogging[]` (one entry). */
export interface AccessLoggingSpec {
  /** True switches access logs off (overrides a less specific Telemetry that switched them on). */
  readonly disabled: boolean;
  /** Only requests matching this expression are logged; absent = every request. */
  readonly filter?: { readonly expression: string; readonly parsed: AccessLogFilterExpr };
}

/** `spec` of a Telemetry. */
export interface TelemetrySpec {
  /** The Services whose traffic it configures; absent = every Service of its namespace, or of the mesh. */
  readonly targetRefs?: readonly TelemetryTargetRef[];
  readonly tracing?: readonly TracingSpec[];
  readonly accessLogging?: readonly AccessLoggingSpec[];
}

const COMPARISON = /^\s*(response\.code|response\.duration)\s*(>=|<=|==|>|<)\s*([0-9]+)(ms|s)?\s*$/;

/**
 * Parses the supported subset of Istio's CEL filter expressions: `response.code <op> <int>` and
 * `response.duration <op> <int>(ms|s)` with op one of `>= > <= < ==`, joined by `&&` and `||`. Returns the parsed
 * expression or a message saying what is wrong. Pure.
 */
export function parseAccessLogFilter(expression: string): AccessLogFilterExpr | string {
  const ors = expression.split('||');
  const out: AccessLogComparison[][] = [];
  for (const or of ors) {
    const ands: AccessLogComparison[] = [];
    for (const term of or.split('&&')) {
      const m = COMPARISON.exec(term);
      if (m === null) {
        return `'${term.trim()}' is not supported: use response.code or response.duration with >=, >, <=, < or == and a number (durations with ms or s), joined by && and || (no parentheses)`;
      }
      const field = m[1] as AccessLogComparison['field'];
      const unit = m[4];
      if (field === 'response.code' && unit !== undefined) return `'${term.trim()}': response.code takes a plain number, not a duration`;
      if (field === 'response.duration' && unit === undefined) return `'${term.trim()}': response.duration needs a unit (e.g. 100ms or 2s)`;
      let value = Number(m[3]) * (unit === 's' ? 1000 : 1);
      const sym = m[2]!;
      let op: AccessLogComparison['op'] = sym === '==' ? 'EQ' : sym.startsWith('>') ? 'GE' : 'LE';
      if (sym === '>') value += 1;
      if (sym === '<') {
        if (value === 0) return `'${term.trim()}' never matches`;
        value -= 1;
      }
      if (value > 0xffffffff) return `'${term.trim()}': value too large`;
      if (op === 'LE' && value === 0 && field === 'response.code') op = 'EQ';
      ands.push({ field, op, value });
    }
    out.push(ands);
  }
  return out;
}

const targetRefSchema = z.strictObject({
  group: z.literal('', { error: "must be '' (the core API group of Service)" }).default(''),
  kind: z.literal('Service', { error: 'must be Service: a Telemetry configures the traffic to the workloads of a Service' }),
  name: dnsLabel,
});

const tracingSchema = z.strictObject({
  randomSamplingPercentage: z.number().min(0, { error: 'must be between 0 and 100' }).max(100, { error: 'must be between 0 and 100' }).optional(),
});

const accessLoggingSchema = z
  .strictObject({
    disabled: z.boolean().default(false),
    filter: z.strictObject({ expression: z.string().min(1).max(1024) }).optional(),
  })
  .transform((a, ctx): AccessLoggingSpec => {
    if (a.filter === undefined) return { disabled: a.disabled };
    const parsed = parseAccessLogFilter(a.filter.expression);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', path: ['filter', 'expression'], message: parsed });
      return z.NEVER;
    }
    return { disabled: a.disabled, filter: { expression: a.filter.expression, parsed } };
  });

/** `spec` schema of a Telemetry (cross-resource rules, one per target, are in validate-telemetry.ts). */
export const telemetrySpecSchema: z.ZodType<TelemetrySpec> = z
  .strictObject({
    targetRefs: z
      .array(targetRefSchema)
      .min(1, { error: 'needs at least one Service (leave targetRefs out to apply to every Service)' })
      .max(64)
      .optional(),
    tracing: z.array(tracingSchema).max(1, { error: 'takes one entry (Weft has one tracing provider: the OpenTelemetry API)' }).optional(),
    accessLogging: z.array(accessLoggingSchema).max(1, { error: 'takes one entry (Weft has one access log sink per process)' }).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.tracing === undefined && s.accessLogging === undefined) ctx.addIssue({ code: 'custom', message: 'needs tracing, accessLogging, or both' });
  }) as z.ZodType<TelemetrySpec>;
