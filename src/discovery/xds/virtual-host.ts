// Picks the virtual host for an authority the way Envoy and gRPC do: exact, then `*.suffix`, then `prefix.*`, then `*`.
import type { VirtualHost } from '../mesh-state.js';

/** How a domain pattern matches; lower is more specific. */
const enum MatchRank {
  Exact = 0,
  Suffix = 1,
  Prefix = 2,
  Any = 3,
  Invalid = 4,
}

function rankOf(pattern: string): MatchRank {
  if (pattern === '') return MatchRank.Invalid;
  if (pattern === '*') return MatchRank.Any;
  const star = pattern.indexOf('*');
  if (star < 0) return MatchRank.Exact;
  if (star !== pattern.lastIndexOf('*')) return MatchRank.Invalid;
  if (star === 0) return MatchRank.Suffix;
  if (star === pattern.length - 1) return MatchRank.Prefix;
  return MatchRank.Invalid;
}

function matches(rank: MatchRank, pattern: string, host: string): boolean {
  switch (rank) {
    case MatchRank.Exact:
      return host === pattern;
    case MatchRank.Suffix:
      return host.endsWith(pattern.slice(1));
    case MatchRank.Prefix:
      return host.startsWith(pattern.slice(0, -1));
    case MatchRank.Any:
      return true;
    default:
      return false;
  }
}

/**
 * Returns the virtual host whose domains best match `authority` (compared case-insensitively, port included), or
 * undefined if none does. Most specific wins: an exact domain, then the longest `*.suffix`, then the longest
 * `prefix.*`, then `*`; ties go to the earlier virtual host (Envoy/gRFC A28 "virtual host matching").
 * Pure; `virtualHosts` is not modified.
 */
export function findVirtualHost<V extends Pick<VirtualHost, 'domains'> = VirtualHost>(virtualHosts: readonly V[], authority: string): V | undefined {
  const host = authority.toLowerCase();
  let best: V | undefined;
  let bestRank = MatchRank.Invalid;
  let bestLength = -1;
  for (const vh of virtualHosts) {
    for (const pattern of vh.domains) {
      const rank = rankOf(pattern);
      if (rank > bestRank || (rank === bestRank && pattern.length <= bestLength)) continue;
      if (!matches(rank, pattern.toLowerCase(), host)) continue;
      best = vh;
      bestRank = rank;
      bestLength = pattern.length;
      if (rank === MatchRank.Exact) return best;
    }
  }
  return best;
}
