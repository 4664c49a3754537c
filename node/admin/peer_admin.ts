/**
 * One node's admin call to another node of its cell, over that node's HTTP API (its
 * membership `httpUrl`), with the operator's own Authorization header: the nodes of a
 * cell share `api.keys`, so the other node authenticates and audits the call itself.
 * Used where the work must happen on the node that holds the sockets (kick, sessions)
 * or on the node itself (drain).
 *
 * A cell with TLS and a private CA needs NODE_EXTRA_CA_CERTS on the nodes, as for
 * switchboardctl (docs/DEPLOY.md).
 */

export interface PeerAnswer {
  node: string;
  status: number;
  body: unknown;
}

/** 5 s: an admin call is a few ms on a healthy node; longer means the node is stuck, and the operator should hear so. */
export const PEER_ADMIN_TIMEOUT_MS = 5_000;

export async function peerAdmin(node: string, httpUrl: string, method: 'GET' | 'POST', path: string, authorization: string, body?: unknown): Promise<PeerAnswer> {
  try {
    const r = await fetch(httpUrl + path, {
      method,
      headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(PEER_ADMIN_TIMEOUT_MS),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* a text answer */
    }
    return { node, status: r.status, body: parsed };
  } catch (e) {
    const err = e as { name?: string; message?: string; cause?: { code?: string } };
    const why = err.name === 'TimeoutError' ? `no answer in ${PEER_ADMIN_TIMEOUT_MS} ms` : (err.cause?.code ?? err.message ?? String(e));
    return { node, status: 0, body: { code: 'unavailable', message: `node ${node} at ${httpUrl} unreachable: ${why}` } };
  }
}
