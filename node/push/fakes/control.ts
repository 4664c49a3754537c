/**
 * The control API of a running fake set (cli.ts), so a test in another process can
 * drive the fakes the way an in-process test does: read records, script answers,
 * take a fake down, make Web Push subscriptions. Plain JSON over HTTP on loopback;
 * test infrastructure only, never part of a node.
 *
 *   GET  /records/<fake>                 the fake's records (FakeRecord[])
 *   POST /records/<fake>/clear
 *   POST /script/<fake>   {key, answer}  answer: {status, reason?, retryAfter?, times?}
 *   POST /down/<fake>     {down: bool}
 *   POST /webpush/subscribe              -> {id, token}
 *   POST /webpush/unsubscribe {id}
 *   GET  /tokens/apns                    provider tokens the fake APNs accepted
 *   GET  /tokens/fcm                     access tokens the fake FCM issued
 */
import http from 'node:http';
import { FAKE_NAMES, type FakeName, type PushFakes } from './fake_set.js';
import type { ScriptedAnswer } from './fake_server.js';

export async function startControl(f: PushFakes, port = 0): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let input: Record<string, unknown> = {};
      try {
        if (chunks.length) input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        reply(400, { error: 'body is not JSON' });
        return;
      }
      const [, verb, name, sub] = (req.url ?? '').split('/');
      const fake = FAKE_NAMES.includes(name as FakeName) ? f[name as FakeName] : null;
      void (async (): Promise<void> => {
        if (verb === 'records' && fake && req.method === 'GET') return reply(200, fake.records);
        if (verb === 'records' && fake && sub === 'clear') {
          fake.records.length = 0;
          return reply(200, {});
        }
        if (verb === 'script' && fake && typeof input.key === 'string') {
          fake.script(input.key, input.answer as ScriptedAnswer);
          return reply(200, {});
        }
        if (verb === 'down' && fake) {
          await fake.setDown(input.down === true);
          return reply(200, {});
        }
        if (verb === 'webpush' && name === 'subscribe') return reply(200, f.webpush.subscribe());
        if (verb === 'webpush' && name === 'unsubscribe' && typeof input.id === 'string') {
          f.webpush.unsubscribe(input.id);
          return reply(200, {});
        }
        if (verb === 'tokens' && name === 'apns') return reply(200, f.apns.tokensSeen);
        if (verb === 'tokens' && name === 'fcm') return reply(200, f.fcm.accessTokens);
        reply(404, { error: `no such control route: ${req.method} ${req.url}` });
      })().catch((e: unknown) => reply(500, { error: String(e) }));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, close: () => new Promise<void>((r) => server.close(() => r())) };
}
