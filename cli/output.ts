// Output helpers of the CLI: where text goes, aligned tables, and YAML/JSON renderings of resources.
import { stringify } from 'yaml';

/** Where a command writes; the real CLI passes process.stdout/stderr, tests may capture. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  /** Reads all of standard input (for `-f -`). */
  readStdin(): Promise<string>;
  /** True when `out` is a terminal (`weft top` then clears the screen between refreshes). */
  readonly isTTY?: boolean;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    env: process.env,
    isTTY: process.stdout.isTTY === true,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Renders rows under upper-case headers, columns separated by at least two spaces (like kubectl). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Output formats of `weft get`. */
export type OutputFormat = 'table' | 'yaml' | 'json';

/** Parses `-o`; undefined if it is not a format. */
export function parseFormat(value: string | undefined): OutputFormat | undefined {
  const v = (value ?? 'table').toLowerCase();
  return v === 'table' || v === 'yaml' || v === 'json' ? v : undefined;
}

/** A configuration resource as the admin API returns it (plus `source`, left out of YAML output). */
export interface ResourceJson {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly [k: string]: unknown };
  readonly spec: unknown;
  readonly source?: string;
}

/** Resources as YAML documents that `weft apply -f` accepts back. */
export function resourcesYaml(resources: readonly ResourceJson[]): string {
  return resources.map(({ apiVersion, kind, metadata, spec }) => stringify({ apiVersion, kind, metadata, spec })).join('---\n');
}

/** Pretty JSON with a trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** `12s`, `4m3s`, `-` for a duration in ms. */
export function shortDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
}
