/*
 * in.ts: IPv4 addresses and protocol numbers, the wire-level half of
 * NetBSD's netinet/in.h (and the address tests of in.c).
 *
 * An IPv4 address is a plain number holding the 32-bit value in host order
 * (10.0.0.1 is 0x0a000001), always normalised with `>>> 0` so it is
 * non-negative and compares with ===. NetBSD keeps s_addr in network order
 * and wraps tests in ntohl(); a number has no byte order, so conversion
 * happens only where bytes are read or written (in_addr_read/write).
 *
 * Pure: imports nothing, holds no mutable state.
 */

/* Protocol numbers (IANA "Assigned Internet Protocol Numbers"). */
export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
export const IPPROTO_IPV4 = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_GRE = 47;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_RAW = 255;
export const IPPROTO_MAX = 256;

/* Well-known addresses. */
export const INADDR_ANY = 0x00000000;
export const INADDR_LOOPBACK = 0x7f000001;
export const INADDR_BROADCAST = 0xffffffff;
/** inet_addr()'s error value; the same bits as INADDR_BROADCAST. */
export const INADDR_NONE = 0xffffffff;
export const INADDR_UNSPEC_GROUP = 0xe0000000;
export const INADDR_ALLHOSTS_GROUP = 0xe0000001;
export const INADDR_ALLRTRS_GROUP = 0xe0000002;
export const INADDR_MAX_LOCAL_GROUP = 0xe00000ff;

/** The loopback network number, 127/8. */
export const IN_LOOPBACKNET = 127;

/* Historical classes: still how NetBSD spots multicast and class E. */
export function IN_CLASSA(a: number): boolean {
  return (a & 0x80000000) === 0;
}
export function IN_CLASSB(a: number): boolean {
  return (a & 0xc0000000) >>> 0 === 0x80000000;
}
export function IN_CLASSC(a: number): boolean {
  return (a & 0xe0000000) >>> 0 === 0xc0000000;
}
/** Class D, 224/4: multicast. */
export function IN_CLASSD(a: number): boolean {
  return (a & 0xf0000000) >>> 0 === 0xe0000000;
}
export const IN_MULTICAST = IN_CLASSD;
/** Class E, 240/4, reserved (this includes INADDR_BROADCAST). */
export function IN_EXPERIMENTAL(a: number): boolean {
  return (a & 0xf0000000) >>> 0 === 0xf0000000;
}
export const IN_BADCLASS = IN_EXPERIMENTAL;
/** 127/8. */
export function IN_LOOPBACK(a: number): boolean {
  return a >>> 24 === IN_LOOPBACKNET;
}
/** 169.254/16, RFC 3927. */
export function IN_LINKLOCAL(a: number): boolean {
  return (a & 0xffff0000) >>> 0 === 0xa9fe0000;
}
/** 10/8, 172.16/12, 192.168/16, RFC 1918. */
export function IN_PRIVATE(a: number): boolean {
  return (
    (a & 0xff000000) >>> 0 === 0x0a000000 ||
    (a & 0xfff00000) >>> 0 === 0xac100000 ||
    (a & 0xffff0000) >>> 0 === 0xc0a80000
  );
}
/** 224.0.0/24: link-local multicast, never forwarded and never IGMP-reported. */
export function IN_LOCAL_GROUP(a: number): boolean {
  return (a & 0xffffff00) >>> 0 === INADDR_UNSPEC_GROUP;
}

/**
 * in_canforward says whether a router may forward to `a` (NetBSD's
 * in_canforward()): not multicast, class E, "this network" 0/8 or
 * loopback.
 */
export function in_canforward(a: number): boolean {
  if (IN_MULTICAST(a) || IN_EXPERIMENTAL(a)) return false;
  const net = a >>> 24;
  return net !== 0 && net !== IN_LOOPBACKNET;
}

/** in_addr_read reads a big-endian address at buf[off .. off+4). */
export function in_addr_read(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** in_addr_write stores `a` big-endian at buf[off .. off+4). */
export function in_addr_write(buf: Uint8Array, off: number, a: number): void {
  buf[off] = a >>> 24;
  buf[off + 1] = a >>> 16;
  buf[off + 2] = a >>> 8;
  buf[off + 3] = a;
}

/**
 * inet_pton4 parses a dotted quad strictly, as inet_pton(AF_INET, ...)
 * does: exactly four decimal parts of 0..255, no leading zeros (which
 * inet_aton() would read as octal), no signs, no spaces, nothing before
 * or after. Unlike inet_aton() it rejects the short forms '1.2.3' and
 * '10.1'. Returns the address, or null.
 */
export function inet_pton4(s: string): number | null {
  let a = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e; /* a final '.' closes part 4 */
    if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && part === 0) return null; /* leading zero */
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) return null;
    } else if (c === 0x2e) {
      if (digits === 0 || ++parts > 4) return null;
      a = a * 256 + part;
      part = 0;
      digits = 0;
    } else {
      return null;
    }
  }
  return parts === 4 ? a >>> 0 : null;
}

/** inet_ntop4 formats an address as a dotted quad ('10.0.0.1'). */
export function inet_ntop4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/**
 * in_len2mask returns the netmask of a prefix length 0..32 (24 gives
 * 0xffffff00). Other lengths throw RangeError: they are a caller's bug.
 */
export function in_len2mask(len: number): number {
  if (!(Number.isInteger(len) && len >= 0 && len <= 32)) {
    throw new RangeError(`Cannot make a netmask of prefix length ${len}: must be 0..32`);
  }
  /* A shift count of 32 is taken mod 32 in JS, so /0 is special. */
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/**
 * in_mask2len returns the prefix length of a netmask, or -1 when the mask
 * is not contiguous ones followed by zeros (NetBSD's in_mask2len()).
 */
export function in_mask2len(mask: number): number {
  const inv = ~mask >>> 0;
  /* Contiguous iff the host part is 2^k - 1 (inv + 1 wraps to 0 for /0). */
  if ((inv & (inv + 1)) !== 0) return -1;
  return Math.clz32(inv);
}

/**
 * in_broadaddr is the directed broadcast address of the subnet of `ifaddr`
 * under `netmask` (NetBSD's ia_broadaddr), or INADDR_BROADCAST for a /31
 * or /32, which have no broadcast address: on a /31 (RFC 3021) the all-ones
 * host is the peer, and on a /32 it is the interface itself.
 */
export function in_broadaddr(ifaddr: number, netmask: number): number {
  const m = netmask >>> 0;
  if (m === 0xffffffff || m === 0xfffffffe) return INADDR_BROADCAST;
  return (ifaddr | ~m) >>> 0;
}

/**
 * in_is_broadcast says whether `a` is a broadcast address for an interface
 * with address `ifaddr` and mask `netmask`: the tests of NetBSD's
 * in_broadcast() for one address. Limited broadcast and INADDR_ANY always
 * are (old BSDs broadcast to 0); the subnet's directed broadcast is, except
 * that the interface's own address never is (a /32); with
 * `hostzeroisbroadcast` (net.inet.ip.hostzerobroadcast) so is the
 * host-zero address of 4.2BSD.
 */
export function in_is_broadcast(
  a: number,
  ifaddr: number,
  netmask: number,
  hostzeroisbroadcast = false,
): boolean {
  const x = a >>> 0;
  if (x === INADDR_BROADCAST || x === INADDR_ANY) return true;
  if (x === ifaddr >>> 0) return false;
  const m = netmask >>> 0;
  if (m === 0xffffffff || m === 0xfffffffe) return false;
  if (x === in_broadaddr(ifaddr, m)) return true;
  return hostzeroisbroadcast && x === (ifaddr & m) >>> 0;
}

/*
 * IP-level socket options (setsockopt level IPPROTO_IP), netinet/in.h.
 * Added beside the address helpers because they are the same header's
 * names; ip_output.ts's ip_ctloutput() implements them.
 */
export const IP_OPTIONS = 1;
export const IP_HDRINCL = 2;
export const IP_TOS = 3;
export const IP_TTL = 4;
export const IP_RECVOPTS = 5;
export const IP_RECVRETOPTS = 6;
export const IP_RECVDSTADDR = 7;
export const IP_RETOPTS = 8;
export const IP_MULTICAST_IF = 9;
export const IP_MULTICAST_TTL = 10;
export const IP_MULTICAST_LOOP = 11;
export const IP_ADD_MEMBERSHIP = 12;
export const IP_DROP_MEMBERSHIP = 13;
export const IP_PORTRANGE = 19;
export const IP_RECVIF = 20;
export const IP_ERRORMTU = 21;
export const IP_RECVTTL = 23;
export const IP_MINTTL = 24;
export const IP_PKTINFO = 25;
export const IP_RECVPKTINFO = 26;

/* IP_PORTRANGE values: which range an ephemeral port comes from. */
/** net.inet.ip.anonportmin .. anonportmax (49152..65535). */
export const IP_PORTRANGE_DEFAULT = 0;
/** The same range as DEFAULT in NetBSD. */
export const IP_PORTRANGE_HIGH = 1;
/** net.inet.ip.lowportmin .. lowportmax (600..1023), privileged. */
export const IP_PORTRANGE_LOW = 2;

/** Ports below this need privilege to bind (NetBSD's IPPORT_RESERVED). */
export const IPPORT_RESERVED = 1024;
/** Default ephemeral range, RFC 6335's dynamic ports. */
export const IPPORT_ANONMIN = 49152;
export const IPPORT_ANONMAX = 65535;
/** Default IP_PORTRANGE_LOW range. */
export const IPPORT_RESERVEDMIN = 600;
export const IPPORT_RESERVEDMAX = IPPORT_RESERVED - 1;
