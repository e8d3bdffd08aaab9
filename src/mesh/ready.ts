// Waits, within one bound, for what mesh.ready() promises: the xDS stream, every dependsOn service, and registrations.
import type { Discovery } from '../discovery/discovery.js';
import type { TargetState } from '../discovery/mesh-state.js';
import type { Registration } from '../discovery/registration.js';
import type { IdentityStatus } from '../identity/workload-identity.js';

/** What ready() waits for. */
export interface ReadyInputs {
  readonly discovery: Discovery;
  /** A target to subscribe to when `dependsOn` is empty, so the lazily opened xDS stream opens (this service). */
  readonly probe: string;
  readonly dependsOn: readonly string[];
  readonly registrations: readonly Registration[];
  readonly timeoutMs: number;
  /** The service whose inbound policy must be known (set once the process serves). */
  readonly inboundService?: string;
  /** The workload identity, when a bootstrap token is configured: ready() waits for its first certificate. */
  readonly identity?: { whenReady(): Promise<void>; status(): IdentityStatus };
  /**
   * With a disk cache: when the state in use comes from it and the stream is down, wait this long (ms) for the control
   * plane, then count the stream as ready on the cached state, and registrations as deferred (they complete once the
   * control plane is back). Undefined: the stream must connect.
   */
  readonly cacheReadyWaitMs?: number;
}

/** How often ready() looks whether the stream connected while serving from the disk cache (ms). */
const CONNECT_POLL_MS = 50;

/**
 * Resolves with the list of what is still missing when `timeoutMs` passes (empty = ready), each entry one readable
 * phrase. Resolves as soon as everything is there. Never rejects.
 */
export async function waitUntilReady(inputs: ReadyInputs): Promise<string[]> {
  const { discovery, timeoutMs } = inputs;
  const deadline = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const within = async <T>(p: Promise<T>): Promise<T | 'timeout'> => Promise.race([p, expired]);
  const remaining = (): number => Math.max(0, deadline - Date.now());

  // Settled once ready() has decided to serve from the disk cache: registrations then stop holding it up.
  let onCache: (value: 'cache') => void = () => {};
  const servingFromCache = new Promise<'cache'>((resolve) => (onCache = resolve));

  /** Resolves once the stream is connected or `ms` passed (polling: the Discovery contract has no connect event). */
  const connectedWithin = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (!discovery.status().connected && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(CONNECT_POLL_MS, Math.max(1, until - Date.now()))));
  };

  const stream = async (): Promise<string | undefined> => {
    const targets = inputs.dependsOn.length > 0 ? inputs.dependsOn : [inputs.probe];
    // Any decisive answer (resolved or absent) proves the stream answers; the dependsOn check below is stricter.
    const answered = Promise.race(targets.map((t) => discovery.resolve(t, remaining())));
    // resolve() subscribes, and fills from the disk cache, synchronously: whether the cache serves is known here.
    if (inputs.cacheReadyWaitMs !== undefined && !discovery.status().connected && discovery.status().cache?.servingFromCache === true) {
      await within(connectedWithin(Math.min(inputs.cacheReadyWaitMs, remaining())));
      if (!discovery.status().connected) onCache('cache');
      return undefined; // connected, or static stability: serving the last good state from disk
    }
    await within(answered);
    if (discovery.status().connected) return undefined;
    const status = discovery.status();
    return `xDS stream to ${status.server} (not connected)`;
  };

  const dependency = async (name: string): Promise<string | undefined> => {
    const first = await within(discovery.resolve(name, remaining()));
    if (first !== 'timeout' && first.status === 'resolved') return undefined;
    // Absent or refused now may change with the next push: wait for the state until the bound.
    const later = await within(
      new Promise<TargetState>((resolve) => {
        const check = (): boolean => {
          const ts = discovery.state.get().targets.get(name);
          if (ts?.status !== 'resolved') return false;
          sub.dispose();
          resolve(ts);
          return true;
        };
        const sub = discovery.state.onChange(() => void check());
        if (!check()) void expired.then(() => sub.dispose());
      }),
    );
    if (later !== 'timeout') return undefined;
    const ts = discovery.state.get().targets.get(name) ?? (first === 'timeout' ? undefined : first);
    switch (ts?.status) {
      case 'absent':
        return `service '${name}' (the control plane has no such service)`;
      case 'error':
        return `service '${name}' (its configuration was refused: ${ts.message})`;
      default:
        return `service '${name}' (not resolved yet)`;
    }
  };

  const registration = async (r: Registration): Promise<string | undefined> => {
    const ok = await within(Promise.race([r.registered(), servingFromCache]));
    if (ok === true || ok === 'cache') return undefined;
    const s = r.status();
    return `registration of ${s.service} at ${s.address}:${s.port}${s.lastError ? ` (${s.lastError})` : ''}`;
  };

  const inbound = async (service: string): Promise<string | undefined> => {
    if (discovery.resolveInbound === undefined) return undefined;
    const state = await within(discovery.resolveInbound(service, remaining()));
    if (state === 'timeout' || state.status === 'pending') return `inbound policy of '${service}' (not received yet)`;
    if (state.status === 'error') return `inbound policy of '${service}' (refused: ${state.message})`;
    return undefined;
  };

  const identity = async (id: NonNullable<ReadyInputs['identity']>): Promise<string | undefined> => {
    const outcome = await within(id.whenReady().then(() => 'ok' as const, (e: unknown) => (e instanceof Error ? e.message : String(e))));
    if (outcome === 'ok') return undefined;
    return `workload certificate (${outcome === 'timeout' ? (id.status().lastError ?? 'not obtained yet') : outcome})`;
  };

  try {
    const results = await Promise.all([
      stream(),
      ...inputs.dependsOn.map(dependency),
      ...inputs.registrations.map(registration),
      ...(inputs.inboundService !== undefined ? [inbound(inputs.inboundService)] : []),
      ...(inputs.identity ? [identity(inputs.identity)] : []),
    ]);
    return results.filter((r): r is string => r !== undefined);
  } finally {
    clearTimeout(timer);
  }
}
