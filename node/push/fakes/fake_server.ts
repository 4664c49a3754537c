/**
 * What the fake provider servers share: a real listening socket on loopback that can be
 * taken down (listener closed, open connections destroyed: clients see refused
 * connections) and brought back on the same port, scripted error answers per key
 * (device token, registration token, endpoint), and the record of every request with
 * the answer it got. The fakes are test servers, not mocks: clients reach them only
 * over sockets.
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';

/** An answer a test tells the fake to give instead of its normal one. */
export interface ScriptedAnswer {
  status: number;
  /** APNs `reason`, FCM `errorCode`/status, or a text body. */
  reason?: string;
  /** Sent as the Retry-After header. */
  retryAfter?: string;
  /** How many requests get it (default: every one until cleared). */
  times?: number;
  /** Never answer (a hung provider): the client's timeout must fire. Recorded with status 0. */
  hang?: boolean;
}

/** One request as the fake saw it, and what it answered. */
export interface FakeRecord {
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON (or decrypted JSON for Web Push); null when not JSON. */
  body: unknown;
  bodyBytes: number;
  status: number;
  /** Why the fake answered as it did ('' for success). */
  reason: string;
  /** Per-fake facts, e.g. the JWT claims it verified. */
  extra: Record<string, unknown>;
}

export class Scripts {
  private readonly byKey = new Map<string, ScriptedAnswer & { left: number }>();

  set(key: string, a: ScriptedAnswer): void {
    this.byKey.set(key, { ...a, left: a.times ?? Infinity });
  }

  /** The scripted answer for this key (or for '*'), consuming one use. */
  take(key: string): ScriptedAnswer | null {
    for (const k of [key, '*']) {
      const a = this.byKey.get(k);
      if (!a) continue;
      if (--a.left <= 0) this.byKey.delete(k);
      return a;
    }
    return null;
  }

  clear(): void {
    this.byKey.clear();
  }
}

/** Listening lifecycle of a fake: listen, down (refuse connections), up on the same port, close. */
export class Listening {
  private readonly sockets = new Set<Socket>();
  port = 0;
  down = false;

  constructor(
    readonly server: Server,
    private readonly host = '127.0.0.1',
  ) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as { port: number }).port;
    this.down = false;
    return this.port;
  }

  /** Stop listening and cut every open connection: a provider that is down. */
  async setDown(down: boolean): Promise<void> {
    if (down === this.down) return;
    if (down) {
      this.down = true;
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      for (const s of this.sockets) s.destroy();
      await closed;
    } else {
      await this.listen(this.port);
    }
  }

  async close(): Promise<void> {
    if (!this.down) await this.setDown(true);
  }
}

/**
 * The part every fake provider has in common: what it received (records), the answers
 * scripted by key, its listener and the calls to take it down, bring it back and close
 * it. A fake builds its server after super() and hands it to serve().
 */
export abstract class FakeProviderServer {
  readonly records: FakeRecord[] = [];
  readonly scripts = new Scripts();
  protected life!: Listening;
  private scheme: 'http' | 'https' = 'http';

  protected serve(server: Server, scheme: 'http' | 'https'): void {
    this.life = new Listening(server);
    this.scheme = scheme;
  }

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.life.port}`;
  }

  /** Answer the next push for `key` (device token, subscription id, URL path) with `a`. */
  script(key: string, a: ScriptedAnswer): void {
    this.scripts.set(key, a);
  }

  setDown(down: boolean): Promise<void> {
    return this.life.setDown(down);
  }

  close(): Promise<void> {
    return this.life.close();
  }
}

/** Header map with single string values (what the records keep). */
export function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
