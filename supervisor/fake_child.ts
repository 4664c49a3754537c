/**
 * Scripted children for tests of anything supervised: each start makes a `FakeChild`
 * that a test can crash, end or hang at will, and every start/stop/kill/crash lands in
 * one shared event log so tests can assert ordering.
 */
import type { ChildHandle, StartFn } from './child_handle.js';
import type { ChildSpecInput } from './child_spec.js';
import { ChildHungError } from './errors.js';
import { crashed, NORMAL, SHUTDOWN, type ExitReason } from './exit_reason.js';

export interface FakeBehaviour {
  /** Ignore `requestStop` (only `kill` ends it), to exercise shutdown timeouts. */
  readonly ignoreStop?: boolean;
  /** Make the next N starts of this id throw. */
  readonly failStarts?: number;
}

export class FakeWorld {
  /** `start:a`, `stop:a`, `kill:a`, `crash:a`, `exit:a`, `hang:a`, `start_failed:a` in the order they happened. */
  readonly events: string[] = [];
  private readonly byId = new Map<string, FakeChild[]>();
  private readonly failuresLeft = new Map<string, number>();
  private nextPid = 1000;

  /** A start function for child `id`. */
  start(id: string, behaviour: FakeBehaviour = {}): StartFn {
    if (behaviour.failStarts !== undefined) this.failuresLeft.set(id, behaviour.failStarts);
    return async () => {
      const left = this.failuresLeft.get(id) ?? 0;
      if (left > 0) {
        this.failuresLeft.set(id, left - 1);
        this.events.push(`start_failed:${id}`);
        throw new Error(`${id} refused to start`);
      }
      const child = new FakeChild(id, this.nextPid++, behaviour, this.events);
      const list = this.byId.get(id) ?? [];
      list.push(child);
      this.byId.set(id, list);
      this.events.push(`start:${id}`);
      return child;
    };
  }

  /** A child spec for `id`, with spec fields overridden by `extra`. */
  spec(id: string, extra: Partial<Omit<ChildSpecInput, 'id' | 'start'>> = {}, behaviour: FakeBehaviour = {}): ChildSpecInput {
    return { id, start: this.start(id, behaviour), ...extra };
  }

  /** Make the next `n` starts of `id` throw. */
  failNextStarts(id: string, n: number): void {
    this.failuresLeft.set(id, n);
  }

  /** The most recent instance of `id`; throws if it never started. */
  current(id: string): FakeChild {
    const list = this.byId.get(id);
    if (list === undefined || list.length === 0) throw new Error(`fake child '${id}' never started`);
    return list[list.length - 1];
  }

  starts(id: string): number {
    return this.byId.get(id)?.length ?? 0;
  }

  /** Ids in the events of one kind, in order: `of('start')` -> ['a', 'b']. */
  of(kind: string): string[] {
    return this.events.filter((e) => e.startsWith(`${kind}:`)).map((e) => e.slice(kind.length + 1));
  }
}

export class FakeChild implements ChildHandle {
  readonly exited: Promise<ExitReason>;
  ended = false;
  private settle!: (reason: ExitReason) => void;

  constructor(
    readonly id: string,
    readonly pid: number,
    private readonly behaviour: FakeBehaviour,
    private readonly events: string[],
  ) {
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  requestStop(_deadlineMs: number): void {
    this.events.push(`stop:${this.id}`);
    if (!this.behaviour.ignoreStop) this.end(SHUTDOWN);
  }

  kill(): void {
    this.events.push(`kill:${this.id}`);
    this.end(SHUTDOWN);
  }

  identity(): { pid: number } {
    return { pid: this.pid };
  }

  crash(error: Error = new Error(`${this.id} crashed`)): void {
    this.events.push(`crash:${this.id}`);
    this.end(crashed(error));
  }

  exitNormally(): void {
    this.events.push(`exit:${this.id}`);
    this.end(NORMAL);
  }

  hang(): void {
    this.events.push(`hang:${this.id}`);
    this.end({ kind: 'hung', error: new ChildHungError(`fake child '${this.id}'`, 0) });
  }

  private end(reason: ExitReason): void {
    if (this.ended) return;
    this.ended = true;
    this.settle(reason);
  }
}
