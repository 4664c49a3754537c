/**
 * client_msg_id values: random UUIDv4 strings (PROTOCOL.md §5.2: ids are per user, so
 * two devices must never pick the same one). Built from crypto.getRandomValues, which
 * browsers offer on plain-http pages too, unlike crypto.randomUUID.
 */
export function newClientMsgId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
