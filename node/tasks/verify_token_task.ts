/**
 * piscina task: verify one JWT. Runs in the host's task-pool threads so that
 * asymmetric (EdDSA) verification does not take CPU from socket threads. The auth
 * config arrives as the pool's workerData; the verifier is built once per thread.
 */
import { workerData } from 'node:worker_threads';
import { createVerifier, type Verifier } from '../auth/verify.js';
import { AuthError } from '../auth/errors.js';
import type { AuthConfig, VerifyResult } from '../auth/types.js';

// The result type lives in the auth contract (shards/ receive it from the host).
export type { VerifyResult };

let verifier: Verifier | null = null;

export default async function verifyToken(token: string): Promise<VerifyResult> {
  verifier ??= createVerifier((workerData as { auth: AuthConfig }).auth);
  try {
    return { ok: true, identity: await verifier.verify(token) };
  } catch (e) {
    if (e instanceof AuthError) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
}
