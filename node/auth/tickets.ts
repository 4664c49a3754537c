/**
 * Single-use WebSocket upgrade tickets for browsers, which cannot set an Authorization
 * header on a WebSocket upgrade. A client trades its token for a ticket over HTTPS
 * (POST /v1/tickets), then opens `wss://.../ws?ticket=...` within ticketTtlMs.
 *
 * Memory is bounded: at most `maxOutstanding` tickets live at once and the oldest is
 * evicted past that, so a client minting tickets in a loop costs a fixed amount of RAM
 * (and only ever hurts its own unredeemed tickets, or those of clients slower than
 * ttl). Expired tickets are swept lazily from the head of the insertion-ordered map, a
 * few per call, so no timer is needed. Tickets live in one process: issue and redeem must
 * hit the same node (the lead's HTTP and upgrade handlers share one store).
 */
import { randomBytes } from 'node:crypto';
import { tokenExpired } from './errors.js';
import type { Identity } from './types.js';

/** ~100 bytes of key plus an Identity each: about 20-30 MB at the cap. */
export const DEFAULT_MAX_OUTSTANDING = 100_000;
/** Entries examined per call by the lazy sweep; keeps every call O(1) amortised. */
const SWEEP_BUDGET = 32;

export interface TicketStoreOptions {
  ttlMs: number;
  maxOutstanding?: number;
  /** Clock in ms since epoch; injected by tests. */
  now?: () => number;
}

export interface IssuedTicket {
  /** 256 random bits, base64url (43 characters): URL-safe without escaping. */
  ticket: string;
  /** ms since epoch. */
  expiresAt: number;
}

interface Entry {
  identity: Identity;
  expiresAt: number;
}

export class TicketStore {
  private readonly tickets = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: TicketStoreOptions) {
    if (!Number.isInteger(opts.ttlMs) || opts.ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer (got ${opts.ttlMs})`);
    const max = opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING;
    if (!Number.isInteger(max) || max <= 0) throw new RangeError(`maxOutstanding must be a positive integer (got ${max})`);
    this.ttlMs = opts.ttlMs;
    this.max = max;
    this.now = opts.now ?? Date.now;
  }

  /** Tickets currently held (including expired ones not yet swept). */
  get size(): number {
    return this.tickets.size;
  }

  /**
   * Issues a ticket for an already-verified identity. It expires after ttlMs or at the
   * token's exp, whichever is first, so a ticket never outlives the token it came from.
   * Throws AuthError(token_expired) if that leaves no time at all.
   */
  issue(identity: Identity): IssuedTicket {
    const now = this.now();
    const expiresAt = Math.min(now + this.ttlMs, identity.exp * 1000);
    if (expiresAt <= now) throw tokenExpired('token expires before a ticket could be used');
    this.sweep(now);
    while (this.tickets.size >= this.max) {
      const oldest = this.tickets.keys().next().value as string;
      this.tickets.delete(oldest);
    }
    const ticket = randomBytes(32).toString('base64url');
    this.tickets.set(ticket, { identity: { ...identity }, expiresAt });
    return { ticket, expiresAt };
  }

  /** Consumes a ticket: its identity the first time while unexpired, null otherwise. */
  redeem(ticket: string): Identity | null {
    const now = this.now();
    this.sweep(now);
    const entry = this.tickets.get(ticket);
    if (entry === undefined) return null;
    this.tickets.delete(ticket);
    return now < entry.expiresAt ? entry.identity : null;
  }

  private sweep(now: number): void {
    let budget = SWEEP_BUDGET;
    for (const [ticket, entry] of this.tickets) {
      // Insertion order is nearly expiry order (entries capped by a token's exp can
      // expire early); stopping at the first live one keeps this cheap, and the cap
      // bounds whatever it misses.
      if (budget-- === 0 || entry.expiresAt > now) return;
      this.tickets.delete(ticket);
    }
  }
}
