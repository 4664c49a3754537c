/**
 * The live supervision tree as data (`Supervisor.tree()` / `whichChildren()`), and a
 * pretty-printer for it. The host serves the data as JSON over HTTP and prints the text
 * from its CLI; both come from here so they cannot disagree.
 */
import type { ChildType, RestartType } from './types.js';
import type { Strategy } from './strategy.js';

export type SupervisorState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/**
 * - `starting` / `running` / `stopping`: as they say.
 * - `restarting`: stopped as part of a restart group, waiting for its turn to start.
 * - `stopped`: not running and kept in the list (transient child that ended cleanly,
 *   terminated with `terminateChild`, or left behind when the supervisor stopped).
 * - `hung`: declared hung; abandoned, never killed, never restarted.
 */
export type ChildState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'hung';

export interface ChildStatus {
  readonly id: string;
  readonly type: ChildType;
  readonly restart: RestartType;
  readonly state: ChildState;
  /** How many times this supervisor has restarted the child. */
  readonly restarts: number;
  readonly pid?: number;
  readonly threadId?: number;
  /** Summary of the last exit, e.g. `error: boom`. */
  readonly lastExit?: string;
  /** For a child supervisor that is running: its own subtree. */
  readonly tree?: SupervisorTree;
}

export interface SupervisorTree {
  readonly name: string;
  readonly strategy: Strategy;
  readonly state: SupervisorState;
  /** Restarts inside the current intensity window, and the window's limits. */
  readonly recentRestarts: number;
  readonly intensity: number;
  readonly periodMs: number;
  readonly children: readonly ChildStatus[];
}

/**
 * Render a tree as indented text, one line per node:
 *
 *     host  one_for_one  running  restarts 0/3 per 5000ms
 *     ├── store  worker  running  restarts=0
 *     └── shards  supervisor  running  restarts=0
 *         └── shard-0  worker  running  restarts=2  thread=1  last=error: boom
 */
export function formatTree(tree: SupervisorTree): string {
  const lines = [supervisorLine(tree.name, tree)];
  appendChildren(lines, tree.children, '');
  return lines.join('\n');
}

function supervisorLine(label: string, tree: SupervisorTree): string {
  return `${label}  ${tree.strategy}  ${tree.state}  restarts ${tree.recentRestarts}/${tree.intensity} per ${tree.periodMs}ms`;
}

function appendChildren(lines: string[], children: readonly ChildStatus[], indent: string): void {
  children.forEach((child, i) => {
    const last = i === children.length - 1;
    lines.push(`${indent}${last ? '└── ' : '├── '}${childLine(child)}`);
    if (child.tree !== undefined) appendChildren(lines, child.tree.children, indent + (last ? '    ' : '│   '));
  });
}

function childLine(child: ChildStatus): string {
  const parts = [child.id, child.type, child.state, `restarts=${child.restarts}`];
  if (child.restart !== 'permanent') parts.push(child.restart);
  if (child.pid !== undefined) parts.push(`pid=${child.pid}`);
  if (child.threadId !== undefined) parts.push(`thread=${child.threadId}`);
  if (child.tree !== undefined) parts.push(child.tree.strategy, `(${child.tree.state})`);
  if (child.lastExit !== undefined) parts.push(`last=${child.lastExit}`);
  return parts.join('  ');
}
