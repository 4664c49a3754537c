/**
 * A workaround for a cassandra-driver 4.10 bug that kills the node process when
 * Cassandra restarts a few times (found by `npm run chaos -- cassandra-restart`:
 * every node of a cell died within 8 restarts).
 *
 * The driver's ControlConnection refreshes itself from several places (a host going
 * down, its socket closing, a reconnection timer). Two refreshes can overlap; each
 * starts by setting `host` and `connection` to null, so one that finishes while the
 * other is still connecting calls `_setHealthListeners(null, ...)` and throws
 * `TypeError: Cannot read properties of null (reading 'once')` outside any try. When
 * that refresh was started by the reconnection timer (`setTimeout(() =>
 * this._refresh(), delay)`), nothing catches it: an unhandled rejection, and Node
 * exits. Upstream: DataStax NODEJS-681, fix proposed in nodejs-driver PR #462 (open).
 *
 * The fix, applied once to the driver's prototype before any client is made:
 *   - a refresh that finds `host` or `connection` gone leaves the health listeners to
 *     the refresh that is still running (it sets them for the connection it gets, or
 *     schedules its own reconnection); with no other refresh running, it starts one;
 *   - a refresh never rejects: a failure is logged through the driver's own log event
 *     and another refresh is scheduled, as the driver does for a failed connection.
 * Remove it when the driver has the upstream fix (the test below then still passes).
 */
import { createRequire } from 'node:module';

/** The part of the driver's ControlConnection this touches. */
export interface ControlConnectionLike {
  _refresh(hostIterator?: unknown): Promise<void>;
  _setHealthListeners(host: unknown, connection: unknown): void;
  log(level: string, message: string, err?: unknown): void;
  _isShuttingDown?: boolean;
}

type Patched = ControlConnectionLike & { __sbTopLevelRefreshes?: number };

/** How long a refresh that failed outside the driver's own handling waits to retry: the driver's first reconnection delay order. */
const RETRY_MS = 1_000;

const PATCHED = Symbol.for('switchboard.cassandraControlConnectionFix');

export function patchControlConnection(proto: ControlConnectionLike): void {
  const p = proto as ControlConnectionLike & { [PATCHED]?: true };
  if (p[PATCHED]) return;
  p[PATCHED] = true;
  const refresh = proto._refresh;
  const setHealth = proto._setHealthListeners;
  proto._setHealthListeners = function (this: Patched, host: unknown, connection: unknown): void {
    if (host && connection) return setHealth.call(this, host, connection);
    // We are inside a top-level refresh; another one reset host/connection meanwhile.
    if ((this.__sbTopLevelRefreshes ?? 0) > 1) {
      this.log('warning', 'ControlConnection refreshes overlapped; the newer one sets the health listeners');
      return;
    }
    this.log('warning', 'ControlConnection lost its host while refreshing; refreshing again');
    setTimeout(() => void this._refresh(), RETRY_MS).unref();
  };
  proto._refresh = function (this: Patched, hostIterator?: unknown): Promise<void> {
    // Calls with an iterator are the driver's own retries inside one refresh.
    if (hostIterator !== undefined) return refresh.call(this, hostIterator);
    this.__sbTopLevelRefreshes = (this.__sbTopLevelRefreshes ?? 0) + 1;
    return refresh
      .call(this)
      .catch((err: unknown) => {
        this.log('error', 'ControlConnection refresh failed; retrying', err);
        if (!this._isShuttingDown) setTimeout(() => void this._refresh(), RETRY_MS).unref();
      })
      .finally(() => {
        this.__sbTopLevelRefreshes = (this.__sbTopLevelRefreshes ?? 1) - 1;
      });
  };
}

/** Patch the installed driver (idempotent). */
export function applyCassandraDriverFix(): void {
  const require = createRequire(import.meta.url);
  const ControlConnection = require('cassandra-driver/lib/control-connection.js') as { prototype: ControlConnectionLike };
  const proto = ControlConnection.prototype;
  // A driver upgrade that renames these must not silently drop the fix.
  if (typeof proto._refresh !== 'function' || typeof proto._setHealthListeners !== 'function') {
    throw new Error('cassandra-driver: ControlConnection._refresh/_setHealthListeners not found; review node/store/cassandra_driver_fix.ts');
  }
  patchControlConnection(proto);
}
