/*
 * Packet capture to pcap files, readable by tcpdump and Wireshark.
 *
 * Place in the packet path: a tap.  ether_input calls if_tap(TAP_IN) after
 * filtering, ether_output_frame (TAP_OUT) as it hands a frame to the
 * driver, looutput once per looped packet with its family; a PcapHandle
 * on the interface turns each into one pcap record.  Without a handle the path
 * pays one length test (if_taps.length) and allocates nothing; with one,
 * each captured frame costs one record buffer, which is fine since capture
 * is for debugging, not for the fast path.
 *
 * Format (the classic libpcap file, not pcapng): a 24-byte global header,
 * then per frame a 16-byte record header (seconds, micro- or nanoseconds,
 * captured length, original length) and the bytes.  Everything is written
 * little-endian, which the magic number tells readers.  Ethernet
 * interfaces use LINKTYPE_ETHERNET; lo0, which has no link header, uses
 * LINKTYPE_NULL: a 4-byte address family in the writer's byte order.
 *
 * Time stamps are kernel time, boottime + uptime, so under the sim host
 * they are virtual time: a capture of a test is the same on every run.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Timespec } from '../../../include/rumpuser.ts';
import { IFT_LOOP } from '../../../include/if.ts';
import { m_copydata, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { ifpromisc, type Ifnet, type IfTap } from './if.ts';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** Magic of files with microsecond time stamps. */
export const TCPDUMP_MAGIC = 0xa1b2c3d4;
/** Magic of files with nanosecond time stamps. */
export const NSEC_TCPDUMP_MAGIC = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** Default snapshot length: whole frames, as tcpdump's default. */
export const PCAP_SNAPLEN = 262144;
export const PCAP_FILEHDR_LEN = 24;
export const PCAP_PKTHDR_LEN = 16;
/** LINKTYPE_NULL's per-packet family word. */
const NULL_HDR_LEN = 4;

export interface PcapOptions {
  /** Nanosecond time stamps (magic 0xa1b23c4d); default microseconds. */
  nanosecond?: boolean;
  /** Bytes kept of each frame; default PCAP_SNAPLEN. */
  snaplen?: number;
  /** Put the interface in promiscuous mode while attached (as tcpdump does by default). */
  promisc?: boolean;
}

/** The 24-byte global header. */
export function pcap_file_header(linktype: number, snaplen: number, nanosecond: boolean): Uint8Array {
  const b = new Uint8Array(PCAP_FILEHDR_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, nanosecond ? NSEC_TCPDUMP_MAGIC : TCPDUMP_MAGIC, true);
  v.setUint16(4, PCAP_VERSION_MAJOR, true);
  v.setUint16(6, PCAP_VERSION_MINOR, true);
  v.setInt32(8, 0, true); /* thiszone: time stamps are UTC */
  v.setUint32(12, 0, true); /* sigfigs */
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linktype, true);
  return b;
}

/** Write a record header at b[0..16): ts is the time, frac its µs or ns. */
export function pcap_record_header(v: DataView, sec: number, frac: number, caplen: number, len: number): void {
  v.setUint32(0, sec >>> 0, true);
  v.setUint32(4, frac, true);
  v.setUint32(8, caplen, true);
  v.setUint32(12, len, true);
}

/** The kernel's wall-clock time now (NetBSD's nanotime): boottime + uptime. */
export function kernel_nanotime(k: Kernel, ts: Timespec): void {
  const up = Math.floor(k.uptimeNs());
  const upSec = Math.floor(up / 1e9);
  let nsec = k.boottime.tv_nsec + (up - upSec * 1e9);
  let sec = k.boottime.tv_sec + upSec;
  if (nsec >= 1e9) {
    nsec -= 1e9;
    sec++;
  }
  ts.tv_sec = sec;
  ts.tv_nsec = nsec;
}

/** A capture attached to one interface. */
export class PcapHandle implements IfTap {
  /** Records written. */
  ph_packets = 0;
  /** Frame bytes written (captured part). */
  ph_bytes = 0;
  ph_attached = true;
  readonly ph_linktype: number;
  private readonly ts: Timespec = { tv_sec: 0, tv_nsec: 0 };

  /** Use pcap_attach(). */
  constructor(
    readonly ph_ifp: Ifnet,
    readonly ph_sink: (chunk: Uint8Array) => void,
    readonly ph_nanosecond: boolean,
    readonly ph_snaplen: number,
    readonly ph_promisc: boolean,
  ) {
    this.ph_linktype = ph_ifp.if_type === IFT_LOOP ? LINKTYPE_NULL : LINKTYPE_ETHERNET;
  }

  /** IfTap: one record per frame; the mbuf is only read. */
  tap(ifp: Ifnet, m: Mbuf, _dir: number, af: number): void {
    const nullhdr = this.ph_linktype === LINKTYPE_NULL;
    const len = m.m_pkthdr.len + (nullhdr ? NULL_HDR_LEN : 0);
    const caplen = Math.min(len, this.ph_snaplen);
    const rec = new Uint8Array(PCAP_PKTHDR_LEN + caplen);
    const v = new DataView(rec.buffer);
    kernel_nanotime(ifp.if_kernel, this.ts);
    const frac = this.ph_nanosecond ? this.ts.tv_nsec : Math.floor(this.ts.tv_nsec / 1000);
    pcap_record_header(v, this.ts.tv_sec, frac, caplen, len);
    let off = PCAP_PKTHDR_LEN;
    let left = caplen;
    if (nullhdr) {
      /* The family in the file's byte order; a short snaplen may cut it. */
      const fam = new Uint8Array(NULL_HDR_LEN);
      new DataView(fam.buffer).setUint32(0, af, true);
      const n = Math.min(NULL_HDR_LEN, left);
      rec.set(fam.subarray(0, n), off);
      off += n;
      left -= n;
    }
    if (left > 0) m_copydata(m, 0, left, rec, off);
    this.ph_packets++;
    this.ph_bytes += caplen;
    this.ph_sink(rec);
  }
}

/**
 * pcap_attach: start capturing ifp's traffic, both directions.  The sink
 * gets the global header at once, then one chunk per frame (a fresh
 * array it may keep); concatenated they are a pcap file.
 */
export function pcap_attach(ifp: Ifnet, sink: (chunk: Uint8Array) => void, opts: PcapOptions = {}): PcapHandle {
  const snaplen = opts.snaplen ?? PCAP_SNAPLEN;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > PCAP_SNAPLEN) {
    throw new RangeError(`pcap_attach: snaplen ${snaplen} outside 1..${PCAP_SNAPLEN}`);
  }
  const h = new PcapHandle(ifp, sink, opts.nanosecond === true, snaplen, opts.promisc === true);
  sink(pcap_file_header(h.ph_linktype, snaplen, h.ph_nanosecond));
  /* A new array: the packet path iterates if_taps without copying it. */
  ifp.if_taps = [...ifp.if_taps, h];
  if (h.ph_promisc) ifpromisc(ifp, true);
  return h;
}

/** pcap_detach: stop capturing (idempotent). */
export function pcap_detach(h: PcapHandle): void {
  if (!h.ph_attached) return;
  h.ph_attached = false;
  const ifp = h.ph_ifp;
  ifp.if_taps = ifp.if_taps.filter((t) => t !== h);
  if (h.ph_promisc) ifpromisc(ifp, false);
}

/* ------------------------------------------------------------------ */
/* Reading, for tests and tools                                        */

export interface PcapRecord {
  /** Seconds since the epoch. */
  sec: number;
  /** Micro- or nanoseconds, per the file's magic. */
  frac: number;
  /** Original length of the frame. */
  len: number;
  /** The captured bytes (a view into the file). */
  data: Uint8Array;
}

export interface PcapFile {
  nanosecond: boolean;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
  records: PcapRecord[];
}

/** Parse a classic pcap file (either byte order, µs or ns); throws on a malformed one. */
export function pcap_parse(file: Uint8Array): PcapFile {
  if (file.length < PCAP_FILEHDR_LEN) throw new Error(`pcap: ${file.length} bytes is too short for a header`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let le = true;
  let magic = v.getUint32(0, true);
  if (magic !== TCPDUMP_MAGIC && magic !== NSEC_TCPDUMP_MAGIC) {
    le = false;
    magic = v.getUint32(0, false);
  }
  if (magic !== TCPDUMP_MAGIC && magic !== NSEC_TCPDUMP_MAGIC) throw new Error(`pcap: bad magic 0x${v.getUint32(0, true).toString(16)}`);
  const out: PcapFile = {
    nanosecond: magic === NSEC_TCPDUMP_MAGIC,
    littleEndian: le,
    versionMajor: v.getUint16(4, le),
    versionMinor: v.getUint16(6, le),
    snaplen: v.getUint32(16, le),
    linktype: v.getUint32(20, le),
    records: [],
  };
  let off = PCAP_FILEHDR_LEN;
  while (off < file.length) {
    if (off + PCAP_PKTHDR_LEN > file.length) throw new Error(`pcap: truncated record header at ${off}`);
    const caplen = v.getUint32(off + 8, le);
    const len = v.getUint32(off + 12, le);
    if (caplen > len || caplen > out.snaplen) throw new Error(`pcap: record at ${off}: caplen ${caplen}, len ${len}, snaplen ${out.snaplen}`);
    const start = off + PCAP_PKTHDR_LEN;
    if (start + caplen > file.length) throw new Error(`pcap: truncated record at ${off}`);
    out.records.push({ sec: v.getUint32(off, le), frac: v.getUint32(off + 4, le), len, data: file.subarray(start, start + caplen) });
    off = start + caplen;
  }
  return out;
}
