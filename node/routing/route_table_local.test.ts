import { LocalRouteHub, LocalRouteTable } from './route_table_local.js';
import { runRouteTableConformance } from './route_table_conformance.js';

runRouteTableConformance('local', async () => {
  const hub = new LocalRouteHub();
  const tables: LocalRouteTable[] = [];
  return {
    settleMs: 0,
    node: async (id) => {
      const t = new LocalRouteTable(hub, id);
      await t.start();
      tables.push(t);
      return t;
    },
    kill: async (id) => hub.killNode(id),
    close: async () => {
      for (const t of tables) await t.stop();
    },
  };
});
