/*
 * udp.ts: the UDP header, NetBSD's netinet/udp.h (RFC 768).
 *
 * Accessors take (buf, off) with `off` the first byte of the UDP header;
 * check the length (UDP_HDR_LEN, and uh_ulen against what IP delivered, as
 * udp_input() does) once, then read unchecked. The checksum covers the
 * IPv4 pseudo-header; 0 on the wire means "not computed", so a computed 0
 * is sent as 0xffff (the same value in ones' complement).
 *
 * UdpRepr is a plain object with parse/emit for tests and tools.
 */

import { IPPROTO_UDP } from './in.ts';
import { in4_cksum } from './in_cksum.ts';

/** sizeof(struct udphdr). */
export const UDP_HDR_LEN = 8;

/* Field offsets in struct udphdr. */
export const UH_SPORT_OFF = 0;
export const UH_DPORT_OFF = 2;
export const UH_ULEN_OFF = 4;
export const UH_SUM_OFF = 6;

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

export function uh_sport(buf: Uint8Array, off: number): number {
  return rd16(buf, off + UH_SPORT_OFF);
}
export function uh_dport(buf: Uint8Array, off: number): number {
  return rd16(buf, off + UH_DPORT_OFF);
}
/** uh_ulen: header plus data. */
export function uh_ulen(buf: Uint8Array, off: number): number {
  return rd16(buf, off + UH_ULEN_OFF);
}
export function uh_sum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + UH_SUM_OFF);
}
export function uh_sport_set(buf: Uint8Array, off: number, port: number): void {
  wr16(buf, off + UH_SPORT_OFF, port);
}
export function uh_dport_set(buf: Uint8Array, off: number, port: number): void {
  wr16(buf, off + UH_DPORT_OFF, port);
}
export function uh_ulen_set(buf: Uint8Array, off: number, ulen: number): void {
  wr16(buf, off + UH_ULEN_OFF, ulen);
}
export function uh_sum_set(buf: Uint8Array, off: number, sum: number): void {
  wr16(buf, off + UH_SUM_OFF, sum);
}

/**
 * udp_hdr_write emits a header at buf[off .. off+8) with uh_sum 0; fill
 * the checksum afterwards with udp4_cksum_fill() once the data is there.
 */
export function udp_hdr_write(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  ulen: number,
): void {
  wr16(buf, off + UH_SPORT_OFF, sport);
  wr16(buf, off + UH_DPORT_OFF, dport);
  wr16(buf, off + UH_ULEN_OFF, ulen);
  wr16(buf, off + UH_SUM_OFF, 0);
}

/**
 * udp4_cksum sums the `len`-byte datagram at buf[off ..] under the
 * pseudo-header. On input, a datagram with uh_sum != 0 is good when this
 * returns 0 (udp_input() counts udps_badsum otherwise).
 */
export function udp4_cksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  return in4_cksum(buf, off, len, src, dst, IPPROTO_UDP);
}

/**
 * udp4_cksum_fill computes and stores uh_sum for the `len`-byte datagram
 * at buf[off ..], sending a computed 0 as 0xffff (RFC 768).
 */
export function udp4_cksum_fill(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  wr16(buf, off + UH_SUM_OFF, 0);
  const sum = in4_cksum(buf, off, len, src, dst, IPPROTO_UDP);
  wr16(buf, off + UH_SUM_OFF, sum === 0 ? 0xffff : sum);
}

/** A UDP datagram as a plain object, for tests and tools. */
export interface UdpRepr {
  sport: number;
  dport: number;
  /** The data (a copy on parse); uh_ulen is 8 + payload.length. */
  payload: Uint8Array;
}

export const UdpRepr = Object.freeze({
  /**
   * Decodes the datagram at buf[off ..], `len` being what IP delivered
   * (ip_len - hlen). Returns null when shorter than 8 bytes, when uh_ulen
   * is below 8 or above `len`, or, given the pseudo-header addresses and
   * a nonzero uh_sum, when the checksum is bad. Bytes past uh_ulen are
   * ignored, as udp_input() trims them.
   */
  parse(buf: Uint8Array, off: number, len: number, src?: number, dst?: number): UdpRepr | null {
    if (!(off >= 0 && len >= UDP_HDR_LEN && off + len <= buf.length)) return null;
    const ulen = uh_ulen(buf, off);
    if (ulen < UDP_HDR_LEN || ulen > len) return null;
    if (src !== undefined && dst !== undefined && uh_sum(buf, off) !== 0 && udp4_cksum(buf, off, ulen, src, dst) !== 0) {
      return null;
    }
    return {
      sport: uh_sport(buf, off),
      dport: uh_dport(buf, off),
      payload: buf.slice(off + UDP_HDR_LEN, off + ulen),
    };
  },
  /** Bytes emit() writes. */
  bufferLen(r: UdpRepr): number {
    return UDP_HDR_LEN + r.payload.length;
  },
  /**
   * Writes header and payload at buf[off ..] with the checksum for the
   * given pseudo-header addresses; returns the bytes written.
   */
  emit(r: UdpRepr, buf: Uint8Array, off: number, src: number, dst: number): number {
    const len = UDP_HDR_LEN + r.payload.length;
    if (!(off >= 0 && off + len <= buf.length) || len > 0xffff) {
      throw new RangeError(`Cannot write ${len}-byte UDP datagram at ${off}: buffer has ${buf.length} bytes`);
    }
    udp_hdr_write(buf, off, r.sport, r.dport, len);
    buf.set(r.payload, off + UDP_HDR_LEN);
    udp4_cksum_fill(buf, off, len, src, dst);
    return len;
  },
});
