// The contract between discovery (xDS client) and the client/server wrappers: a Watch of MeshState plus on-demand targets.
import type { Disposable, Watch } from '../core/watch.js';
import type { InboundState } from './inbound-policy.js';
import type { MeshState, TargetState } from './mesh-state.js';
import type { XdsCacheStatus } from './xds/disk-cache.js';

/** One type's stream status, as a CSDS-like client-side view. */
export interface TypeStatus {
  readonly typeUrl: string;
  /** Names currently subscribed. */
  readonly subscribed: readonly string[];
  /** Last version accepted (ACKed); '' before the first. */
  readonly ackedVersion: string;
  /** Last NACK sent for this type, if the latest response was refused. */
  readonly lastNack?: { readonly version: string; readonly nonce: string; readonly message: string; readonly atMs: number };
}

/** Connection and protocol status of the discovery client. */
export interface DiscoveryStatus {
  readonly connected: boolean;
  /** xDS node id this process uses. */
  readonly nodeId: string;
  readonly server: string;
  /** The ADS method in use (the xDS client sets it): 'delta', or 'sotw' when configured so or the server has no delta. */
  readonly protocol?: 'delta' | 'sotw';
  /** The control-plane replica (`ip:port`) the stream is connected to now; undefined while disconnected. */
  readonly peer?: string | undefined;
  /** When the current (or last) stream was accepted by the server (ms since the epoch); undefined before the first. */
  readonly connectedAtMs?: number | undefined;
  /** When the last stream ended (ms since the epoch); undefined if none has. */
  readonly disconnectedAtMs?: number | undefined;
  readonly types: readonly TypeStatus[];
  /**
   * The disk cache of last good resources (static stability): its file, what was loaded at start-up and how old it is,
   * whether resources from it are still in use, and writes. Undefined when there is none (`xdsCache: false`).
   */
  readonly cache?: XdsCacheStatus;
}

/** A refused xDS update. */
export interface NackEvent {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  /** One line per invalid resource: `resource '<name>': <field>: <reason>`. */
  readonly message: string;
}

/**
 * Discovery as the request path sees it. Implementations never throw from these methods except close();
 * failures become TargetState `error`/`pending` and NACKs.
 */
export interface Discovery {
  /** The current compiled mesh; read per request with `state.get()`. */
  readonly state: Watch<MeshState>;
  /**
   * Subscribes to `target` (idempotent) and resolves with its state once it is `resolved`, `absent` or `error`,
   * or with `pending` after `timeoutMs`. Never rejects. Subscriptions are kept for the life of the client.
   */
  resolve(target: string, timeoutMs: number): Promise<TargetState>;
  /**
   * Subscribes to the inbound policy of `service` (its `weft/inbound/<service>` Listener; idempotent) and resolves with
   * its state once it is `resolved`, `absent` or `error`, or `pending` after `timeoutMs`. Never rejects. The state is
   * then kept current in `state.get().inbound`. Optional: a Discovery without it gives servers no inbound policy.
   */
  resolveInbound?(service: string, timeoutMs: number): Promise<InboundState>;
  /** Current stream status (a fresh frozen object each call). */
  status(): DiscoveryStatus;
  /** Called after a NACK is sent; returns a Disposable. Never called synchronously from here. */
  onNack(fn: (event: NackEvent) => void): Disposable;
  /** Closes the stream and stops reconnecting. Idempotent. */
  close(): Promise<void>;
}
