/*
 * Network interfaces (NetBSD's sys/net/if.c): the ifnet structure, the
 * per-kernel interface list, cloners (ifconfig X create/destroy), the
 * generic interface ioctls, and the queues and counters drivers use.
 *
 * Packet path: a driver's receive interrupt hands a frame to
 * ifp.if_input (ether_input), which queues it for the protocol softint;
 * protocols send through ifp.if_output (ether_output, looutput), which
 * queues on if_snd and calls the driver's if_start.  Address ioctls
 * (SIOCAIFADDR, ...) belong to a protocol family and are passed to the
 * socket's pr_ioctl (in_control for AF_INET).
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import { ether_ntoa } from './if_ether.ts';
import type { Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { m_freem } from '../../../librump/rumpnet/uipc_mbuf.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { EEXIST, EINVAL, ENXIO, EOPNOTSUPP, ENOTTY } from '../../../include/errno.ts';
import {
  IFF_CANTCHANGE, IFF_PROMISC, IFF_UP, IFNAMSIZ, SIOCGIFCONF, SIOCGIFDATA, SIOCGIFFLAGS, SIOCGIFMTU, SIOCGLINKSTR,
  SIOCIFCREATE, SIOCIFDESTROY, SIOCIFGCLONERS, SIOCSIFFLAGS, SIOCSIFMTU, SIOCSLINKSTR,
  type IfconfEntry, type IfData, type Ifdrv, type Ifreq,
} from '../../../include/if.ts';
import { AF_LINK } from '../../../include/socket.ts';
import { IFAN_ARRIVAL, IFAN_DEPARTURE, type IflistAddr } from '../../../include/route.ts';

/** An interface send or receive queue (struct ifqueue). */
export class IfQueue {
  ifq_head: Mbuf | null = null;
  ifq_tail: Mbuf | null = null;
  ifq_len = 0;
  ifq_drops = 0;
  constructor(public ifq_maxlen: number) {}
}

export function IF_QFULL(q: IfQueue): boolean {
  return q.ifq_len >= q.ifq_maxlen;
}

export function IF_ENQUEUE(q: IfQueue, m: Mbuf): void {
  m.m_nextpkt = null;
  if (q.ifq_tail === null) q.ifq_head = m;
  else q.ifq_tail.m_nextpkt = m;
  q.ifq_tail = m;
  q.ifq_len++;
}

export function IF_DEQUEUE(q: IfQueue): Mbuf | null {
  const m = q.ifq_head;
  if (m === null) return null;
  q.ifq_head = m.m_nextpkt;
  if (q.ifq_head === null) q.ifq_tail = null;
  m.m_nextpkt = null;
  q.ifq_len--;
  return m;
}

export function IF_PURGE(q: IfQueue): void {
  for (let m = IF_DEQUEUE(q); m !== null; m = IF_DEQUEUE(q)) m_freem(m);
}

/** An address on an interface (struct ifaddr); protocols extend it. */
export class Ifaddr {
  constructor(
    readonly ifa_ifp: Ifnet,
    readonly ifa_family: number,
  ) {}

  /**
   * The address, netmask and broadcast address, as the routing socket
   * reports them (NetBSD's ifa_addr, ifa_netmask, ifa_broadaddr).
   */
  ifa_describe(): IflistAddr | null {
    return null;
  }
}

/** Where a captured frame went. */
export const TAP_IN = 0;
export const TAP_OUT = 1;

/**
 * Something that wants a copy of every frame (pcap capture, later bpf).
 * af is the address family of a packet on a link without a link header
 * (lo0: NetBSD's bpf_mtap_af), 0 otherwise.
 */
export interface IfTap {
  tap(ifp: Ifnet, m: Mbuf, dir: number, af: number): void;
}

export class Ifnet {
  if_index = 0;
  if_flags = 0;
  if_mtu = 0;
  /** Largest MTU SIOCSIFMTU accepts. */
  if_maxmtu = 0;
  if_type = 0;
  if_addrlen = 0;
  if_hdrlen = 0;
  /** Link-level address (the MAC), or an empty array. */
  if_sadl: Uint8Array = new Uint8Array(0);
  if_addrlist: Ifaddr[] = [];
  readonly if_snd = new IfQueue(256);
  /* Counters (struct if_data). */
  if_ipackets = 0;
  if_ierrors = 0;
  if_opackets = 0;
  if_oerrors = 0;
  if_collisions = 0;
  if_ibytes = 0;
  if_obytes = 0;
  if_imcasts = 0;
  if_omcasts = 0;
  if_iqdrops = 0;
  if_noproto = 0;
  /** The cloner that made it, if any. */
  if_cloner: IfCloner | null = null;
  if_softc: unknown = null;
  /** Taps (pcap writers) to feed; empty on the fast path. */
  if_taps: IfTap[] = [];
  /** Holders of promiscuous mode (ifpromisc); IFF_PROMISC while nonzero. */
  if_pcount = 0;
  /**
   * Checksum offload (M_CSUM_*), NetBSD's if_csum_flags_tx/rx: on output,
   * what the protocols may leave to the driver; on input, what the driver
   * marks as already verified.  0 = the stack computes everything.
   */
  if_csum_flags_tx = 0;
  if_csum_flags_rx = 0;

  /** Received frame from the driver (set by ether_ifattach/loopattach). */
  if_input: (ifp: Ifnet, m: Mbuf) => void = (_ifp, m) => { m_freem(m); };
  /**
   * Send a packet to next hop `dst` (an IPv4 address for AF_INET, as a
   * uint32); takes ownership of m; returns an errno.
   */
  if_output: (ifp: Ifnet, m: Mbuf, family: number, dst: number) => number = (_ifp, m) => { m_freem(m); return ENXIO; };
  /** Driver: transmit what is on if_snd. */
  if_start: (ifp: Ifnet) => void = () => undefined;
  /** Driver: bring up (IFF_RUNNING) / take down. */
  if_init: (ifp: Ifnet) => number = () => 0;
  if_stop: (ifp: Ifnet) => void = () => undefined;
  /** Driver: SIOCSLINKSTR (null detaches the backend) and SIOCGLINKSTR. */
  if_setlinkstr: ((ifp: Ifnet, s: string | null) => number) | null = null;
  if_linkstr: string | null = null;

  constructor(readonly if_kernel: Kernel, readonly if_xname: string) {}
}

/** An interface cloner: makes and destroys interfaces named <name><unit>. */
export interface IfCloner {
  readonly ifc_name: string;
  ifc_create(k: Kernel, unit: number): { error: number; ifp: Ifnet | null };
  ifc_destroy(ifp: Ifnet): number;
}

/** The per-kernel interface state. */
export class IfnetState {
  /** By index; slot 0 unused, as if_index starts at 1. */
  readonly ifindex2ifnet: (Ifnet | null)[] = [null];
  readonly byname = new Map<string, Ifnet>();
  readonly cloners = new Map<string, IfCloner>();
  /** Called when an interface is detached (protocols purge addresses and routes). */
  readonly detachhooks: ((ifp: Ifnet) => void)[] = [];
  /** Protocols add their addresses to SIOCGIFCONF. */
  readonly ifconfhooks: IfconfHook[] = [];
  /** Link-layer address tables by address family (AF_INET: ARP), for the routing socket. */
  readonly lltables = new Map<number, Lltable>();
  /** The routing socket's announcements (rtsock.ts sets them; no-ops before). */
  rt_ifmsg: (ifp: Ifnet) => void = () => undefined;
  rt_ifannouncemsg: (ifp: Ifnet, what: number) => void = () => undefined;
}

/**
 * A protocol's link-layer address table (NetBSD's lltable) as the routing
 * socket reaches it: arp -a, arp -s and arp -d.
 */
export interface Lltable {
  /** Every entry, by address. */
  llt_dump(): LltableEntry[];
  /** A static entry for addr (uint32) at lladdr, on ifp or the interface that reaches addr; an errno. */
  llt_add(addr: number, lladdr: Uint8Array, ifp: Ifnet | null): number;
  /** Forget addr; ESRCH if absent. */
  llt_delete(addr: number): number;
}

export interface LltableEntry {
  addr: string;
  /** Link-level address, null while incomplete. */
  mac: string | null;
  ifname: string;
  state: 'incomplete' | 'valid' | 'down';
  permanent: boolean;
  /** Seconds left; null without a timer. */
  expire: number | null;
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** Interfaces; set when libnet boots. */
    ifnet?: IfnetState;
  }
}

export function ifnet_of(k: Kernel): IfnetState {
  const s = k.ifnet;
  if (s === undefined) throw new Error(`${k.name}: no ifnet (rumpnet_net not booted)`);
  return s;
}

/** ifunit: the interface with this name, or null. */
export function ifunit(k: Kernel, name: string): Ifnet | null {
  return ifnet_of(k).byname.get(name) ?? null;
}

export function if_byindex(k: Kernel, index: number): Ifnet | null {
  return ifnet_of(k).ifindex2ifnet[index] ?? null;
}

/** if_attach: give ifp the lowest free index and list it. */
export function if_attach(k: Kernel, ifp: Ifnet): number {
  const st = ifnet_of(k);
  if (ifp.if_xname.length >= IFNAMSIZ || !/^[a-z]+[0-9]+$/.test(ifp.if_xname)) return EINVAL;
  if (st.byname.has(ifp.if_xname)) return EEXIST;
  let idx = 1;
  while (idx < st.ifindex2ifnet.length && st.ifindex2ifnet[idx] !== null) idx++;
  if (idx === st.ifindex2ifnet.length) st.ifindex2ifnet.push(null);
  st.ifindex2ifnet[idx] = ifp;
  ifp.if_index = idx;
  st.byname.set(ifp.if_xname, ifp);
  st.rt_ifannouncemsg(ifp, IFAN_ARRIVAL);
  return 0;
}

/** if_detach: take it down, let protocols purge it, unlist it. */
export function if_detach(k: Kernel, ifp: Ifnet): void {
  const st = ifnet_of(k);
  if ((ifp.if_flags & IFF_UP) !== 0) if_down(ifp);
  for (const hook of st.detachhooks) hook(ifp);
  IF_PURGE(ifp.if_snd);
  st.byname.delete(ifp.if_xname);
  st.ifindex2ifnet[ifp.if_index] = null;
  ifp.if_addrlist = [];
  st.rt_ifannouncemsg(ifp, IFAN_DEPARTURE);
}

export function if_up(ifp: Ifnet): number {
  const error = ifp.if_init(ifp);
  if (error === 0) ifp.if_flags |= IFF_UP;
  return error;
}

export function if_down(ifp: Ifnet): void {
  ifp.if_flags &= ~IFF_UP;
  ifp.if_stop(ifp);
  IF_PURGE(ifp.if_snd);
}

/** Feed every tap a frame (cheap when there is none). */
export function if_tap(ifp: Ifnet, m: Mbuf, dir: number, af = 0): void {
  const taps = ifp.if_taps;
  for (let i = 0; i < taps.length; i++) taps[i]!.tap(ifp, m, dir, af);
}

/**
 * ifpromisc: take (on) or release (off) promiscuous mode.  Holders are
 * counted (bpf and pcap readers, bridges), so IFF_PROMISC stays set until
 * the last one lets go; users cannot set it with SIOCSIFFLAGS
 * (IFF_CANTCHANGE), as in NetBSD.  Drivers read the flag as they filter.
 */
export function ifpromisc(ifp: Ifnet, on: boolean): number {
  if (on) {
    if (ifp.if_pcount++ === 0) ifp.if_flags |= IFF_PROMISC;
  } else {
    if (ifp.if_pcount === 0) return EINVAL;
    if (--ifp.if_pcount === 0) ifp.if_flags &= ~IFF_PROMISC;
  }
  return 0;
}

export function if_clone_attach(k: Kernel, ifc: IfCloner): void {
  ifnet_of(k).cloners.set(ifc.ifc_name, ifc);
}

/** ifconfig NAME create */
export function if_clone_create(k: Kernel, name: string): number {
  const st = ifnet_of(k);
  const mt = /^([a-z]+)([0-9]+)$/.exec(name);
  if (mt === null) return EINVAL;
  const ifc = st.cloners.get(mt[1]!);
  if (ifc === undefined) return EINVAL;
  if (st.byname.has(name)) return EEXIST;
  const unit = Number(mt[2]);
  if (!Number.isSafeInteger(unit) || unit > 32767) return EINVAL;
  const r = ifc.ifc_create(k, unit);
  if (r.ifp !== null) r.ifp.if_cloner = ifc;
  return r.error;
}

/** ifconfig NAME destroy */
export function if_clone_destroy(k: Kernel, name: string): number {
  const ifp = ifunit(k, name);
  if (ifp === null) return ENXIO;
  if (ifp.if_cloner === null) return EOPNOTSUPP;
  return ifp.if_cloner.ifc_destroy(ifp);
}

function if_data(ifp: Ifnet): IfData {
  return {
    ifi_type: ifp.if_type, ifi_addrlen: ifp.if_addrlen, ifi_hdrlen: ifp.if_hdrlen, ifi_mtu: ifp.if_mtu,
    ifi_ipackets: ifp.if_ipackets, ifi_ierrors: ifp.if_ierrors, ifi_opackets: ifp.if_opackets,
    ifi_oerrors: ifp.if_oerrors, ifi_collisions: ifp.if_collisions, ifi_ibytes: ifp.if_ibytes,
    ifi_obytes: ifp.if_obytes, ifi_imcasts: ifp.if_imcasts, ifi_omcasts: ifp.if_omcasts,
    ifi_iqdrops: ifp.if_iqdrops, ifi_noproto: ifp.if_noproto,
  };
}

/** The address entries of SIOCGIFCONF for one interface: AF_LINK first, then each protocol address. */
export type IfconfHook = (ifp: Ifnet, out: IfconfEntry[]) => void;

/**
 * ifioctl: the interface ioctls of any socket.  Generic requests are
 * handled here; address requests go to the socket's protocol (pr_ioctl).
 */
export async function ifioctl(so: Socket, cmd: number, data: { value?: unknown }, l: Lwp): Promise<number> {
  const k = so.so_kernel;
  const st = ifnet_of(k);
  switch (cmd) {
    case SIOCIFCREATE:
    case SIOCIFDESTROY: {
      const ifr = data.value as Ifreq;
      if (typeof ifr?.ifr_name !== 'string') return EINVAL;
      return cmd === SIOCIFCREATE ? if_clone_create(k, ifr.ifr_name) : if_clone_destroy(k, ifr.ifr_name);
    }
    case SIOCIFGCLONERS:
      data.value = [...st.cloners.keys()].sort();
      return 0;
    case SIOCGIFCONF: {
      const out: IfconfEntry[] = [];
      for (const ifp of st.ifindex2ifnet) {
        if (ifp === null) continue;
        out.push({ ifr_name: ifp.if_xname, ifr_addr: { sdl_family: AF_LINK, sdl_index: ifp.if_index, sdl_data: ifp.if_sadl.length === 0 ? '' : ether_ntoa(ifp.if_sadl) } });
        for (const hook of st.ifconfhooks) hook(ifp, out);
      }
      data.value = out;
      return 0;
    }
  }
  const req = data.value as { ifr_name?: unknown; ifra_name?: unknown; ifd_name?: unknown } | undefined;
  const name = req?.ifr_name ?? req?.ifra_name ?? req?.ifd_name;
  if (typeof name !== 'string') return EINVAL;
  const ifp = ifunit(k, name);
  if (ifp === null) return ENXIO;
  switch (cmd) {
    case SIOCGIFFLAGS:
      (data.value as Ifreq).ifr_flags = ifp.if_flags;
      return 0;
    case SIOCSIFFLAGS: {
      const nf = (data.value as Ifreq).ifr_flags;
      if (typeof nf !== 'number' || !Number.isInteger(nf)) return EINVAL;
      if ((ifp.if_flags & IFF_UP) !== 0 && (nf & IFF_UP) === 0) if_down(ifp);
      else if ((ifp.if_flags & IFF_UP) === 0 && (nf & IFF_UP) !== 0) {
        const error = if_up(ifp);
        if (error !== 0) return error;
      }
      ifp.if_flags = (ifp.if_flags & IFF_CANTCHANGE) | (nf & ~IFF_CANTCHANGE);
      st.rt_ifmsg(ifp);
      return 0;
    }
    case SIOCGIFMTU:
      (data.value as Ifreq).ifr_mtu = ifp.if_mtu;
      return 0;
    case SIOCSIFMTU: {
      const mtu = (data.value as Ifreq).ifr_mtu;
      if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > ifp.if_maxmtu) return EINVAL;
      ifp.if_mtu = mtu;
      return 0;
    }
    case SIOCGIFDATA:
      data.value = { ...(data.value as object), ifr_data: if_data(ifp) };
      return 0;
    case SIOCSLINKSTR: {
      if (ifp.if_setlinkstr === null) return EOPNOTSUPP;
      const d = (data.value as Ifdrv).ifd_data;
      if (d !== null && typeof d !== 'string') return EINVAL;
      return ifp.if_setlinkstr(ifp, d);
    }
    case SIOCGLINKSTR:
      if (ifp.if_setlinkstr === null) return EOPNOTSUPP;
      (data.value as Ifdrv).ifd_data = ifp.if_linkstr;
      return 0;
  }
  const r = so.so_proto.pr_usrreqs?.pr_ioctl(so, cmd, data, l) ?? ENOTTY;
  return typeof r === 'number' ? r : await r;
}

/** libnet's per-kernel init: the interface list, and ifioctl for sockets. */
export function ifinit(k: Kernel): void {
  k.ifnet = new IfnetState();
  net_of(k).ifioctl = ifioctl;
}
