// Saves the registry's leases to a JSON file and restores them at start, so a restarted control plane keeps routing
// to the endpoints that are still alive instead of pushing "no endpoints" until every server has registered again.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../../src/core/logger.js';
import type { PersistedLease, Registry } from './registry.js';

/** File name of the saved leases inside the control plane's state directory. */
export const REGISTRY_STATE_FILE = 'registry.json';

const FORMAT_VERSION = 1;

/** Keeps a registry's leases saved to a file. */
export interface RegistryStateWriter {
  /** Writes the current leases now (and waits for any write in flight). Never rejects. */
  flush(): Promise<void>;
  /** Stops saving. Idempotent. */
  dispose(): void;
}

/**
 * Reads saved leases from `file`. A missing file is an empty list; an unreadable or malformed one is logged and
 * treated as empty (the registry then fills again as servers register). Never rejects.
 */
export async function loadRegistryState(file: string, logger: Logger): Promise<PersistedLease[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn('registry state: cannot read; starting empty', { file, error: String(e) });
    return [];
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; leases?: unknown };
    if (parsed.version !== FORMAT_VERSION || !Array.isArray(parsed.leases)) throw new Error(`expected { version: ${FORMAT_VERSION}, leases: [...] }`);
    return parsed.leases.flatMap((raw: unknown) => {
      const lease = toLease(raw);
      return lease ? [lease] : [];
    });
  } catch (e: unknown) {
    logger.warn('registry state: malformed; starting empty', { file, error: e instanceof Error ? e.message : String(e) });
    return [];
  }
}

/**
 * Saves `registry`'s leases to `file` after every change (coalesced: one write per turn of the event loop, one write
 * in flight at a time, written to a temp file and renamed so a crash never leaves half a file). Keep-alives are not
 * changes, so a steady mesh writes nothing. A failed write is logged and retried with the next change.
 */
export function saveRegistryState(registry: Registry, file: string, logger: Logger): RegistryStateWriter {
  let disposed = false;
  let dirty = false;
  let writing: Promise<void> | undefined;
  let lastError = '';

  const write = async (): Promise<void> => {
    while (dirty) {
      dirty = false;
      const body = JSON.stringify({ version: FORMAT_VERSION, savedAtMs: Date.now(), leases: registry.leases() }, null, 1);
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(tmp, body);
        await rename(tmp, file);
        lastError = '';
      } catch (e: unknown) {
        const message = e instanceof Error ? e.message : String(e);
        if (message !== lastError) logger.warn('registry state: cannot save leases; a restart will forget them', { file, error: message });
        lastError = message;
      }
    }
  };
  const schedule = (): void => {
    if (disposed) return;
    dirty = true;
    writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(write).finally(() => {
      writing = undefined;
      if (dirty) schedule();
    });
  };
  const subscription = registry.onChange(schedule);
  return {
    async flush() {
      dirty = true;
      await writing;
      if (dirty) await write();
    },
    dispose() {
      disposed = true;
      subscription.dispose();
    },
  };
}

/** Validates the shape of one saved lease; the registry validates the values again on restore. */
function toLease(raw: unknown): PersistedLease | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const locality = (typeof r['locality'] === 'object' && r['locality'] !== null ? r['locality'] : {}) as Record<string, unknown>;
  const labels: Record<string, string> = {};
  if (typeof r['labels'] === 'object' && r['labels'] !== null) {
    for (const [k, v] of Object.entries(r['labels'])) if (typeof v === 'string') labels[k] = v;
  }
  if (typeof r['leaseId'] !== 'string' || typeof r['port'] !== 'number' || typeof r['ttlMs'] !== 'number') return undefined;
  return {
    leaseId: r['leaseId'],
    service: str(r['service']),
    portName: str(r['portName']),
    address: str(r['address']),
    port: r['port'],
    nodeId: str(r['nodeId']),
    locality: { region: str(locality['region']), zone: str(locality['zone']), subZone: str(locality['subZone']) },
    weight: typeof r['weight'] === 'number' ? r['weight'] : 1,
    labels,
    ttlMs: r['ttlMs'],
  };
}
