/*
 * Helpers for the TCP tests: kernels on shmif buses (as tests/inet_bus.test.ts
 * boots them), a connected pair, a capture of every TCP segment a bus
 * carries, and a raw peer that crafts segments by hand (packetdrill-style)
 * from an address no kernel owns.
 */
import { expect } from 'vitest';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { type ShmifBus } from '../net/lib/libshmif/shmif_component.ts';
import { arp_add } from '../net/lib/libnetinet/if_arp.ts';
import { IPPROTO_TCP, inet_ntop4 } from '../net/lib/libnetinet/in.ts';
import { IpRepr } from '../net/lib/libnetinet/ip.ts';
import { TcpRepr, type TcpOption, TH_ACK, TH_FIN, TH_PUSH, TH_RST, TH_SYN } from '../net/lib/libnetinet/tcp.ts';
import { tcp_pcblist, type TcpPcbInfo } from '../net/lib/libnetinet/tcp_usrreq.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';

export { sin, a4, lab, ifconfig, type Lab } from './inet_helpers.ts';
import { a4, sin, lab, ifconfig, type Lab } from './inet_helpers.ts';

export interface Pair {
  L: Lab;
  a: Kernel;
  b: Kernel;
  bus: ShmifBus;
}

/* Whether pair() turns Vestigial Time-Wait on in both kernels (suites run once each way). */
let pairVtw = false;
export function setPairVtw(on: boolean): void {
  pairVtw = on;
}

/** Kernels a (10.0.0.1) and b (10.0.0.2) on bus0; hook runs before the interfaces come up. */
export async function pair(seed = 1, hook?: (a: Kernel, b: Kernel) => Promise<void>): Promise<Pair> {
  const L = lab(seed);
  const a = await L.boot('a');
  const b = await L.boot('b');
  if (pairVtw) {
    await a.sys.sysctl('net.inet.tcp.vtw.enable', 1);
    await b.sys.sysctl('net.inet.tcp.vtw.enable', 1);
  }
  if (hook !== undefined) await hook(a, b);
  await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
  await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
  return { L, a, b, bus: L.net.bus('bus0') };
}

export async function sysctl(k: Kernel, name: string, v?: number | string | bigint): Promise<unknown> {
  return k.sys.sysctl(name, v);
}

/** A listener on b:port, a connection from a; returns the client fd (on a) and the accepted fd (on b). */
export async function connect(p: Pair, port = 80, opts: { backlog?: number; setup?: (c: number) => Promise<void> } = {}): Promise<{ c: number; s: number; ls: number }> {
  const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
  await p.b.sys.bind(ls, sin('0.0.0.0', port));
  await p.b.sys.listen(ls, opts.backlog ?? 5);
  const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
  if (opts.setup !== undefined) await opts.setup(c);
  const acc = p.b.sys.accept(ls);
  await p.a.sys.connect(c, sin('10.0.0.2', port));
  const { fd } = await acc;
  return { c, s: fd, ls };
}

/** One TCP segment seen on a bus. */
export interface Seg {
  /** Bus time, ns. */
  t: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  len: number;
  options: TcpOption[];
  payload: Uint8Array;
  /** The IP header's DF bit. */
  df: boolean;
}

export function flagstr(f: number): string {
  let s = '';
  if ((f & TH_SYN) !== 0) s += 'S';
  if ((f & TH_FIN) !== 0) s += 'F';
  if ((f & TH_RST) !== 0) s += 'R';
  if ((f & TH_PUSH) !== 0) s += 'P';
  if ((f & TH_ACK) !== 0) s += '.';
  return s;
}

export function segstr(g: Seg): string {
  return `${g.src}.${g.sport} > ${g.dst}.${g.dport} ${flagstr(g.flags)} ${g.seq}:${(g.seq + g.len) >>> 0}(${g.len}) ack ${g.ack} win ${g.win}`;
}

/** Parse a frame's TCP segment (checksums verified), or null. */
export function parseFrame(f: Uint8Array, t = 0): Seg | null {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return null;
  const ip = IpRepr.parse(f, 14, f.length - 14);
  if (ip === null || ip.p !== IPPROTO_TCP || (ip.off & 0x3fff) !== 0) return null;
  const hl = 20 + ip.options.length;
  const r = TcpRepr.parse(f, 14 + hl, ip.len - hl, ip.src, ip.dst);
  if (r === null) return null;
  return {
    t, src: inet_ntop4(ip.src), dst: inet_ntop4(ip.dst), sport: r.sport, dport: r.dport, seq: r.seq, ack: r.ack,
    flags: r.flags, win: r.win, len: r.payload.length, options: r.options, payload: r.payload, df: (ip.off & 0x4000) !== 0,
  };
}

export interface Capture {
  /** Delivered segments (after faults), in order. */
  segs: Seg[];
  /** Segments as senders put them on the wire (before faults). */
  sent: Seg[];
  /** Frames whose IP or TCP checksum was bad (a bug unless corruption was injected). */
  bad: number;
  stop(): void;
}

/** Record every TCP segment on bus (keep = false: count only, for long transfers). */
export function capture(bus: ShmifBus, keep = true): Capture {
  const c: Capture = { segs: [], sent: [], bad: 0, stop: () => bus.removeCapture(hook) };
  const hook = (buf: Uint8Array, len: number, t: number, stage: 'send' | 'deliver'): void => {
    if (!keep) return;
    const f = buf.slice(0, len);
    if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== IPPROTO_TCP) return;
    const g = parseFrame(f, t);
    if (g === null) {
      if (stage === 'deliver') c.bad++;
      return;
    }
    (stage === 'deliver' ? c.segs : c.sent).push(g);
  };
  bus.addCapture(hook);
  return c;
}

/** Is frame buf a TCP segment with these properties? (for ShmifFaults.filter) */
export function isTcp(buf: Uint8Array, len: number, pred: (g: Seg) => boolean): boolean {
  if (len < 54 || buf[12] !== 0x08 || buf[13] !== 0x00 || buf[23] !== IPPROTO_TCP) return false;
  const g = parseFrame(buf.slice(0, len));
  return g !== null && pred(g);
}

/**
 * A drop filter that drops the first n frames matching pred (the bus's
 * filter selects frames; drop: 1 drops every selected one).
 */
export function dropFirst(n: number, pred: (g: Seg) => boolean): (buf: Uint8Array, len: number) => boolean {
  let left = n;
  return (buf, len) => {
    if (left <= 0) return false;
    if (!isTcp(buf, len, pred)) return false;
    left--;
    return true;
  };
}

/** Advance virtual time in steps until pred holds (or fail after maxMs). */
export async function until(w: SimWorld, pred: () => boolean, maxMs = 600_000, stepMs = 10): Promise<void> {
  const t0 = w.nowMs();
  while (!pred()) {
    if (w.nowMs() - t0 > maxMs) throw new Error(`until: condition not met after ${maxMs} ms`);
    await w.advance(stepMs);
  }
}

/** The PCB rows of k matching a filter. */
export function pcbs(k: Kernel, f: (p: TcpPcbInfo) => boolean = () => true): TcpPcbInfo[] {
  return tcp_pcblist(k).filter(f);
}

export function pcbState(k: Kernel, lport: number, fport?: number): string | null {
  const r = tcp_pcblist(k).find((p) => p.lport === lport && (fport === undefined || p.fport === fport));
  return r === undefined ? null : r.state;
}

/** Expect a promise to reject with an errno code. */
export async function expectErr(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

/**
 * A hand-driven TCP endpoint at an address no kernel owns (packetdrill's
 * idea): segments are built with TcpRepr/IpRepr and injected on the bus;
 * segments the kernel sends to it are collected.  The kernel reaches it
 * through a static ARP entry.
 */
export class RawPeer {
  readonly mac = new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x99]);
  readonly got: Seg[] = [];
  private readonly hook: (buf: Uint8Array, len: number, t: number, stage: 'send' | 'deliver') => void;

  constructor(readonly bus: ShmifBus, readonly k: Kernel, readonly ip: string, readonly kip: string) {
    expect(arp_add(k, a4(ip), this.mac, 'shmif0')).toBe(0);
    this.hook = (buf, len, t, stage) => {
      if (stage !== 'deliver') return;
      const g = parseFrame(buf.slice(0, len), t);
      if (g !== null && g.dst === this.ip) this.got.push(g);
    };
    bus.addCapture(this.hook);
  }

  /** Send a segment to the kernel. */
  send(s: { sport: number; dport: number; seq: number; ack?: number; flags: number; win?: number; options?: TcpOption[]; payload?: Uint8Array }): void {
    const r: TcpRepr = {
      sport: s.sport, dport: s.dport, seq: s.seq >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags, win: s.win ?? 65535, urp: 0,
      options: s.options ?? [], payload: s.payload ?? new Uint8Array(0),
    };
    const tlen = TcpRepr.bufferLen(r);
    const f = new Uint8Array(14 + 20 + tlen);
    const kmac = ifunit(this.k, 'shmif0')!.if_sadl;
    f.set(kmac, 0);
    f.set(this.mac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    IpRepr.emit({ tos: 0, len: 20 + tlen, id: 1, off: 0, ttl: 64, p: IPPROTO_TCP, src: a4(this.ip), dst: a4(this.kip), options: new Uint8Array(0) }, f, 14);
    TcpRepr.emit(r, f, 34, a4(this.ip), a4(this.kip));
    expect(this.bus.inject(f)).toBe(0);
  }

  /** Segments received since index from. */
  since(from: number): Seg[] {
    return this.got.slice(from);
  }

  stop(): void {
    this.bus.removeCapture(this.hook);
  }
}

/** Expect two byte arrays equal (fast: vitest's deep equality is slow on megabytes). */
export function expectBytes(got: Uint8Array, want: Uint8Array): void {
  expect(got.length).toBe(want.length);
  let bad = -1;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      bad = i;
      break;
    }
  }
  expect(bad).toBe(-1);
}

/** Resolve ARP both ways (a datagram each way), so later segments leave at once. */
export async function arpWarm(p: Pair): Promise<void> {
  const x = await p.a.sys.socket(AF_INET, SOCK_DGRAM);
  await p.a.sys.sendto(x, new Uint8Array(1), 0, sin('10.0.0.2', 9));
  await p.a.sys.close(x);
  const y = await p.b.sys.socket(AF_INET, SOCK_DGRAM);
  await p.b.sys.sendto(y, new Uint8Array(1), 0, sin('10.0.0.1', 9));
  await p.b.sys.close(y);
  await p.L.w.advance(10);
}

/** Random-ish bytes, deterministic. */
export function pattern(n: number, salt = 0): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (Math.imul(i + salt, 2654435761) >>> 24) & 0xff;
  return d;
}

/** Read exactly n bytes (or until EOF) from fd on k. */
export async function readn(k: Kernel, fd: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await k.sys.recv(fd, out.subarray(got));
    if (r === 0) break;
    got += r;
  }
  return out.subarray(0, got);
}

/** Write all of data to fd on k. */
export async function writeall(k: Kernel, fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await k.sys.send(fd, data.subarray(off, Math.min(data.length, off + 65536)));
}

export { TH_ACK, TH_FIN, TH_PUSH, TH_RST, TH_SYN };
