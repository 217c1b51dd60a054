/*
 * rump.tcpdump: capture a rump kernel's traffic through its /dev/bpf
 * (tcpdump(8) over libpcap's BPF backend, reduced to what a kernel of
 * this project has).
 *
 *   rump.tcpdump [-lnp] [-B buffer_size] [-c count] [-i interface] [-s snaplen] [-w file] [expression]
 *
 * It opens /dev/bpf, attaches to the interface (BIOCSETIF; the first
 * interface that is up and not a loopback when -i is not given), installs
 * the expression compiled to BPF (bpf_compile, the same language as
 * tcpdump's), puts the interface in promiscuous mode unless -p, and reads
 * bpf_hdr records: one line each on standard output in tcpdump -n style
 * (the time of day in UTC, then pktprint's decode), or with -w a pcap
 * file that tcpdump, tshark and Wireshark read.  -c stops after count
 * packets; then, as tcpdump does, the counts of packets captured,
 * received by the filter and dropped by the kernel go to standard error.
 * Reads use immediate mode when printing (lines appear as packets do) and
 * libpcap's one-second timeout when writing a file.
 *
 * lo0 is link type NULL (a 4-byte family, then the IP packet); its IPv4
 * packets are printed as on Ethernet, and no expression can be given for
 * it (the compiler speaks Ethernet only).  Exit status: 0 when the
 * capture ended (count reached, or the kernel stopped it), 1 on errors:
 * bad options or expression, no bpf device, an unknown interface, a file
 * that cannot be written.
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import { EINTR } from '../include/errno.ts';
import {
  BIOCGBLEN, BIOCGDLT, BIOCGSTATS, BIOCIMMEDIATE, BIOCPROMISC, BIOCSBLEN, BIOCSETF, BIOCSETIF, BIOCSRTIMEOUT,
  BPF_RET, BPF_K, BPF_STMT, BPF_WORDALIGN, DLT_EN10MB, DLT_NULL, bpf_hdr_read, type BpfInsn, type BpfStat,
} from '../include/bpf.ts';
import { IFF_LOOPBACK, IFF_UP, SIOCGIFCONF, SIOCGIFFLAGS, type IfconfEntry, type Ifreq } from '../include/if.ts';
import { AF_INET, SOCK_DGRAM } from '../include/socket.ts';
import { O_RDWR } from '../include/syscall.ts';
import { bpf_compile, BpfCompileError } from '../net/lib/libnet/bpf_compile.ts';
import { print_frame } from '../net/lib/libnet/pktprint.ts';
import { pcap_file_header, pcap_record_header, PCAP_PKTHDR_LEN, PCAP_SNAPLEN } from '../net/lib/libnet/pcap.ts';
import { errnoOf, errstr, getopt } from './lib/toolutil.ts';

const PROG = 'tcpdump';
const USAGE = 'usage: rump.tcpdump [-lnp] [-B buffer_size] [-c count] [-i interface] [-s snaplen] [-w file] [expression]\n';
/** libpcap's read timeout for a capture to a file (tcpdump's default to_ms). */
const TIMEOUT_MS = 1000;
/** DLT_NULL's family word in front of each packet. */
const NULL_HDR_LEN = 4;
const ETHER_HDR_LEN = 14;
const ETHERTYPE_IP = 0x0800;

interface Options {
  ifname: string | null;
  count: number;
  snaplen: number;
  promisc: boolean;
  file: string | null;
  bufsize: number | null;
  expr: string;
}

function parseOptions(argv: readonly string[], io: ToolIO): Options | null {
  const g = getopt(argv, 'B:c:i:lnps:w:');
  if (g.error !== null) {
    io.err(`${PROG}: ${g.error}\n${USAGE}`);
    return null;
  }
  const o: Options = { ifname: null, count: Infinity, snaplen: PCAP_SNAPLEN, promisc: true, file: null, bufsize: null, expr: g.rest.join(' ') };
  const bad = (what: string, v: string): null => {
    io.err(`${PROG}: invalid ${what} ${v}\n`);
    return null;
  };
  for (const { opt, arg } of g.opts) {
    switch (opt) {
      case 'B':
        if (!/^\d+$/.test(arg) || Number(arg) <= 0) return bad('packet buffer size', arg);
        /* tcpdump's -B is in KiB. */
        o.bufsize = Number(arg) * 1024;
        break;
      case 'c':
        if (!/^\d+$/.test(arg) || Number(arg) <= 0) return bad('packet count', arg);
        o.count = Number(arg);
        break;
      case 'i':
        o.ifname = arg;
        break;
      case 's':
        if (!/^\d+$/.test(arg) || Number(arg) > PCAP_SNAPLEN) return bad('snaplen', arg);
        o.snaplen = Number(arg) === 0 ? PCAP_SNAPLEN : Number(arg);
        break;
      case 'w':
        if (arg === '-') {
          io.err(`${PROG}: writing a capture to standard output is not supported; give a file name\n`);
          return null;
        }
        o.file = arg;
        break;
      case 'p':
        o.promisc = false;
        break;
      default:
        /* -l (line-buffered: every line is written as it is made) and -n (names are never looked up). */
        break;
    }
  }
  return o;
}

/** The first interface that is up and not a loopback (pcap_lookupdev), or null. */
async function lookupdev(sys: SysApi): Promise<string | null> {
  const s = await sys.socket(AF_INET, SOCK_DGRAM);
  try {
    const conf = (await sys.ioctl(s, SIOCGIFCONF)) as IfconfEntry[];
    const names = [...new Set(conf.map((e) => e.ifr_name))];
    for (const name of names) {
      const ifr = (await sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: name })) as Ifreq;
      const f = ifr.ifr_flags ?? 0;
      if ((f & IFF_UP) !== 0 && (f & IFF_LOOPBACK) === 0) return name;
    }
    return null;
  } finally {
    await sys.close(s);
  }
}

function dltName(dlt: number): string {
  if (dlt === DLT_EN10MB) return 'EN10MB (Ethernet)';
  if (dlt === DLT_NULL) return 'NULL (BSD loopback)';
  return String(dlt);
}

/** HH:MM:SS.uuuuuu of a time stamp, in UTC (so the same capture prints the same everywhere). */
function timeOfDay(sec: number, usec: number): string {
  const d = sec % 86400;
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(Math.floor(d / 3600))}:${p2(Math.floor((d % 3600) / 60))}:${p2(d % 60)}.${String(usec).padStart(6, '0')}`;
}

/** One packet as a line: Ethernet as pktprint prints it; DLT_NULL's IPv4 under a stand-in Ethernet header. */
function packetLine(dlt: number, pkt: Uint8Array): string {
  if (dlt !== DLT_NULL) return print_frame(pkt, 0, pkt.length);
  if (pkt.length < NULL_HDR_LEN) return `NULL, length ${pkt.length} [|null]`;
  const af = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength).getUint32(0, true);
  if (af !== AF_INET) return `AF ${af}, length ${pkt.length - NULL_HDR_LEN}`;
  const f = new Uint8Array(ETHER_HDR_LEN + pkt.length - NULL_HDR_LEN);
  f[12] = ETHERTYPE_IP >>> 8;
  f[13] = ETHERTYPE_IP & 0xff;
  f.set(pkt.subarray(NULL_HDR_LEN), ETHER_HDR_LEN);
  return print_frame(f, 0, f.length);
}

/** Where the packets go: lines on standard output, or records of a pcap file. */
interface Sink {
  packet(sec: number, usec: number, pkt: Uint8Array, len: number): void;
  close(): void;
}

function lineSink(io: ToolIO, dlt: number): Sink {
  return {
    packet: (sec, usec, pkt) => { io.out(`${timeOfDay(sec, usec)} ${packetLine(dlt, pkt)}\n`); },
    close: () => undefined,
  };
}

function fileSink(fd: number, dlt: number, snaplen: number): Sink {
  /* LINKTYPE_ values equal the DLT_ values for Ethernet and NULL. */
  writeSync(fd, pcap_file_header(dlt, snaplen, false));
  return {
    packet: (sec, usec, pkt, len) => {
      const rec = new Uint8Array(PCAP_PKTHDR_LEN + pkt.length);
      pcap_record_header(new DataView(rec.buffer), sec, usec, pkt.length, len);
      rec.set(pkt, PCAP_PKTHDR_LEN);
      writeSync(fd, rec);
    },
    close: () => { closeSync(fd); },
  };
}

/**
 * Set up the descriptor: buffer size, interface, filter (prog, or null to
 * take everything up to the snaplen), modes.  Returns the link type and
 * buffer size, or an exit status.
 */
async function setup(
  sys: SysApi, bpf: number, o: Options, ifname: string, prog: BpfInsn[] | null, io: ToolIO,
): Promise<{ dlt: number; blen: number } | number> {
  if (o.bufsize !== null) await sys.ioctl(bpf, BIOCSBLEN, o.bufsize);
  try {
    await sys.ioctl(bpf, BIOCSETIF, { ifr_name: ifname });
  } catch (e) {
    io.err(`${PROG}: BIOCSETIF: ${ifname}: ${errstr(e)}\n`);
    return 1;
  }
  const dlt = (await sys.ioctl(bpf, BIOCGDLT)) as number;
  if (prog !== null && dlt !== DLT_EN10MB) {
    io.err(`${PROG}: ${ifname}: filter expressions are not supported on link type ${dltName(dlt)}\n`);
    return 1;
  }
  const insns = prog ?? [BPF_STMT(BPF_RET | BPF_K, o.snaplen)];
  await sys.ioctl(bpf, BIOCSETF, { bf_len: insns.length, bf_insns: insns });
  if (o.promisc) {
    try {
      await sys.ioctl(bpf, BIOCPROMISC);
    } catch (e) {
      io.err(`${PROG}: WARNING: ${ifname}: cannot set promiscuous mode: ${errstr(e)}\n`);
    }
  }
  if (o.file === null) await sys.ioctl(bpf, BIOCIMMEDIATE, 1);
  else await sys.ioctl(bpf, BIOCSRTIMEOUT, { tv_sec: Math.floor(TIMEOUT_MS / 1000), tv_usec: (TIMEOUT_MS % 1000) * 1000 });
  const blen = (await sys.ioctl(bpf, BIOCGBLEN)) as number;
  return { dlt, blen };
}

/** Read records until count packets have gone to the sink or the kernel ends the capture. */
async function loop(sys: SysApi, bpf: number, blen: number, count: number, sink: Sink, io: ToolIO): Promise<{ captured: number; status: number }> {
  const buf = new Uint8Array(blen);
  let captured = 0;
  while (captured < count) {
    let n: number;
    try {
      n = await sys.read(bpf, buf);
    } catch (e) {
      /* Interrupted (the kernel halting, the client going away): a normal end. */
      if (errnoOf(e) === EINTR) return { captured, status: 0 };
      io.err(`${PROG}: read: ${errstr(e)}\n`);
      return { captured, status: 1 };
    }
    let off = 0;
    while (off < n && captured < count) {
      const h = bpf_hdr_read(buf, off, n);
      if (h === null) {
        io.err(`${PROG}: read: a malformed bpf record at offset ${off}\n`);
        return { captured, status: 1 };
      }
      const start = off + h.bh_hdrlen;
      sink.packet(h.bh_sec, h.bh_usec, buf.subarray(start, start + h.bh_caplen), h.bh_datalen);
      captured++;
      off += BPF_WORDALIGN(h.bh_hdrlen + h.bh_caplen);
    }
  }
  return { captured, status: 0 };
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const o = parseOptions(argv, io);
  if (o === null) return 1;
  let prog: BpfInsn[] | null = null;
  if (o.expr.trim() !== '') {
    /* Before the kernel is touched; the link type is checked once known. */
    try {
      prog = bpf_compile(o.expr, { snaplen: o.snaplen });
    } catch (e) {
      if (!(e instanceof BpfCompileError)) throw e;
      io.err(`${PROG}: ${e.message}\n`);
      return 1;
    }
  }
  let ifname = o.ifname;
  if (ifname === null) {
    ifname = await lookupdev(sys);
    if (ifname === null) {
      io.err(`${PROG}: no suitable device found (give one with -i)\n`);
      return 1;
    }
  }
  let bpf: number;
  try {
    bpf = await sys.open('/dev/bpf', O_RDWR);
  } catch (e) {
    io.err(`${PROG}: /dev/bpf: ${errstr(e)}\n`);
    return 1;
  }
  let sink: Sink | null = null;
  try {
    const r = await setup(sys, bpf, o, ifname, prog, io);
    if (typeof r === 'number') return r;
    if (o.file !== null) {
      let fd: number;
      try {
        fd = openSync(o.file, 'w');
      } catch (e) {
        io.err(`${PROG}: ${o.file}: ${(e as Error).message}\n`);
        return 1;
      }
      sink = fileSink(fd, r.dlt, o.snaplen);
    } else {
      sink = lineSink(io, r.dlt);
      io.err(`${PROG}: verbose output suppressed, use -v[v]... for full protocol decode\n`);
    }
    io.err(`${o.file !== null ? `${PROG}: ` : ''}listening on ${ifname}, link-type ${dltName(r.dlt)}, snapshot length ${o.snaplen} bytes\n`);
    const { captured, status } = await loop(sys, bpf, r.blen, o.count, sink, io);
    let st: BpfStat | null = null;
    try {
      st = (await sys.ioctl(bpf, BIOCGSTATS)) as BpfStat;
    } catch {
      /* The kernel is gone: no statistics to give. */
    }
    io.err(`${captured} packet${captured === 1 ? '' : 's'} captured\n`);
    if (st !== null) {
      io.err(`${st.bs_recv} packet${st.bs_recv === 1 ? '' : 's'} received by filter\n`);
      io.err(`${st.bs_drop} packet${st.bs_drop === 1 ? '' : 's'} dropped by kernel\n`);
    }
    return status;
  } finally {
    sink?.close();
    try {
      await sys.close(bpf);
    } catch {
      /* Closing after the kernel went away fails; the descriptor is gone either way. */
    }
  }
}
