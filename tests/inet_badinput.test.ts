/*
 * Bad input for libnetinet (sim host, frames injected on a shmif bus):
 *   - one frame per rule of ip_input, udp_input, icmp_input and ARP,
 *     each counted under exactly the NetBSD counter for it;
 *   - reassembly: overlaps (the datagram is abandoned), exact duplicates
 *     (dropped alone), the timeout (fragments freed, ICMP time exceeded
 *     to the source), the memory limit, malformed fragments;
 *   - a seeded corpus of thousands of random and mutated frames
 *     (truncated headers, bad lengths, bad checksums, fragment overlaps,
 *     zero-length and oversized frames): no exception, no panic, counted,
 *     no mbuf left behind, and the kernel still answers pings afterwards.
 */
import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { a4, sin } from './inet_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { m_outstanding } from '../librump/rumpnet/uipc_mbuf.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { rumpnet_shmif_component, ShmifNet, type ShmifBus } from '../net/lib/libshmif/shmif_component.ts';
import { rumpnet_netinet_component, inet_stats, type InetStats } from '../net/lib/libnetinet/netinet_component.ts';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../net/lib/libnetinet/in.ts';
import { in_cksum } from '../net/lib/libnetinet/in_cksum.ts';
import { IpRepr, IP_MF } from '../net/lib/libnetinet/ip.ts';
import { UdpRepr } from '../net/lib/libnetinet/udp.ts';
import { ArpRepr } from '../net/lib/libnet/if_arp_hdr.ts';
import { AF_INET, SO_RCVBUF, SO_RCVTIMEO, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET, type SockaddrIn } from '../include/socket.ts';
import { SIOCAIFADDR, SIOCIFCREATE, SIOCSLINKSTR } from '../include/if.ts';

const A = a4('10.0.0.1');
const B = a4('10.0.0.2');
const GHOST = a4('10.0.0.77');
const FAKE_MAC = new Uint8Array([0x02, 0, 0, 0, 0, 0x99]);

interface Bench {
  w: SimWorld;
  bus: ShmifBus;
  a: Kernel;
  b: Kernel;
  bmac: Uint8Array;
}

async function ifconfig(k: Kernel, addr: string): Promise<void> {
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'wire' });
  await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'shmif0', ifra_addr: sin(addr), ifra_mask: sin('255.255.255.0') });
  await k.sys.close(s);
}

async function bench(seed: number): Promise<Bench> {
  const w = simWorld({ seed });
  const net = new ShmifNet();
  const comps = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)];
  const a = await bootSim(w, { name: 'a', components: comps });
  const b = await bootSim(w, { name: 'b', components: comps });
  await ifconfig(a, '10.0.0.1');
  await ifconfig(b, '10.0.0.2');
  return { w, bus: net.bus('wire'), a, b, bmac: ifunit(b, 'shmif0')!.if_sadl };
}

/* ---------------------------------------------------------------- frames */

function eth(dst: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(FAKE_MAC, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

interface IpOpts {
  src?: number;
  dst?: number;
  p?: number;
  ttl?: number;
  id?: number;
  off?: number;
  options?: Uint8Array;
}

function ip(payload: Uint8Array, o: IpOpts = {}): Uint8Array {
  const options = o.options ?? new Uint8Array(0);
  const hl = 20 + options.length;
  const pkt = new Uint8Array(hl + payload.length);
  IpRepr.emit({
    tos: 0, len: pkt.length, id: o.id ?? 1, off: o.off ?? 0, ttl: o.ttl ?? 64, p: o.p ?? IPPROTO_UDP,
    src: o.src ?? GHOST, dst: o.dst ?? B, options,
  }, pkt, 0);
  pkt.set(payload, hl);
  return pkt;
}

function udp(data: Uint8Array, dport: number, src = GHOST, dst = B): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  UdpRepr.emit({ sport: 4444, dport, payload: data }, u, 0, src, dst);
  return u;
}

function icmp(type: number, code: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  const c = in_cksum(m, 0, m.length);
  m[2] = c >>> 8;
  m[3] = c & 0xff;
  return m;
}

function echoReq(id: number, seq: number, n = 16): Uint8Array {
  const b = new Uint8Array(4 + n);
  b[0] = id >>> 8;
  b[1] = id & 0xff;
  b[2] = seq >>> 8;
  b[3] = seq & 0xff;
  return icmp(8, 0, b);
}

/** Recompute the IP header checksum of a frame in place. */
function fixsum(f: Uint8Array): Uint8Array {
  const hl = (f[14]! & 15) * 4;
  if (f.length < 14 + hl || hl < 20) return f;
  f[24] = 0;
  f[25] = 0;
  const c = in_cksum(f, 14, hl);
  f[24] = c >>> 8;
  f[25] = c & 0xff;
  return f;
}

function ipframe(B_: Bench, pkt: Uint8Array): Uint8Array {
  return eth(B_.bmac, 0x0800, pkt);
}

/* ------------------------------------------------------------ counting */

type Path = `${keyof InetStats}.${string}`;

/** Counter deltas between two snapshots, for the paths given (histograms as icmp.icps_outhist.3). */
function read(st: InetStats, path: string): number {
  const [grp, name, idx] = path.split('.');
  const v = (st as unknown as Record<string, Record<string, number | number[]>>)[grp!]![name!];
  return Array.isArray(v) ? v[Number(idx)]! : v!;
}

async function deliver(B_: Bench, frames: Uint8Array[]): Promise<void> {
  for (const f of frames) expect(B_.bus.inject(f)).toBe(0);
  await B_.w.advance(2);
}

async function expectCounts(B_: Bench, frames: Uint8Array[], want: Record<Path, number>): Promise<void> {
  const before = inet_stats(B_.b);
  await deliver(B_, frames);
  const after = inet_stats(B_.b);
  const got: Record<string, number> = {};
  for (const p of Object.keys(want)) got[p] = read(after, p) - read(before, p);
  expect(got).toEqual(want);
}

async function recvWithin(k: Kernel, s: number, ms = 2000, size = 2048): Promise<{ data: Uint8Array; from: SockaddrIn }> {
  await k.sys.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: Math.floor(ms / 1000), tv_usec: (ms % 1000) * 1000 });
  const buf = new Uint8Array(size);
  const r = await k.sys.recvfrom(s, buf);
  return { data: buf.slice(0, r.n), from: r.from as SockaddrIn };
}

async function pingOk(B_: Bench): Promise<void> {
  const s = await B_.a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  await B_.a.sys.sendto(s, echoReq(0x1111, 1), 0, sin('10.0.0.2'));
  for (;;) {
    const r = await recvWithin(B_.a, s);
    if (r.data[20] === 0 && r.from.sin_addr === '10.0.0.2') break;
  }
  await B_.a.sys.close(s);
}

/* ---------------------------------------------------------------- tests */

describe('malformed IPv4 headers are counted where NetBSD counts them', () => {
  it('one frame per check of ip_input', async () => {
    const B_ = await bench(1);
    await B_.b.sys.sysctl('net.inet.icmp.errppslimit', -1);
    const good = ip(udp(new Uint8Array(4), 9999));
    const mut = (fn: (p: Uint8Array) => void, fix = true): Uint8Array => {
      const p = good.slice();
      fn(p);
      const f = ipframe(B_, p);
      return fix ? fixsum(f) : f;
    };
    await expectCounts(B_, [ipframe(B_, good.slice(0, 12))], { 'ip.ips_total': 1, 'ip.ips_toosmall': 1 });
    await expectCounts(B_, [mut((p) => { p[0] = 0x65; })], { 'ip.ips_badvers': 1 });
    await expectCounts(B_, [mut((p) => { p[0] = 0x44; })], { 'ip.ips_badhlen': 1 });
    await expectCounts(B_, [mut((p) => { p[0] = 0x4f; })], { 'ip.ips_badhlen': 1 });
    await expectCounts(B_, [mut((p) => { p[10] ^= 0x55; }, false)], { 'ip.ips_badsum': 1 });
    await expectCounts(B_, [mut((p) => { p[2] = 0; p[3] = 12; })], { 'ip.ips_badlen': 1 });
    await expectCounts(B_, [mut((p) => { p[2] = 0x05; p[3] = 0xdc; })], { 'ip.ips_tooshort': 1 });
    await expectCounts(B_, [mut((p) => { p[12] = 224; })], { 'ip.ips_badaddr': 1 });
    await expectCounts(B_, [mut((p) => { p[12] = 127; })], { 'ip.ips_badaddr': 1 });
    await expectCounts(B_, [mut((p) => { p[16] = 127; })], { 'ip.ips_badaddr': 1 });
    /* Not ours, forwarding off. */
    await expectCounts(B_, [ipframe(B_, ip(udp(new Uint8Array(1), 9), { dst: a4('10.0.9.9') }))], { 'ip.ips_cantforward': 1 });
    /* A multicast group we are not in. */
    await expectCounts(B_, [ipframe(B_, ip(udp(new Uint8Array(1), 9), { dst: a4('239.1.2.3') }))], { 'ip.ips_notmember': 1 });
    /* An unknown protocol: noproto and an ICMP protocol unreachable. */
    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array(8), { p: 253 }))],
      { 'ip.ips_noproto': 1, 'ip.ips_delivered': 0, 'icmp.icps_outhist.3': 1 });
    /* A malformed option: parameter problem; a source route: prohibited. */
    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array(8), { options: new Uint8Array([0x44, 0, 0, 0]) }))],
      { 'ip.ips_badoptions': 1, 'icmp.icps_outhist.12': 1 });
    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array(8), { options: new Uint8Array([0x83, 7, 4, 1, 2, 3, 4, 0]) }))],
      { 'ip.ips_badoptions': 1, 'icmp.icps_outhist.3': 1 });
    /* Harmless options are skipped; trailing Ethernet padding is trimmed. */
    const srv = await B_.b.sys.socket(AF_INET, SOCK_DGRAM);
    await B_.b.sys.bind(srv, sin('0.0.0.0', 7));
    const padded = new Uint8Array(60);
    padded.set(ipframe(B_, ip(udp(new Uint8Array([1, 2, 3]), 7), { options: new Uint8Array([1, 1, 1, 0]) })));
    await expectCounts(B_, [padded], { 'ip.ips_delivered': 1, 'udp.udps_ipackets': 1, 'udp.udps_badlen': 0 });
    expect((await recvWithin(B_.b, srv)).data).toEqual(new Uint8Array([1, 2, 3]));
    await B_.b.sys.close(srv);
    await pingOk(B_);
  });

  it('one frame per check of udp_input, icmp_input and ARP', async () => {
    const B_ = await bench(2);
    await B_.b.sys.sysctl('net.inet.icmp.errppslimit', -1);
    const srv = await B_.b.sys.socket(AF_INET, SOCK_DGRAM);
    await B_.b.sys.bind(srv, sin('0.0.0.0', 7));
    const u = udp(new Uint8Array([9, 9, 9, 9]), 7);
    await expectCounts(B_, [ipframe(B_, ip(u.slice(0, 6)))], { 'udp.udps_ipackets': 1, 'udp.udps_hdrops': 1 });
    const long = u.slice();
    long[5] = 40;
    await expectCounts(B_, [ipframe(B_, ip(long))], { 'udp.udps_badlen': 1 });
    const short = u.slice();
    short[5] = 6;
    await expectCounts(B_, [ipframe(B_, ip(short))], { 'udp.udps_badlen': 1 });
    const bad = u.slice();
    bad[8] ^= 1;
    await expectCounts(B_, [ipframe(B_, ip(bad))], { 'udp.udps_badsum': 1 });
    /* uh_sum 0: no checksum, delivered (RFC 768). */
    const nosum = u.slice();
    nosum[6] = 0;
    nosum[7] = 0;
    await expectCounts(B_, [ipframe(B_, ip(nosum))], { 'udp.udps_badsum': 0, 'udp.udps_ipackets': 1 });
    expect((await recvWithin(B_.b, srv)).data).toEqual(new Uint8Array([9, 9, 9, 9]));
    const ub = udp(new Uint8Array([9, 9, 9, 9]), 7, GHOST, a4('10.0.0.255'));
    await expectCounts(B_, [ipframe(B_, ip(ub, { dst: a4('10.0.0.255') }))], { 'udp.udps_noportbcast': 0, 'udp.udps_ipackets': 1 });
    await recvWithin(B_.b, srv);
    await expectCounts(B_, [ipframe(B_, ip(udp(new Uint8Array(1), 8, GHOST, a4('10.0.0.255')), { dst: a4('10.0.0.255') }))],
      { 'udp.udps_noportbcast': 1, 'icmp.icps_error': 0 });

    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array([8, 0, 0]), { p: IPPROTO_ICMP }))], { 'icmp.icps_tooshort': 1 });
    const e = echoReq(1, 1);
    e[2] ^= 0xff;
    await expectCounts(B_, [ipframe(B_, ip(e, { p: IPPROTO_ICMP }))], { 'icmp.icps_checksum': 1 });
    const quote = ip(new Uint8Array(8), { src: B, dst: GHOST });
    await expectCounts(B_, [ipframe(B_, ip(icmp(3, 20, new Uint8Array(4 + 28).fill(0)), { p: IPPROTO_ICMP }))], { 'icmp.icps_badcode': 1 });
    await expectCounts(B_, [ipframe(B_, ip(icmp(3, 3, new Uint8Array([0, 0, 0, 0, ...quote.slice(0, 20)])), { p: IPPROTO_ICMP }))],
      { 'icmp.icps_badlen': 1 });
    /* Errors about errors, and about broadcasts, are never sent. */
    const err = icmp(3, 1, new Uint8Array([0, 0, 0, 0, ...quote]));
    await expectCounts(B_, [ipframe(B_, ip(err, { p: IPPROTO_ICMP, dst: a4('10.0.9.9') }))], { 'ip.ips_cantforward': 1, 'icmp.icps_error': 0 });
    await expectCounts(B_, [eth(new Uint8Array(6).fill(0xff), 0x0800, ip(new Uint8Array(8), { p: 253, dst: a4('10.0.0.255') }))],
      { 'ip.ips_noproto': 1, 'icmp.icps_error': 1, 'icmp.icps_outhist.3': 0 });
    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array(8), { p: 253, src: 0 }))],
      { 'icmp.icps_error': 1, 'icmp.icps_badaddr': 1, 'icmp.icps_outhist.3': 0 });

    const arp = (mut: (p: Uint8Array) => void): Uint8Array => {
      const p = new Uint8Array(28);
      ArpRepr.emit({ op: 1, sha: FAKE_MAC, spa: GHOST, tha: new Uint8Array(6), tpa: B }, p, 0);
      mut(p);
      return eth(new Uint8Array(6).fill(0xff), 0x0806, p);
    };
    await expectCounts(B_, [arp(() => undefined).slice(0, 14 + 20)], { 'arp.arps_rcvtotal': 1, 'arp.arps_rcvbadlen': 1 });
    await expectCounts(B_, [arp((p) => { p[1] = 7; })], { 'arp.arps_rcvbadproto': 1 });
    await expectCounts(B_, [arp((p) => { p.fill(0xff, 8, 14); })], { 'arp.arps_rcvbcastsha': 1, 'arp.arps_sndreply': 0 });
    await expectCounts(B_, [arp((p) => { p.fill(0, 24, 28); })], { 'arp.arps_rcvzerotpa': 1 });
    await expectCounts(B_, [arp((p) => { p.fill(0, 14, 18); })], { 'arp.arps_rcvzerospa': 1, 'arp.arps_sndreply': 1 });
    await expectCounts(B_, [arp(() => undefined)], { 'arp.arps_rcvrequest': 1, 'arp.arps_sndreply': 1, 'arp.arps_rcvmcast': 1 });
    await B_.b.sys.close(srv);
    await pingOk(B_);
  });
});

describe('reassembly', () => {
  /* Fragments of one UDP datagram (data n bytes) to b:7, split at the given data offsets. */
  function frags(B_: Bench, id: number, data: Uint8Array, cuts: number[], src = GHOST): Uint8Array[] {
    const dgram = udp(data, 7, src);
    const out: Uint8Array[] = [];
    const bounds = [0, ...cuts, dgram.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const lo = bounds[i]!;
      const hi = bounds[i + 1]!;
      const more = i + 2 < bounds.length ? IP_MF : 0;
      out.push(ipframe(B_, ip(dgram.slice(lo, hi), { id, src, off: more | (lo >>> 3) })));
    }
    return out;
  }

  it('puts fragments together in any order, and drops an exact duplicate alone', async () => {
    const B_ = await bench(3);
    const srv = await B_.b.sys.socket(AF_INET, SOCK_DGRAM);
    await B_.b.sys.bind(srv, sin('0.0.0.0', 7));
    const data = new Uint8Array(3000).map((_, i) => i % 251);
    const f = frags(B_, 100, data, [1000, 2000]);
    await expectCounts(B_, [f[2]!, f[0]!, f[0]!, f[1]!], { 'ip.ips_fragments': 4, 'ip.ips_fragdropped': 1, 'ip.ips_reassembled': 1 });
    expect((await recvWithin(B_.b, srv, 2000, 4000)).data).toEqual(data);
    await B_.b.sys.close(srv);
  });

  it('abandons a datagram whose fragments overlap (RFC 5722 policy)', async () => {
    const B_ = await bench(4);
    const srv = await B_.b.sys.socket(AF_INET, SOCK_DGRAM);
    await B_.b.sys.bind(srv, sin('0.0.0.0', 7));
    const data = new Uint8Array(3000).fill(7);
    const f = frags(B_, 200, data, [1000, 2000]);
    /* A fragment covering 992..2000 overlaps the first. */
    const dgram = udp(data, 7);
    const over = ipframe(B_, ip(dgram.slice(992, 2000), { id: 200, off: IP_MF | (992 >>> 3) }));
    await expectCounts(B_, [f[0]!, over], { 'ip.ips_fragments': 2, 'ip.ips_fragdropped': 2, 'ip.ips_reassembled': 0 });
    /* The rest arrives and finds nothing to join: it waits, then times out. */
    await expectCounts(B_, [f[1]!, f[2]!], { 'ip.ips_reassembled': 0 });
    await expect(recvWithin(B_.b, srv, 100)).rejects.toMatchObject({ code: 'EAGAIN' });
    /* Two different last fragments disagree on the end. */
    const g = frags(B_, 201, data, [1000]);
    const g2 = frags(B_, 201, new Uint8Array(1600), [1000]);
    await expectCounts(B_, [g[1]!, g2[1]!], { 'ip.ips_fragdropped': 2 });
    await B_.b.sys.close(srv);
  });

  it('times out after 30 s: fragments freed, ICMP time exceeded (reassembly) to the source', async () => {
    const B_ = await bench(5);
    const ic = await B_.a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const f = frags(B_, 300, new Uint8Array(2000), [1000], A);
    await deliver(B_, [f[0]!]);
    expect(inet_stats(B_.b).ip.ips_fragtimeout).toBe(0);
    await B_.w.advance(29 * 1000);
    expect(inet_stats(B_.b).ip.ips_fragtimeout).toBe(0);
    await B_.w.advance(2 * 1000);
    expect(inet_stats(B_.b).ip.ips_fragtimeout).toBe(1);
    const r = await recvWithin(B_.a, ic);
    expect([r.data[20], r.data[21]]).toEqual([11, 1]);
    expect(r.from).toEqual(sin('10.0.0.2'));
    /* Without fragment zero, no message. */
    await deliver(B_, [f[1]!]);
    await B_.w.advance(31 * 1000);
    expect(inet_stats(B_.b).ip.ips_fragtimeout).toBe(2);
    expect(inet_stats(B_.b).icmp.icps_outhist[11]).toBe(1);
    await B_.a.sys.close(ic);
    expect(m_outstanding(net_of(B_.b).mb)).toEqual({ mbufs: 0, clusters: 0 });
  });

  it('refuses malformed fragments and respects net.inet.ip.maxfragpackets', async () => {
    const B_ = await bench(6);
    const data = new Uint8Array(100);
    const dgram = udp(data, 7);
    await expectCounts(B_, [ipframe(B_, ip(dgram.slice(0, 50), { id: 1, off: IP_MF }))], { 'ip.ips_badfrags': 1 });
    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array(0), { id: 2, off: IP_MF }))], { 'ip.ips_badfrags': 1 });
    await expectCounts(B_, [ipframe(B_, ip(new Uint8Array(16), { id: 3, off: 8190 }))], { 'ip.ips_toolong': 1 });
    await B_.b.sys.sysctl('net.inet.ip.maxfragpackets', 2);
    const firsts = [10, 11, 12].map((id) => frags(B_, id, data, [64])[0]!);
    await expectCounts(B_, firsts, { 'ip.ips_fragments': 3, 'ip.ips_rcvmemdrop': 1 });
  });
});

describe('a seeded corpus of random and mutated frames', () => {
  it('counts and drops them all; no exception, no panic, no leak; pings still answered', async () => {
    const B_ = await bench(7);
    const srv = await B_.b.sys.socket(AF_INET, SOCK_DGRAM);
    await B_.b.sys.setsockopt(srv, SOL_SOCKET, SO_RCVBUF, 100000);
    await B_.b.sys.bind(srv, sin('0.0.0.0', 7));
    let seed = 0x2545f491;
    const rnd = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const bytes = (n: number): Uint8Array => new Uint8Array(n).map(() => rnd(256));
    const templates = (): Uint8Array => {
      switch (rnd(6)) {
        case 0: return ip(echoReq(rnd(65536), rnd(65536), rnd(64)), { p: IPPROTO_ICMP, src: rnd(2) === 0 ? A : GHOST });
        case 1: return ip(udp(bytes(rnd(600)), rnd(2) === 0 ? 7 : rnd(65536)));
        case 2: {
          const id = rnd(8);
          const off = rnd(16) * 8;
          return ip(bytes(8 * (1 + rnd(40))), { id, off: (rnd(2) === 0 ? IP_MF : 0) | (off >>> 3) });
        }
        case 3: return ip(icmp(3 + rnd(10), rnd(20), bytes(4 + rnd(60))), { p: IPPROTO_ICMP });
        case 4: return ip(bytes(rnd(100)), { p: rnd(256), options: rnd(2) === 0 ? bytes(4 * rnd(11)) : new Uint8Array(0) });
        default: {
          const p = new Uint8Array(28);
          ArpRepr.emit({ op: 1 + rnd(2), sha: FAKE_MAC, spa: GHOST + rnd(4), tha: new Uint8Array(6), tpa: B }, p, 0);
          return p;
        }
      }
    };
    const N = 6000;
    const types: number[] = [];
    let batch: Uint8Array[] = [];
    for (let i = 0; i < N; i++) {
      let pkt = templates();
      const isArp = pkt.length === 28 && pkt[0] === 0 && pkt[1] === 1 && pkt[2] === 8;
      const kind = rnd(10);
      if (kind === 0) pkt = pkt.slice(0, rnd(pkt.length + 1));
      else if (kind === 1) for (let j = 0, n = 1 + rnd(4); j < n && pkt.length > 0; j++) pkt[rnd(Math.min(pkt.length, 64))] = rnd(256);
      else if (kind === 2 && pkt.length >= 4) {
        /* A bad ip_len: anything, or shorter than a header. */
        pkt[2] = rnd(2) === 0 ? 0 : rnd(256);
        pkt[3] = rnd(256);
      } else if (kind === 3 && pkt.length >= 1) pkt[0] = (pkt[0]! & 0xf0) | rnd(16);
      else if (kind === 4) pkt = bytes(rnd(1500));
      else if (kind === 5) pkt = new Uint8Array(0);
      else if (kind === 6) pkt = bytes(1500);
      const dst = rnd(8) === 0 ? new Uint8Array(6).fill(0xff) : B_.bmac;
      const f = eth(dst, isArp && kind !== 4 ? 0x0806 : 0x0800, pkt);
      /* Most mutants get a valid header checksum, so that the layers above are exercised too. */
      if (!isArp && rnd(4) !== 0) fixsum(f);
      types.push(kind);
      batch.push(f);
      if (batch.length === 40) {
        await deliver(B_, batch);
        batch = [];
      }
    }
    await deliver(B_, batch);
    const st = inet_stats(B_.b);
    expect(st.ip.ips_total).toBeGreaterThan(N / 2);
    for (const c of ['ips_badsum', 'ips_tooshort', 'ips_toosmall', 'ips_badhlen', 'ips_badlen', 'ips_badvers', 'ips_fragments',
      'ips_fragdropped', 'ips_noproto', 'ips_badoptions', 'ips_delivered'] as const) {
      expect(st.ip[c], c).toBeGreaterThan(0);
    }
    for (const c of ['udps_badsum', 'udps_badlen', 'udps_noport', 'udps_ipackets'] as const) expect(st.udp[c], c).toBeGreaterThan(0);
    for (const c of ['icps_checksum', 'icps_reflect', 'icps_badcode'] as const) expect(st.icmp[c], c).toBeGreaterThan(0);
    expect(st.arp.arps_rcvtotal).toBeGreaterThan(0);
    /* Reassembly and ARP timers run out; nothing is left but what the socket holds. */
    await B_.w.advance(60 * 1000);
    expect(st.ip.ips_total).toBe(inet_stats(B_.b).ip.ips_total);
    await pingOk(B_);
    await B_.b.sys.close(srv);
    await B_.w.advance(60 * 1000);
    expect(m_outstanding(net_of(B_.b).mb)).toEqual({ mbufs: 0, clusters: 0 });
    expect(B_.b.panicstr).toBeNull();
    expect(B_.b.state).toBe('running');
  });
});
