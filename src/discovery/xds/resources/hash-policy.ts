// Decodes Envoy RouteAction.hash_policy (the request keys ring-hash balancing uses) into HashPolicy values.
import type { ProtoObject } from '../protos.js';
import type { HashPolicy } from '../../mesh-state.js';
import { bool, list, obj, str } from './common.js';

/**
 * The hash policies of a RouteAction `action`, in order. Header names are lower-cased. Specifiers Weft cannot key on
 * (query_parameter, filter_state) are skipped, as gRPC does (gRFC A42), rather than refusing the route; an empty
 * header or cookie name is skipped too. Returns undefined when none is usable. Never throws.
 */
export function decodeHashPolicies(action: ProtoObject | undefined): readonly HashPolicy[] | undefined {
  const out: HashPolicy[] = [];
  for (const p of list(action, 'hash_policy')) {
    const terminal = bool(p, 'terminal');
    switch (str(p, 'policy_specifier')) {
      case 'header': {
        const name = str(obj(p, 'header'), 'header_name').toLowerCase();
        if (name !== '') out.push(Object.freeze({ kind: 'header', name, terminal }));
        break;
      }
      case 'cookie': {
        const name = str(obj(p, 'cookie'), 'name');
        if (name !== '') out.push(Object.freeze({ kind: 'cookie', name, terminal }));
        break;
      }
      case 'connection_properties':
        if (bool(obj(p, 'connection_properties'), 'source_ip')) out.push(Object.freeze({ kind: 'source-ip', terminal }));
        break;
      default:
        break;
    }
  }
  return out.length > 0 ? Object.freeze(out) : undefined;
}
