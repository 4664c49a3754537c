/**
 * The etcd key layout of a Switchboard cell, in one place. Every key lives under
 * `<prefix>` (default `/sb/v1/`, configurable per cell so several cells or test runs
 * can share one etcd). Ids never contain `/` (ID_PATTERN in node/core/ids.ts).
 *
 *   <prefix>members/<node>                 JSON MemberInfo        under the node's lease
 *   <prefix>routes/<user>/<device>/<node>  '' (the key is the route) under the node's lease
 *   <prefix>own/<shard>                    node id                 under the owner's lease
 *
 * One lease per node carries all three, so a node that dies (or stops renewing) loses
 * its membership, its routes and its shards together, within the lease TTL.
 * See node/routing/README.md for sizes and limits.
 */
export const DEFAULT_PREFIX = '/sb/v1/';

export const membersPrefix = (p: string): string => `${p}members/`;
export const memberKey = (p: string, node: string): string => `${p}members/${node}`;

export const routesPrefix = (p: string): string => `${p}routes/`;
export const routeKey = (p: string, user: string, device: string, node: string): string =>
  `${p}routes/${user}/${device}/${node}`;

/** Parse a route key back into its parts; null for anything else under the prefix. */
export function parseRouteKey(p: string, key: string): { user: string; device: string; node: string } | null {
  const base = routesPrefix(p);
  if (!key.startsWith(base)) return null;
  const parts = key.slice(base.length).split('/');
  if (parts.length !== 3 || parts.some((x) => x === '')) return null;
  return { user: parts[0], device: parts[1], node: parts[2] };
}

export const ownPrefix = (p: string): string => `${p}own/`;
/** Shard numbers are zero-padded so keys sort in shard order. */
export const ownKey = (p: string, shard: number): string => `${p}own/${String(shard).padStart(5, '0')}`;
export function parseOwnKey(p: string, key: string): number | null {
  const base = ownPrefix(p);
  if (!key.startsWith(base)) return null;
  const n = Number(key.slice(base.length));
  return Number.isInteger(n) && n >= 0 ? n : null;
}
