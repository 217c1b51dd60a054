/*
 * raw_ip.ts: raw IP sockets (NetBSD's netinet/raw_ip.c): SOCK_RAW with
 * any protocol, which is how ping(8) and traceroute(8) work.
 *
 * Place in the packet path:
 *   input:  ip_input -> rip_input() for every protocol without a handler
 *           of its own, and icmp_input -> rip_input() for the ICMP
 *           messages the kernel does not consume: each raw socket whose
 *           protocol (0 = all), bound address and connected peer match
 *           gets a copy of the whole datagram, IP header included, with
 *           the sender's address (sbappendaddr).  A protocol nobody
 *           handles and no raw socket wants is answered with an ICMP
 *           protocol unreachable (ips_noproto).
 *   output: sosend -> rip_send -> rip_output(): prepend a header from the
 *           socket's template (protocol, TTL, TOS), or with IP_HDRINCL
 *           take the user's (ip_len must equal the datagram length; an ID
 *           of 0 is filled in; ips_rawout) -> ip_output.  As in NetBSD a
 *           raw socket may always send to a broadcast address.
 */

import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { SS_ISCONNECTED } from '../../../librump/rumpnet/socketvar.ts';
import type { PrUsrreqs, Sockopt } from '../../../librump/rumpnet/uipc_domain.ts';
import {
  m_copym, m_freem, m_pullup, M_COPYALL, M_DONTWAIT, M_PREPEND, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import {
  sbappendaddr, socantsendmore, soisconnected, soisdisconnected, sorwakeup, sowwakeup, soreserve,
} from '../../../librump/rumpnet/uipc_socket2.ts';
import type { Stat } from '../../../include/syscall.ts';
import {
  EADDRNOTAVAIL, EAFNOSUPPORT, EINVAL, EISCONN, EMSGSIZE, ENOBUFS, ENOTCONN, EOPNOTSUPP,
} from '../../../include/errno.ts';
import { SO_DONTROUTE } from '../../../include/socket.ts';
import { INADDR_ANY, in_addr_read, in_addr_write } from './in.ts';
import { IP_HDR_LEN, IP_ID_OFF, IP_LEN_OFF, IP_MAXPACKET, IP_DST_OFF, IP_SRC_OFF, IP_P_OFF } from './ip.ts';
import { ICMP_UNREACH, ICMP_UNREACH_PROTOCOL } from './ip_icmp.ts';
import { IP_ALLOWBROADCAST, IP_RAWOUTPUT, IP_ROUTETOIF } from './ip_var.ts';
import { PRC_HOSTDEAD, PRC_IS_REDIRECT, PRC_NCMDS, inetctlerrmap } from './icmp_var.ts';
import { in_control, in_ifwithaddr, inet_of, type IcmpCtlCtx, type InetState } from './in_var.ts';
import {
  in_pcballoc, in_pcbdetach, in_rtchange, in_pcb_peeraddr, in_pcb_sockaddr, INP_HDRINCL, sin_addr, sin_ok,
  sotoinpcb, type Inpcb,
} from './in_pcb.ts';
import { ip_ctloutput, ip_newid, ip_output } from './ip_output.ts';
import { icmp_error } from './ip_icmp_input.ts';

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/* Append m to inp's socket with the sender src; a full buffer drops it (counted in SO_OVERFLOWED). */
function rip_sbappend(st: InetState, inp: Inpcb, m: Mbuf, src: number): void {
  const so = inp.inp_socket;
  const sa = st.sin_scratch;
  sa[0] = 16;
  sa[1] = 2; /* AF_INET */
  sa[2] = 0;
  sa[3] = 0;
  in_addr_write(sa, 4, src);
  if (!sbappendaddr(so.so_rcv, sa, m, null)) {
    m_freem(m);
    return;
  }
  sorwakeup(so);
}

/**
 * rip_input: the raw pr_input (see the file comment).  m starts with the
 * IP header, `off` bytes long; proto is its protocol.
 */
export function rip_input(m: Mbuf, off: number, proto: number): void {
  const k = m.m_ctx.k;
  const st = inet_of(k);
  const buf = m.m_buf;
  const ip = m.m_data;
  const src = in_addr_read(buf, ip + IP_SRC_OFF);
  const dst = in_addr_read(buf, ip + IP_DST_OFF);
  const q = st.rawcbtable.inpt_queue;
  let last: Inpcb | null = null;
  for (let i = 0; i < q.length; i++) {
    const inp = q[i]!;
    if (inp.inp_ip_p !== 0 && inp.inp_ip_p !== proto) continue;
    if (inp.inp_laddr !== INADDR_ANY && inp.inp_laddr !== dst) continue;
    if (inp.inp_faddr !== INADDR_ANY && inp.inp_faddr !== src) continue;
    if (last !== null) {
      const n = m_copym(m, 0, M_COPYALL, M_DONTWAIT);
      if (n !== null) rip_sbappend(st, last, n, src);
    }
    last = inp;
  }
  if (last !== null) {
    rip_sbappend(st, last, m, src);
    return;
  }
  if (st.ip_protox[proto] === st.ip_protox_raw && off > 0) {
    /* Nobody speaks this protocol (RFC 1122 3.2.2.1: SHOULD say so). */
    st.ipstat.ips_noproto++;
    st.ipstat.ips_delivered--;
    icmp_error(m, ICMP_UNREACH, ICMP_UNREACH_PROTOCOL, 0, 0);
    return;
  }
  m_freem(m);
}

/**
 * rip_output: send m (user data, or a whole datagram with IP_HDRINCL) to
 * dst from the raw socket inp.  Takes ownership of m; returns an errno.
 */
export function rip_output(m0: Mbuf, inp: Inpcb, dst: number): number {
  const st = inp.inp_table.inpt_st;
  const so = inp.inp_socket;
  let flags = IP_ALLOWBROADCAST | ((so.so_options & SO_DONTROUTE) !== 0 ? IP_ROUTETOIF : 0);
  let m: Mbuf | null = m0;
  if ((inp.inp_flags & INP_HDRINCL) === 0) {
    const len = m.m_pkthdr.len + IP_HDR_LEN;
    if (len > IP_MAXPACKET) {
      m_freem(m);
      return EMSGSIZE;
    }
    m = M_PREPEND(m, IP_HDR_LEN, M_DONTWAIT);
    if (m === null) return ENOBUFS;
    const b = m.m_buf;
    const ip = m.m_data;
    b[ip] = 0x45;
    b[ip + 1] = inp.inp_ip_tos;
    wr16(b, ip + IP_LEN_OFF, len);
    wr16(b, ip + IP_ID_OFF, 0);
    wr16(b, ip + 6, 0);
    b[ip + 8] = inp.inp_ip_ttl;
    b[ip + IP_P_OFF] = inp.inp_ip_p;
    wr16(b, ip + 10, 0);
    in_addr_write(b, ip + IP_SRC_OFF, inp.inp_laddr);
    in_addr_write(b, ip + IP_DST_OFF, dst);
  } else {
    if (m.m_pkthdr.len < IP_HDR_LEN || m.m_pkthdr.len > IP_MAXPACKET) {
      m_freem(m);
      return EINVAL;
    }
    if (m.m_len < IP_HDR_LEN) {
      m = m_pullup(m, IP_HDR_LEN);
      if (m === null) return ENOBUFS;
    }
    const hlen = (m.m_buf[m.m_data]! & 0x0f) << 2;
    if (hlen < IP_HDR_LEN || hlen > m.m_pkthdr.len || rd16(m.m_buf, m.m_data + IP_LEN_OFF) !== m.m_pkthdr.len) {
      m_freem(m);
      return EINVAL;
    }
    if (m.m_len < hlen) {
      m = m_pullup(m, hlen);
      if (m === null) return ENOBUFS;
    }
    if (rd16(m.m_buf, m.m_data + IP_ID_OFF) === 0) wr16(m.m_buf, m.m_data + IP_ID_OFF, ip_newid(st));
    flags |= IP_RAWOUTPUT;
    st.ipstat.ips_rawout++;
  }
  return ip_output(m, flags, inp);
}

/* rip_ctlinput: ICMP errors about raw datagrams go to connected raw sockets of that peer. */
function rip_notify(inp: Inpcb, errno: number): void {
  const so = inp.inp_socket;
  so.so_error = errno;
  sorwakeup(so);
  sowwakeup(so);
}

/** rip_ctlinput: the raw pr_ctlinput (NetBSD's rip_ctlinput). */
export function rip_ctlinput(cmd: number, sa: Uint8Array, ctx: unknown): void {
  if (sa.length < 8 || sa[1] !== 2 || cmd < 0 || cmd >= PRC_NCMDS) return;
  const c = ctx as IcmpCtlCtx;
  if (c === null || c === undefined) return;
  const faddr = in_addr_read(sa, 4);
  const errno = inetctlerrmap(cmd);
  const st = c.st;
  if (st === null) return;
  const q = st.rawcbtable.inpt_queue;
  if (PRC_IS_REDIRECT(cmd)) {
    for (let i = 0; i < q.length; i++) if (q[i]!.inp_faddr === faddr) in_rtchange(q[i]!, 0);
    return;
  }
  if (errno === 0 && cmd !== PRC_HOSTDEAD) return;
  const proto = c.buf.length > c.off + IP_P_OFF ? c.buf[c.off + IP_P_OFF]! : 0;
  for (let i = 0; i < q.length; i++) {
    const inp = q[i]!;
    if (inp.inp_faddr !== faddr) continue;
    if (inp.inp_ip_p !== 0 && inp.inp_ip_p !== proto) continue;
    rip_notify(inp, errno);
  }
}

/** rip_ctloutput: IP options, IP_HDRINCL among them. */
export function rip_ctloutput(op: number, so: Socket, sopt: Sockopt): number {
  return ip_ctloutput(op, so, sopt);
}

/* ------------------------------------------------------------ usrreqs */

function rip_attach(so: Socket, proto: number, _l: Lwp): number {
  if (so.so_pcb !== null) return EISCONN;
  const st = inet_of(so.so_kernel);
  const e = soreserve(so, st.rip_sendspace, st.rip_recvspace);
  if (e !== 0) return e;
  const inp = in_pcballoc(so, st.rawcbtable);
  inp.inp_ip_p = proto & 0xff;
  return 0;
}

function rip_detach(so: Socket): void {
  const inp = sotoinpcb(so);
  if (inp !== null) in_pcbdetach(inp);
}

function rip_bind(so: Socket, nam: Uint8Array, _l: Lwp): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  const st = inet_of(so.so_kernel);
  if (st.in_ifaddrhead.length === 0) return EADDRNOTAVAIL;
  const e = sin_ok(nam);
  if (e !== 0) return e;
  const a = sin_addr(nam);
  if (a !== INADDR_ANY && in_ifwithaddr(st, a) === null) return EADDRNOTAVAIL;
  inp.inp_laddr = a;
  return 0;
}

function rip_connect(so: Socket, nam: Uint8Array, _l: Lwp): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  const st = inet_of(so.so_kernel);
  if (st.in_ifaddrhead.length === 0) return EADDRNOTAVAIL;
  const e = sin_ok(nam);
  if (e !== 0) return e === EINVAL && nam.length >= 2 && nam[1] !== 2 ? EAFNOSUPPORT : e;
  inp.inp_faddr = sin_addr(nam);
  soisconnected(so);
  return 0;
}

function rip_disconnect(so: Socket): number {
  const inp = sotoinpcb(so);
  if ((so.so_state & SS_ISCONNECTED) === 0 || inp === null) return ENOTCONN;
  inp.inp_faddr = INADDR_ANY;
  so.so_state &= ~SS_ISCONNECTED;
  return 0;
}

function rip_abort(so: Socket): number {
  soisdisconnected(so);
  rip_detach(so);
  return 0;
}

function rip_send(so: Socket, m: Mbuf, nam: Uint8Array | null, control: Mbuf | null, _l: Lwp): number {
  m_freem(control);
  const inp = sotoinpcb(so);
  if (inp === null) {
    m_freem(m);
    return EINVAL;
  }
  let dst: number;
  if ((so.so_state & SS_ISCONNECTED) !== 0) {
    if (nam !== null) {
      m_freem(m);
      return EISCONN;
    }
    dst = inp.inp_faddr;
  } else {
    if (nam === null) {
      m_freem(m);
      return ENOTCONN;
    }
    const e = sin_ok(nam);
    if (e !== 0) {
      m_freem(m);
      return e;
    }
    dst = sin_addr(nam);
  }
  return rip_output(m, inp, dst);
}

/** The raw IP user requests (NetBSD's rip_usrreqs). */
export const rip_usrreqs: PrUsrreqs = {
  pr_attach: rip_attach,
  pr_detach: rip_detach,
  pr_accept: () => EOPNOTSUPP,
  pr_bind: rip_bind,
  pr_listen: () => EOPNOTSUPP,
  pr_connect: rip_connect,
  pr_connect2: () => EOPNOTSUPP,
  pr_disconnect: rip_disconnect,
  pr_shutdown: (so) => { socantsendmore(so); return 0; },
  pr_abort: rip_abort,
  pr_ioctl: (so, cmd, data, l) => in_control(so, cmd, data, l),
  pr_stat: (_so: Socket, _st: Stat) => 0,
  pr_peeraddr: in_pcb_peeraddr,
  pr_sockaddr: in_pcb_sockaddr,
  pr_rcvd: () => EOPNOTSUPP,
  pr_recvoob: () => EOPNOTSUPP,
  pr_send: rip_send,
  pr_sendoob: (_so, m, control) => { m_freem(m); m_freem(control); return EOPNOTSUPP; },
  pr_purgeif: () => 0,
};
