/**
 * The web chat's script (bundled for the browser by node/web/bundle.ts): DOM glue
 * around the SDK. Sign-in asks the node for a dev token (POST /web/dev-signin) and
 * keeps it in sessionStorage; the SDK fetches a fresh ticket with it for every connect
 * and keeps its state (cursors, messages, outbox) in IndexedDB per user and device, so
 * a reload or a closed tab loses nothing that was typed.
 */
import { IndexedDbStorage, SwitchboardClient, type ConversationInfo, type OutboxEntry, type StoredMessage, type Tick } from '../../../protocol/sdk/index.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const TICK_TEXT: Record<Tick, string> = { pending: '◷', failed: '!', sent: '✓', delivered: '✓✓', read: '✓✓' };
const TICK_LABEL: Record<Tick, string> = { pending: 'sending', failed: 'not sent', sent: 'sent', delivered: 'delivered', read: 'read' };

let client: SwitchboardClient | null = null;
let current: string | null = null;
let renderQueued = false;

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/ws`;
}

/** One device id per user per browser profile, so a reload reuses the same outbox. */
function deviceFor(user: string): string {
  const key = `sb.device.${user}`;
  let d = localStorage.getItem(key);
  if (!d) {
    d = `web-${Math.random().toString(36).slice(2, 10)}`;
    localStorage.setItem(key, d);
  }
  return d;
}

async function signIn(user: string): Promise<void> {
  const device = deviceFor(user);
  let token = sessionStorage.getItem('sb.token');
  if (!token || sessionStorage.getItem('sb.user') !== user) {
    const r = await fetch('/web/dev-signin', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, device }) });
    const body = (await r.json()) as { token?: string; message?: string };
    if (r.status !== 201 || !body.token) throw new Error(body.message ?? `sign-in failed (${r.status})`);
    token = body.token;
    sessionStorage.setItem('sb.token', token);
    sessionStorage.setItem('sb.user', user);
  }
  const t = token;
  client = new SwitchboardClient({ url: wsUrl(), user, auth: { token: async () => t }, tokenVia: 'ticket', storage: new IndexedDbStorage(`${user}/${device}`) });
  client.on('status', (s) => {
    showStatus(s.status, s.retryInMs);
    queueRender();
  });
  for (const ev of ['message', 'outbox', 'receipts', 'conversations', 'resync', 'typing'] as const) client.on(ev, () => queueRender());
  client.on('presence', () => queueRender());
  client.on('conversations', () => watchPeers());
  client.on('error', (e) => {
    if (e.code === 'unauthenticated' || e.code === 'token_expired') sessionStorage.removeItem('sb.token');
    showStatus(client?.status ?? 'offline', undefined, e.clientMsgId ? `Not sent: ${e.message}` : undefined);
  });
  $('signin').hidden = true;
  $('chat').hidden = false;
  $('signout').hidden = false;
  $('me').textContent = user;
  await client.start();
  queueRender();
}

function showStatus(status: string, retryInMs?: number, note?: string): void {
  const b = $('banner');
  b.classList.toggle('offline', status === 'offline' || status === 'stopped');
  const text =
    status === 'online' ? (note ?? '') : status === 'offline' ? `Offline. Reconnecting${retryInMs !== undefined ? ` in ${Math.ceil(retryInMs / 1000)} s` : ''}…` : status === 'stopped' ? 'Disconnected' : 'Connecting…';
  b.textContent = text;
  b.dataset.status = status;
  b.hidden = text === '';
}

/** Watch the presence of every direct-chat peer (the node allows 256 per connection). */
let watched = '';
function watchPeers(): void {
  if (!client || client.status !== 'online') return;
  const peers = client
    .conversations()
    .filter((c) => c.kind === 'direct')
    .flatMap((c) => c.members.filter((u) => u !== client!.user))
    .slice(0, 256);
  const key = peers.sort().join(',');
  if (key === watched) return;
  watched = key;
  client.watchPresence(peers).catch(() => (watched = ''));
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  // Not requestAnimationFrame: a background tab would never render (or read) then.
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

function title(c: ConversationInfo, me: string): string {
  if (c.kind === 'group') return c.subject || 'Group';
  return c.members.filter((u) => u !== me).join(', ') || c.id;
}

function render(): void {
  if (!client) return;
  const me = client.user;
  const list = $('conv-list');
  list.replaceChildren(
    ...client.conversations().map((c) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.conversation = c.id;
      b.setAttribute('aria-current', String(c.id === current));
      const dot = document.createElement('span');
      const peer = c.kind === 'direct' ? c.members.find((u) => u !== me) : undefined;
      const online = peer && client!.status === 'online' ? client!.presenceOf(peer)?.online === true : false;
      dot.className = `dot${online ? ' online' : ''}`;
      dot.setAttribute('aria-hidden', 'true');
      // Presence is per user: a group has no dot of its own.
      if (c.kind === 'group') dot.style.visibility = 'hidden';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = title(c, me);
      b.append(dot, name);
      const unread = client!.unread(c.id);
      if (unread > 0 && c.id !== current) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = String(unread);
        badge.setAttribute('aria-label', `${unread} unread`);
        b.append(badge);
      }
      b.setAttribute('aria-label', `${c.kind === 'group' ? 'Group' : 'Chat with'} ${title(c, me)}${peer ? (online ? ', online' : ', offline') : ''}${unread ? `, ${unread} unread` : ''}`);
      b.addEventListener('click', () => select(c.id));
      li.append(b);
      return li;
    }),
  );
  renderConversation();
}

function renderConversation(): void {
  const section = $('conv');
  if (!client || !current) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const me = client.user;
  const c = client.conversation(current)!;
  $('conv-title').textContent = title(c, me);
  const peer = c.kind === 'direct' ? c.members.find((u) => u !== me) : undefined;
  // While this page is offline its presence data is stale: show none rather than a guess.
  const p = peer && client.status === 'online' ? client.presenceOf(peer) : undefined;
  $('conv-presence').textContent =
    c.kind === 'group' ? c.members.join(', ') : !p ? '' : p.online ? 'online' : p.lastSeenHidden || !p.lastSeenMs ? 'offline' : `last seen ${new Date(p.lastSeenMs).toLocaleTimeString()}`;
  const held = client.messages(current);
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...held.map((m) => messageItem(m, me)), ...client.pending(current).map((e) => pendingItem(e)));
  if (atBottom) box.scrollTop = box.scrollHeight;
  const lowest = held[0]?.seq ?? 0;
  $('older').hidden = !(lowest > Math.max(1, c.firstSeq));
  const typers = client.typingIn(current).filter((u) => u !== me);
  $('typing').textContent = typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : '';
  if (document.visibilityState === 'visible') client.markRead(current);
}

function messageItem(m: StoredMessage, me: string): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.seq = String(m.seq);
  li.dataset.clientMsgId = m.clientMsgId;
  if (m.meta.system) {
    li.className = 'msg system';
    li.textContent = systemText(m);
    return li;
  }
  const mine = m.sender === me;
  li.className = `msg${mine ? ' mine' : ''}`;
  if (!mine && client!.conversation(m.conversation)?.kind === 'group') {
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = m.sender;
    li.append(from);
  }
  if (m.media) li.append(mediaElement(m));
  const body = document.createElement('span');
  body.className = 'body';
  body.textContent = m.body;
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = new Date(m.serverTs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (mine) meta.append(tickSpan(client!.tick(m.conversation, m.seq)));
  li.append(body, meta);
  if (mine) li.dataset.tick = client!.tick(m.conversation, m.seq);
  return li;
}

/**
 * An attachment: an image element (kept across renders so it is fetched once) whose
 * source is a short-lived download URL from the node, or a link for other types.
 */
const mediaNodes = new Map<string, HTMLElement>();
function mediaElement(m: StoredMessage): HTMLElement {
  const ref = m.media!;
  let el = mediaNodes.get(ref.mediaId);
  if (el) return el;
  const image = ref.mime.startsWith('image/');
  el = image ? document.createElement('img') : document.createElement('a');
  if (el instanceof HTMLImageElement) el.alt = `image from ${m.sender}${ref.width ? ` (${ref.width}×${ref.height})` : ''}`;
  else {
    el.textContent = `file (${ref.mime}, ${ref.size} bytes)`;
    el.setAttribute('download', '');
  }
  el.dataset.mediaId = ref.mediaId;
  mediaNodes.set(ref.mediaId, el);
  const target = el;
  client
    ?.mediaUrl(m.conversation, ref.mediaId)
    .then(({ url }) => (target instanceof HTMLImageElement ? (target.src = url) : ((target as HTMLAnchorElement).href = url)))
    .catch(() => mediaNodes.delete(ref.mediaId)); // offline: try again on the next render
  return el;
}

function pendingItem(e: OutboxEntry): HTMLLIElement {
  const li = document.createElement('li');
  const tick: Tick = e.failed ? 'failed' : 'pending';
  li.className = 'msg mine';
  li.dataset.clientMsgId = e.clientMsgId;
  li.dataset.tick = tick;
  const body = document.createElement('span');
  body.className = 'body';
  body.textContent = e.media ? `${e.body || 'image'} (attachment)` : e.body;
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.append(tickSpan(tick));
  li.append(body, meta);
  if (e.failed) {
    const x = document.createElement('button');
    x.type = 'button';
    x.textContent = 'Dismiss';
    x.setAttribute('aria-label', `Dismiss unsent message: ${e.failed.message}`);
    x.addEventListener('click', () => client?.discard(e.conversation, e.clientMsgId));
    li.append(x);
  }
  return li;
}

function tickSpan(t: Tick): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = `tick ${t}`;
  s.textContent = TICK_TEXT[t];
  s.setAttribute('role', 'img');
  s.setAttribute('aria-label', TICK_LABEL[t]);
  return s;
}

function systemText(m: StoredMessage): string {
  const by = m.meta.by ?? m.sender;
  switch (m.meta.system) {
    case 'group_created':
      return `${by} created the group “${m.meta.subject ?? ''}”`;
    case 'member_added':
      return `${by} added ${m.meta.users}`;
    case 'member_removed':
      return `${by} removed ${m.meta.users}`;
    case 'member_left':
      return `${m.meta.users} left`;
    case 'subject_changed':
      return `${by} renamed the group to “${m.meta.subject ?? ''}”`;
    default:
      return `${by}: ${m.meta.system}`;
  }
}

function select(id: string): void {
  current = id;
  render();
  $<HTMLInputElement>('composer-text').focus();
}

function wire(): void {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = $<HTMLInputElement>('signin-user').value.trim();
    $('signin-error').textContent = '';
    signIn(user).catch((e: unknown) => ($('signin-error').textContent = (e as Error).message));
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.clear();
    void client?.close().then(() => location.reload());
  });
  $('direct-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const peer = $<HTMLInputElement>('direct-peer').value.trim();
    client
      ?.openDirect(peer)
      .then((id) => {
        $<HTMLInputElement>('direct-peer').value = '';
        select(id);
        watchPeers();
      })
      .catch((e: unknown) => showStatus(client?.status ?? 'offline', undefined, `Could not open the chat: ${(e as Error).message}`));
  });
  $('group-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const subject = $<HTMLInputElement>('group-subject').value.trim();
    const members = $<HTMLInputElement>('group-members')
      .value.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    client
      ?.createGroup(subject, members)
      .then((id) => {
        $<HTMLInputElement>('group-subject').value = '';
        $<HTMLInputElement>('group-members').value = '';
        ($('group-box') as HTMLDetailsElement).open = false;
        select(id);
      })
      .catch((e: unknown) => showStatus(client?.status ?? 'offline', undefined, `Could not create the group: ${(e as Error).message}`));
  });
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>('composer-text');
    const text = input.value;
    if (!client || !current || text.trim() === '') return;
    client.send(current, text);
    input.value = '';
    queueRender();
  });
  $('composer-file').addEventListener('change', () => {
    const input = $<HTMLInputElement>('composer-file');
    const file = input.files?.[0];
    if (!client || !current || !file) return;
    const conv = current;
    const caption = $<HTMLInputElement>('composer-text');
    const text = caption.value;
    caption.value = '';
    $('upload').textContent = `Uploading ${file.name}…`;
    void file
      .arrayBuffer()
      .then((buf) => client!.sendMedia(conv, new Uint8Array(buf), file.type || 'application/octet-stream', text))
      .then(
        () => ($('upload').textContent = ''),
        (e: unknown) => ($('upload').textContent = `Could not send ${file.name}: ${(e as Error).message}`),
      )
      .finally(() => {
        input.value = '';
        queueRender();
      });
  });
  $('composer-text').addEventListener('input', () => {
    if (client && current) client.typing(current);
  });
  $('older').addEventListener('click', () => {
    if (!client || !current) return;
    const lowest = client.messages(current)[0]?.seq ?? 0;
    void client.history(current, lowest, 50).then(() => queueRender());
  });
  document.addEventListener('visibilitychange', () => queueRender());
  // The browser knows about the network first: drop a socket it says is cut (the banner
  // shows at once, not after a missed heartbeat), and reconnect the moment it is back.
  window.addEventListener('offline', () => client?.disconnect());
  window.addEventListener('online', () => client?.reconnectNow());
  // Typing indicators expire on the clock, not on an event.
  setInterval(() => {
    if (current && client) $('typing').textContent = typingLine();
  }, 1000);
  const user = sessionStorage.getItem('sb.user');
  if (user) signIn(user).catch((e: unknown) => ($('signin-error').textContent = (e as Error).message));
}

function typingLine(): string {
  const typers = client!.typingIn(current!).filter((u) => u !== client!.user);
  return typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : '';
}

wire();
