/*
 * in_var.ts: IPv4 interface addresses and the per-kernel inet state
 * (NetBSD's netinet/in_var.h and in.c): struct in_ifaddr, in_control()
 * for the address ioctls, in_broadcast(), source address selection, and
 * the hooks that keep addresses, routes and ARP in step when an interface
 * goes away.
 *
 * Place in the packet path: not on it, beside it.  ifconfig's ioctls reach
 * in_control() through ifioctl -> the socket's pr_ioctl; ip_input() asks
 * "is this for me" against in_ifaddrhead, ip_output() and in_pcbconnect()
 * pick their source address with in_selectsrc().
 *
 * Every piece of inet state of a kernel hangs off one InetState object
 * (k.inet), made by the netinet component: the address list, the
 * statistics, the tunables behind net.inet.*, the input queues, the
 * protocol switch, the PCB tables, the reassembly queues and the ARP
 * table.  Nothing is kept at module level.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import { log, LOG_WARNING } from '../../../librump/rumpkern/subr_prf.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import type { PktQueue } from '../../../librump/rumpnet/pktqueue.ts';
import type { Protosw } from '../../../librump/rumpnet/uipc_domain.ts';
import { Ifaddr, Ifnet, if_up, ifunit } from '../libnet/if.ts';
import { RTF_GATEWAY, RTF_REJECT, type Rtentry } from '../libnet/route.ts';
import { rt_of } from '../libnet/net_component.ts';
import { rt_newaddrmsg } from '../libnet/rtsock.ts';
import {
  EADDRNOTAVAIL, EEXIST, EINVAL, ENETUNREACH, ENXIO, EOPNOTSUPP,
} from '../../../include/errno.ts';
import {
  IFF_BROADCAST, IFF_LOOPBACK, IFF_UP, IFT_ETHER, SIOCAIFADDR, SIOCDIFADDR, SIOCGIFADDR, SIOCGIFALIAS, SIOCGIFNETMASK,
  type IfAliasreq, type IfconfEntry, type Ifreq,
} from '../../../include/if.ts';
import { AF_INET, type Sockaddr, type SockaddrIn } from '../../../include/socket.ts';
import { RTM_DELADDR, RTM_NEWADDR, type IflistAddr } from '../../../include/route.ts';
import {
  IN_CLASSA, IN_CLASSB, IN_EXPERIMENTAL, IN_MULTICAST, INADDR_ANY, INADDR_BROADCAST, IPPORT_ANONMAX,
  IPPORT_ANONMIN, IPPORT_RESERVEDMAX, IPPORT_RESERVEDMIN, in_broadaddr, in_len2mask, in_mask2len,
  inet_ntop4, inet_pton4,
} from './in.ts';
import { IPDEFTTL } from './ip.ts';
import { Ipstat } from './ip_var.ts';
import { Icmpstat } from './icmp_var.ts';
import { Udpstat, UDP_RECVSPACE, UDP_SENDSPACE } from './udp_var.ts';
import type { Arpstat, ArpTable } from './if_arp.ts';
import type { Inpcbtable } from './in_pcb.ts';
import type { IpReass } from './ip_reass.ts';

/** An IPv4 address on an interface (struct in_ifaddr). */
export class InIfaddr extends Ifaddr {
  /** The address, uint32 host order. */
  ia_addr: number;
  /** The subnet mask (ia_subnetmask) and its prefix length. */
  ia_subnetmask: number;
  ia_plen: number;
  /** ia_addr & ia_subnetmask. */
  ia_subnet: number;
  /** The broadcast address (IFF_BROADCAST interfaces), else 0. */
  ia_broadaddr: number;

  constructor(ifp: Ifnet, addr: number, mask: number, broad: number) {
    super(ifp, AF_INET);
    this.ia_addr = addr;
    this.ia_subnetmask = mask;
    this.ia_plen = in_mask2len(mask);
    this.ia_subnet = (addr & mask) >>> 0;
    this.ia_broadaddr = broad;
  }

  override ifa_describe(): IflistAddr {
    return {
      family: AF_INET, addr: inet_ntop4(this.ia_addr), netmask: inet_ntop4(this.ia_subnetmask),
      broadaddr: this.ia_broadaddr !== 0 ? inet_ntop4(this.ia_broadaddr) : '',
    };
  }
}

/** ICMP error context handed to pr_ctlinput: where the quoted IP header lies. */
export class IcmpCtlCtx {
  constructor(readonly st: InetState) {}
  /** What buf points at between messages (so it holds no packet storage). */
  readonly empty = new Uint8Array(0);
  /** The bytes holding the quoted header and at least 8 bytes after it. */
  buf: Uint8Array = this.empty;
  /** Offset of the quoted IP header in buf. */
  off = 0;
}

/** All inet state of one kernel: what NetBSD keeps in netinet's globals. */
export class InetState {
  /** Every IPv4 address of the kernel, in the order added (in_ifaddrhead). */
  readonly in_ifaddrhead: InIfaddr[] = [];

  readonly ipstat = new Ipstat();
  readonly icmpstat = new Icmpstat();
  readonly udpstat = new Udpstat();
  arpstat!: Arpstat;

  /* net.inet.ip tunables (defaults as NetBSD's GENERIC without GATEWAY). */
  ip_forwarding = 0;
  ip_sendredirects = 1;
  ip_defttl = IPDEFTTL;
  ip_forwsrcrt = 0;
  ip_directedbcast = 0;
  ip_allowsrcrt = 0;
  ip_hostzeroisbroadcast = 0;
  /** net.inet.ip.subnetsarelocal: in_localaddr uses classful masks (NetBSD default 1). */
  ip_subnetsarelocal = 1;
  ip_checkinterface = 0;
  /** net.inet.ip.random_id: 0 = sequential IDs from a random start, 1 = random per packet. */
  ip_do_randomid = 0;
  anonportmin = IPPORT_ANONMIN;
  anonportmax = IPPORT_ANONMAX;
  lowportmin = IPPORT_RESERVEDMIN;
  lowportmax = IPPORT_RESERVEDMAX;
  /** Reassembly limits: datagrams being reassembled, and fragments held in all. */
  ip_maxfragpackets = 200;
  ip_maxfrags = 256;

  /* net.inet.icmp tunables. */
  /** Error messages per second (ppsratecheck); negative = no limit, 0 = none sent. */
  icmperrppslim = 100;
  icmpmaskrepl = 0;
  icmpreturndatabytes = 8;
  icmpbmcastecho = 0;
  icmp_rediraccept = 1;
  /* ppsratecheck state of the error limit: the second it counts, and the count. */
  icmperrppslim_last = 0;
  icmperrpps_count = 0;
  icmperrppslim_started = false;

  /* net.inet.udp tunables. */
  udpcksum = 1;
  udp_sendspace = UDP_SENDSPACE;
  udp_recvspace = UDP_RECVSPACE;

  /* Raw IP socket buffers (NetBSD's rip_sendspace / rip_recvspace). */
  rip_sendspace = 9216;
  rip_recvspace = 9216;

  /* net.inet.arp tunables (seconds), NetBSD's if_arp.c defaults. */
  arpt_keep = 20 * 60;
  arpt_down = 20;
  arp_maxtries = 5;
  /** Packets held per unresolved entry (NetBSD's arp_maxhold: 1). */
  arp_maxhold = 1;

  /** The next IP ID (sequential mode). */
  ip_id = 0;
  /** The MTU behind the last EMSGSIZE of ip_output (ip_forward's "need to fragment" quotes it). */
  ip_lasterrormtu = 0;

  /* Made by the component at NET (definite: nothing runs before). */
  ip_pktq!: PktQueue;
  arp_pktq!: PktQueue;
  /** The protocol switch (inetsw) and the protocol-number index into it. */
  inetsw: Protosw[] = [];
  readonly ip_protox = new Uint8Array(256);
  /** Index in inetsw of the raw wildcard entry (rip_input for unknown protocols). */
  ip_protox_raw = 0;
  udbtable!: Inpcbtable;
  rawcbtable!: Inpcbtable;
  reass!: IpReass;
  arp!: ArpTable;

  /* Scratch reused on the input path, so that no packet allocates. */
  /** A sockaddr_in for sbappendaddr and pr_ctlinput. */
  readonly sin_scratch = new Uint8Array(16);
  readonly ctl_ctx: IcmpCtlCtx = new IcmpCtlCtx(this);
  /** What ARP and the PCB layer do on address events; set by the component. */
  in_hooks: InAddrHooks = { ifinit: () => undefined, ifdetach: () => undefined };

  constructor(readonly k: Kernel) {}
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** IPv4 (libnetinet); set when rumpnet_netinet boots. */
    inet?: InetState;
  }
}

/** The inet state of k; a kernel without libnetinet has none. */
export function inet_of(k: Kernel): InetState {
  const s = k.inet;
  if (s === undefined) throw new Error(`${k.name}: no inet state (rumpnet_netinet not booted)`);
  return s;
}

/** The kernel's routing table (libnet's k.rt). */
export { rt_of };

/** The Ifnet behind a route (the table stores the structural RtIfnet, always an Ifnet here). */
export function rt_ifnet(rt: Rtentry): Ifnet {
  return rt.rt_ifp as Ifnet;
}

/* ------------------------------------------------------------------ */
/* Address lookups                                                     */

/** in_get_ia: the address record holding exactly `a`, or null. */
export function in_get_ia(st: InetState, a: number): InIfaddr | null {
  const h = st.in_ifaddrhead;
  for (let i = 0; i < h.length; i++) if (h[i]!.ia_addr === a) return h[i]!;
  return null;
}

/** The first IPv4 address of ifp (in_get_ia_from_ifp), or null. */
export function in_get_ia_from_ifp(ifp: Ifnet): InIfaddr | null {
  const l = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const a = l[i]!;
    if (a instanceof InIfaddr) return a;
  }
  return null;
}

/** The address of ifp on the same subnet as `a`, else its first address, else null. */
export function in_get_ia_on_ifp_for(ifp: Ifnet, a: number): InIfaddr | null {
  let first: InIfaddr | null = null;
  const l = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const ia = l[i]!;
    if (!(ia instanceof InIfaddr)) continue;
    if (((a & ia.ia_subnetmask) >>> 0) === ia.ia_subnet) return ia;
    if (first === null) first = ia;
  }
  return first;
}

/**
 * ifa_ifwithaddr for AF_INET: the address record that `a` names, either an
 * address itself or the broadcast address of a broadcast interface (NetBSD
 * lets a socket bind to those).
 */
export function in_ifwithaddr(st: InetState, a: number): InIfaddr | null {
  const h = st.in_ifaddrhead;
  for (let i = 0; i < h.length; i++) {
    const ia = h[i]!;
    if (ia.ia_addr === a) return ia;
    if ((ia.ifa_ifp.if_flags & IFF_BROADCAST) !== 0 && ia.ia_broadaddr === a && a !== 0) return ia;
  }
  return null;
}

/**
 * in_broadcast(in, ifp): is `a` a broadcast address on ifp?  The limited
 * broadcast and INADDR_ANY (4.2BSD's broadcast) always are; otherwise only
 * on an IFF_BROADCAST interface, for the broadcast address of one of its
 * subnets (never an address of its own, as for a /32), or the host-zero
 * address when net.inet.ip.hostzerobroadcast is set (NetBSD in.c).
 */
export function in_broadcast(st: InetState, a: number, ifp: Ifnet | null): boolean {
  if (a === INADDR_BROADCAST || a === INADDR_ANY) return true;
  if (ifp === null || (ifp.if_flags & IFF_BROADCAST) === 0) return false;
  const l = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const ia = l[i]!;
    if (!(ia instanceof InIfaddr) || ia.ia_addr === a) continue;
    if (a === ia.ia_broadaddr) return true;
    if (st.ip_hostzeroisbroadcast !== 0 && a === ia.ia_subnet && ia.ia_plen < 31) return true;
  }
  return false;
}

/** Is `a` the broadcast address of any subnet of this kernel (for the "never reflect to a broadcast" rule)? */
export function in_broadcast_any(st: InetState, a: number): boolean {
  if (a === INADDR_BROADCAST || a === INADDR_ANY) return true;
  const h = st.in_ifaddrhead;
  for (let i = 0; i < h.length; i++) if (in_broadcast(st, a, h[i]!.ifa_ifp)) return true;
  return false;
}

/**
 * The interface to use for the limited broadcast when no route covers it:
 * the first broadcast-capable interface that is up and has an address
 * (NetBSD would need a route; FreeBSD's IP_ONESBCAST-less behaviour, kept
 * so that 255.255.255.255 works on a host with no default route).
 */
export function in_broadcast_ifp(st: InetState): InIfaddr | null {
  const h = st.in_ifaddrhead;
  for (let i = 0; i < h.length; i++) {
    const ifp = h[i]!.ifa_ifp;
    if ((ifp.if_flags & (IFF_BROADCAST | IFF_UP)) === (IFF_BROADCAST | IFF_UP)) return h[i]!;
  }
  return null;
}

/**
 * in_selectsrc: the source address for a datagram to dst, taken from the
 * route that will carry it (the address that route belongs to: the
 * interface's own for connected and gateway routes, the address itself for
 * a local route through lo0).  Returns the address, or a negative errno:
 * -ENETUNREACH without a route (or through a reject route), -EADDRNOTAVAIL
 * if the interface has no IPv4 address.
 */
export function in_selectsrc(st: InetState, dst: number): number {
  const rt = rt_of(st.k).rtalloc1(dst);
  if (rt === null) {
    if (dst === INADDR_BROADCAST) {
      const ia = in_broadcast_ifp(st);
      if (ia !== null) return ia.ia_addr;
    }
    return -ENETUNREACH;
  }
  if ((rt.rt_flags & RTF_REJECT) !== 0) return -ENETUNREACH;
  const a = rt.rt_ifa_addr;
  if (a !== 0) return a;
  const ia = (rt.rt_flags & RTF_GATEWAY) !== 0
    ? in_get_ia_on_ifp_for(rt_ifnet(rt), rt.rt_gateway)
    : in_get_ia_on_ifp_for(rt_ifnet(rt), dst);
  return ia !== null ? ia.ia_addr : -EADDRNOTAVAIL;
}

/* ------------------------------------------------------------------ */
/* in_control: the address ioctls                                      */

/* A user's sockaddr_in (dotted quad) as a number; null if it is not one. */
function sin_addr_of(sa: Sockaddr | undefined | null, requireFamily: boolean): number | null {
  if (sa === undefined || sa === null || typeof sa !== 'object') return null;
  const s = sa as Partial<SockaddrIn>;
  if (requireFamily && s.sin_family !== AF_INET) return null;
  if (typeof s.sin_addr !== 'string') return null;
  return inet_pton4(s.sin_addr);
}

function sin_user(a: number): SockaddrIn {
  return { sin_family: AF_INET, sin_port: 0, sin_addr: inet_ntop4(a) };
}

/** The historical class mask of an address, when SIOCAIFADDR gives none (NetBSD in_ifinit). */
export function in_classmask(a: number): number {
  if (IN_CLASSA(a)) return 0xff000000;
  if (IN_CLASSB(a)) return 0xffff0000;
  return 0xffffff00;
}

/** The address of ifp holding `a`, or null. */
function in_ifaddr_on(ifp: Ifnet, a: number): InIfaddr | null {
  const l = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const ia = l[i]!;
    if (ia instanceof InIfaddr && ia.ia_addr === a) return ia;
  }
  return null;
}

/** Hooks other inet modules add for address events (ARP's gratuitous announcement). */
export interface InAddrHooks {
  /** A new address is up on ifp (arp_ifinit). */
  ifinit(ifp: Ifnet, ia: InIfaddr): void;
  /** ifp is going away (arp and PCB purges). */
  ifdetach(ifp: Ifnet): void;
}

/**
 * in_control: SIOCAIFADDR, SIOCDIFADDR, SIOCGIFADDR, SIOCGIFNETMASK and SIOCGIFALIAS on
 * any AF_INET socket (NetBSD's in_control; ifioctl has already checked that
 * the interface exists).
 *
 * SIOCAIFADDR adds an address (an interface may have several) or changes
 * the mask and broadcast address of one it has.  Without a mask the
 * address's historical class mask is used, as in_ifinit does; a
 * non-contiguous mask is EINVAL.  It installs the connected and local
 * routes (rt_ifa_add: EEXIST if another interface already has the
 * address), marks the interface up as ether_ioctl's SIOCINITIFADDR does,
 * and announces the address with a gratuitous ARP on Ethernet.
 */
export function in_control(so: Socket, cmd: number, data: { value?: unknown }, _l: Lwp | null): number {
  const k = so.so_kernel;
  const st = inet_of(k);
  const hooks = st.in_hooks;
  switch (cmd) {
    case SIOCAIFADDR: {
      const ifra = data.value as IfAliasreq;
      const ifp = ifunit(k, ifra.ifra_name);
      if (ifp === null) return ENXIO;
      return in_addaddr(st, ifp, ifra, hooks);
    }
    case SIOCDIFADDR: {
      const ifr = data.value as Ifreq;
      const ifp = ifunit(k, ifr.ifr_name);
      if (ifp === null) return ENXIO;
      let ia: InIfaddr | null;
      if (ifr.ifr_addr !== undefined) {
        const a = sin_addr_of(ifr.ifr_addr, false);
        if (a === null) return EINVAL;
        ia = in_ifaddr_on(ifp, a);
      } else {
        ia = in_get_ia_from_ifp(ifp);
      }
      if (ia === null) return EADDRNOTAVAIL;
      in_purgeaddr(st, ia);
      return 0;
    }
    case SIOCGIFALIAS: {
      /* ifconfig's question about one address: its netmask and broadcast address. */
      const ifra = data.value as IfAliasreq;
      const ifp = ifunit(k, ifra.ifra_name);
      if (ifp === null) return ENXIO;
      const a = sin_addr_of(ifra.ifra_addr, true);
      if (a === null) return EINVAL;
      const ia = in_ifaddr_on(ifp, a);
      if (ia === null) return EADDRNOTAVAIL;
      const out: IfAliasreq = { ...ifra, ifra_mask: sin_user(ia.ia_subnetmask) };
      if (ia.ia_broadaddr !== 0) out.ifra_broadaddr = sin_user(ia.ia_broadaddr);
      data.value = out;
      return 0;
    }
    case SIOCGIFADDR:
    case SIOCGIFNETMASK: {
      const ifr = data.value as Ifreq;
      const ifp = ifunit(k, ifr.ifr_name);
      if (ifp === null) return ENXIO;
      let ia: InIfaddr | null = null;
      /* As NetBSD: a given AF_INET address picks that one; else the first. */
      const want = sin_addr_of(ifr.ifr_addr, true);
      if (want !== null && want !== 0) ia = in_ifaddr_on(ifp, want);
      if (ia === null) ia = in_get_ia_from_ifp(ifp);
      if (ia === null) return EADDRNOTAVAIL;
      data.value = { ...ifr, ifr_addr: sin_user(cmd === SIOCGIFADDR ? ia.ia_addr : ia.ia_subnetmask) };
      return 0;
    }
    default:
      return EOPNOTSUPP;
  }
}

function in_addaddr(st: InetState, ifp: Ifnet, ifra: IfAliasreq, hooks: InAddrHooks): number {
  const k = st.k;
  const addr = sin_addr_of(ifra.ifra_addr, true);
  if (addr === null || addr === INADDR_ANY || IN_MULTICAST(addr) || IN_EXPERIMENTAL(addr)) return EINVAL;
  let mask: number | null = null;
  if (ifra.ifra_mask !== undefined) {
    mask = sin_addr_of(ifra.ifra_mask, false);
    if (mask === null || in_mask2len(mask) < 0) return EINVAL;
  }
  let broad: number | null = null;
  if (ifra.ifra_broadaddr !== undefined && (ifp.if_flags & IFF_BROADCAST) !== 0) {
    broad = sin_addr_of(ifra.ifra_broadaddr, false);
    if (broad === null) return EINVAL;
  }
  const rt = rt_of(k);
  const old = in_ifaddr_on(ifp, addr);
  /* An address another interface holds is refused before anything changes. */
  const other = in_get_ia(st, addr);
  if (other !== null && other.ifa_ifp !== ifp) return EEXIST;
  if (mask === null) mask = old !== null ? old.ia_subnetmask : in_classmask(addr);
  const plen = in_mask2len(mask);
  if (broad === null) broad = (ifp.if_flags & IFF_BROADCAST) !== 0 ? in_broadaddr(addr, mask) : 0;

  if (old !== null) {
    /* A change of mask or broadcast: redo the routes with the new prefix. */
    rt.rt_ifa_remove(ifp, addr);
    const error = rt.rt_ifa_add(ifp, addr, plen);
    if (error !== 0) {
      rt.rt_ifa_add(ifp, addr, old.ia_plen);
      return error;
    }
    old.ia_subnetmask = mask;
    old.ia_plen = plen;
    old.ia_subnet = (addr & mask) >>> 0;
    old.ia_broadaddr = broad;
    return 0;
  }
  const error = rt.rt_ifa_add(ifp, addr, plen);
  if (error !== 0) return error;
  const ia = new InIfaddr(ifp, addr, mask, broad);
  ifp.if_addrlist.push(ia);
  st.in_ifaddrhead.push(ia);
  rt_newaddrmsg(k, RTM_NEWADDR, ia);
  /* SIOCINITIFADDR brings the interface up (ether_ioctl, loioctl). */
  if ((ifp.if_flags & IFF_UP) === 0) {
    const e = if_up(ifp);
    if (e !== 0) log(k, LOG_WARNING, `${ifp.if_xname}: cannot bring up for ${inet_ntop4(addr)}: errno ${e}\n`);
  }
  if ((ifp.if_flags & IFF_UP) !== 0 && ifp.if_type === IFT_ETHER) hooks.ifinit(ifp, ia);
  return 0;
}

/** in_purgeaddr: take one address off its interface, with its routes. */
export function in_purgeaddr(st: InetState, ia: InIfaddr): void {
  const ifp = ia.ifa_ifp;
  rt_of(st.k).rt_ifa_remove(ifp, ia.ia_addr);
  let i = ifp.if_addrlist.indexOf(ia);
  if (i >= 0) ifp.if_addrlist.splice(i, 1);
  i = st.in_ifaddrhead.indexOf(ia);
  if (i >= 0) st.in_ifaddrhead.splice(i, 1);
  rt_newaddrmsg(st.k, RTM_DELADDR, ia);
}

/** in_purgeif: the interface is being detached; drop all its IPv4 state. */
export function in_purgeif(st: InetState, ifp: Ifnet): void {
  for (let ia = in_get_ia_from_ifp(ifp); ia !== null; ia = in_get_ia_from_ifp(ifp)) in_purgeaddr(st, ia);
  st.in_hooks.ifdetach(ifp);
}

/** The SIOCGIFCONF entries of ifp's IPv4 addresses (libnet's ifconfhooks). */
export function in_ifconf(ifp: Ifnet, out: IfconfEntry[]): void {
  const l = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const ia = l[i]!;
    if (ia instanceof InIfaddr) out.push({ ifr_name: ifp.if_xname, ifr_addr: sin_user(ia.ia_addr) });
  }
}

/**
 * Add an address from kernel code (the NET_IFCFG step that gives lo0
 * 127.0.0.1/8, tests): what SIOCAIFADDR does, without a socket.
 */
export function in_ifaddr_add(k: Kernel, ifp: Ifnet, addr: number, plen: number): number {
  if (plen < 0 || plen > 32) return EINVAL;
  const st = inet_of(k);
  return in_addaddr(st, ifp, {
    ifra_name: ifp.if_xname,
    ifra_addr: sin_user(addr),
    ifra_mask: sin_user(in_len2mask(plen)),
  }, st.in_hooks);
}

/** Is ifp a loopback interface? */
export function if_is_loopback(ifp: Ifnet): boolean {
  return (ifp.if_flags & IFF_LOOPBACK) !== 0;
}
