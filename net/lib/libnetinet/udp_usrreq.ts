/*
 * udp_usrreq.ts: the User Datagram Protocol (RFC 768; NetBSD's
 * netinet/udp_usrreq.c).
 *
 * Place in the packet path:
 *   input:  ip_input -> inetsw[ip_protox[17]].pr_input = udp_input():
 *           length and checksum checks, then the socket: for a unicast
 *           datagram the connected socket of the exact 4-tuple, else one
 *           bound to the destination address or the wildcard
 *           (in_pcblookup_connect, then in_pcblookup_bind); for a
 *           broadcast or multicast datagram every matching socket, while
 *           they set SO_REUSEADDR or SO_REUSEPORT (NetBSD's
 *           udp4_realinput).  The data goes to the socket's receive buffer
 *           with the sender's sockaddr_in (sbappendaddr), or is dropped if
 *           it is full (udps_fullsock).  No socket: an ICMP port
 *           unreachable for unicast (udps_noport), silence for broadcast
 *           (udps_noportbcast).
 *   output: sosend -> udp_send -> udp_output(): an ephemeral port if the
 *           socket has none, the source from the route, IP and UDP
 *           headers prepended in one mbuf, the checksum -> ip_output.
 *
 * Checksums: a received uh_sum of 0 means the sender computed none (RFC
 * 768) and is accepted; an interface that verified the checksum says so
 * with M_CSUM_UDPv4 (M_CSUM_TCP_UDP_BAD when it failed).  On output the
 * checksum is always computed in software when net.inet.udp.checksum is 1
 * (the default); no interface here offers UDP checksum offload.
 *
 * ICMP errors about datagrams a socket sent come back through
 * udp_ctlinput(): a port or protocol unreachable becomes ECONNREFUSED,
 * an unreachable host EHOSTUNREACH, on the CONNECTED socket of that
 * 4-tuple only (so_error, reported by its next send or receive).
 */

import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { SS_ISCONNECTED } from '../../../librump/rumpnet/socketvar.ts';
import type { PrUsrreqs, Sockopt } from '../../../librump/rumpnet/uipc_domain.ts';
import {
  m_adj, m_copym, m_freem, m_pullup, M_BCAST, M_COPYALL, M_CSUM_TCP_UDP_BAD, M_CSUM_UDPv4, M_DONTWAIT,
  M_MCAST, M_PREPEND, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import {
  sbappendaddr, socantsendmore, soisconnected, soisdisconnected, sorwakeup, sowwakeup, soreserve,
} from '../../../librump/rumpnet/uipc_socket2.ts';
import { if_byindex } from '../libnet/if.ts';
import type { Stat } from '../../../include/syscall.ts';
import {
  EADDRNOTAVAIL, EINVAL, EISCONN, EMSGSIZE, ENOBUFS, ENOPROTOOPT, ENOTCONN, EOPNOTSUPP,
} from '../../../include/errno.ts';
import { SO_BROADCAST, SO_DONTROUTE, SO_REUSEADDR, SO_REUSEPORT } from '../../../include/socket.ts';
import { IN_MULTICAST, INADDR_ANY, IPPROTO_IP, IPPROTO_UDP, in_addr_read, in_addr_write, inet_ntop4 } from './in.ts';
import { IP_DST_OFF, IP_HDR_LEN, IP_LEN_OFF, IP_MAXPACKET, IP_SRC_OFF } from './ip.ts';
import { ICMP_UNREACH, ICMP_UNREACH_PORT } from './ip_icmp.ts';
import { UDP_HDR_LEN } from './udp.ts';
import { IP_ALLOWBROADCAST, IP_DEFAULT_MULTICAST_TTL, IP_ROUTETOIF } from './ip_var.ts';
import { PRC_HOSTDEAD, PRC_IS_REDIRECT, PRC_NCMDS, inetctlerrmap } from './icmp_var.ts';
import { in4_cksum } from './cpu_in_cksum.ts';
import { in4_cksum_phdr } from './in_cksum.ts';
import { in_broadcast, in_control, in_selectsrc, inet_of, type IcmpCtlCtx, type InetState } from './in_var.ts';
import {
  in_pcballoc, in_pcbbind, in_pcbconnect, in_pcbdetach, in_pcbdisconnect, in_pcblookup_bind,
  in_pcblookup_connect, in_pcbnotify, in_pcbnotifyall, in_pcbsetladdr, in_rtchange, in_pcb_peeraddr,
  in_pcb_sockaddr, sin_addr, sin_ok, sin_port, sotoinpcb, type Inpcb,
} from './in_pcb.ts';
import { ip_ctloutput, ip_output } from './ip_output.ts';
import { icmp_error } from './ip_icmp_input.ts';

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/*
 * udp4_sendup: strip the headers and queue the data on inp's socket with
 * the sender (src, sport), or count udps_fullsock and free it.
 */
function udp4_sendup(st: InetState, inp: Inpcb, m: Mbuf, off: number, src: number, sport: number): void {
  const so = inp.inp_socket;
  m_adj(m, off);
  const sa = st.sin_scratch;
  sa[0] = 16;
  sa[1] = 2; /* AF_INET */
  sa[2] = sport >>> 8;
  sa[3] = sport & 0xff;
  in_addr_write(sa, 4, src);
  if (!sbappendaddr(so.so_rcv, sa, m, null)) {
    st.udpstat.udps_fullsock++;
    m_freem(m);
    return;
  }
  sorwakeup(so);
}

/**
 * udp_input: the UDP pr_input (see the file comment).  m starts with the
 * IP header, iphlen bytes; ip_len matches the packet.
 */
export function udp_input(m0: Mbuf, iphlen: number, _proto: number): void {
  const k = m0.m_ctx.k;
  const st = inet_of(k);
  const us = st.udpstat;
  us.udps_ipackets++;
  let m: Mbuf | null = m0;
  if (m.m_len < iphlen + UDP_HDR_LEN) {
    if (m.m_pkthdr.len < iphlen + UDP_HDR_LEN) {
      us.udps_hdrops++;
      m_freem(m);
      return;
    }
    m = m_pullup(m, iphlen + UDP_HDR_LEN);
    if (m === null) {
      us.udps_hdrops++;
      return;
    }
  }
  const b = m.m_buf;
  const ip = m.m_data;
  const uh = ip + iphlen;
  const iplen = rd16(b, ip + IP_LEN_OFF) - iphlen;
  const ulen = rd16(b, uh + 4);
  /* RFC 768: uh_ulen covers header and data; IP may carry padding after it, never less. */
  if (ulen !== iplen) {
    if (ulen > iplen || ulen < UDP_HDR_LEN) {
      us.udps_badlen++;
      m_freem(m);
      return;
    }
    m_adj(m, ulen - iplen);
  }
  const src = in_addr_read(b, ip + IP_SRC_OFF);
  const dst = in_addr_read(b, ip + IP_DST_OFF);
  if (rd16(b, uh + 6) !== 0) {
    const cf = m.m_pkthdr.csum_flags;
    if ((cf & M_CSUM_UDPv4) !== 0) {
      if ((cf & M_CSUM_TCP_UDP_BAD) !== 0) {
        us.udps_badsum++;
        m_freem(m);
        return;
      }
    } else if (in4_cksum(m, IPPROTO_UDP, iphlen, ulen, src, dst) !== 0) {
      us.udps_badsum++;
      m_freem(m);
      return;
    }
  }
  const sport = rd16(b, uh);
  const dport = rd16(b, uh + 2);
  const off = iphlen + UDP_HDR_LEN;
  const rcvif = if_byindex(k, m.m_pkthdr.rcvif_index);
  if ((m.m_flags & (M_BCAST | M_MCAST)) !== 0 || IN_MULTICAST(dst) || in_broadcast(st, dst, rcvif)) {
    /*
     * Broadcast or multicast: a copy to every socket on the port whose
     * address and peer match, as long as each lets others share the port.
     */
    const bucket = st.udbtable.inpt_porthash.get(dport);
    let last: Inpcb | null = null;
    if (bucket !== undefined) {
      for (let i = 0; i < bucket.length; i++) {
        const inp = bucket[i]!;
        if (inp.inp_lport !== dport) continue;
        if (inp.inp_laddr !== INADDR_ANY && inp.inp_laddr !== dst) continue;
        if (inp.inp_faddr !== INADDR_ANY && (inp.inp_faddr !== src || inp.inp_fport !== sport)) continue;
        if (last !== null) {
          const n = m_copym(m, 0, M_COPYALL, M_DONTWAIT);
          if (n !== null) udp4_sendup(st, last, n, off, src, sport);
        }
        last = inp;
        if ((last.inp_socket.so_options & (SO_REUSEPORT | SO_REUSEADDR)) === 0) break;
      }
    }
    if (last === null) {
      us.udps_noportbcast++;
      m_freem(m);
      return;
    }
    udp4_sendup(st, last, m, off, src, sport);
    return;
  }
  let inp = in_pcblookup_connect(st.udbtable, src, sport, dst, dport);
  if (inp === null) {
    us.udps_pcbhashmiss++;
    inp = in_pcblookup_bind(st.udbtable, dst, dport);
    if (inp === null) {
      us.udps_noport++;
      icmp_error(m, ICMP_UNREACH, ICMP_UNREACH_PORT, 0, 0);
      return;
    }
  }
  udp4_sendup(st, inp, m, off, src, sport);
}

/**
 * udp_output: prepend IP and UDP headers to the data m and send it from
 * (laddr, inp's port) to (faddr, fport).  Takes ownership of m.
 */
export function udp_output(inp: Inpcb, m0: Mbuf, laddr: number, faddr: number, fport: number): number {
  const st = inp.inp_table.inpt_st;
  const so = inp.inp_socket;
  const len = m0.m_pkthdr.len;
  if (len + IP_HDR_LEN + UDP_HDR_LEN > IP_MAXPACKET) {
    m_freem(m0);
    return EMSGSIZE;
  }
  const m = M_PREPEND(m0, IP_HDR_LEN + UDP_HDR_LEN, M_DONTWAIT);
  if (m === null) return ENOBUFS;
  const b = m.m_buf;
  const ip = m.m_data;
  const uh = ip + IP_HDR_LEN;
  const ulen = len + UDP_HDR_LEN;
  b[ip] = 0x45;
  b[ip + 1] = inp.inp_ip_tos;
  wr16(b, ip + IP_LEN_OFF, ulen + IP_HDR_LEN);
  wr16(b, ip + 4, 0);
  wr16(b, ip + 6, 0);
  b[ip + 8] = IN_MULTICAST(faddr) ? IP_DEFAULT_MULTICAST_TTL : inp.inp_ip_ttl;
  b[ip + 9] = IPPROTO_UDP;
  wr16(b, ip + 10, 0);
  in_addr_write(b, ip + IP_SRC_OFF, laddr);
  in_addr_write(b, ip + IP_DST_OFF, faddr);
  wr16(b, uh, inp.inp_lport);
  wr16(b, uh + 2, fport);
  wr16(b, uh + 4, ulen);
  wr16(b, uh + 6, 0);
  if (st.udpcksum !== 0) {
    /*
     * The pseudo-header's partial sum goes in uh_sum and M_CSUM_UDPv4
     * asks ip_output to finish it (in_delayed_cksum), unless the
     * interface offers to: NetBSD's delayed checksum.
     */
    wr16(b, uh + 6, in4_cksum_phdr(laddr, faddr, ulen, IPPROTO_UDP));
    m.m_pkthdr.csum_flags = M_CSUM_UDPv4;
    m.m_pkthdr.csum_data = 6;
  } else {
    m.m_pkthdr.csum_flags = 0;
  }
  st.udpstat.udps_opackets++;
  const flags = ((so.so_options & SO_DONTROUTE) !== 0 ? IP_ROUTETOIF : 0) |
    ((so.so_options & SO_BROADCAST) !== 0 ? IP_ALLOWBROADCAST : 0);
  return ip_output(m, flags, inp);
}

/* udp_notify: an error for the socket (its next call reports it). */
function udp_notify(inp: Inpcb, errno: number): void {
  const so = inp.inp_socket;
  so.so_error = errno;
  sorwakeup(so);
  sowwakeup(so);
}

/** udp_ctlinput: the UDP pr_ctlinput (see the file comment). */
export function udp_ctlinput(cmd: number, sa: Uint8Array, ctx: unknown): void {
  if (sa.length < 8 || sa[0] !== 16 || sa[1] !== 2 || cmd < 0 || cmd >= PRC_NCMDS) return;
  const c = ctx as IcmpCtlCtx | null;
  if (c === null || c === undefined) return;
  const st = c.st;
  const faddr = in_addr_read(sa, 4);
  if (PRC_IS_REDIRECT(cmd)) {
    in_pcbnotifyall(st.udbtable, faddr, 0, in_rtchange);
    return;
  }
  const errno = inetctlerrmap(cmd);
  if (cmd === PRC_HOSTDEAD) {
    in_pcbnotifyall(st.udbtable, faddr, errno, udp_notify);
    return;
  }
  if (errno === 0) return;
  /* The quoted datagram: our source, our port, the peer's port. */
  const b = c.buf;
  const qip = c.off;
  const qhl = (b[qip]! & 0x0f) << 2;
  const quh = qip + qhl;
  if (quh + 4 > b.length) return;
  in_pcbnotify(st.udbtable, faddr, rd16(b, quh + 2), in_addr_read(b, qip + IP_SRC_OFF), rd16(b, quh), errno, udp_notify);
}

/** udp_ctloutput: UDP has no options of its own; IPPROTO_IP ones go to ip_ctloutput. */
export function udp_ctloutput(op: number, so: Socket, sopt: Sockopt): number {
  if (sopt.sopt_level === IPPROTO_IP) return ip_ctloutput(op, so, sopt);
  return ENOPROTOOPT;
}

/* ------------------------------------------------------------ usrreqs */

function udp_attach(so: Socket, _proto: number, _l: Lwp): number {
  if (so.so_pcb !== null) return EISCONN;
  const st = inet_of(so.so_kernel);
  const e = soreserve(so, st.udp_sendspace, st.udp_recvspace);
  if (e !== 0) return e;
  in_pcballoc(so, st.udbtable);
  return 0;
}

function udp_detach(so: Socket): void {
  const inp = sotoinpcb(so);
  if (inp !== null) in_pcbdetach(inp);
}

function udp_bind(so: Socket, nam: Uint8Array, l: Lwp): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  return in_pcbbind(inp, nam, l);
}

function udp_connect(so: Socket, nam: Uint8Array, l: Lwp): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  const e = in_pcbconnect(inp, nam, l);
  if (e === 0) soisconnected(so);
  return e;
}

/* NetBSD's udp_disconnect: forget the peer and the address the connect chose; keep the port. */
function udp_disconnect(so: Socket): number {
  const inp = sotoinpcb(so);
  if ((so.so_state & SS_ISCONNECTED) === 0 || inp === null) return ENOTCONN;
  in_pcbdisconnect(inp);
  in_pcbsetladdr(inp, INADDR_ANY);
  so.so_state &= ~SS_ISCONNECTED;
  return 0;
}

function udp_abort(so: Socket): number {
  soisdisconnected(so);
  udp_detach(so);
  return 0;
}

/**
 * udp_send: a datagram to nam, or to the connected peer.  EISCONN for an
 * address on a connected socket, ENOTCONN for none on an unconnected one,
 * EADDRNOTAVAIL for port 0; sending binds an ephemeral port first.
 * Control messages are not supported (EINVAL).
 */
function udp_send(so: Socket, m: Mbuf, nam: Uint8Array | null, control: Mbuf | null, l: Lwp): number {
  const inp = sotoinpcb(so);
  if (control !== null && control.m_len > 0) {
    m_freem(control);
    m_freem(m);
    return EINVAL;
  }
  m_freem(control);
  if (inp === null) {
    m_freem(m);
    return EINVAL;
  }
  const st = inp.inp_table.inpt_st;
  let faddr: number;
  let fport: number;
  let laddr = inp.inp_laddr;
  if (nam !== null) {
    if (inp.inp_faddr !== INADDR_ANY) {
      m_freem(m);
      return EISCONN;
    }
    let e = sin_ok(nam);
    if (e === 0 && nam[0] !== 16) e = EINVAL;
    if (e !== 0) {
      m_freem(m);
      return e;
    }
    faddr = sin_addr(nam);
    fport = sin_port(nam);
    if (fport === 0) {
      m_freem(m);
      return EADDRNOTAVAIL;
    }
    /* As in_pcbconnect: INADDR_ANY means this host's primary (first) address. */
    const primary = st.in_ifaddrhead[0];
    if (primary !== undefined && faddr === INADDR_ANY) faddr = primary.ia_addr;
    if (laddr === INADDR_ANY) {
      const r = in_selectsrc(st, faddr);
      if (r < 0) {
        m_freem(m);
        return -r;
      }
      laddr = r;
    }
    if (inp.inp_lport === 0) {
      const e2 = in_pcbbind(inp, null, l);
      if (e2 !== 0) {
        m_freem(m);
        return e2;
      }
    }
  } else {
    if (inp.inp_faddr === INADDR_ANY) {
      m_freem(m);
      return ENOTCONN;
    }
    faddr = inp.inp_faddr;
    fport = inp.inp_fport;
  }
  return udp_output(inp, m, laddr, faddr, fport);
}

/** The UDP user requests (NetBSD's udp_usrreqs). */
export const udp_usrreqs: PrUsrreqs = {
  pr_attach: udp_attach,
  pr_detach: udp_detach,
  pr_accept: () => EOPNOTSUPP,
  pr_bind: udp_bind,
  pr_listen: () => EOPNOTSUPP,
  pr_connect: udp_connect,
  pr_connect2: () => EOPNOTSUPP,
  pr_disconnect: udp_disconnect,
  pr_shutdown: (so) => { socantsendmore(so); return 0; },
  pr_abort: udp_abort,
  pr_ioctl: (so, cmd, data, l) => in_control(so, cmd, data, l),
  pr_stat: (_so: Socket, _st: Stat) => 0,
  pr_peeraddr: in_pcb_peeraddr,
  pr_sockaddr: in_pcb_sockaddr,
  pr_rcvd: () => EOPNOTSUPP,
  pr_recvoob: () => EOPNOTSUPP,
  pr_send: udp_send,
  pr_sendoob: (_so, m, control) => { m_freem(m); m_freem(control); return EOPNOTSUPP; },
  pr_purgeif: () => 0,
};

/* ------------------------------------------------------ PCB listing */

/** One UDP socket as netstat -an shows it (net.inet.udp.pcblist). */
export interface UdpPcbInfo {
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  /** Bytes queued for the user (Recv-Q) and waiting to go (Send-Q). */
  recvq: number;
  sendq: number;
}

/** udp_pcblist: every UDP PCB of st, in creation order. */
export function udp_pcblist(st: InetState): UdpPcbInfo[] {
  return st.udbtable.inpt_queue.map((inp) => ({
    laddr: inet_ntop4(inp.inp_laddr), lport: inp.inp_lport, faddr: inet_ntop4(inp.inp_faddr), fport: inp.inp_fport,
    recvq: inp.inp_socket.so_rcv.sb_cc, sendq: inp.inp_socket.so_snd.sb_cc,
  }));
}
