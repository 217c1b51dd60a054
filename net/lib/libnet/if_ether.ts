/*
 * if_ether.ts: the Ethernet header and MAC addresses, NetBSD's
 * net/if_ether.h (plus the 802.1Q tag macros of net/if_vlanvar.h).
 *
 * Accessors take (buf, off) with `off` the first byte of the frame, and do
 * no bounds checks: validate once (len >= ETHER_HDR_LEN), then read
 * unchecked, as ether_input() does after its length test. A MAC address is
 * 6 bytes in a Uint8Array, usually at an offset inside a frame; readers that
 * return one say whether it is a copy. The kernel path compares and copies
 * in place (ether_addr_eq, ether_addr_copy) and allocates nothing.
 *
 * EtherRepr is a plain object with parse/emit for tests and tools.
 *
 * Pure: imports nothing, holds no mutable state.
 */

export const ETHER_ADDR_LEN = 6;
export const ETHER_TYPE_LEN = 2;
export const ETHER_CRC_LEN = 4;
/** Destination, source and type: sizeof(struct ether_header). */
export const ETHER_HDR_LEN = ETHER_ADDR_LEN * 2 + ETHER_TYPE_LEN;
/** Shortest frame on the wire, CRC included. */
export const ETHER_MIN_LEN = 64;
/** Longest untagged frame on the wire, CRC included. */
export const ETHER_MAX_LEN = 1518;
/** Largest payload. */
export const ETHERMTU = ETHER_MAX_LEN - ETHER_HDR_LEN - ETHER_CRC_LEN;
/** Smallest payload: shorter frames are padded up to it. */
export const ETHERMIN = ETHER_MIN_LEN - ETHER_HDR_LEN - ETHER_CRC_LEN;
/** Bytes an 802.1Q tag adds (TPID + TCI). */
export const ETHER_VLAN_ENCAP_LEN = 4;

export const ETHERTYPE_IP = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_REVARP = 0x8035;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
/**
 * Type values at or below this are 802.3 length fields, not types
 * (IEEE 802.3 clause 3.2.6); types start at 0x0600.
 */
export const ETHERTYPE_MAX_LEN = 1500;

/* Field offsets in struct ether_header. */
export const ETHER_DHOST_OFF = 0;
export const ETHER_SHOST_OFF = 6;
export const ETHER_TYPE_OFF = 12;

/* 802.1Q tag control information (TCI): PCP(3) DEI(1) VID(12). */
export function EVL_VLANOFTAG(tag: number): number {
  return tag & 0x0fff;
}
export function EVL_PRIOFTAG(tag: number): number {
  return (tag >>> 13) & 7;
}
export function EVL_CFIOFTAG(tag: number): number {
  return (tag >>> 12) & 1;
}

/** The broadcast address, ff:ff:ff:ff:ff:ff (frozen: pass it to Uint8Array.set). */
export const etherbroadcastaddr: readonly number[] = Object.freeze([
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
]);

/** ETHER_IS_MULTICAST: the I/G bit, set for multicast and broadcast. */
export function ETHER_IS_MULTICAST(buf: Uint8Array, off = 0): boolean {
  return (buf[off] & 0x01) !== 0;
}

/** ETHER_IS_BROADCAST: all ones. */
export function ETHER_IS_BROADCAST(buf: Uint8Array, off = 0): boolean {
  return (
    (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) ===
    0xff
  );
}

/** ether_addr_eq compares two addresses in place, without allocating. */
export function ether_addr_eq(a: Uint8Array, aoff: number, b: Uint8Array, boff: number): boolean {
  return (
    a[aoff] === b[boff] &&
    a[aoff + 1] === b[boff + 1] &&
    a[aoff + 2] === b[boff + 2] &&
    a[aoff + 3] === b[boff + 3] &&
    a[aoff + 4] === b[boff + 4] &&
    a[aoff + 5] === b[boff + 5]
  );
}

/** ether_addr_copy copies 6 bytes src[soff..] to dst[doff..], without subarray(). */
export function ether_addr_copy(dst: Uint8Array, doff: number, src: Uint8Array, soff: number): void {
  dst[doff] = src[soff];
  dst[doff + 1] = src[soff + 1];
  dst[doff + 2] = src[soff + 2];
  dst[doff + 3] = src[soff + 3];
  dst[doff + 4] = src[soff + 4];
  dst[doff + 5] = src[soff + 5];
}

/* Copy of the address at buf[soff..] into out, or into a new array. */
function copy_out(buf: Uint8Array, soff: number, out: Uint8Array | undefined): Uint8Array {
  const dst = out ?? new Uint8Array(ETHER_ADDR_LEN);
  ether_addr_copy(dst, 0, buf, soff);
  return dst;
}

/**
 * ether_dhost returns a copy of the destination address: into `out`
 * (6 bytes, returned) when given, else into a new Uint8Array(6).
 */
export function ether_dhost(buf: Uint8Array, off: number, out?: Uint8Array): Uint8Array {
  return copy_out(buf, off + ETHER_DHOST_OFF, out);
}

/** ether_shost returns a copy of the source address, as ether_dhost(). */
export function ether_shost(buf: Uint8Array, off: number, out?: Uint8Array): Uint8Array {
  return copy_out(buf, off + ETHER_SHOST_OFF, out);
}

/** ether_type reads the 16-bit type (or 802.3 length) field. */
export function ether_type(buf: Uint8Array, off: number): number {
  return (buf[off + ETHER_TYPE_OFF] << 8) | buf[off + ETHER_TYPE_OFF + 1];
}

export function ether_dhost_set(buf: Uint8Array, off: number, addr: Uint8Array, aoff = 0): void {
  ether_addr_copy(buf, off + ETHER_DHOST_OFF, addr, aoff);
}

export function ether_shost_set(buf: Uint8Array, off: number, addr: Uint8Array, aoff = 0): void {
  ether_addr_copy(buf, off + ETHER_SHOST_OFF, addr, aoff);
}

export function ether_type_set(buf: Uint8Array, off: number, type: number): void {
  buf[off + ETHER_TYPE_OFF] = type >>> 8;
  buf[off + ETHER_TYPE_OFF + 1] = type;
}

/**
 * ether_hdr_write emits a whole header at buf[off .. off+14): what
 * ether_output() prepends. Returns ETHER_HDR_LEN.
 */
export function ether_hdr_write(
  buf: Uint8Array,
  off: number,
  dhost: Uint8Array,
  shost: Uint8Array,
  type: number,
): number {
  ether_addr_copy(buf, off + ETHER_DHOST_OFF, dhost, 0);
  ether_addr_copy(buf, off + ETHER_SHOST_OFF, shost, 0);
  ether_type_set(buf, off, type);
  return ETHER_HDR_LEN;
}

function hexval(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20; /* ASCII lower case */
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * ether_aton parses 'b2:a0:01:02:03:04' (six colon-separated groups of one
 * or two hex digits, either case, nothing else) into a new Uint8Array(6).
 * Returns null when the string is anything else.
 */
export function ether_aton(s: string): Uint8Array | null {
  const out = new Uint8Array(ETHER_ADDR_LEN);
  let n = 0;
  let v = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x3a; /* a final ':' closes group 6 */
    if (c === 0x3a) {
      if (digits === 0 || n === ETHER_ADDR_LEN) return null;
      out[n++] = v;
      v = 0;
      digits = 0;
      continue;
    }
    const h = hexval(c);
    if (h < 0 || ++digits > 2) return null;
    v = v * 16 + h;
  }
  return n === ETHER_ADDR_LEN ? out : null;
}

const HEX = '0123456789abcdef';

/**
 * ether_ntoa formats the address at addr[off .. off+6) as
 * 'b2:a0:01:02:03:04' (lower case, two digits a group), NetBSD's
 * ether_sprintf().
 */
export function ether_ntoa(addr: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < ETHER_ADDR_LEN; i++) {
    const b = addr[off + i];
    if (i > 0) s += ':';
    s += HEX[b >>> 4] + HEX[b & 15];
  }
  return s;
}

/** An Ethernet header as a plain object, for tests and tools. */
export interface EtherRepr {
  /** Destination address (6 bytes). */
  dhost: Uint8Array;
  /** Source address (6 bytes). */
  shost: Uint8Array;
  /** Type (or 802.3 length). */
  type: number;
}

export const EtherRepr = Object.freeze({
  /**
   * Decodes the header at buf[off ..], `len` bytes being available.
   * Returns null when fewer than ETHER_HDR_LEN are. Addresses are copies.
   */
  parse(buf: Uint8Array, off: number, len: number): EtherRepr | null {
    if (len < ETHER_HDR_LEN || off < 0 || off + ETHER_HDR_LEN > buf.length) return null;
    return { dhost: ether_dhost(buf, off), shost: ether_shost(buf, off), type: ether_type(buf, off) };
  },
  /** Bytes emit() writes. */
  bufferLen(_r: EtherRepr): number {
    return ETHER_HDR_LEN;
  },
  /** Writes the header at buf[off ..]; returns the bytes written. */
  emit(r: EtherRepr, buf: Uint8Array, off: number): number {
    if (!(off >= 0 && off + ETHER_HDR_LEN <= buf.length)) {
      throw new RangeError(`Cannot write Ethernet header at ${off}: buffer has ${buf.length} bytes`);
    }
    return ether_hdr_write(buf, off, r.dhost, r.shost, r.type);
  },
});
