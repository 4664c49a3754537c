/**
 * The peer links of one node by peer id: a link registers itself while it runs, the
 * peer server hands an incoming stream to the link of its peer, and the cluster sends
 * frames through the link of a node. Generic over the link so that this file, the
 * links and the server do not import each other in a circle.
 */
export class PeerDirectory<L extends { readonly peer: string }> {
  private readonly links = new Map<string, L>();
  set(link: L): void {
    this.links.set(link.peer, link);
  }
  /** Remove `link` (only if it is still the one registered for its peer). */
  delete(link: L): void {
    if (this.links.get(link.peer) === link) this.links.delete(link.peer);
  }
  get(peer: string): L | undefined {
    return this.links.get(peer);
  }
  all(): L[] {
    return [...this.links.values()];
  }
}
