/**
 * The schema of an op that crossed from another node (cluster.proto ForwardCall.op_json,
 * JSON of a CoreOp): read field by field into a fresh CoreOp, so that nothing the
 * schema does not name reaches the core, and refused with an error naming the field
 * when it does not match (not JSON, an unknown op, a field missing or of the wrong
 * type, a seq that is not an integer in 0..2^53 - 1). Then the rules of op_rules.ts
 * that every edge and the core apply alike (id patterns, client_msg_id, subject), so
 * a refusal here is one the core would have made anyway.
 *
 * Sends do not come this way: they cross typed (ForwardSend), on the hot path. Unknown
 * fields are left behind rather than refused, so a newer peer may add one.
 */
import { ERROR_CODES, type ErrorCode } from '../../protocol/codes.js';
import type { CoreOp, CoreResult } from './ops.js';
import { clientMsgIdRule, groupIdRule, peerRule, seqRule, subjectRule, usersRule, type Refusal } from './op_rules.js';

export type PeerOp = { ok: true; op: CoreOp; backend: boolean } | { ok: false; code: ErrorCode; message: string };

class Mismatch extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function check(r: Refusal | null): void {
  if (r) throw new Mismatch(r.code, r.message);
}

/** Typed reads of one JSON object's fields; each throws Mismatch naming the field. */
class Fields {
  constructor(private readonly o: Record<string, unknown>) {}

  private bad(name: string, why: string): never {
    throw new Mismatch('invalid_argument', `${name}: ${why}`);
  }

  str(name: string): string {
    const v = this.o[name];
    return typeof v === 'string' ? v : this.bad(name, 'must be a string');
  }

  /** A conversation id: the core refuses an empty one with this same message. */
  conversation(): string {
    const v = this.str('conversation');
    return v ? v : this.bad('conversation', 'required');
  }

  seq(name: string, field: string): number {
    const v = this.o[name];
    if (typeof v !== 'number') this.bad(field, 'must be a number');
    check(seqRule(field, v));
    return v;
  }

  /** A page size: 0 asks for the default. */
  limit(): number {
    const v = this.o.limit;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : this.bad('limit', 'must be an integer >= 0');
  }

  bool(name: string): boolean {
    const v = this.o[name];
    return typeof v === 'boolean' ? v : this.bad(name, 'must be true or false');
  }

  users(name: string): string[] {
    const v = this.o[name];
    if (!Array.isArray(v) || v.some((u) => typeof u !== 'string')) this.bad(name, 'must be a list of strings');
    const users = [...(v as string[])];
    // Counts are the core's (a group's size depends on its current members).
    check(usersRule(name, users, Infinity));
    return users;
  }

  meta(): Record<string, string> {
    const v = this.o.meta;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.bad('meta', 'must be an object of strings');
    const out: Record<string, string> = {};
    for (const [k, s] of Object.entries(v as Record<string, unknown>)) out[k] = typeof s === 'string' ? s : this.bad(`meta.${k}`, 'must be a string');
    return out;
  }

  list(name: string): unknown[] {
    const v = this.o[name];
    return Array.isArray(v) ? v : this.bad(name, 'must be a list');
  }

  has(name: string): boolean {
    return this.o[name] !== undefined;
  }
}

/** The op a peer forwarded, as the schema reads it, or why it does not match. */
export function parsePeerOp(json: string): PeerOp {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return { ok: false, code: 'bad_frame', message: 'forwarded op: not JSON' };
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return { ok: false, code: 'bad_frame', message: 'forwarded op: not a JSON object' };
  const f = new Fields(o as Record<string, unknown>);
  try {
    const op = opOf(f, (o as { op?: unknown }).op);
    return { ok: true, op, backend: f.has('backend') ? f.bool('backend') : false };
  } catch (e) {
    if (e instanceof Mismatch) return { ok: false, code: e.code, message: `forwarded op: ${e.message}` };
    throw e;
  }
}

function opOf(f: Fields, name: unknown): CoreOp {
  switch (name) {
    case 'send': {
      const op = { op: 'send', conversation: f.conversation(), clientMsgId: f.str('clientMsgId'), body: f.str('body'), meta: f.meta() } as const;
      check(clientMsgIdRule(op.clientMsgId));
      return f.has('mediaId') ? { ...op, mediaId: f.str('mediaId') } : op;
    }
    case 'ack':
    case 'read':
      return { op: name, conversation: f.conversation(), seq: f.seq('seq', `${name}.seq`) };
    case 'sync':
      return { op: 'sync', cursors: cursorsOf(f), limit: f.limit() };
    case 'history':
      return { op: 'history', conversation: f.conversation(), beforeSeq: f.seq('beforeSeq', 'history.before_seq'), limit: f.limit() };
    case 'open_direct': {
      const peer = f.str('peer');
      check(peerRule(peer));
      return { op: 'open_direct', peer };
    }
    case 'list':
      return { op: 'list' };
    case 'create_group': {
      const subject = f.str('subject');
      check(subjectRule(subject));
      const members = f.users('members');
      if (!f.has('id')) return { op: 'create_group', subject, members };
      const id = f.str('id');
      check(groupIdRule(id));
      return { op: 'create_group', subject, members, id };
    }
    case 'add_members':
    case 'remove_members':
      return { op: name, conversation: f.conversation(), users: f.users('users') };
    case 'leave_group':
    case 'typing':
      return { op: name, conversation: f.conversation() };
    case 'set_subject': {
      const op = { op: 'set_subject', conversation: f.conversation(), subject: f.str('subject') } as const;
      check(subjectRule(op.subject));
      return op;
    }
    case 'member_receipts':
      return { op: 'member_receipts', conversation: f.conversation(), seq: f.seq('seq', 'member_receipts.seq') };
    case 'presence_subscribe':
      return { op: 'presence_subscribe', users: f.users('users') };
    case 'presence_settings':
      return { op: 'presence_settings', hideLastSeen: f.bool('hideLastSeen') };
    case 'media_slot':
      return { op: 'media_slot', conversation: f.conversation(), size: f.seq('size', 'media_slot.size'), mime: f.str('mime'), sha256: f.str('sha256') };
    case 'media_url':
      return { op: 'media_url', conversation: f.conversation(), mediaId: f.str('mediaId') };
    default:
      throw new Mismatch('bad_frame', typeof name === 'string' ? `unknown op ${JSON.stringify(name.slice(0, 40))}` : 'op: required');
  }
}

function cursorsOf(f: Fields): Array<{ conversation: string; seq: number }> {
  return f.list('cursors').map((c, i) => {
    if (c === null || typeof c !== 'object') throw new Mismatch('invalid_argument', `cursors[${i}]: must be an object`);
    const cf = new Fields(c as Record<string, unknown>);
    return { conversation: cf.conversation(), seq: cf.seq('seq', `sync.cursors[${i}].seq`) };
  });
}

/** Every result kind, as a record so that a kind added to CoreResult must be added here too. */
const RESULT_KINDS: Record<CoreResult['r'], true> = {
  send_ack: true,
  sync_page: true,
  history_page: true,
  direct_opened: true,
  conversations: true,
  group_info: true,
  member_receipts: true,
  presence: true,
  push_state: true,
  media_slot: true,
  media_url: true,
  ok: true,
  error: true,
};

/**
 * The result a peer answered a forwarded op with (CallResult.result_json), checked as
 * far as the session that relays it relies on: a known kind, and for an error a
 * catalogued code (anything else becomes `internal`), a message and retry_after_ms.
 */
export function parsePeerResult(json: string): CoreResult {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return { r: 'error', code: 'internal', message: 'malformed call result', retryAfterMs: 0 };
  }
  const r = (o as { r?: unknown } | null)?.r;
  if (typeof r !== 'string' || !Object.hasOwn(RESULT_KINDS, r)) return { r: 'error', code: 'internal', message: 'malformed call result', retryAfterMs: 0 };
  if (r !== 'error') return o as CoreResult;
  const e = o as { code?: unknown; message?: unknown; retryAfterMs?: unknown };
  const code = typeof e.code === 'string' && e.code in ERROR_CODES ? (e.code as ErrorCode) : 'internal';
  const retryAfterMs = typeof e.retryAfterMs === 'number' && Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0 ? e.retryAfterMs : 0;
  return { r: 'error', code, message: typeof e.message === 'string' ? e.message : '', retryAfterMs };
}
