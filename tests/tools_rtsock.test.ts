/*
 * The routing socket (net/lib/libnet/rtsock.ts) and the net.route sysctl
 * dumps, driven through syscalls as route(8), arp(8) and netstat use them:
 * rt_msghdr requests in NetBSD's binary layout, answers and errors,
 * announcements heard by other routing sockets, and bad messages refused.
 */

import { describe, expect, it } from 'vitest';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { AF_INET, PF_ROUTE, SOCK_DGRAM, SOCK_RAW, SO_USELOOPBACK, SOL_SOCKET, MSG_DONTWAIT } from '../include/socket.ts';
import { IFF_UP, SIOCAIFADDR, SIOCDIFADDR, SIOCGIFFLAGS, SIOCIFCREATE, SIOCIFDESTROY, SIOCSIFFLAGS, type Ifreq } from '../include/if.ts';
import {
  IFAN_ARRIVAL, IFAN_DEPARTURE, RTAX_DST, RTAX_GATEWAY, RTAX_IFA, RTAX_IFP, RTAX_MAX, RTAX_NETMASK, RTAX_BRD,
  RTF_DONE, RTF_GATEWAY, RTF_HOST, RTF_LLDATA, RTF_STATIC, RTF_UP, RTM_ADD, RTM_CHANGE, RTM_DELADDR, RTM_DELETE,
  RTM_GET, RTM_IFANNOUNCE, RTM_IFINFO, RTM_NEWADDR, RTM_VERSION, RTV_MTU, RT_MSGHDR_LEN, rt_anymsg_parse, rt_msg_build,
  rt_msg_parse, rtm_blank, sa_dl, sa_dl_parse, sa_in, sa_in_addr, type IflistEntry, type LlinfoEntry,
  type RtDumpEntry, type RtMsg,
} from '../include/route.ts';
import { a4, echo, recvWithin, sin } from './inet_helpers.ts';
import { pair } from './tools_helpers.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';

const STATIC_GW = RTF_UP | RTF_GATEWAY | RTF_STATIC;

function addrs(map: Partial<Record<number, Uint8Array>>): (Uint8Array | null)[] {
  const a: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
  for (const [i, sa] of Object.entries(map)) a[Number(i)] = sa ?? null;
  return a;
}

function msg(type: number, flags: number, map: Partial<Record<number, Uint8Array>>, seq = 1): Uint8Array {
  const h = rtm_blank(type);
  h.rtm_flags = flags;
  h.rtm_seq = seq;
  return rt_msg_build(h, addrs(map));
}

/** Write a request; resolve to its errno (0 on success). */
async function send(k: Kernel, s: number, m: Uint8Array): Promise<number> {
  try {
    await k.sys.write(s, m);
    return 0;
  } catch (e) {
    return (e as { errno: number }).errno;
  }
}

/** The next message queued on s, or null if none. */
async function next(k: Kernel, s: number): Promise<Uint8Array | null> {
  const buf = new Uint8Array(2048);
  try {
    const n = await k.sys.recv(s, buf, MSG_DONTWAIT);
    return buf.slice(0, n);
  } catch (e) {
    if ((e as { code: string }).code === 'EAGAIN') return null;
    throw e;
  }
}

async function nextRt(k: Kernel, s: number): Promise<RtMsg> {
  const b = await next(k, s);
  expect(b).not.toBeNull();
  const m = rt_msg_parse(b!);
  if (typeof m === 'string') throw new Error(`bad routing message: ${m}`);
  return m;
}

async function dump(k: Kernel): Promise<RtDumpEntry[]> {
  return (await k.sys.sysctl('net.route.rtable.inet.dump')) as RtDumpEntry[];
}

describe('routing socket', () => {
  it('RTM_ADD, RTM_GET, RTM_CHANGE and RTM_DELETE of a gateway route; answers carry the route', async () => {
    const { a } = await pair();
    const s = await a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
    const pid = await a.sys.getpid();
    const mask16 = sa_in(0xffff0000);
    expect(await send(a, s, msg(RTM_ADD, STATIC_GW, { [RTAX_DST]: sa_in(a4('10.1.0.0')), [RTAX_GATEWAY]: sa_in(a4('10.0.0.2')), [RTAX_NETMASK]: mask16 }, 7))).toBe(0);
    const add = await nextRt(a, s);
    expect(add.hdr).toMatchObject({ rtm_type: RTM_ADD, rtm_seq: 7, rtm_pid: pid, rtm_errno: 0, rtm_index: 2 });
    expect(add.hdr.rtm_flags & (STATIC_GW | RTF_DONE)).toBe(STATIC_GW | RTF_DONE);
    expect(sa_in_addr(add.addrs[RTAX_GATEWAY]!)).toBe(a4('10.0.0.2'));
    expect(a.rt!.rt_get(a4('10.1.0.0'), 16)).toMatchObject({ rt_gateway: a4('10.0.0.2'), rt_flags: STATIC_GW });

    /* RTM_GET of a host finds the longest match and names interface and source. */
    expect(await send(a, s, msg(RTM_GET, 0, { [RTAX_DST]: sa_in(a4('10.1.2.3')) }, 8))).toBe(0);
    const get = await nextRt(a, s);
    expect(get.hdr).toMatchObject({ rtm_type: RTM_GET, rtm_seq: 8, rtm_errno: 0 });
    expect(sa_in_addr(get.addrs[RTAX_DST]!)).toBe(a4('10.1.0.0'));
    expect(sa_in_addr(get.addrs[RTAX_NETMASK]!)).toBe(0xffff0000);
    expect(sa_in_addr(get.addrs[RTAX_GATEWAY]!)).toBe(a4('10.0.0.2'));
    expect(sa_in_addr(get.addrs[RTAX_IFA]!)).toBe(a4('10.0.0.1'));
    expect(sa_dl_parse(get.addrs[RTAX_IFP]!)).toMatchObject({ sdl_index: 2, sdl_name: 'shmif0', sdl_addr: a.ifnet!.byname.get('shmif0')!.if_sadl });

    /* RTM_CHANGE: an MTU. */
    const ch = rtm_blank(RTM_CHANGE);
    ch.rtm_flags = STATIC_GW;
    ch.rtm_inits = RTV_MTU;
    ch.rtm_rmx.rmx_mtu = 1280;
    expect(await send(a, s, rt_msg_build(ch, addrs({ [RTAX_DST]: sa_in(a4('10.1.0.0')), [RTAX_GATEWAY]: sa_in(a4('10.0.0.2')), [RTAX_NETMASK]: mask16 })))).toBe(0);
    expect((await nextRt(a, s)).hdr.rtm_rmx.rmx_mtu).toBe(1280);
    expect(a.rt!.rt_get(a4('10.1.0.0'), 16)!.rt_rmx.rmx_mtu).toBe(1280);

    expect(await send(a, s, msg(RTM_DELETE, 0, { [RTAX_DST]: sa_in(a4('10.1.0.0')), [RTAX_NETMASK]: mask16 }))).toBe(0);
    expect((await nextRt(a, s)).hdr).toMatchObject({ rtm_type: RTM_DELETE, rtm_errno: 0 });
    expect(a.rt!.rt_get(a4('10.1.0.0'), 16)).toBeNull();
    expect(await next(a, s)).toBeNull();

    /* A default route as route(8) sends it: the netmask trimmed to an empty sockaddr. */
    const def = rtm_blank(RTM_ADD);
    def.rtm_flags = STATIC_GW;
    const m = rt_msg_build(def, addrs({ [RTAX_DST]: sa_in(0), [RTAX_GATEWAY]: sa_in(a4('10.0.0.2')), [RTAX_NETMASK]: new Uint8Array([0]) }));
    expect(m.length).toBe(RT_MSGHDR_LEN + 16 + 16 + 8);
    expect(await send(a, s, m)).toBe(0);
    expect(a.rt!.rt_get(0, 0)).toMatchObject({ rt_gateway: a4('10.0.0.2') });
    await a.sys.close(s);
  });

  it('failures: the write fails with the errno and the answer carries it', async () => {
    const { a } = await pair();
    const s = await a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
    const net = { [RTAX_DST]: sa_in(a4('10.1.0.0')), [RTAX_GATEWAY]: sa_in(a4('10.0.0.2')), [RTAX_NETMASK]: sa_in(0xffff0000) };
    expect(await send(a, s, msg(RTM_ADD, STATIC_GW, net))).toBe(0);
    await nextRt(a, s);
    expect(await send(a, s, msg(RTM_ADD, STATIC_GW, net))).toBe(17 /* EEXIST */);
    expect((await nextRt(a, s)).hdr).toMatchObject({ rtm_errno: 17, rtm_flags: STATIC_GW });
    /* A gateway no interface route reaches. */
    expect(await send(a, s, msg(RTM_ADD, STATIC_GW, { ...net, [RTAX_DST]: sa_in(a4('10.2.0.0')), [RTAX_GATEWAY]: sa_in(a4('192.168.9.9')) }))).toBe(51 /* ENETUNREACH */);
    await nextRt(a, s);
    expect(await send(a, s, msg(RTM_DELETE, 0, { [RTAX_DST]: sa_in(a4('10.9.0.0')), [RTAX_NETMASK]: sa_in(0xffff0000) }))).toBe(3 /* ESRCH */);
    expect((await nextRt(a, s)).hdr.rtm_errno).toBe(3);
    expect(await send(a, s, msg(RTM_GET, 0, { [RTAX_DST]: sa_in(a4('192.168.1.1')) }))).toBe(3);
    await nextRt(a, s);
    /* A non-contiguous mask, a gateway route without a gateway: EINVAL. */
    expect(await send(a, s, msg(RTM_ADD, STATIC_GW, { ...net, [RTAX_NETMASK]: sa_in(0xff00ff00) }))).toBe(22);
    expect(await send(a, s, msg(RTM_ADD, STATIC_GW, { [RTAX_DST]: sa_in(a4('10.3.0.0')) }))).toBe(22);
    await nextRt(a, s);
    expect(a.rt!.rt_get(a4('10.2.0.0'), 16)).toBeNull();
    await a.sys.close(s);
  });

  it('malformed messages are refused without an answer', async () => {
    const { a } = await pair();
    const s = await a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
    const good = msg(RTM_GET, 0, { [RTAX_DST]: sa_in(a4('10.0.0.2')) });
    expect(await send(a, s, good.subarray(0, 50))).toBe(22 /* EINVAL: short */);
    const badlen = good.slice();
    badlen[0] = 200;
    expect(await send(a, s, badlen)).toBe(22);
    const badver = good.slice();
    badver[2] = RTM_VERSION - 1;
    expect(await send(a, s, badver)).toBe(43 /* EPROTONOSUPPORT */);
    /* An address past the end of the message. */
    const trunc = good.slice(0, RT_MSGHDR_LEN + 4);
    trunc[0] = trunc.length;
    expect(await send(a, s, trunc)).toBe(22);
    /* No destination; a destination of another family. */
    expect(await send(a, s, msg(RTM_GET, 0, {}))).toBe(22);
    const six = new Uint8Array(28);
    six[0] = 28;
    six[1] = 24;
    expect(await send(a, s, msg(RTM_GET, 0, { [RTAX_DST]: six }))).toBe(47 /* EAFNOSUPPORT */);
    expect(await send(a, s, msg(99, 0, { [RTAX_DST]: sa_in(1) }))).toBe(45 /* EOPNOTSUPP */);
    expect(await next(a, s)).not.toBeNull();
    expect(await next(a, s)).toBeNull();
    /* Still working. */
    expect(await send(a, s, good)).toBe(0);
    expect((await nextRt(a, s)).hdr.rtm_errno).toBe(0);
    await a.sys.close(s);
  });

  it('other routing sockets hear changes; SO_USELOOPBACK off keeps a writer from hearing its own', async () => {
    const { a } = await pair();
    const w = await a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
    const mon = await a.sys.socket(PF_ROUTE, SOCK_RAW, AF_INET);
    await a.sys.setsockopt(w, SOL_SOCKET, SO_USELOOPBACK, 0);
    expect(await send(a, w, msg(RTM_ADD, STATIC_GW | RTF_HOST, { [RTAX_DST]: sa_in(a4('10.5.5.5')), [RTAX_GATEWAY]: sa_in(a4('10.0.0.2')) }))).toBe(0);
    expect(await next(a, w)).toBeNull();
    expect((await nextRt(a, mon)).hdr).toMatchObject({ rtm_type: RTM_ADD, rtm_errno: 0 });

    /* Addresses, flags and interfaces announce themselves. */
    const ifs = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.ioctl(ifs, SIOCAIFADDR, { ifra_name: 'shmif0', ifra_addr: sin('10.7.0.1'), ifra_mask: sin('255.255.255.0') });
    const na = rt_anymsg_parse((await next(a, mon))!)!;
    expect(na).toMatchObject({ type: RTM_NEWADDR, index: 2 });
    expect(sa_in_addr(na.addrs[RTAX_IFA]!)).toBe(a4('10.7.0.1'));
    expect(sa_in_addr(na.addrs[RTAX_NETMASK]!)).toBe(0xffffff00);
    expect(sa_in_addr(na.addrs[RTAX_BRD]!)).toBe(a4('10.7.0.255'));
    expect(sa_dl_parse(na.addrs[RTAX_IFP]!)!.sdl_name).toBe('shmif0');
    await a.sys.ioctl(ifs, SIOCDIFADDR, { ifr_name: 'shmif0', ifr_addr: sin('10.7.0.1') });
    expect(rt_anymsg_parse((await next(a, mon))!)).toMatchObject({ type: RTM_DELADDR, index: 2 });
    const fl = (await a.sys.ioctl(ifs, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq;
    await a.sys.ioctl(ifs, SIOCSIFFLAGS, { ifr_name: 'shmif0', ifr_flags: fl.ifr_flags! & ~IFF_UP });
    const info = rt_anymsg_parse((await next(a, mon))!)!;
    expect(info).toMatchObject({ type: RTM_IFINFO, index: 2 });
    expect(info.flags & IFF_UP).toBe(0);
    await a.sys.ioctl(ifs, SIOCIFCREATE, { ifr_name: 'shmif5' });
    expect(rt_anymsg_parse((await next(a, mon))!)).toMatchObject({ type: RTM_IFANNOUNCE, ifname: 'shmif5', what: IFAN_ARRIVAL });
    await a.sys.ioctl(ifs, SIOCIFDESTROY, { ifr_name: 'shmif5' });
    expect(rt_anymsg_parse((await next(a, mon))!)).toMatchObject({ type: RTM_IFANNOUNCE, ifname: 'shmif5', what: IFAN_DEPARTURE });
    expect(await next(a, mon)).toBeNull();
    for (const fd of [w, mon, ifs]) await a.sys.close(fd);
    expect(a.rtsock!.rs_cbs).toEqual([]);
  });

  it('RTF_LLDATA adds and deletes ARP entries (arp -s, arp -d)', async () => {
    const { a } = await pair();
    const s = await a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
    const mac = new Uint8Array([2, 0, 0, 0, 0, 9]);
    const gw = sa_dl({ sdl_index: 0, sdl_type: 6, sdl_name: '', sdl_addr: mac });
    expect(await send(a, s, msg(RTM_ADD, RTF_LLDATA | RTF_HOST | RTF_STATIC, { [RTAX_DST]: sa_in(a4('10.0.0.9')), [RTAX_GATEWAY]: gw }))).toBe(0);
    const ll = (await a.sys.sysctl('net.route.rtable.inet.flags.llinfo')) as LlinfoEntry[];
    expect(ll).toContainEqual({ addr: '10.0.0.9', lladdr: '02:00:00:00:00:09', ifname: 'shmif0', ifindex: 2, state: 'valid', permanent: true, expire: -1 });
    expect(await send(a, s, msg(RTM_DELETE, RTF_LLDATA | RTF_HOST, { [RTAX_DST]: sa_in(a4('10.0.0.9')) }))).toBe(0);
    expect(await send(a, s, msg(RTM_DELETE, RTF_LLDATA | RTF_HOST, { [RTAX_DST]: sa_in(a4('10.0.0.9')) }))).toBe(3);
    /* Off-link: no interface reaches it. */
    expect(await send(a, s, msg(RTM_ADD, RTF_LLDATA | RTF_HOST, { [RTAX_DST]: sa_in(a4('172.16.0.1')), [RTAX_GATEWAY]: gw }))).toBe(51);
    await a.sys.close(s);
  });
});

describe('net.route sysctl dumps', () => {
  it('dump, iflist, llinfo and stats, by name and by MIB', async () => {
    const { a } = await pair();
    const d = await dump(a);
    expect(d).toEqual(await a.sys.sysctl([4, 34, 0, AF_INET, 1]));
    expect(d.map((e) => `${e.dst}/${e.plen} ${e.ifname}`)).toEqual(['10.0.0.0/24 shmif0', '10.0.0.1/32 lo0', '127.0.0.0/8 lo0', '127.0.0.1/32 lo0']);
    expect(d[1]).toMatchObject({ gateway: '', ifa: '10.0.0.1', ifa_index: 2, mtu: 0 });

    const ifl = (await a.sys.sysctl([4, 34, 0, AF_INET, 3])) as IflistEntry[];
    expect(ifl.map((i) => i.name)).toEqual(['lo0', 'shmif0']);
    expect(ifl[1]).toMatchObject({ index: 2, mtu: 1500, lladdr: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
    expect(ifl[1]!.addrs).toEqual([{ family: AF_INET, addr: '10.0.0.1', netmask: '255.255.255.0', broadaddr: '10.0.0.255' }]);

    /* Traffic: a ping fills the ARP cache and moves the counters. */
    const ic = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    await a.sys.sendto(ic, echo(1, 1, new Uint8Array(8)), 0, sin('10.0.0.2'));
    await recvWithin(a, ic);
    const ll = (await a.sys.sysctl([4, 34, 0, AF_INET, 2, RTF_LLDATA])) as LlinfoEntry[];
    expect(ll).toEqual([expect.objectContaining({ addr: '10.0.0.2', ifname: 'shmif0', state: 'valid', permanent: false, expire: 1200 })]);
    const ifl2 = (await a.sys.sysctl('net.route.rtable.inet.iflist')) as IflistEntry[];
    expect(ifl2[1]!.opackets).toBeGreaterThanOrEqual(2);
    expect(ifl2[1]!.ipackets).toBeGreaterThanOrEqual(2);
    expect(await a.sys.sysctl('net.route.stats')).toMatchObject({ rts_unreach: expect.any(Number) });
    await a.sys.close(ic);
  });
});
