/**
 * Spawns a baseline server (benchmarks/baselines/*.ts: the echo servers, the durable chat floor) as its own process, so its
 * RSS is measured alone, exactly like the node's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from '../../ops/lib/results.js';

export type BaselineKind = 'uws' | 'ws' | 'durable';

/** Each kind's script in benchmarks/baselines/. */
const SCRIPTS: Record<BaselineKind, string> = { uws: 'uws_echo.ts', ws: 'ws_echo.ts', durable: 'durable_chat.ts' };

export interface BaselineServer {
  kind: BaselineKind;
  proc: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** With `tls` the server speaks wss:// (uWS SSLApp, or `ws` over https.createServer). */
/** `extraEnv`: e.g. the thread probe's (node_probe.ts), for a forced GC on command. */
export function startBaseline(kind: BaselineKind, tls?: { certFile: string; keyFile: string }, extraEnv: Record<string, string> = {}): Promise<BaselineServer> {
  const env = { ...process.env, ...(tls ? { SB_TLS_CERT: tls.certFile, SB_TLS_KEY: tls.keyFile } : {}), ...extraEnv };
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', `benchmarks/baselines/${SCRIPTS[kind]}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${kind} baseline did not start in 15 s`));
    }, 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({
          kind,
          proc,
          url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${m[1]}/`,
          stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
            await exited;
          },
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${kind} baseline exited with ${code}`));
    });
  });
}
