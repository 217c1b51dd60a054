/*
 * cpu_in_cksum.ts: the Internet checksum over an mbuf chain (NetBSD's
 * netinet/cpu_in_cksum.c and the in4_cksum() built on it).
 *
 * Place in the packet path: ip_input() checks the header with it when the
 * header is split (it never is after m_pullup, so that path uses in_cksum
 * directly), icmp_input() and udp_input() verify whole messages with it,
 * and udp_output()/icmp_send() compute theirs.  The chain is summed piece
 * by piece where it lies: in_cksum_add's `oddStart` takes care of a piece
 * that starts at an odd byte of the logical stream (RFC 1071 section 2,
 * byte-order independence), so nothing is copied and nothing allocated.
 */

import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import type { Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { in4_cksum_phdr, in_cksum_add, in_cksum_fold } from './in_cksum.ts';

/**
 * cpu_in_cksum sums `len` bytes of the chain `m` starting `off` bytes into
 * it, on top of the partial sum `initial_sum` (0, or a pseudo-header from
 * in4_cksum_phdr), and returns the complemented checksum: 0 when verifying
 * data that carries a correct one, else the value to store.  A range past
 * the end of the chain is the caller's bug (it validated the lengths) and
 * panics.
 */
export function cpu_in_cksum(m: Mbuf, len: number, off: number, initial_sum: number): number {
  let sum = initial_sum;
  let done = 0;
  let left = len;
  let mm: Mbuf | null = m;
  while (mm !== null && off >= mm.m_len && off > 0) {
    off -= mm.m_len;
    mm = mm.m_next;
  }
  while (mm !== null && left > 0) {
    const n = mm.m_len - off < left ? mm.m_len - off : left;
    if (n > 0) {
      sum = in_cksum_add(sum, mm.m_buf, mm.m_data + off, n, (done & 1) === 1);
      done += n;
      left -= n;
    }
    off = 0;
    mm = mm.m_next;
  }
  if (left > 0) panic(m.m_ctx.k, `cpu_in_cksum: ${left} of ${len} bytes beyond the chain`);
  return in_cksum_fold(sum);
}

/**
 * in4_cksum is the checksum of a TCP or UDP segment of `len` bytes at byte
 * `off` of the chain, with the IPv4 pseudo-header (src, dst, proto, len)
 * folded in (RFC 768, RFC 793 section 3.1).
 */
export function in4_cksum(m: Mbuf, proto: number, off: number, len: number, src: number, dst: number): number {
  return cpu_in_cksum(m, len, off, in4_cksum_phdr(src, dst, len, proto));
}
