/**
 * The V8 sampling profiler on this process (the in-process load generator), over a
 * measured window: start(), then stop() writes a .cpuprofile and returns its path,
 * for cpu_profile.ts to summarise beside the node's threads.
 */
import { Session } from 'node:inspector';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export class SelfProfiler {
  private session: Session | null = null;

  private post(method: string, params?: object): Promise<any> {
    return new Promise((resolve, reject) => this.session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  }

  async start(): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.setSamplingInterval', { interval: 1000 });
    await this.post('Profiler.start');
  }

  async stop(): Promise<string | null> {
    if (!this.session) return null;
    const { profile } = await this.post('Profiler.stop');
    this.session.disconnect();
    this.session = null;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'sb-client-prof-')), 'client.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    return file;
  }
}
