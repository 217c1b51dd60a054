/*
 * ip_icmp.ts: the ICMP message layout, NetBSD's netinet/ip_icmp.h
 * (RFC 792, RFC 1191 for the next-hop MTU, RFC 1122 for the rules).
 *
 * Every message starts with type, code and checksum; the next 4 bytes
 * (icmp_hun) depend on the type: id and sequence for echo, the gateway for
 * a redirect, the pointer for a parameter problem, the next-hop MTU for
 * "need to fragment". Errors then carry the offending IP header and at
 * least 8 bytes of its payload from icmp_ip on (offset 8).
 *
 * Accessors take (buf, off) with `off` the first byte of the ICMP message;
 * check the length (ICMP_MINLEN, ICMP_ADVLENMIN) once, then read
 * unchecked. IcmpRepr is a plain object with parse/emit for tests and
 * tools.
 */

import { in_addr_read, in_addr_write } from './in.ts';
import { in_cksum } from './in_cksum.ts';

/* Types, and the codes that go with them. */
export const ICMP_ECHOREPLY = 0;
export const ICMP_UNREACH = 3;
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
/** DF set and the datagram does not fit; icmp_nextmtu says what would (RFC 1191). */
export const ICMP_UNREACH_NEEDFRAG = 4;
export const ICMP_UNREACH_SRCFAIL = 5;
export const ICMP_UNREACH_NET_UNKNOWN = 6;
export const ICMP_UNREACH_HOST_UNKNOWN = 7;
export const ICMP_UNREACH_ISOLATED = 8;
export const ICMP_UNREACH_NET_PROHIB = 9;
export const ICMP_UNREACH_HOST_PROHIB = 10;
export const ICMP_UNREACH_TOSNET = 11;
export const ICMP_UNREACH_TOSHOST = 12;
export const ICMP_UNREACH_ADMIN_PROHIBIT = 13;
export const ICMP_UNREACH_HOST_PREC = 14;
export const ICMP_UNREACH_PREC_CUTOFF = 15;
export const ICMP_SOURCEQUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_REDIRECT_NET = 0;
export const ICMP_REDIRECT_HOST = 1;
export const ICMP_REDIRECT_TOSNET = 2;
export const ICMP_REDIRECT_TOSHOST = 3;
export const ICMP_ALTHOSTADDR = 6;
export const ICMP_ECHO = 8;
export const ICMP_ROUTERADVERT = 9;
export const ICMP_ROUTERSOLICIT = 10;
export const ICMP_TIMXCEED = 11;
export const ICMP_TIMXCEED_INTRANS = 0;
export const ICMP_TIMXCEED_REASS = 1;
export const ICMP_PARAMPROB = 12;
export const ICMP_PARAMPROB_ERRATPTR = 0;
export const ICMP_PARAMPROB_OPTABSENT = 1;
export const ICMP_PARAMPROB_LENGTH = 2;
export const ICMP_TSTAMP = 13;
export const ICMP_TSTAMPREPLY = 14;
export const ICMP_IREQ = 15;
export const ICMP_IREQREPLY = 16;
export const ICMP_MASKREQ = 17;
export const ICMP_MASKREPLY = 18;
export const ICMP_MAXTYPE = 40;

/* Lengths. */
/** The fixed part: type, code, checksum, icmp_hun. */
export const ICMP_MINLEN = 8;
/** Timestamp messages: the fixed part and three 32-bit times. */
export const ICMP_TSLEN = 8 + 3 * 4;
/** Address mask messages: the fixed part and the mask. */
export const ICMP_MASKLEN = 12;
/** Shortest error: the fixed part, an IP header without options, 8 bytes of its payload. */
export const ICMP_ADVLENMIN = 8 + 20 + 8;

/* Field offsets in struct icmp. */
export const ICMP_TYPE_OFF = 0;
export const ICMP_CODE_OFF = 1;
export const ICMP_CKSUM_OFF = 2;
/** icmp_hun: id (echo, timestamp, mask), pptr, gwaddr, nextmtu. */
export const ICMP_HUN_OFF = 4;
export const ICMP_ID_OFF = 4;
export const ICMP_SEQ_OFF = 6;
export const ICMP_PPTR_OFF = 4;
export const ICMP_GWADDR_OFF = 4;
export const ICMP_NEXTMTU_OFF = 6;
/** icmp_ip: the offending IP header of an error message. */
export const ICMP_IP_OFF = 8;
/** icmp_data: echo payload, timestamps, the mask. */
export const ICMP_DATA_OFF = 8;
export const ICMP_MASK_OFF = 8;

/**
 * ICMP_ADVLEN: how long an error about the datagram quoted at icmp_ip must
 * be: the fixed part, the quoted header with its options, 8 payload bytes.
 * Reads the quoted ip_hl, so buf[off+8] must be present.
 */
export function ICMP_ADVLEN(buf: Uint8Array, off: number): number {
  return 8 + ((buf[off + ICMP_IP_OFF] & 0x0f) << 2) + 8;
}

/**
 * ICMP_INFOTYPE: the query/reply types. NetBSD's icmp_error() never
 * answers an ICMP message that is not one of these (RFC 1122 3.2.2), so an
 * unknown type counts as an error there.
 */
export function ICMP_INFOTYPE(type: number): boolean {
  switch (type) {
    case ICMP_ECHOREPLY:
    case ICMP_ECHO:
    case ICMP_ROUTERADVERT:
    case ICMP_ROUTERSOLICIT:
    case ICMP_TSTAMP:
    case ICMP_TSTAMPREPLY:
    case ICMP_IREQ:
    case ICMP_IREQREPLY:
    case ICMP_MASKREQ:
    case ICMP_MASKREPLY:
      return true;
    default:
      return false;
  }
}

/**
 * icmp_is_error: the error types of RFC 792, those that quote an offending
 * datagram at icmp_ip (unreachable, source quench, redirect, time
 * exceeded, parameter problem). For "do not answer an error with an error"
 * use !ICMP_INFOTYPE(type), which also refuses unknown types.
 */
export function icmp_is_error(type: number): boolean {
  switch (type) {
    case ICMP_UNREACH:
    case ICMP_SOURCEQUENCH:
    case ICMP_REDIRECT:
    case ICMP_TIMXCEED:
    case ICMP_PARAMPROB:
      return true;
    default:
      return false;
  }
}

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

export function icmp_type(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_TYPE_OFF];
}
export function icmp_code(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_CODE_OFF];
}
export function icmp_cksum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + ICMP_CKSUM_OFF);
}
/** The whole 32-bit icmp_hun word (icmp_void). */
export function icmp_hun(buf: Uint8Array, off: number): number {
  /* Any big-endian 32-bit word reads like an address. */
  return in_addr_read(buf, off + ICMP_HUN_OFF);
}
export function icmp_id(buf: Uint8Array, off: number): number {
  return rd16(buf, off + ICMP_ID_OFF);
}
export function icmp_seq(buf: Uint8Array, off: number): number {
  return rd16(buf, off + ICMP_SEQ_OFF);
}
/** Parameter problem: offset of the bad byte in the quoted header. */
export function icmp_pptr(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_PPTR_OFF];
}
/** Redirect: the better first hop. */
export function icmp_gwaddr(buf: Uint8Array, off: number): number {
  return in_addr_read(buf, off + ICMP_GWADDR_OFF);
}
/** Need to fragment: the next-hop MTU (RFC 1191); 0 from pre-1191 routers. */
export function icmp_nextmtu(buf: Uint8Array, off: number): number {
  return rd16(buf, off + ICMP_NEXTMTU_OFF);
}

export function icmp_type_set(buf: Uint8Array, off: number, type: number): void {
  buf[off + ICMP_TYPE_OFF] = type;
}
export function icmp_code_set(buf: Uint8Array, off: number, code: number): void {
  buf[off + ICMP_CODE_OFF] = code;
}
export function icmp_cksum_set(buf: Uint8Array, off: number, sum: number): void {
  wr16(buf, off + ICMP_CKSUM_OFF, sum);
}
export function icmp_hun_set(buf: Uint8Array, off: number, v: number): void {
  in_addr_write(buf, off + ICMP_HUN_OFF, v);
}
export function icmp_id_set(buf: Uint8Array, off: number, id: number): void {
  wr16(buf, off + ICMP_ID_OFF, id);
}
export function icmp_seq_set(buf: Uint8Array, off: number, seq: number): void {
  wr16(buf, off + ICMP_SEQ_OFF, seq);
}
export function icmp_pptr_set(buf: Uint8Array, off: number, pptr: number): void {
  buf[off + ICMP_PPTR_OFF] = pptr;
}
export function icmp_gwaddr_set(buf: Uint8Array, off: number, a: number): void {
  in_addr_write(buf, off + ICMP_GWADDR_OFF, a);
}
export function icmp_nextmtu_set(buf: Uint8Array, off: number, mtu: number): void {
  wr16(buf, off + ICMP_NEXTMTU_OFF, mtu);
}

/**
 * icmp_cksum_fill computes the checksum of the `len`-byte message at
 * buf[off ..] (no pseudo-header in ICMPv4) and stores it.
 */
export function icmp_cksum_fill(buf: Uint8Array, off: number, len: number): void {
  wr16(buf, off + ICMP_CKSUM_OFF, 0);
  wr16(buf, off + ICMP_CKSUM_OFF, in_cksum(buf, off, len));
}

/** An ICMP message as a plain object, for tests and tools. */
export interface IcmpRepr {
  type: number;
  code: number;
  /**
   * icmp_hun as one 32-bit word: (id << 16) | seq for echo, the gateway
   * for a redirect, pptr << 24 for a parameter problem, nextmtu (low 16
   * bits) for need-to-fragment.
   */
  hun: number;
  /** Everything from offset 8 on (a copy): echo data, or the quoted datagram. */
  data: Uint8Array;
}

export const IcmpRepr = Object.freeze({
  /**
   * Decodes the `len`-byte message at buf[off ..]. Returns null when it is
   * shorter than ICMP_MINLEN, runs past buf, or (unless `verifySum` is
   * false) has a bad checksum.
   */
  parse(buf: Uint8Array, off: number, len: number, verifySum = true): IcmpRepr | null {
    if (!(off >= 0 && len >= ICMP_MINLEN && off + len <= buf.length)) return null;
    if (verifySum && in_cksum(buf, off, len) !== 0) return null;
    return {
      type: icmp_type(buf, off),
      code: icmp_code(buf, off),
      hun: icmp_hun(buf, off),
      data: buf.slice(off + ICMP_DATA_OFF, off + len),
    };
  },
  /** Bytes emit() writes. */
  bufferLen(r: IcmpRepr): number {
    return ICMP_MINLEN + r.data.length;
  },
  /** Writes the message with its checksum at buf[off ..]; returns its length. */
  emit(r: IcmpRepr, buf: Uint8Array, off: number): number {
    const len = ICMP_MINLEN + r.data.length;
    if (!(off >= 0 && off + len <= buf.length)) {
      throw new RangeError(`Cannot write ${len}-byte ICMP message at ${off}: buffer has ${buf.length} bytes`);
    }
    buf[off + ICMP_TYPE_OFF] = r.type;
    buf[off + ICMP_CODE_OFF] = r.code;
    icmp_hun_set(buf, off, r.hun);
    buf.set(r.data, off + ICMP_DATA_OFF);
    icmp_cksum_fill(buf, off, len);
    return len;
  },
});
