/*
 * Helpers shared by the BPF tests: a seeded PRNG, mbuf chains cut at
 * chosen offsets (to check that loads read across mbufs exactly as from a
 * flat buffer), and a corpus of Ethernet frames built with the wire
 * helpers (IPv4 TCP/UDP/ICMP with and without options, fragments, ARP,
 * IPv6 with and without a fragment header), plus seeded mutations and
 * truncations of them.
 */

import type { Kernel } from '../librump/rumpkern/rump.ts';
import { kernel_run } from '../librump/rumpkern/rump.ts';
import { M_DONTWAIT, MLEN, MT_DATA, m_get, m_getcl, mbinit, type Mbuf, type MbufCtx } from '../librump/rumpnet/uipc_mbuf.ts';
import { ETHER_HDR_LEN, ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ether_aton, ether_hdr_write } from '../net/lib/libnet/if_ether.ts';
import { arp_hdr_write } from '../net/lib/libnet/if_arp_hdr.ts';
import { IP_HDR_LEN, IP_MF, ip_hdr_write } from '../net/lib/libnetinet/ip.ts';
import { UDP_HDR_LEN, udp_hdr_write } from '../net/lib/libnetinet/udp.ts';
import { TCP_HDR_LEN, tcp_hdr_write } from '../net/lib/libnetinet/tcp.ts';
import { bootSim, simWorld } from './kernel.ts';

/** mulberry32: small, seeded, good enough for test inputs. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.next() % xs.length]!;
  }
}

/** A sim kernel with an mbuf context, for building chains. */
export async function mbufEnv(): Promise<{ k: Kernel; ctx: MbufCtx }> {
  const k = await bootSim(simWorld({ seed: 8 }));
  const ctx = kernel_run(k, () => mbinit(k));
  return { k, ctx };
}

/**
 * The bytes as a chain cut at the given increasing offsets (repeated
 * offsets make zero-length mbufs, which readers must step over).
 */
export function chainOf(ctx: MbufCtx, bytes: Uint8Array, cuts: readonly number[]): Mbuf {
  const bounds = [0, ...cuts, bytes.length];
  let head: Mbuf | null = null;
  let tail: Mbuf | null = null;
  for (let i = 0; i + 1 < bounds.length; i++) {
    const len = bounds[i + 1]! - bounds[i]!;
    const m = len > MLEN ? m_getcl(ctx, M_DONTWAIT, MT_DATA, 0) : m_get(ctx, M_DONTWAIT, MT_DATA);
    if (m === null) throw new Error('chainOf: out of mbufs');
    /* Start the data off zero, so that readers must honour m_data. */
    m.m_data = len + 3 <= m.m_buf.length ? 3 : 0;
    m.m_buf.set(bytes.subarray(bounds[i]!, bounds[i + 1]!), m.m_data);
    m.m_len = len;
    if (tail === null) head = m;
    else tail.m_next = m;
    tail = m;
  }
  return head!;
}

/* ---- frames ---- */

export const MAC_A = ether_aton('02:00:00:00:00:0a')!;
export const MAC_B = ether_aton('02:00:00:00:00:0b')!;
export const MAC_BCAST = ether_aton('ff:ff:ff:ff:ff:ff')!;
export const IP_10_0_0_1 = 0x0a000001;
export const IP_10_0_0_2 = 0x0a000002;
export const IP_192_168_1_7 = 0xc0a80107;
export const IP_172_16_5_4 = 0xac100504;

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_FRAGMENT = 44;

interface Ip4Opts {
  src: number;
  dst: number;
  p: number;
  /** ip_off word: flags | offset/8. */
  off?: number;
  /** Header length (options as NOPs). */
  hlen?: number;
  payload: Uint8Array;
  smac?: Uint8Array;
  dmac?: Uint8Array;
}

export function ip4Frame(o: Ip4Opts): Uint8Array {
  const hlen = o.hlen ?? IP_HDR_LEN;
  const f = new Uint8Array(ETHER_HDR_LEN + hlen + o.payload.length);
  ether_hdr_write(f, 0, o.dmac ?? MAC_B, o.smac ?? MAC_A, ETHERTYPE_IP);
  f.fill(1, ETHER_HDR_LEN + IP_HDR_LEN, ETHER_HDR_LEN + hlen); /* IPOPT_NOP */
  ip_hdr_write(f, ETHER_HDR_LEN, hlen, 0, hlen + o.payload.length, 0x1234, o.off ?? 0, 64, o.p, o.src, o.dst);
  f.set(o.payload, ETHER_HDR_LEN + hlen);
  return f;
}

export function tcpSeg(sport: number, dport: number, flags: number, data = 0): Uint8Array {
  const b = new Uint8Array(TCP_HDR_LEN + data);
  tcp_hdr_write(b, 0, sport, dport, 1000, 2000, TCP_HDR_LEN, flags, 8192, 0);
  for (let i = 0; i < data; i++) b[TCP_HDR_LEN + i] = i & 0xff;
  return b;
}

export function udpDgram(sport: number, dport: number, data = 0): Uint8Array {
  const b = new Uint8Array(UDP_HDR_LEN + data);
  udp_hdr_write(b, 0, sport, dport, UDP_HDR_LEN + data);
  return b;
}

export function icmpEcho(type = 8): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = type;
  return b;
}

export function arpFrame(op: number, spa: number, tpa: number): Uint8Array {
  const f = new Uint8Array(ETHER_HDR_LEN + 28);
  ether_hdr_write(f, 0, MAC_BCAST, MAC_A, ETHERTYPE_ARP);
  arp_hdr_write(f, ETHER_HDR_LEN, op, MAC_A, spa, new Uint8Array(6), tpa);
  return f;
}

/** IPv6 frame, optionally with a fragment header before the upper layer. */
export function ip6Frame(nxt: number, payload: Uint8Array, frag = false): Uint8Array {
  const ext = frag ? 8 : 0;
  const f = new Uint8Array(ETHER_HDR_LEN + 40 + ext + payload.length);
  ether_hdr_write(f, 0, MAC_B, MAC_A, ETHERTYPE_IPV6);
  const o = ETHER_HDR_LEN;
  f[o] = 0x60;
  f[o + 4] = ((ext + payload.length) >> 8) & 0xff;
  f[o + 5] = (ext + payload.length) & 0xff;
  f[o + 6] = frag ? IPPROTO_FRAGMENT : nxt;
  f[o + 7] = 64;
  f[o + 8] = 0xfe;
  f[o + 9] = 0x80;
  f[o + 23] = 1;
  f[o + 24] = 0xfe;
  f[o + 25] = 0x80;
  f[o + 39] = 2;
  if (frag) f[o + 40] = nxt;
  f.set(payload, o + 40 + ext);
  return f;
}

/** The hand-built frames: the cases the expression corpus is about. */
export function baseFrames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const hosts = [IP_10_0_0_1, IP_10_0_0_2, IP_192_168_1_7, IP_172_16_5_4];
  const ports = [80, 53, 22, 443, 8080, 1024, 7];
  for (const src of hosts) {
    for (const dst of hosts) {
      if (src === dst) continue;
      for (const port of ports) {
        out.push(ip4Frame({ src, dst, p: IPPROTO_TCP, payload: tcpSeg(40000, port, 0x02) }));
        out.push(ip4Frame({ src, dst, p: IPPROTO_TCP, payload: tcpSeg(port, 40001, 0x12, 10) }));
        out.push(ip4Frame({ src, dst, p: IPPROTO_UDP, payload: udpDgram(5353, port, 4) }));
      }
      out.push(ip4Frame({ src, dst, p: IPPROTO_ICMP, payload: icmpEcho(8) }));
      out.push(ip4Frame({ src, dst, p: IPPROTO_ICMP, payload: icmpEcho(0) }));
      /* IP options: the transport header moves. */
      out.push(ip4Frame({ src, dst, p: IPPROTO_TCP, hlen: 28, payload: tcpSeg(80, 1234, 0x10) }));
      out.push(ip4Frame({ src, dst, p: IPPROTO_UDP, hlen: 24, payload: udpDgram(53, 999) }));
      /* Fragments: a first one (ports visible) and a later one (no ports). */
      out.push(ip4Frame({ src, dst, p: IPPROTO_TCP, off: IP_MF, payload: tcpSeg(80, 80, 0x18, 16) }));
      out.push(ip4Frame({ src, dst, p: IPPROTO_TCP, off: 3, payload: tcpSeg(80, 80, 0x18, 16) }));
      out.push(ip4Frame({ src, dst, p: IPPROTO_UDP, off: IP_MF | 185, payload: udpDgram(53, 53, 8) }));
    }
    out.push(arpFrame(1, src, IP_10_0_0_1));
    out.push(arpFrame(2, IP_10_0_0_2, src));
  }
  for (const port of ports) {
    out.push(ip6Frame(IPPROTO_TCP, tcpSeg(50000, port, 0x02)));
    out.push(ip6Frame(IPPROTO_UDP, udpDgram(port, 50000, 3)));
    out.push(ip6Frame(IPPROTO_TCP, tcpSeg(port, 50000, 0x10), true));
  }
  /* Runts and odd ethertypes. */
  out.push(new Uint8Array(0), new Uint8Array(6), new Uint8Array(13), new Uint8Array(14));
  const other = new Uint8Array(60);
  ether_hdr_write(other, 0, MAC_BCAST, MAC_B, 0x88cc);
  out.push(other);
  return out;
}

/**
 * The corpus: base frames and copies with seeded random byte changes in
 * the headers (ethertype, protocol, fragment word, header length, ports,
 * addresses).  With `truncate`, also frames cut short at random points
 * (as a small snap length captures them).
 */
export function frameCorpus(seed: number, mutants: number, truncate = false): Uint8Array[] {
  const rng = new Rng(seed);
  const base = baseFrames();
  const out = [...base];
  if (truncate) {
    for (const f of base) {
      if (f.length > 20) out.push(f.slice(0, rng.int(1, f.length - 1)));
    }
  }
  const hot = [12, 13, 14, 20, 21, 23, 26, 29, 30, 33, 34, 35, 36, 37, 47, 54, 55, 56, 57];
  for (let i = 0; i < mutants; i++) {
    const f = rng.pick(base).slice();
    if (f.length === 0) continue;
    const edits = rng.int(1, 3);
    for (let e = 0; e < edits; e++) {
      const at = rng.next() % 3 === 0 ? rng.int(0, f.length - 1) : rng.pick(hot);
      if (at < f.length) f[at] = rng.next() % 2 === 0 ? rng.int(0, 255) : f[at]! ^ (1 << rng.int(0, 7));
    }
    out.push(truncate && rng.next() % 5 === 0 ? f.slice(0, rng.int(0, f.length)) : f);
  }
  return out;
}
