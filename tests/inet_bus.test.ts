/*
 * libnetinet across kernels on shmif buses (sim host): ping a peer with a
 * raw ICMP socket, UDP echo, ARP (resolution, the hold queue, expiry, an
 * unanswered host, gratuitous ARP, duplicate addresses, static entries),
 * broadcast, ECONNREFUSED from a peer, fragmentation and reassembly of a
 * 60 KB datagram, and a middle kernel routing between two buses
 * (forwarding, TTL expiry, unreachable, forwarding off, redirects,
 * fragmentation on a smaller MTU, "need to fragment").  Every IPv4 frame
 * seen on a bus is checked for valid header and UDP/ICMP checksums.
 */
import { describe, it, expect } from 'vitest';
import { a4, echo, ifconfig, lab, recvWithin, sin, type Lab } from './inet_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { m_outstanding } from '../librump/rumpnet/uipc_mbuf.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { ether_ntoa } from '../net/lib/libnet/if_ether.ts';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_STATIC, RTM_ADD } from '../net/lib/libnet/route.ts';
import { type ShmifBus } from '../net/lib/libshmif/shmif_component.ts';
import { inet_stats } from '../net/lib/libnetinet/netinet_component.ts';
import { arp_add, arp_delete, arp_format, arp_list } from '../net/lib/libnetinet/if_arp.ts';
import { IPPROTO_ICMP, IPPROTO_IP, IPPROTO_RAW, IPPROTO_UDP, IP_HDRINCL, IP_TTL } from '../net/lib/libnetinet/in.ts';
import { in_cksum } from '../net/lib/libnetinet/in_cksum.ts';
import { IpRepr, IP_DF } from '../net/lib/libnetinet/ip.ts';
import { udp4_cksum } from '../net/lib/libnetinet/udp.ts';
import { ArpRepr } from '../net/lib/libnet/if_arp_hdr.ts';
import {
  AF_INET, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET, type SockaddrIn,
} from '../include/socket.ts';
import { SIOCGIFADDR, SIOCIFDESTROY, SIOCSIFMTU } from '../include/if.ts';

/** route add DST/PLEN GW (through the kernel's table: no routing socket yet). */
function route(k: Kernel, dst: string, plen: number, gw: string): void {
  const r = k.rt!.rtrequest(RTM_ADD, { rti_dst: a4(dst), rti_plen: plen, rti_gateway: a4(gw), rti_flags: RTF_GATEWAY | RTF_STATIC });
  expect(r.error).toBe(0);
}

/** The ICMP message after the IP header of a raw socket's datagram. */
function icmpOf(d: Uint8Array): { type: number; code: number; body: Uint8Array } {
  const hl = (d[0]! & 15) * 4;
  return { type: d[hl]!, code: d[hl + 1]!, body: d.subarray(hl) };
}

/** Raw ICMP socket that ignores everything but messages of `type`. */
async function recvIcmp(k: Kernel, s: number, type: number, ms = 5000): Promise<{ from: SockaddrIn; code: number; body: Uint8Array; ip: Uint8Array }> {
  for (;;) {
    const r = await recvWithin(k, s, ms);
    const m = icmpOf(r.data);
    if (m.type === type) return { from: r.from, code: m.code, body: m.body, ip: r.data };
  }
}

interface Captured {
  frames: Uint8Array[];
  bad: string[];
}

/**
 * Record every frame a bus delivers and check each IPv4 one: header
 * checksum, and for whole datagrams the UDP and ICMP checksums.
 */
function capture(bus: ShmifBus): Captured {
  const c: Captured = { frames: [], bad: [] };
  bus.addCapture((buf, len, _t, stage) => {
    if (stage !== 'deliver') return;
    const f = buf.slice(0, len);
    c.frames.push(f);
    if (((f[12]! << 8) | f[13]!) !== 0x0800) return;
    const hl = (f[14]! & 15) * 4;
    if (in_cksum(f, 14, hl) !== 0) c.bad.push(`IP header checksum, frame ${c.frames.length}`);
    const iplen = (f[16]! << 8) | f[17]!;
    const off = (f[20]! << 8) | f[21]!;
    if ((off & 0x3fff) !== 0) return;
    const p = f[23]!;
    const src = ((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0;
    const dst = ((f[30]! << 24) | (f[31]! << 16) | (f[32]! << 8) | f[33]!) >>> 0;
    if (p === IPPROTO_UDP && ((f[14 + hl + 6]! << 8) | f[14 + hl + 7]!) !== 0 && udp4_cksum(f, 14 + hl, iplen - hl, src, dst) !== 0) {
      c.bad.push(`UDP checksum, frame ${c.frames.length}`);
    }
    if (p === IPPROTO_ICMP && in_cksum(f, 14 + hl, iplen - hl) !== 0) c.bad.push(`ICMP checksum, frame ${c.frames.length}`);
  });
  return c;
}

/** ARP packets in a capture, decoded. */
function arps(c: Captured): ReturnType<typeof ArpRepr.parse>[] {
  return c.frames.filter((f) => f[12] === 0x08 && f[13] === 0x06).map((f) => ArpRepr.parse(f, 14, f.length - 14));
}

async function closeAll(k: Kernel, fds: number[]): Promise<void> {
  for (const fd of fds) await k.sys.close(fd);
}

describe('two kernels on one bus', () => {
  it('ping a peer with a raw ICMP socket; ARP resolves both ways', async () => {
    const L = lab();
    const a = await L.boot('a');
    const b = await L.boot('b');
    const cap = capture(L.net.bus('bus0'));
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const s = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    for (let seq = 1; seq <= 3; seq++) {
      const data = new Uint8Array(56).map((_, i) => i + seq);
      await a.sys.sendto(s, echo(0x77, seq, data), 0, sin('10.0.0.2'));
      const r = await recvIcmp(a, s, 0);
      expect(r.from).toEqual(sin('10.0.0.2'));
      expect([r.body[6], r.body[7]]).toEqual([0, seq]);
      expect(r.body.subarray(8)).toEqual(data);
    }
    const bmac = ether_ntoa(ifunit(b, 'shmif0')!.if_sadl);
    const amac = ether_ntoa(ifunit(a, 'shmif0')!.if_sadl);
    expect(arp_list(a)).toEqual([{ addr: '10.0.0.2', mac: bmac, ifname: 'shmif0', state: 'valid', permanent: false, expire: 1200 }]);
    expect(arp_format(b)).toBe(`? (10.0.0.1) at ${amac} on shmif0 expires in 1200 seconds\n`);
    const sa = inet_stats(a);
    const sb = inet_stats(b);
    /*
     * a: its gratuitous announcement, then one request; b: its announcement
     * and one reply; b heard both of a's requests (the announcement is one).
     */
    expect(sa.arp).toMatchObject({ arps_sndrequest: 2, arps_rcvreply: 1, arps_dfrtotal: 1, arps_dfrsent: 1 });
    expect(sb.arp).toMatchObject({ arps_sndrequest: 1, arps_sndreply: 1, arps_rcvrequest: 2 });
    expect(sb.icmp.icps_reflect).toBe(3);
    expect(sa.icmp.icps_inhist[0]).toBe(3);
    expect(cap.bad).toEqual([]);
    await closeAll(a, [s]);
  });

  it('UDP echo between two kernels', async () => {
    const L = lab(2);
    const a = await L.boot('a');
    const b = await L.boot('b');
    const cap = capture(L.net.bus('bus0'));
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const sizes = [0, 1, 17, 100, 512, 1000, 1472];
    const srv = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.bind(srv, sin('10.0.0.2', 7));
    const server = (async () => {
      const buf = new Uint8Array(2000);
      for (let i = 0; i < sizes.length; i++) {
        const r = await b.sys.recvfrom(srv, buf);
        await b.sys.sendto(srv, buf.slice(0, r.n), 0, r.from!);
      }
    })();
    const cli = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.connect(cli, sin('10.0.0.2', 7));
    const me = (await a.sys.getsockname(cli)) as SockaddrIn;
    expect(me.sin_addr).toBe('10.0.0.1');
    for (const n of sizes) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      await a.sys.send(cli, data);
      const r = await recvWithin(a, cli);
      expect(r.data).toEqual(data);
      expect(r.from).toEqual(sin('10.0.0.2', 7));
    }
    await server;
    expect(inet_stats(a).udp).toMatchObject({ udps_opackets: sizes.length, udps_ipackets: sizes.length });
    expect(inet_stats(b).udp).toMatchObject({ udps_opackets: sizes.length, udps_ipackets: sizes.length, udps_badsum: 0 });
    expect(cap.bad).toEqual([]);
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
  });

  it('a connected socket gets ECONNREFUSED when the peer has no socket on the port', async () => {
    const L = lab(3);
    const a = await L.boot('a');
    const b = await L.boot('b');
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const c = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.connect(c, sin('10.0.0.2', 9999));
    await a.sys.send(c, 'hello?');
    await expect(recvWithin(a, c)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(inet_stats(b).udp.udps_noport).toBe(1);
    expect(inet_stats(b).icmp.icps_outhist[3]).toBe(1);
    await closeAll(a, [c]);
  });

  it('fragments a 60 KB datagram at MTU 1500 and reassembles it', async () => {
    const L = lab(4);
    const a = await L.boot('a');
    const b = await L.boot('b');
    const cap = capture(L.net.bus('bus0'));
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const srv = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.setsockopt(srv, SOL_SOCKET, SO_RCVBUF, 200 * 1024);
    await b.sys.bind(srv, sin('0.0.0.0', 4000));
    const cli = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.setsockopt(cli, SOL_SOCKET, SO_SNDBUF, 65536);
    /* Warm the ARP cache: NetBSD holds one packet per unresolved entry (see the next test). */
    await a.sys.sendto(cli, 'warm', 0, sin('10.0.0.2', 4000));
    expect(new TextDecoder().decode((await recvWithin(b, srv)).data)).toBe('warm');
    const big = new Uint8Array(60 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    await a.sys.sendto(cli, big, 0, sin('10.0.0.2', 4000));
    const r = await recvWithin(b, srv);
    expect(r.data.length).toBe(big.length);
    expect(r.data).toEqual(big);
    const nfrag = Math.ceil((big.length + 8) / 1480);
    expect(inet_stats(a).ip).toMatchObject({ ips_fragmented: 1, ips_ofragments: nfrag });
    expect(inet_stats(b).ip).toMatchObject({ ips_fragments: nfrag, ips_reassembled: 1, ips_fragdropped: 0 });
    const ipframes = cap.frames.filter((f) => f[12] === 8 && f[13] === 0);
    expect(Math.max(...ipframes.map((f) => f.length))).toBe(1514);
    expect(cap.bad).toEqual([]);
    /* A datagram too large for IP is refused at once. */
    await expect(a.sys.sendto(cli, new Uint8Array(65508), 0, sin('10.0.0.2', 4000))).rejects.toMatchObject({ code: 'EMSGSIZE' });
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
    expect(m_outstanding(net_of(b).mb)).toEqual({ mbufs: 0, clusters: 0 });
  });

  it('a DF datagram larger than the MTU is EMSGSIZE (raw IP_HDRINCL)', async () => {
    const L = lab(5);
    const a = await L.boot('a');
    const b = await L.boot('b');
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const raw = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    await a.sys.setsockopt(raw, IPPROTO_IP, IP_HDRINCL, 1);
    const pkt = new Uint8Array(2000);
    IpRepr.emit({ tos: 0, len: 2000, id: 1, off: IP_DF, ttl: 64, p: 253, src: a4('10.0.0.1'), dst: a4('10.0.0.2'), options: new Uint8Array(0) }, pkt, 0);
    await expect(a.sys.sendto(raw, pkt, 0, sin('10.0.0.2'))).rejects.toMatchObject({ code: 'EMSGSIZE' });
    expect(inet_stats(a).ip.ips_cantfrag).toBe(1);
    await closeAll(a, [raw]);
  });
});

describe('ARP', () => {
  async function pair(seed: number): Promise<{ L: Lab; a: Kernel; b: Kernel; cap: Captured; srv: number; cli: number }> {
    const L = lab(seed);
    const a = await L.boot('a');
    const b = await L.boot('b');
    const cap = capture(L.net.bus('bus0'));
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const srv = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.bind(srv, sin('0.0.0.0', 5000));
    const cli = await a.sys.socket(AF_INET, SOCK_DGRAM);
    return { L, a, b, cap, srv, cli };
  }

  it('holds packets while resolving: NetBSD keeps only the newest (arp_maxhold 1)', async () => {
    const { a, b, srv, cli } = await pair(10);
    for (const m of ['first', 'second', 'third']) await a.sys.sendto(cli, m, 0, sin('10.0.0.2', 5000));
    expect(new TextDecoder().decode((await recvWithin(b, srv)).data)).toBe('third');
    await expect(recvWithin(b, srv, 100)).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(inet_stats(a).arp).toMatchObject({ arps_dfrtotal: 3, arps_dfrdropped: 2, arps_dfrsent: 1 });
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
  });

  it('with net.inet.arp.maxhold raised, the first packets are held and then all sent, in order', async () => {
    const { a, b, cap, srv, cli } = await pair(11);
    await a.sys.sysctl('net.inet.arp.maxhold', 4);
    for (const m of ['first', 'second', 'third']) await a.sys.sendto(cli, m, 0, sin('10.0.0.2', 5000));
    /* Nothing has gone out but the request: the datagrams wait on the entry. */
    expect(arp_list(a)[0]).toMatchObject({ addr: '10.0.0.2', state: 'incomplete', mac: null });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(new TextDecoder().decode((await recvWithin(b, srv)).data));
    expect(got).toEqual(['first', 'second', 'third']);
    expect(inet_stats(a).arp).toMatchObject({ arps_dfrtotal: 3, arps_dfrdropped: 0, arps_dfrsent: 3 });
    /* One request for 10.0.0.2 however many packets waited. */
    expect(arps(cap).filter((p) => p!.op === 1 && p!.tpa === a4('10.0.0.2') && p!.spa === a4('10.0.0.1'))).toHaveLength(1);
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
  });

  it('forgets a resolved entry after net.inet.arp.keep (1200 s) and asks again', async () => {
    const { L, a, b, cap, srv, cli } = await pair(12);
    await a.sys.sendto(cli, 'x', 0, sin('10.0.0.2', 5000));
    await recvWithin(b, srv);
    expect(arp_list(a)).toHaveLength(1);
    await L.w.advance(1199 * 1000);
    expect(arp_list(a)[0]!.expire).toBeLessThanOrEqual(1);
    await L.w.advance(2000);
    expect(arp_list(a)).toEqual([]);
    const before = arps(cap).filter((p) => p!.op === 1 && p!.tpa === a4('10.0.0.2')).length;
    await a.sys.sendto(cli, 'y', 0, sin('10.0.0.2', 5000));
    expect(new TextDecoder().decode((await recvWithin(b, srv)).data)).toBe('y');
    expect(arps(cap).filter((p) => p!.op === 1 && p!.tpa === a4('10.0.0.2')).length).toBe(before + 1);
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
  });

  it('gives up on a silent host after arp_maxtries requests: EHOSTDOWN for arpt_down seconds', async () => {
    const { L, a, b, cap, srv, cli } = await pair(13);
    const ask99 = (): number => arps(cap).filter((p) => p!.op === 1 && p!.tpa === a4('10.0.0.99')).length;
    await a.sys.sendto(cli, 'x', 0, sin('10.0.0.99', 5000));
    await L.w.advance(10 * 1000);
    expect(ask99()).toBe(5);
    expect(arp_list(a)).toContainEqual(expect.objectContaining({ addr: '10.0.0.99', state: 'down' }));
    expect(inet_stats(a).arp.arps_dfrdropped).toBe(1);
    await expect(a.sys.sendto(cli, 'x', 0, sin('10.0.0.99', 5000))).rejects.toMatchObject({ code: 'EHOSTDOWN' });
    expect(ask99()).toBe(5);
    /* Down from the fifth second (the last request unanswered) for 20 s. */
    await L.w.advance(14 * 1000);
    expect(arp_list(a).find((e) => e.addr === '10.0.0.99')).toBeDefined();
    await L.w.advance(2 * 1000);
    expect(arp_list(a).find((e) => e.addr === '10.0.0.99')).toBeUndefined();
    await a.sys.sendto(cli, 'x', 0, sin('10.0.0.99', 5000));
    await L.w.advance(100);
    expect(ask99()).toBe(6);
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
  });

  it('announces a new address with a gratuitous ARP, and logs a duplicate', async () => {
    const L = lab(14);
    const a = await L.boot('a');
    const c = await L.boot('c');
    const cap = capture(L.net.bus('bus0'));
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await L.w.advance(10);
    const garp = arps(cap).filter((p) => p!.op === 1 && p!.spa === a4('10.0.0.1') && p!.tpa === a4('10.0.0.1'));
    expect(garp).toHaveLength(1);
    /* An alias is announced too. */
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.5');
    await L.w.advance(10);
    expect(arps(cap).filter((p) => p!.spa === a4('10.0.0.5') && p!.tpa === a4('10.0.0.5'))).toHaveLength(1);
    /* c takes a's address: a sees c's announcement, logs it and defends. */
    await ifconfig(c, 'shmif0', 'bus0', '10.0.0.1');
    await L.w.advance(10);
    const cmac = ether_ntoa(ifunit(c, 'shmif0')!.if_sadl);
    expect(a.dmesg()).toContain(`arp: ${cmac} is using my IP address 10.0.0.1 on shmif0!`);
    expect(inet_stats(a).arp.arps_rcvlocalspa).toBe(1);
    expect(arps(cap).filter((p) => p!.op === 2 && p!.spa === a4('10.0.0.1'))).toHaveLength(1);
  });

  it('static entries need no request, are listed permanent, and the wire cannot change them', async () => {
    const { L, a, b, cap, srv, cli } = await pair(15);
    const bmac = ifunit(b, 'shmif0')!.if_sadl;
    expect(arp_add(a, a4('10.0.0.2'), bmac)).toBe(0);
    expect(arp_format(a)).toBe(`? (10.0.0.2) at ${ether_ntoa(bmac)} on shmif0 permanent\n`);
    await a.sys.sendto(cli, 'static', 0, sin('10.0.0.2', 5000));
    expect(new TextDecoder().decode((await recvWithin(b, srv)).data)).toBe('static');
    expect(arps(cap).filter((p) => p!.op === 1 && p!.spa === a4('10.0.0.1') && p!.tpa === a4('10.0.0.2'))).toHaveLength(0);
    /* A forged reply claiming 10.0.0.2. */
    const forged = new Uint8Array(42);
    forged.set(ifunit(a, 'shmif0')!.if_sadl, 0);
    forged.set([0x02, 0, 0, 0, 0, 0x66], 6);
    forged[12] = 0x08;
    forged[13] = 0x06;
    ArpRepr.emit({ op: 2, sha: forged.slice(6, 12), spa: a4('10.0.0.2'), tha: forged.slice(0, 6), tpa: a4('10.0.0.1') }, forged, 14);
    L.net.bus('bus0').inject(forged);
    await L.w.advance(10);
    expect(inet_stats(a).arp.arps_rcvoverperm).toBe(1);
    expect(arp_list(a)[0]!.mac).toBe(ether_ntoa(bmac));
    expect(arp_delete(a, a4('10.0.0.2'))).toBe(0);
    expect(arp_delete(a, a4('10.0.0.2'))).toBe(3);
    expect(arp_add(a, a4('10.9.9.9'), bmac)).toBe(51);
    await closeAll(a, [cli]);
    await closeAll(b, [srv]);
  });
});

describe('interface teardown', () => {
  it('destroying an interface takes its addresses, routes, ARP entries and cached routes', async () => {
    const L = lab(50);
    const a = await L.boot('a');
    const b = await L.boot('b');
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.9');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const srv = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.bind(srv, sin('0.0.0.0', 5000));
    const c = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.connect(c, sin('10.0.0.2', 5000));
    await a.sys.send(c, 'before');
    await recvWithin(b, srv);
    /* A packet waiting on an unresolved entry when the interface goes. */
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.sendto(u, 'held', 0, sin('10.0.0.99', 5000));
    expect(arp_list(a).map((e) => e.addr)).toEqual(['10.0.0.2', '10.0.0.99']);
    const s = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: 'shmif0' });
    expect(a.inet!.in_ifaddrhead.map((ia) => ia.ia_addr)).toEqual([a4('127.0.0.1')]);
    expect(a.rt!.rt_walk().map((rt) => rt.rt_ifp.if_xname)).toEqual(['lo0', 'lo0']);
    expect(arp_list(a)).toEqual([]);
    expect(inet_stats(a).arp.arps_dfrdropped).toBe(1);
    await expect(a.sys.send(c, 'after')).rejects.toMatchObject({ code: 'EHOSTUNREACH' });
    await expect(a.sys.ioctl(s, SIOCGIFADDR, { ifr_name: 'shmif0' })).rejects.toMatchObject({ code: 'ENXIO' });
    /* A new interface with the same address works again. */
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await a.sys.send(c, 'again');
    expect(new TextDecoder().decode((await recvWithin(b, srv)).data)).toBe('again');
    await closeAll(a, [c, u, s]);
    await closeAll(b, [srv]);
    await L.w.advance(100);
    expect(m_outstanding(net_of(a).mb)).toEqual({ mbufs: 0, clusters: 0 });
  });
});

describe('broadcast', () => {
  it('needs SO_BROADCAST; reaches every socket on the port; no port is not an ICMP error', async () => {
    const L = lab(20);
    const ks = [await L.boot('a'), await L.boot('b'), await L.boot('c')];
    for (let i = 0; i < 3; i++) await ifconfig(ks[i]!, 'shmif0', 'bus0', `10.0.0.${i + 1}`);
    const [a, b, c] = ks as [Kernel, Kernel, Kernel];
    const sb = await b.sys.socket(AF_INET, SOCK_DGRAM);
    const sc = await c.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.bind(sb, sin('0.0.0.0', 5000));
    await c.sys.bind(sc, sin('0.0.0.0', 5000));
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await expect(a.sys.sendto(u, 'all', 0, sin('10.0.0.255', 5000))).rejects.toMatchObject({ code: 'EACCES' });
    await a.sys.setsockopt(u, SOL_SOCKET, SO_BROADCAST, 1);
    await a.sys.sendto(u, 'all', 0, sin('10.0.0.255', 5000));
    await a.sys.sendto(u, 'everyone', 0, sin('255.255.255.255', 5000));
    for (const [k, s] of [[b, sb], [c, sc]] as const) {
      expect(new TextDecoder().decode((await recvWithin(k, s)).data)).toBe('all');
      const r = await recvWithin(k, s);
      expect(new TextDecoder().decode(r.data)).toBe('everyone');
      expect(r.from.sin_addr).toBe('10.0.0.1');
    }
    await a.sys.sendto(u, 'nobody', 0, sin('10.0.0.255', 5001));
    /* A ping to the broadcast address is ignored (net.inet.icmp.bmcastecho 0). */
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    await a.sys.setsockopt(ic, SOL_SOCKET, SO_BROADCAST, 1);
    await a.sys.sendto(ic, echo(1, 1, new Uint8Array(8)), 0, sin('10.0.0.255'));
    await expect(recvIcmp(a, ic, 0, 200)).rejects.toMatchObject({ code: 'EAGAIN' });
    for (const k of [b, c]) {
      const st = inet_stats(k);
      expect(st.udp.udps_noportbcast).toBe(1);
      expect(st.icmp.icps_bmcastecho).toBe(1);
      expect(st.icmp.icps_error).toBe(0);
    }
    await closeAll(a, [u, ic]);
    await closeAll(b, [sb]);
    await closeAll(c, [sc]);
  });
});

describe('a router between two buses', () => {
  /*
   *   a 10.0.1.1 --bus1-- 10.0.1.254 r 10.0.2.254 --bus2-- 10.0.2.1 c
   *   (d 10.0.1.50 on bus1 routes 10.0.5/24, for the redirect test)
   */
  async function topo(seed: number): Promise<{ L: Lab; a: Kernel; r: Kernel; c: Kernel; cap1: Captured; cap2: Captured }> {
    const L = lab(seed);
    const a = await L.boot('a');
    const r = await L.boot('r');
    const c = await L.boot('c');
    const cap1 = capture(L.net.bus('bus1'));
    const cap2 = capture(L.net.bus('bus2'));
    await ifconfig(a, 'shmif0', 'bus1', '10.0.1.1');
    await ifconfig(r, 'shmif0', 'bus1', '10.0.1.254');
    await ifconfig(r, 'shmif1', 'bus2', '10.0.2.254');
    await ifconfig(c, 'shmif0', 'bus2', '10.0.2.1');
    route(a, '0.0.0.0', 0, '10.0.1.254');
    route(c, '0.0.0.0', 0, '10.0.2.254');
    await r.sys.sysctl('net.inet.ip.forwarding', 1);
    return { L, a, r, c, cap1, cap2 };
  }

  it('forwards, decrementing the TTL with a correct checksum', async () => {
    const { a, r, c, cap2 } = await topo(30);
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    await a.sys.sendto(ic, echo(9, 1, new Uint8Array(32)), 0, sin('10.0.2.1'));
    expect((await recvIcmp(a, ic, 0)).from).toEqual(sin('10.0.2.1'));
    const srv = await c.sys.socket(AF_INET, SOCK_DGRAM);
    await c.sys.bind(srv, sin('0.0.0.0', 53));
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.sendto(u, 'through', 0, sin('10.0.2.1', 53));
    const got = await recvWithin(c, srv);
    expect(new TextDecoder().decode(got.data)).toBe('through');
    expect(got.from.sin_addr).toBe('10.0.1.1');
    const udp = cap2.frames.filter((f) => f[12] === 8 && f[13] === 0 && f[23] === IPPROTO_UDP);
    expect(udp).toHaveLength(1);
    expect(udp[0]![22]).toBe(63);
    expect(cap2.bad).toEqual([]);
    expect(inet_stats(r).ip).toMatchObject({ ips_forward: 3, ips_cantforward: 0 });
    await closeAll(a, [ic, u]);
    await closeAll(c, [srv]);
  });

  it('answers TTL 1 with ICMP time exceeded from its inbound address', async () => {
    const { a, r, c } = await topo(31);
    const srv = await c.sys.socket(AF_INET, SOCK_DGRAM);
    await c.sys.bind(srv, sin('0.0.0.0', 53));
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.setsockopt(u, IPPROTO_IP, IP_TTL, 1);
    await a.sys.sendto(u, 'short-lived', 0, sin('10.0.2.1', 53));
    const te = await recvIcmp(a, ic, 11);
    expect(te.code).toBe(0);
    expect(te.from).toEqual(sin('10.0.1.254'));
    /* It quotes our datagram: header and the first 8 bytes (the UDP header). */
    expect(((te.body[8 + 16]! << 24) | (te.body[8 + 17]! << 16) | (te.body[8 + 18]! << 8) | te.body[8 + 19]!) >>> 0).toBe(a4('10.0.2.1'));
    await expect(recvWithin(c, srv, 100)).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(inet_stats(r).icmp.icps_outhist[11]).toBe(1);
    expect(inet_stats(r).ip.ips_forward).toBe(0);
    await closeAll(a, [ic, u]);
    await closeAll(c, [srv]);
  });

  it('answers a destination it has no route to with ICMP net unreachable', async () => {
    const { a, r } = await topo(32);
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.sendto(u, 'lost', 0, sin('10.0.3.1', 53));
    const un = await recvIcmp(a, ic, 3);
    expect(un.code).toBe(0);
    expect(un.from).toEqual(sin('10.0.1.254'));
    expect(inet_stats(r).ip).toMatchObject({ ips_noroute: 1, ips_cantforward: 1 });
    await closeAll(a, [ic, u]);
  });

  it('with forwarding off, drops and counts (ips_cantforward), silently', async () => {
    const { a, r, c } = await topo(33);
    await r.sys.sysctl('net.inet.ip.forwarding', 0);
    const srv = await c.sys.socket(AF_INET, SOCK_DGRAM);
    await c.sys.bind(srv, sin('0.0.0.0', 53));
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.sendto(u, 'x', 0, sin('10.0.2.1', 53));
    await expect(recvWithin(c, srv, 200)).rejects.toMatchObject({ code: 'EAGAIN' });
    await a.sys.sendto(ic, echo(1, 1, new Uint8Array(8)), 0, sin('10.0.2.1'));
    await expect(recvIcmp(a, ic, 0, 200)).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(inet_stats(r).ip).toMatchObject({ ips_cantforward: 2, ips_forward: 0 });
    expect(inet_stats(r).icmp.icps_error).toBe(0);
    await closeAll(a, [ic, u]);
    await closeAll(c, [srv]);
  });

  it('sends a redirect when a datagram leaves by the interface it came in on', async () => {
    const { L, a, r } = await topo(34);
    const d = await L.boot('d');
    await ifconfig(d, 'shmif0', 'bus1', '10.0.1.50');
    route(a, '10.0.5.0', 24, '10.0.1.254');
    route(r, '10.0.5.0', 24, '10.0.1.50');
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.sendto(u, 'x', 0, sin('10.0.5.1', 53));
    await L.w.advance(100);
    expect(inet_stats(r).ip).toMatchObject({ ips_forward: 1, ips_redirectsent: 1 });
    expect(inet_stats(a).icmp.icps_inhist[5]).toBe(1);
    const host = a.rt!.rt_get(a4('10.0.5.1'), 32);
    expect(host).not.toBeNull();
    expect(host!.rt_gateway).toBe(a4('10.0.1.50'));
    expect(host!.rt_flags & (RTF_DYNAMIC | RTF_GATEWAY)).toBe(RTF_DYNAMIC | RTF_GATEWAY);
    expect(a.rt!.rtstat.rts_dynamic).toBe(1);
    /* The next datagram goes straight to d. */
    await a.sys.sendto(u, 'y', 0, sin('10.0.5.1', 53));
    await L.w.advance(100);
    expect(inet_stats(r).ip.ips_forward).toBe(1);
    await closeAll(a, [u]);
  });

  it('fragments onto a smaller MTU, and answers DF with "need to fragment" and the MTU', async () => {
    const { a, r, c, cap2 } = await topo(35);
    const s = await r.sys.socket(AF_INET, SOCK_DGRAM);
    await r.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif1', ifr_mtu: 576 });
    await r.sys.close(s);
    const srv = await c.sys.socket(AF_INET, SOCK_DGRAM);
    await c.sys.bind(srv, sin('0.0.0.0', 53));
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    const data = new Uint8Array(1400).map((_, i) => i & 0xff);
    await a.sys.sendto(u, 'warm', 0, sin('10.0.2.1', 53));
    await recvWithin(c, srv);
    await a.sys.sendto(u, data, 0, sin('10.0.2.1', 53));
    expect((await recvWithin(c, srv)).data).toEqual(data);
    expect(inet_stats(r).ip).toMatchObject({ ips_fragmented: 1, ips_ofragments: 3 });
    expect(inet_stats(c).ip.ips_reassembled).toBe(1);
    expect(Math.max(...cap2.frames.map((f) => f.length))).toBeLessThanOrEqual(576 + 14);
    const raw = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    await a.sys.setsockopt(raw, IPPROTO_IP, IP_HDRINCL, 1);
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const pkt = new Uint8Array(1000);
    IpRepr.emit({ tos: 0, len: 1000, id: 77, off: IP_DF, ttl: 64, p: 253, src: a4('10.0.1.1'), dst: a4('10.0.2.1'), options: new Uint8Array(0) }, pkt, 0);
    await a.sys.sendto(raw, pkt, 0, sin('10.0.2.1'));
    const nf = await recvIcmp(a, ic, 3);
    expect(nf.code).toBe(4);
    expect((nf.body[6]! << 8) | nf.body[7]!).toBe(576);
    expect(inet_stats(r).ip.ips_cantfrag).toBe(1);
    await closeAll(a, [u, raw, ic]);
    await closeAll(c, [srv]);
  });
});

describe('checksum offload on the bus', () => {
  it('leaves checksums to the "hardware" when the bus offers it, and still delivers', async () => {
    const L = lab(40);
    const a = await L.boot('a');
    const b = await L.boot('b');
    L.net.bus('bus0').setChecksumOffload(true);
    await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
    const cap = capture(L.net.bus('bus0'));
    const srv = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.bind(srv, sin('0.0.0.0', 5000));
    const u = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.sendto(u, 'offloaded', 0, sin('10.0.0.2', 5000));
    expect(new TextDecoder().decode((await recvWithin(b, srv)).data)).toBe('offloaded');
    /* The wire carries what the sender left: no IP header checksum, a partial UDP one. */
    expect(cap.bad.length).toBeGreaterThan(0);
    expect(inet_stats(b).ip.ips_badsum).toBe(0);
    expect(inet_stats(b).udp.udps_badsum).toBe(0);
    await closeAll(a, [u]);
    await closeAll(b, [srv]);
  });
});
