/*
 * ip_icmp_input.ts: the ICMP protocol (NetBSD's netinet/ip_icmp.c; RFC 792,
 * RFC 1122 section 3.2.2, RFC 1812 section 4.3.2.8 for the rate limit).
 * The wire layout is ip_icmp.ts.
 *
 * Place in the packet path:
 *   ip_input -> inetsw[ip_protox[1]].pr_input = icmp_input():
 *     echo and timestamp requests are answered in place (icmp_reflect);
 *     errors are validated and passed to the protocol that sent the quoted
 *     datagram (pr_ctlinput: UDP turns a port unreachable into
 *     ECONNREFUSED on a connected socket);
 *     everything else, errors included, is offered to raw ICMP sockets
 *     (rip_input), which is how a user-space ping gets its replies.
 *   ip_input / ip_forward / udp_input / rip_input / reassembly timeout ->
 *     icmp_error(): builds an error quoting the offending datagram and
 *     sends it back with icmp_reflect -> icmp_send -> ip_output.
 *
 * icmp_error() never answers (RFC 1122 3.2.2, RFC 1812 4.3.2.7):
 *   - an ICMP error (only queries may be answered with an error; an
 *     unknown type counts as an error), icps_oldicmp;
 *   - a link-level broadcast or multicast, or a datagram to an IP
 *     broadcast or multicast address;
 *   - a fragment other than the first;
 *   - a datagram whose source is not a unicast host: zero ("this host"),
 *     a broadcast address, multicast, class E (icps_badaddr);
 *   - more than net.inet.icmp.errppslimit errors a second (ppsratecheck
 *     on kernel time, icps_toofreq; 0 sends none, -1 lifts the limit).
 * Echo requests to a broadcast or multicast address are ignored unless
 * net.inet.icmp.bmcastecho is set (icps_bmcastecho), as NetBSD.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import {
  m_clget, m_copydata, m_freem, m_gethdr, m_makewritable, m_pullup, m_reserve, M_BCAST, M_DONTWAIT, M_MCAST,
  M_READONLY, MHLEN, MT_HEADER, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import { if_byindex } from '../libnet/if.ts';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_MODIFIED, RTM_ADD, RTM_CHANGE } from '../libnet/route.ts';
import {
  IN_EXPERIMENTAL, IN_LOOPBACKNET, IN_MULTICAST, INADDR_ANY, IPPROTO_ICMP, in_addr_read, in_addr_write, in_canforward,
} from './in.ts';
import { IP_DST_OFF, IP_HDR_LEN, IP_LEN_OFF, IP_OFF_OFF, IP_OFFMASK, IP_P_OFF, IP_SRC_OFF, IP_TTL_OFF, MAXTTL } from './ip.ts';
import {
  ICMP_ADVLENMIN, ICMP_CKSUM_OFF, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_INFOTYPE, ICMP_IP_OFF, ICMP_MASKLEN,
  ICMP_MASKREPLY, ICMP_MASKREQ, ICMP_MAXTYPE, ICMP_MINLEN, ICMP_PARAMPROB, ICMP_REDIRECT, ICMP_SOURCEQUENCH,
  ICMP_TIMXCEED, ICMP_TSLEN, ICMP_TSTAMP, ICMP_TSTAMPREPLY, ICMP_UNREACH, ICMP_UNREACH_HOST,
  ICMP_UNREACH_HOST_PREC, ICMP_UNREACH_ISOLATED, ICMP_UNREACH_NEEDFRAG, ICMP_UNREACH_NET,
  ICMP_UNREACH_NET_PROHIB, ICMP_UNREACH_NET_UNKNOWN, ICMP_UNREACH_PORT, ICMP_UNREACH_PREC_CUTOFF,
  ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_SRCFAIL, ICMP_UNREACH_ADMIN_PROHIBIT, ICMP_UNREACH_HOST_PROHIB,
  ICMP_UNREACH_HOST_UNKNOWN, ICMP_UNREACH_TOSHOST, ICMP_UNREACH_TOSNET,
} from './ip_icmp.ts';
import {
  PRC_MSGSIZE, PRC_PARAMPROB, PRC_QUENCH, PRC_REDIRECT_NET, PRC_TIMXCEED_INTRANS,
  PRC_UNREACH_NET, PRC_UNREACH_PORT, PRC_UNREACH_PROTOCOL,
} from './icmp_var.ts';
import { cpu_in_cksum } from './cpu_in_cksum.ts';
import {
  in_broadcast, in_broadcast_any, in_get_ia, in_get_ia_on_ifp_for, in_selectsrc, inet_of, rt_of, type InetState,
} from './in_var.ts';
import { ip_output } from './ip_output.ts';
import { rip_input } from './raw_ip.ts';

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/**
 * icmp_ratelimit: may an error go out now?  ppsratecheck over one-second
 * windows of kernel time (ticks): true means "over the limit, do not".
 */
export function icmp_ratelimit(st: InetState): boolean {
  const lim = st.icmperrppslim;
  if (lim < 0) return false;
  const k = st.k;
  const now = k.ticks;
  const dt = (now - st.icmperrppslim_last) | 0;
  if (!st.icmperrppslim_started || dt >= k.hz || dt < 0) {
    st.icmperrppslim_last = now;
    st.icmperrpps_count = 0;
    st.icmperrppslim_started = true;
  }
  if (lim === 0) return true;
  const over = st.icmperrpps_count >= lim;
  st.icmperrpps_count++;
  return over;
}

/** Is src an address an ICMP message may be sent back to (a unicast host)? */
function icmp_goodsrc(st: InetState, src: number): boolean {
  if (!in_canforward(src) && (src >>> 24) !== IN_LOOPBACKNET) return false;
  return !in_broadcast_any(st, src);
}

/**
 * icmp_error: send an ICMP error of (type, code) about datagram n (IP
 * header at its start, contiguous) back to its source, unless one of the
 * rules in the file comment forbids it.  `dest` is the gateway of a
 * redirect; `destmtu` the next-hop MTU of "need to fragment"; for
 * ICMP_PARAMPROB, `code` is the pointer to the bad byte.  Frees n.
 */
export function icmp_error(n0: Mbuf, type: number, code: number, dest: number, destmtu: number): void {
  const k = n0.m_ctx.k;
  const st = inet_of(k);
  const is = st.icmpstat;
  if (type !== ICMP_REDIRECT) is.icps_error++;
  let n: Mbuf | null = n0;
  if (n.m_len < IP_HDR_LEN) {
    if (n.m_pkthdr.len < IP_HDR_LEN) {
      is.icps_oldshort++;
      m_freem(n);
      return;
    }
    n = m_pullup(n, IP_HDR_LEN);
    if (n === null) return;
  }
  const ob = n.m_buf;
  const oip = n.m_data;
  const oiphlen = (ob[oip]! & 0x0f) << 2;
  const osrc = in_addr_read(ob, oip + IP_SRC_OFF);
  const odst = in_addr_read(ob, oip + IP_DST_OFF);
  const rcvif = if_byindex(k, n.m_pkthdr.rcvif_index);
  if ((n.m_flags & (M_BCAST | M_MCAST)) !== 0 || IN_MULTICAST(odst) ||
      (rcvif !== null && in_broadcast(st, odst, rcvif))) {
    m_freem(n);
    return;
  }
  if ((rd16(ob, oip + IP_OFF_OFF) & IP_OFFMASK) !== 0) {
    m_freem(n);
    return;
  }
  const oiplen = n.m_pkthdr.len < rd16(ob, oip + IP_LEN_OFF) ? n.m_pkthdr.len : rd16(ob, oip + IP_LEN_OFF);
  if (oiplen < oiphlen) {
    is.icps_oldshort++;
    m_freem(n);
    return;
  }
  if (ob[oip + IP_P_OFF] === IPPROTO_ICMP && type !== ICMP_REDIRECT && oiplen >= oiphlen + ICMP_MINLEN) {
    const t = oiphlen < n.m_len ? ob[oip + oiphlen]! : icmp_peek_type(n, oiphlen);
    if (!ICMP_INFOTYPE(t)) {
      is.icps_oldicmp++;
      m_freem(n);
      return;
    }
  }
  if (!icmp_goodsrc(st, osrc)) {
    is.icps_badaddr++;
    m_freem(n);
    return;
  }
  if (icmp_ratelimit(st)) {
    is.icps_toofreq++;
    m_freem(n);
    return;
  }

  /* Quote the header and icmpreturndatabytes (8, RFC 792) of what follows. */
  let datalen = oiplen - oiphlen;
  if (datalen > st.icmpreturndatabytes) datalen = st.icmpreturndatabytes;
  const icmplen = oiphlen + datalen;
  const ctx = n.m_ctx;
  const m = m_gethdr(ctx, M_DONTWAIT, MT_HEADER);
  if (m === null) {
    m_freem(n);
    return;
  }
  const total = IP_HDR_LEN + ICMP_MINLEN + icmplen;
  if (ctx.max_linkhdr + total > MHLEN && !m_clget(m, M_DONTWAIT)) {
    m_freem(m);
    m_freem(n);
    return;
  }
  m_reserve(m, ctx.max_linkhdr);
  const b = m.m_buf;
  const ip = m.m_data;
  const icp = ip + IP_HDR_LEN;
  b[icp] = type;
  b[icp + 1] = code;
  wr16(b, icp + ICMP_CKSUM_OFF, 0);
  in_addr_write(b, icp + 4, 0);
  if (type === ICMP_REDIRECT) {
    in_addr_write(b, icp + 4, dest);
  } else if (type === ICMP_PARAMPROB) {
    b[icp + 4] = code;
    b[icp + 1] = 0;
  } else if (type === ICMP_UNREACH && code === ICMP_UNREACH_NEEDFRAG && destmtu !== 0) {
    wr16(b, icp + 6, destmtu);
  }
  m_copydata(n, 0, icmplen, b, icp + ICMP_IP_OFF);
  /* The new IP header: a copy of the old one's fixed part, turned into ours by icmp_reflect. */
  for (let i = 0; i < IP_HDR_LEN; i++) b[ip + i] = ob[oip + i]!;
  b[ip] = 0x45;
  b[ip + 1] = 0;
  wr16(b, ip + IP_LEN_OFF, total);
  wr16(b, ip + IP_OFF_OFF, 0);
  b[ip + IP_P_OFF] = IPPROTO_ICMP;
  m.m_len = total;
  m.m_pkthdr.len = total;
  m.m_pkthdr.rcvif_index = n.m_pkthdr.rcvif_index;
  if (type <= ICMP_MAXTYPE) is.icps_outhist[type]!++;
  m_freem(n);
  icmp_reflect(m);
}

/* The ICMP type byte at offset `off` of a chain whose first mbuf is too short. */
function icmp_peek_type(n: Mbuf, off: number): number {
  for (let m: Mbuf | null = n; m !== null; m = m.m_next) {
    if (off < m.m_len) return m.m_buf[m.m_data + off]!;
    off -= m.m_len;
  }
  return 0;
}

/**
 * icmp_reflect: send the ICMP message m back where it came from: the
 * destination becomes the old source; the source is the address the
 * message was sent to if it is ours, else an address of the receiving
 * interface (on the sender's subnet if there is one), else whatever the
 * route back picks.  Options are stripped.  Never reflects to a source
 * that is not a unicast host (icps_badaddr).
 */
export function icmp_reflect(m0: Mbuf): void {
  const k = m0.m_ctx.k;
  const st = inet_of(k);
  const is = st.icmpstat;
  let m: Mbuf | null = m0;
  if (M_READONLY(m)) {
    m = m_makewritable(m, 0, m.m_len, M_DONTWAIT);
    if (m === null) return;
  }
  const b = m.m_buf;
  let ip = m.m_data;
  const src = in_addr_read(b, ip + IP_SRC_OFF);
  const t = in_addr_read(b, ip + IP_DST_OFF);
  if (!icmp_goodsrc(st, src)) {
    is.icps_badaddr++;
    m_freem(m);
    return;
  }
  let ia = in_get_ia(st, t);
  if (ia === null) {
    const rcvif = if_byindex(k, m.m_pkthdr.rcvif_index);
    if (rcvif !== null) ia = in_get_ia_on_ifp_for(rcvif, src);
  }
  let me: number;
  if (ia !== null) {
    me = ia.ia_addr;
  } else {
    me = in_selectsrc(st, src);
    if (me < 0) {
      is.icps_noroute++;
      m_freem(m);
      return;
    }
  }
  const hlen = (b[ip]! & 0x0f) << 2;
  if (hlen > IP_HDR_LEN) {
    /* Strip the options: move the fixed header up over them. */
    const optlen = hlen - IP_HDR_LEN;
    for (let i = IP_HDR_LEN - 1; i >= 0; i--) b[ip + optlen + i] = b[ip + i]!;
    m.m_data += optlen;
    m.m_len -= optlen;
    m.m_pkthdr.len -= optlen;
    ip = m.m_data;
    b[ip] = 0x45;
    wr16(b, ip + IP_LEN_OFF, rd16(b, ip + IP_LEN_OFF) - optlen);
  }
  in_addr_write(b, ip + IP_DST_OFF, src);
  in_addr_write(b, ip + IP_SRC_OFF, me);
  b[ip + IP_TTL_OFF] = MAXTTL;
  icmp_send(m);
}

/** icmp_send: checksum the message after the (option-less) header and send it. */
function icmp_send(m: Mbuf): void {
  const b = m.m_buf;
  const ip = m.m_data;
  const icmplen = rd16(b, ip + IP_LEN_OFF) - IP_HDR_LEN;
  wr16(b, ip + IP_HDR_LEN + ICMP_CKSUM_OFF, 0);
  wr16(b, ip + IP_HDR_LEN + ICMP_CKSUM_OFF, cpu_in_cksum(m, icmplen, IP_HDR_LEN, 0));
  m.m_pkthdr.rcvif_index = 0;
  m.m_pkthdr.csum_flags = 0;
  m.m_flags &= ~(M_BCAST | M_MCAST);
  ip_output(m, 0, null);
}

/* Milliseconds since midnight UTC (RFC 792's timestamp), from the kernel's clock. */
function iptime(k: Kernel): number {
  const ms = k.boottime.tv_sec * 1000 + Math.floor(k.boottime.tv_nsec / 1e6) + Math.floor(k.uptimeNs() / 1e6);
  return ms % 86400000;
}

/* The PRC_ code for an unreachable code (NetBSD folds most onto PRC_UNREACH_NET), or -1. */
function unreach_prc(code: number): number {
  switch (code) {
    case ICMP_UNREACH_NET:
    case ICMP_UNREACH_HOST:
    case ICMP_UNREACH_SRCFAIL:
    case ICMP_UNREACH_NET_UNKNOWN:
    case ICMP_UNREACH_HOST_UNKNOWN:
    case ICMP_UNREACH_ISOLATED:
    case ICMP_UNREACH_TOSNET:
    case ICMP_UNREACH_TOSHOST:
    case ICMP_UNREACH_NET_PROHIB:
    case ICMP_UNREACH_HOST_PROHIB:
    case ICMP_UNREACH_ADMIN_PROHIBIT:
    case ICMP_UNREACH_HOST_PREC:
    case ICMP_UNREACH_PREC_CUTOFF:
      return PRC_UNREACH_NET;
    case ICMP_UNREACH_PROTOCOL:
      return PRC_UNREACH_PROTOCOL;
    case ICMP_UNREACH_PORT:
      return PRC_UNREACH_PORT;
    case ICMP_UNREACH_NEEDFRAG:
      return PRC_MSGSIZE;
    default:
      return -1;
  }
}

/**
 * icmp_input: the ICMP pr_input (see the file comment).  The IP header is
 * at the start of m, `hlen` bytes; ip_len has been checked.
 */
export function icmp_input(m0: Mbuf, hlen: number, proto: number): void {
  const k = m0.m_ctx.k;
  const st = inet_of(k);
  const is = st.icmpstat;
  let m: Mbuf | null = m0;
  const icmplen = rd16(m.m_buf, m.m_data + IP_LEN_OFF) - hlen;
  if (icmplen < ICMP_MINLEN) {
    is.icps_tooshort++;
    m_freem(m);
    return;
  }
  const want = hlen + (icmplen < ICMP_ADVLENMIN ? icmplen : ICMP_ADVLENMIN);
  if (m.m_len < want) {
    m = m_pullup(m, want);
    if (m === null) {
      is.icps_tooshort++;
      return;
    }
  }
  if (cpu_in_cksum(m, icmplen, hlen, 0) !== 0) {
    is.icps_checksum++;
    m_freem(m);
    return;
  }
  let b = m.m_buf;
  let ip = m.m_data;
  let icp = ip + hlen;
  const type = b[icp]!;
  const code = b[icp + 1]!;
  if (type > ICMP_MAXTYPE) {
    rip_input(m, hlen, proto);
    return;
  }
  is.icps_inhist[type]!++;
  switch (type) {
    case ICMP_UNREACH:
    case ICMP_TIMXCEED:
    case ICMP_PARAMPROB:
    case ICMP_SOURCEQUENCH: {
      let prc: number;
      if (type === ICMP_UNREACH) prc = unreach_prc(code);
      else if (type === ICMP_TIMXCEED) prc = code > 1 ? -1 : PRC_TIMXCEED_INTRANS + code;
      else if (type === ICMP_PARAMPROB) prc = code > 1 ? -1 : PRC_PARAMPROB;
      else prc = code !== 0 ? -1 : PRC_QUENCH;
      if (prc < 0) {
        is.icps_badcode++;
        break;
      }
      /* Problem with a datagram we sent: advise the protocol that sent it. */
      if (icmplen < ICMP_ADVLENMIN) {
        is.icps_badlen++;
        m_freem(m);
        return;
      }
      const qhl = (b[icp + ICMP_IP_OFF]! & 0x0f) << 2;
      const advlen = ICMP_MINLEN + qhl + 8;
      if (qhl < IP_HDR_LEN || icmplen < advlen) {
        is.icps_badlen++;
        m_freem(m);
        return;
      }
      if (m.m_len < hlen + advlen) {
        m = m_pullup(m, hlen + advlen);
        if (m === null) {
          is.icps_badlen++;
          return;
        }
        b = m.m_buf;
        ip = m.m_data;
        icp = ip + hlen;
      }
      const qip = icp + ICMP_IP_OFF;
      const qdst = in_addr_read(b, qip + IP_DST_OFF);
      if (IN_MULTICAST(qdst)) {
        is.icps_badcode++;
        break;
      }
      icmp_ctlinput(st, prc, b, qip, qdst);
      break;
    }
    case ICMP_ECHO:
    case ICMP_TSTAMP:
    case ICMP_MASKREQ: {
      if ((m.m_flags & (M_BCAST | M_MCAST)) !== 0 || IN_MULTICAST(in_addr_read(b, ip + IP_DST_OFF)) ||
          in_broadcast_any(st, in_addr_read(b, ip + IP_DST_OFF))) {
        if (st.icmpbmcastecho === 0) {
          is.icps_bmcastecho++;
          break;
        }
      }
      if (type === ICMP_TSTAMP && icmplen < ICMP_TSLEN) {
        is.icps_badlen++;
        break;
      }
      if (type === ICMP_MASKREQ && (st.icmpmaskrepl === 0 || icmplen < ICMP_MASKLEN)) break;
      if (M_READONLY(m)) {
        m = m_makewritable(m, 0, hlen + ICMP_MINLEN + 12, M_DONTWAIT);
        if (m === null) return;
        b = m.m_buf;
        ip = m.m_data;
        icp = ip + hlen;
      }
      if (type === ICMP_ECHO) {
        b[icp] = ICMP_ECHOREPLY;
      } else if (type === ICMP_TSTAMP) {
        if (m.m_len < hlen + ICMP_TSLEN) {
          m = m_pullup(m, hlen + ICMP_TSLEN);
          if (m === null) return;
          b = m.m_buf;
          ip = m.m_data;
          icp = ip + hlen;
        }
        b[icp] = ICMP_TSTAMPREPLY;
        const now = iptime(k);
        in_addr_write(b, icp + 12, now);
        in_addr_write(b, icp + 16, now);
      } else {
        const rcvif = if_byindex(k, m.m_pkthdr.rcvif_index);
        const ia = rcvif !== null ? in_get_ia_on_ifp_for(rcvif, in_addr_read(b, ip + IP_SRC_OFF)) : null;
        if (ia === null) break;
        if (m.m_len < hlen + ICMP_MASKLEN) {
          m = m_pullup(m, hlen + ICMP_MASKLEN);
          if (m === null) return;
          b = m.m_buf;
          ip = m.m_data;
          icp = ip + hlen;
        }
        b[icp] = ICMP_MASKREPLY;
        in_addr_write(b, icp + 8, ia.ia_subnetmask);
      }
      is.icps_reflect++;
      is.icps_outhist[b[icp]!]!++;
      icmp_reflect(m);
      return;
    }
    case ICMP_REDIRECT: {
      if (code > 3) {
        is.icps_badcode++;
        break;
      }
      if (st.icmp_rediraccept === 0 || st.ip_forwarding !== 0) break;
      const qhl = icmplen >= ICMP_MINLEN + 1 ? (b[icp + ICMP_IP_OFF]! & 0x0f) << 2 : 0;
      if (icmplen < ICMP_ADVLENMIN || qhl < IP_HDR_LEN || icmplen < ICMP_MINLEN + qhl + 8) {
        is.icps_badlen++;
        m_freem(m);
        return;
      }
      const qdst = in_addr_read(b, icp + ICMP_IP_OFF + IP_DST_OFF);
      const gw = in_addr_read(b, icp + 4);
      icmp_redirect(st, qdst, gw, in_addr_read(b, ip + IP_SRC_OFF));
      icmp_ctlinput(st, PRC_REDIRECT_NET + code, b, icp + ICMP_IP_OFF, qdst);
      break;
    }
    default:
      break;
  }
  rip_input(m, hlen, proto);
}

/* Hand an ICMP error to the protocol of the quoted datagram (pr_ctlinput). */
function icmp_ctlinput(st: InetState, prc: number, b: Uint8Array, qip: number, qdst: number): void {
  const sa = st.sin_scratch;
  sa[0] = 16;
  sa[1] = 2; /* AF_INET */
  sa[2] = 0;
  sa[3] = 0;
  in_addr_write(sa, 4, qdst);
  const ctx = st.ctl_ctx;
  ctx.buf = b;
  ctx.off = qip;
  const pr = st.inetsw[st.ip_protox[b[qip + IP_P_OFF]!]!];
  if (pr !== undefined && pr.pr_ctlinput !== undefined) pr.pr_ctlinput(prc, sa, ctx);
  ctx.buf = ctx.empty;
}

/*
 * A redirect from our gateway (RFC 1122 3.2.2.2): route dst through gw,
 * changing the host route to dst if there is one, else adding a dynamic
 * host route (routers send host redirects only, RFC 1812 5.2.7.2).  Accepted only from the router we use for dst
 * now, for a gateway on a directly connected network that is not one of
 * our addresses; otherwise counted in rtstat.rts_badredirect.
 */
function icmp_redirect(st: InetState, dst: number, gw: number, from: number): void {
  const table = rt_of(st.k);
  const rt = table.rtalloc1(dst);
  const gwrt = table.rtalloc1(gw);
  if (rt === null || (rt.rt_flags & RTF_GATEWAY) === 0 || rt.rt_gateway !== from || gw === INADDR_ANY ||
      IN_MULTICAST(gw) || IN_EXPERIMENTAL(gw) || in_get_ia(st, gw) !== null || gwrt === null ||
      (gwrt.rt_flags & RTF_GATEWAY) !== 0) {
    table.rtstat.rts_badredirect++;
    return;
  }
  if (rt.rt_plen === 32) {
    /* A host route already: smash its gateway (NetBSD's rtredirect), marked RTF_MODIFIED. */
    if (table.rtrequest(RTM_CHANGE, { rti_dst: dst, rti_plen: 32, rti_gateway: gw, rti_flags: rt.rt_flags | RTF_MODIFIED }).error === 0) {
      table.rtstat.rts_newgateway++;
    }
    return;
  }
  if (table.rtrequest(RTM_ADD, { rti_dst: dst, rti_plen: 32, rti_gateway: gw, rti_flags: RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC }).error === 0) {
    table.rtstat.rts_dynamic++;
  }
}
