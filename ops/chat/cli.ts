/**
 * The terminal chat client, built on the SDK (protocol/sdk):
 *
 *   npm run chat -- --user alice [--device term] [--url ws://127.0.0.1:8080/v1/ws]
 *                   [--config switchboard.json] [--data-dir ./data] [--token JWT] [--state FILE]
 *
 * Line based: type a line to send it to the open conversation, /help for commands
 * (/file sends an attachment, /url prints its download URL).
 * Incoming messages, your messages' ticks (✓ sent, ✓✓ delivered, ✓✓ read), typing and
 * presence are printed as lines, so it works in any terminal and in tmux. The token
 * is minted like `npm run token` does (the config's auth keys, else the dev secret in
 * the data dir) unless --token is given; the SDK state (cursors, messages, outbox)
 * lives in <data-dir>/chat/<user>-<device>.json, so /quit with unsent messages and a
 * restart sends them.
 */
import { readFileSync } from 'node:fs';
import { emitKeypressEvents, createInterface, clearLine, cursorTo } from 'node:readline';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { SwitchboardClient, type Tick, type WebSocketCtor } from '../../protocol/sdk/index.js';
import { FileStorage } from '../../protocol/sdk/storage_file.js';
import { signToken, canSign } from '../../node/auth/sign.js';
import { loadAuth } from '../token.js';
import { HELP, label, messageLine, mimeOf, presenceLine, TICKS } from './view.js';

const USAGE = 'usage: npm run chat -- --user <id> [--device <id>] [--url ws://host:port/v1/ws] [--config <file>] [--data-dir <dir>] [--token <jwt>] [--state <file>]';
/** A terminal session rarely outlives a working day; the token is re-minted on every connect anyway. */
const TOKEN_TTL_SEC = 12 * 3600;
/** A typing line per peer at most this often (the node relays a notice per second). */
const TYPING_PRINT_MS = 4000;

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    device: { type: 'string', default: 'term' },
    url: { type: 'string', default: 'ws://127.0.0.1:8080/v1/ws' },
    config: { type: 'string' },
    'data-dir': { type: 'string' },
    token: { type: 'string' },
    state: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help || !values.user) {
  console.log(USAGE);
  process.exit(values.help ? 0 : 2);
}
const user = values.user;
const device = values.device!;

async function token(): Promise<string> {
  if (values.token) return values.token;
  const { auth } = loadAuth(values.config, values['data-dir']);
  const key = auth.keys.find(canSign);
  if (!key) throw new Error('no key in the config can sign; pass --token');
  return signToken({ user, device, ttlSec: TOKEN_TTL_SEC, issuer: auth.issuer, audience: auth.audience }, key);
}

const statePath = values.state ?? join(values['data-dir'] ?? './data', 'chat', `${user}-${device}.json`);
const client = new SwitchboardClient({
  url: values.url!,
  user,
  auth: { token },
  WebSocket: WebSocket as unknown as WebSocketCtor,
  storage: new FileStorage(statePath),
});

const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' });
if (process.stdin.isTTY) emitKeypressEvents(process.stdin, rl);

function say(line: string): void {
  if (process.stdout.isTTY) {
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
  }
  process.stdout.write(`${line}\n`);
  rl.prompt(true);
}

let current: string | null = null;
let numbered: string[] = [];
const ticks = new Map<string, Tick>();
const typingPrinted = new Map<string, number>();

function open(id: string): void {
  current = id;
  say(`--- ${label(client.conversation(id), user)} ---`);
  for (const m of client.messages(id).slice(-20)) say(messageLine(m, user, null));
  client.markRead(id);
  rl.setPrompt(`${label(client.conversation(id), user)}> `);
  rl.prompt(true);
}

client.on('status', (s) => {
  if (s.status === 'online') say('* online');
  else if (s.status === 'offline') say(`* offline (close ${s.closeCode ?? '?'}), reconnecting in ${((s.retryInMs ?? 0) / 1000).toFixed(1)} s`);
  else if (s.status === 'stopped' && s.closeCode) say(`* disconnected for good (close ${s.closeCode}): ${s.reason ?? ''}`);
});
client.on('message', (m) => {
  if (m.sender === user && !m.meta.system) {
    ticks.set(`${m.conversation}:${m.seq}`, client.tick(m.conversation, m.seq));
    if (m.conversation === current) say(`${messageLine(m, user, null)}  ${TICKS[client.tick(m.conversation, m.seq)]}`);
    return;
  }
  say(messageLine(m, user, m.conversation === current ? null : label(client.conversation(m.conversation), user, m.sender)));
  if (m.conversation === current) client.markRead(m.conversation);
});
client.on('receipts', ({ conversation }) => {
  for (const m of client.messages(conversation)) {
    if (m.sender !== user || m.meta.system) continue;
    const key = `${conversation}:${m.seq}`;
    const t = client.tick(conversation, m.seq);
    if (ticks.get(key) !== t) {
      ticks.set(key, t);
      say(`  #${m.seq} ${TICKS[t]}${conversation === current ? '' : ` [${label(client.conversation(conversation), user)}]`}`);
    }
  }
});
client.on('typing', (t) => {
  if (t.user === user) return;
  const key = `${t.conversation}:${t.user}`;
  const now = Date.now();
  if (now - (typingPrinted.get(key) ?? 0) < TYPING_PRINT_MS) return;
  typingPrinted.set(key, now);
  say(`* ${t.user} is typing…${t.conversation === current ? '' : ` [${label(client.conversation(t.conversation), user, t.user)}]`}`);
});
client.on('presence', ({ users }) => users.forEach((p) => say(presenceLine(p))));
client.on('error', (e) => say(`! ${e.code}: ${e.message}`));
client.on('conversations', () => {
  const peers = client
    .conversations()
    .filter((c) => c.kind === 'direct')
    .flatMap((c) => c.members.filter((u) => u !== user));
  const key = [...new Set(peers)].sort().join(',');
  if (key !== watched && client.status === 'online') {
    watched = key;
    client.watchPresence(key ? key.split(',') : []).catch(() => (watched = ''));
  }
});
let watched = '';

process.stdin.on('keypress', () => {
  if (current) client.typing(current);
});

async function command(line: string): Promise<void> {
  const [cmd, ...args] = line.trim().split(/\s+/);
  switch (cmd) {
    case '/help':
      return say(HELP);
    case '/open':
      if (!args[0]) return say('usage: /open USER');
      return open(await client.openDirect(args[0]));
    case '/group': {
      if (args.length < 2) return say('usage: /group NAME U1,U2,...');
      return open(await client.createGroup(args[0], args[1].split(',').filter(Boolean)));
    }
    case '/list':
      numbered = client.conversations().map((c) => c.id);
      if (numbered.length === 0) return say('no conversations yet: /open USER');
      numbered.forEach((id, i) => {
        const n = client.unread(id);
        say(`${i + 1}. ${label(client.conversation(id), user)}${n ? ` (${n} unread)` : ''}`);
      });
      return;
    case '/go': {
      const id = numbered[Number(args[0]) - 1];
      return id ? open(id) : say('usage: /go N (numbers from /list)');
    }
    case '/history': {
      if (!current) return say('open a conversation first');
      const lowest = client.messages(current)[0]?.seq ?? 0;
      const page = await client.history(current, lowest, 20);
      for (const m of [...page.messages].reverse()) say(messageLine(m, user, null));
      return say(page.hasMore ? '(more: /history again)' : '(the beginning)');
    }
    case '/file': {
      if (!current || !args[0]) return say('usage: /file PATH [caption] (in an open conversation)');
      const bytes = new Uint8Array(readFileSync(args[0]));
      say(`  uploading ${args[0]} (${bytes.length} bytes)…`);
      await client.sendMedia(current, bytes, mimeOf(args[0]), args.slice(1).join(' '));
      return;
    }
    case '/url': {
      const m = current ? client.messages(current).find((x) => x.seq === Number(args[0])) : undefined;
      if (!m?.media) return say('usage: /url N (a message with an attachment in this conversation)');
      const u = await client.mediaUrl(current!, m.media.mediaId);
      return say(`  ${u.url}  (valid until ${new Date(u.expiresAtMs).toISOString().slice(11, 19)} UTC)`);
    }
    case '/quit':
      await client.close();
      rl.close();
      process.exit(0);
      return;
    default:
      return say(`unknown command ${cmd}; /help`);
  }
}

rl.on('line', (line) => {
  const text = line.trim();
  if (text === '') return rl.prompt();
  if (text.startsWith('/')) {
    command(text).catch((e: unknown) => say(`! ${(e as Error).message}`));
    return;
  }
  if (!current) return say('open a conversation first: /open USER (or /help)');
  const e = client.send(current, line);
  say(`  (${client.pending(current).length} queued) you: ${e.body}`);
});
rl.on('close', () => void client.close().then(() => process.exit(0)));

say(`Switchboard chat as ${user} (device ${device}) on ${values.url}. /help for commands.`);
await client.start();
rl.prompt();
