/*
 * tcp_seq.ts: sequence-number arithmetic (NetBSD's netinet/tcp_seq.h) and
 * the initial sequence number (RFC 6528; NetBSD's tcp_new_iss1 in
 * tcp_subr.c).
 *
 * Place in the packet path: everywhere a sequence or acknowledgement
 * number is compared.  Sequence space is the integers modulo 2^32 (RFC
 * 9293 section 3.4): a < b means b lies less than 2^31 ahead of a.  A
 * JavaScript number holds the uint32 value (always normalised with
 * `>>> 0` after arithmetic); comparisons go through the int32 difference,
 * `((a - b) | 0) < 0`, which is exactly NetBSD's `(int)(a - b) < 0` and
 * stays right across the wrap from 2^32-1 to 0.  Never compare sequence
 * numbers with a plain `<`.
 */

import { chacha20_block } from '../../../librump/rumpkern/subr_cprng.ts';

/** a < b in sequence space. */
export function SEQ_LT(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
/** a <= b in sequence space. */
export function SEQ_LEQ(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
/** a > b in sequence space. */
export function SEQ_GT(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
/** a >= b in sequence space. */
export function SEQ_GEQ(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
/** The earlier of a and b. */
export function SEQ_MIN(a: number, b: number): number {
  return SEQ_LT(a, b) ? a : b;
}
/** The later of a and b. */
export function SEQ_MAX(a: number, b: number): number {
  return SEQ_GT(a, b) ? a : b;
}
/** a + n, modulo 2^32. */
export function SEQ_ADD(a: number, n: number): number {
  return (a + n) >>> 0;
}
/** a - b as a signed distance (int32). */
export function SEQ_SUB(a: number, b: number): number {
  return (a - b) | 0;
}

/* Timestamps compare the same way (RFC 7323 section 5.2). */
export const TSTMP_LT = SEQ_LT;
export const TSTMP_GEQ = SEQ_GEQ;

/**
 * The ISN clock of RFC 6528 section 3: M ticks every 4 microseconds, so
 * the sequence space wraps in about 4.77 hours, longer than any MSL.
 */
export const TCP_ISN_TICK_NS = 4000;

/**
 * An ISN generator of one kernel (RFC 6528): ISN = M + F(localip,
 * localport, remoteip, remoteport, secretkey), M the 4 us clock above, F
 * a keyed pseudo-random function.  F here is one ChaCha20 block (the
 * kernel's own PRF, RFC 8439) keyed by a 256-bit secret drawn from the
 * kernel cprng at boot, with the 4-tuple as the nonce; RFC 6528 suggests
 * MD5, any PRF whose key stays secret does.  Under the sim host both the
 * secret (seeded cprng) and M (virtual time) are deterministic.  The
 * buffers are made once, so an ISN costs no allocation.
 */
export class TcpIss {
  private readonly key = new Uint32Array(8);
  private readonly nonce = new Uint32Array(3);
  private readonly out = new Uint32Array(16);

  constructor(secret: Uint8Array) {
    for (let i = 0; i < 8; i++) {
      this.key[i] = (secret[4 * i]! | (secret[4 * i + 1]! << 8) | (secret[4 * i + 2]! << 16) | (secret[4 * i + 3]! << 24)) >>> 0;
    }
  }

  /** F(laddr, lport, faddr, fport, secret): 32 pseudo-random bits. */
  hash(laddr: number, lport: number, faddr: number, fport: number): number {
    this.nonce[0] = laddr >>> 0;
    this.nonce[1] = faddr >>> 0;
    this.nonce[2] = ((lport << 16) | fport) >>> 0;
    chacha20_block(this.key, 0, this.nonce, this.out);
    return this.out[0]!;
  }

  /** The ISN for the 4-tuple at uptime `nowNs` (M + F). */
  iss(laddr: number, lport: number, faddr: number, fport: number, nowNs: number): number {
    const m = Math.floor(nowNs / TCP_ISN_TICK_NS) % 4294967296;
    return (m + this.hash(laddr, lport, faddr, fport)) >>> 0;
  }
}
