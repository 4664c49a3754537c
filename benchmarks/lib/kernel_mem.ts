/**
 * Kernel-side memory of TCP sockets, read from /proc (Linux only):
 * - `/proc/net/sockstat` "TCP: ... mem N": pages charged to TCP socket buffers
 *   (what net.ipv4.tcp_mem limits). Idle sockets with drained queues hold little here.
 * - `/proc/meminfo` "Slab": the socket structures themselves (tcp_sock, inode, file,
 *   dentry, epoll items) live in slab caches, which sockstat does not count.
 * Both are machine-wide, so other work on the box shows up in the delta; on loopback
 * both ends of every connection are in this kernel, so a per-connection delta covers
 * the client and the server socket (a server host pays about half of it).
 */
import { readFileSync } from 'node:fs';

const PAGE = 4096;

export interface KernelMem {
  tcpInuse: number;
  /** TCP socket buffer memory, bytes (sockstat pages x 4 KiB). */
  tcpMemBytes: number;
  slabBytes: number;
}

export function kernelMem(): KernelMem | null {
  try {
    const ss = readFileSync('/proc/net/sockstat', 'utf8');
    const tcp = /^TCP: inuse (\d+) .* mem (\d+)/m.exec(ss);
    const slab = /^Slab:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (!tcp || !slab) return null;
    return { tcpInuse: Number(tcp[1]), tcpMemBytes: Number(tcp[2]) * PAGE, slabBytes: Number(slab[1]) * 1024 };
  } catch {
    return null;
  }
}

export interface KernelDelta {
  before: KernelMem;
  after: KernelMem;
  /** Per connection, both ends (loopback). */
  tcpBufBytesPerConn: number;
  slabBytesPerConn: number;
}

export function kernelDelta(before: KernelMem | null, after: KernelMem | null, connections: number): KernelDelta | null {
  if (!before || !after || connections <= 0) return null;
  return {
    before,
    after,
    tcpBufBytesPerConn: (after.tcpMemBytes - before.tcpMemBytes) / connections,
    slabBytesPerConn: (after.slabBytes - before.slabBytes) / connections,
  };
}
