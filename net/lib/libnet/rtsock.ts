/*
 * rtsock.ts: the routing socket and the net.route sysctl tree (NetBSD's
 * net/rtsock.c), part of the rumpnet_net component.
 *
 * Place: beside the packet path, never on it.  route(8) and arp(8) write
 * requests to a PF_ROUTE socket; route_output() parses the rt_msghdr and
 * its sockaddrs (include/route.ts, NetBSD's binary layout), asks the
 * routing table (route.ts: rtrequest, rtalloc1) or a protocol's link-layer
 * table (ARP, through IfnetState.lltables), and answers by appending the
 * message, now carrying rtm_errno (or RTF_DONE) and the route's details,
 * to every routing socket: the writer reads its answer the same way a
 * `route monitor` hears everybody's.  A failed request also fails the
 * write(2) itself, which is where route(8)'s "writing to routing socket:
 * File exists" comes from.
 *
 * The kernel announces on the same sockets: RTM_IFINFO when an
 * interface's flags change, RTM_IFANNOUNCE when one arrives or departs,
 * RTM_NEWADDR and RTM_DELADDR for addresses (in_var.ts).  Nothing is built
 * while no routing socket is open.
 *
 * sysctl, NetBSD's MIB numbers (net.route.rtable.<af>.<op>[.<arg>]):
 *   net.route.rtable.inet.dump          NET_RT_DUMP: every route
 *   net.route.rtable.inet.flags.llinfo  NET_RT_FLAGS with RTF_LLDATA: ARP
 *   net.route.rtable.inet.iflist        NET_RT_IFLIST: interfaces, counters
 *                                       and addresses
 *   net.route.stats                     struct rtstat
 * Unlike NetBSD's, the dumps are arrays of plain objects (RtDumpEntry,
 * LlinfoEntry, IflistEntry in include/route.ts) rather than packed routing
 * messages: they cross the syscall proxy as data and netstat, arp and
 * ifconfig read them directly.  NetBSD's rtable node is a handler that
 * takes the rest of the MIB as arguments; here the nodes exist, with the
 * same numbers, so a MIB or a dotted name reaches them alike.
 *
 * Differs from NetBSD: IPv4 only; no RTM_MISS, RTM_LOSING or RTM_REDIRECT
 * (no redirects or cloning yet); RTM_ADD and RTM_DELETE caused by the
 * kernel itself (an address's connected route) are not announced, only
 * the address messages are; no RO_MSGFILTER.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { Domain, PR_ADDR, PR_ATOMIC, type PrUsrreqs, type Protosw } from '../../../librump/rumpnet/uipc_domain.ts';
import { m_freem, m_frombytes, m_tobytes, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import {
  sbappendaddr, socantsendmore, soisconnected, soisdisconnected, soreserve, sorwakeup,
} from '../../../librump/rumpnet/uipc_socket2.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import {
  EAFNOSUPPORT, EINVAL, EISCONN, ENETUNREACH, ENXIO, EOPNOTSUPP, EPROTONOSUPPORT, ESRCH,
} from '../../../include/errno.ts';
import { AF_INET, AF_ROUTE, PF_ROUTE, SO_USELOOPBACK, SOCK_RAW } from '../../../include/socket.ts';
import { CTLTYPE_NODE, CTLTYPE_STRUCT, CTL_CREATE } from '../../../include/sysctl.ts';
import {
  NET_RT_DUMP, NET_RT_FLAGS, NET_RT_IFLIST, RTAX_DST, RTAX_GATEWAY, RTAX_IFA, RTAX_IFP, RTAX_MAX, RTAX_NETMASK,
  RTAX_BRD, RTF_DONE, RTF_GATEWAY, RTF_LLDATA, RTF_MASK, RTF_UPDATING, RTM_ADD, RTM_CHANGE, RTM_DELETE, RTM_GET,
  RTM_IFINFO, RTV_EXPIRE, RTV_MTU, if_msg_build, ifa_msg_build, ifan_msg_build, rt_msg_build, rt_msg_parse,
  rt_ntoa, sa_dl, sa_dl_parse, sa_in, sa_in_addr, type IflistEntry, type LlinfoEntry, type RtDumpEntry,
  type RtMsghdr,
} from '../../../include/route.ts';
import { ether_ntoa } from './if_ether.ts';
import { if_byindex, ifnet_of, ifunit, type Ifaddr, type Ifnet } from './if.ts';
import type { RouteTable, RtAddrinfo, Rtentry } from './route.ts';

/** Socket buffer sizes of a routing socket (NetBSD's route_sendspace, route_recvspace). */
const ROUTE_SENDSPACE = 8192;
const ROUTE_RECVSPACE = 8192;

/** Flags a request may not set: they describe messages, not routes. */
const RTF_MSGONLY = RTF_DONE | RTF_MASK | RTF_UPDATING | RTF_LLDATA;

/* The source address of every routing message (NetBSD's route_src). */
const ROUTE_SRC = new Uint8Array([2, AF_ROUTE]);

/** A routing socket's control block (NetBSD's rawcb): the family it listens to, 0 for all. */
interface Rawcb {
  readonly rcb_socket: Socket;
  readonly rcb_proto: number;
}

/** The routing-socket state of one kernel. */
export class RtsockState {
  readonly rs_cbs: Rawcb[] = [];
  /** Messages dropped because a listener's buffer was full. */
  rs_drops = 0;
  constructor(readonly rs_rt: RouteTable) {}
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** The routing socket; set when rumpnet_net boots. */
    rtsock?: RtsockState;
  }
}

function sotorawcb(so: Socket): Rawcb | null {
  return so.so_pcb as Rawcb | null;
}

/* ------------------------------------------------------------ delivery */

/**
 * Append a message to every routing socket that wants family af (0: all
 * of them), skipping `except` (a writer that turned SO_USELOOPBACK off).
 */
function route_enqueue(rs: RtsockState, msg: Uint8Array, af: number, except: Socket | null): void {
  for (const rcb of rs.rs_cbs) {
    const so = rcb.rcb_socket;
    if (so === except) continue;
    if (rcb.rcb_proto !== 0 && af !== 0 && rcb.rcb_proto !== af) continue;
    const m = m_frombytes(net_of(so.so_kernel).mb, msg);
    if (m === null || !sbappendaddr(so.so_rcv, ROUTE_SRC, m, null)) {
      m_freem(m);
      so.so_rcv.sb_overflowed++;
      rs.rs_drops++;
      continue;
    }
    sorwakeup(so);
  }
}

/** The sockaddr_dl of an interface: index, type, name and MAC. */
function if_sadl(ifp: Ifnet): Uint8Array {
  return sa_dl({ sdl_index: ifp.if_index, sdl_type: ifp.if_type, sdl_name: ifp.if_xname, sdl_addr: ifp.if_sadl });
}

/** rt_ifmsg: ifp's flags changed (RTM_IFINFO). */
export function rt_ifmsg(k: Kernel, ifp: Ifnet): void {
  const rs = k.rtsock;
  if (rs === undefined || rs.rs_cbs.length === 0) return;
  const msg = if_msg_build({
    ifm_type: RTM_IFINFO, ifm_flags: ifp.if_flags, ifm_index: ifp.if_index, ifi_type: ifp.if_type,
    ifi_addrlen: ifp.if_addrlen, ifi_hdrlen: ifp.if_hdrlen, ifi_mtu: ifp.if_mtu, ifi_ipackets: ifp.if_ipackets,
    ifi_ierrors: ifp.if_ierrors, ifi_opackets: ifp.if_opackets, ifi_oerrors: ifp.if_oerrors,
    ifi_collisions: ifp.if_collisions, ifi_ibytes: ifp.if_ibytes, ifi_obytes: ifp.if_obytes,
    ifi_imcasts: ifp.if_imcasts, ifi_omcasts: ifp.if_omcasts, ifi_iqdrops: ifp.if_iqdrops, ifi_noproto: ifp.if_noproto,
  }, []);
  route_enqueue(rs, msg, 0, null);
}

/** rt_ifannouncemsg: ifp arrived or departed (RTM_IFANNOUNCE, IFAN_*). */
export function rt_ifannouncemsg(k: Kernel, ifp: Ifnet, what: number): void {
  const rs = k.rtsock;
  if (rs === undefined || rs.rs_cbs.length === 0) return;
  route_enqueue(rs, ifan_msg_build(ifp.if_index, ifp.if_xname, what), 0, null);
}

/** rt_newaddrmsg: an address came (RTM_NEWADDR) or went (RTM_DELADDR). */
export function rt_newaddrmsg(k: Kernel, cmd: number, ifa: Ifaddr): void {
  const rs = k.rtsock;
  if (rs === undefined || rs.rs_cbs.length === 0) return;
  const d = ifa.ifa_describe();
  if (d === null || d.family !== AF_INET) return;
  const ifp = ifa.ifa_ifp;
  const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
  addrs[RTAX_IFP] = if_sadl(ifp);
  addrs[RTAX_IFA] = sa_in(inet_aton(d.addr));
  addrs[RTAX_NETMASK] = sa_in(inet_aton(d.netmask));
  if (d.broadaddr !== '') addrs[RTAX_BRD] = sa_in(inet_aton(d.broadaddr));
  const msg = ifa_msg_build({ ifam_type: cmd, ifam_index: ifp.if_index, ifam_flags: 0, ifam_pid: 0, ifam_metric: 0 }, addrs);
  route_enqueue(rs, msg, AF_INET, null);
}

/* Dotted quads come from the kernel's own formatting: always well formed. */
function inet_aton(s: string): number {
  const p = s.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/* ------------------------------------------------------------- requests */

/** A netmask's prefix length, or -1 if it is not contiguous. */
function mask2plen(mask: number): number {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return 32 - Math.log2(inv + 1);
}

function plen2mask(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

/* The interface a request names: by sockaddr_dl index, else by name. */
function ifp_of_sdl(k: Kernel, sa: Uint8Array | null): Ifnet | null {
  const d = sa_dl_parse(sa);
  if (d === null) return null;
  if (d.sdl_index !== 0) return if_byindex(k, d.sdl_index);
  return d.sdl_name !== '' ? ifunit(k, d.sdl_name) : null;
}

/* The interface holding IPv4 address a (for an interface route named by its address). */
function ifp_of_addr(k: Kernel, a: number): Ifnet | null {
  const want = rt_ntoa(a);
  for (const ifp of ifnet_of(k).ifindex2ifnet) {
    if (ifp === null) continue;
    for (const ifa of ifp.if_addrlist) if (ifa.ifa_describe()?.addr === want) return ifp;
  }
  return null;
}

/** The answer to RTM_GET (and RTM_DELETE, RTM_ADD, RTM_CHANGE) for rt: its details, in a message. */
function rt_msg_of(rt: Rtentry, hdr: RtMsghdr): Uint8Array {
  const ifp = rt.rt_ifp as Ifnet;
  const aifp = rt.rt_ifa.ifa_ifp as Ifnet;
  const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
  addrs[RTAX_DST] = sa_in(rt.rt_dst);
  addrs[RTAX_GATEWAY] = (rt.rt_flags & RTF_GATEWAY) !== 0
    ? sa_in(rt.rt_gateway)
    : sa_dl({ sdl_index: aifp.if_index, sdl_type: aifp.if_type, sdl_name: '', sdl_addr: new Uint8Array(0) });
  if (rt.rt_plen < 32) addrs[RTAX_NETMASK] = sa_in(rt.rt_mask);
  addrs[RTAX_IFP] = if_sadl(ifp);
  if (rt.rt_ifa_addr !== 0) addrs[RTAX_IFA] = sa_in(rt.rt_ifa_addr);
  hdr.rtm_index = ifp.if_index;
  hdr.rtm_flags = rt.rt_flags | RTF_DONE;
  hdr.rtm_use = rt.rt_use;
  hdr.rtm_rmx.rmx_mtu = rt.rt_rmx.rmx_mtu;
  hdr.rtm_rmx.rmx_expire = rt.rt_rmx.rmx_expire;
  return rt_msg_build(hdr, addrs);
}

/** The outcome of one request: an errno and the message to broadcast (null: none). */
interface RouteReply {
  error: number;
  reply: Uint8Array | null;
}

/* Link-layer (ARP) requests: RTF_LLDATA on RTM_ADD or RTM_DELETE. */
function route_output_lla(k: Kernel, hdr: RtMsghdr, addrs: (Uint8Array | null)[], dst: number): number {
  const llt = ifnet_of(k).lltables.get(AF_INET);
  if (llt === undefined) return EAFNOSUPPORT;
  if (hdr.rtm_type === RTM_DELETE) return llt.llt_delete(dst);
  if (hdr.rtm_type !== RTM_ADD) return EOPNOTSUPP;
  const sdl = sa_dl_parse(addrs[RTAX_GATEWAY] ?? null);
  if (sdl === null || sdl.sdl_addr.length === 0) return EINVAL;
  const ifp = ifp_of_sdl(k, addrs[RTAX_GATEWAY] ?? null) ?? ifp_of_sdl(k, addrs[RTAX_IFP] ?? null);
  return llt.llt_add(dst, sdl.sdl_addr, ifp);
}

/**
 * route_output: carry out one request written to a routing socket.  The
 * message (whole, as one write) must be a well-formed rt_msghdr of this
 * version with an AF_INET destination.
 */
function route_output(k: Kernel, rs: RtsockState, buf: Uint8Array, pid: number): RouteReply {
  const m = rt_msg_parse(buf);
  if (m === 'version') return { error: EPROTONOSUPPORT, reply: null };
  if (typeof m === 'string') return { error: EINVAL, reply: null };
  const { hdr, addrs } = m;
  hdr.rtm_pid = pid;
  const dsa = addrs[RTAX_DST] ?? null;
  if (dsa === null) return { error: EINVAL, reply: null };
  if (dsa.length < 2 || dsa[1] !== AF_INET) return { error: EAFNOSUPPORT, reply: null };
  let dst = sa_in_addr(dsa);
  if (dst === null) return { error: EINVAL, reply: null };

  let error: number;
  let reply: Uint8Array | null = null;
  if ((hdr.rtm_flags & RTF_LLDATA) !== 0) {
    error = route_output_lla(k, hdr, addrs, dst);
  } else {
    const msa = addrs[RTAX_NETMASK] ?? null;
    let plen = 32;
    if (msa !== null) {
      plen = mask2plen(sa_in_addr(msa, true)!);
      if (plen < 0) return { error: EINVAL, reply: null };
    }
    dst = (dst & plen2mask(plen)) >>> 0;
    const rt = rs.rs_rt;
    switch (hdr.rtm_type) {
      case RTM_GET: {
        const r = msa !== null ? rt.rt_get(dst, plen) : rt.rtalloc1(dst);
        if (r === null) {
          error = ESRCH;
          break;
        }
        error = 0;
        reply = rt_msg_of(r, hdr);
        break;
      }
      case RTM_ADD:
      case RTM_CHANGE:
      case RTM_DELETE: {
        const info: RtAddrinfo = { rti_dst: dst, rti_plen: plen };
        if (hdr.rtm_type !== RTM_DELETE) {
          const e = route_addrinfo(k, hdr, addrs, info);
          if (e !== 0) {
            error = e;
            break;
          }
        }
        const r = rt.rtrequest(hdr.rtm_type, info);
        error = r.error;
        if (r.rt !== null) reply = rt_msg_of(r.rt, hdr);
        break;
      }
      default:
        error = EOPNOTSUPP;
    }
  }
  if (reply === null) {
    hdr.rtm_errno = error;
    if (error === 0) hdr.rtm_flags |= RTF_DONE;
    reply = rt_msg_build(hdr, addrs);
  }
  return { error, reply };
}

/* The rest of an add or change: gateway, interface, source, flags and metrics. */
function route_addrinfo(k: Kernel, hdr: RtMsghdr, addrs: (Uint8Array | null)[], info: RtAddrinfo): number {
  const flags = hdr.rtm_flags & ~RTF_MSGONLY;
  info.rti_flags = flags;
  const gsa = addrs[RTAX_GATEWAY] ?? null;
  if (gsa === null) {
    if (hdr.rtm_type === RTM_ADD) return EINVAL;
  } else if (gsa.length >= 2 && gsa[1] === AF_INET) {
    const gw = sa_in_addr(gsa);
    if (gw === null) return EINVAL;
    if ((flags & RTF_GATEWAY) !== 0) {
      info.rti_gateway = gw;
    } else {
      /* route add -interface: the gateway names one of our addresses, whose interface carries the route. */
      const ifp = ifp_of_addr(k, gw);
      if (ifp === null) return ENETUNREACH;
      info.rti_ifp = ifp;
      info.rti_ifa_addr = gw;
    }
  } else {
    const ifp = ifp_of_sdl(k, gsa);
    if (ifp === null) return ENXIO;
    if ((flags & RTF_GATEWAY) !== 0) return EINVAL;
    info.rti_ifp = ifp;
  }
  const isa = addrs[RTAX_IFP] ?? null;
  if (isa !== null && sa_dl_parse(isa)?.sdl_name !== '') {
    const ifp = ifp_of_sdl(k, isa);
    if (ifp === null) return ENXIO;
    info.rti_ifp = ifp;
  }
  const asa = addrs[RTAX_IFA] ?? null;
  if (asa !== null) {
    const a = sa_in_addr(asa);
    if (a === null) return EINVAL;
    info.rti_ifa_addr = a;
  }
  if ((hdr.rtm_inits & RTV_MTU) !== 0) info.rti_mtu = hdr.rtm_rmx.rmx_mtu;
  if ((hdr.rtm_inits & RTV_EXPIRE) !== 0) info.rti_expire = hdr.rtm_rmx.rmx_expire;
  return 0;
}

/* ------------------------------------------------------------- usrreqs */

function route_attach(so: Socket, proto: number, _l: Lwp): number {
  if (so.so_pcb !== null) return EISCONN;
  const rs = so.so_kernel.rtsock;
  if (rs === undefined) return EAFNOSUPPORT;
  const e = soreserve(so, ROUTE_SENDSPACE, ROUTE_RECVSPACE);
  if (e !== 0) return e;
  const rcb: Rawcb = { rcb_socket: so, rcb_proto: proto };
  so.so_pcb = rcb;
  rs.rs_cbs.push(rcb);
  /* A routing socket talks to the kernel: connected from birth, and it hears its own answers. */
  soisconnected(so);
  so.so_options |= SO_USELOOPBACK;
  return 0;
}

function route_detach(so: Socket): void {
  const rcb = sotorawcb(so);
  const rs = so.so_kernel.rtsock;
  if (rcb === null || rs === undefined) return;
  const i = rs.rs_cbs.indexOf(rcb);
  if (i >= 0) rs.rs_cbs.splice(i, 1);
  so.so_pcb = null;
}

function route_send(so: Socket, m: Mbuf, _nam: Uint8Array | null, control: Mbuf | null, l: Lwp): number {
  m_freem(control);
  const rs = so.so_kernel.rtsock;
  if (sotorawcb(so) === null || rs === undefined) {
    m_freem(m);
    return EINVAL;
  }
  const buf = m_tobytes(m);
  m_freem(m);
  const r = route_output(so.so_kernel, rs, buf, l.l_proc.p_pid);
  if (r.reply !== null) {
    const self = (so.so_options & SO_USELOOPBACK) !== 0 ? null : so;
    route_enqueue(rs, r.reply, AF_INET, self);
  }
  return r.error;
}

const route_usrreqs: PrUsrreqs = {
  pr_attach: route_attach,
  pr_detach: route_detach,
  pr_accept: () => EOPNOTSUPP,
  pr_bind: () => EOPNOTSUPP,
  pr_listen: () => EOPNOTSUPP,
  pr_connect: () => EISCONN,
  pr_connect2: () => EOPNOTSUPP,
  pr_disconnect: (so) => { soisdisconnected(so); return 0; },
  pr_shutdown: (so) => { socantsendmore(so); return 0; },
  pr_abort: (so) => { soisdisconnected(so); route_detach(so); return 0; },
  pr_ioctl: () => EOPNOTSUPP,
  pr_stat: () => 0,
  pr_peeraddr: (_so, nam) => { nam.sa = ROUTE_SRC.slice(); return 0; },
  pr_sockaddr: (_so, nam) => { nam.sa = ROUTE_SRC.slice(); return 0; },
  pr_rcvd: () => EOPNOTSUPP,
  pr_recvoob: () => EOPNOTSUPP,
  pr_send: route_send,
  pr_sendoob: (_so, m, control) => { m_freem(m); m_freem(control); return EOPNOTSUPP; },
  pr_purgeif: () => 0,
};

function route_domain_create(): Domain {
  const dom = new Domain(PF_ROUTE, 'route', ROUTE_SRC.length);
  const raw: Protosw = {
    pr_type: SOCK_RAW, pr_domain: dom, pr_protocol: 0, pr_flags: PR_ATOMIC | PR_ADDR, pr_usrreqs: route_usrreqs,
  };
  dom.dom_protosw.push(raw);
  return dom;
}

/* ---------------------------------------------------------------- sysctl */

/** NET_RT_DUMP: every route, in netstat -rn order. */
export function rt_dump(rt: RouteTable): RtDumpEntry[] {
  return rt.rt_walk().map((r) => ({
    dst: rt_ntoa(r.rt_dst), plen: r.rt_plen, gateway: (r.rt_flags & RTF_GATEWAY) !== 0 ? rt_ntoa(r.rt_gateway) : '',
    flags: r.rt_flags, refcnt: r.rt_refcnt, use: r.rt_use, mtu: r.rt_rmx.rmx_mtu, expire: r.rt_rmx.rmx_expire,
    ifname: r.rt_ifp.if_xname, ifa_index: r.rt_ifa.ifa_ifp.if_index, ifa: rt_ntoa(r.rt_ifa_addr),
  }));
}

/** NET_RT_FLAGS with RTF_LLDATA: the ARP cache. */
export function rt_llinfo(k: Kernel): LlinfoEntry[] {
  const llt = ifnet_of(k).lltables.get(AF_INET);
  if (llt === undefined) return [];
  return llt.llt_dump().map((e) => ({
    addr: e.addr, lladdr: e.mac ?? '', ifname: e.ifname, ifindex: ifunit(k, e.ifname)?.if_index ?? 0,
    state: e.state, permanent: e.permanent, expire: e.expire ?? -1,
  }));
}

/** NET_RT_IFLIST: every interface with its counters and addresses. */
export function rt_iflist(k: Kernel): IflistEntry[] {
  const out: IflistEntry[] = [];
  for (const ifp of ifnet_of(k).ifindex2ifnet) {
    if (ifp === null) continue;
    const addrs = [];
    for (const ifa of ifp.if_addrlist) {
      const d = ifa.ifa_describe();
      if (d !== null) addrs.push(d);
    }
    out.push({
      name: ifp.if_xname, index: ifp.if_index, flags: ifp.if_flags, type: ifp.if_type, mtu: ifp.if_mtu,
      lladdr: ifp.if_sadl.length === 0 ? '' : ether_ntoa(ifp.if_sadl),
      ipackets: ifp.if_ipackets, ierrors: ifp.if_ierrors, opackets: ifp.if_opackets, oerrors: ifp.if_oerrors,
      collisions: ifp.if_collisions, ibytes: ifp.if_ibytes, obytes: ifp.if_obytes, imcasts: ifp.if_imcasts,
      omcasts: ifp.if_omcasts, iqdrops: ifp.if_iqdrops, noproto: ifp.if_noproto, addrs,
    });
  }
  return out;
}

function sysctl_net_route_setup(k: Kernel, rs: RtsockState): void {
  const mk = (parent: string, desc: Parameters<Kernel['sysctl']['sysctl_createv']>[1]): void => {
    const r = k.sysctl.sysctl_createv(parent, desc);
    if (r.error !== 0) panic(k, `rtsock: sysctl ${parent}.${desc.name}: errno ${r.error}`);
  };
  mk('net', { name: 'route', num: PF_ROUTE, type: CTLTYPE_NODE, description: 'PF_ROUTE information' });
  const route = 'net.route';
  mk(route, { name: 'rtable', num: 0, type: CTLTYPE_NODE, description: 'Routing table information' });
  mk(`${route}.rtable`, { name: 'inet', num: AF_INET, type: CTLTYPE_NODE, description: 'IPv4 routing table' });
  const inet = `${route}.rtable.inet`;
  mk(inet, { name: 'dump', num: NET_RT_DUMP, type: CTLTYPE_STRUCT, get: () => rt_dump(rs.rs_rt), description: 'Every route (NET_RT_DUMP)' });
  mk(inet, { name: 'flags', num: NET_RT_FLAGS, type: CTLTYPE_NODE, description: 'Entries by flag (NET_RT_FLAGS)' });
  mk(`${inet}.flags`, { name: 'llinfo', num: RTF_LLDATA, type: CTLTYPE_STRUCT, get: () => rt_llinfo(k), description: 'Link-layer (ARP) entries' });
  mk(inet, { name: 'iflist', num: NET_RT_IFLIST, type: CTLTYPE_STRUCT, get: () => rt_iflist(k), description: 'Interfaces and their addresses (NET_RT_IFLIST)' });
  mk(route, { name: 'stats', num: CTL_CREATE, type: CTLTYPE_STRUCT, get: () => ({ ...rs.rs_rt.rtstat }), description: 'Routing statistics' });
}

/**
 * rtsock_init: the PF_ROUTE domain, the kernel's announcements and the
 * net.route tree, over the routing table rt (at NET, after ifinit).
 */
export function rtsock_init(k: Kernel, rt: RouteTable): void {
  const rs = new RtsockState(rt);
  k.rtsock = rs;
  net_of(k).domains.domain_attach(k, route_domain_create());
  const ifs = ifnet_of(k);
  ifs.rt_ifmsg = (ifp) => { rt_ifmsg(k, ifp); };
  ifs.rt_ifannouncemsg = (ifp, what) => { rt_ifannouncemsg(k, ifp, what); };
  sysctl_net_route_setup(k, rs);
}
