/**
 * `switchboardctl status`: is the node ready, and its live supervision tree
 * (GET /readyz, GET /admin/status).
 *
 * The node serves the tree as text (supervisor/tree.ts formatTree); --json reads that
 * text back into data (parseTree, tested against formatTree so the two cannot drift).
 */
import { STRATEGIES, type Strategy } from '../../supervisor/strategy.js';
import { call, CtlError, EXIT, type Command } from './common.js';

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

export const status: Command = {
  words: ['status'],
  args: '',
  summary: 'is the node ready, and its live supervision tree (GET /readyz, /admin/status)',
  async run(ctx) {
    const tree = await call(ctx, 'GET', '/admin/status');
    // 503 from /readyz is an answer: the node is draining.
    const ready = await call(ctx, 'GET', '/readyz', { auth: false, accept: [503] });
    const isReady = ready.status === 200;
    if (ctx.json) {
      let parsed: StatusTree;
      try {
        parsed = parseTree(tree.text);
      } catch (e) {
        throw new CtlError(EXIT.refused, `cannot read the node's /admin/status text: ${(e as Error).message}`);
      }
      ctx.io.out(JSON.stringify({ url: ctx.url(), ready: isReady, tree: parsed }, null, 2));
    } else {
      ctx.io.out(`${ctx.url()}  ${isReady ? 'ready' : `not ready (/readyz ${ready.status}: draining)`}`);
      ctx.io.out(tree.text.trimEnd());
    }
    return EXIT.ok;
  },
};
