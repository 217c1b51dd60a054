/*
 * rump.route: manipulate a rump kernel's routing table (NetBSD's route(8))
 * through a PF_ROUTE socket, in NetBSD's message format.
 *
 *   rump.route [-nqv] add|delete|change [-net|-host] dest [gateway] [-netmask mask]
 *              [-interface] [-ifp ifname] [-mtu n] [-reject] [-blackhole] [-nostatic]
 *   rump.route [-n] get [-net|-host] dest
 *   rump.route [-n] show
 *   rump.route [-nq] flush
 *   rump.route [-n] monitor [-c count]
 *
 * dest is "default", a.b.c.d[/len] or a network number ("10.1" is
 * 10.1.0.0/16, as inet_network(3) and route(8) read it); an address with
 * a zero host part (by its class) is a network, any other a host.  A route
 * goes through gateway (RTF_GATEWAY) unless -interface says gateway is one
 * of our own addresses whose interface reaches dest directly.
 *
 * Messages as NetBSD's: "add net 10.1.0.0/16: gateway 10.0.0.2", and on
 * failure "route: writing to routing socket: File exists" on stderr with
 * the reason appended to that line ("...: not in table" for ESRCH) and
 * exit status 1.  show prints the table as netstat -rn does.
 */

import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import { EAGAIN, EBUSY, ENOBUFS, ESRCH, strerror } from '../include/errno.ts';
import { AF_INET, MSG_DONTWAIT, PF_ROUTE, SOCK_RAW } from '../include/socket.ts';
import {
  IFAN_ARRIVAL, IFAN_DEPARTURE, RTAX_DST, RTAX_GATEWAY, RTAX_IFA, RTAX_IFP, RTAX_MAX, RTAX_NETMASK, RTF_BLACKHOLE,
  RTF_GATEWAY, RTF_HOST, RTF_REJECT, RTF_STATIC, RTF_UP, RTM_ADD, RTM_CHANGE, RTM_DELETE, RTM_GET, RTM_IFANNOUNCE,
  RTM_IFINFO, RTM_NEWADDR, RTM_DELADDR, RTM_CHGADDR, RTV_MTU, rt_anymsg_parse, rt_msg_build, rt_msg_parse, rt_netname,
  rtm_blank, sa_dl, sa_dl_parse, sa_in, sa_in_addr, type RtMsghdr,
} from '../include/route.ts';
import { bitnames, errnoOf, errstr, getopt, inet_aton, inet_ntoa, mask2plen, plen2mask } from './lib/toolutil.ts';
import { IFNETFLAGS, ROUTEFLAGS, p_rttables, rt_dump } from './lib/rtutil.ts';

const USAGE = 'usage: rump.route [-nqv] command [[modifiers] args]\n' +
  '       commands: add, change, delete, flush, get, monitor, show\n';

/* route(8)'s words for ESRCH and friends. */
function route_strerror(e: number): string {
  switch (e) {
    case ESRCH: return 'not in table';
    case EBUSY: return 'entry in use';
    case ENOBUFS: return 'routing table overflow';
    default: return strerror(e);
  }
}

/* route(8) prints 0.0.0.0 as "default". */
function routename(a: number): string {
  return a === 0 ? 'default' : inet_ntoa(a);
}

/** A parsed destination: address, prefix length, and whether it names a host. */
interface Dest {
  addr: number;
  plen: number;
  host: boolean;
}

/** route(8)'s getaddr for a destination; null if it is not one. */
function parseDest(s: string, forcenet: boolean): Dest | null {
  if (s === 'default') return { addr: 0, plen: 0, host: false };
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const a = inet_aton(s.slice(0, slash));
    const p = s.slice(slash + 1);
    if (a === null || !/^\d{1,2}$/.test(p) || Number(p) > 32) return null;
    return { addr: (a & plen2mask(Number(p))) >>> 0, plen: Number(p), host: Number(p) === 32 };
  }
  const parts = s.split('.');
  if (parts.length === 4) {
    const a = inet_aton(s);
    if (a === null) return null;
    const cls = (a & 0x80000000) === 0 ? 8 : (a & 0xc0000000) === 0x80000000 ? 16 : 24;
    if (!forcenet && (a & ~plen2mask(cls)) !== 0) return { addr: a, plen: 32, host: true };
    return { addr: a, plen: cls, host: false };
  }
  /* A network number: "10", "10.1", "192.168.1". */
  if (!parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  let a = 0;
  parts.forEach((p, i) => { a += Number(p) * 2 ** (24 - 8 * i); });
  return { addr: a >>> 0, plen: 8 * parts.length, host: false };
}

interface Request {
  cmd: string;
  dest: string;
  gateway: string;
  dst: Dest;
  gw: number | null;
  flags: number;
  iflag: boolean;
  ifp: string | null;
  mtu: number | null;
}

function parseRequest(cmd: string, args: readonly string[]): Request | string {
  let forcehost = false;
  let forcenet = false;
  let flags = RTF_STATIC;
  let iflag = false;
  let ifp: string | null = null;
  let mtu: number | null = null;
  let mask: number | null = null;
  const pos: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = (): string | null => (i + 1 < args.length ? args[++i]! : null);
    if (!a.startsWith('-') || a === '-') {
      pos.push(a);
      continue;
    }
    switch (a.slice(1)) {
      case 'net': forcenet = true; break;
      case 'host': forcehost = true; break;
      case 'inet': break;
      case 'interface':
      case 'iface': iflag = true; break;
      case 'static': flags |= RTF_STATIC; break;
      case 'nostatic': flags &= ~RTF_STATIC; break;
      case 'reject': flags |= RTF_REJECT; break;
      case 'blackhole': flags |= RTF_BLACKHOLE; break;
      case 'netmask': {
        const v = val();
        const m = v === null ? null : /^0x[0-9a-f]{1,8}$/i.test(v) ? parseInt(v.slice(2), 16) >>> 0 : inet_aton(v);
        if (m === null || mask2plen(m) < 0) return `${v ?? 'netmask'}: bad value`;
        mask = m;
        forcenet = true;
        break;
      }
      case 'ifp': {
        const v = val();
        if (v === null) return 'ifp: missing argument';
        ifp = v;
        break;
      }
      case 'mtu': {
        const v = val();
        if (v === null || !/^\d+$/.test(v)) return `${v ?? 'mtu'}: bad value`;
        mtu = Number(v);
        break;
      }
      default:
        return `${a}: unknown modifier`;
    }
  }
  if (pos.length === 0) return 'missing destination specification';
  if (pos.length > 2) return `${pos[2]}: bad value`;
  if (forcehost && forcenet) return '-host and -net conflict';
  const dest = pos[0]!;
  const dst = parseDest(dest, forcenet);
  if (dst === null) return `${dest}: bad value`;
  if (mask !== null) {
    dst.plen = mask2plen(mask);
    dst.addr = (dst.addr & mask) >>> 0;
    dst.host = false;
  }
  if (forcehost) {
    dst.plen = 32;
    dst.host = true;
  }
  const gateway = pos[1] ?? '';
  let gw: number | null = null;
  if (gateway !== '') {
    gw = inet_aton(gateway);
    if (gw === null) return `${gateway}: bad value`;
  } else if (cmd === 'add') {
    return 'missing gateway specification';
  }
  flags |= RTF_UP;
  if (dst.host) flags |= RTF_HOST;
  if (!iflag && gw !== null) flags |= RTF_GATEWAY;
  return { cmd, dest, gateway, dst, gw, flags, iflag, ifp, mtu };
}

class RouteSock {
  seq = 0;
  constructor(readonly sys: SysApi, readonly s: number, readonly pid: number) {}

  /** Write one request; resolve to its errno (0 on success). */
  async write(hdr: RtMsghdr, addrs: (Uint8Array | null)[]): Promise<number> {
    hdr.rtm_seq = ++this.seq;
    try {
      await this.sys.write(this.s, rt_msg_build(hdr, addrs));
      return 0;
    } catch (e) {
      return errnoOf(e) !== 0 ? errnoOf(e) : -1;
    }
  }

  /** Our answer to the last request, skipping other processes' news. */
  async answer(): Promise<ReturnType<typeof rt_msg_parse>> {
    const buf = new Uint8Array(2048);
    for (;;) {
      const n = await this.sys.recv(this.s, buf, MSG_DONTWAIT);
      const m = rt_msg_parse(buf.slice(0, n));
      if (typeof m === 'string') continue;
      if (m.hdr.rtm_seq === this.seq && m.hdr.rtm_pid === this.pid) return m;
    }
  }
}

function requestAddrs(r: Request): (Uint8Array | null)[] {
  const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
  addrs[RTAX_DST] = sa_in(r.dst.addr);
  if (r.gw !== null) addrs[RTAX_GATEWAY] = sa_in(r.gw);
  if (!r.dst.host) addrs[RTAX_NETMASK] = sa_in(plen2mask(r.dst.plen));
  if (r.ifp !== null) addrs[RTAX_IFP] = sa_dl({ sdl_index: 0, sdl_type: 0, sdl_name: r.ifp, sdl_addr: new Uint8Array(0) });
  return addrs;
}

/* add, delete, change: "add net 10.1.0.0/16: gateway 10.0.0.2[: reason]". */
async function newroute(rs: RouteSock, io: ToolIO, r: Request, qflag: boolean): Promise<number> {
  const type = r.cmd === 'add' ? RTM_ADD : r.cmd === 'change' ? RTM_CHANGE : RTM_DELETE;
  const hdr = rtm_blank(type);
  hdr.rtm_flags = r.flags;
  if (r.mtu !== null) {
    hdr.rtm_inits = RTV_MTU;
    hdr.rtm_rmx.rmx_mtu = r.mtu;
  }
  const e = await rs.write(hdr, requestAddrs(r));
  if (e !== 0) io.err(`route: writing to routing socket: ${route_strerror(e)}\n`);
  if (qflag) return e !== 0 ? 1 : 0;
  let line = `${r.cmd} ${r.dst.host ? 'host' : 'net'} ${r.dest}`;
  if (r.gateway !== '') line += `: gateway ${r.gateway}`;
  io.out(e === 0 ? `${line}\n` : `${line}: ${route_strerror(e)}\n`);
  return e !== 0 ? 1 : 0;
}

/* get: route(8)'s print_getmsg. */
async function getroute(rs: RouteSock, io: ToolIO, r: Request): Promise<number> {
  const hdr = rtm_blank(RTM_GET);
  hdr.rtm_flags = r.dst.host ? RTF_UP | RTF_HOST : RTF_UP;
  const e = await rs.write(hdr, requestAddrs({ ...r, gw: null }));
  if (e !== 0) {
    io.err(`route: writing to routing socket: ${route_strerror(e)}\n`);
    return 1;
  }
  const m = await rs.answer();
  if (typeof m === 'string') {
    io.err(`route: bad message from routing socket: ${m}\n`);
    return 1;
  }
  let s = `   route to: ${routename(r.dst.addr)}\n`;
  const dst = sa_in_addr(m.addrs[RTAX_DST] ?? null);
  if (dst !== null) s += `destination: ${routename(dst)}\n`;
  const mask = sa_in_addr(m.addrs[RTAX_NETMASK] ?? null, true);
  if (mask !== null) s += `       mask: ${routename(mask)}\n`;
  const gw = sa_in_addr(m.addrs[RTAX_GATEWAY] ?? null);
  if (gw !== null && (m.hdr.rtm_flags & RTF_GATEWAY) !== 0) s += `    gateway: ${routename(gw)}\n`;
  const ifa = sa_in_addr(m.addrs[RTAX_IFA] ?? null);
  if (ifa !== null) s += ` local addr: ${inet_ntoa(ifa)}\n`;
  const ifp = sa_dl_parse(m.addrs[RTAX_IFP] ?? null);
  if (ifp !== null && ifp.sdl_name !== '') s += `  interface: ${ifp.sdl_name}\n`;
  s += `      flags: ${bitnames(m.hdr.rtm_flags, ROUTEFLAGS) || 'none'}\n`;
  const x = m.hdr.rtm_rmx;
  const cols = [0, 0, 0, 0, 0, x.rmx_hopcount, x.rmx_mtu, x.rmx_expire];
  s += ' recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n';
  s += cols.map((v) => `${String(v).padStart(8)} `).join(' ').trimEnd() + ' \n';
  io.out(s);
  return 0;
}

/* flush: delete every route that is not the kernel's own (gateway or static ones). */
async function flushroutes(rs: RouteSock, sys: SysApi, io: ToolIO, qflag: boolean): Promise<number> {
  for (const r of await rt_dump(sys)) {
    if ((r.flags & (RTF_GATEWAY | RTF_STATIC)) === 0) continue;
    const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
    const dst = inet_aton(r.dst)!;
    addrs[RTAX_DST] = sa_in(dst);
    if (r.plen < 32) addrs[RTAX_NETMASK] = sa_in(plen2mask(r.plen));
    const e = await rs.write(rtm_blank(RTM_DELETE), addrs);
    if (e !== 0) {
      io.err(`route: writing to routing socket: ${route_strerror(e)}\n`);
      return 1;
    }
    if (!qflag) {
      const gw = r.gateway !== '' ? r.gateway : `link#${r.ifa_index}`;
      io.out(`${rt_netname(dst, r.plen).padEnd(20).slice(0, 20)} ${gw.padEnd(20).slice(0, 20)} done\n`);
    }
  }
  return 0;
}

/* The sockaddrs of a message as route monitor lists them. */
function pmsg_addrs(addrs: readonly (Uint8Array | null)[]): string {
  const names = ['DST', 'GATEWAY', 'NETMASK', 'GENMASK', 'IFP', 'IFA', 'AUTHOR', 'BRD', 'TAG'];
  const present = names.filter((_, i) => addrs[i] !== null && addrs[i] !== undefined);
  if (present.length === 0) return '\n';
  const vals = addrs.map((sa, i) => {
    if (sa === null || sa === undefined) return null;
    if (i === RTAX_NETMASK) return inet_ntoa(sa_in_addr(sa, true) ?? 0);
    const a = sa_in_addr(sa);
    if (a !== null) return routename(a);
    const d = sa_dl_parse(sa);
    if (d !== null) return d.sdl_name !== '' ? d.sdl_name : `link#${d.sdl_index}`;
    return '?';
  }).filter((v) => v !== null);
  return `\nsockaddrs: <${present.join(',')}>\n ${vals.join(' ')}\n`;
}

const MSGTYPES: Record<number, string> = {
  [RTM_ADD]: 'RTM_ADD: Add Route', [RTM_DELETE]: 'RTM_DELETE: Delete Route',
  [RTM_CHANGE]: 'RTM_CHANGE: Change Metrics, Flags or Gateway', [RTM_GET]: 'RTM_GET: Report Metrics',
  [RTM_NEWADDR]: 'RTM_NEWADDR: address being added to iface', [RTM_DELADDR]: 'RTM_DELADDR: address being removed from iface',
  [RTM_CHGADDR]: 'RTM_CHGADDR: address being changed on iface', [RTM_IFANNOUNCE]: 'RTM_IFANNOUNCE: iface arrival/departure',
  [RTM_IFINFO]: 'RTM_IFINFO: iface status change',
};

/** route monitor's print_rtmsg. */
export function print_rtmsg(buf: Uint8Array): string {
  const m = rt_anymsg_parse(buf);
  if (m === null) return `routing message version ${buf[2] ?? '?'} not understood\n`;
  let s = `${MSGTYPES[m.type] ?? `#${m.type}`}: len ${m.len}, `;
  switch (m.type) {
    case RTM_IFINFO:
      return s + `if# ${m.index}, flags: ${bitnames(m.flags, IFNETFLAGS) || 'none'}` + pmsg_addrs(m.addrs);
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_CHGADDR:
      return s + `metric 0, flags: ${bitnames(m.flags, ROUTEFLAGS) || 'none'}` + pmsg_addrs(m.addrs);
    case RTM_IFANNOUNCE:
      return s + `if# ${m.index}, what: ${m.what === IFAN_ARRIVAL ? 'arrival' : m.what === IFAN_DEPARTURE ? 'departure' : `#${m.what}`}\n`;
    default: {
      const r = rt_msg_parse(buf.subarray(0, m.len));
      if (typeof r === 'string') return s + '(malformed)\n';
      s += `pid ${r.hdr.rtm_pid}, seq ${r.hdr.rtm_seq}, errno ${r.hdr.rtm_errno}, flags: ${bitnames(r.hdr.rtm_flags, ROUTEFLAGS) || 'none'}`;
      s += `\nlocks: ${r.hdr.rtm_rmx.rmx_locks === 0 ? 'none' : r.hdr.rtm_rmx.rmx_locks} inits: ${r.hdr.rtm_inits === 0 ? 'none' : r.hdr.rtm_inits}`;
      return s + pmsg_addrs(r.addrs);
    }
  }
}

async function monitor(sys: SysApi, s: number, io: ToolIO, args: readonly string[]): Promise<number> {
  let count = 0;
  if (args.length > 0) {
    if (args.length !== 2 || args[0] !== '-c' || !/^\d+$/.test(args[1]!)) {
      io.err(USAGE);
      return 1;
    }
    count = Number(args[1]);
  }
  const buf = new Uint8Array(2048);
  for (let i = 0; count === 0 || i < count; i++) {
    const n = await sys.read(s, buf);
    io.out(`got message of size ${n} on ${new Date().toUTCString()}\n`);
    io.out(print_rtmsg(buf.subarray(0, n)));
  }
  return 0;
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const g = getopt(argv, 'dfnqsv');
  if (g.error !== null || g.rest.length === 0) {
    io.err(`${g.error !== null ? `route: ${g.error}\n` : ''}${USAGE}`);
    return 1;
  }
  const qflag = g.opts.some((o) => o.opt === 'q');
  const [cmd, ...args] = g.rest as [string, ...string[]];
  let s: number;
  try {
    s = await sys.socket(PF_ROUTE, SOCK_RAW, cmd === 'monitor' ? 0 : AF_INET);
  } catch (e) {
    io.err(`route: socket: ${errstr(e)}\n`);
    return 1;
  }
  try {
    const rs = new RouteSock(sys, s, await sys.getpid());
    switch (cmd) {
      case 'add':
      case 'delete':
      case 'change':
      case 'get': {
        const r = parseRequest(cmd, args);
        if (typeof r === 'string') {
          io.err(`route: ${r}\n`);
          return 1;
        }
        return cmd === 'get' ? await getroute(rs, io, r) : await newroute(rs, io, r, qflag);
      }
      case 'show':
        io.out(p_rttables(await rt_dump(sys)));
        return 0;
      case 'flush':
        return await flushroutes(rs, sys, io, qflag);
      case 'monitor':
        return await monitor(sys, s, io, args);
      default:
        io.err(`route: ${cmd}: unknown command\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    io.err(`route: ${errnoOf(e) === EAGAIN ? 'read from routing socket' : 'error'}: ${errstr(e)}\n`);
    return 1;
  } finally {
    await sys.close(s).catch(() => undefined);
  }
}
