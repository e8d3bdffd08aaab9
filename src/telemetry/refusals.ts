// Remembers why the inbound pipeline refused a request (keyed by its request or call object), so the server span and
// access-log line can say why without the pipeline knowing about telemetry.
import type { Refusal } from '../server/inbound/refusal.js';

const refusals = new WeakMap<object, Refusal>();

/** Records that the request or call `key` was refused with `refusal` (refusals only: no cost on allowed requests). */
export function noteRefusal(key: object, refusal: Refusal): void {
  refusals.set(key, refusal);
}

/** The refusal recorded for `key`, if any. */
export function refusalOf(key: object): Refusal | undefined {
  return refusals.get(key);
}
