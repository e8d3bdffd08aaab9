// The trust bundle as an SDS Secret (`weft-trust-bundle`), served on the ADS stream beside the routing resources.
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import { TRUST_BUNDLE_SECRET } from '../../../src/discovery/xds/resources/secret.js';
import type { XdsResource } from '../model.js';
import { deepFreeze } from '../translate/names.js';

/**
 * The Secret carrying every root the mesh trusts, `validation_context.trusted_ca.inline_string` (PEM, concatenated),
 * keyed by its name as the snapshot cache takes it. See docs/xds-mapping.md "Secret".
 */
export function trustBundleSecrets(rootsPem: readonly string[]): ReadonlyMap<string, XdsResource> {
  const secret = deepFreeze({
    '@type': TYPE_URL.secret,
    name: TRUST_BUNDLE_SECRET,
    validation_context: { trusted_ca: { inline_string: rootsPem.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('') } },
  }) as XdsResource;
  return new Map([[TRUST_BUNDLE_SECRET, secret]]);
}
