/**
 * Load process for `npm run bench -- media`: uploads 10 MB files back to back through
 * the HTTP API (slot) and tus (one PATCH), `--concurrency` at once, until stdin closes;
 * prints the number of finished uploads. A process of its own so that the bench's
 * latency-measuring client does not share an event loop with 40 MB of request bodies.
 *
 *   node --import tsx benchmarks/media_uploader.ts --http URL --key API_KEY --user U --conversation C --concurrency 4
 */
import { parseFlags, num, str } from '../ops/lib/args.js';
import { pngBytes, tusPatch } from '../node/media/media_test_kit.js';

const flags = parseFlags(process.argv.slice(2));
const http = str(flags, 'http', '');
const key = str(flags, 'key', '');
const user = str(flags, 'user', '');
const conversation = str(flags, 'conversation', '');
const conc = num(flags, 'concurrency', 4);
const size = 10 * 1024 * 1024;
let running = true;
let done = 0;
process.stdin.on('close', () => (running = false)).resume();

await Promise.all(
  Array.from({ length: conc }, async () => {
    while (running) {
      const r = await fetch(`${http}/v1/media/slots`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user, conversation, size, mime: 'image/png' }),
      });
      const slot = (await r.json()) as { upload_url?: string; message?: string };
      if (!slot.upload_url) throw new Error(`slot refused: ${r.status} ${slot.message}`);
      const up = await tusPatch(slot.upload_url, 0, pngBytes(size));
      if (up.status !== 204) throw new Error(`upload answered ${up.status} ${up.body}`);
      done++;
    }
  }),
);
process.stdout.write(`${done}\n`);
