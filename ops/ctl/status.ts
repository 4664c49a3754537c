/**
 * `switchboardctl status`: is the node ready, and its live supervision tree
 * (GET /readyz, GET /admin/status).
 *
 * The node serves the tree as text (supervisor/tree.ts formatTree) and, with
 * ?format=json, as data with per-shard connections and ops in flight and the store's
 * queue; --json prints that data (the tree in the StatusTree shape below). parseTree
 * reads the text back into the same shape (tested against formatTree).
 */
import { STRATEGIES, type Strategy } from '../../supervisor/strategy.js';
import type { ChildStatus, SupervisorTree } from '../../supervisor/tree.js';
import { call, CtlError, EXIT, table, type Command } from './common.js';

export interface StatusChild {
  id: string;
  type: string;
  state: string;
  /** Restarts of this child by its supervisor. */
  restarts: number;
  restart: 'permanent' | 'transient' | 'temporary';
  pid?: number;
  threadId?: number;
  /** For a child supervisor: its strategy and its own state. */
  strategy?: Strategy;
  supervisorState?: string;
  /** Summary of the last exit, e.g. `error: boom`. */
  lastExit?: string;
  children?: StatusChild[];
}

export interface StatusTree {
  name: string;
  strategy: string;
  state: string;
  /** Restarts inside the current intensity window, and the window. */
  recentRestarts: number;
  intensity: number;
  periodMs: number;
  children: StatusChild[];
}

const HEAD = /^(\S+) {2}(\S+) {2}(\S+) {2}restarts (\d+)\/(\d+) per (\d+)ms$/;
const CHILD = /^((?:│ {3}| {4})*)(?:├── |└── )(.*)$/;

/** The text of formatTree back into data; throws on a line it does not recognise. */
export function parseTree(text: string): StatusTree {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = HEAD.exec(lines[0] ?? '');
  if (!head) throw new Error(`unrecognised first line: ${JSON.stringify(lines[0])}`);
  const tree: StatusTree = {
    name: head[1],
    strategy: head[2],
    state: head[3],
    recentRestarts: Number(head[4]),
    intensity: Number(head[5]),
    periodMs: Number(head[6]),
    children: [],
  };
  // levels[d] = the list that children at depth d+1 go into.
  const levels: StatusChild[][] = [tree.children];
  for (const line of lines.slice(1)) {
    const m = CHILD.exec(line);
    if (!m) throw new Error(`unrecognised line: ${JSON.stringify(line)}`);
    const depth = [...m[1]].length / 4;
    if (depth >= levels.length) throw new Error(`line nested too deep: ${JSON.stringify(line)}`);
    const child = parseChild(m[2], line);
    levels[depth].push(child);
    levels.length = depth + 1;
    levels.push((child.children = []));
  }
  const prune = (cs: StatusChild[]): void => {
    for (const c of cs) {
      if (c.children!.length === 0) delete c.children;
      else prune(c.children!);
    }
  };
  prune(tree.children);
  return tree;
}

function parseChild(s: string, line: string): StatusChild {
  const parts = s.split('  ');
  const restarts = /^restarts=(\d+)$/.exec(parts[3] ?? '');
  if (parts.length < 4 || !restarts) throw new Error(`unrecognised line: ${JSON.stringify(line)}`);
  const c: StatusChild = { id: parts[0], type: parts[1], state: parts[2], restarts: Number(restarts[1]), restart: 'permanent' };
  for (let i = 4; i < parts.length; i++) {
    const p = parts[i];
    let m: RegExpExecArray | null;
    if (p.startsWith('last=')) {
      c.lastExit = parts.slice(i).join('  ').slice('last='.length);
      break;
    } else if (p === 'transient' || p === 'temporary') c.restart = p;
    else if ((m = /^pid=(\d+)$/.exec(p))) c.pid = Number(m[1]);
    else if ((m = /^thread=(\d+)$/.exec(p))) c.threadId = Number(m[1]);
    else if ((STRATEGIES as readonly string[]).includes(p)) c.strategy = p as Strategy;
    else if ((m = /^\((\w+)\)$/.exec(p))) c.supervisorState = m[1];
    else throw new Error(`unrecognised field ${JSON.stringify(p)} in ${JSON.stringify(line)}`);
  }
  return c;
}

/** The node's JSON tree (supervisor/tree.ts SupervisorTree) in the shape parseTree gives. */
export function toStatusTree(t: SupervisorTree): StatusTree {
  const child = (c: ChildStatus): StatusChild => {
    const out: StatusChild = { id: c.id, type: c.type, state: c.state, restarts: c.restarts, restart: c.restart };
    if (c.pid !== undefined) out.pid = c.pid;
    if (c.threadId !== undefined) out.threadId = c.threadId;
    if (c.tree) {
      out.strategy = c.tree.strategy;
      out.supervisorState = c.tree.state;
    }
    if (c.lastExit !== undefined) out.lastExit = c.lastExit;
    if (c.tree && c.tree.children.length) out.children = c.tree.children.map(child);
    return out;
  };
  return { name: t.name, strategy: t.strategy, state: t.state, recentRestarts: t.recentRestarts, intensity: t.intensity, periodMs: t.periodMs, children: t.children.map(child) };
}

/** GET /admin/status?format=json (node/admin/admin_service.ts statusJson). */
export interface NodeStatus {
  node: string;
  ready: boolean;
  draining: boolean;
  log_level: string;
  connections: number;
  shards: Array<{ shard: number; connections: number; up: boolean; in_flight_ops: number }>;
  store: { kind: string; queue_depth: number; in_flight_ops: number; ops_committed: number; ops_failed: number } | null;
  tree: SupervisorTree;
}

export function renderShards(s: NodeStatus): string {
  const rows = s.shards.map((x) => [String(x.shard), x.up ? 'up' : 'down', String(x.connections), String(x.in_flight_ops)]);
  const st = s.store;
  return [
    table(['shard', 'thread', 'connections', 'ops in flight'], rows),
    `${s.connections} connection${s.connections === 1 ? '' : 's'}; ` +
      (st ? `store (${st.kind}): ${st.queue_depth} ops queued, ${st.in_flight_ops} committing, ${st.ops_committed} committed, ${st.ops_failed} failed` : 'store: not running') +
      `; log level ${s.log_level}`,
  ].join('\n');
}

export const status: Command = {
  words: ['status'],
  args: '',
  summary: 'is the node ready, its live supervision tree, connections and queues per shard (GET /admin/status)',
  async run(ctx) {
    if (ctx.json) {
      const a = await call(ctx, 'GET', '/admin/status?format=json');
      const s = a.body as NodeStatus | null;
      if (!s || typeof s !== 'object' || !s.tree) throw new CtlError(EXIT.refused, `the node's /admin/status?format=json answer is not the status JSON: ${a.text.slice(0, 200)}`);
      ctx.io.out(JSON.stringify({ url: ctx.url(), ...s, tree: toStatusTree(s.tree) }, null, 2));
      return EXIT.ok;
    }
    const tree = await call(ctx, 'GET', '/admin/status');
    // 503 from /readyz is an answer: the node is draining.
    const ready = await call(ctx, 'GET', '/readyz', { auth: false, accept: [503] });
    const isReady = ready.status === 200;
    ctx.io.out(`${ctx.url()}  ${isReady ? 'ready' : `not ready (/readyz ${ready.status}: draining)`}`);
    ctx.io.out(tree.text.trimEnd());
    const j = await call(ctx, 'GET', '/admin/status?format=json');
    if (j.body && typeof j.body === 'object' && Array.isArray((j.body as NodeStatus).shards)) ctx.io.out('\n' + renderShards(j.body as NodeStatus));
    return EXIT.ok;
  },
};
