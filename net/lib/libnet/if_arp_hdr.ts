/*
 * if_arp_hdr.ts: the ARP packet layout, struct arphdr of NetBSD's
 * net/if_arp.h (RFC 826). The protocol itself (if_arp.c) lives in
 * libnetinet; this is only the wire format, kept apart so the name does not
 * clash with it.
 *
 * The fixed header is 8 bytes; then come sender hardware address (ar_hln
 * bytes), sender protocol address (ar_pln), target hardware, target
 * protocol. The accessors for the addresses assume Ethernet/IPv4 (6 and 4
 * bytes, 28 in all), the only pairing this stack speaks: run
 * arp_hdr_check() once, which insists on it, then read unchecked. Protocol
 * addresses are uint32 numbers as in netinet/in.ts; hardware addresses
 * are 6 bytes in a Uint8Array.
 *
 * ArpRepr is a plain object with parse/emit for tests and tools.
 *
 * Pure: imports nothing outside the wire-format layer, holds no mutable
 * state.
 */

import { ETHER_ADDR_LEN, ETHERTYPE_IP, ether_addr_copy } from './if_ether.ts';

/** sizeof(struct arphdr): the fixed part. */
export const ARP_HDR_LEN = 8;
/** An Ethernet/IPv4 ARP packet: the fixed part and two 6+4 address pairs. */
export const ARP_ETHER_IP_LEN = ARP_HDR_LEN + 2 * (ETHER_ADDR_LEN + 4);

/* ar_hrd. */
export const ARPHRD_ETHER = 1;
export const ARPHRD_IEEE802 = 6;

/* ar_op. */
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
export const ARPOP_REVREQUEST = 3;
export const ARPOP_REVREPLY = 4;
export const ARPOP_INVREQUEST = 8;
export const ARPOP_INVREPLY = 9;

/* Field offsets in struct arphdr. */
export const AR_HRD_OFF = 0;
export const AR_PRO_OFF = 2;
export const AR_HLN_OFF = 4;
export const AR_PLN_OFF = 5;
export const AR_OP_OFF = 6;
/* Address offsets for Ethernet/IPv4 (NetBSD computes them from ar_hln/ar_pln). */
export const AR_SHA_OFF = 8;
export const AR_SPA_OFF = 14;
export const AR_THA_OFF = 18;
export const AR_TPA_OFF = 24;

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}
function rd32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}
function wr32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

/** ar_hrd: hardware type, ARPHRD_*. */
export function ar_hrd(buf: Uint8Array, off: number): number {
  return rd16(buf, off + AR_HRD_OFF);
}
/** ar_pro: protocol type, an ethertype (ETHERTYPE_IP). */
export function ar_pro(buf: Uint8Array, off: number): number {
  return rd16(buf, off + AR_PRO_OFF);
}
export function ar_hln(buf: Uint8Array, off: number): number {
  return buf[off + AR_HLN_OFF];
}
export function ar_pln(buf: Uint8Array, off: number): number {
  return buf[off + AR_PLN_OFF];
}
/** ar_op: ARPOP_*. */
export function ar_op(buf: Uint8Array, off: number): number {
  return rd16(buf, off + AR_OP_OFF);
}
/** Sender hardware address: a copy, into `out` when given, else a new Uint8Array(6). */
export function ar_sha(buf: Uint8Array, off: number, out?: Uint8Array): Uint8Array {
  const dst = out ?? new Uint8Array(ETHER_ADDR_LEN);
  ether_addr_copy(dst, 0, buf, off + AR_SHA_OFF);
  return dst;
}
/** Sender protocol (IPv4) address. */
export function ar_spa(buf: Uint8Array, off: number): number {
  return rd32(buf, off + AR_SPA_OFF);
}
/** Target hardware address: a copy, as ar_sha(). */
export function ar_tha(buf: Uint8Array, off: number, out?: Uint8Array): Uint8Array {
  const dst = out ?? new Uint8Array(ETHER_ADDR_LEN);
  ether_addr_copy(dst, 0, buf, off + AR_THA_OFF);
  return dst;
}
/** Target protocol (IPv4) address. */
export function ar_tpa(buf: Uint8Array, off: number): number {
  return rd32(buf, off + AR_TPA_OFF);
}

export function ar_op_set(buf: Uint8Array, off: number, op: number): void {
  wr16(buf, off + AR_OP_OFF, op);
}
export function ar_sha_set(buf: Uint8Array, off: number, addr: Uint8Array, aoff = 0): void {
  ether_addr_copy(buf, off + AR_SHA_OFF, addr, aoff);
}
export function ar_spa_set(buf: Uint8Array, off: number, a: number): void {
  wr32(buf, off + AR_SPA_OFF, a);
}
export function ar_tha_set(buf: Uint8Array, off: number, addr: Uint8Array, aoff = 0): void {
  ether_addr_copy(buf, off + AR_THA_OFF, addr, aoff);
}
export function ar_tpa_set(buf: Uint8Array, off: number, a: number): void {
  wr32(buf, off + AR_TPA_OFF, a);
}

/**
 * Why arp_hdr_check() rejected a packet, named after the arpstat counter
 * NetBSD's arpintr()/in_arpinput() count it under:
 *  - arps_rcvbadlen:   shorter than the fixed part or than the addresses
 *                      it announces;
 *  - arps_rcvbadproto: not Ethernet/IPv4 (ar_hrd, ar_pro, ar_hln, ar_pln).
 */
export type ArpHdrError = 'arps_rcvbadlen' | 'arps_rcvbadproto';

/**
 * arp_hdr_check validates the packet at buf[off ..], `avail` bytes being
 * present: null when it is a well-formed Ethernet/IPv4 ARP packet, whose
 * addresses the accessors may then read. The operation is not checked
 * (an unknown ar_op is the protocol's business). Never throws.
 */
export function arp_hdr_check(buf: Uint8Array, off: number, avail: number): ArpHdrError | null {
  const have = off >= 0 && buf.length - off < avail ? buf.length - off : avail;
  if (!(off >= 0 && have >= ARP_HDR_LEN)) return 'arps_rcvbadlen';
  const hrd = ar_hrd(buf, off);
  if (
    (hrd !== ARPHRD_ETHER && hrd !== ARPHRD_IEEE802) ||
    ar_pro(buf, off) !== ETHERTYPE_IP ||
    ar_hln(buf, off) !== ETHER_ADDR_LEN ||
    ar_pln(buf, off) !== 4
  ) {
    return 'arps_rcvbadproto';
  }
  if (have < ARP_ETHER_IP_LEN) return 'arps_rcvbadlen';
  return null;
}

/**
 * arp_hdr_write emits a whole Ethernet/IPv4 ARP packet at
 * buf[off .. off+28): what arprequest()/arpreply() build. Returns
 * ARP_ETHER_IP_LEN.
 */
export function arp_hdr_write(
  buf: Uint8Array,
  off: number,
  op: number,
  sha: Uint8Array,
  spa: number,
  tha: Uint8Array,
  tpa: number,
): number {
  wr16(buf, off + AR_HRD_OFF, ARPHRD_ETHER);
  wr16(buf, off + AR_PRO_OFF, ETHERTYPE_IP);
  buf[off + AR_HLN_OFF] = ETHER_ADDR_LEN;
  buf[off + AR_PLN_OFF] = 4;
  wr16(buf, off + AR_OP_OFF, op);
  ether_addr_copy(buf, off + AR_SHA_OFF, sha, 0);
  wr32(buf, off + AR_SPA_OFF, spa);
  ether_addr_copy(buf, off + AR_THA_OFF, tha, 0);
  wr32(buf, off + AR_TPA_OFF, tpa);
  return ARP_ETHER_IP_LEN;
}

/** An Ethernet/IPv4 ARP packet as a plain object, for tests and tools. */
export interface ArpRepr {
  op: number;
  /** Sender hardware address (6 bytes). */
  sha: Uint8Array;
  /** Sender protocol address. */
  spa: number;
  /** Target hardware address (6 bytes; zero in a request). */
  tha: Uint8Array;
  /** Target protocol address. */
  tpa: number;
}

export const ArpRepr = Object.freeze({
  /** Decodes the packet at buf[off ..]; null when arp_hdr_check() rejects it. Addresses are copies. */
  parse(buf: Uint8Array, off: number, avail: number): ArpRepr | null {
    if (arp_hdr_check(buf, off, avail) !== null) return null;
    return {
      op: ar_op(buf, off),
      sha: ar_sha(buf, off),
      spa: ar_spa(buf, off),
      tha: ar_tha(buf, off),
      tpa: ar_tpa(buf, off),
    };
  },
  /** Bytes emit() writes. */
  bufferLen(_r: ArpRepr): number {
    return ARP_ETHER_IP_LEN;
  },
  /** Writes the packet at buf[off ..] (ARPHRD_ETHER, ETHERTYPE_IP); returns its length. */
  emit(r: ArpRepr, buf: Uint8Array, off: number): number {
    if (!(off >= 0 && off + ARP_ETHER_IP_LEN <= buf.length)) {
      throw new RangeError(`Cannot write ARP packet at ${off}: buffer has ${buf.length} bytes`);
    }
    return arp_hdr_write(buf, off, r.op, r.sha, r.spa, r.tha, r.tpa);
  },
});
