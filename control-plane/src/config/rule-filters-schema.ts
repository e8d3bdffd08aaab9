// Schema of the Gateway API `ExtensionRef` rule filters Weft supports on HTTPRoute and GRPCRoute rules: each attaches
// one of Weft's own kinds (a FaultInjection, a ConcurrencyLimit) to the rule.
import { z } from 'zod';

/** The API group of Weft's own kinds, as an ExtensionRef names it. */
export const WEFT_GROUP = 'weft.dev';

/** The kinds a rule filter may attach. */
export const FILTER_KINDS = ['FaultInjection', 'ConcurrencyLimit'] as const;

/** A kind a rule filter may attach. */
export type FilterKind = (typeof FILTER_KINDS)[number];

/** A rule filter: Gateway API `ExtensionRef` to a Weft FaultInjection or ConcurrencyLimit. */
export interface RouteRuleFilter {
  readonly type: 'ExtensionRef';
  readonly extensionRef: { readonly group: typeof WEFT_GROUP; readonly kind: FilterKind; readonly name: string };
}

const SUPPORTED = `Weft supports only filters of type ExtensionRef naming a ${FILTER_KINDS.join(' or a ')}: { type: ExtensionRef, extensionRef: { group: weft.dev, kind: ${FILTER_KINDS.join(' | ')}, name: <name> } }`;

const extensionRefFilterSchema = z.strictObject({
  type: z.literal('ExtensionRef'),
  extensionRef: z.strictObject({
    group: z.literal(WEFT_GROUP, { error: `must be ${WEFT_GROUP}. ${SUPPORTED}` }),
    kind: z.enum(FILTER_KINDS, { error: `must be ${FILTER_KINDS.join(' or ')}. ${SUPPORTED}` }),
    name: z.string().min(1).max(253),
  }),
});

/**
 * `rules[].filters[]` entry of HTTPRoute and GRPCRoute. Any `type` other than ExtensionRef gets one error saying what
 * Weft supports (not a list of the other type's fields).
 */
export const ruleFilterSchema = z
  .looseObject({ type: z.string() })
  .superRefine((f, ctx) => {
    if (f.type !== 'ExtensionRef') {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `${JSON.stringify(f.type)} is not supported. ${SUPPORTED}` });
      return;
    }
    const checked = extensionRefFilterSchema.safeParse(f);
    if (!checked.success) for (const issue of checked.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  })
  .transform((f): RouteRuleFilter => f as unknown as RouteRuleFilter);

/**
 * `rules[].filters` of HTTPRoute and GRPCRoute: at most one filter of each kind per rule (Envoy has one fault config
 * per route; one limit per rule is what a limit means).
 */
export const ruleFiltersSchema = z
  .array(ruleFilterSchema)
  .max(FILTER_KINDS.length)
  .superRefine((filters, ctx) => {
    for (const kind of FILTER_KINDS) {
      const at = filters.flatMap((f, i) => (f.extensionRef?.kind === kind ? [i] : []));
      if (at.length > 1) {
        const hint = kind === 'FaultInjection' ? ' (combine delay and abort in one FaultInjection)' : '';
        ctx.addIssue({ code: 'custom', path: [at[1]!], message: `at most one ${kind} filter per rule${hint}` });
      }
    }
  })
  .optional();

/** The name of the `kind` a rule's filters attach, if any. */
export function filterRef(filters: readonly RouteRuleFilter[] | undefined, kind: FilterKind): string | undefined {
  return filters?.find((f) => f.extensionRef.kind === kind)?.extensionRef.name;
}
