/*
 * libnetinet in one kernel (sim host): lo0's configuration at boot, the
 * address ioctls, ping over lo0 with a raw ICMP socket, UDP over lo0, the
 * bind rules (EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT), random ephemeral
 * ports, ICMP port unreachable -> ECONNREFUSED, IP_HDRINCL, protocol
 * unreachable, the sysctl tree, and mbuf exhaustion (ENOBUFS, then
 * recovery) -- with no mbuf left behind.
 */
import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { echo, recvWithin, sin } from './inet_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { m_outstanding } from '../librump/rumpnet/uipc_mbuf.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { rumpnet_netinet_component, inet_stats } from '../net/lib/libnetinet/netinet_component.ts';
import {
  IPPROTO_ICMP, IPPROTO_RAW, IPPROTO_UDP, IP_HDRINCL, IP_PORTRANGE, IP_PORTRANGE_LOW, IP_TOS, IP_TTL, IPPROTO_IP,
} from '../net/lib/libnetinet/in.ts';
import { in_cksum } from '../net/lib/libnetinet/in_cksum.ts';
import { IpRepr } from '../net/lib/libnetinet/ip.ts';
import {
  AF_INET, MSG_DONTWAIT, SO_BROADCAST, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SOCK_DGRAM,
  SOCK_RAW, SOL_SOCKET, type SockaddrIn,
} from '../include/socket.ts';
import {
  IFF_LOOPBACK, IFF_RUNNING, IFF_UP, SIOCAIFADDR, SIOCDIFADDR, SIOCGIFADDR, SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFNETMASK,
  type IfconfEntry, type Ifreq,
} from '../include/if.ts';

const comps = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component];

async function boot(seed = 1): Promise<Kernel> {
  const w = simWorld({ seed });
  return bootSim(w, { name: 'k', components: comps });
}

/** An ICMP echo request: type 8, id, seq, data, checksum. */
function quoted(b: Uint8Array, off: number): { tos: number; id: number; ttl: number; p: number; src: number; dst: number } {
  const rd32 = (o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  return { tos: b[off + 1]!, id: (b[off + 4]! << 8) | b[off + 5]!, ttl: b[off + 8]!, p: b[off + 9]!, src: rd32(off + 12), dst: rd32(off + 16) };
}

async function noLeaks(k: Kernel, ...fds: number[]): Promise<void> {
  for (const fd of fds) await k.sys.close(fd);
  expect(m_outstanding(net_of(k).mb)).toEqual({ mbufs: 0, clusters: 0 });
}

describe('boot and address configuration', () => {
  it('lo0 is up with 127.0.0.1/8 and its routes', async () => {
    const k = await boot();
    const lo0 = ifunit(k, 'lo0')!;
    expect(lo0.if_flags & (IFF_UP | IFF_RUNNING | IFF_LOOPBACK)).toBe(IFF_UP | IFF_RUNNING | IFF_LOOPBACK);
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    const a = (await k.sys.ioctl(s, SIOCGIFADDR, { ifr_name: 'lo0' })) as Ifreq;
    expect(a.ifr_addr).toEqual(sin('127.0.0.1'));
    const m = (await k.sys.ioctl(s, SIOCGIFNETMASK, { ifr_name: 'lo0' })) as Ifreq;
    expect(m.ifr_addr).toEqual(sin('255.0.0.0'));
    const conf = (await k.sys.ioctl(s, SIOCGIFCONF, {})) as IfconfEntry[];
    expect(conf).toContainEqual({ ifr_name: 'lo0', ifr_addr: sin('127.0.0.1') });
    expect(k.rt!.rt_format_table()).toMatch(/127\/8 +link#1 +UC .* lo0\n127\.0\.0\.1 +link#1 +UHl .* lo0/);
    await noLeaks(k, s);
  });

  it('SIOCAIFADDR adds aliases with masks, SIOCDIFADDR removes them, errors as NetBSD', async () => {
    const k = await boot();
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'lo0', ifra_addr: sin('127.1.0.1'), ifra_mask: sin('255.255.0.0') });
    await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'lo0', ifra_addr: sin('10.9.9.9') });
    const conf = (await k.sys.ioctl(s, SIOCGIFCONF, {})) as IfconfEntry[];
    expect(conf.filter((e) => e.ifr_name === 'lo0').map((e) => e.ifr_addr)).toEqual([
      expect.objectContaining({ sdl_family: 18 }), sin('127.0.0.1'), sin('127.1.0.1'), sin('10.9.9.9'),
    ]);
    /* No mask given: the class mask (10/8). */
    expect(((await k.sys.ioctl(s, SIOCGIFNETMASK, { ifr_name: 'lo0', ifr_addr: sin('10.9.9.9') })) as Ifreq).ifr_addr)
      .toEqual(sin('255.0.0.0'));
    expect(k.rt!.rt_get(0x7f010000, 16)).not.toBeNull();
    /* A non-contiguous mask, a multicast address, a missing interface. */
    await expect(k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'lo0', ifra_addr: sin('10.1.1.1'), ifra_mask: sin('255.0.255.0') }))
      .rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'lo0', ifra_addr: sin('224.0.0.5') })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'nope0', ifra_addr: sin('10.1.1.1') })).rejects.toMatchObject({ code: 'ENXIO' });
    /* The alias answers, then goes away with its routes. */
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.bind(u, sin('10.9.9.9', 7000));
    await k.sys.ioctl(s, SIOCDIFADDR, { ifr_name: 'lo0', ifr_addr: sin('10.9.9.9') });
    expect(k.rt!.rt_get(0x0a090909, 32)).toBeNull();
    expect(k.rt!.rt_get(0x0a000000, 8)).toBeNull();
    await expect(k.sys.ioctl(s, SIOCDIFADDR, { ifr_name: 'lo0', ifr_addr: sin('10.9.9.9') })).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
    const u2 = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await expect(k.sys.bind(u2, sin('10.9.9.9', 7001))).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
    const f = (await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'lo0' })) as Ifreq;
    expect(f.ifr_flags! & IFF_UP).toBe(IFF_UP);
    await noLeaks(k, s, u, u2);
  });

  it('publishes net.inet sysctls with NetBSD names and defaults', async () => {
    const k = await boot();
    expect(await k.sys.sysctl('net.inet.ip.forwarding')).toBe(0);
    expect(await k.sys.sysctl('net.inet.ip.ttl')).toBe(64);
    expect(await k.sys.sysctl('net.inet.ip.anonportmin')).toBe(49152);
    expect(await k.sys.sysctl('net.inet.ip.anonportmax')).toBe(65535);
    expect(await k.sys.sysctl('net.inet.ip.ifq.maxlen')).toBe(256);
    expect(await k.sys.sysctl('net.inet.icmp.errppslimit')).toBe(100);
    expect(await k.sys.sysctl('net.inet.udp.sendspace')).toBe(9216);
    expect(await k.sys.sysctl('net.inet.arp.keep')).toBe(1200);
    expect(await k.sys.sysctl('net.inet.arp.down')).toBe(20);
    expect(await k.sys.sysctl('net.inet.ip.stats')).toMatchObject({ ips_total: 0, ips_badsum: 0 });
    expect(await k.sys.sysctl('net.inet.udp.stats')).toMatchObject({ udps_ipackets: 0 });
    expect(await k.sys.sysctl('net.inet.icmp.stats')).toMatchObject({ icps_error: 0 });
    expect(await k.sys.sysctl('net.inet.arp.stats')).toMatchObject({ arps_sndtotal: 0 });
    /* NetBSD's MIB numbers: net(4).inet(2).ip(0).ttl(3). */
    expect(await k.sys.sysctl([4, 2, 0, 3])).toBe(64);
    await k.sys.sysctl('net.inet.ip.ttl', 30);
    expect(await k.sys.sysctl('net.inet.ip.ttl')).toBe(30);
    await expect(k.sys.sysctl('net.inet.ip.ttl', 0)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.sysctl('net.inet.ip.anonportmin', 70000)).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('ping over lo0', () => {
  it('a raw ICMP socket gets an echo reply from 127.0.0.1', async () => {
    const k = await boot();
    const s = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const data = new TextEncoder().encode('ping payload 0123456789');
    await k.sys.sendto(s, echo(0x4242, 7, data), 0, sin('127.0.0.1'));
    const r = await recvWithin(k, s);
    expect(r.from).toEqual(sin('127.0.0.1'));
    const ip = IpRepr.parse(r.data, 0, r.data.length)!;
    expect(ip).toMatchObject({ p: IPPROTO_ICMP, src: 0x7f000001, dst: 0x7f000001 });
    const icmp = r.data.subarray(20);
    expect(icmp[0]).toBe(0);
    expect([icmp[4], icmp[5], icmp[6], icmp[7]]).toEqual([0x42, 0x42, 0, 7]);
    expect(icmp.subarray(8)).toEqual(data);
    expect(in_cksum(icmp, 0, icmp.length)).toBe(0);
    const st = inet_stats(k);
    expect(st.icmp.icps_inhist[8]).toBe(1);
    expect(st.icmp.icps_inhist[0]).toBe(1);
    expect(st.icmp.icps_outhist[0]).toBe(1);
    expect(st.icmp.icps_reflect).toBe(1);
    expect(st.ip.ips_delivered).toBe(2);
    await noLeaks(k, s);
  });

  it('IP_HDRINCL sends the user header; an unknown protocol gets a protocol unreachable', async () => {
    const k = await boot();
    const ic = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const raw = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    await k.sys.setsockopt(raw, IPPROTO_IP, IP_HDRINCL, 1);
    expect(await k.sys.getsockopt(raw, IPPROTO_IP, IP_HDRINCL)).toBe(1);
    const payload = new Uint8Array(12).fill(0x5a);
    const pkt = new Uint8Array(20 + payload.length);
    IpRepr.emit({ tos: 0, len: pkt.length, id: 0, off: 0, ttl: 9, p: 253, src: 0x7f000001, dst: 0x7f000001, options: new Uint8Array(0) }, pkt, 0);
    pkt.set(payload, 20);
    await k.sys.sendto(raw, pkt, 0, sin('127.0.0.1'));
    const r = await recvWithin(k, ic);
    const icmp = r.data.subarray(20);
    expect([icmp[0], icmp[1]]).toEqual([3, 2]);
    /* The quoted header is ours, with the ID the kernel filled in. */
    const q = quoted(icmp, 8);
    expect(q).toMatchObject({ p: 253, ttl: 9 });
    expect(q.id).not.toBe(0);
    const st = inet_stats(k);
    expect(st.ip.ips_noproto).toBe(1);
    expect(st.ip.ips_rawout).toBe(1);
    /* ip_len must match what was sent. */
    pkt[3] ^= 1;
    await expect(k.sys.sendto(raw, pkt, 0, sin('127.0.0.1'))).rejects.toMatchObject({ code: 'EINVAL' });
    await noLeaks(k, ic, raw);
  });
});

describe('UDP over lo0', () => {
  it('delivers datagrams with the sender address; connect, getsockname, getpeername', async () => {
    const k = await boot();
    const srv = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.bind(srv, sin('0.0.0.0', 5353));
    expect(await k.sys.getsockname(srv)).toEqual(sin('0.0.0.0', 5353));
    const cli = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.connect(cli, sin('127.0.0.1', 5353));
    const me = (await k.sys.getsockname(cli)) as SockaddrIn;
    expect(me.sin_addr).toBe('127.0.0.1');
    expect(me.sin_port).toBeGreaterThanOrEqual(49152);
    expect(await k.sys.getpeername(cli)).toEqual(sin('127.0.0.1', 5353));
    await k.sys.send(cli, 'one');
    await k.sys.send(cli, new Uint8Array(0));
    const a = await recvWithin(k, srv);
    expect(new TextDecoder().decode(a.data)).toBe('one');
    expect(a.from).toEqual(me);
    const b = await recvWithin(k, srv);
    expect(b.data.length).toBe(0);
    /* The reply finds the connected socket. */
    await k.sys.sendto(srv, 'two', 0, me);
    expect(new TextDecoder().decode((await recvWithin(k, cli)).data)).toBe('two');
    /* A connected socket refuses another destination, and ignores strangers. */
    await expect(k.sys.sendto(cli, 'x', 0, sin('127.0.0.1', 9))).rejects.toMatchObject({ code: 'EISCONN' });
    const other = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.sendto(other, 'stranger', 0, me);
    await expect(recvWithin(k, cli, 100)).rejects.toMatchObject({ code: 'EAGAIN' });
    const st = inet_stats(k);
    expect(st.udp.udps_opackets).toBe(4);
    expect(st.udp.udps_ipackets).toBe(4);
    expect(st.udp.udps_noport).toBe(1);
    await noLeaks(k, srv, cli, other);
  });

  it('honours IP_TTL and IP_TOS on the datagrams it sends', async () => {
    const k = await boot();
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.setsockopt(u, IPPROTO_IP, IP_TTL, 3);
    await k.sys.setsockopt(u, IPPROTO_IP, IP_TOS, 0x10);
    expect(await k.sys.getsockopt(u, IPPROTO_IP, IP_TTL)).toBe(3);
    expect(await k.sys.getsockopt(u, IPPROTO_IP, IP_TOS)).toBe(0x10);
    await expect(k.sys.setsockopt(u, IPPROTO_IP, IP_TTL, 256)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.setsockopt(u, IPPROTO_IP, IP_HDRINCL, 1)).rejects.toMatchObject({ code: 'ENOPROTOOPT' });
    /* Nobody listens: the port unreachable quotes our header. */
    const ic = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    await k.sys.sendto(u, 'x', 0, sin('127.0.0.1', 9));
    const r = await recvWithin(k, ic);
    const q = quoted(r.data, 28);
    expect(q).toMatchObject({ ttl: 3, tos: 0x10, p: IPPROTO_UDP });
    await noLeaks(k, u, ic);
  });

  it('a connected socket gets ECONNREFUSED after a port unreachable; an unconnected one does not', async () => {
    const k = await boot();
    const c = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.connect(c, sin('127.0.0.1', 9));
    await k.sys.send(c, 'anyone?');
    await expect(recvWithin(k, c)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    /* Reported once. */
    await k.sys.send(c, 'again');
    await expect(recvWithin(k, c)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.sendto(u, 'anyone?', 0, sin('127.0.0.1', 9));
    await expect(recvWithin(k, u, 200)).rejects.toMatchObject({ code: 'EAGAIN' });
    const st = inet_stats(k);
    expect(st.udp.udps_noport).toBe(3);
    expect(st.icmp.icps_outhist[3]).toBe(3);
    expect(st.icmp.icps_inhist[3]).toBe(3);
    await noLeaks(k, c, u);
  });

  it('ICMP errors are rate limited by net.inet.icmp.errppslimit', async () => {
    const k = await boot();
    await k.sys.sysctl('net.inet.icmp.errppslimit', 3);
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM);
    for (let i = 0; i < 10; i++) await k.sys.sendto(u, 'x', MSG_DONTWAIT, sin('127.0.0.1', 9));
    const ic = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    await expect(recvWithin(k, ic, 100)).rejects.toMatchObject({ code: 'EAGAIN' });
    let st = inet_stats(k);
    expect(st.icmp.icps_outhist[3]).toBe(3);
    expect(st.icmp.icps_toofreq).toBe(7);
    expect(st.icmp.icps_error).toBe(10);
    /* The next second has a new budget. */
    await expect(recvWithin(k, ic, 1000)).rejects.toMatchObject({ code: 'EAGAIN' });
    await k.sys.sendto(u, 'x', 0, sin('127.0.0.1', 9));
    await recvWithin(k, ic);
    st = inet_stats(k);
    expect(st.icmp.icps_outhist[3]).toBe(4);
    await noLeaks(k, u, ic);
  });
});

describe('binding', () => {
  it('enforces EADDRINUSE with SO_REUSEADDR and SO_REUSEPORT as NetBSD', async () => {
    const k = await boot();
    const s = async (...opts: number[]): Promise<number> => {
      const fd = await k.sys.socket(AF_INET, SOCK_DGRAM);
      for (const o of opts) await k.sys.setsockopt(fd, SOL_SOCKET, o, 1);
      return fd;
    };
    const a = await s();
    await k.sys.bind(a, sin('0.0.0.0', 6000));
    const fds = [a];
    /* Without options, any overlapping address conflicts. */
    const b = await s();
    fds.push(b);
    await expect(k.sys.bind(b, sin('0.0.0.0', 6000))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(k.sys.bind(b, sin('127.0.0.1', 6000))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    /* SO_REUSEADDR: a specific address beside the wildcard is fine, the same one is not. */
    const c = await s(SO_REUSEADDR);
    fds.push(c);
    await k.sys.bind(c, sin('127.0.0.1', 6000));
    const d = await s(SO_REUSEADDR);
    fds.push(d);
    await expect(k.sys.bind(d, sin('0.0.0.0', 6000))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    /* SO_REUSEPORT: complete duplicates, only if both asked. */
    const e1 = await s(SO_REUSEPORT);
    const e2 = await s(SO_REUSEPORT);
    const e3 = await s();
    const e4 = await s(SO_REUSEPORT);
    fds.push(e1, e2, e3, e4);
    await k.sys.bind(e1, sin('0.0.0.0', 6001));
    await k.sys.bind(e2, sin('0.0.0.0', 6001));
    await expect(k.sys.bind(e3, sin('0.0.0.0', 6001))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await k.sys.bind(e3, sin('0.0.0.0', 6002));
    await expect(k.sys.bind(e4, sin('0.0.0.0', 6002))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    /* Not ours; twice; a closed socket frees its port. */
    const f = await s();
    fds.push(f);
    await expect(k.sys.bind(f, sin('10.1.2.3', 6003))).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
    await k.sys.bind(f, sin('127.0.0.1', 6003));
    await expect(k.sys.bind(f, sin('127.0.0.1', 6004))).rejects.toMatchObject({ code: 'EINVAL' });
    /* c (127.0.0.1:6000) still overlaps a wildcard bind without options; once a and c go, b may bind. */
    await k.sys.close(a);
    fds.splice(fds.indexOf(a), 1);
    await expect(k.sys.bind(b, sin('0.0.0.0', 6000))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await k.sys.close(c);
    fds.splice(fds.indexOf(c), 1);
    await k.sys.bind(b, sin('0.0.0.0', 6000));
    await noLeaks(k, ...fds);
  });

  it('chooses ephemeral ports at random inside net.inet.ip.anonportmin..anonportmax', async () => {
    const k = await boot(5);
    const ports: number[] = [];
    const fds: number[] = [];
    for (let i = 0; i < 40; i++) {
      const fd = await k.sys.socket(AF_INET, SOCK_DGRAM);
      fds.push(fd);
      await k.sys.bind(fd, sin('0.0.0.0', 0));
      ports.push(((await k.sys.getsockname(fd)) as SockaddrIn).sin_port);
    }
    expect(new Set(ports).size).toBe(40);
    for (const p of ports) expect(p).toBeGreaterThanOrEqual(49152);
    /* Not handed out in order: a sequential allocator would give consecutive ports. */
    let ascending = 0;
    for (let i = 1; i < ports.length; i++) if (ports[i] === ports[i - 1]! + 1) ascending++;
    expect(ascending).toBeLessThan(5);
    const spread = Math.max(...ports) - Math.min(...ports);
    expect(spread).toBeGreaterThan(8000);
    /* A narrow range fills up, then EAGAIN. */
    await k.sys.sysctl('net.inet.ip.anonportmin', 40000);
    await k.sys.sysctl('net.inet.ip.anonportmax', 40009);
    const got = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const fd = await k.sys.socket(AF_INET, SOCK_DGRAM);
      fds.push(fd);
      await k.sys.sendto(fd, 'x', 0, sin('127.0.0.1', 9));
      got.add(((await k.sys.getsockname(fd)) as SockaddrIn).sin_port);
    }
    expect([...got].sort()).toEqual([40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007, 40008, 40009]);
    const full = await k.sys.socket(AF_INET, SOCK_DGRAM);
    fds.push(full);
    await expect(k.sys.bind(full, sin('0.0.0.0', 0))).rejects.toMatchObject({ code: 'EAGAIN' });
    /* IP_PORTRANGE_LOW takes from lowportmin..lowportmax. */
    const low = await k.sys.socket(AF_INET, SOCK_DGRAM);
    fds.push(low);
    await k.sys.setsockopt(low, IPPROTO_IP, IP_PORTRANGE, IP_PORTRANGE_LOW);
    await k.sys.bind(low, sin('0.0.0.0', 0));
    const lp = ((await k.sys.getsockname(low)) as SockaddrIn).sin_port;
    expect(lp).toBeGreaterThanOrEqual(600);
    expect(lp).toBeLessThanOrEqual(1023);
    await noLeaks(k, ...fds);
  });
});

describe('mbuf exhaustion and routes', () => {
  it('sendto fails with ENOBUFS when clusters or mbufs run out, and works again after', async () => {
    const k = await boot();
    const srv = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.setsockopt(srv, SOL_SOCKET, SO_RCVBUF, 200000);
    await k.sys.bind(srv, sin('127.0.0.1', 7777));
    const cli = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.setsockopt(cli, SOL_SOCKET, SO_SNDBUF, 65536);
    const big = new Uint8Array(30000).map((_, i) => i * 7);
    await k.sys.sysctl('kern.mbuf.nmbclusters', 4);
    await expect(k.sys.sendto(cli, big, 0, sin('127.0.0.1', 7777))).rejects.toMatchObject({ code: 'ENOBUFS' });
    expect((await k.sys.sysctl('kern.mbuf.stats') as { m_drops: number }).m_drops).toBeGreaterThan(0);
    await k.sys.sysctl('kern.mbuf.nmbclusters', 1024);
    const nout = m_outstanding(net_of(k).mb).mbufs;
    await k.sys.sysctl('kern.mbuf.nmbufs', nout);
    await expect(k.sys.sendto(cli, 'small', 0, sin('127.0.0.1', 7777))).rejects.toMatchObject({ code: 'ENOBUFS' });
    await k.sys.sysctl('kern.mbuf.nmbufs', 4096);
    await k.sys.sendto(cli, big, 0, sin('127.0.0.1', 7777));
    const r = await recvWithin(k, srv);
    expect(r.data).toEqual(big);
    await noLeaks(k, srv, cli);
  });

  it('without a route, sendto fails with ENETUNREACH (broadcast included: lo0 cannot broadcast)', async () => {
    const k = await boot();
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await expect(k.sys.sendto(u, 'x', 0, sin('255.255.255.255', 9))).rejects.toMatchObject({ code: 'ENETUNREACH' });
    await k.sys.setsockopt(u, SOL_SOCKET, SO_BROADCAST, 1);
    await expect(k.sys.sendto(u, 'x', 0, sin('10.1.1.1', 9))).rejects.toMatchObject({ code: 'ENETUNREACH' });
    await noLeaks(k, u);
  });
});
