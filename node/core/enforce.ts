/**
 * The core's use of the contract's rules (op_rules.ts): a refusal becomes the
 * client-facing error. The rules themselves never throw (the socket edge answers
 * with frames, the peer-op reader with error results); the core's services throw.
 */
import { CatalogError } from '../../protocol/errors.js';
import type { Refusal } from './op_rules.js';

export function enforce(refusal: Refusal | null): void {
  if (refusal) throw new CatalogError(refusal.code, refusal.message);
}
