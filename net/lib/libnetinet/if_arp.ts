/*
 * if_arp.ts: the Address Resolution Protocol for IPv4 over Ethernet
 * (RFC 826; NetBSD's netinet/if_arp.c and if_inarp.h).
 *
 * Place in the packet path:
 *   output: ip_output -> ifp.if_output (ether_output) -> arpresolve()
 *           returns the MAC (0), or keeps the packet on the entry's hold
 *           queue and broadcasts a request (EJUSTRETURN);
 *   input:  ether_input -> arp_input (interrupt: only pktq_enqueue) ->
 *           arpintr (SOFTINT_NET) -> in_arpinput(), which answers requests
 *           for our addresses, fills the cache and releases held packets
 *           through if_output again.
 *
 * The cache is one table per kernel keyed by IPv4 address (NetBSD keeps a
 * per-interface lltable; an address lives on one link here, and an entry
 * learnt on another interface is refused and counted, arps_rcvoverint).
 * An entry is
 *   INCOMPLETE: a request went out; packets wait on la_hold; the timer
 *               re-sends once a second until arp_maxtries requests went
 *               unanswered, then the entry goes
 *   DOWN:       for net.inet.arp.down_time (arpt_down, 20 s) sends to it
 *               fail at once with EHOSTDOWN and send nothing, after which
 *               the entry is forgotten and the next packet asks again;
 *   VALID:      resolved; forgotten net.inet.arp.keep_time (arpt_keep,
 *               1200 s) after it was learnt or refreshed by traffic from
 *               the peer;
 *   static:     VALID without a timer, set from the arp(8) API; replies
 *               that would change it are refused (arps_rcvoverperm).
 *
 * The hold queue: NetBSD holds at most arp_maxhold packets per entry,
 * dropping the OLDEST when a new one arrives (arps_dfrdropped), and its
 * arp_maxhold is 1.  Ours defaults to NetBSD's 1 and can be raised with
 * net.inet.arp.maxhold (a name of this kernel; NetBSD has no sysctl for
 * it).  When the entry resolves, held packets leave in arrival order
 * (arps_dfrsent); when it goes DOWN they are freed (arps_dfrdropped).
 *
 * A new address on an Ethernet interface is announced with a gratuitous
 * ARP request (sender and target both the address, RFC 5227's
 * announcement); a packet from another host claiming one of our addresses
 * is logged as NetBSD does ("arp: <mac> is using my IP address <ip> on
 * <if>!") and counted (arps_rcvlocalspa), and a request for it is still
 * answered, to defend the address.  No RFC 5227 probing is done before an
 * address is used.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { Callout, callout_init, callout_remaining, callout_schedule, callout_setfunc, callout_stop } from '../../../librump/rumpkern/kern_timeout.ts';
import { log, LOG_ERR, LOG_INFO } from '../../../librump/rumpkern/subr_prf.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import {
  m_freem, m_gethdr, m_pullup, M_BCAST, M_DONTWAIT, M_MCAST, MT_DATA, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import { pktq_enqueue } from '../../../librump/rumpnet/pktqueue.ts';
import { if_byindex, type Ifnet } from '../libnet/if.ts';
import {
  ETHER_ADDR_LEN, ETHER_HDR_LEN, ETHERTYPE_ARP, ETHER_IS_BROADCAST, ether_addr_copy, ether_addr_eq,
  ether_ntoa, etherbroadcastaddr,
} from '../libnet/if_ether.ts';
import {
  ARP_ETHER_IP_LEN, ARPOP_REPLY, ARPOP_REQUEST, AR_SHA_OFF, arp_hdr_check, arp_hdr_write, ar_op, ar_spa, ar_tpa,
} from '../libnet/if_arp_hdr.ts';
import { ether_output_frame } from '../libnet/if_ethersubr.ts';
import { EHOSTDOWN, EINVAL, EJUSTRETURN, ENETUNREACH, ENOBUFS, ESRCH } from '../../../include/errno.ts';
import { IFF_UP, IFT_ETHER } from '../../../include/if.ts';
import { AF_INET } from '../../../include/socket.ts';
import { IN_MULTICAST, INADDR_ANY, INADDR_BROADCAST, inet_ntop4 } from './in.ts';
import {
  InIfaddr, in_get_ia_from_ifp, in_get_ia_on_ifp_for, inet_of, rt_ifnet, rt_of, type InetState,
} from './in_var.ts';
import { RTF_GATEWAY } from '../libnet/route.ts';

/** ARP statistics (struct arpstat), net.inet.arp.stats. */
export class Arpstat {
  /** Packets sent, requests and replies. */
  arps_sndtotal = 0;
  arps_sndreply = 0;
  arps_sndrequest = 0;
  /** Packets received. */
  arps_rcvtotal = 0;
  /** Valid requests and replies received. */
  arps_rcvrequest = 0;
  arps_rcvreply = 0;
  /** Received as link-level broadcast or multicast. */
  arps_rcvmcast = 0;
  /** Not Ethernet/IPv4. */
  arps_rcvbadproto = 0;
  /** Too short. */
  arps_rcvbadlen = 0;
  /** Target protocol address 0.0.0.0. */
  arps_rcvzerotpa = 0;
  /** Sender protocol address 0.0.0.0 (a probe). */
  arps_rcvzerospa = 0;
  /** Arrived on an interface with no IPv4 address. */
  arps_rcvnoint = 0;
  /** From our own hardware address (our own packet). */
  arps_rcvlocalsha = 0;
  /** From the broadcast hardware address. */
  arps_rcvbcastsha = 0;
  /** Another host claims one of our addresses. */
  arps_rcvlocalspa = 0;
  /** Tried to change a static entry. */
  arps_rcvoverperm = 0;
  /** Tried to move an entry to another interface. */
  arps_rcvoverint = 0;
  /** Entries whose hardware address changed. */
  arps_rcvover = 0;
  /** Hardware address length changed (never: Ethernet only). */
  arps_rcvlenchg = 0;
  /** Packets held awaiting resolution. */
  arps_dfrtotal = 0;
  /** Held packets sent once resolved. */
  arps_dfrsent = 0;
  /** Held packets dropped (hold queue full, or resolution failed). */
  arps_dfrdropped = 0;
  /** Entries that could not be made. */
  arps_allocfail = 0;
}

/* Entry states. */
export const LLE_INCOMPLETE = 0;
export const LLE_VALID = 1;
export const LLE_DOWN = 2;

/** One cache entry (NetBSD's llentry with its llinfo_arp). */
export class Llentry {
  la_state = LLE_INCOMPLETE;
  /** Set from the API; never times out, never overwritten by the wire. */
  la_static = false;
  readonly la_mac = new Uint8Array(ETHER_ADDR_LEN);
  /** Requests sent without an answer. */
  la_asked = 0;
  /* The hold queue, linked through m_nextpkt. */
  la_hold: Mbuf | null = null;
  la_holdtail: Mbuf | null = null;
  la_numheld = 0;
  readonly la_timer = new Callout();

  constructor(readonly la_table: ArpTable, readonly la_addr: number, readonly la_ifp: Ifnet) {
    callout_init(this.la_timer, 0, la_table.k);
    callout_setfunc(this.la_timer, arptimer, this);
  }
}

/** The per-kernel ARP cache. */
export class ArpTable {
  readonly entries = new Map<number, Llentry>();
  /** The all-zero target hardware address of a request (read-only). */
  readonly zero_mac = new Uint8Array(ETHER_ADDR_LEN);
  constructor(readonly k: Kernel, readonly st: InetState) {}
}

/** One line of `arp -a`, as arp_list() returns it. */
export interface ArpEntryInfo {
  addr: string;
  /** The hardware address, or null while incomplete. */
  mac: string | null;
  ifname: string;
  state: 'incomplete' | 'valid' | 'down';
  permanent: boolean;
  /** Seconds until the entry times out; null for static entries. */
  expire: number | null;
}

/* -------------------------------------------------------- entries */

function arp_settimer(la: Llentry, secs: number): void {
  callout_schedule(la.la_timer, secs * la.la_table.k.hz);
}

/* Free every held packet, counting them as dropped. */
function arp_purgehold(la: Llentry): void {
  const st = la.la_table.st;
  let m = la.la_hold;
  la.la_hold = la.la_holdtail = null;
  la.la_numheld = 0;
  while (m !== null) {
    const n = m.m_nextpkt;
    m.m_nextpkt = null;
    m_freem(m);
    st.arpstat.arps_dfrdropped++;
    m = n;
  }
}

function arp_free(la: Llentry): void {
  callout_stop(la.la_timer);
  arp_purgehold(la);
  const t = la.la_table;
  if (t.entries.get(la.la_addr) === la) t.entries.delete(la.la_addr);
}

/* Send the held packets, oldest first, now that the entry resolved. */
function arp_sendhold(la: Llentry): void {
  const st = la.la_table.st;
  let m = la.la_hold;
  la.la_hold = la.la_holdtail = null;
  la.la_numheld = 0;
  const ifp = la.la_ifp;
  while (m !== null) {
    const n = m.m_nextpkt;
    m.m_nextpkt = null;
    st.arpstat.arps_dfrsent++;
    ifp.if_output(ifp, m, AF_INET, la.la_addr);
    m = n;
  }
}

/**
 * arptimer: an entry's timer (softclock).  INCOMPLETE: ask again, or give
 * up after arp_maxtries requests (held packets dropped, DOWN for
 * arpt_down); DOWN and VALID: the entry is forgotten.
 */
function arptimer(arg: unknown): void {
  const la = arg as Llentry;
  const t = la.la_table;
  const k = t.k;
  if (t.entries.get(la.la_addr) !== la) return;
  const lock = net_of(k).softnet_lock;
  mutex_enter(lock);
  try {
    const st = t.st;
    if (la.la_state === LLE_INCOMPLETE) {
      if (la.la_asked < st.arp_maxtries) {
        la.la_asked++;
        arprequest(la.la_ifp, arp_srcaddr(la.la_ifp, la.la_addr), la.la_addr);
        arp_settimer(la, 1);
      } else {
        arp_purgehold(la);
        la.la_state = LLE_DOWN;
        la.la_asked = 0;
        arp_settimer(la, st.arpt_down);
      }
    } else if (!la.la_static) {
      arp_free(la);
    }
  } finally {
    mutex_exit(lock);
  }
}

/* The address we ask from on ifp: the one on dst's subnet, else the first; 0 if none. */
function arp_srcaddr(ifp: Ifnet, dst: number): number {
  const ia = in_get_ia_on_ifp_for(ifp, dst);
  return ia !== null ? ia.ia_addr : INADDR_ANY;
}

/* ----------------------------------------------------------- output */

/**
 * arp_send: build one Ethernet/ARP frame and hand it to ether_output_frame:
 * to `tha` (null: broadcast).  Returns an errno (ENOBUFS without an mbuf).
 */
function arp_send(ifp: Ifnet, op: number, sip: number, tip: number, tha: Uint8Array | null, thaoff: number): number {
  const k = ifp.if_kernel;
  const st = inet_of(k);
  const m = m_gethdr(net_of(k).mb, M_DONTWAIT, MT_DATA);
  if (m === null) return ENOBUFS;
  const len = ETHER_HDR_LEN + ARP_ETHER_IP_LEN;
  m.m_len = len;
  m.m_pkthdr.len = len;
  const buf = m.m_buf;
  const o = m.m_data;
  const mac = ifp.if_sadl;
  if (tha === null) {
    for (let i = 0; i < ETHER_ADDR_LEN; i++) buf[o + i] = etherbroadcastaddr[i]!;
    m.m_flags |= M_BCAST;
  } else {
    ether_addr_copy(buf, o, tha, thaoff);
  }
  ether_addr_copy(buf, o + 6, mac, 0);
  buf[o + 12] = ETHERTYPE_ARP >>> 8;
  buf[o + 13] = ETHERTYPE_ARP & 0xff;
  /* A request's target hardware address is unknown: zeros (RFC 826). */
  arp_hdr_write(buf, o + ETHER_HDR_LEN, op, mac, sip, st.arp.zero_mac, tip);
  if (tha !== null) ether_addr_copy(buf, o + ETHER_HDR_LEN + 18, tha, thaoff);
  st.arpstat.arps_sndtotal++;
  if (op === ARPOP_REQUEST) st.arpstat.arps_sndrequest++;
  else st.arpstat.arps_sndreply++;
  ether_output_frame(ifp, m);
  return 0;
}

/** arprequest: broadcast "who has tip? tell sip" on ifp. */
export function arprequest(ifp: Ifnet, sip: number, tip: number): number {
  return arp_send(ifp, ARPOP_REQUEST, sip, tip, null, 0);
}

/**
 * arp_ifinit: a new address is up on an Ethernet interface; announce it
 * with a gratuitous request (NetBSD's arp_ifinit/arpannounce).
 */
export function arp_ifinit(ifp: Ifnet, ia: InIfaddr): void {
  if (ifp.if_type !== IFT_ETHER || (ifp.if_flags & IFF_UP) === 0) return;
  arprequest(ifp, ia.ia_addr, ia.ia_addr);
}

/** ETHER_MAP_IP_MULTICAST: 01:00:5e and the group's low 23 bits (RFC 1112 section 6.4). */
function ether_map_ip_multicast(a: number, desten: Uint8Array): void {
  desten[0] = 0x01;
  desten[1] = 0x00;
  desten[2] = 0x5e;
  desten[3] = (a >>> 16) & 0x7f;
  desten[4] = (a >>> 8) & 0xff;
  desten[5] = a & 0xff;
}

/**
 * arpresolve: the resolver ether_output calls for AF_INET.  Fills desten
 * and returns 0 when the next hop dst is known (or the packet is a
 * broadcast or multicast); otherwise keeps m on the entry's hold queue,
 * asking for dst if this is a new entry, and returns EJUSTRETURN; for an
 * entry that failed recently (DOWN) frees m and returns EHOSTDOWN.  Never
 * allocates except the entry itself (and the request's mbuf).
 */
export function arpresolve(ifp: Ifnet, m: Mbuf, dst: number, desten: Uint8Array): number {
  if ((m.m_flags & M_BCAST) !== 0 || dst === INADDR_BROADCAST) {
    for (let i = 0; i < ETHER_ADDR_LEN; i++) desten[i] = etherbroadcastaddr[i]!;
    return 0;
  }
  if ((m.m_flags & M_MCAST) !== 0 || IN_MULTICAST(dst)) {
    ether_map_ip_multicast(dst, desten);
    return 0;
  }
  const k = ifp.if_kernel;
  const st = inet_of(k);
  const t = st.arp;
  let la = t.entries.get(dst);
  if (la !== undefined && la.la_ifp !== ifp) {
    /* The route moved to another interface: start over there. */
    if (la.la_static) {
      m_freem(m);
      return EHOSTDOWN;
    }
    arp_free(la);
    la = undefined;
  }
  if (la !== undefined && la.la_state === LLE_VALID) {
    ether_addr_copy(desten, 0, la.la_mac, 0);
    return 0;
  }
  if (la !== undefined && la.la_state === LLE_DOWN) {
    m_freem(m);
    return EHOSTDOWN;
  }
  let fresh = false;
  if (la === undefined) {
    la = new Llentry(t, dst, ifp);
    t.entries.set(dst, la);
    fresh = true;
  }
  /* Hold m; past arp_maxhold the oldest goes, as NetBSD. */
  st.arpstat.arps_dfrtotal++;
  while (la.la_numheld >= st.arp_maxhold && la.la_hold !== null) {
    const old = la.la_hold;
    la.la_hold = old.m_nextpkt;
    if (la.la_hold === null) la.la_holdtail = null;
    old.m_nextpkt = null;
    la.la_numheld--;
    m_freem(old);
    st.arpstat.arps_dfrdropped++;
  }
  if (st.arp_maxhold <= 0) {
    m_freem(m);
    st.arpstat.arps_dfrdropped++;
  } else {
    m.m_nextpkt = null;
    if (la.la_holdtail === null) la.la_hold = m;
    else la.la_holdtail.m_nextpkt = m;
    la.la_holdtail = m;
    la.la_numheld++;
  }
  if (fresh) {
    la.la_asked = 1;
    arprequest(ifp, arp_srcaddr(ifp, dst), dst);
    arp_settimer(la, 1);
  }
  return EJUSTRETURN;
}

/* ------------------------------------------------------------ input */

/**
 * arp_input: ether_input's handler for ETHERTYPE_ARP, in interrupt
 * context: queue for arpintr (a full queue drops, counted by the queue).
 */
export function arp_input(ifp: Ifnet, m: Mbuf): void {
  const st = inet_of(ifp.if_kernel);
  if (!pktq_enqueue(st.arp_pktq, m)) {
    ifp.if_iqdrops++;
    m_freem(m);
  }
}

/** arpintr: the ARP softint handler, one packet; NetBSD's arpintr() checks, then in_arpinput(). */
export function arpintr(m: Mbuf): void {
  const k = m.m_ctx.k;
  const lock = net_of(k).softnet_lock;
  mutex_enter(lock);
  try {
    arpintr_locked(k, m);
  } finally {
    mutex_exit(lock);
  }
}

function arpintr_locked(k: Kernel, m0: Mbuf): void {
  const st = inet_of(k);
  const as = st.arpstat;
  as.arps_rcvtotal++;
  if ((m0.m_flags & (M_BCAST | M_MCAST)) !== 0) as.arps_rcvmcast++;
  const plen = m0.m_pkthdr.len;
  let m: Mbuf | null = m0;
  if (m.m_len < ARP_ETHER_IP_LEN && plen >= ARP_ETHER_IP_LEN) {
    m = m_pullup(m, ARP_ETHER_IP_LEN);
    if (m === null) {
      as.arps_rcvbadlen++;
      return;
    }
  }
  const why = arp_hdr_check(m.m_buf, m.m_data, m.m_len < plen ? m.m_len : plen);
  if (why !== null) {
    as[why]++;
    m_freem(m);
    return;
  }
  in_arpinput(st, m);
}

/*
 * in_arpinput: a well-formed Ethernet/IPv4 ARP packet (RFC 826's
 * algorithm, with NetBSD's checks).  Frees m.
 */
function in_arpinput(st: InetState, m: Mbuf): void {
  const as = st.arpstat;
  const ifp = if_byindex(st.k, m.m_pkthdr.rcvif_index);
  const buf = m.m_buf;
  const ah = m.m_data;
  if (ifp === null) {
    as.arps_rcvnoint++;
    m_freem(m);
    return;
  }
  const op = ar_op(buf, ah);
  const isaddr = ar_spa(buf, ah);
  const itaddr = ar_tpa(buf, ah);
  if (op === ARPOP_REQUEST) as.arps_rcvrequest++;
  else if (op === ARPOP_REPLY) as.arps_rcvreply++;
  else {
    m_freem(m);
    return;
  }
  /* Our address that is the target, or (for the duplicate check) the sender. */
  let target: InIfaddr | null = null;
  let claimed: InIfaddr | null = null;
  let any = false;
  const l = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const ia = l[i]!;
    if (!(ia instanceof InIfaddr)) continue;
    any = true;
    if (ia.ia_addr === itaddr) target = ia;
    if (ia.ia_addr === isaddr) claimed = ia;
  }
  if (!any) {
    as.arps_rcvnoint++;
    m_freem(m);
    return;
  }
  const k = st.k;
  const shaoff = ah + AR_SHA_OFF;
  if (ether_addr_eq(buf, shaoff, ifp.if_sadl, 0)) {
    /* Our own packet, come back to us. */
    as.arps_rcvlocalsha++;
    m_freem(m);
    return;
  }
  if (ETHER_IS_BROADCAST(buf, shaoff)) {
    as.arps_rcvbcastsha++;
    log(k, LOG_ERR, `${ifp.if_xname}: arp: link address is broadcast for IP address ${inet_ntop4(isaddr)}!\n`);
    m_freem(m);
    return;
  }
  if (itaddr === INADDR_ANY) {
    as.arps_rcvzerotpa++;
    m_freem(m);
    return;
  }
  if (claimed !== null) {
    /* Someone else is using one of our addresses (RFC 5227 section 2.4). Defend it. */
    as.arps_rcvlocalspa++;
    log(k, LOG_ERR, `arp: ${ether_ntoa(buf, shaoff)} is using my IP address ${inet_ntop4(isaddr)} on ${ifp.if_xname}!\n`);
    if (op === ARPOP_REQUEST) arp_send(ifp, ARPOP_REPLY, claimed.ia_addr, isaddr, buf, shaoff);
    m_freem(m);
    return;
  }
  if (isaddr === INADDR_ANY) {
    /* A probe (RFC 5227 2.1.1): no sender to learn, but answer if it asks for ours. */
    as.arps_rcvzerospa++;
  } else {
    arp_update(st, ifp, isaddr, buf, shaoff, target !== null);
  }
  if (op === ARPOP_REQUEST && target !== null) {
    /* The reply goes to the asker's hardware address, with its protocol address as target. */
    arp_send(ifp, ARPOP_REPLY, target.ia_addr, isaddr, buf, shaoff);
  }
  m_freem(m);
}

/*
 * The merge step of RFC 826: update an entry for the sender if we have one;
 * make one if the packet was for us (so that the reply, and the traffic
 * that usually follows, need no request of their own).
 */
function arp_update(st: InetState, ifp: Ifnet, isaddr: number, buf: Uint8Array, shaoff: number, forme: boolean): void {
  const as = st.arpstat;
  const t = st.arp;
  const k = st.k;
  let la = t.entries.get(isaddr);
  if (la === undefined) {
    if (!forme) return;
    la = new Llentry(t, isaddr, ifp);
    t.entries.set(isaddr, la);
  }
  if (la.la_ifp !== ifp) {
    as.arps_rcvoverint++;
    log(k, LOG_ERR, `arp: attempt to overwrite entry for ${inet_ntop4(isaddr)} on ${la.la_ifp.if_xname} by ${ether_ntoa(buf, shaoff)} on ${ifp.if_xname}\n`);
    return;
  }
  const changed = la.la_state === LLE_VALID && !ether_addr_eq(la.la_mac, 0, buf, shaoff);
  if (la.la_static) {
    if (changed) {
      as.arps_rcvoverperm++;
      log(k, LOG_ERR, `arp: attempt to overwrite permanent entry for ${inet_ntop4(isaddr)} by ${ether_ntoa(buf, shaoff)} on ${ifp.if_xname}\n`);
    }
    return;
  }
  if (changed) {
    as.arps_rcvover++;
    log(k, LOG_INFO, `arp info overwritten for ${inet_ntop4(isaddr)} by ${ether_ntoa(buf, shaoff)}\n`);
  }
  ether_addr_copy(la.la_mac, 0, buf, shaoff);
  la.la_state = LLE_VALID;
  la.la_asked = 0;
  arp_settimer(la, st.arpt_keep);
  if (la.la_hold !== null) arp_sendhold(la);
}

/* ------------------------------------------------------- management */

/**
 * arp_add: a static entry (arp -s): addr is at mac on ifname, or, without
 * ifname, on the interface of the directly connected route to addr
 * (ENETUNREACH if there is none).  Replaces any entry; held packets leave.
 */
export function arp_add(k: Kernel, addr: number, mac: Uint8Array, ifname?: string): number {
  const st = inet_of(k);
  if (mac.length !== ETHER_ADDR_LEN || addr === INADDR_ANY || IN_MULTICAST(addr) || addr === INADDR_BROADCAST) return EINVAL;
  let ifp: Ifnet | null = null;
  if (ifname !== undefined) {
    ifp = k.ifnet?.byname.get(ifname) ?? null;
  } else {
    const rt = rt_of(k).rtalloc1(addr);
    if (rt !== null && (rt.rt_flags & RTF_GATEWAY) === 0) ifp = rt_ifnet(rt);
  }
  if (ifp === null || ifp.if_type !== IFT_ETHER) return ENETUNREACH;
  let la = st.arp.entries.get(addr);
  if (la !== undefined && la.la_ifp !== ifp) {
    arp_free(la);
    la = undefined;
  }
  if (la === undefined) {
    la = new Llentry(st.arp, addr, ifp);
    st.arp.entries.set(addr, la);
  }
  callout_stop(la.la_timer);
  ether_addr_copy(la.la_mac, 0, mac, 0);
  la.la_static = true;
  la.la_state = LLE_VALID;
  la.la_asked = 0;
  if (la.la_hold !== null) arp_sendhold(la);
  return 0;
}

/** arp_delete: forget the entry for addr (arp -d); ESRCH if there is none. */
export function arp_delete(k: Kernel, addr: number): number {
  const la = inet_of(k).arp.entries.get(addr);
  if (la === undefined) return ESRCH;
  arp_free(la);
  return 0;
}

/** arp_list: the cache as `arp -a` shows it, sorted by address. */
export function arp_list(k: Kernel): ArpEntryInfo[] {
  /* The tick count catches up at kernel entry; a listing is one. */
  if (k.cpu.ci_curlwp === null && !k.dead) k.tick_sync();
  const out: ArpEntryInfo[] = [];
  const addrs = [...inet_of(k).arp.entries.keys()].sort((a, b) => a - b);
  for (const a of addrs) {
    const la = inet_of(k).arp.entries.get(a)!;
    const rem = callout_remaining(la.la_timer);
    out.push({
      addr: inet_ntop4(a),
      mac: la.la_state === LLE_VALID ? ether_ntoa(la.la_mac) : null,
      ifname: la.la_ifp.if_xname,
      state: la.la_state === LLE_VALID ? 'valid' : la.la_state === LLE_DOWN ? 'down' : 'incomplete',
      permanent: la.la_static,
      expire: la.la_static || rem < 0 ? null : Math.ceil(rem / k.hz),
    });
  }
  return out;
}

/** arp -an: one line per entry, "? (10.0.0.2) at b2:a0:..:02 on shmif0 [...]". */
export function arp_format(k: Kernel): string {
  let s = '';
  for (const e of arp_list(k)) {
    s += `? (${e.addr}) at ${e.mac ?? '(incomplete)'} on ${e.ifname}`;
    if (e.permanent) s += ' permanent';
    else if (e.expire !== null) s += ` expires in ${e.expire} seconds`;
    s += '\n';
  }
  return s;
}

/** arp_ifdetach: ifp is going away; forget its entries. */
export function arp_ifdetach(k: Kernel, ifp: Ifnet): void {
  const t = inet_of(k).arp;
  for (const la of [...t.entries.values()]) if (la.la_ifp === ifp) arp_free(la);
}

/** arp_drain: memory is short (m_reclaim); give back every held packet. */
export function arp_drain(k: Kernel): void {
  const st = k.inet;
  if (st === undefined) return;
  for (const la of st.arp.entries.values()) arp_purgehold(la);
}

/** The first IPv4 address of ifp, for callers that need an ARP source (re-exported for tests). */
export function arp_ifaddr(ifp: Ifnet): number {
  const ia = in_get_ia_from_ifp(ifp);
  return ia !== null ? ia.ia_addr : INADDR_ANY;
}
