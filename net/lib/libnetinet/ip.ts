/*
 * ip.ts: the IPv4 header, NetBSD's netinet/ip.h, with the header checks of
 * ip_input() and the option walk of ip_dooptions().
 *
 * Contract (smoltcp's new_checked, NetBSD's ip_input order): run
 * ip_hdr_check() once on untrusted input; after it returns null the fixed
 * header, the options (hlen bytes) and ip_len bytes are inside the buffer
 * and the accessors may be used unchecked. Accessors take (buf, off) with
 * `off` the first byte of the IP header, return host-order numbers and
 * allocate nothing; addresses are uint32 numbers (see in.ts).
 *
 * IpRepr is a plain object with parse/emit for tests and tools; the kernel
 * path uses the accessors.
 */

import { in_addr_read, in_addr_write } from './in.ts';
import { in_cksum, in_cksum_update } from './in_cksum.ts';

export const IPVERSION = 4;
/** sizeof(struct ip): the header without options. */
export const IP_HDR_LEN = 20;
/** ip_hl is 4 bits of 32-bit words. */
export const IP_MAX_HDR_LEN = 60;
export const MAX_IPOPTLEN = IP_MAX_HDR_LEN - IP_HDR_LEN;
export const IP_MAXPACKET = 65535;

/* ip_off: flags and fragment offset (in 8-byte units). */
export const IP_RF = 0x8000;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

export const MAXTTL = 255;
export const IPDEFTTL = 64;
/** What a router takes off the TTL (RFC 791 says "at least one"). */
export const IPTTLDEC = 1;
/** Datagram size every host must accept (RFC 791). */
export const IP_MSS = 576;

/* ip_tos: RFC 1349 bits, and the ECN field of RFC 3168 in the low 2 bits. */
export const IPTOS_LOWDELAY = 0x10;
export const IPTOS_THROUGHPUT = 0x08;
export const IPTOS_RELIABILITY = 0x04;
export const IPTOS_ECN_MASK = 0x03;
export const IPTOS_ECN_NOTECT = 0x00;
export const IPTOS_ECN_ECT1 = 0x01;
export const IPTOS_ECN_ECT0 = 0x02;
export const IPTOS_ECN_CE = 0x03;

/* Options (RFC 791 section 3.1). */
export const IPOPT_EOL = 0;
export const IPOPT_NOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_TS = 68;
export const IPOPT_SECURITY = 130;
export const IPOPT_LSRR = 131;
export const IPOPT_SATID = 136;
export const IPOPT_SSRR = 137;
export const IPOPT_RA = 148;
/* Offsets inside an option. */
export const IPOPT_OPTVAL = 0;
export const IPOPT_OLEN = 1;
export const IPOPT_OFFSET = 2;
export const IPOPT_MINOFF = 4;
export function IPOPT_COPIED(o: number): boolean {
  return (o & 0x80) !== 0;
}
export function IPOPT_CLASS(o: number): number {
  return o & 0x60;
}
export function IPOPT_NUMBER(o: number): number {
  return o & 0x1f;
}

/* Field offsets in struct ip. */
export const IP_VHL_OFF = 0;
export const IP_TOS_OFF = 1;
export const IP_LEN_OFF = 2;
export const IP_ID_OFF = 4;
export const IP_OFF_OFF = 6;
export const IP_TTL_OFF = 8;
export const IP_P_OFF = 9;
export const IP_SUM_OFF = 10;
export const IP_SRC_OFF = 12;
export const IP_DST_OFF = 16;

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/** ip_v: the version, 4 for IPv4. */
export function ip_v(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}
/** ip_hl: header length in 32-bit words; bytes are ip_hl << 2. */
export function ip_hl(buf: Uint8Array, off: number): number {
  return buf[off] & 0x0f;
}
export function ip_tos(buf: Uint8Array, off: number): number {
  return buf[off + IP_TOS_OFF];
}
/** ip_len: total length, header included. */
export function ip_len(buf: Uint8Array, off: number): number {
  return rd16(buf, off + IP_LEN_OFF);
}
export function ip_id(buf: Uint8Array, off: number): number {
  return rd16(buf, off + IP_ID_OFF);
}
/** ip_off: IP_RF/IP_DF/IP_MF and the offset in 8-byte units (IP_OFFMASK). */
export function ip_off(buf: Uint8Array, off: number): number {
  return rd16(buf, off + IP_OFF_OFF);
}
export function ip_ttl(buf: Uint8Array, off: number): number {
  return buf[off + IP_TTL_OFF];
}
/** ip_p: the protocol, IPPROTO_*. */
export function ip_p(buf: Uint8Array, off: number): number {
  return buf[off + IP_P_OFF];
}
export function ip_sum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + IP_SUM_OFF);
}
export function ip_src(buf: Uint8Array, off: number): number {
  return in_addr_read(buf, off + IP_SRC_OFF);
}
export function ip_dst(buf: Uint8Array, off: number): number {
  return in_addr_read(buf, off + IP_DST_OFF);
}

export function ip_v_set(buf: Uint8Array, off: number, v: number): void {
  buf[off] = ((v & 0x0f) << 4) | (buf[off] & 0x0f);
}
export function ip_hl_set(buf: Uint8Array, off: number, hl: number): void {
  buf[off] = (buf[off] & 0xf0) | (hl & 0x0f);
}
export function ip_tos_set(buf: Uint8Array, off: number, tos: number): void {
  buf[off + IP_TOS_OFF] = tos;
}
export function ip_len_set(buf: Uint8Array, off: number, len: number): void {
  wr16(buf, off + IP_LEN_OFF, len);
}
export function ip_id_set(buf: Uint8Array, off: number, id: number): void {
  wr16(buf, off + IP_ID_OFF, id);
}
export function ip_off_set(buf: Uint8Array, off: number, ipoff: number): void {
  wr16(buf, off + IP_OFF_OFF, ipoff);
}
export function ip_ttl_set(buf: Uint8Array, off: number, ttl: number): void {
  buf[off + IP_TTL_OFF] = ttl;
}
export function ip_p_set(buf: Uint8Array, off: number, p: number): void {
  buf[off + IP_P_OFF] = p;
}
export function ip_sum_set(buf: Uint8Array, off: number, sum: number): void {
  wr16(buf, off + IP_SUM_OFF, sum);
}
export function ip_src_set(buf: Uint8Array, off: number, a: number): void {
  in_addr_write(buf, off + IP_SRC_OFF, a);
}
export function ip_dst_set(buf: Uint8Array, off: number, a: number): void {
  in_addr_write(buf, off + IP_DST_OFF, a);
}

/**
 * Why ip_hdr_check() rejected a header: the name of the ipstat counter
 * ip_input() increments for it.
 *  - ips_toosmall: fewer than 20 bytes (NetBSD: the m_pullup fails);
 *  - ips_badvers:  ip_v is not 4;
 *  - ips_badhlen:  ip_hl < 5, or the options run past the available bytes;
 *  - ips_badsum:   the header checksum is wrong;
 *  - ips_badlen:   ip_len is shorter than the header;
 *  - ips_tooshort: ip_len is longer than the bytes available.
 */
export type IpHdrError =
  | 'ips_toosmall'
  | 'ips_badvers'
  | 'ips_badhlen'
  | 'ips_badsum'
  | 'ips_badlen'
  | 'ips_tooshort';

/**
 * ip_hdr_check validates the header at buf[off ..], `avail` bytes of the
 * packet being present, in the order ip_input() tests (so a packet is
 * counted under the same counter): returns null when the header is good,
 * else the ipstat counter name. `verifySum` false skips the checksum,
 * for fuzzing and for an interface that verified it (M_CSUM_IPv4).
 * Bytes beyond ip_len (Ethernet padding) are allowed; ip_input() trims
 * them. Never throws; allocates nothing.
 */
export function ip_hdr_check(
  buf: Uint8Array,
  off: number,
  avail: number,
  verifySum = true,
): IpHdrError | null {
  /* Do not trust avail beyond the buffer itself. */
  const have = off >= 0 && buf.length - off < avail ? buf.length - off : avail;
  if (!(off >= 0 && have >= IP_HDR_LEN)) return 'ips_toosmall';
  if (buf[off] >>> 4 !== IPVERSION) return 'ips_badvers';
  const hlen = (buf[off] & 0x0f) << 2;
  if (hlen < IP_HDR_LEN || hlen > have) return 'ips_badhlen';
  if (verifySum && in_cksum(buf, off, hlen) !== 0) return 'ips_badsum';
  const len = rd16(buf, off + IP_LEN_OFF);
  if (len < hlen) return 'ips_badlen';
  if (len > have) return 'ips_tooshort';
  return null;
}

/**
 * ip_opt_len returns the length of the option at buf[pos], where the
 * options end at `end`: 1 for IPOPT_NOP, 0 for IPOPT_EOL (the walk stops
 * there), and -1 when the option is malformed: its length byte is missing,
 * below 2, or runs past `end` (ip_dooptions() answers those with a
 * parameter problem pointing at the length byte).
 *
 * Walk: for (p = off + 20; p < end; p += n) { n = ip_opt_len(buf, p, end);
 * if (n <= 0) break-or-reject; ... }
 */
export function ip_opt_len(buf: Uint8Array, pos: number, end: number): number {
  const opt = buf[pos + IPOPT_OPTVAL];
  if (opt === IPOPT_EOL) return 0;
  if (opt === IPOPT_NOP) return 1;
  if (end - pos < 2) return -1;
  const optlen = buf[pos + IPOPT_OLEN];
  if (optlen < 2 || optlen > end - pos) return -1;
  return optlen;
}

/** ip_opts_check's result for well-formed options. */
export const IPOPT_CHECK_OK = -1;

/**
 * ip_opts_check walks the options of the header at buf[off ..] (hlen bytes
 * long, already validated by ip_hdr_check) and returns IPOPT_CHECK_OK, or
 * the offset from the start of the IP header of the first bad byte: the
 * value ip_dooptions() sends back in an ICMP_PARAMPROB's icmp_pptr.
 */
export function ip_opts_check(buf: Uint8Array, off: number, hlen: number): number {
  const end = off + hlen;
  for (let p = off + IP_HDR_LEN; p < end; ) {
    const n = ip_opt_len(buf, p, end);
    if (n === 0) break;
    if (n < 0) return p + IPOPT_OLEN - off;
    p += n;
  }
  return IPOPT_CHECK_OK;
}

/**
 * ip_ttl_dec takes `dec` (IPTTLDEC) off the TTL and patches the header
 * checksum incrementally (RFC 1624) instead of summing the header again:
 * the forwarding fast path. The caller has already checked
 * ip_ttl > dec (else ICMP_TIMXCEED). Returns the new TTL.
 */
export function ip_ttl_dec(buf: Uint8Array, off: number, dec = IPTTLDEC): number {
  const o = off + IP_TTL_OFF;
  const oldw = (buf[o] << 8) | buf[o + 1]; /* ip_ttl and ip_p share a word */
  const ttl = (buf[o] - dec) & 0xff;
  buf[o] = ttl;
  ip_sum_set(buf, off, in_cksum_update(ip_sum(buf, off), oldw, (ttl << 8) | buf[o + 1]));
  return ttl;
}

/**
 * ip_hdr_write emits a header at buf[off .. off+hlen) and computes
 * ip_sum, as ip_output() does. hlen is in bytes (20..60, a multiple of 4);
 * when it is above 20 the options must already be in place at
 * buf[off+20 ..]. `ipoff` is the whole ip_off word (flags | offset/8).
 * A bad hlen or a header past the end of buf throws RangeError: both are
 * the caller's bug.
 */
export function ip_hdr_write(
  buf: Uint8Array,
  off: number,
  hlen: number,
  tos: number,
  len: number,
  id: number,
  ipoff: number,
  ttl: number,
  p: number,
  src: number,
  dst: number,
): void {
  if ((hlen & 3) !== 0 || hlen < IP_HDR_LEN || hlen > IP_MAX_HDR_LEN) {
    throw new RangeError(`Cannot write IP header of ${hlen} bytes: must be 20..60, a multiple of 4`);
  }
  if (!(off >= 0 && off + hlen <= buf.length)) {
    throw new RangeError(`Cannot write IP header at ${off}: buffer has ${buf.length} bytes`);
  }
  buf[off] = (IPVERSION << 4) | (hlen >>> 2);
  buf[off + IP_TOS_OFF] = tos;
  wr16(buf, off + IP_LEN_OFF, len);
  wr16(buf, off + IP_ID_OFF, id);
  wr16(buf, off + IP_OFF_OFF, ipoff);
  buf[off + IP_TTL_OFF] = ttl;
  buf[off + IP_P_OFF] = p;
  buf[off + IP_SUM_OFF] = 0;
  buf[off + IP_SUM_OFF + 1] = 0;
  in_addr_write(buf, off + IP_SRC_OFF, src);
  in_addr_write(buf, off + IP_DST_OFF, dst);
  wr16(buf, off + IP_SUM_OFF, in_cksum(buf, off, hlen));
}

/** An IPv4 header as a plain object, for tests and tools. */
export interface IpRepr {
  tos: number;
  /** ip_len: total length including the header. */
  len: number;
  id: number;
  /** ip_off: flags (IP_DF, IP_MF) | fragment offset in 8-byte units. */
  off: number;
  ttl: number;
  /** Protocol, IPPROTO_*. */
  p: number;
  src: number;
  dst: number;
  /** Option bytes after the fixed header (a copy); length a multiple of 4, at most 40. */
  options: Uint8Array;
}

export const IpRepr = Object.freeze({
  /**
   * Decodes the header at buf[off ..] with `avail` bytes present. Returns
   * null when ip_hdr_check() fails (checksum included unless `verifySum`
   * is false) or the options are malformed.
   */
  parse(buf: Uint8Array, off: number, avail: number, verifySum = true): IpRepr | null {
    if (ip_hdr_check(buf, off, avail, verifySum) !== null) return null;
    const hlen = ip_hl(buf, off) << 2;
    if (ip_opts_check(buf, off, hlen) !== IPOPT_CHECK_OK) return null;
    return {
      tos: ip_tos(buf, off),
      len: ip_len(buf, off),
      id: ip_id(buf, off),
      off: ip_off(buf, off),
      ttl: ip_ttl(buf, off),
      p: ip_p(buf, off),
      src: ip_src(buf, off),
      dst: ip_dst(buf, off),
      options: buf.slice(off + IP_HDR_LEN, off + hlen),
    };
  },
  /** Header bytes emit() writes. */
  bufferLen(r: IpRepr): number {
    return IP_HDR_LEN + r.options.length;
  },
  /** Writes the header (checksum computed) at buf[off ..]; returns its length. */
  emit(r: IpRepr, buf: Uint8Array, off: number): number {
    const hlen = IP_HDR_LEN + r.options.length;
    if ((hlen & 3) !== 0 || hlen > IP_MAX_HDR_LEN) {
      throw new RangeError(`Cannot emit ${r.options.length} option bytes: must be a multiple of 4, at most 40`);
    }
    if (!(off >= 0 && off + hlen <= buf.length)) {
      throw new RangeError(`Cannot write IP header at ${off}: buffer has ${buf.length} bytes`);
    }
    buf.set(r.options, off + IP_HDR_LEN);
    ip_hdr_write(buf, off, hlen, r.tos, r.len, r.id, r.off, r.ttl, r.p, r.src, r.dst);
    return hlen;
  },
});
