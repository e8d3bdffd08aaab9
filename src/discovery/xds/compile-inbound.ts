// Compiles the inbound Listeners a process serves by (`weft/inbound/<service>`) into MeshState's inbound states.
import { inboundListenerName, type InboundState } from '../inbound-policy.js';
import { TYPE_URL } from './protos.js';
import type { ResourceView } from './resource-cache.js';

const PENDING: InboundState = Object.freeze({ status: 'pending' });
const ABSENT: InboundState = Object.freeze({ status: 'absent' });

/**
 * The inbound state of each service in `services`, reusing `previous` entries (same object) when nothing changed,
 * and `previous` itself when no entry did. Keeps the last good policy when a new inbound Listener is refused
 * (NACKed) or, after a reconnect, not answered yet; `absent` only when the server says the Listener does not exist.
 * undefined when `services` is empty. Pure.
 */
export function compileInbound(
  services: readonly string[],
  view: ResourceView,
  previous: ReadonlyMap<string, InboundState> | undefined,
): ReadonlyMap<string, InboundState> | undefined {
  if (services.length === 0) return previous?.size === 0 ? previous : undefined;
  const out = new Map<string, InboundState>();
  let same = previous !== undefined && previous.size === services.length;
  for (const service of services) {
    const name = inboundListenerName(service);
    const before = previous?.get(service);
    const resource = view.inboundListeners.get(name);
    let next: InboundState;
    if (resource !== undefined) {
      next = before?.status === 'resolved' && before.policy === resource.policy ? before : Object.freeze({ status: 'resolved', policy: resource.policy });
    } else if (view.absentListeners.has(name)) {
      next = ABSENT;
    } else if (before?.status === 'resolved') {
      next = before; // refused or not answered yet: the last good policy keeps serving
    } else {
      const error = view.errorOf(TYPE_URL.listener, name);
      next = error === undefined ? PENDING : before?.status === 'error' && before.message === error ? before : Object.freeze({ status: 'error', message: `inbound Listener refused: ${error}` });
    }
    if (next !== before) same = false;
    out.set(service, next);
  }
  return same ? previous : out;
}
