/*
 * ip_output.ts: IPv4 output (NetBSD's netinet/ip_output.c and ip_id.c):
 * ip_output(), ip_fragment(), ip_optcopy(), ip_newid(), and the IP-level
 * socket options (ip_ctloutput).
 *
 * Place in the packet path:
 *   udp_output / rip_output / icmp_send / ip_forward -> ip_output()
 *     -> route (the PCB's cached route, else rtalloc1)
 *     -> ifp.if_output(ifp, m, AF_INET, nexthop)   (ether_output, looutput)
 * A packet to one of this host's own addresses follows its RTF_LOCAL route
 * through lo0 and comes back in through ip_input, as NetBSD's does.
 *
 * The caller hands over a packet whose first mbuf holds the whole IP
 * header, with ip_len, ip_p, ip_dst, ip_ttl and ip_tos filled in (and
 * ip_src, or 0 to have it chosen from the route).  Unless the packet is
 * being forwarded or came from the user (IP_RAWOUTPUT with an ID already
 * set), ip_output() stamps version, header length, ip_off (keeping only
 * IP_DF) and a fresh ip_id, and counts it in ips_localout.
 *
 * IDs (ip_newid): net.inet.ip.random_id 0 (the default, NetBSD's too) gives
 * sequential IDs per kernel from a random starting point; 1 gives a random
 * ID per datagram (NetBSD's ip_randomid, here from cprng_fast32).
 *
 * ip_output() owns the packet whatever it returns.  Errors: EHOSTUNREACH
 * (no route: ips_noroute; or a host reject route), ENETUNREACH (a network
 * reject route), ENETDOWN (the interface is down), EADDRNOTAVAIL (no source
 * address), EACCES (a broadcast without SO_BROADCAST), EMSGSIZE (IP_DF and
 * too big, or a broadcast too big: ips_cantfrag), ENOBUFS, or whatever the
 * interface returns.
 */

import { IFF_BROADCAST, IFF_UP } from '../../../include/if.ts';
import {
  EACCES, EADDRNOTAVAIL, EHOSTUNREACH, EINVAL, EMSGSIZE, ENETDOWN, ENETUNREACH, ENOBUFS, ENOPROTOOPT,
} from '../../../include/errno.ts';
import { AF_INET, SOCK_RAW } from '../../../include/socket.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { PRCO_GETOPT, PRCO_SETOPT, type Sockopt } from '../../../librump/rumpnet/uipc_domain.ts';
import {
  m_adj, m_copym, m_freem, m_gethdr, m_pullup, m_reserve, M_BCAST, M_CSUM_IPv4, M_CSUM_TCPv4, M_CSUM_UDPv4,
  M_DONTWAIT, M_MCAST, MT_HEADER, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import type { Ifnet } from '../libnet/if.ts';
import { RTF_BLACKHOLE, RTF_GATEWAY, RTF_HOST, RTF_REJECT, rt_getmtu, type Rtentry } from '../libnet/route.ts';
import {
  IN_MULTICAST, INADDR_BROADCAST, IP_ERRORMTU, IP_HDRINCL, IP_PORTRANGE, IP_PORTRANGE_DEFAULT,
  IP_PORTRANGE_HIGH, IP_PORTRANGE_LOW, IP_TOS, IP_TTL, IPPROTO_IP, in_addr_read, in_addr_write,
} from './in.ts';
import { in_cksum } from './in_cksum.ts';
import { cpu_in_cksum } from './cpu_in_cksum.ts';
import {
  IP_DF, IP_HDR_LEN, IP_LEN_OFF, IP_MF, IP_OFF_OFF, IP_OFFMASK, IP_SRC_OFF, IP_DST_OFF, IP_SUM_OFF,
  IP_ID_OFF, IPOPT_COPIED, IPOPT_EOL, IPOPT_NOP, IPOPT_OLEN,
} from './ip.ts';
import { IP_ALLOWBROADCAST, IP_FORWARDING, IP_RAWOUTPUT, IP_ROUTETOIF } from './ip_var.ts';
import {
  in_broadcast, in_broadcast_ifp, in_get_ia_on_ifp_for, inet_of, rt_ifnet, rt_of, InIfaddr, type InetState,
} from './in_var.ts';
import { in_pcbrtentry, INP_HDRINCL, INP_LOWPORT, type Inpcb, sotoinpcb } from './in_pcb.ts';

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/** ip_newid: the ID of the next datagram (see the file comment). */
export function ip_newid(st: InetState): number {
  if (st.ip_do_randomid !== 0) return st.k.cprng.cprng_fast32() & 0xffff;
  st.ip_id = (st.ip_id + 1) & 0xffff;
  return st.ip_id;
}

/* The header checksum, computed over the header in place. */
function ip_sum_fill(buf: Uint8Array, ip: number, hlen: number): void {
  buf[ip + IP_SUM_OFF] = 0;
  buf[ip + IP_SUM_OFF + 1] = 0;
  wr16(buf, ip + IP_SUM_OFF, in_cksum(buf, ip, hlen));
}

/* Transport checksums that may be left to the interface. */
const M_CSUM_L4 = M_CSUM_UDPv4 | M_CSUM_TCPv4;

/**
 * in_delayed_cksum: finish a TCP/UDP checksum the transport left as the
 * pseudo-header's partial sum in its checksum field (csum_data is the
 * field's offset in the transport header): summing the segment with that
 * field in place gives the full checksum.  A UDP result of 0 is sent as
 * 0xffff (RFC 768).
 */
export function in_delayed_cksum(m: Mbuf, hlen: number): void {
  const buf = m.m_buf;
  const ip = m.m_data;
  const len = rd16(buf, ip + IP_LEN_OFF) - hlen;
  let sum = cpu_in_cksum(m, len, hlen, 0);
  if (sum === 0 && (m.m_pkthdr.csum_flags & M_CSUM_UDPv4) !== 0) sum = 0xffff;
  const at = hlen + m.m_pkthdr.csum_data;
  /* The field is in the first mbuf: the transport prepended its header there. */
  wr16(buf, ip + at, sum);
}

/* The interface address on dst's network, for SO_DONTROUTE (ifa_ifwithnet), or null. */
function in_ifwithnet(st: InetState, dst: number): InIfaddr | null {
  const h = st.in_ifaddrhead;
  for (let i = 0; i < h.length; i++) {
    const ia = h[i]!;
    if (ia.ia_addr === dst || ((dst & ia.ia_subnetmask) >>> 0) === ia.ia_subnet) return ia;
  }
  return null;
}

/**
 * ip_output: send the datagram m (see the file comment for the contract).
 * flags: IP_FORWARDING, IP_RAWOUTPUT, IP_ROUTETOIF, IP_ALLOWBROADCAST.
 * inp, when given, supplies a route cache.  Returns an errno.
 */
export function ip_output(m0: Mbuf, flags: number, inp: Inpcb | null): number {
  const k = m0.m_ctx.k;
  const st = inet_of(k);
  const ips = st.ipstat;
  let m: Mbuf | null = m0;
  if (m.m_len < IP_HDR_LEN) {
    m = m_pullup(m, IP_HDR_LEN);
    if (m === null) {
      ips.ips_odropped++;
      return ENOBUFS;
    }
  }
  let hlen = (m.m_buf[m.m_data]! & 0x0f) << 2;
  if (hlen < IP_HDR_LEN) {
    m_freem(m);
    return EINVAL;
  }
  if (m.m_len < hlen) {
    m = m_pullup(m, hlen);
    if (m === null) {
      ips.ips_odropped++;
      return ENOBUFS;
    }
  }
  const buf = m.m_buf;
  const ip = m.m_data;
  if ((flags & (IP_FORWARDING | IP_RAWOUTPUT)) === 0) {
    buf[ip] = 0x40 | (hlen >>> 2);
    wr16(buf, ip + IP_OFF_OFF, rd16(buf, ip + IP_OFF_OFF) & IP_DF);
    wr16(buf, ip + IP_ID_OFF, ip_newid(st));
    ips.ips_localout++;
  }
  const dst = in_addr_read(buf, ip + IP_DST_OFF);

  /* Route. */
  let rt: Rtentry | null = null;
  let ifp: Ifnet;
  let nexthop = dst;
  if ((flags & IP_ROUTETOIF) !== 0) {
    /* SO_DONTROUTE: straight out of the interface on dst's network (RFC 1122 3.3.1.3). */
    const ia = in_ifwithnet(st, dst);
    if (ia === null) {
      ips.ips_noroute++;
      m_freem(m);
      return ENETUNREACH;
    }
    ifp = ia.ifa_ifp;
  } else {
    rt = inp !== null ? in_pcbrtentry(inp, dst) : rt_of(k).rtalloc1(dst);
    if (rt === null) {
      const ia = dst === INADDR_BROADCAST ? in_broadcast_ifp(st) : null;
      if (ia === null) {
        ips.ips_noroute++;
        m_freem(m);
        return EHOSTUNREACH;
      }
      ifp = ia.ifa_ifp;
    } else {
      if ((rt.rt_flags & RTF_BLACKHOLE) !== 0) {
        m_freem(m);
        return 0;
      }
      if ((rt.rt_flags & RTF_REJECT) !== 0) {
        m_freem(m);
        return (rt.rt_flags & RTF_HOST) !== 0 ? EHOSTUNREACH : ENETUNREACH;
      }
      ifp = rt_ifnet(rt);
      if ((rt.rt_flags & RTF_GATEWAY) !== 0) nexthop = rt.rt_gateway;
      rt.rt_use++;
    }
  }
  if ((ifp.if_flags & IFF_UP) === 0) {
    m_freem(m);
    return ENETDOWN;
  }

  /* Source address, when the caller left it to us. */
  if (in_addr_read(buf, ip + IP_SRC_OFF) === 0) {
    let src = rt !== null ? rt.rt_ifa_addr : 0;
    if (src === 0) {
      const ia = in_get_ia_on_ifp_for(ifp, nexthop);
      if (ia !== null) src = ia.ia_addr;
    }
    if (src === 0) {
      m_freem(m);
      return EADDRNOTAVAIL;
    }
    in_addr_write(buf, ip + IP_SRC_OFF, src);
  }

  const len = rd16(buf, ip + IP_LEN_OFF);
  /* Link-level broadcast or multicast. */
  if (IN_MULTICAST(dst)) {
    m.m_flags = (m.m_flags & ~M_BCAST) | M_MCAST;
  } else if (in_broadcast(st, dst, ifp)) {
    if ((ifp.if_flags & IFF_BROADCAST) === 0) {
      m_freem(m);
      return EADDRNOTAVAIL;
    }
    if ((flags & IP_ALLOWBROADCAST) === 0) {
      m_freem(m);
      return EACCES;
    }
    /* A broadcast is never fragmented (NetBSD). */
    if (len > ifp.if_mtu) {
      ips.ips_cantfrag++;
      m_freem(m);
      return EMSGSIZE;
    }
    m.m_flags = (m.m_flags & ~M_MCAST) | M_BCAST;
  } else {
    m.m_flags &= ~(M_BCAST | M_MCAST);
  }

  const mtu = rt !== null ? rt_getmtu(rt) : ifp.if_mtu;
  let cf = m.m_pkthdr.csum_flags;
  if (len <= mtu) {
    /*
     * Checksums the interface does not offer to finish are finished here
     * (NetBSD's in_delayed_cksum); with offload the driver (or the bus)
     * is trusted with them.
     */
    const txf = ifp.if_csum_flags_tx;
    if ((cf & M_CSUM_L4) !== 0 && (cf & txf & M_CSUM_L4) === 0) {
      in_delayed_cksum(m, hlen);
      cf &= ~M_CSUM_L4;
    }
    /* A forwarded header was patched incrementally by ip_forward (RFC 1624). */
    if ((flags & IP_FORWARDING) === 0) {
      if ((txf & M_CSUM_IPv4) !== 0) {
        buf[ip + IP_SUM_OFF] = 0;
        buf[ip + IP_SUM_OFF + 1] = 0;
        cf |= M_CSUM_IPv4;
      } else {
        ip_sum_fill(buf, ip, hlen);
      }
    }
    m.m_pkthdr.csum_flags = cf;
    return ifp.if_output(ifp, m, AF_INET, nexthop);
  }
  /* Fragments each need the whole datagram's checksum: finish it now. */
  if ((cf & M_CSUM_L4) !== 0) in_delayed_cksum(m, (buf[ip]! & 0x0f) << 2);
  m.m_pkthdr.csum_flags = 0;
  if ((rd16(buf, ip + IP_OFF_OFF) & IP_DF) !== 0) {
    /* RFC 1191: the sender asked not to be fragmented; it learns the MTU. */
    ips.ips_cantfrag++;
    st.ip_lasterrormtu = mtu;
    if (inp !== null) inp.inp_errormtu = mtu;
    m_freem(m);
    return EMSGSIZE;
  }
  hlen = (buf[ip]! & 0x0f) << 2;
  return ip_fragment(st, m, ifp, mtu, hlen, nexthop);
}

/**
 * ip_optcopy: copy the header at src[soff..] (hlen bytes) into dst[doff..]
 * for a fragment after the first: the fixed part, then only the options
 * whose copied flag is set (RFC 791: the others go in the first fragment
 * only), padded with EOL to a multiple of 4.  Returns the new header
 * length.
 */
export function ip_optcopy(src: Uint8Array, soff: number, hlen: number, dst: Uint8Array, doff: number): number {
  for (let i = 0; i < IP_HDR_LEN; i++) dst[doff + i] = src[soff + i]!;
  let d = doff + IP_HDR_LEN;
  const end = soff + hlen;
  for (let p = soff + IP_HDR_LEN; p < end;) {
    const opt = src[p]!;
    if (opt === IPOPT_EOL) break;
    if (opt === IPOPT_NOP) {
      dst[d++] = IPOPT_NOP;
      p++;
      continue;
    }
    if (end - p < 2) break;
    const olen = src[p + IPOPT_OLEN]!;
    if (olen < 2 || olen > end - p) break;
    if (IPOPT_COPIED(opt)) {
      for (let i = 0; i < olen; i++) dst[d + i] = src[p + i]!;
      d += olen;
    }
    p += olen;
  }
  while (((d - doff) & 3) !== 0) dst[d++] = IPOPT_EOL;
  const nhlen = d - doff;
  dst[doff] = 0x40 | (nhlen >>> 2);
  return nhlen;
}

/**
 * ip_fragment: split m (header hlen bytes, larger than mtu) into fragments
 * of at most mtu bytes whose data lengths are multiples of 8 (RFC 791
 * section 3.2), keeping the offset and MF of a datagram that was itself a
 * fragment, and send them in order.  Fragment data shares m's clusters
 * (m_copym), so nothing is copied but headers.  On ENOBUFS nothing is
 * sent.  Counts ips_fragmented and ips_ofragments (every fragment sent,
 * the first included).
 */
function ip_fragment(st: InetState, m: Mbuf, ifp: Ifnet, mtu: number, hlen: number, nexthop: number): number {
  const ips = st.ipstat;
  const ctx = m.m_ctx;
  const buf = m.m_buf;
  const ip = m.m_data;
  const totlen = rd16(buf, ip + IP_LEN_OFF);
  const len = (mtu - hlen) & ~7;
  if (len < 8) {
    ips.ips_cantfrag++;
    m_freem(m);
    return EMSGSIZE;
  }
  const ipoff0 = rd16(buf, ip + IP_OFF_OFF);
  const off0 = ipoff0 & IP_OFFMASK;
  const mf0 = ipoff0 & IP_MF;
  let head: Mbuf | null = null;
  let tail: Mbuf | null = null;
  let nfrags = 1;
  let error = 0;
  for (let off = hlen + len; off < totlen; off += len) {
    const mh = m_gethdr(ctx, M_DONTWAIT, MT_HEADER);
    if (mh === null) {
      error = ENOBUFS;
      break;
    }
    m_reserve(mh, ctx.max_linkhdr);
    const fb = mh.m_buf;
    const fip = mh.m_data;
    /* Later fragments carry only the copied options; keep the room they need. */
    const fhlen = ip_optcopy(buf, ip, hlen, fb, fip);
    /* Each fragment's data must fit next to its own header. */
    let flen = len;
    let more = mf0;
    if (off + flen >= totlen) flen = totlen - off;
    else more = IP_MF;
    mh.m_len = fhlen;
    wr16(fb, fip + IP_LEN_OFF, fhlen + flen);
    wr16(fb, fip + IP_OFF_OFF, (((off - hlen) >>> 3) + off0) | more);
    ip_sum_fill(fb, fip, fhlen);
    const data = m_copym(m, off, flen, M_DONTWAIT);
    if (data === null) {
      m_freem(mh);
      error = ENOBUFS;
      break;
    }
    mh.m_next = data;
    mh.m_pkthdr.len = fhlen + flen;
    mh.m_flags |= m.m_flags & (M_BCAST | M_MCAST);
    if (tail === null) head = mh;
    else tail.m_nextpkt = mh;
    tail = mh;
    nfrags++;
  }
  if (error !== 0) {
    for (let f = head; f !== null;) {
      const n: Mbuf | null = f.m_nextpkt;
      f.m_nextpkt = null;
      m_freem(f);
      f = n;
    }
    m_freem(m);
    ips.ips_odropped++;
    return error;
  }
  /* The first fragment is m itself, cut to its share. */
  m_adj(m, hlen + len - m.m_pkthdr.len);
  wr16(buf, ip + IP_LEN_OFF, hlen + len);
  wr16(buf, ip + IP_OFF_OFF, (ipoff0 & ~IP_MF) | IP_MF);
  ip_sum_fill(buf, ip, hlen);
  ips.ips_fragmented++;
  ips.ips_ofragments += nfrags;
  error = ifp.if_output(ifp, m, AF_INET, nexthop);
  for (let f = head; f !== null;) {
    const n: Mbuf | null = f.m_nextpkt;
    f.m_nextpkt = null;
    if (error === 0) error = ifp.if_output(ifp, f, AF_INET, nexthop);
    else m_freem(f);
    f = n;
  }
  return error;
}

/* ------------------------------------------------------------ options */

function int_of(v: unknown): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

/**
 * ip_ctloutput: IPPROTO_IP socket options of UDP and raw sockets: IP_TTL
 * and IP_TOS (0..255, the header template of every datagram sent),
 * IP_HDRINCL (raw sockets only), IP_PORTRANGE (where ephemeral ports come
 * from) and IP_ERRORMTU (read: the MTU of the last EMSGSIZE).  Options
 * this stack does not implement are ENOPROTOOPT.
 */
export function ip_ctloutput(op: number, so: Socket, sopt: Sockopt): number {
  if (sopt.sopt_level !== IPPROTO_IP) return ENOPROTOOPT;
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  const name = sopt.sopt_name;
  if (op === PRCO_SETOPT) {
    const v = int_of(sopt.sopt_value);
    if (v === null) return EINVAL;
    switch (name) {
      case IP_TTL:
      case IP_TOS:
        if (v < 0 || v > 255) return EINVAL;
        if (name === IP_TTL) inp.inp_ip_ttl = v;
        else inp.inp_ip_tos = v;
        return 0;
      case IP_HDRINCL:
        if (so.so_type !== SOCK_RAW) return ENOPROTOOPT;
        if (v !== 0) inp.inp_flags |= INP_HDRINCL;
        else inp.inp_flags &= ~INP_HDRINCL;
        return 0;
      case IP_PORTRANGE:
        if (v === IP_PORTRANGE_DEFAULT || v === IP_PORTRANGE_HIGH) inp.inp_flags &= ~INP_LOWPORT;
        else if (v === IP_PORTRANGE_LOW) inp.inp_flags |= INP_LOWPORT;
        else return EINVAL;
        return 0;
      default:
        return ENOPROTOOPT;
    }
  }
  if (op === PRCO_GETOPT) {
    switch (name) {
      case IP_TTL:
        sopt.sopt_value = inp.inp_ip_ttl;
        return 0;
      case IP_TOS:
        sopt.sopt_value = inp.inp_ip_tos;
        return 0;
      case IP_HDRINCL:
        if (so.so_type !== SOCK_RAW) return ENOPROTOOPT;
        sopt.sopt_value = (inp.inp_flags & INP_HDRINCL) !== 0 ? 1 : 0;
        return 0;
      case IP_PORTRANGE:
        sopt.sopt_value = (inp.inp_flags & INP_LOWPORT) !== 0 ? IP_PORTRANGE_LOW : IP_PORTRANGE_DEFAULT;
        return 0;
      case IP_ERRORMTU:
        sopt.sopt_value = inp.inp_errormtu;
        return 0;
      default:
        return ENOPROTOOPT;
    }
  }
  return EINVAL;
}
