/**
 * The fake provider servers in a child process (cli.ts), driven over the control API:
 * `spawnPushFakes(dir)` starts them and resolves once they listen, with the `push`
 * config for a node and the same operations a test has in-process (records, script,
 * down, Web Push subscriptions). For multi-process tests where the node under test is
 * its own process and the fakes should outlive a node restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import type { PushProvidersConfig } from '../../config.js';
import type { FakeName } from './fake_set.js';
import type { FakeRecord, ScriptedAnswer } from './fake_server.js';

const CLI = path.join(path.dirname(new URL(import.meta.url).pathname), 'cli.ts');

export class RemotePushFakes {
  private constructor(
    private readonly child: ChildProcess,
    readonly control: string,
    readonly urls: Record<FakeName, string>,
    /** The `push` provider sections pointing a node at these fakes. */
    readonly config: PushProvidersConfig,
  ) {}

  static async spawn(dir: string): Promise<RemotePushFakes> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--dir', dir, '--parent-pipe'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once('line', (l) => resolve(l));
      child.once('exit', (code) => reject(new Error(`push fakes exited with ${code} before they were ready`)));
    });
    const ready = JSON.parse(line) as { control: string; urls: Record<FakeName, string>; push: PushProvidersConfig };
    return new RemotePushFakes(child, ready.control, ready.urls, ready.push);
  }

  private async call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.control}${route}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
    const json = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new Error(`push fakes control ${route}: ${json.error ?? res.status}`);
    return json;
  }

  records(fake: FakeName): Promise<FakeRecord[]> {
    return this.call('GET', `/records/${fake}`);
  }

  async clear(fake: FakeName): Promise<void> {
    await this.call('POST', `/records/${fake}/clear`);
  }

  async script(fake: FakeName, key: string, answer: ScriptedAnswer): Promise<void> {
    await this.call('POST', `/script/${fake}`, { key, answer });
  }

  async setDown(fake: FakeName, down: boolean): Promise<void> {
    await this.call('POST', `/down/${fake}`, { down });
  }

  subscribe(): Promise<{ id: string; token: string }> {
    return this.call('POST', '/webpush/subscribe');
  }

  async unsubscribe(id: string): Promise<void> {
    await this.call('POST', '/webpush/unsubscribe', { id });
  }

  /** Provider tokens the fake APNs accepted, in order. */
  apnsTokens(): Promise<string[]> {
    return this.call('GET', '/tokens/apns');
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
