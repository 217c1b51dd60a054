/*
 * ip_input.ts: IPv4 input and forwarding (NetBSD's netinet/ip_input.c;
 * RFC 791, RFC 1122 section 3.2.1, RFC 1812 section 5.2 for forwarding).
 *
 * Place in the packet path:
 *   driver interrupt -> ether_input -> ip_etherinput() (interrupt context:
 *   only pktq_enqueue on ip_pktq) ... SOFTINT_NET -> ipintr() ->
 *   ip_input(): validate, then
 *     for this host: reassemble fragments (ip_reass.ts), then
 *       inetsw[ip_protox[ip_p]].pr_input(m, hlen, ip_p): udp_input,
 *       icmp_input, rip_input for everything else;
 *     for another host: ip_forward() when net.inet.ip.forwarding is 1,
 *       else dropped (ips_cantforward).
 *   lo0 -> looutput -> lo's queue -> ip_loopinput() -> ip_input() (the
 *   loop queue's softint already runs it outside the sender).
 *
 * Validation, in NetBSD's order, each drop counted: fewer than 20 bytes
 * (ips_toosmall), version not 4 (ips_badvers), header length below 20 or
 * past the data (ips_badhlen), header checksum (ips_badsum, unless the
 * interface vouched for it with M_CSUM_IPv4), ip_len below the header
 * (ips_badlen), ip_len beyond the data (ips_tooshort); bytes beyond ip_len
 * (Ethernet padding) are trimmed.  RFC 1122 3.2.1.3: a multicast source, or
 * 127/8 seen on anything but a loopback interface, is dropped
 * (ips_badaddr).  Options are walked with bounds checks and skipped: a
 * malformed option earns an ICMP parameter problem pointing at it, a
 * source route an ICMP "prohibited" unreachable (ip_allowsrcrt is 0 as
 * NetBSD's default, and this stack does not implement source routing);
 * both count ips_badoptions.  Record route and timestamp are not filled
 * in.
 *
 * "For this host" is the weak host model (RFC 1122 3.3.4.2), as NetBSD
 * with net.inet.ip.checkinterface 0: any of our addresses on any
 * interface, a broadcast address of the receiving interface, the limited
 * broadcast and 0.0.0.0.  Multicast is delivered only for the all-hosts
 * group 224.0.0.1, which every host joins (RFC 1112); other groups count
 * ips_notmember (there is no IGMP yet).
 *
 * The packet path allocates nothing: headers are read from the mbuf with
 * index arithmetic, and the locking (softnet_lock, as NetBSD's ipintr)
 * happens once per packet.
 */

import { mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import {
  m_adj, m_copydata, m_freem, m_gethdr, m_makewritable, m_pullup, M_BCAST, M_CSUM_IPv4, M_CSUM_IPv4_BAD,
  M_DONTWAIT, M_MCAST, M_READONLY, MT_HEADER, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import { pktq_enqueue } from '../../../librump/rumpnet/pktqueue.ts';
import { if_byindex, type Ifnet } from '../libnet/if.ts';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_MODIFIED, RTF_REJECT, rt_getmtu } from '../libnet/route.ts';
import { EMSGSIZE, ENOBUFS } from '../../../include/errno.ts';
import { IFF_BROADCAST, IFF_LOOPBACK } from '../../../include/if.ts';
import {
  IN_LOOPBACKNET, IN_MULTICAST, INADDR_ALLHOSTS_GROUP, INADDR_ANY, INADDR_BROADCAST, in_addr_read, in_canforward,
} from './in.ts';
import { in_cksum } from './in_cksum.ts';
import {
  IP_DST_OFF, IP_HDR_LEN, IP_LEN_OFF, IP_MF, IP_OFF_OFF, IP_OFFMASK, IP_P_OFF, IP_SRC_OFF, IP_TTL_OFF, IPOPT_CHECK_OK,
  IPOPT_EOL, IPOPT_LSRR, IPOPT_NOP, IPOPT_OLEN, IPOPT_SSRR, IPTTLDEC, IPVERSION, ip_opts_check, ip_ttl_dec,
} from './ip.ts';
import {
  ICMP_PARAMPROB, ICMP_REDIRECT, ICMP_REDIRECT_HOST, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, ICMP_UNREACH,
  ICMP_UNREACH_HOST, ICMP_UNREACH_NEEDFRAG, ICMP_UNREACH_NET, ICMP_UNREACH_NET_PROHIB,
} from './ip_icmp.ts';
import { IP_ALLOWBROADCAST, IP_FORWARDING } from './ip_var.ts';
import { in_get_ia, inet_of, rt_ifnet, rt_of, InIfaddr, type InetState } from './in_var.ts';
import { ip_reass } from './ip_reass.ts';
import { ip_output } from './ip_output.ts';
import { icmp_error } from './ip_icmp_input.ts';

/** Bytes of a forwarded datagram kept for an ICMP error about it (NetBSD: 68, RFC 792's header + 8 rounded). */
const MCOPY_LEN = 68;

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}

/**
 * ip_etherinput: ether_input's handler for ETHERTYPE_IP (interrupt
 * context): queue for ipintr.  A full queue drops (net.inet.ip.ifq.drops
 * and the interface's iqdrops).
 */
export function ip_etherinput(ifp: Ifnet, m: Mbuf): void {
  const st = inet_of(ifp.if_kernel);
  if (!pktq_enqueue(st.ip_pktq, m)) {
    ifp.if_iqdrops++;
    m_freem(m);
  }
}

/** ipintr: the ip_pktq softint handler, one packet, under softnet_lock. */
export function ipintr(m: Mbuf): void {
  const lock = net_of(m.m_ctx.k).softnet_lock;
  mutex_enter(lock);
  try {
    ip_input(m);
  } finally {
    mutex_exit(lock);
  }
}

/** ip_loopinput: lo0's AF_INET input (its queue's softint): the same as ipintr. */
export function ip_loopinput(_ifp: Ifnet, m: Mbuf): void {
  ipintr(m);
}

/**
 * ip_input: one received datagram (m_pkthdr.rcvif_index names the
 * interface).  Consumes m.  See the file comment.
 */
export function ip_input(m0: Mbuf): void {
  const k = m0.m_ctx.k;
  const st = inet_of(k);
  const ips = st.ipstat;
  let m: Mbuf | null = m0;
  const ifp = if_byindex(k, m.m_pkthdr.rcvif_index);
  if (ifp === null) {
    /* The interface went away while the packet waited. */
    m_freem(m);
    return;
  }
  ips.ips_total++;
  if (m.m_pkthdr.len < IP_HDR_LEN) {
    ips.ips_toosmall++;
    m_freem(m);
    return;
  }
  if (m.m_len < IP_HDR_LEN) {
    m = m_pullup(m, IP_HDR_LEN);
    if (m === null) {
      ips.ips_toosmall++;
      return;
    }
  }
  let b = m.m_buf;
  let ip = m.m_data;
  if (b[ip]! >>> 4 !== IPVERSION) {
    ips.ips_badvers++;
    m_freem(m);
    return;
  }
  let hlen = (b[ip]! & 0x0f) << 2;
  if (hlen < IP_HDR_LEN) {
    ips.ips_badhlen++;
    m_freem(m);
    return;
  }
  if (hlen > m.m_len) {
    if (hlen > m.m_pkthdr.len) {
      ips.ips_badhlen++;
      m_freem(m);
      return;
    }
    m = m_pullup(m, hlen);
    if (m === null) {
      ips.ips_badhlen++;
      return;
    }
    b = m.m_buf;
    ip = m.m_data;
  }
  const cf = m.m_pkthdr.csum_flags;
  if ((cf & M_CSUM_IPv4) !== 0 ? (cf & M_CSUM_IPv4_BAD) !== 0 : in_cksum(b, ip, hlen) !== 0) {
    ips.ips_badsum++;
    m_freem(m);
    return;
  }
  const len = rd16(b, ip + IP_LEN_OFF);
  if (len < hlen) {
    ips.ips_badlen++;
    m_freem(m);
    return;
  }
  if (m.m_pkthdr.len < len) {
    ips.ips_tooshort++;
    m_freem(m);
    return;
  }
  if (m.m_pkthdr.len > len) m_adj(m, len - m.m_pkthdr.len);

  const src = in_addr_read(b, ip + IP_SRC_OFF);
  const dst = in_addr_read(b, ip + IP_DST_OFF);
  /* RFC 1122 3.2.1.3: no multicast sources; 127/8 must not appear on a wire. */
  if (IN_MULTICAST(src) ||
      ((dst >>> 24 === IN_LOOPBACKNET || src >>> 24 === IN_LOOPBACKNET) && (ifp.if_flags & IFF_LOOPBACK) === 0)) {
    ips.ips_badaddr++;
    m_freem(m);
    return;
  }
  if (hlen > IP_HDR_LEN && ip_dooptions(st, m, hlen)) return;

  if (!ip_ours(st, ifp, dst)) {
    if (IN_MULTICAST(dst)) {
      ips.ips_notmember++;
      m_freem(m);
      return;
    }
    if (st.ip_forwarding === 0) {
      ips.ips_cantforward++;
      m_freem(m);
      return;
    }
    ip_forward(st, m, ifp);
    return;
  }

  /* Ours.  A fragment waits for the rest of its datagram (RFC 791 3.2). */
  if ((rd16(b, ip + IP_OFF_OFF) & (IP_MF | IP_OFFMASK)) !== 0) {
    m = ip_reass(st, m, hlen);
    if (m === null) return;
    b = m.m_buf;
    ip = m.m_data;
    hlen = (b[ip]! & 0x0f) << 2;
  }
  ips.ips_delivered++;
  const p = b[ip + IP_P_OFF]!;
  st.inetsw[st.ip_protox[p]!]!.pr_input!(m, hlen, p);
}

/* Is dst this host (see the file comment)? */
function ip_ours(st: InetState, ifp: Ifnet, dst: number): boolean {
  if (dst === INADDR_BROADCAST || dst === INADDR_ANY) return true;
  if (IN_MULTICAST(dst)) return dst === INADDR_ALLHOSTS_GROUP;
  const h = st.in_ifaddrhead;
  const bcast = (ifp.if_flags & IFF_BROADCAST) !== 0;
  for (let i = 0; i < h.length; i++) {
    const ia = h[i]!;
    if (ia.ia_addr === dst) {
      if (st.ip_checkinterface === 0 || ia.ifa_ifp === ifp || (ifp.if_flags & IFF_LOOPBACK) !== 0) return true;
      continue;
    }
    if (bcast && ia.ifa_ifp === ifp) {
      if (dst === ia.ia_broadaddr) return true;
      if (st.ip_hostzeroisbroadcast !== 0 && dst === ia.ia_subnet && ia.ia_plen < 31) return true;
    }
  }
  return false;
}

/*
 * ip_dooptions: walk the options of the header at m (hlen bytes); returns
 * true if the packet was consumed (an error was sent and it was counted).
 */
function ip_dooptions(st: InetState, m: Mbuf, hlen: number): boolean {
  const b = m.m_buf;
  const ip = m.m_data;
  const bad = ip_opts_check(b, ip, hlen);
  if (bad !== IPOPT_CHECK_OK) {
    /* RFC 1122 3.2.2.5: parameter problem, pointer at the offending byte. */
    st.ipstat.ips_badoptions++;
    icmp_error(m, ICMP_PARAMPROB, bad, 0, 0);
    return true;
  }
  const end = ip + hlen;
  for (let p = ip + IP_HDR_LEN; p < end;) {
    const opt = b[p]!;
    if (opt === IPOPT_EOL) break;
    if (opt === IPOPT_NOP) {
      p++;
      continue;
    }
    if (opt === IPOPT_LSRR || opt === IPOPT_SSRR) {
      /* Source routing is off (NetBSD's ip_allowsrcrt 0): administratively prohibited. */
      st.ipstat.ips_badoptions++;
      icmp_error(m, ICMP_UNREACH, ICMP_UNREACH_NET_PROHIB, 0, 0);
      return true;
    }
    p += b[p + IPOPT_OLEN]!;
  }
  return false;
}

/**
 * ip_forward: route a datagram for another host (RFC 1812 5.2), given
 * net.inet.ip.forwarding is 1.  Link-level broadcasts and addresses that
 * may not be forwarded (in_canforward: 0/8, 127/8, multicast, class E) are
 * dropped (ips_cantforward).  TTL 1 earns an ICMP time exceeded; no route
 * (or a reject route) an ICMP unreachable (ips_noroute).  The TTL is
 * decremented with an incremental checksum update (RFC 1624).  A datagram
 * that leaves by the interface it came in on, from a sender on that
 * interface's subnet, by a route that is neither the default route nor one
 * a redirect made, earns the sender an ICMP host redirect
 * (ips_redirectsent; net.inet.ip.redirect).  If ip_output fails, an ICMP
 * unreachable ("need to fragment" with the next-hop MTU for EMSGSIZE)
 * goes back, quoting the first 68 bytes kept before sending.
 */
export function ip_forward(st: InetState, m0: Mbuf, ifp: Ifnet): void {
  const k = st.k;
  const ips = st.ipstat;
  let m: Mbuf | null = m0;
  let b = m.m_buf;
  let ip = m.m_data;
  const dst = in_addr_read(b, ip + IP_DST_OFF);
  if ((m.m_flags & (M_BCAST | M_MCAST)) !== 0 || !in_canforward(dst)) {
    ips.ips_cantforward++;
    m_freem(m);
    return;
  }
  if (b[ip + IP_TTL_OFF]! <= IPTTLDEC) {
    icmp_error(m, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, 0, 0);
    return;
  }
  const rt = rt_of(k).rtalloc1(dst);
  if (rt === null || (rt.rt_flags & RTF_REJECT) !== 0) {
    ips.ips_noroute++;
    ips.ips_cantforward++;
    icmp_error(m, ICMP_UNREACH, rt === null ? ICMP_UNREACH_NET : ICMP_UNREACH_HOST, 0, 0);
    return;
  }
  /*
   * Keep the start of the datagram for an ICMP error, in an mbuf of its
   * own: the data may sit in a cluster ip_output will change.
   */
  const plen = m.m_pkthdr.len;
  const clen = plen < MCOPY_LEN ? plen : MCOPY_LEN;
  const mcopy = m_gethdr(m.m_ctx, M_DONTWAIT, MT_HEADER);
  if (mcopy !== null) {
    m_copydata(m, 0, clen, mcopy.m_buf, mcopy.m_data);
    mcopy.m_len = clen;
    mcopy.m_pkthdr.len = clen;
    mcopy.m_pkthdr.rcvif_index = m.m_pkthdr.rcvif_index;
  }
  if (M_READONLY(m)) {
    const hlen = (b[ip]! & 0x0f) << 2;
    m = m_makewritable(m, 0, hlen, M_DONTWAIT);
    if (m === null) {
      m_freem(mcopy);
      return;
    }
    b = m.m_buf;
    ip = m.m_data;
  }
  ip_ttl_dec(b, ip, IPTTLDEC);
  /* What the receiving interface verified says nothing to the sending one. */
  m.m_pkthdr.csum_flags = 0;

  let type = 0;
  let code = 0;
  let rdst = 0;
  if (rt_ifnet(rt) === ifp && (rt.rt_flags & (RTF_DYNAMIC | RTF_MODIFIED)) === 0 && rt.rt_plen !== 0 &&
      st.ip_sendredirects !== 0) {
    const ia = in_get_ia(st, rt.rt_ifa_addr);
    const src = in_addr_read(b, ip + IP_SRC_OFF);
    if (ia instanceof InIfaddr && ((src & ia.ia_subnetmask) >>> 0) === ia.ia_subnet) {
      rdst = (rt.rt_flags & RTF_GATEWAY) !== 0 ? rt.rt_gateway : dst;
      /* RFC 1812 5.2.7.2: routers send host redirects only. */
      type = ICMP_REDIRECT;
      code = ICMP_REDIRECT_HOST;
    }
  }
  const error = ip_output(m, IP_FORWARDING | (st.ip_directedbcast !== 0 ? IP_ALLOWBROADCAST : 0), null);
  if (error !== 0) {
    ips.ips_cantforward++;
  } else {
    ips.ips_forward++;
    if (type !== 0) {
      ips.ips_redirectsent++;
    } else {
      m_freem(mcopy);
      return;
    }
  }
  if (mcopy === null) return;
  let destmtu = 0;
  if (error !== 0) {
    if (error === ENOBUFS) {
      /* No source quench (RFC 6633): just drop. */
      m_freem(mcopy);
      return;
    }
    type = ICMP_UNREACH;
    code = ICMP_UNREACH_HOST;
    rdst = 0;
    if (error === EMSGSIZE) {
      code = ICMP_UNREACH_NEEDFRAG;
      destmtu = st.ip_lasterrormtu !== 0 ? st.ip_lasterrormtu : rt_getmtu(rt);
    }
  }
  icmp_error(mcopy, type, code, rdst, destmtu);
}
