/*
 * The routing-socket wire format (NetBSD's net/route.h, net/if.h and
 * net/if_dl.h), shared by the kernel's PF_ROUTE socket (net/lib/libnet/
 * rtsock.ts) and its users (rump.route, rump.arp).  Messages are NetBSD's
 * LP64 layout byte for byte, integers in little-endian host order (amd64,
 * as a C rumpclient on a PC would write them), addresses in network order:
 *
 *   rt_msghdr (120 bytes: header 40, rt_metrics 80), then one sockaddr for
 *   each RTA_* bit of rtm_addrs, in bit order, each padded to 8 bytes.
 *   if_msghdr (16 + if_data 136), ifa_msghdr (32) and if_announcemsghdr
 *   (24) carry interface news on the same socket.
 *
 * The net.route sysctl dumps are plain objects instead (RtDumpEntry and
 * friends below): they travel through the syscall proxy as data, and
 * netstat and arp read them without a second parser.
 */

import { AF_INET, AF_LINK } from './socket.ts';
import type { IfData } from './if.ts';

/* rt_flags (NetBSD's values). */
export const RTF_UP = 0x1;
export const RTF_GATEWAY = 0x2;
export const RTF_HOST = 0x4;
export const RTF_REJECT = 0x8;
export const RTF_DYNAMIC = 0x10;
export const RTF_MODIFIED = 0x20;
export const RTF_DONE = 0x40;
export const RTF_MASK = 0x80;
export const RTF_CONNECTED = 0x100;
export const RTF_LLDATA = 0x400;
export const RTF_STATIC = 0x800;
export const RTF_BLACKHOLE = 0x1000;
export const RTF_PROTO2 = 0x4000;
export const RTF_PROTO1 = 0x8000;
export const RTF_SRC = 0x10000;
export const RTF_ANNOUNCE = 0x20000;
export const RTF_LOCAL = 0x40000;
export const RTF_BROADCAST = 0x80000;
export const RTF_UPDATING = 0x100000;

/* Message types. */
export const RTM_VERSION = 4;
export const RTM_ADD = 0x1;
export const RTM_DELETE = 0x2;
export const RTM_CHANGE = 0x3;
export const RTM_GET = 0x4;
export const RTM_LOSING = 0x5;
export const RTM_REDIRECT = 0x6;
export const RTM_MISS = 0x7;
export const RTM_IFANNOUNCE = 0x10;
export const RTM_IFINFO = 0x14;
export const RTM_NEWADDR = 0x16;
export const RTM_DELADDR = 0x17;
export const RTM_CHGADDR = 0x18;

/* Which metrics rtm_inits sets (and rmx_locks locks). */
export const RTV_MTU = 0x1;
export const RTV_HOPCOUNT = 0x2;
export const RTV_EXPIRE = 0x4;

/* rtm_addrs bits and their indexes. */
export const RTA_DST = 0x1;
export const RTA_GATEWAY = 0x2;
export const RTA_NETMASK = 0x4;
export const RTA_GENMASK = 0x8;
export const RTA_IFP = 0x10;
export const RTA_IFA = 0x20;
export const RTA_AUTHOR = 0x40;
export const RTA_BRD = 0x80;
export const RTA_TAG = 0x100;
export const RTAX_DST = 0;
export const RTAX_GATEWAY = 1;
export const RTAX_NETMASK = 2;
export const RTAX_GENMASK = 3;
export const RTAX_IFP = 4;
export const RTAX_IFA = 5;
export const RTAX_AUTHOR = 6;
export const RTAX_BRD = 7;
export const RTAX_TAG = 8;
export const RTAX_MAX = 9;

/* if_announcemsghdr ifan_what. */
export const IFAN_ARRIVAL = 0;
export const IFAN_DEPARTURE = 1;

/* net.route MIB: net.route.rtable.<af>.<op>[.<arg>] (NetBSD's NET_RT_*). */
export const NET_RT_DUMP = 1;
export const NET_RT_FLAGS = 2;
export const NET_RT_IFLIST = 3;

export const RT_MSGHDR_LEN = 120;
export const IF_MSGHDR_LEN = 152;
export const IFA_MSGHDR_LEN = 32;
export const IF_ANNOUNCEMSGHDR_LEN = 24;
export const SOCKADDR_IN_LEN = 16;
/** sizeof(struct sockaddr_dl): header 8, sdl_data[24]. */
export const SOCKADDR_DL_LEN = 32;

/** RT_ROUNDUP: a sockaddr's room in a message (8-byte multiples, 8 for an empty one). */
export function RT_ROUNDUP(len: number): number {
  return len > 0 ? 1 + ((len - 1) | 7) : 8;
}

/** struct rt_metrics, the fields kept. */
export interface RtMetricsMsg {
  rmx_locks: number;
  rmx_mtu: number;
  rmx_hopcount: number;
  rmx_expire: number;
  rmx_pksent: number;
}

/** struct rt_msghdr without its length and version (filled in on build). */
export interface RtMsghdr {
  rtm_type: number;
  rtm_index: number;
  rtm_flags: number;
  rtm_addrs: number;
  rtm_pid: number;
  rtm_seq: number;
  rtm_errno: number;
  rtm_use: number;
  rtm_inits: number;
  rtm_rmx: RtMetricsMsg;
}

/** A parsed message: the header and the sockaddrs by RTAX_* index (null where absent). */
export interface RtMsg {
  hdr: RtMsghdr;
  addrs: (Uint8Array | null)[];
}

export function rtm_blank(type: number): RtMsghdr {
  return {
    rtm_type: type, rtm_index: 0, rtm_flags: 0, rtm_addrs: 0, rtm_pid: 0, rtm_seq: 0, rtm_errno: 0,
    rtm_use: 0, rtm_inits: 0, rtm_rmx: { rmx_locks: 0, rmx_mtu: 0, rmx_hopcount: 0, rmx_expire: 0, rmx_pksent: 0 },
  };
}

/* 64-bit fields hold safe JavaScript integers: low and high words. */
function put64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 0x100000000) >>> 0, true);
}

function get64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 0x100000000;
}

/* The sockaddrs after a header, in RTAX order; sets nothing for null slots. */
function addrs_len(addrs: readonly (Uint8Array | null)[]): { len: number; bits: number } {
  let len = 0;
  let bits = 0;
  for (let i = 0; i < RTAX_MAX; i++) {
    const sa = addrs[i];
    if (sa === undefined || sa === null) continue;
    bits |= 1 << i;
    len += RT_ROUNDUP(sa[0]!);
  }
  return { len, bits };
}

function addrs_put(buf: Uint8Array, off: number, addrs: readonly (Uint8Array | null)[]): void {
  for (let i = 0; i < RTAX_MAX; i++) {
    const sa = addrs[i];
    if (sa === undefined || sa === null) continue;
    buf.set(sa.subarray(0, Math.min(sa[0]!, sa.length)), off);
    off += RT_ROUNDUP(sa[0]!);
  }
}

/** Build an rt_msghdr message; rtm_addrs is taken from which addrs are present. */
export function rt_msg_build(hdr: RtMsghdr, addrs: readonly (Uint8Array | null)[]): Uint8Array {
  const a = addrs_len(addrs);
  const buf = new Uint8Array(RT_MSGHDR_LEN + a.len);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, buf.length, true);
  buf[2] = RTM_VERSION;
  buf[3] = hdr.rtm_type;
  dv.setUint16(4, hdr.rtm_index, true);
  dv.setInt32(8, hdr.rtm_flags, true);
  dv.setInt32(12, a.bits, true);
  dv.setInt32(16, hdr.rtm_pid, true);
  dv.setInt32(20, hdr.rtm_seq, true);
  dv.setInt32(24, hdr.rtm_errno, true);
  dv.setInt32(28, hdr.rtm_use, true);
  dv.setInt32(32, hdr.rtm_inits, true);
  const r = hdr.rtm_rmx;
  put64(dv, 40, r.rmx_locks);
  put64(dv, 48, r.rmx_mtu);
  put64(dv, 56, r.rmx_hopcount);
  put64(dv, 104, r.rmx_expire);
  put64(dv, 112, r.rmx_pksent);
  addrs_put(buf, RT_MSGHDR_LEN, addrs);
  return buf;
}

/** What rt_msg_parse says about a malformed message. */
export type RtParseError = 'short' | 'length' | 'version' | 'sockaddr';

/**
 * Parse one rt_msghdr message at the start of buf (exactly rtm_msglen
 * bytes must be there).  Sockaddrs shorter than 2 bytes (a zero-length
 * netmask, as route(8) sends for "default") are returned as they are.
 */
export function rt_msg_parse(buf: Uint8Array): RtMsg | RtParseError {
  if (buf.length < RT_MSGHDR_LEN) return 'short';
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = dv.getUint16(0, true);
  if (len !== buf.length) return 'length';
  if (buf[2] !== RTM_VERSION) return 'version';
  const hdr: RtMsghdr = {
    rtm_type: buf[3]!,
    rtm_index: dv.getUint16(4, true),
    rtm_flags: dv.getInt32(8, true),
    rtm_addrs: dv.getInt32(12, true),
    rtm_pid: dv.getInt32(16, true),
    rtm_seq: dv.getInt32(20, true),
    rtm_errno: dv.getInt32(24, true),
    rtm_use: dv.getInt32(28, true),
    rtm_inits: dv.getInt32(32, true),
    rtm_rmx: {
      rmx_locks: get64(dv, 40), rmx_mtu: get64(dv, 48), rmx_hopcount: get64(dv, 56),
      rmx_expire: get64(dv, 104), rmx_pksent: get64(dv, 112),
    },
  };
  const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
  let off = RT_MSGHDR_LEN;
  for (let i = 0; i < RTAX_MAX; i++) {
    if ((hdr.rtm_addrs & (1 << i)) === 0) continue;
    if (off >= len) return 'sockaddr';
    const salen = buf[off]!;
    const room = RT_ROUNDUP(salen);
    if (off + Math.max(salen, 1) > len) return 'sockaddr';
    addrs[i] = buf.slice(off, off + salen);
    off += room;
  }
  return { hdr, addrs };
}

/** if_msghdr (RTM_IFINFO): flags, index and the counters of struct if_data. */
export interface IfMsg extends IfData {
  ifm_type: number;
  ifm_flags: number;
  ifm_index: number;
}

const IFDATA_COUNTERS = [
  'ifi_mtu', null, null, 'ifi_ipackets', 'ifi_ierrors', 'ifi_opackets', 'ifi_oerrors', 'ifi_collisions',
  'ifi_ibytes', 'ifi_obytes', 'ifi_imcasts', 'ifi_omcasts', 'ifi_iqdrops', 'ifi_noproto',
] as const;

export function if_msg_build(m: IfMsg, addrs: readonly (Uint8Array | null)[]): Uint8Array {
  const a = addrs_len(addrs);
  const buf = new Uint8Array(IF_MSGHDR_LEN + a.len);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, buf.length, true);
  buf[2] = RTM_VERSION;
  buf[3] = m.ifm_type;
  dv.setInt32(4, a.bits, true);
  dv.setInt32(8, m.ifm_flags, true);
  dv.setUint16(12, m.ifm_index, true);
  /* struct if_data at 16: type, addrlen, hdrlen, link_state, then the 64-bit fields from 24. */
  buf[16] = m.ifi_type;
  buf[17] = m.ifi_addrlen;
  buf[18] = m.ifi_hdrlen;
  for (let i = 0; i < IFDATA_COUNTERS.length; i++) {
    const f = IFDATA_COUNTERS[i];
    if (f !== null && f !== undefined) put64(dv, 24 + 8 * i, m[f]);
  }
  addrs_put(buf, IF_MSGHDR_LEN, addrs);
  return buf;
}

/** ifa_msghdr (RTM_NEWADDR, RTM_DELADDR): an address coming or going. */
export interface IfaMsg {
  ifam_type: number;
  ifam_index: number;
  ifam_flags: number;
  ifam_pid: number;
  ifam_metric: number;
}

export function ifa_msg_build(m: IfaMsg, addrs: readonly (Uint8Array | null)[]): Uint8Array {
  const a = addrs_len(addrs);
  const buf = new Uint8Array(IFA_MSGHDR_LEN + a.len);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, buf.length, true);
  buf[2] = RTM_VERSION;
  buf[3] = m.ifam_type;
  dv.setUint16(4, m.ifam_index, true);
  dv.setInt32(8, m.ifam_flags, true);
  dv.setInt32(12, a.bits, true);
  dv.setInt32(16, m.ifam_pid, true);
  dv.setInt32(24, m.ifam_metric, true);
  addrs_put(buf, IFA_MSGHDR_LEN, addrs);
  return buf;
}

/** if_announcemsghdr (RTM_IFANNOUNCE): an interface arriving or departing. */
export function ifan_msg_build(index: number, name: string, what: number): Uint8Array {
  const buf = new Uint8Array(IF_ANNOUNCEMSGHDR_LEN);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, buf.length, true);
  buf[2] = RTM_VERSION;
  buf[3] = RTM_IFANNOUNCE;
  dv.setUint16(4, index, true);
  for (let i = 0; i < name.length && i < 15; i++) buf[6 + i] = name.charCodeAt(i) & 0x7f;
  dv.setUint16(22, what, true);
  return buf;
}

/**
 * Any routing message, as far as a reader such as `route monitor` needs:
 * its type and length, the interface index, flags, and sockaddrs.
 */
export interface RtAnyMsg {
  type: number;
  len: number;
  index: number;
  flags: number;
  addrs: (Uint8Array | null)[];
  /** RTM_IFANNOUNCE only. */
  ifname?: string;
  what?: number;
}

/** Parse any routing message at buf[off]; null if it is malformed. */
export function rt_anymsg_parse(buf: Uint8Array, off = 0): RtAnyMsg | null {
  if (buf.length - off < 4) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset + off, buf.byteLength - off);
  const len = dv.getUint16(0, true);
  const type = buf[off + 3]!;
  if (len > buf.length - off || buf[off + 2] !== RTM_VERSION) return null;
  let hdrlen: number;
  let index: number;
  let flags: number;
  let bits: number;
  switch (type) {
    case RTM_IFINFO:
      if (len < IF_MSGHDR_LEN) return null;
      hdrlen = IF_MSGHDR_LEN;
      bits = dv.getInt32(4, true);
      flags = dv.getInt32(8, true);
      index = dv.getUint16(12, true);
      break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_CHGADDR:
      if (len < IFA_MSGHDR_LEN) return null;
      hdrlen = IFA_MSGHDR_LEN;
      index = dv.getUint16(4, true);
      flags = dv.getInt32(8, true);
      bits = dv.getInt32(12, true);
      break;
    case RTM_IFANNOUNCE: {
      if (len < IF_ANNOUNCEMSGHDR_LEN) return null;
      let name = '';
      for (let i = 6; i < 22 && buf[off + i] !== 0; i++) name += String.fromCharCode(buf[off + i]!);
      return { type, len, index: dv.getUint16(4, true), flags: 0, addrs: [], ifname: name, what: dv.getUint16(22, true) };
    }
    default: {
      const m = rt_msg_parse(buf.subarray(off, off + len));
      if (typeof m === 'string') return null;
      return { type, len, index: m.hdr.rtm_index, flags: m.hdr.rtm_flags, addrs: m.addrs };
    }
  }
  const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
  let p = off + hdrlen;
  for (let i = 0; i < RTAX_MAX; i++) {
    if ((bits & (1 << i)) === 0) continue;
    if (p >= off + len) return null;
    const salen = buf[p]!;
    addrs[i] = buf.slice(p, p + salen);
    p += RT_ROUNDUP(salen);
  }
  return { type, len, index, flags, addrs };
}

/* ------------------------------------------------------- presentation */

/* netstat(1)'s flag letters, in its order (NetBSD's rtutil.c bits table). */
export const RT_FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [RTF_UP, 'U'], [RTF_GATEWAY, 'G'], [RTF_HOST, 'H'], [RTF_REJECT, 'R'], [RTF_BLACKHOLE, 'B'],
  [RTF_DYNAMIC, 'D'], [RTF_MODIFIED, 'M'], [RTF_DONE, 'd'], [RTF_MASK, 'm'], [RTF_CONNECTED, 'C'],
  [RTF_LLDATA, 'L'], [RTF_STATIC, 'S'], [RTF_PROTO1, '1'], [RTF_PROTO2, '2'], [RTF_ANNOUNCE, 'p'],
  [RTF_LOCAL, 'l'], [RTF_BROADCAST, 'b'],
];

/** rt_flags as netstat's letters, e.g. "UGS". */
export function rt_flagstr(flags: number): string {
  let s = '';
  for (const [bit, c] of RT_FLAG_LETTERS) if ((flags & bit) !== 0) s += c;
  return s;
}

/** Dotted-quad form of a uint32 address. */
export function rt_ntoa(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/**
 * A destination as `netstat -rn` prints it: "default" for 0/0, the full
 * address for a host, else the octets the mask covers and the length
 * ("10/8", "10.0.2/24", "172.16/12").
 */
export function rt_netname(dst: number, plen: number): string {
  if (plen === 0 && dst === 0) return 'default';
  if (plen === 32) return rt_ntoa(dst);
  const n = Math.max(1, Math.ceil(plen / 8));
  const octets: number[] = [];
  for (let i = 0; i < n; i++) octets.push((dst >>> (24 - 8 * i)) & 0xff);
  return `${octets.join('.')}/${plen}`;
}

/* ------------------------------------------------------------ sockaddrs */

/** A sockaddr_in for addr (uint32, host order). */
export function sa_in(addr: number): Uint8Array {
  const sa = new Uint8Array(SOCKADDR_IN_LEN);
  sa[0] = SOCKADDR_IN_LEN;
  sa[1] = AF_INET;
  sa[4] = addr >>> 24;
  sa[5] = (addr >>> 16) & 0xff;
  sa[6] = (addr >>> 8) & 0xff;
  sa[7] = addr & 0xff;
  return sa;
}

/**
 * The address in a sockaddr_in, or null if it is not one.  With
 * anyFamily, bytes past sa_len count as zero and the family is not
 * checked: how BSD reads a netmask, which route(8) trims (to nothing at
 * all for "default").
 */
export function sa_in_addr(sa: Uint8Array | null, anyFamily = false): number | null {
  if (sa === null) return null;
  if (!anyFamily && (sa.length < 8 || sa[1] !== AF_INET || sa[0]! < 8)) return null;
  const byte = (i: number): number => (i < sa[0]! && i < sa.length ? sa[i]! : 0);
  return ((byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7)) >>> 0;
}

/** A sockaddr_dl: interface index, type, name and link-level address. */
export interface SockaddrDl {
  sdl_index: number;
  sdl_type: number;
  sdl_name: string;
  sdl_addr: Uint8Array;
}

export function sa_dl(d: SockaddrDl): Uint8Array {
  const nlen = Math.min(d.sdl_name.length, 15);
  const alen = d.sdl_addr.length;
  const len = Math.max(SOCKADDR_DL_LEN, 8 + nlen + alen);
  const sa = new Uint8Array(len);
  sa[0] = len;
  sa[1] = AF_LINK;
  sa[2] = d.sdl_index & 0xff;
  sa[3] = d.sdl_index >>> 8;
  sa[4] = d.sdl_type;
  sa[5] = nlen;
  sa[6] = alen;
  for (let i = 0; i < nlen; i++) sa[8 + i] = d.sdl_name.charCodeAt(i) & 0x7f;
  sa.set(d.sdl_addr, 8 + nlen);
  return sa;
}

export function sa_dl_parse(sa: Uint8Array | null): SockaddrDl | null {
  if (sa === null || sa.length < 8 || sa[1] !== AF_LINK) return null;
  const nlen = sa[5]!;
  const alen = sa[6]!;
  if (8 + nlen + alen > sa.length) return null;
  let name = '';
  for (let i = 0; i < nlen; i++) name += String.fromCharCode(sa[8 + i]!);
  return {
    sdl_index: sa[2]! | (sa[3]! << 8), sdl_type: sa[4]!, sdl_name: name,
    sdl_addr: sa.slice(8 + nlen, 8 + nlen + alen),
  };
}

/* ------------------------------------------------- net.route sysctl dumps */

/** One route of net.route.rtable.inet.dump (NET_RT_DUMP). */
export interface RtDumpEntry {
  /** Destination and prefix length. */
  dst: string;
  plen: number;
  /** Next hop for RTF_GATEWAY routes, else ''. */
  gateway: string;
  flags: number;
  refcnt: number;
  use: number;
  /** The route's own MTU; 0 = the interface's. */
  mtu: number;
  expire: number;
  ifname: string;
  /** Index of the interface the source address belongs to (link#N of netstat). */
  ifa_index: number;
  /** The source address. */
  ifa: string;
}

/** One entry of net.route.rtable.inet.flags.llinfo (NET_RT_FLAGS with RTF_LLDATA): the ARP cache. */
export interface LlinfoEntry {
  addr: string;
  /** Link-level address, or '' while incomplete. */
  lladdr: string;
  ifname: string;
  ifindex: number;
  state: 'incomplete' | 'valid' | 'down';
  permanent: boolean;
  /** Seconds left, or -1 without a timer. */
  expire: number;
}

/** An address of an interface in net.route.rtable.inet.iflist. */
export interface IflistAddr {
  family: number;
  addr: string;
  netmask: string;
  /** Broadcast address ('' if none). */
  broadaddr: string;
}

/** One interface of net.route.rtable.inet.iflist (NET_RT_IFLIST). */
export interface IflistEntry {
  name: string;
  index: number;
  flags: number;
  type: number;
  mtu: number;
  /** Link-level address as xx:xx:..., '' if none. */
  lladdr: string;
  ipackets: number;
  ierrors: number;
  opackets: number;
  oerrors: number;
  collisions: number;
  ibytes: number;
  obytes: number;
  imcasts: number;
  omcasts: number;
  iqdrops: number;
  noproto: number;
  addrs: IflistAddr[];
}
