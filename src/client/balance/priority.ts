// Priority failover (Envoy / gRFC A27 priorities): balance over the most preferred priority that has an endpoint.

/** Anything with an EDS priority (absent or 0 = most preferred). */
export interface Prioritized {
  readonly priority?: number;
}

/**
 * The items of the lowest-numbered priority present in `items` (all of `items`, same array, when they share one).
 * Pass the endpoints that are available now (not ejected), so a priority whose endpoints are all ejected or gone
 * fails over to the next. Simplified from Envoy, which spills load gradually by health percentage (overprovisioning
 * factor 1.4): Weft moves all traffic once a priority has no available endpoint, as gRPC's priority policy does.
 */
export function mostPreferred<T extends Prioritized>(items: readonly T[]): readonly T[] {
  let best = Infinity;
  let mixed = false;
  for (const e of items) {
    const p = e.priority ?? 0;
    if (p !== best) {
      if (best !== Infinity) mixed = true;
      if (p < best) best = p;
    }
  }
  return mixed ? items.filter((e) => (e.priority ?? 0) === best) : items;
}
