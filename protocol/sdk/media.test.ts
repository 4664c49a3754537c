/** uploadTus against a scripted tus server: resume after a dropped link and after a 409, no retry on a refusal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uploadTus, UploadError } from './media.js';

type Call = { method: string; offset?: string; length?: number };

/** A fake fetch that keeps `have` bytes and follows a script of failures. */
function server(script: Array<'drop' | 'partial' | 'ok' | 'conflict' | 'refuse'>) {
  const calls: Call[] = [];
  let have = 0;
  const f = (async (_url: string, init: { method: string; headers: Record<string, string>; body?: Uint8Array }) => {
    calls.push({ method: init.method, offset: init.headers['Upload-Offset'], length: init.body?.length });
    if (init.method === 'HEAD') return new Response(null, { status: 200, headers: { 'Upload-Offset': String(have) } });
    const step = script.shift();
    if (step === 'drop') {
      have += 4; // some bytes arrived before the link dropped
      throw new TypeError('fetch failed');
    }
    if (step === 'conflict') return new Response(null, { status: 409 });
    if (step === 'refuse') return new Response(JSON.stringify({ code: 'media_hash_mismatch', message: 'no' }), { status: 422 });
    have += init.body?.length ?? 0;
    return new Response(null, { status: 204 });
  }) as unknown as typeof fetch;
  return { f, calls };
}

const bytes = new Uint8Array(10).map((_, i) => i);
const noWait = async (): Promise<void> => undefined;

test('a dropped link: HEAD for the offset, continue from there', async () => {
  const s = server(['drop', 'ok']);
  await uploadTus('http://m/u', bytes, s.f, noWait);
  assert.deepEqual(s.calls, [
    { method: 'PATCH', offset: '0', length: 10 },
    { method: 'HEAD', offset: undefined, length: undefined },
    { method: 'PATCH', offset: '4', length: 6 },
  ]);
});

test('a 409 (offset mismatch) resumes from the server offset; a refusal is not retried', async () => {
  const s = server(['conflict', 'ok']);
  await uploadTus('http://m/u', bytes, s.f, noWait);
  assert.deepEqual(s.calls.map((c) => c.method), ['PATCH', 'HEAD', 'PATCH']);
  const r = server(['refuse', 'ok']);
  await assert.rejects(uploadTus('http://m/u', bytes, r.f, noWait), (e: unknown) => e instanceof UploadError && e.status === 422 && e.code === 'media_hash_mismatch');
  assert.equal(r.calls.length, 1);
});

test('gives up after UPLOAD_ATTEMPTS dropped links', async () => {
  const s = server(['drop', 'drop', 'drop', 'drop', 'drop', 'ok']);
  await assert.rejects(uploadTus('http://m/u', new Uint8Array(100), s.f, noWait), /fetch failed/);
  assert.equal(s.calls.filter((c) => c.method === 'PATCH').length, 5);
});
