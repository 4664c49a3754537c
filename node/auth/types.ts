/**
 * The auth contract: the config the node hands us (plain, structured-cloneable data,
 * so shard threads can receive it) and the identity a verified token yields.
 */

/** A shared-secret key. `secret` is base64url (if it decodes canonically to >= 32 bytes) or else UTF-8. */
export interface Hs256KeySpec {
  kid: string;
  alg: 'HS256';
  secret: string;
}

/** An Ed25519 key. Nodes that only verify carry the public half; `privateKeyPem` is for minting (dev, ops). */
export interface EdDsaKeySpec {
  kid: string;
  alg: 'EdDSA';
  publicKeyPem: string;
  privateKeyPem?: string;
}

export type KeySpec = Hs256KeySpec | EdDsaKeySpec;

export interface AuthConfig {
  /** When set, tokens must carry exactly this `iss`. */
  issuer?: string;
  /** When set, tokens must list this in `aud`. */
  audience?: string;
  /** Leeway for exp/nbf/iat across clock skew between the token issuer and this node. */
  clockToleranceSec: number;
  /** Several keys allow rotation: publish the new one, start signing with it, drop the old one later. */
  keys: KeySpec[];
  /** Lifetime of a WebSocket upgrade ticket. */
  ticketTtlMs: number;
}

/** A token verified in the host's task pool (node/tasks/verify_token_task.ts), as the shard receives it. */
export type VerifyResult =
  | { ok: true; identity: { user: string; device: string; exp: number } }
  | { ok: false; code: 'unauthenticated' | 'token_expired'; message: string };

/** Who is on the other end of a connection, from a verified token. */
export interface Identity {
  /** The token's `sub`. */
  user: string;
  /** The token's `device` (or `did`) claim. */
  device: string;
  /** The token's `exp`, in seconds since epoch. */
  exp: number;
}

/** What may appear in `sub` and `device`: safe in logs, keys and routing tables. */
export const PRINCIPAL_RE = /^[A-Za-z0-9._:@-]{1,128}$/;
