// Priority failover (Envoy / gRFC A27 priorities): balance over the most preferred priority that has an endpoint.

/** Anything with an EDS priority (absent or 0 = most preferred) and, for zone preference, a zone. */
export interface Prioritized {
  readonly priority?: number;
  readonly zone?: string;
}

/**
 * The items of the lowest-numbered priority present in `items` (all of `items`, same array, when they share one).
 * Pass the endpoints that are available now (not ejected), so a priority whose endpoints are all ejected or gone
 * fails over to the next. Simplified from Envoy, which spills load gradually by health percentage (overprovisioning
 * factor 1.4): Weft moves all traffic once a priority has no available endpoint, as gRPC's priority policy does.
 */
export function mostPreferred<T extends Prioritized>(items: readonly T[], preferZone?: string): readonly T[] {
  const top = mostPreferredPriority(items);
  if (preferZone === undefined) return top;
  let local = 0;
  for (const e of top) if (e.zone === preferZone) local++;
  return local === 0 || local === top.length ? top : top.filter((e) => e.zone === preferZone);
}

/**
 * Zone preference within that priority (`preferZone`, from the cluster's zone-aware policy and the caller's own
 * zone): only the endpoints in the caller's zone while there is one, else every zone of the priority. Applied after
 * priority failover, as Envoy applies zone-aware routing within a priority.
 */
function mostPreferredPriority<T extends Prioritized>(items: readonly T[]): readonly T[] {
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
