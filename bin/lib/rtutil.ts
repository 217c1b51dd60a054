/*
 * Shared by rump.route, rump.netstat, rump.ifconfig and rump.arp (as
 * NetBSD's sbin/route/rtutil.c is by route and netstat): the names of
 * interface and route flags, the routing-table listing, and reading the
 * net.route sysctl dumps.
 */

import type { SysApi } from '../../include/sysapi.ts';
import {
  IFF_ALLMULTI, IFF_BROADCAST, IFF_DEBUG, IFF_LINK0, IFF_LOOPBACK, IFF_MULTICAST, IFF_NOARP, IFF_OACTIVE,
  IFF_POINTOPOINT, IFF_PROMISC, IFF_RUNNING, IFF_SIMPLEX, IFF_UP,
} from '../../include/if.ts';
import {
  RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_BROADCAST, RTF_CONNECTED, RTF_DONE, RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST,
  RTF_LLDATA, RTF_LOCAL, RTF_MASK, RTF_MODIFIED, RTF_PROTO1, RTF_PROTO2, RTF_REJECT, RTF_STATIC, RTF_UP,
  rt_flagstr, rt_netname, type IflistEntry, type LlinfoEntry, type RtDumpEntry,
} from '../../include/route.ts';
import { inet_aton } from './toolutil.ts';

/** if_flags as ifconfig(8) names them. */
export const IFNETFLAGS: ReadonlyArray<readonly [number, string]> = [
  [IFF_UP, 'UP'], [IFF_BROADCAST, 'BROADCAST'], [IFF_DEBUG, 'DEBUG'], [IFF_LOOPBACK, 'LOOPBACK'],
  [IFF_POINTOPOINT, 'POINTOPOINT'], [0x20, 'NOTRAILERS'], [IFF_RUNNING, 'RUNNING'], [IFF_NOARP, 'NOARP'],
  [IFF_PROMISC, 'PROMISC'], [IFF_ALLMULTI, 'ALLMULTI'], [IFF_OACTIVE, 'OACTIVE'], [IFF_SIMPLEX, 'SIMPLEX'],
  [IFF_LINK0, 'LINK0'], [0x2000, 'LINK1'], [0x4000, 'LINK2'], [IFF_MULTICAST, 'MULTICAST'],
];

/** rt_flags as route(8) spells them out ("route get", "route monitor"). */
export const ROUTEFLAGS: ReadonlyArray<readonly [number, string]> = [
  [RTF_UP, 'UP'], [RTF_GATEWAY, 'GATEWAY'], [RTF_HOST, 'HOST'], [RTF_REJECT, 'REJECT'], [RTF_DYNAMIC, 'DYNAMIC'],
  [RTF_MODIFIED, 'MODIFIED'], [RTF_DONE, 'DONE'], [RTF_MASK, 'MASK_PRESENT'], [RTF_CONNECTED, 'CONNECTED'],
  [RTF_LLDATA, 'LLINFO'], [RTF_STATIC, 'STATIC'], [RTF_BLACKHOLE, 'BLACKHOLE'], [RTF_PROTO2, 'PROTO2'],
  [RTF_PROTO1, 'PROTO1'], [RTF_ANNOUNCE, 'PROXY'], [RTF_LOCAL, 'LOCAL'], [RTF_BROADCAST, 'BROADCAST'],
];

export async function rt_dump(sys: SysApi): Promise<RtDumpEntry[]> {
  return (await sys.sysctl('net.route.rtable.inet.dump')) as RtDumpEntry[];
}

export async function rt_iflist(sys: SysApi): Promise<IflistEntry[]> {
  return (await sys.sysctl('net.route.rtable.inet.iflist')) as IflistEntry[];
}

export async function rt_llinfo(sys: SysApi): Promise<LlinfoEntry[]> {
  return (await sys.sysctl('net.route.rtable.inet.flags.llinfo')) as LlinfoEntry[];
}

/**
 * The routing table as `netstat -rn` and `route show` print it:
 * "Routing tables\n\nInternet:\n", the header, a line per route.
 * Without numeric, 0/0 is "default" all the same (no name service here).
 */
export function p_rttables(routes: readonly RtDumpEntry[]): string {
  let s = 'Routing tables\n\nInternet:\n';
  s += `${'Destination'.padEnd(18)} ${'Gateway'.padEnd(18)} ${'Flags'.padEnd(6)} ` +
    `${'Refs'.padStart(6)} ${'Use'.padStart(8)} ${'Mtu'.padStart(6)} Interface\n`;
  for (const r of routes) {
    const gw = r.gateway !== '' ? r.gateway : `link#${r.ifa_index}`;
    const mtu = r.mtu !== 0 ? String(r.mtu) : '-';
    s += `${rt_netname(inet_aton(r.dst) ?? 0, r.plen).padEnd(18)} ${gw.padEnd(18)} ${rt_flagstr(r.flags).padEnd(6)} ` +
      `${String(r.refcnt).padStart(6)} ${String(r.use).padStart(8)} ${mtu.padStart(6)}  ${r.ifname}\n`;
  }
  return s;
}
