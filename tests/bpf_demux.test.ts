/*
 * Early demultiplexing (net/lib/libnet/bpf_demux.ts) and its use by the
 * shmif bus: the program an Ethernet interface wants, frame by frame; the
 * demux table (validation, counters, the sender skipped); the program
 * kept current as flags, taps, MAC and addresses change; and N kernels on
 * one bus, each getting only its own traffic and broadcasts while ping
 * and TCP work as before, with the work saved counted against the same
 * traffic with the demux off (every kernel takes every frame).
 */

import { describe, it, expect } from 'vitest';
import { ifconfig, lab, recvWithin, sin } from './inet_helpers.ts';
import { kernel_run, type Kernel } from '../librump/rumpkern/rump.ts';
import { BpfDemux, DEMUX_TAPPED, EtherDemuxFilter, ether_demux_filter, ether_demux_program } from '../net/lib/libnet/bpf_demux.ts';
import { bpf_filter, bpf_validate } from '../net/lib/libnet/bpf_filter.ts';
import { ifunit, ifpromisc } from '../net/lib/libnet/if.ts';
import { ArpRepr } from '../net/lib/libnet/if_arp_hdr.ts';
import { ether_aton, ether_hdr_write } from '../net/lib/libnet/if_ether.ts';
import { pcap_attach, pcap_detach } from '../net/lib/libnet/pcap.ts';
import { in_ifaddr_add } from '../net/lib/libnetinet/in_var.ts';
import { inet_stats } from '../net/lib/libnetinet/netinet_component.ts';
import type { ShmifBus, ShmifPort } from '../net/lib/libshmif/shmif_component.ts';
import { BPF_RET, BPF_STMT, BPF_K, BPF_LD, BPF_H, BPF_ABS, type BpfInsn } from '../include/bpf.ts';
import { IFF_PROMISC, IFF_RUNNING, IFF_UP, SIOCGIFDATA, type IfData } from '../include/if.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';

const MAC = ether_aton('b2:a0:11:22:33:44')!;
const OTHER = ether_aton('b2:a0:55:66:77:88')!;
const BCAST = ether_aton('ff:ff:ff:ff:ff:ff')!;
const MCAST = ether_aton('01:00:5e:00:00:01')!;
const ME = 0x0a000005;
const ME2 = 0x0a000105;
const PEER = 0x0a000009;
const THIRD = 0x0a00000a;
const UP = IFF_UP | IFF_RUNNING;

function eth(dst: Uint8Array, type: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  ether_hdr_write(f, 0, dst, OTHER, type);
  return f;
}

function arp(op: number, spa: number, tpa: number, mut?: (p: Uint8Array) => void): Uint8Array {
  const f = eth(BCAST, 0x0806, 14 + 28);
  ArpRepr.emit({ op, sha: OTHER, spa, tha: new Uint8Array(6), tpa }, f, 14);
  mut?.(f);
  return f;
}

function accepts(prog: readonly BpfInsn[], f: Uint8Array): boolean {
  return bpf_filter(prog, f, f.length, f.length) !== 0;
}

describe('ether_demux_program', () => {
  const prog = ether_demux_program(UP, MAC, [ME, ME2]);

  it('is a valid program', () => {
    expect(bpf_validate(prog)).toBe(true);
    /* Many addresses still make a valid program (ARP is then taken whole). */
    const many = Array.from({ length: 200 }, (_, i) => 0x0a010000 + i);
    expect(bpf_validate(ether_demux_program(UP, MAC, many))).toBe(true);
    expect(accepts(ether_demux_program(UP, MAC, many), arp(1, PEER, THIRD))).toBe(true);
  });

  const cases: [string, Uint8Array, boolean][] = [
    ['unicast to our MAC', eth(MAC, 0x0800), true],
    ['unicast to another MAC', eth(OTHER, 0x0800), false],
    ['unicast differing in the first two bytes only', eth(ether_aton('b0:a0:11:22:33:44')!, 0x0800), false],
    ['IPv4 broadcast', eth(BCAST, 0x0800), true],
    ['multicast', eth(MCAST, 0x0800), true],
    ['broadcast of an unknown type', eth(BCAST, 0x88b5), true],
    ['ARP who-has our address', arp(1, PEER, ME), true],
    ['ARP who-has our alias', arp(1, PEER, ME2), true],
    ['ARP who-has another host', arp(1, PEER, THIRD), false],
    ['ARP announcement (sender = target)', arp(1, PEER, PEER), true],
    ['ARP from our own address (a conflict)', arp(1, ME, THIRD), true],
    ['ARP with target 0.0.0.0', arp(1, PEER, 0), true],
    ['ARP not IPv4 over Ethernet', arp(1, PEER, THIRD, (p) => { p[18] = 8; }), true],
    ['ARP of another protocol type', arp(1, PEER, THIRD, (p) => { p[17] = 0xdd; }), true],
    ['truncated ARP', arp(1, PEER, THIRD).slice(0, 30), true],
    ['ARP reply to us (unicast)', (() => { const f = arp(2, PEER, ME); f.set(MAC, 0); return f; })(), true],
    ['a runt', new Uint8Array(10).fill(0xff), true],
  ];
  for (const [what, f, want] of cases) {
    it(`${want ? 'takes' : 'drops'} ${what}`, () => {
      expect(accepts(prog, f)).toBe(want);
    });
  }

  it('takes everything when promiscuous, nothing when down or not running, all ARP when tapped', () => {
    const all = [...cases.map((c) => c[1])];
    expect(all.every((f) => accepts(ether_demux_program(UP | IFF_PROMISC, MAC, [ME]), f))).toBe(true);
    expect(all.some((f) => accepts(ether_demux_program(IFF_UP, MAC, [ME]), f))).toBe(false);
    expect(all.some((f) => accepts(ether_demux_program(IFF_RUNNING, MAC, [ME]), f))).toBe(false);
    const tapped = ether_demux_program(UP | DEMUX_TAPPED, MAC, [ME]);
    expect(accepts(tapped, arp(1, PEER, THIRD))).toBe(true);
    expect(accepts(tapped, eth(OTHER, 0x0800))).toBe(false);
  });
});

describe('BpfDemux', () => {
  it('runs each key but the sender, counts, refuses bad programs and keeps counters on replace', () => {
    const d = new BpfDemux<string>();
    const acceptAll = [BPF_STMT(BPF_RET | BPF_K, 1)];
    const onlyIp = [
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
      { code: 0x15, jt: 0, jf: 1, k: 0x0800 },
      BPF_STMT(BPF_RET | BPF_K, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),
    ];
    expect(d.bd_set('a', acceptAll)).toBe(0);
    expect(d.bd_set('b', onlyIp)).toBe(0);
    expect(d.bd_set('c', [BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12)])).not.toBe(0);
    expect(d.bd_entry('c')).toBeNull();
    const out: string[] = [];
    const ip = eth(MAC, 0x0800);
    const v = new DataView(ip.buffer);
    expect(d.bd_match(v, 0, ip.length, null, out)).toBe(2);
    expect(out.slice(0, 2)).toEqual(['a', 'b']);
    expect(d.bd_match(v, 0, ip.length, 'a', out)).toBe(1);
    expect(out[0]).toBe('b');
    const arpf = arp(1, PEER, ME);
    expect(d.bd_match(new DataView(arpf.buffer), 0, arpf.length, null, out)).toBe(1);
    expect(d.bd_entry('b')).toMatchObject({ de_accepted: 2, de_rejected: 1 });
    expect(d.bd_entry('a')).toMatchObject({ de_accepted: 2, de_rejected: 0 });
    /* A bad replacement leaves the old program; a good one keeps the counts. */
    expect(d.bd_set('b', [])).not.toBe(0);
    expect(d.bd_set('b', acceptAll)).toBe(0);
    expect(d.bd_entry('b')).toMatchObject({ de_accepted: 2, de_rejected: 1 });
    expect(d.bd_match(new DataView(arpf.buffer), 0, arpf.length, null, out)).toBe(2);
    expect(d.bd_remove('a')).toBe(true);
    expect(d.bd_remove('a')).toBe(false);
    expect(d.bd_entries().map((e) => e.de_key)).toEqual(['b']);
  });
});

async function ifdata(k: Kernel, name = 'shmif0'): Promise<IfData> {
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  const r = (await k.sys.ioctl(s, SIOCGIFDATA, { ifr_name: name })) as { ifr_data: IfData };
  await k.sys.close(s);
  return r.ifr_data;
}

describe('EtherDemuxFilter: the program follows the interface', () => {
  it('is rebuilt when flags, taps, MAC or addresses change, and only then', async () => {
    const L = lab(4);
    const k = await L.boot('a');
    await ifconfig(k, 'shmif0', 'bus0', '10.0.0.1');
    const ifp = ifunit(k, 'shmif0')!;
    const f = new EtherDemuxFilter(ifp);
    const p0 = f.program();
    expect(f.program()).toBe(p0);
    expect(p0).toEqual(ether_demux_filter(ifp));
    const who = (tpa: number): Uint8Array => arp(1, PEER, tpa);
    expect(accepts(p0, who(0x0a000001))).toBe(true);
    expect(accepts(p0, who(0x0a000063))).toBe(false);
    /* An alias: its ARP is wanted from now on. */
    expect(kernel_run(k, () => in_ifaddr_add(k, ifp, 0x0a000063, 24))).toBe(0);
    const p1 = f.program();
    expect(p1).not.toBe(p0);
    expect(accepts(p1, who(0x0a000063))).toBe(true);
    expect(f.program()).toBe(p1);
    /* Promiscuous mode, and back. */
    kernel_run(k, () => { ifpromisc(ifp, true); });
    const p2 = f.program();
    expect(accepts(p2, eth(OTHER, 0x0800))).toBe(true);
    kernel_run(k, () => { ifpromisc(ifp, false); });
    expect(accepts(f.program(), eth(OTHER, 0x0800))).toBe(false);
    /* A tap (pcap here) widens ARP; detaching narrows it again. */
    const h = pcap_attach(ifp, () => undefined);
    expect(accepts(f.program(), who(0x0a000077))).toBe(true);
    pcap_detach(h);
    expect(accepts(f.program(), who(0x0a000077))).toBe(false);
    /* A new MAC. */
    const mac = ether_aton('b2:a0:de:ad:be:ef')!;
    ifp.if_sadl = mac;
    expect(accepts(f.program(), eth(mac, 0x0800))).toBe(true);
    expect(accepts(f.program(), eth(MAC, 0x0800))).toBe(false);
  });
});

/* ---- N kernels on one bus ---- */

interface Net {
  ks: Kernel[];
  bus: ShmifBus;
  w: ReturnType<typeof lab>['w'];
}

async function nKernels(n: number, demux: boolean, seed = 5): Promise<Net> {
  const L = lab(seed);
  const bus = L.net.bus('bus0', { demux });
  const ks: Kernel[] = [];
  for (let i = 0; i < n; i++) {
    const k = await L.boot(`k${i}`);
    await ifconfig(k, 'shmif0', 'bus0', `10.0.0.${i + 1}`);
    ks.push(k);
  }
  return { ks, bus, w: L.w };
}

/** Every kernel sends one UDP datagram to every other, and each is received. */
async function allPairsUdp(net: Net): Promise<void> {
  const { ks } = net;
  const socks: number[] = [];
  for (const k of ks) {
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.bind(s, sin('0.0.0.0', 5000));
    socks.push(s);
  }
  for (let i = 0; i < ks.length; i++) {
    for (let j = 0; j < ks.length; j++) {
      if (i === j) continue;
      await ks[i]!.sys.sendto(socks[i]!, `from ${i} to ${j}`, 0, sin(`10.0.0.${j + 1}`, 5000));
      const r = await recvWithin(ks[j]!, socks[j]!, 5000);
      expect(new TextDecoder().decode(r.data)).toBe(`from ${i} to ${j}`);
    }
  }
  for (let i = 0; i < ks.length; i++) await ks[i]!.sys.close(socks[i]!);
}

/** A TCP exchange between kernel 0 and the last one. */
async function tcpExchange(net: Net): Promise<void> {
  const a = net.ks[0]!;
  const b = net.ks[net.ks.length - 1]!;
  const ls = await b.sys.socket(AF_INET, SOCK_STREAM);
  await b.sys.bind(ls, sin('0.0.0.0', 80));
  await b.sys.listen(ls, 4);
  const c = await a.sys.socket(AF_INET, SOCK_STREAM);
  await a.sys.connect(c, sin(`10.0.0.${net.ks.length}`, 80));
  const { fd } = await b.sys.accept(ls);
  const data = new Uint8Array(100_000).map((_, i) => i * 7);
  const w = a.sys.write(c, data);
  const got = new Uint8Array(data.length);
  let n = 0;
  while (n < data.length) n += await b.sys.read(fd, got.subarray(n));
  await w;
  expect(got).toEqual(data);
  for (const [k, s] of [[a, c], [b, fd], [b, ls]] as const) await k.sys.close(s);
}

describe('N kernels sharing one bus', () => {
  it('each kernel gets only its own traffic and broadcasts; the same traffic without demux reaches everyone', async () => {
    const N = 6;
    const totals: Record<string, { rxframes: number; ipackets: number; rxintr: number; arpRcvRequest: number }> = {};
    for (const demux of [true, false]) {
      const net = await nKernels(N, demux);
      await allPairsUdp(net);
      await tcpExchange(net);
      const st = net.bus.stats;
      let ipackets = 0;
      let arpRcvRequest = 0;
      for (const k of net.ks) {
        ipackets += (await ifdata(k)).ifi_ipackets;
        arpRcvRequest += inet_stats(k).arp.arps_rcvrequest;
      }
      totals[String(demux)] = { rxframes: st.rxframes, ipackets, rxintr: st.rxintr, arpRcvRequest };
      if (demux) {
        /* Every (frame, listener) pair was decided, and what was accepted is what was handed over. */
        expect(st.demux_accepted + st.demux_rejected).toBe(st.delivered * (N - 1));
        expect(st.rxframes).toBe(st.demux_accepted);
        /* Each port's filter kept out most frames; per-port counts add up to the totals. */
        let acc = 0;
        let rej = 0;
        for (const [i, k] of net.ks.entries()) {
          const ps = net.bus.portStats(ifunit(k, 'shmif0')!.if_softc as ShmifPort)!;
          /* The kernels outside the TCP exchange were spared most of the traffic. */
          if (i > 0 && i < N - 1) expect(ps.rejected).toBeGreaterThan(2 * ps.accepted);
          acc += ps.accepted;
          rej += ps.rejected;
          /* A kernel took in exactly what the demux gave it. */
          expect((await ifdata(k)).ifi_ipackets).toBe(ps.accepted);
        }
        expect([acc, rej]).toEqual([st.demux_accepted, st.demux_rejected]);
        /* Only requests for a kernel's own address reached its ARP (plus the announcements). */
        expect(arpRcvRequest).toBe(N * (N - 1) / 2 + N * (N - 1));
      } else {
        expect(st.demux_accepted + st.demux_rejected).toBe(0);
        expect(st.rxframes).toBe(st.delivered * (N - 1));
      }
    }
    const on = totals['true']!;
    const off = totals['false']!;
    /* The same conversation; without demux every kernel copied and dropped everyone's frames. */
    expect(off.rxframes).toBeGreaterThan(3 * on.rxframes);
    expect(off.ipackets).toBeGreaterThan(3 * on.ipackets);
    expect(off.rxintr).toBeGreaterThan(on.rxintr);
    expect(off.arpRcvRequest).toBeGreaterThan(on.arpRcvRequest);
  });

  it('a kernel that gains an address is asked for it (the filter follows); promiscuous mode sees everything', async () => {
    const net = await nKernels(3, true, 9);
    const [a, b, c] = net.ks as [Kernel, Kernel, Kernel];
    const cif = ifunit(c, 'shmif0')!;
    await ifconfig(c, 'shmif0', 'bus0', '10.0.0.33');
    const s = await a.sys.socket(AF_INET, SOCK_DGRAM);
    const rs = await c.sys.socket(AF_INET, SOCK_DGRAM);
    await c.sys.bind(rs, sin('10.0.0.33', 7));
    await a.sys.sendto(s, 'alias', 0, sin('10.0.0.33', 7));
    expect(new TextDecoder().decode((await recvWithin(c, rs, 5000)).data)).toBe('alias');
    /* b never heard the who-has for .33. */
    const bstats = net.bus.portStats(ifunit(b, 'shmif0')!.if_softc as ShmifPort)!;
    const before = (await ifdata(c)).ifi_ipackets;
    kernel_run(c, () => { ifpromisc(cif, true); });
    expect(cif.if_flags & IFF_PROMISC).toBe(IFF_PROMISC);
    const bs = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.bind(bs, sin('0.0.0.0', 9));
    await a.sys.sendto(s, 'to b', 0, sin('10.0.0.2', 9));
    await recvWithin(b, bs, 5000);
    /* c took in the a->b frames too (its protocols drop them: not addressed to it). */
    expect((await ifdata(c)).ifi_ipackets).toBeGreaterThan(before);
    expect(bstats.rejected).toBeGreaterThan(0);
    for (const [k, x] of [[a, s], [c, rs], [b, bs]] as const) await k.sys.close(x);
  });

  it('with demux off, ping and TCP work as before', async () => {
    const net = await nKernels(3, false, 11);
    await allPairsUdp(net);
    await tcpExchange(net);
    expect(net.bus.demuxEnabled).toBe(false);
    net.bus.setDemux(true);
    await allPairsUdp(net);
    expect(net.bus.stats.demux_accepted).toBeGreaterThan(0);
  });
});
