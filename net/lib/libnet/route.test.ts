/*
 * Tests for route.ts: rtrequest's errors (EINVAL, EEXIST, ESRCH,
 * ENETUNREACH), longest match across host, network and default routes,
 * how a gateway route finds its interface, interface address routes and
 * their removal, interface detach taking dependent routes with it, RTM_CHANGE
 * in place, walk order and `netstat -rn` text, the rt_gen counter, and two
 * tables staying apart.
 */
import { describe, expect, it } from 'vitest';
import { EADDRNOTAVAIL, EEXIST, EINVAL, ENETUNREACH, EOPNOTSUPP, ESRCH } from '../../../include/errno.ts';
import {
  RouteTable, RTF_BLACKHOLE, RTF_BROADCAST, RTF_CONNECTED, RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_REJECT,
  RTF_STATIC, RTF_UP, RTM_ADD, RTM_CHANGE, RTM_DELETE, RTM_GET, rt_flagstr, rt_getmtu, rt_netname, rt_ntoa,
  type RtIfnet, type Rtentry,
} from './route.ts';

const ip = (s: string): number => s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);

function ifnet(if_index: number, if_xname: string, if_mtu = 1500): RtIfnet {
  return { if_index, if_xname, if_mtu };
}

/* A table with lo0 (127.0.0.1/8) and shmif0 (10.0.2.15/24). */
function basic(): { t: RouteTable; lo0: RtIfnet; shmif0: RtIfnet } {
  const t = new RouteTable();
  const lo0 = ifnet(1, 'lo0', 33624);
  const shmif0 = ifnet(2, 'shmif0');
  t.lo0ifp = lo0;
  expect(t.rt_ifa_add(lo0, ip('127.0.0.1'), 8)).toBe(0);
  expect(t.rt_ifa_add(shmif0, ip('10.0.2.15'), 24)).toBe(0);
  return { t, lo0, shmif0 };
}

function names(t: RouteTable): string[] {
  return t.rt_walk().map((rt) => rt_netname(rt.rt_dst, rt.rt_plen));
}

function addgw(t: RouteTable, dst: string, plen: number, gw: string, flags = RTF_STATIC): { error: number; rt: Rtentry | null } {
  return t.rtrequest(RTM_ADD, { rti_dst: ip(dst), rti_plen: plen, rti_gateway: ip(gw), rti_flags: RTF_GATEWAY | flags });
}

describe('route.h constants', () => {
  it('have NetBSD values', () => {
    expect([RTF_UP, RTF_GATEWAY, RTF_HOST, RTF_REJECT, RTF_CONNECTED, RTF_STATIC, RTF_BLACKHOLE, RTF_LOCAL, RTF_BROADCAST])
      .toEqual([0x1, 0x2, 0x4, 0x8, 0x100, 0x800, 0x1000, 0x40000, 0x80000]);
    expect([RTM_ADD, RTM_DELETE, RTM_CHANGE, RTM_GET]).toEqual([1, 2, 3, 4]);
  });
});

describe('rtrequest()', () => {
  it('RTM_ADD makes an entry; RTM_DELETE removes it and clears RTF_UP', () => {
    const t = new RouteTable();
    const ifp = ifnet(2, 'shmif0');
    const r = t.rtrequest(RTM_ADD, { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_ifp: ifp, rti_mtu: 1280, rti_expire: 77 });
    expect(r.error).toBe(0);
    const rt = r.rt!;
    expect(rt.rt_dst).toBe(ip('10.1.0.0'));
    expect(rt.rt_plen).toBe(16);
    expect(rt.rt_mask).toBe(0xffff0000);
    expect(rt.rt_gateway).toBe(0);
    expect(rt.rt_flags).toBe(RTF_UP);
    expect(rt.rt_ifp).toBe(ifp);
    expect(rt.rt_ifindex).toBe(2);
    expect(rt.rt_ifa_addr).toBe(0); /* no address known on the interface */
    expect(rt.rt_rmx.rmx_mtu).toBe(1280);
    expect(rt.rt_expire).toBe(77);
    expect(t.rt_get(ip('10.1.0.0'), 16)).toBe(rt);
    expect(t.rt_count).toBe(1);

    const d = t.rtrequest(RTM_DELETE, { rti_dst: ip('10.1.0.0'), rti_plen: 16 });
    expect(d).toEqual({ error: 0, rt });
    expect(rt.rt_flags & RTF_UP).toBe(0);
    expect(t.rt_get(ip('10.1.0.0'), 16)).toBeNull();
    expect(t.rt_count).toBe(0);
  });

  it('a /32 is a host route: RTF_HOST is set for it and refused on a network', () => {
    const t = new RouteTable();
    const ifp = ifnet(2, 'shmif0');
    expect(t.rtrequest(RTM_ADD, { rti_dst: ip('10.0.0.9'), rti_plen: 32, rti_ifp: ifp }).rt!.rt_flags).toBe(RTF_UP | RTF_HOST);
    expect(t.rtrequest(RTM_ADD, { rti_dst: ip('10.0.0.0'), rti_plen: 24, rti_ifp: ifp, rti_flags: RTF_HOST }).error).toBe(EINVAL);
  });

  it('refuses malformed requests with EINVAL', () => {
    const { t, shmif0 } = basic();
    const before = t.rt_gen;
    const bad = [
      { rti_dst: ip('10.1.0.1'), rti_plen: 16, rti_ifp: shmif0 }, /* host bits in a network route */
      { rti_dst: ip('10.1.0.0'), rti_plen: 33, rti_ifp: shmif0 },
      { rti_dst: ip('10.1.0.0'), rti_plen: -1, rti_ifp: shmif0 },
      { rti_dst: -1, rti_plen: 32, rti_ifp: shmif0 },
      { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_flags: RTF_GATEWAY }, /* gateway route, no gateway */
      { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_flags: RTF_GATEWAY, rti_gateway: 0 },
      { rti_dst: ip('10.1.0.0'), rti_plen: 16 }, /* direct route, no interface */
      { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_ifp: shmif0, rti_gateway: ip('10.0.2.1') }, /* gateway without RTF_GATEWAY */
      { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_ifp: shmif0, rti_mtu: -1 },
      { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_ifp: shmif0, rti_expire: Number.NaN },
      { rti_dst: ip('10.1.0.0'), rti_plen: 16, rti_flags: RTF_GATEWAY, rti_gateway: 2 ** 32 },
    ];
    for (const info of bad) expect(t.rtrequest(RTM_ADD, info), JSON.stringify({ ...info, rti_ifp: undefined })).toEqual({ error: EINVAL, rt: null });
    expect(t.rtrequest(RTM_DELETE, { rti_dst: ip('10.0.2.1'), rti_plen: 24 }).error).toBe(EINVAL);
    expect(t.rtrequest(RTM_CHANGE, { rti_dst: ip('10.0.2.1'), rti_plen: 24 }).error).toBe(EINVAL);
    expect(t.rt_gen).toBe(before);
  });

  it('EEXIST for an existing dst/plen, ESRCH for a missing one, EOPNOTSUPP for other requests', () => {
    const { t } = basic();
    expect(addgw(t, '0.0.0.0', 0, '10.0.2.2').error).toBe(0);
    const again = addgw(t, '0.0.0.0', 0, '10.0.2.3');
    expect(again).toEqual({ error: EEXIST, rt: null });
    expect(t.rt_get(0, 0)!.rt_gateway).toBe(ip('10.0.2.2'));
    expect(t.rtrequest(RTM_DELETE, { rti_dst: ip('10.9.0.0'), rti_plen: 16 }).error).toBe(ESRCH);
    expect(t.rtrequest(RTM_DELETE, { rti_dst: ip('10.0.2.0'), rti_plen: 25 }).error).toBe(ESRCH);
    expect(t.rtrequest(RTM_CHANGE, { rti_dst: ip('10.9.0.0'), rti_plen: 16, rti_mtu: 1000 }).error).toBe(ESRCH);
    expect(t.rtrequest(RTM_GET, { rti_dst: 0, rti_plen: 0 }).error).toBe(EOPNOTSUPP);
    /* Deleted once, it is gone. */
    expect(t.rtrequest(RTM_DELETE, { rti_dst: 0, rti_plen: 0 }).error).toBe(0);
    expect(t.rtrequest(RTM_DELETE, { rti_dst: 0, rti_plen: 0 }).error).toBe(ESRCH);
  });
});

describe('rtalloc1()', () => {
  it('picks the longest match among host, network and default routes', () => {
    const { t, shmif0, lo0 } = basic();
    expect(t.rtalloc1(ip('8.8.8.8'))).toBeNull();
    expect(t.rtstat.rts_unreach).toBe(1);

    expect(addgw(t, '0.0.0.0', 0, '10.0.2.2').error).toBe(0);
    expect(addgw(t, '172.16.0.0', 12, '10.0.2.1').error).toBe(0);
    expect(addgw(t, '172.16.5.0', 24, '10.0.2.3').error).toBe(0);
    expect(addgw(t, '172.16.5.77', 32, '10.0.2.4').error).toBe(0);

    const gw = (a: string): string => rt_ntoa(t.rtalloc1(ip(a))!.rt_gateway);
    expect(gw('8.8.8.8')).toBe('10.0.2.2');
    expect(t.rtstat.rts_wildcard).toBe(1);
    expect(gw('172.31.255.255')).toBe('10.0.2.1');
    expect(gw('172.16.5.76')).toBe('10.0.2.3');
    expect(gw('172.16.5.77')).toBe('10.0.2.4');
    expect(gw('172.32.0.0')).toBe('10.0.2.2');

    /* On-link and local destinations. */
    const onlink = t.rtalloc1(ip('10.0.2.99'))!;
    expect(onlink.rt_flags).toBe(RTF_UP | RTF_CONNECTED);
    expect(onlink.rt_ifp).toBe(shmif0);
    expect(onlink.rt_ifa_addr).toBe(ip('10.0.2.15'));
    const local = t.rtalloc1(ip('10.0.2.15'))!;
    expect(local.rt_flags).toBe(RTF_UP | RTF_HOST | RTF_LOCAL);
    expect(local.rt_ifp).toBe(lo0);
    expect(t.rtalloc1(ip('127.0.0.5'))!.rt_ifp).toBe(lo0);

    /* The gateway route's source address is the address of the interface it goes out of. */
    expect(t.rtalloc1(ip('8.8.8.8'))!.rt_ifa_addr).toBe(ip('10.0.2.15'));
    expect(t.rtalloc1(ip('8.8.8.8'))!.rt_ifp).toBe(shmif0);

    /* Without the default route, off-net is unreachable again. */
    t.rtrequest(RTM_DELETE, { rti_dst: 0, rti_plen: 0 });
    expect(t.rtalloc1(ip('8.8.8.8'))).toBeNull();
    expect(t.rtstat.rts_unreach).toBe(2);
  });

  it('returns reject and blackhole routes for the caller to act on', () => {
    const { t, lo0 } = basic();
    expect(addgw(t, '192.168.0.0', 16, '127.0.0.1', RTF_REJECT | RTF_STATIC).error).toBe(0);
    expect(t.rtrequest(RTM_ADD, { rti_dst: ip('10.9.9.9'), rti_plen: 32, rti_ifp: lo0, rti_flags: RTF_BLACKHOLE }).error).toBe(0);
    expect(t.rtalloc1(ip('192.168.1.1'))!.rt_flags & RTF_REJECT).toBe(RTF_REJECT);
    expect(t.rtalloc1(ip('10.9.9.9'))!.rt_flags & RTF_BLACKHOLE).toBe(RTF_BLACKHOLE);
  });
});

describe('gateway routes', () => {
  it('ENETUNREACH unless an interface route reaches the gateway', () => {
    const t = new RouteTable();
    const shmif0 = ifnet(2, 'shmif0');
    expect(addgw(t, '0.0.0.0', 0, '10.0.2.2')).toEqual({ error: ENETUNREACH, rt: null });
    expect(t.rt_ifa_add(shmif0, ip('10.0.2.15'), 24)).toBe(0);
    expect(addgw(t, '0.0.0.0', 0, '10.0.3.2').error).toBe(ENETUNREACH);
    const ok = addgw(t, '0.0.0.0', 0, '10.0.2.2');
    expect(ok.error).toBe(0);
    expect(ok.rt!.rt_flags).toBe(RTF_UP | RTF_GATEWAY | RTF_STATIC);
    expect(ok.rt!.rt_ifp).toBe(shmif0);
    /* Through another gateway is not "reachable": no chains of gateways. */
    expect(addgw(t, '172.16.0.0', 12, '10.0.3.2').error).toBe(ENETUNREACH);
    expect(addgw(t, '10.1.0.0', 16, '10.0.2.1').error).toBe(0);
    expect(addgw(t, '172.16.0.0', 12, '10.1.0.1').error).toBe(ENETUNREACH);
  });

  it('a reject route or a more specific gateway route does not hide the interface route', () => {
    const { t, shmif0 } = basic();
    expect(addgw(t, '10.0.2.7', 32, '10.0.2.1').error).toBe(0);
    /* 10.0.2.7 has a gateway host route, but it is on shmif0's network. */
    const r = addgw(t, '172.16.0.0', 12, '10.0.2.7');
    expect(r.error).toBe(0);
    expect(r.rt!.rt_ifp).toBe(shmif0);
    /* A reject route over the gateway does not count. */
    expect(t.rtrequest(RTM_ADD, { rti_dst: ip('192.168.0.0'), rti_plen: 16, rti_ifp: shmif0, rti_flags: RTF_REJECT }).error).toBe(0);
    expect(addgw(t, '172.20.0.0', 16, '192.168.0.1').error).toBe(ENETUNREACH);
  });

  it('a gateway that is one of our own addresses goes out of its interface, not lo0', () => {
    const { t, shmif0 } = basic();
    const r = addgw(t, '172.16.0.0', 12, '10.0.2.15');
    expect(r.error).toBe(0);
    expect(r.rt!.rt_ifp).toBe(shmif0);
  });

  it('rti_ifp must be the interface the gateway is reached through', () => {
    const { t, lo0, shmif0 } = basic();
    const info = { rti_dst: ip('172.16.0.0'), rti_plen: 12, rti_gateway: ip('10.0.2.1'), rti_flags: RTF_GATEWAY };
    expect(t.rtrequest(RTM_ADD, { ...info, rti_ifp: lo0 }).error).toBe(ENETUNREACH);
    expect(t.rtrequest(RTM_ADD, { ...info, rti_ifp: shmif0 }).error).toBe(0);
  });
});

describe('RTM_CHANGE', () => {
  it('changes gateway, interface and metrics in place', () => {
    const { t } = basic();
    const shmif1 = ifnet(3, 'shmif1', 9000);
    expect(t.rt_ifa_add(shmif1, ip('192.168.7.1'), 24)).toBe(0);
    const rt = addgw(t, '0.0.0.0', 0, '10.0.2.2').rt!;
    rt.rt_use = 5;
    const gen = t.rt_gen;
    const r = t.rtrequest(RTM_CHANGE, { rti_dst: 0, rti_plen: 0, rti_gateway: ip('192.168.7.254'), rti_mtu: 1400 });
    expect(r).toEqual({ error: 0, rt });
    expect(t.rt_get(0, 0)).toBe(rt);
    expect(rt.rt_gateway).toBe(ip('192.168.7.254'));
    expect(rt.rt_ifp).toBe(shmif1);
    expect(rt.rt_ifa_addr).toBe(ip('192.168.7.1'));
    expect(rt.rt_flags).toBe(RTF_UP | RTF_GATEWAY | RTF_STATIC);
    expect(rt.rt_rmx.rmx_mtu).toBe(1400);
    expect(rt.rt_use).toBe(5);
    expect(t.rt_gen).toBeGreaterThan(gen);
  });

  it('leaves the route alone when the new gateway is unreachable', () => {
    const { t, shmif0 } = basic();
    const rt = addgw(t, '0.0.0.0', 0, '10.0.2.2').rt!;
    const gen = t.rt_gen;
    expect(t.rtrequest(RTM_CHANGE, { rti_dst: 0, rti_plen: 0, rti_gateway: ip('10.7.7.7') }).error).toBe(ENETUNREACH);
    expect(rt.rt_gateway).toBe(ip('10.0.2.2'));
    expect(rt.rt_ifp).toBe(shmif0);
    expect(t.rt_gen).toBe(gen);
  });

  it('a route cannot be its own way to its gateway', () => {
    const { t } = basic();
    const rt = t.rtrequest(RTM_ADD, { rti_dst: ip('10.5.0.0'), rti_plen: 16, rti_ifp: ifnet(3, 'shmif1') }).rt!;
    /* 10.5.0.1 is only reachable through 10.5/16 itself. */
    expect(t.rtrequest(RTM_CHANGE, { rti_dst: ip('10.5.0.0'), rti_plen: 16, rti_gateway: ip('10.5.0.1') }).error).toBe(ENETUNREACH);
    expect(rt.rt_flags).toBe(RTF_UP);
  });
});

describe('interface address routes', () => {
  it('rt_ifa_add() makes a connected route and a local host route', () => {
    const t = new RouteTable();
    const shmif0 = ifnet(2, 'shmif0');
    expect(t.rt_ifa_add(shmif0, ip('10.0.2.15'), 24)).toBe(0);
    const net = t.rt_get(ip('10.0.2.0'), 24)!;
    expect(net.rt_flags).toBe(RTF_UP | RTF_CONNECTED);
    expect(net.rt_ifp).toBe(shmif0);
    expect(net.rt_ifa_addr).toBe(ip('10.0.2.15'));
    const local = t.rt_get(ip('10.0.2.15'), 32)!;
    expect(local.rt_flags).toBe(RTF_UP | RTF_HOST | RTF_LOCAL);
    expect(local.rt_ifp).toBe(shmif0); /* no lo0 in this table */
    expect(local.rt_ifa_addr).toBe(ip('10.0.2.15'));
    expect(t.rt_count).toBe(2);
  });

  it('a /32 address gets only its local route', () => {
    const { t, lo0 } = basic();
    const tun = ifnet(4, 'tun0');
    const before = t.rt_count;
    expect(t.rt_ifa_add(tun, ip('100.64.0.1'), 32)).toBe(0);
    expect(t.rt_count).toBe(before + 1);
    expect(t.rt_get(ip('100.64.0.1'), 32)!.rt_ifp).toBe(lo0);
  });

  it('refuses bad and clashing addresses, changing nothing', () => {
    const { t, shmif0 } = basic();
    const shmif1 = ifnet(3, 'shmif1');
    const gen = t.rt_gen;
    expect(t.rt_ifa_add(shmif0, ip('10.0.2.15'), 33)).toBe(EINVAL);
    expect(t.rt_ifa_add(shmif0, -4, 24)).toBe(EINVAL);
    expect(t.rt_ifa_add(shmif0, ip('10.0.2.15'), 24)).toBe(EEXIST);
    expect(t.rt_ifa_add(shmif1, ip('10.0.2.15'), 24)).toBe(EEXIST); /* the address's host route exists */
    expect(addgw(t, '10.8.0.0', 16, '10.0.2.1').error).toBe(0);
    const gen2 = t.rt_gen;
    expect(t.rt_ifa_add(shmif1, ip('10.8.0.1'), 16)).toBe(EEXIST); /* a static route holds the network */
    expect(t.rt_get(ip('10.8.0.1'), 32)).toBeNull();
    expect(gen2).toBe(gen + 1);
    expect(t.rt_gen).toBe(gen2);
  });

  it('rt_ifa_remove() takes the routes away, with gateway routes that used the address', () => {
    const { t, shmif0 } = basic();
    const dflt = addgw(t, '0.0.0.0', 0, '10.0.2.2').rt!;
    const direct = t.rtrequest(RTM_ADD, { rti_dst: ip('10.3.0.0'), rti_plen: 16, rti_ifp: shmif0 }).rt!;
    expect(direct.rt_ifa_addr).toBe(ip('10.0.2.15'));
    expect(names(t)).toEqual(['default', '10.0.2/24', '10.0.2.15', '10.3/16', '127/8', '127.0.0.1']);
    expect(t.rt_ifa_remove(shmif0, ip('10.0.2.15'))).toBe(0);
    expect(names(t)).toEqual(['127/8', '127.0.0.1']);
    expect(dflt.rt_flags & RTF_UP).toBe(0);
    expect(direct.rt_flags & RTF_UP).toBe(0);
    expect(t.rt_ifa_remove(shmif0, ip('10.0.2.15'))).toBe(EADDRNOTAVAIL);
  });

  it('a second address on the network shares the connected route and inherits it', () => {
    const { t, shmif0 } = basic();
    expect(t.rt_ifa_add(shmif0, ip('10.0.2.16'), 24)).toBe(0);
    const net = t.rt_get(ip('10.0.2.0'), 24)!;
    expect(net.rt_ifa_addr).toBe(ip('10.0.2.15'));
    const dflt = addgw(t, '0.0.0.0', 0, '10.0.2.2').rt!;
    expect(t.rt_ifa_remove(shmif0, ip('10.0.2.15'))).toBe(0);
    /* The same entries live on, now sourced from the remaining address. */
    expect(t.rt_get(ip('10.0.2.0'), 24)).toBe(net);
    expect(net.rt_ifa_addr).toBe(ip('10.0.2.16'));
    expect(t.rt_get(0, 0)).toBe(dflt);
    expect(dflt.rt_ifa_addr).toBe(ip('10.0.2.16'));
    expect(dflt.rt_flags & RTF_UP).toBe(RTF_UP);
    expect(t.rt_get(ip('10.0.2.15'), 32)).toBeNull();
    expect(t.rt_get(ip('10.0.2.16'), 32)).not.toBeNull();
  });

  it('a gateway route moves to another interface route that still reaches its gateway', () => {
    const { t, shmif0 } = basic();
    const shmif1 = ifnet(3, 'shmif1');
    expect(t.rt_ifa_add(shmif1, ip('10.0.0.1'), 16)).toBe(0); /* covers 10.0.2.0/24 too */
    const dflt = addgw(t, '0.0.0.0', 0, '10.0.2.2').rt!;
    expect(dflt.rt_ifp).toBe(shmif0);
    expect(t.rt_ifa_remove(shmif0, ip('10.0.2.15'))).toBe(0);
    expect(t.rt_get(0, 0)).toBe(dflt);
    expect(dflt.rt_ifp).toBe(shmif1);
    expect(dflt.rt_ifa_addr).toBe(ip('10.0.0.1'));
  });
});

describe('rt_if_detach()', () => {
  it('removes every route through the interface and the gateway routes that depended on it', () => {
    const { t, shmif0, lo0 } = basic();
    const shmif1 = ifnet(3, 'shmif1');
    expect(t.rt_ifa_add(shmif1, ip('192.168.7.1'), 24)).toBe(0);
    expect(addgw(t, '0.0.0.0', 0, '10.0.2.2').error).toBe(0);
    expect(addgw(t, '172.16.0.0', 12, '10.0.2.1').error).toBe(0);
    expect(addgw(t, '172.20.0.0', 16, '192.168.7.254').error).toBe(0);
    expect(t.rtrequest(RTM_ADD, { rti_dst: ip('10.3.0.0'), rti_plen: 16, rti_ifp: shmif0 }).error).toBe(0);
    const gen = t.rt_gen;
    expect(t.rt_if_detach(shmif0)).toBe(5); /* 10.0.2/24, 10.0.2.15, default, 172.16/12, 10.3/16 */
    expect(t.rt_gen).toBeGreaterThan(gen);
    expect(names(t)).toEqual(['127/8', '127.0.0.1', '172.20/16', '192.168.7/24', '192.168.7.1']);
    for (const rt of t.rt_walk()) {
      expect(rt.rt_ifp).not.toBe(shmif0);
      expect(rt.rt_ifa.ifa_ifp).not.toBe(shmif0);
    }
    expect(t.rtalloc1(ip('8.8.8.8'))).toBeNull();
    expect(t.rt_if_detach(shmif0)).toBe(0);
    /* The local route of shmif1's address goes through lo0, so lo0 takes it along. */
    expect(t.rt_if_detach(lo0)).toBe(3);
    expect(t.lo0ifp).toBeNull();
    expect(names(t)).toEqual(['172.20/16', '192.168.7/24']);
  });
});

describe('rt_walk() and rt_format_table()', () => {
  it('walk in destination, then prefix-length order', () => {
    const { t } = basic();
    expect(addgw(t, '10.0.0.0', 8, '10.0.2.1').error).toBe(0);
    expect(addgw(t, '10.0.0.0', 16, '10.0.2.1').error).toBe(0);
    expect(addgw(t, '0.0.0.0', 0, '10.0.2.2').error).toBe(0);
    expect(addgw(t, '10.0.2.128', 25, '10.0.2.1').error).toBe(0);
    expect(names(t)).toEqual(['default', '10/8', '10.0/16', '10.0.2/24', '10.0.2.15', '10.0.2.128/25', '127/8', '127.0.0.1']);
    const seen: string[] = [];
    expect(t.rt_walktree((rt) => { seen.push(rt_netname(rt.rt_dst, rt.rt_plen)); return seen.length === 2 ? 7 : 0; })).toBe(7);
    expect(seen).toEqual(['default', '10/8']);
  });

  it('renders netstat -rn', () => {
    const { t, lo0 } = basic();
    const dflt = addgw(t, '0.0.0.0', 0, '10.0.2.2').rt!;
    expect(t.rtrequest(RTM_ADD, {
      rti_dst: ip('172.16.0.0'), rti_plen: 12, rti_gateway: ip('10.0.2.1'), rti_flags: RTF_GATEWAY | RTF_STATIC, rti_mtu: 1400,
    }).error).toBe(0);
    expect(addgw(t, '192.168.0.0', 16, '127.0.0.1', RTF_REJECT | RTF_STATIC).error).toBe(0);
    expect(t.rtrequest(RTM_ADD, { rti_dst: ip('10.9.9.9'), rti_plen: 32, rti_ifp: lo0, rti_flags: RTF_BLACKHOLE | RTF_STATIC }).error).toBe(0);
    t.rt_ref(dflt);
    dflt.rt_use += 1234;
    expect(t.rt_format_table()).toBe([
      'Destination        Gateway            Flags    Refs      Use    Mtu Interface',
      'default            10.0.2.2           UGS         1     1234      -  shmif0',
      '10.0.2/24          link#2             UC          0        0      -  shmif0',
      '10.0.2.15          link#2             UHl         0        0      -  lo0',
      '10.9.9.9           link#1             UHBS        0        0      -  lo0',
      '127/8              link#1             UC          0        0      -  lo0',
      '127.0.0.1          link#1             UHl         0        0      -  lo0',
      '172.16/12          10.0.2.1           UGS         0        0   1400  shmif0',
      '192.168/16         127.0.0.1          UGRS        0        0      -  lo0',
      '',
    ].join('\n'));
  });

  it('rt_netname(), rt_flagstr(), rt_getmtu()', () => {
    expect(rt_netname(0, 0)).toBe('default');
    expect(rt_netname(ip('10.0.0.0'), 8)).toBe('10/8');
    expect(rt_netname(ip('10.128.0.0'), 9)).toBe('10.128/9');
    expect(rt_netname(ip('10.0.0.0'), 24)).toBe('10.0.0/24');
    expect(rt_netname(ip('10.0.0.128'), 25)).toBe('10.0.0.128/25');
    expect(rt_netname(ip('255.255.255.255'), 32)).toBe('255.255.255.255');
    expect(rt_netname(ip('128.0.0.0'), 1)).toBe('128/1');
    expect(rt_flagstr(RTF_UP | RTF_HOST | RTF_LOCAL)).toBe('UHl');
    expect(rt_flagstr(RTF_UP | RTF_GATEWAY | RTF_REJECT | RTF_BLACKHOLE | RTF_STATIC | RTF_BROADCAST)).toBe('UGRBSb');
    const { t } = basic();
    const shmif1 = ifnet(3, 'shmif1', 9000);
    const rt = t.rtrequest(RTM_ADD, { rti_dst: ip('10.4.0.0'), rti_plen: 16, rti_ifp: shmif1 }).rt!;
    expect(rt_getmtu(rt)).toBe(9000);
    rt.rt_rmx.rmx_mtu = 1280;
    expect(rt_getmtu(rt)).toBe(1280);
  });
});

describe('rt_gen', () => {
  it('changes on every change to the table and on nothing else', () => {
    const { t } = basic();
    let g = t.rt_gen;
    const step = (changed: boolean): void => {
      if (changed) expect(t.rt_gen).toBeGreaterThan(g);
      else expect(t.rt_gen).toBe(g);
      g = t.rt_gen;
    };
    addgw(t, '0.0.0.0', 0, '10.0.2.2'); step(true);
    addgw(t, '0.0.0.0', 0, '10.0.2.2'); step(false); /* EEXIST */
    addgw(t, '172.16.0.0', 12, '10.9.9.9'); step(false); /* ENETUNREACH */
    t.rtalloc1(ip('8.8.8.8')); t.rt_get(0, 0); t.rt_walk(); t.rt_format_table(); step(false);
    t.rtrequest(RTM_CHANGE, { rti_dst: 0, rti_plen: 0, rti_mtu: 1400 }); step(true);
    t.rtrequest(RTM_DELETE, { rti_dst: 0, rti_plen: 0 }); step(true);
    t.rtrequest(RTM_DELETE, { rti_dst: 0, rti_plen: 0 }); step(false);
    const ifp = ifnet(5, 'shmif5');
    t.rt_ifa_add(ifp, ip('192.168.9.1'), 24); step(true);
    t.rt_ifa_remove(ifp, ip('192.168.9.1')); step(true);
    t.rt_if_detach(ifp); step(false);
  });

  it('lets a cached route be revalidated cheaply', () => {
    const { t } = basic();
    addgw(t, '0.0.0.0', 0, '10.0.2.2');
    /* A PCB's cache: the entry, the generation it was valid in. */
    const ro = { ro_rt: t.rtalloc1(ip('8.8.8.8')), ro_gen: t.rt_gen };
    t.rt_ref(ro.ro_rt!);
    const valid = (): boolean => ro.ro_gen === t.rt_gen;
    expect(valid()).toBe(true);
    addgw(t, '8.8.0.0', 16, '10.0.2.3');
    expect(valid()).toBe(false);
    t.rt_unref(ro.ro_rt!);
    ro.ro_rt = t.rtalloc1(ip('8.8.8.8'));
    ro.ro_gen = t.rt_gen;
    expect(rt_ntoa(ro.ro_rt!.rt_gateway)).toBe('10.0.2.3');
  });
});

describe('rt_ref() / rt_unref()', () => {
  it('count holders and panic below zero through the hook', () => {
    const panics: string[] = [];
    const t = new RouteTable({ panic: (msg: string): never => { panics.push(msg); throw new Error(msg); } });
    const rt = t.rtrequest(RTM_ADD, { rti_dst: ip('10.0.0.0'), rti_plen: 8, rti_ifp: ifnet(2, 'shmif0') }).rt!;
    t.rt_ref(rt);
    t.rt_ref(rt);
    expect(rt.rt_refcnt).toBe(2);
    t.rt_unref(rt);
    t.rt_unref(rt);
    expect(() => t.rt_unref(rt)).toThrow(/rt_unref: 10\/8: refcnt 0/);
    expect(panics).toHaveLength(1);
    expect(rt.rt_refcnt).toBe(0);
  });
});

describe('two RouteTables', () => {
  it('share nothing', () => {
    const a = basic();
    const b = basic();
    expect(addgw(a.t, '0.0.0.0', 0, '10.0.2.2').error).toBe(0);
    expect(b.t.rtalloc1(ip('8.8.8.8'))).toBeNull();
    expect(a.t.rtalloc1(ip('8.8.8.8'))).not.toBeNull();
    expect(a.t.rtstat.rts_wildcard).toBe(1);
    expect(b.t.rtstat.rts_wildcard).toBe(0);
    expect(b.t.rtstat.rts_unreach).toBe(1);
    expect(a.t.rt_gen).not.toBe(b.t.rt_gen);
    a.t.rt_if_detach(a.shmif0);
    expect(b.t.rt_get(ip('10.0.2.0'), 24)).not.toBeNull();
    expect(names(b.t)).toEqual(['10.0.2/24', '10.0.2.15', '127/8', '127.0.0.1']);
    /* The same interface object in both: each table's routes are its own. */
    const shared = ifnet(9, 'shmif9');
    expect(a.t.rt_ifa_add(shared, ip('192.168.50.1'), 24)).toBe(0);
    expect(b.t.rt_ifa_add(shared, ip('192.168.50.1'), 24)).toBe(0);
    expect(a.t.rt_get(ip('192.168.50.0'), 24)).not.toBe(b.t.rt_get(ip('192.168.50.0'), 24));
    a.t.rt_if_detach(shared);
    expect(b.t.rt_get(ip('192.168.50.0'), 24)).not.toBeNull();
  });
});
