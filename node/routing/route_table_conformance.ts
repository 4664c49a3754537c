/**
 * The RouteTable conformance suite: every implementation runs these same cases.
 *
 *   runRouteTableConformance('local', async () => localWorld());
 *
 * A world is several nodes' tables on one backend (one LocalRouteHub, one etcd
 * prefix). `kill` makes a node's routes vanish the way a crash does (for etcd: its
 * lease is revoked, as on expiry). Remote changes arrive eventually, so cases about
 * other nodes poll up to `settleMs`; a node's own changes must show at once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Route, RouteChange, RouteTable } from './route_table.js';

export interface RouteTableWorld {
  /** A started table for `nodeId` (a new node on the shared backend). */
  node(nodeId: string): Promise<RouteTable>;
  /** Drop the node as a crash would; its table is not stopped. */
  kill(nodeId: string): Promise<void>;
  /** Stop every table and free the backend. */
  close(): Promise<void>;
  /** Upper bound for a remote change to show up. */
  readonly settleMs: number;
}

export function runRouteTableConformance(name: string, makeWorld: () => Promise<RouteTableWorld>): void {
  async function withWorld(fn: (w: RouteTableWorld) => Promise<void>): Promise<void> {
    const w = await makeWorld();
    try {
      await fn(w);
    } finally {
      await w.close();
    }
  }

  async function eventually(w: RouteTableWorld, check: () => void): Promise<void> {
    const deadline = Date.now() + w.settleMs;
    for (;;) {
      try {
        check();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  const sorted = (rs: Route[]): string[] => rs.map((r) => `${r.user}/${r.device}@${r.node}`).sort();

  describe(`RouteTable conformance: ${name}`, () => {
    it('own registrations show in lookup at once, without waiting on the backend', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        a.register('alice', 'phone');
        assert.deepEqual(a.lookup('alice'), [{ user: 'alice', device: 'phone', node: 'a' }]);
        a.unregister('alice', 'phone');
        assert.deepEqual(a.lookup('alice'), []);
        assert.deepEqual(a.lookup('nobody'), []);
      }));

    it('counts connections: the route stays until the last one of the device goes', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        const b = await w.node('b');
        a.register('alice', 'phone');
        a.register('alice', 'phone');
        a.unregister('alice', 'phone');
        await a.flush();
        assert.equal(a.lookup('alice').length, 1);
        await eventually(w, () => assert.equal(b.lookup('alice').length, 1));
        a.unregister('alice', 'phone');
        a.unregister('alice', 'phone'); // one too many: ignored
        await a.flush();
        await eventually(w, () => assert.deepEqual(b.lookup('alice'), []));
      }));

    it('other nodes see routes, and one device may be on two nodes at once', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        const b = await w.node('b');
        a.register('alice', 'phone');
        b.register('alice', 'phone'); // a reconnect landed on b before a saw the close
        b.register('alice', 'laptop');
        await Promise.all([a.flush(), b.flush()]);
        const want = ['alice/laptop@b', 'alice/phone@a', 'alice/phone@b'];
        await eventually(w, () => assert.deepEqual(sorted(a.lookup('alice')), want));
        await eventually(w, () => assert.deepEqual(sorted(b.lookup('alice')), want));
        assert.equal(a.lookup('alice')[0].node, 'a', 'own routes first');
        a.unregister('alice', 'phone');
        await a.flush();
        await eventually(w, () => assert.deepEqual(sorted(b.lookup('alice')), ['alice/laptop@b', 'alice/phone@b']));
      }));

    it('a late-starting node loads the existing table', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        for (let i = 0; i < 50; i++) a.register(`u${i}`, 'd');
        await a.flush();
        const c = await w.node('c');
        assert.equal(c.lookup('u7').length, 1);
        assert.equal(c.stats().cachedRoutes, 50);
      }));

    it('reports up and down changes, including a dead node', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        const b = await w.node('b');
        const seen: RouteChange[] = [];
        a.onChange((c) => seen.push(c));
        b.register('bob', 'phone');
        await b.flush();
        await eventually(w, () => assert.equal(a.lookup('bob').length, 1));
        await w.kill('b');
        await eventually(w, () => assert.deepEqual(a.lookup('bob'), []));
        assert.deepEqual(seen.map((c) => `${c.kind} ${c.route.user}@${c.route.node}`), ['up bob@b', 'down bob@b']);
      }));

    it('converges under churn: the other node ends with exactly the final set', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        const b = await w.node('b');
        const online = new Set<string>();
        let x = 12345;
        for (let i = 0; i < 3_000; i++) {
          x = (x * 1103515245 + 12345) & 0x7fffffff;
          const u = `u${x % 400}`;
          if (online.has(u)) {
            a.unregister(u, 'd');
            online.delete(u);
          } else {
            a.register(u, 'd');
            online.add(u);
          }
          if (i % 500 === 0) await new Promise((r) => setImmediate(r));
        }
        await a.flush();
        await eventually(w, () => assert.equal(b.stats().cachedRoutes, online.size));
        for (const u of online) assert.equal(b.lookup(u).length, 1, u);
        assert.equal(a.stats().localRoutes, online.size);
      }));

    it('stop removes the node\'s routes for everyone', () =>
      withWorld(async (w) => {
        const a = await w.node('a');
        const b = await w.node('b');
        a.register('alice', 'phone');
        await a.flush();
        await eventually(w, () => assert.equal(b.lookup('alice').length, 1));
        await a.stop();
        await eventually(w, () => assert.deepEqual(b.lookup('alice'), []));
      }));
  });
}
