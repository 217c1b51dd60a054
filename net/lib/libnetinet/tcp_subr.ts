/*
 * tcp_subr.ts: TCP's common routines (NetBSD's netinet/tcp_subr.c):
 * making and destroying tcpcbs (tcp_newtcpcb, tcp_close, tcp_drop), bare
 * replies (tcp_respond: RSTs, keepalive probes), the initial sequence
 * number (tcp_new_iss, RFC 6528), MSS negotiation (tcp_mss_to_advertise,
 * tcp_mss_from_peer, tcp_segsize), ICMP errors (tcp_ctlinput, tcp_notify,
 * tcp_mtudisc), entry to ESTABLISHED (tcp_established), the reassembly
 * queue's free list and the memory drain.
 *
 * Place in the packet path: called from tcp_input(), tcp_output(), the
 * timers and the user requests; tcp_ctlinput() is TCP's pr_ctlinput, the
 * way ICMP errors about segments we sent come back up (icmp_input ->
 * inetsw[ip_protox[6]].pr_ctlinput).
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { SS_NOFDREF } from '../../../librump/rumpnet/socketvar.ts';
import { sofree } from '../../../librump/rumpnet/uipc_socket.ts';
import { sbspace, soisdisconnected, sorwakeup, sowwakeup } from '../../../librump/rumpnet/uipc_socket2.ts';
import {
  m_freem, m_gethdr, m_reserve, M_CSUM_TCPv4, M_DONTWAIT, MT_HEADER,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import { ifnet_of, type Ifnet } from '../libnet/if.ts';
import { rt_getmtu } from '../libnet/route.ts';
import { IFF_LOOPBACK } from '../../../include/if.ts';
import { EHOSTDOWN, EHOSTUNREACH, EMSGSIZE, ENETDOWN, ENETUNREACH, ENOBUFS } from '../../../include/errno.ts';
import { INADDR_LOOPBACK, IN_CLASSA, IN_CLASSB, IPPROTO_TCP, in_addr_read, in_addr_write } from './in.ts';
import { in4_cksum_phdr } from './in_cksum.ts';
import { IP_HDR_LEN, IP_SRC_OFF, IP_DST_OFF, IP_LEN_OFF } from './ip.ts';
import { PR_SLOWHZ } from './ip_var.ts';
import {
  PRC_HOSTDEAD, PRC_IS_REDIRECT, PRC_MSGSIZE, PRC_NCMDS, PRC_QUENCH, PRC_UNREACH_HOST, PRC_UNREACH_NET, PRC_UNREACH_PORT,
  PRC_UNREACH_PROTOCOL, inetctlerrmap,
} from './icmp_var.ts';
import type { IcmpCtlCtx, InetState } from './in_var.ts';
import { inet_of, rt_ifnet } from './in_var.ts';
import {
  Inpcbtable, in_pcbdetach, in_pcblookup_connect, in_pcbnotifyall, in_pcbrtentry, in_rtchange, type Inpcb,
} from './in_pcb.ts';
import { ip_output } from './ip_output.ts';
import {
  TCP_HDR_LEN, TCP_MAXWIN, TCPOLEN_TSTAMP_APPA, TCPOPT_TSTAMP_HDR, TH_ACK, TH_RST, tcp_hdr_write,
} from './tcp.ts';
import { TCPS_CLOSED, TCPS_ESTABLISHED, TCPS_HAVERCVDSYN, TCPS_LISTEN, TCPS_SYN_SENT } from './tcp_fsm.ts';
import { syn_cache_cleanup, syn_cache_unreach } from './tcp_syncache.ts';
import { SEQ_LT, SEQ_GEQ } from './tcp_seq.ts';
import {
  TA_RESPOND, TCPT_KEEP, TF_NOOPT, TF_RCVD_TSTMP, TF_REQ_SCALE, TF_REQ_TSTMP, TCP_RTT_SHIFT, TCP_TIMESTAMP,
  Tcpcb, TcpState, intotcpcb, tcp_of, type TcpQent,
} from './tcp_var.ts';
import {
  TCP_TIMER_ARM, TCPTV_MIN, TCPTV_MSL, TCPTV_RTOBASE, tcp_canceltimers, tcp_timer_defaults,
} from './tcp_timer.ts';
import { tcp_congctl_default, tcp_congctl_init } from './tcp_congctl.ts';
import { tcp_sackops } from './tcp_sack.ts';
import { tcp_output } from './tcp_output.ts';
import { tcp_trace, tcp_trace_user } from './tcp_debug.ts';

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

/** The IPv4 and TCP headers without options: what every segment starts with. */
export const TCPIP_HDR_LEN = IP_HDR_LEN + TCP_HDR_LEN;

/* ----------------------------------------------------------- tcpcbs */

/**
 * tcp_newtcpcb: a CLOSED tcpcb for inp with the kernel's defaults: MSS
 * mssdflt until negotiated, RTO 1 s (RFC 6298 2.1), an unlimited
 * window until the handshake sets the initial one, the RFC 7323 options
 * requested when enabled, the keep* timers, MSL from net.inet.tcp.msl,
 * the selected congestion control, and a random timestamp base (RFC 7323
 * 7.1 leaves it free; a random one hides the uptime).
 */
export function tcp_newtcpcb(ts: TcpState, inp: Inpcb): Tcpcb {
  const tp = new Tcpcb(ts.k, inp, tcp_congctl_default(ts));
  tp.t_peermss = ts.tcp_mssdflt;
  tp.t_ourmss = ts.tcp_mssdflt;
  tp.t_segsz = ts.tcp_mssdflt;
  if (ts.tcp_do_rfc1323 !== 0) {
    if (ts.tcp_do_win_scale !== 0) tp.t_flags |= TF_REQ_SCALE;
    if (ts.tcp_do_timestamps !== 0) tp.t_flags |= TF_REQ_TSTMP;
  }
  tp.t_srtt = 0;
  tp.t_rttvar = 0;
  tp.t_rttmin = TCPTV_MIN;
  tp.t_rxtcur = TCPTV_RTOBASE;
  tp.snd_cwnd = TCP_MAXWIN << 14;
  tp.snd_ssthresh = TCP_MAXWIN << 14;
  tcp_timer_defaults(ts, tp);
  tp.t_msl = ts.tcp_msl > 0 ? ts.tcp_msl * PR_SLOWHZ : TCPTV_MSL;
  tp.ts_timebase = ts.k.cprng.cprng_fast32();
  tp.t_partialacks = -1;
  inp.inp_ppcb = tp;
  return tp;
}

/**
 * tcp_drop: abort the connection with errno for its socket.  A
 * synchronized connection tells the peer with a RST (tcp_output in
 * CLOSED sends RST|ACK); a half-open one just goes (tcps_conndrops).
 */
export function tcp_drop(tp: Tcpcb, errno: number): void {
  const ts = tcp_of(tp.t_kernel);
  const so = tp.t_inpcb.inp_socket;
  if (TCPS_HAVERCVDSYN(tp.t_state)) {
    tp.t_state = TCPS_CLOSED;
    tcp_output(tp);
    ts.tcpstat.tcps_drops++;
  } else {
    ts.tcpstat.tcps_conndrops++;
  }
  so.so_error = errno;
  tcp_close(tp);
}

/**
 * tcp_close: the connection is over.  Free the reassembly queue and the
 * SACK scoreboard, stop the timers, disconnect the socket (waking anyone
 * asleep on it) and free the PCB; a socket with no descriptor left goes
 * too (NetBSD's in_pcbdetach -> sofree).
 */
export function tcp_close(tp: Tcpcb): void {
  const ts = tcp_of(tp.t_kernel);
  const inp = tp.t_inpcb;
  const so = inp.inp_socket;
  tcp_trace_user(tp, tp.t_state, 'close');
  if (tp.t_state === TCPS_LISTEN) syn_cache_cleanup(ts, tp);
  tcp_freeq(ts, tp);
  ts.sackops.tcp_free_sackholes(tp);
  tcp_canceltimers(tp);
  tp.t_dead = true;
  tp.t_state = TCPS_CLOSED;
  inp.inp_ppcb = null;
  soisdisconnected(so);
  in_pcbdetach(inp);
  ts.tcpstat.tcps_closed++;
  if ((so.so_state & SS_NOFDREF) !== 0) sofree(so);
}

/** tcp_isdead: has tp been closed? */
export function tcp_isdead(tp: Tcpcb): boolean {
  return tp.t_dead;
}

/* ----------------------------------------------------- reassembly queue */

export function tcpipqent_alloc(ts: TcpState): TcpQent | null {
  const q = ts.qent_free;
  if (q === null) return null;
  ts.qent_free = q.next;
  q.next = null;
  return q;
}

export function tcpipqent_free(ts: TcpState, q: TcpQent): void {
  q.m = null;
  q.next = ts.qent_free;
  ts.qent_free = q;
}

/** tcp_freeq: drop every out-of-order segment tp holds. */
export function tcp_freeq(ts: TcpState, tp: Tcpcb): number {
  let n = 0;
  for (let q = tp.segq; q !== null;) {
    const next = q.next;
    m_freem(q.m);
    tcpipqent_free(ts, q);
    q = next;
    n++;
  }
  tp.segq = null;
  tp.t_segqlen = 0;
  return n;
}

/** tcp_drain: memory is short; give back out-of-order data (m_reclaim hook). */
export function tcp_drain(k: Kernel): void {
  const ts = k.tcp;
  if (ts === undefined) return;
  const q = ts.tcbtable.inpt_queue;
  for (let i = 0; i < q.length; i++) {
    const tp = intotcpcb(q[i]!);
    if (tp !== null && tp.segq !== null && tcp_freeq(ts, tp) > 0) ts.tcpstat.tcps_connsdrained++;
  }
}

/* ------------------------------------------------------------- ISS */

/**
 * tcp_new_iss1: the initial send sequence number for a 4-tuple.  The
 * test hook net.inet.tcp.iss_force wins; iss_hash 1 (our default) is RFC
 * 6528's M + F(4-tuple, secret) (TcpIss); iss_hash 0 is NetBSD's default,
 * 24 random bits plus tcp_iss_seq, which grows by 2^24 per use.
 */
export function tcp_new_iss1(ts: TcpState, laddr: number, lport: number, faddr: number, fport: number): number {
  if (ts.tcp_iss_force >= 0) return ts.tcp_iss_force >>> 0;
  if (ts.tcp_do_rfc1948 !== 0) return ts.iss.iss(laddr, lport, faddr, fport, ts.k.uptimeNs());
  ts.tcp_iss_seq = (ts.tcp_iss_seq + 0x01000000) >>> 0;
  return ((ts.k.cprng.cprng_fast32() & 0x00ffffff) + ts.tcp_iss_seq) >>> 0;
}

export function tcp_new_iss(tp: Tcpcb): number {
  const inp = tp.t_inpcb;
  return tcp_new_iss1(tcp_of(tp.t_kernel), inp.inp_laddr, inp.inp_lport, inp.inp_faddr, inp.inp_fport);
}

/** tcp_sendseqinit: every send variable starts at the ISS. */
export function tcp_sendseqinit(tp: Tcpcb): void {
  tp.snd_una = tp.snd_nxt = tp.snd_max = tp.snd_up = tp.snd_recover = tp.snd_high = tp.snd_fack = tp.iss;
}

/** tcp_rcvseqinit: the receive variables start after the peer's SYN. */
export function tcp_rcvseqinit(tp: Tcpcb): void {
  tp.rcv_adv = tp.rcv_nxt = (tp.irs + 1) >>> 0;
}

/* ------------------------------------------------------------- MSS */

/**
 * in_localaddr: is faddr "local" (NetBSD's in_localaddr)?  In the network
 * of a configured address: with net.inet.ip.subnetsarelocal 1 (the
 * default) under the classful mask of that address ANDed with its own
 * mask, so 10.1.2.3/24 makes all of 10/8 local; with 0 under its own mask
 * only.  lo0 counts for 127/8 only.  Used for init_win_local and MSLT.
 */
export function in_localaddr(st: InetState, faddr: number): boolean {
  const h = st.in_ifaddrhead;
  for (let i = 0; i < h.length; i++) {
    const ia = h[i]!;
    if ((ia.ifa_ifp.if_flags & IFF_LOOPBACK) !== 0 && (faddr >>> 24) !== 127) continue;
    const a = ia.ia_addr;
    let mask = ia.ia_subnetmask;
    if (st.ip_subnetsarelocal !== 0) mask = ((IN_CLASSA(a) ? 0xff000000 : IN_CLASSB(a) ? 0xffff0000 : 0xffffff00) & mask) >>> 0;
    if (((faddr & mask) >>> 0) === ((a & mask) >>> 0)) return true;
  }
  return false;
}

/** in_maxmtu: the largest MTU of the non-loopback interfaces (NetBSD's in_maxmtu). */
function in_maxmtu(k: Kernel): number {
  let mtu = 0;
  const l = ifnet_of(k).ifindex2ifnet;
  for (let i = 0; i < l.length; i++) {
    const ifp = l[i];
    if (ifp === null || ifp === undefined || (ifp.if_flags & IFF_LOOPBACK) !== 0) continue;
    if (ifp.if_mtu > mtu) mtu = ifp.if_mtu;
  }
  return mtu;
}

/**
 * tcp_mss_to_advertise: the MSS our SYN carries (RFC 9293 3.7.1): the MTU
 * minus the IP and TCP headers.  With mss_ifmtu the MTU of the interface
 * the connection uses, else (NetBSD's default) the largest of the
 * non-loopback interfaces; never above the outgoing interface's own, so
 * a peer is never invited to send us more than our link carries.
 */
export function tcp_mss_to_advertise(ts: TcpState, ifp: Ifnet | null, tp: Tcpcb | null): number {
  let mtu = 0;
  if (ifp !== null) {
    mtu = ifp.if_mtu;
    if (ts.tcp_mss_ifmtu === 0 && (ifp.if_flags & IFF_LOOPBACK) === 0) mtu = Math.min(in_maxmtu(ts.k) || mtu, mtu);
  }
  let mss = mtu > TCPIP_HDR_LEN ? mtu - TCPIP_HDR_LEN : ts.tcp_mssdflt;
  if (mss < ts.tcp_mssdflt) mss = Math.max(mss, 64);
  if (tp !== null && tp.t_maxseg_user > 0 && tp.t_maxseg_user < mss) mss = tp.t_maxseg_user;
  return Math.min(mss, TCP_MAXWIN);
}

/** The interface the connection's route goes out of, or null without a route. */
export function tcp_route_ifp(tp: Tcpcb): Ifnet | null {
  const inp = tp.t_inpcb;
  const rt = in_pcbrtentry(inp, inp.inp_faddr);
  return rt === null ? null : rt_ifnet(rt);
}

/** The path MTU the connection may use: the route's (and what ICMP taught). */
function tcp_path_mtu(tp: Tcpcb): number {
  const inp = tp.t_inpcb;
  const rt = in_pcbrtentry(inp, inp.inp_faddr);
  let mtu = rt !== null ? rt_getmtu(rt) : 0;
  if (tp.t_pmtud_mtu > 0 && (mtu === 0 || tp.t_pmtud_mtu < mtu)) mtu = tp.t_pmtud_mtu;
  return mtu;
}

/**
 * tcp_mss_from_peer: the peer's MSS option (0: none, so RFC 9293's 536)
 * bounds what we send, as do our path's MTU, net.inet.tcp.minmss from
 * below (a peer cannot make us send tiny segments) and TCP_MAXSEG.
 */
export function tcp_mss_from_peer(tp: Tcpcb, offer: number): void {
  const ts = tcp_of(tp.t_kernel);
  let mss = offer !== 0 ? offer : ts.tcp_mssdflt;
  if (mss < ts.tcp_minmss) mss = ts.tcp_minmss;
  if (tp.t_maxseg_user > 0 && tp.t_maxseg_user < mss) mss = tp.t_maxseg_user;
  tp.t_peermss = mss;
  tcp_segsize(tp);
}

/** tcp_optlen: option bytes every data segment of tp carries (timestamps once agreed). */
export function tcp_optlen(tp: Tcpcb): number {
  if ((tp.t_flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP | TF_NOOPT)) === (TF_REQ_TSTMP | TF_RCVD_TSTMP)) return TCPOLEN_TSTAMP_APPA;
  return 0;
}

/**
 * tcp_segsize: t_segsz, the data bytes of a full segment: the peer's MSS
 * and the path MTU less headers, less the options every segment carries
 * (RFC 9293 3.7.1: the MSS counts data only, options come out of it).
 */
export function tcp_segsize(tp: Tcpcb): number {
  let size = tp.t_peermss;
  const mtu = tcp_path_mtu(tp);
  if (mtu > TCPIP_HDR_LEN && mtu - TCPIP_HDR_LEN < size) size = mtu - TCPIP_HDR_LEN;
  size -= tcp_optlen(tp);
  if (size < 32) size = 32;
  tp.t_segsz = size;
  return size;
}

/* ------------------------------------------------- MSL Truncation */

/** MSL of each MSLT class in slow ticks, from the sysctls; 0 means NetBSD's TCPTV_MSL-based default. */
export function tcp_msl_loop(ts: TcpState): number {
  return ts.tcp_msl_loop > 0 ? ts.tcp_msl_loop : TCPTV_MSL >> 2;
}
export function tcp_msl_local(ts: TcpState): number {
  return ts.tcp_msl_local > 0 ? ts.tcp_msl_local : TCPTV_MSL >> 1;
}
export function tcp_msl_remote(ts: TcpState): number {
  return ts.tcp_msl_remote > 0 ? ts.tcp_msl_remote : TCPTV_MSL;
}

/* VTW's class numbers, which are also what the PCB listing reports. */
export const MSLT_CLASSLESS = 0;
export const MSLT_REMOTE = 1;
export const MSLT_LOCAL = 2;
export const MSLT_LOOPBACK = 3;
export const mslt_class_names: readonly string[] = ['classless', 'remote', 'local', 'loopback'];

/**
 * tcp_msl_classify: the MSL a connection from laddr to faddr gets
 * (NetBSD's tcp_established rules, vtw-mslt.md 1.2): loopback when the
 * local address is exactly 127.0.0.1 (the remote one is not examined),
 * local with local_by_rtt or when faddr is in_localaddr, else remote.  The
 * remote MSL applies even with MSLT off.
 */
export function tcp_msl_classify(ts: TcpState, laddr: number, faddr: number): number {
  if (ts.tcp_msl_enable !== 0) {
    if (laddr === INADDR_LOOPBACK) return tcp_msl_loop(ts);
    if (ts.tcp_rttlocal !== 0 || in_localaddr(ts.st, faddr)) return tcp_msl_local(ts);
  }
  return tcp_msl_remote(ts);
}

/**
 * msl_to_class: the MSLT class of an MSL under the current sysctls
 * (NetBSD's vtw msl_to_class): classless with MSLT off, else the shortest
 * class whose MSL covers it.
 */
export function msl_to_class(ts: TcpState, msl: number): number {
  if (ts.tcp_msl_enable === 0) return MSLT_CLASSLESS;
  if (msl <= tcp_msl_loop(ts)) return MSLT_LOOPBACK;
  if (msl <= tcp_msl_local(ts)) return MSLT_LOCAL;
  return MSLT_REMOTE;
}

/** The MSL (slow ticks) of an MSLT class under the current sysctls. */
export function class_to_msl(ts: TcpState, cls: number): number {
  return cls === MSLT_LOOPBACK ? tcp_msl_loop(ts) : cls === MSLT_LOCAL ? tcp_msl_local(ts) : tcp_msl_remote(ts);
}

/**
 * tcp_established: the connection enters ESTABLISHED (both the active and
 * the passive open come here).  The keepalive timer now counts idleness,
 * and MSL Truncation classifies the peer: t_msl decides how long
 * TIME_WAIT will last (2 * t_msl).
 */
export function tcp_established(tp: Tcpcb): void {
  tp.t_state = TCPS_ESTABLISHED;
  TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepidle);
  const inp = tp.t_inpcb;
  tp.t_msl = tcp_msl_classify(tcp_of(tp.t_kernel), inp.inp_laddr, inp.inp_faddr);
}

/* --------------------------------------------------------- responses */

/**
 * tcp_respond: send a bare segment from (laddr, lport) to (faddr, fport)
 * with seq, ack and flags: a RST for a segment that has no connection, a
 * keepalive probe (pad: one garbage byte for compat_42), a challenge ACK.
 * With a tcpcb the window is its receive space and, when the connection
 * uses timestamps, a non-RST segment carries one (RFC 7323 3.2: once
 * agreed, every segment but a RST).  Returns an errno.
 */
export function tcp_respond(ts: TcpState, tp: Tcpcb | null, laddr: number, lport: number, faddr: number, fport: number,
  seq: number, ack: number, flags: number, pad = 0): number {
  const k = ts.k;
  const ctx = net_of(k).mb;
  const m = m_gethdr(ctx, M_DONTWAIT, MT_HEADER);
  if (m === null) {
    ts.tcpstat.tcps_selfquench++;
    return ENOBUFS;
  }
  m_reserve(m, ctx.max_linkhdr);
  const tsopt = tp !== null && (flags & TH_RST) === 0 &&
    (tp.t_flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP | TF_NOOPT)) === (TF_REQ_TSTMP | TF_RCVD_TSTMP);
  const hlen = TCP_HDR_LEN + (tsopt ? TCPOLEN_TSTAMP_APPA : 0);
  const tlen = hlen + pad;
  const b = m.m_buf;
  const ip = m.m_data;
  b[ip] = 0x45;
  b[ip + 1] = tp !== null ? tp.t_inpcb.inp_ip_tos : 0;
  wr16(b, ip + IP_LEN_OFF, IP_HDR_LEN + tlen);
  wr16(b, ip + 4, 0);
  wr16(b, ip + 6, 0);
  b[ip + 8] = tp !== null ? tp.t_inpcb.inp_ip_ttl : ts.st.ip_defttl;
  b[ip + 9] = IPPROTO_TCP;
  wr16(b, ip + 10, 0);
  in_addr_write(b, ip + IP_SRC_OFF, laddr);
  in_addr_write(b, ip + IP_DST_OFF, faddr);
  let win = 0;
  if (tp !== null) {
    const space = sbspace(tp.t_inpcb.inp_socket.so_rcv);
    win = space > 0 ? Math.min(space >> tp.rcv_scale, TCP_MAXWIN) : 0;
  }
  const th = ip + IP_HDR_LEN;
  tcp_hdr_write(b, th, lport, fport, seq, ack, hlen, flags, win, 0);
  if (tsopt) {
    wr32(b, th + TCP_HDR_LEN, TCPOPT_TSTAMP_HDR);
    wr32(b, th + TCP_HDR_LEN + 4, TCP_TIMESTAMP(ts, tp!));
    wr32(b, th + TCP_HDR_LEN + 8, tp!.ts_recent);
  }
  for (let i = 0; i < pad; i++) b[th + hlen + i] = 0;
  m.m_len = IP_HDR_LEN + tlen;
  m.m_pkthdr.len = m.m_len;
  /* The pseudo-header sum; ip_output (or the interface) finishes it. */
  wr16(b, th + 16, in4_cksum_phdr(laddr, faddr, tlen, IPPROTO_TCP));
  m.m_pkthdr.csum_flags = M_CSUM_TCPv4;
  m.m_pkthdr.csum_data = 16;
  ts.tcpstat.tcps_sndtotal++;
  if ((flags & TH_RST) !== 0) ts.tcpstat.tcps_sndctrl++;
  else if (pad === 0) ts.tcpstat.tcps_sndacks++;
  if (tp !== null) {
    tcp_trace(TA_RESPOND, tp.t_state, tp, seq, ack, flags, pad, win);
    if ((flags & TH_ACK) !== 0 && SEQ_GEQ(ack, tp.last_ack_sent)) tp.last_ack_sent = ack;
  }
  return ip_output(m, 0, tp !== null ? tp.t_inpcb : null);
}

/* -------------------------------------------------------- ICMP errors */

/**
 * tcp_notify: an ICMP error for inp's connection (RFC 1122 4.2.3.9).
 * Once established, unreachables are soft: kept in t_softerror and
 * reported only if the connection times out.  While connecting, a second
 * error after a few retransmissions ends the attempt; otherwise the error
 * waits in t_softerror.  (NetBSD's tcp_notify.)
 */
export function tcp_notify(inp: Inpcb, errno: number): void {
  const tp = intotcpcb(inp);
  if (tp === null) return;
  const so = inp.inp_socket;
  if (tp.t_state === TCPS_ESTABLISHED && (errno === EHOSTUNREACH || errno === ENETUNREACH || errno === EHOSTDOWN)) {
    return;
  }
  if (tp.t_state < TCPS_ESTABLISHED && tp.t_rxtshift > 3 && tp.t_softerror !== 0) {
    so.so_error = errno;
    sorwakeup(so);
    sowwakeup(so);
    tcp_drop(tp, errno);
    return;
  }
  tp.t_softerror = errno;
  if (tp.t_state === TCPS_SYN_SENT && errno === ENETDOWN) so.so_error = errno;
}

/**
 * tcp_mtudisc: "fragmentation needed" with next-hop MTU mtu (RFC 1191):
 * the connection's segments shrink to fit, and what is in flight is sent
 * again at the new size.  mtu 0 (an old router that says no MTU) is
 * ignored here: the route's MTU, if it changed, is read on the next send.
 */
export function tcp_mtudisc(inp: Inpcb, mtu: number): void {
  const tp = intotcpcb(inp);
  if (tp === null) return;
  if (mtu >= 68 && (tp.t_pmtud_mtu === 0 || mtu < tp.t_pmtud_mtu)) tp.t_pmtud_mtu = mtu;
  const old = tp.t_segsz;
  tcp_segsize(tp);
  if (tp.t_segsz < old) {
    /* Resend from the first unacknowledged byte at the new size (Karn: not timed). */
    tp.snd_nxt = tp.snd_una;
    tp.t_rtttime = 0;
    tp.t_rtton = false;
    tcp_output(tp);
  }
}

/**
 * tcp_ctlinput: TCP's pr_ctlinput.  The quoted header names our
 * segment's 4-tuple and sequence number; an error about a sequence number
 * outside [snd_una, snd_max) is stale or forged and ignored (RFC 5927
 * 4.1).  PRC_MSGSIZE shrinks the MSS; a redirect flushes routes; source
 * quench is ignored (RFC 6633); the rest go to tcp_notify.
 */
export function tcp_ctlinput(cmd: number, sa: Uint8Array, ctx: unknown): void {
  if (sa.length < 8 || sa[0] !== 16 || sa[1] !== 2 || cmd < 0 || cmd >= PRC_NCMDS) return;
  const c = ctx as IcmpCtlCtx | null;
  if (c === null || c === undefined) return;
  const st = c.st;
  const ts = tcp_of(st.k);
  const faddr = in_addr_read(sa, 4);
  if (cmd === PRC_QUENCH) return;
  if (PRC_IS_REDIRECT(cmd)) {
    in_pcbnotifyall(ts.tcbtable, faddr, 0, in_rtchange);
    return;
  }
  const errno = inetctlerrmap(cmd);
  if (cmd === PRC_HOSTDEAD) {
    in_pcbnotifyall(ts.tcbtable, faddr, errno, tcp_notify);
    return;
  }
  if (errno === 0) return;
  const b = c.buf;
  const qip = c.off;
  const qhl = (b[qip]! & 0x0f) << 2;
  const qth = qip + qhl;
  if (qth + 8 > b.length) return;
  const lport = (b[qth]! << 8) | b[qth + 1]!;
  const fport = (b[qth + 2]! << 8) | b[qth + 3]!;
  const laddr = in_addr_read(b, qip + IP_SRC_OFF);
  const seq = in_addr_read(b, qth + 4);
  const inp = in_pcblookup_connect(ts.tcbtable, faddr, fport, laddr, lport);
  if (inp === null) {
    /* Perhaps a SYN,ACK of a half-open connection: a hard error ends it (RFC 1122 4.2.3.9). */
    if (cmd === PRC_UNREACH_HOST || cmd === PRC_UNREACH_NET || cmd === PRC_UNREACH_PORT || cmd === PRC_UNREACH_PROTOCOL) {
      syn_cache_unreach(ts, laddr, lport, faddr, fport, seq);
    }
    return;
  }
  const tp = intotcpcb(inp);
  if (tp === null || SEQ_LT(seq, tp.snd_una) || !SEQ_LT(seq, tp.snd_max)) return;
  if (cmd === PRC_MSGSIZE || errno === EMSGSIZE) {
    /* The ICMP header (8 bytes) sits just before the quoted IP header: icmp_nextmtu is its last 16 bits. */
    const mtu = qip >= 2 ? (b[qip - 2]! << 8) | b[qip - 1]! : 0;
    tcp_mtudisc(inp, mtu);
    return;
  }
  tcp_notify(inp, errno);
}

/** The smoothed RTT of tp in milliseconds (for tools). */
export function tcp_srtt_ms(tp: Tcpcb): number {
  return ((tp.t_srtt / (1 << TCP_RTT_SHIFT)) * 1000) / PR_SLOWHZ;
}

/* -------------------------------------------------------------- init */

/**
 * tcp_init: TCP's state for kernel k (NetBSD's tcp_init, run as the
 * protocol's pr_init when the inet domain attaches): the tcbtable, the
 * RFC 6528 secret (256 bits from the kernel's strong cprng), the
 * congestion-control algorithms and the SACK operations.
 */
export function tcp_init(k: Kernel): void {
  const st = inet_of(k);
  const secret = new Uint8Array(32);
  k.cprng.cprng_strong(secret);
  const ts = new TcpState(k, st, new Inpcbtable(st, 'tcp'), secret);
  secret.fill(0);
  tcp_congctl_init(ts);
  ts.sackops = tcp_sackops;
  k.tcp = ts;
}
