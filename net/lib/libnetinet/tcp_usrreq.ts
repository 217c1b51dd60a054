/*
 * tcp_usrreq.ts: TCP's user requests (NetBSD's netinet/tcp_usrreq.c):
 * the pr_usrreqs the socket layer calls, the TCP socket options
 * (tcp_ctloutput), the net.inet.tcp sysctl tree, and the PCB listing
 * netstat -an prints.
 *
 * Place in the packet path: above it.  socket(2) -> tcp_attach (PCB and
 * tcpcb); connect(2) -> tcp_connect (ephemeral port, ISS, SYN through
 * tcp_output); listen(2) -> tcp_listen; write(2) -> sosend -> tcp_send
 * (data into so_snd, then tcp_output); read(2) -> soreceive -> tcp_rcvd
 * (a window update may be due); shutdown(SHUT_WR) -> tcp_shutdown (FIN);
 * close(2) -> soclose -> tcp_disconnect / tcp_detach (FIN, or a RST with
 * a zero SO_LINGER); the connection then lives on without its
 * descriptor until TCP is done with it (tcp_close frees the socket).
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { SB_AUTOSIZE, SS_ISDISCONNECTED } from '../../../librump/rumpnet/socketvar.ts';
import { PRCO_GETOPT, PRCO_SETOPT, type PrUsrreqs, type SockaddrBuf, type Sockopt } from '../../../librump/rumpnet/uipc_domain.ts';
import { m_freem, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import {
  sbappendstream, sbflush, socantsendmore, soisconnecting, soisdisconnected, soisdisconnecting, soreserve,
} from '../../../librump/rumpnet/uipc_socket2.ts';
import type { Stat } from '../../../include/syscall.ts';
import { ECONNABORTED, EEXIST, EINVAL, EISCONN, ENOPROTOOPT, EOPNOTSUPP } from '../../../include/errno.ts';
import {
  CTL_CREATE, CTLFLAG_READWRITE, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_QUAD, CTLTYPE_STRING, CTLTYPE_STRUCT,
} from '../../../include/sysctl.ts';
import { SO_LINGER } from '../../../include/socket.ts';
import { IPPROTO_IP, IPPROTO_TCP, inet_ntop4 } from './in.ts';
import { in_control } from './in_var.ts';
import {
  in_pcballoc, in_pcbbind, in_pcbconnect, in_pcb_peeraddr, in_pcb_sockaddr, in_setpeeraddr, sotoinpcb, type Inpcb,
} from './in_pcb.ts';
import { ip_ctloutput } from './ip_output.ts';
import { PR_SLOWHZ } from './ip_var.ts';
import {
  TCPS_CLOSE_WAIT, TCPS_CLOSED, TCPS_ESTABLISHED, TCPS_FIN_WAIT_1, TCPS_FIN_WAIT_2, TCPS_LAST_ACK, TCPS_LISTEN,
  TCPS_SYN_RECEIVED, TCPS_SYN_SENT, TCPS_HAVEESTABLISHED, TCPS_TIME_WAIT, tcpstates,
} from './tcp_fsm.ts';
import {
  TCP_CONGCTL, TCP_INFO, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINIT, TCP_KEEPINTVL, TCP_MAXSEG, TCP_MD5SIG, TCP_NODELAY,
  TCPCTL_ACK_ON_PUSH, TCPCTL_ACKDROPRATELIMIT, TCPCTL_COMPAT_42, TCPCTL_CWM, TCPCTL_CWM_BURSTSIZE, TCPCTL_DEBUG,
  TCPCTL_DEBX, TCPCTL_DELACK_TICKS, TCPCTL_INIT_WIN, TCPCTL_INIT_WIN_LOCAL, TCPCTL_KEEPCNT, TCPCTL_KEEPIDLE,
  TCPCTL_KEEPINTVL, TCPCTL_LOG_REFUSED, TCPCTL_LOOPBACKCKSUM, TCPCTL_MSL, TCPCTL_MSS_IFMTU, TCPCTL_MSSDFLT,
  TCPCTL_RECVSPACE, TCPCTL_RFC1323, TCPCTL_RSTPPSLIMIT, TCPCTL_SENDSPACE, TCPCTL_SLOWHZ, TCPCTL_STATS, TCPCTL_SYN_BUCKET_LIMIT, TCPCTL_SYN_CACHE_LIMIT,
  TCPCTL_TSTAMP, TCPCTL_WSCALE, TCPT_2MSL, TCPT_KEEP, TF_NODELAY, TCP_RTT_SHIFT, Tcpstat, intotcpcb, tcp_of,
  type Tcpcb, type TcpState,
} from './tcp_var.ts';
import { TCP_TIMER_ARM, TCP_TIMER_ISARMED } from './tcp_timer.ts';
import {
  msl_to_class, mslt_class_names, tcp_close, tcp_drop, tcp_new_iss, tcp_newtcpcb, tcp_segsize, tcp_sendseqinit,
} from './tcp_subr.ts';
import { callout_remaining } from '../../../librump/rumpkern/kern_timeout.ts';
import { tcp_output } from './tcp_output.ts';
import { tcp_request_r_scale } from './tcp_input.ts';
import { TCP_CONGCTL_NAMES, tcp_congctl_lookup } from './tcp_congctl.ts';
import { tcp_debug_read, tcp_trace_user } from './tcp_debug.ts';
import { vtw_add, vtw_enable, vtw_entries, vtw_pcblist, vtw_set_enable, vtw_set_entries, vtw_stats_read } from './tcp_vtw_input.ts';

/** SO_LINGER default time for TCP when set with a zero time at attach (NetBSD's TCP_LINGERTIME). */
export const TCP_LINGERTIME = 120;

function sototcpcb(so: Socket): Tcpcb | null {
  const inp = sotoinpcb(so);
  return inp === null ? null : intotcpcb(inp);
}

/* -------------------------------------------------------- closing */

/**
 * tcp_usrclosed: the user will send no more (close or SHUT_WR).  Before
 * the connection is synchronized it just goes; otherwise a FIN is queued
 * (tcp_outflags of the new state) and the state advances: ESTABLISHED ->
 * FIN_WAIT_1, CLOSE_WAIT -> LAST_ACK (RFC 9293 3.10.4).  Returns the
 * tcpcb, or null if it was closed.
 */
export function tcp_usrclosed(tp: Tcpcb): Tcpcb | null {
  const so = tp.t_inpcb.inp_socket;
  switch (tp.t_state) {
    case TCPS_CLOSED:
    case TCPS_LISTEN:
    case TCPS_SYN_SENT:
      tp.t_state = TCPS_CLOSED;
      tcp_close(tp);
      return null;
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
      tp.t_state = TCPS_FIN_WAIT_1;
      break;
    case TCPS_CLOSE_WAIT:
      tp.t_state = TCPS_LAST_ACK;
      break;
    default:
      break;
  }
  if (tp.t_state >= TCPS_FIN_WAIT_2) {
    soisdisconnected(so);
    /* Already in FIN_WAIT_2 (shut down, then closed): the idle limit starts now. */
    if (tp.t_state === TCPS_FIN_WAIT_2 && tp.t_maxidle > 0 && !TCP_TIMER_ISARMED(tp, TCPT_2MSL)) {
      TCP_TIMER_ARM(tp, TCPT_2MSL, tp.t_maxidle);
    }
  }
  return tp;
}

/**
 * tcp_disconnect1: the user closes.  Not yet synchronized: just close.
 * SO_LINGER with a zero time: abort with a RST (tcp_drop).  Otherwise
 * unread data is discarded and a FIN follows the data still to send
 * (NetBSD keeps delivering a FIN, not a RST, when unread data is thrown
 * away; RFC 9293 3.10.4 allows either).
 */
export function tcp_disconnect1(tp: Tcpcb): void {
  const so = tp.t_inpcb.inp_socket;
  if (tp.t_state < TCPS_ESTABLISHED) {
    tcp_close(tp);
  } else if ((so.so_options & SO_LINGER) !== 0 && so.so_linger === 0) {
    tcp_drop(tp, 0);
  } else {
    soisdisconnecting(so);
    sbflush(so.so_rcv);
    const t = tcp_usrclosed(tp);
    /* Closing a socket already in TIME_WAIT: it can become a vestige now (NetBSD's tcp_usrclosed). */
    if (t !== null && !(t.t_state === TCPS_TIME_WAIT && t.segq === null && vtw_add(tcp_of(t.t_kernel), t))) tcp_output(t);
  }
}

/* -------------------------------------------------------- requests */

function tcp_attach(so: Socket, _proto: number, _l: Lwp): number {
  if (so.so_pcb !== null) return EISCONN;
  const ts = tcp_of(so.so_kernel);
  if (so.so_snd.sb_hiwat === 0 || so.so_rcv.sb_hiwat === 0) {
    const e = soreserve(so, ts.tcp_sendspace, ts.tcp_recvspace);
    if (e !== 0) return e;
    if (ts.tcp_do_autosndbuf !== 0) so.so_snd.sb_flags |= SB_AUTOSIZE;
    if (ts.tcp_do_autorcvbuf !== 0) so.so_rcv.sb_flags |= SB_AUTOSIZE;
  }
  const inp = in_pcballoc(so, ts.tcbtable);
  tcp_newtcpcb(ts, inp);
  if ((so.so_options & SO_LINGER) !== 0 && so.so_linger === 0) so.so_linger = TCP_LINGERTIME;
  return 0;
}

function tcp_detach(so: Socket): void {
  const tp = sototcpcb(so);
  if (tp === null) return;
  const ostate = tp.t_state;
  tcp_disconnect1(tp);
  if (!tp.t_dead) tcp_trace_user(tp, ostate, 'detach');
}

function tcp_bind(so: Socket, nam: Uint8Array, l: Lwp): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  return in_pcbbind(inp, nam, l);
}

/** listen(2): an ephemeral port if unbound, then LISTEN (the backlog is solisten's). */
function tcp_listen(so: Socket, l: Lwp): number {
  const inp = sotoinpcb(so);
  const tp = sototcpcb(so);
  if (inp === null || tp === null) return EINVAL;
  if (tp.t_state !== TCPS_CLOSED && tp.t_state !== TCPS_LISTEN) return EINVAL;
  if (inp.inp_lport === 0) {
    const e = in_pcbbind(inp, null, l);
    if (e !== 0) return e;
  }
  const ostate = tp.t_state;
  tp.t_state = TCPS_LISTEN;
  tcp_trace_user(tp, ostate, 'listen');
  return 0;
}

/**
 * connect(2): bind an ephemeral port if needed, take the peer
 * (EADDRINUSE if the 4-tuple exists), choose the ISS (RFC 6528) and send
 * the SYN; the connection-establishment timer (keepinit) starts.
 */
function tcp_connect(so: Socket, nam: Uint8Array, l: Lwp): number {
  const inp = sotoinpcb(so);
  const tp = sototcpcb(so);
  if (inp === null || tp === null) return EINVAL;
  if (tp.t_state !== TCPS_CLOSED) return tp.t_state === TCPS_LISTEN ? EOPNOTSUPP : EISCONN;
  const ts = tcp_of(so.so_kernel);
  if (inp.inp_lport === 0) {
    const e = in_pcbbind(inp, null, l);
    if (e !== 0) return e;
  }
  const e = in_pcbconnect(inp, nam, l);
  if (e !== 0) return e;
  soisconnecting(so);
  ts.tcpstat.tcps_connattempt++;
  const ostate = tp.t_state;
  tp.t_state = TCPS_SYN_SENT;
  TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepinit);
  tp.iss = tcp_new_iss(tp);
  tcp_sendseqinit(tp);
  tp.request_r_scale = tcp_request_r_scale(ts, tp);
  tcp_segsize(tp);
  tcp_trace_user(tp, ostate, 'connect');
  return tcp_output(tp);
}

function tcp_accept(so: Socket, nam: SockaddrBuf): number {
  const inp = sotoinpcb(so);
  if (inp === null || (so.so_state & SS_ISDISCONNECTED) !== 0) return ECONNABORTED;
  in_setpeeraddr(inp, nam);
  return 0;
}

function tcp_disconnect(so: Socket): number {
  const tp = sototcpcb(so);
  if (tp === null) return 0;
  tcp_disconnect1(tp);
  return 0;
}

/** shutdown(SHUT_WR): no more sends; the FIN follows the data (RFC 9293 3.10.4). */
function tcp_shutdown(so: Socket): number {
  socantsendmore(so);
  const tp = sototcpcb(so);
  if (tp === null) return 0;
  const ostate = tp.t_state;
  const t = tcp_usrclosed(tp);
  if (t === null) return 0;
  tcp_trace_user(t, ostate, 'shutdown');
  return tcp_output(t);
}

function tcp_abort(so: Socket): number {
  const tp = sototcpcb(so);
  if (tp === null) return 0;
  tcp_drop(tp, ECONNABORTED);
  return 0;
}

/** The user read: room opened in so_rcv, maybe worth a window update. */
function tcp_rcvd(so: Socket, _flags: number, _l: Lwp): number {
  const tp = sototcpcb(so);
  if (tp === null) return 0;
  tcp_output(tp);
  return 0;
}

/** Data for the connection: append to so_snd (the chain itself) and try to send. */
function tcp_send(so: Socket, m: Mbuf, _nam: Uint8Array | null, control: Mbuf | null, _l: Lwp): number {
  const tp = sototcpcb(so);
  if (control !== null && control.m_len > 0) {
    m_freem(control);
    m_freem(m);
    return EINVAL;
  }
  m_freem(control);
  if (tp === null) {
    m_freem(m);
    return EINVAL;
  }
  if (m.m_pkthdr.len === 0 && m.m_next === null) {
    m_freem(m);
  } else {
    sbappendstream(so.so_snd, m);
  }
  return tcp_output(tp);
}

/**
 * MSG_OOB: the data goes in the stream and the urgent pointer past it
 * (RFC 6093: the pointer names the last urgent byte + 1, as BSD sends it).
 */
function tcp_sendoob(so: Socket, m: Mbuf, control: Mbuf | null): number {
  const tp = sototcpcb(so);
  m_freem(control);
  if (tp === null) {
    m_freem(m);
    return EINVAL;
  }
  sbappendstream(so.so_snd, m);
  tp.snd_up = (tp.snd_una + so.so_snd.sb_cc) >>> 0;
  tp.t_force = true;
  const e = tcp_output(tp);
  tp.t_force = false;
  return e;
}

/** The TCP user requests (NetBSD's tcp_usrreqs). */
export const tcp_usrreqs: PrUsrreqs = {
  pr_attach: tcp_attach,
  pr_detach: tcp_detach,
  pr_accept: tcp_accept,
  pr_bind: tcp_bind,
  pr_listen: tcp_listen,
  pr_connect: tcp_connect,
  pr_connect2: () => EOPNOTSUPP,
  pr_disconnect: tcp_disconnect,
  pr_shutdown: tcp_shutdown,
  pr_abort: tcp_abort,
  pr_ioctl: (so, cmd, data, l) => in_control(so, cmd, data, l),
  pr_stat: (_so: Socket, _st: Stat) => 0,
  pr_peeraddr: in_pcb_peeraddr,
  pr_sockaddr: in_pcb_sockaddr,
  pr_rcvd: tcp_rcvd,
  pr_recvoob: () => EOPNOTSUPP,
  pr_send: tcp_send,
  pr_sendoob: tcp_sendoob,
  pr_purgeif: () => 0,
};

/* -------------------------------------------------------- options */

function int_of(v: unknown): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

/** What getsockopt(TCP_INFO) returns (a subset of NetBSD's struct tcp_info). */
export interface TcpInfo {
  tcpi_state: number;
  tcpi_options: number;
  tcpi_snd_wscale: number;
  tcpi_rcv_wscale: number;
  /** Microseconds. */
  tcpi_rto: number;
  tcpi_rtt: number;
  tcpi_rttvar: number;
  tcpi_snd_mss: number;
  tcpi_rcv_mss: number;
  tcpi_snd_ssthresh: number;
  tcpi_snd_cwnd: number;
  tcpi_snd_wnd: number;
  tcpi_rcv_space: number;
  tcpi_snd_nxt: number;
  tcpi_rcv_nxt: number;
}

/* Re-arm keepalive after a TCP_KEEP* change (NetBSD's tcp_set_keepalive). */
function tcp_keep_changed(tp: Tcpcb): void {
  tp.t_maxidle = tp.t_keepcnt * tp.t_keepintvl;
  if (TCPS_HAVEESTABLISHED(tp.t_state) && tp.t_state <= TCPS_CLOSE_WAIT) TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepidle);
}

/**
 * tcp_ctloutput: IPPROTO_TCP options (TCP_NODELAY, TCP_MAXSEG, TCP_KEEP*
 * in seconds, TCP_CONGCTL by name, TCP_INFO to read); IPPROTO_IP goes
 * to ip_ctloutput.  TCP_MAXSEG limits the segments we send and the MSS
 * we advertise (64..65535); NetBSD only lets it lower t_peermss, which
 * before the handshake is mssdflt and is overwritten by the peer's MSS,
 * so a value set before connect(2) had no effect.  TCP_MD5SIG is not
 * implemented.
 */
export function tcp_ctloutput(op: number, so: Socket, sopt: Sockopt): number {
  if (sopt.sopt_level === IPPROTO_IP) return ip_ctloutput(op, so, sopt);
  if (sopt.sopt_level !== IPPROTO_TCP) return ENOPROTOOPT;
  const tp = sototcpcb(so);
  if (tp === null) return ECONNABORTED_OR_INVAL(so);
  const ts = tcp_of(so.so_kernel);
  const name = sopt.sopt_name;
  if (op === PRCO_SETOPT) {
    if (name === TCP_CONGCTL) {
      if (typeof sopt.sopt_value !== 'string') return EINVAL;
      const cc = tcp_congctl_lookup(ts, sopt.sopt_value);
      if (cc === null) return EINVAL;
      tp.t_congctl = cc;
      return 0;
    }
    if (name === TCP_MD5SIG) return ENOPROTOOPT;
    const v = int_of(sopt.sopt_value);
    if (v === null) return EINVAL;
    switch (name) {
      case TCP_NODELAY:
        if (v !== 0) tp.t_flags |= TF_NODELAY;
        else tp.t_flags &= ~TF_NODELAY;
        if (v !== 0) tcp_output(tp);
        return 0;
      case TCP_MAXSEG:
        if (v < 64 || v > 65535) return EINVAL;
        tp.t_maxseg_user = v;
        if (tp.t_peermss > v) tp.t_peermss = v;
        tcp_segsize(tp);
        return 0;
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL:
      case TCP_KEEPINIT:
        if (v <= 0 || v > 0x7fffffff / PR_SLOWHZ) return EINVAL;
        if (name === TCP_KEEPIDLE) tp.t_keepidle = v * PR_SLOWHZ;
        else if (name === TCP_KEEPINTVL) tp.t_keepintvl = v * PR_SLOWHZ;
        else tp.t_keepinit = v * PR_SLOWHZ;
        tcp_keep_changed(tp);
        return 0;
      case TCP_KEEPCNT:
        if (v <= 0 || v > 0x7fffffff) return EINVAL;
        tp.t_keepcnt = v;
        tcp_keep_changed(tp);
        return 0;
      default:
        return ENOPROTOOPT;
    }
  }
  if (op === PRCO_GETOPT) {
    switch (name) {
      case TCP_NODELAY:
        sopt.sopt_value = (tp.t_flags & TF_NODELAY) !== 0 ? 1 : 0;
        return 0;
      case TCP_MAXSEG:
        sopt.sopt_value = tp.t_peermss;
        return 0;
      case TCP_KEEPIDLE:
        sopt.sopt_value = Math.floor(tp.t_keepidle / PR_SLOWHZ);
        return 0;
      case TCP_KEEPINTVL:
        sopt.sopt_value = Math.floor(tp.t_keepintvl / PR_SLOWHZ);
        return 0;
      case TCP_KEEPINIT:
        sopt.sopt_value = Math.floor(tp.t_keepinit / PR_SLOWHZ);
        return 0;
      case TCP_KEEPCNT:
        sopt.sopt_value = tp.t_keepcnt;
        return 0;
      case TCP_CONGCTL:
        sopt.sopt_value = tp.t_congctl.name;
        return 0;
      case TCP_INFO:
        sopt.sopt_value = tcp_info(tp);
        return 0;
      default:
        return ENOPROTOOPT;
    }
  }
  return EINVAL;
}

function ECONNABORTED_OR_INVAL(so: Socket): number {
  return (so.so_state & SS_ISDISCONNECTED) !== 0 ? ECONNABORTED : EINVAL;
}

/** TCP_INFO for tp. */
export function tcp_info(tp: Tcpcb): TcpInfo {
  const us = (slow: number): number => Math.round((slow * 1e6) / PR_SLOWHZ);
  return {
    tcpi_state: tp.t_state,
    tcpi_options: tp.t_flags,
    tcpi_snd_wscale: tp.snd_scale,
    tcpi_rcv_wscale: tp.rcv_scale,
    tcpi_rto: us(tp.t_rxtcur),
    tcpi_rtt: us(tp.t_srtt / (1 << TCP_RTT_SHIFT)),
    tcpi_rttvar: us(tp.t_rttvar / 16),
    tcpi_snd_mss: tp.t_segsz,
    tcpi_rcv_mss: tp.t_ourmss,
    tcpi_snd_ssthresh: tp.snd_ssthresh,
    tcpi_snd_cwnd: tp.snd_cwnd,
    tcpi_snd_wnd: tp.snd_wnd,
    tcpi_rcv_space: tp.rcv_wnd,
    tcpi_snd_nxt: tp.snd_nxt,
    tcpi_rcv_nxt: tp.rcv_nxt,
  };
}

/* ------------------------------------------------------ PCB listing */

/** One connection as netstat -an shows it. */
export interface TcpPcbInfo {
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  state: string;
  /** Bytes queued for the user (Recv-Q) and not yet acknowledged by the peer (Send-Q). */
  recvq: number;
  sendq: number;
  /** '2msl' while the 2MSL timer runs (TIME_WAIT, or FIN_WAIT_2 idling), else ''. */
  timer: string;
  /** The MSLT class of the connection's MSL: 'loopback', 'local', 'remote' or 'classless' (MSLT off). */
  msl_class: string;
  /** In TIME_WAIT: milliseconds until it ends; else -1. */
  tw_remaining_ms: number;
  /** A Vestigial Time-Wait entry (no socket, inpcb or tcpcb left), not a full PCB. */
  vestigial: boolean;
}

/** tcp_pcblist: every TCP PCB of k, as net.inet.tcp.pcblist gives netstat. */
export function tcp_pcblist(k: Kernel): TcpPcbInfo[] {
  const ts = tcp_of(k);
  const out: TcpPcbInfo[] = [];
  const q = ts.tcbtable.inpt_queue;
  for (let i = 0; i < q.length; i++) {
    const inp: Inpcb = q[i]!;
    const tp = intotcpcb(inp);
    const so = inp.inp_socket;
    out.push({
      laddr: inet_ntop4(inp.inp_laddr),
      lport: inp.inp_lport,
      faddr: inet_ntop4(inp.inp_faddr),
      fport: inp.inp_fport,
      state: tp !== null ? tcpstates[tp.t_state]! : 'CLOSED',
      recvq: so.so_rcv.sb_cc,
      sendq: so.so_snd.sb_cc,
      timer: tp !== null && TCP_TIMER_ISARMED(tp, TCPT_2MSL) ? '2msl' : '',
      msl_class: tp !== null ? mslt_class_names[msl_to_class(ts, tp.t_msl)]! : '',
      tw_remaining_ms: tp !== null && tp.t_state === TCPS_TIME_WAIT
        ? Math.floor(callout_remaining(tp.t_timer[TCPT_2MSL]!) * 1000 / k.hz) : -1,
      vestigial: false,
    });
  }
  vtw_pcblist(ts, out);
  return out;
}

/** netstat -an's TCP section for k. */
export function tcp_netstat(k: Kernel): string {
  const addr = (a: string, p: number): string => `${a === '0.0.0.0' ? '*' : a}.${p === 0 ? '*' : p}`;
  const lines = ['Active Internet connections (including servers)',
    'Proto Recv-Q Send-Q  Local Address          Foreign Address        State'];
  for (const p of tcp_pcblist(k)) {
    lines.push(`tcp    ${String(p.recvq).padStart(6)} ${String(p.sendq).padStart(6)}  ` +
      `${addr(p.laddr, p.lport).padEnd(22)} ${addr(p.faddr, p.fport).padEnd(22)} ${p.state}`);
  }
  return lines.join('\n') + '\n';
}

/** A snapshot of the TCP statistics of k (net.inet.tcp.stats). */
export function tcpstat_read(k: Kernel): Tcpstat {
  return { ...tcp_of(k).tcpstat };
}

/* ----------------------------------------------------------- sysctl */

function mkdir(k: Kernel, parent: string, name: string, num: number, description: string): void {
  const r = k.sysctl.sysctl_createv(parent, { name, num, type: CTLTYPE_NODE, description });
  if (r.error !== 0 && r.error !== EEXIST) panic(k, `tcp: sysctl ${parent}.${name}: errno ${r.error}`);
}

function mk(k: Kernel, parent: string, desc: Parameters<Kernel['sysctl']['sysctl_createv']>[1]): void {
  const r = k.sysctl.sysctl_createv(parent, desc);
  if (r.error !== 0) panic(k, `tcp: sysctl ${parent}.${desc.name}: errno ${r.error}`);
}

/* An int node over a TcpState field, within [min, max]. */
function rwint(k: Kernel, parent: string, name: string, num: number, min: number, max: number,
  get: () => number, set: (v: number) => void, description: string): void {
  mk(k, parent, {
    name, num, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE, description, get,
    validate: (v: number) => (v < min || v > max ? EINVAL : 0),
    set: (v: number) => { set(v); return 0; },
  });
}

function roint(k: Kernel, parent: string, name: string, num: number, get: () => number, description: string): void {
  mk(k, parent, { name, num, type: CTLTYPE_INT, description, get });
}

type IntField = {
  [K in keyof TcpState]-?: TcpState[K] extends number ? K : never
}[keyof TcpState];

/**
 * tcp_sysctl_setup: the net.inet.tcp tree (NetBSD's names, numbers and
 * defaults; vtw-mslt.md section 5), plus our iss_force test hook and the
 * trace ring size.  Times are slow ticks (keep*), hz ticks (delack_ticks)
 * or seconds (msl), as NetBSD has them.
 */
export function tcp_sysctl_setup(k: Kernel): void {
  const ts = tcp_of(k);
  const t = 'net.inet.tcp';
  mkdir(k, 'net.inet', 'tcp', IPPROTO_TCP, 'TCP related settings');
  const f = (name: string, num: number, field: IntField, min: number, max: number, d: string): void =>
    rwint(k, t, name, num, min, max, () => ts[field], (v) => { ts[field] = v; }, d);
  const sbmax = net_of(k).sb_max;
  f('rfc1323', TCPCTL_RFC1323, 'tcp_do_rfc1323', 0, 1, 'Enable RFC1323 TCP extensions');
  f('sendspace', TCPCTL_SENDSPACE, 'tcp_sendspace', 1, sbmax, 'Default TCP send buffer size');
  f('recvspace', TCPCTL_RECVSPACE, 'tcp_recvspace', 1, sbmax, 'Default TCP receive buffer size');
  f('mssdflt', TCPCTL_MSSDFLT, 'tcp_mssdflt', 32, 65535, 'Default maximum segment size');
  f('minmss', CTL_CREATE, 'tcp_minmss', 0, 65535, 'Lower limit for TCP maximum segment size');
  f('msl', TCPCTL_MSL, 'tcp_msl', 0, 0x7fffffff / 4, 'Maximum Segment Life (seconds)');
  f('init_win', TCPCTL_INIT_WIN, 'tcp_init_win', 0, 10, 'Initial TCP congestion window');
  f('mss_ifmtu', TCPCTL_MSS_IFMTU, 'tcp_mss_ifmtu', 0, 1, 'Use interface MTU for calculating MSS');
  f('win_scale', TCPCTL_WSCALE, 'tcp_do_win_scale', 0, 1, 'Use RFC1323 window scale options');
  f('timestamps', TCPCTL_TSTAMP, 'tcp_do_timestamps', 0, 1, 'Use RFC1323 time stamp options');
  f('compat_42', TCPCTL_COMPAT_42, 'tcp_compat_42', 0, 1, 'Enable workarounds for 4.2BSD TCP bugs');
  f('cwm', TCPCTL_CWM, 'tcp_cwm', 0, 1, 'Hughes/Touch/Heidemann Congestion Window Monitoring algorithm');
  f('cwm_burstsize', TCPCTL_CWM_BURSTSIZE, 'tcp_cwm_burstsize', 1, 0x7fffffff, 'Congestion Window Monitoring allowed burst count in packets');
  f('ack_on_push', TCPCTL_ACK_ON_PUSH, 'tcp_ack_on_push', 0, 1, 'Immediately return ACK when PSH is received');
  f('keepidle', TCPCTL_KEEPIDLE, 'tcp_keepidle', 1, 0x7fffffff, 'Allowed connection idle ticks before a keepalive probe is sent');
  f('keepintvl', TCPCTL_KEEPINTVL, 'tcp_keepintvl', 1, 0x7fffffff, 'Ticks before next keepalive probe is sent');
  f('keepcnt', TCPCTL_KEEPCNT, 'tcp_keepcnt', 1, 0x7fffffff, 'Number of keepalive probes to send');
  f('keepinit', CTL_CREATE, 'tcp_keepinit', 1, 0x7fffffff, 'Ticks before initial tcp connection times out');
  roint(k, t, 'slowhz', TCPCTL_SLOWHZ, () => PR_SLOWHZ, 'Keepalive ticks per second');
  f('log_refused', TCPCTL_LOG_REFUSED, 'tcp_log_refused', 0, 1, 'Log refused TCP connections');
  f('rstppslimit', TCPCTL_RSTPPSLIMIT, 'tcp_rst_ppslim', -1, 0x7fffffff, 'Maximum number of RST packets per second');
  f('delack_ticks', TCPCTL_DELACK_TICKS, 'tcp_delack_ticks', 1, 0x7fffffff, 'Number of ticks to delay sending an ACK');
  f('init_win_local', TCPCTL_INIT_WIN_LOCAL, 'tcp_init_win_local', 0, 10, 'Initial TCP window size (in segments) for local networks');
  f('ackdropppslimit', TCPCTL_ACKDROPRATELIMIT, 'tcp_ackdrop_ppslim', -1, 0x7fffffff, 'Maximum number of ACKs to send per second (challenge ACKs, ACKs to dropped segments)');
  f('do_loopback_cksum', TCPCTL_LOOPBACKCKSUM, 'tcp_do_loopback_cksum', 0, 1, 'Perform TCP checksum on loopback');
  f('iss_hash', CTL_CREATE, 'tcp_do_rfc1948', 0, 1, 'Compute ISS by keyed hash of the 4-tuple (RFC 6528)');
  f('sendbuf_auto', CTL_CREATE, 'tcp_do_autosndbuf', 0, 1, 'Enable automatic send buffer sizing (experimental)');
  f('sendbuf_inc', CTL_CREATE, 'tcp_autosndbuf_inc', 1, 0x7fffffff, 'Incrementor step size of automatic send buffer');
  f('sendbuf_max', CTL_CREATE, 'tcp_autosndbuf_max', 1, 0x7fffffff, 'Max size of automatic send buffer');
  f('recvbuf_auto', CTL_CREATE, 'tcp_do_autorcvbuf', 0, 1, 'Enable automatic receive buffer sizing (experimental)');
  f('recvbuf_inc', CTL_CREATE, 'tcp_autorcvbuf_inc', 1, 0x7fffffff, 'Incrementor step size of automatic receive buffer');
  f('recvbuf_max', CTL_CREATE, 'tcp_autorcvbuf_max', 1, 0x7fffffff, 'Max size of automatic receive buffer');
  f('local_by_rtt', CTL_CREATE, 'tcp_rttlocal', 0, 1, 'Use RTT estimator to decide which hosts are local');
  f('syn_cache_limit', TCPCTL_SYN_CACHE_LIMIT, 'tcp_syn_cache_limit', 1, 1 << 24, 'Maximum number of entries in the TCP compressed state engine');
  f('syn_bucket_limit', TCPCTL_SYN_BUCKET_LIMIT, 'tcp_syn_bucket_limit', 1, 1 << 24, 'Maximum number of entries per hash bucket in the TCP compressed state engine');
  roint(k, t, 'syn_cache_count', CTL_CREATE, () => ts.syn_cache.count, 'Half-open connections in the SYN cache (ours)');
  f('debug_size', CTL_CREATE, 'tcp_ndebug', 1, 1 << 20, 'Entries of the SO_DEBUG trace ring (ours; NetBSD: TCP_NDEBUG)');
  mk(k, t, {
    name: 'iss_force', type: CTLTYPE_QUAD, flags: CTLFLAG_READWRITE,
    description: 'Test hook: every new connection gets this ISS (-1: off)',
    get: () => BigInt(ts.tcp_iss_force),
    validate: (v: bigint) => (v < -1n || v > 0xffffffffn ? EINVAL : 0),
    set: (v: bigint) => { ts.tcp_iss_force = Number(v); return 0; },
  });
  mk(k, t, { name: 'stats', num: TCPCTL_STATS, type: CTLTYPE_STRUCT, get: () => tcpstat_read(k), description: 'TCP statistics' });
  mk(k, t, { name: 'debug', num: TCPCTL_DEBUG, type: CTLTYPE_STRUCT, get: () => tcp_debug_read(k), description: 'TCP sockets debug information' });
  roint(k, t, 'debx', TCPCTL_DEBX, () => ts.tcp_debx, 'Number of TCP debug sockets messages');
  mk(k, t, { name: 'pcblist', type: CTLTYPE_STRUCT, get: () => tcp_pcblist(k), description: 'TCP protocol control block list' });

  mkdir(k, t, 'sack', CTL_CREATE, 'RFC2018 Selective ACKnowledgement tunables');
  const s = `${t}.sack`;
  rwint(k, s, 'enable', CTL_CREATE, 0, 1, () => ts.tcp_do_sack, (v) => { ts.tcp_do_sack = v; }, 'Enable RFC2018 Selective ACKnowledgement');
  rwint(k, s, 'maxholes', CTL_CREATE, 1, 0x7fffffff, () => ts.tcp_sack_tp_maxholes, (v) => { ts.tcp_sack_tp_maxholes = v; }, 'Maximum number of TCP SACK holes allowed per connection');
  rwint(k, s, 'globalmaxholes', CTL_CREATE, 1, 0x7fffffff, () => ts.tcp_sack_globalmaxholes, (v) => { ts.tcp_sack_globalmaxholes = v; }, 'Global maximum number of TCP SACK holes');
  roint(k, s, 'globalholes', CTL_CREATE, () => ts.tcp_sack_globalholes, 'Global number of TCP SACK holes');

  mkdir(k, t, 'congctl', CTL_CREATE, 'TCP Congestion Control');
  const c = `${t}.congctl`;
  mk(k, c, { name: 'available', type: CTLTYPE_STRING, description: 'Available Congestion Control Mechanisms', get: () => TCP_CONGCTL_NAMES.join(' ') });
  mk(k, c, {
    name: 'selected', type: CTLTYPE_STRING, flags: CTLFLAG_READWRITE, description: 'Selected Congestion Control Mechanism',
    get: () => ts.tcp_congctl_selected,
    validate: (v: string) => (tcp_congctl_lookup(ts, v) === null ? EINVAL : 0),
    set: (v: string) => { ts.tcp_congctl_selected = v; return 0; },
  });

  mkdir(k, t, 'abc', CTL_CREATE, 'RFC3465 Appropriate Byte Counting (ABC)');
  rwint(k, `${t}.abc`, 'enable', CTL_CREATE, 0, 1, () => ts.tcp_do_abc, (v) => { ts.tcp_do_abc = v; }, 'Enable RFC3465 Appropriate Byte Counting');
  rwint(k, `${t}.abc`, 'aggressive', CTL_CREATE, 0, 1, () => ts.tcp_abc_aggressive, (v) => { ts.tcp_abc_aggressive = v; }, '1: L=2*SMSS 0: L=1*SMSS');

  mkdir(k, t, 'ecn', CTL_CREATE, 'RFC3168 Explicit Congestion Notification');
  rwint(k, `${t}.ecn`, 'enable', CTL_CREATE, 0, 1, () => ts.tcp_do_ecn, (v) => { ts.tcp_do_ecn = v; }, 'Enable TCP Explicit Congestion Notification (not implemented: no effect)');
  rwint(k, `${t}.ecn`, 'maxretries', CTL_CREATE, 0, 16, () => ts.tcp_ecn_maxretries, (v) => { ts.tcp_ecn_maxretries = v; }, 'Number of times to retry ECN setup before disabling ECN on the connection');

  mkdir(k, t, 'vtw', CTL_CREATE, 'TCP Vestigial Time-Wait');
  const vw = `${t}.vtw`;
  mk(k, vw, {
    name: 'enable', type: CTLTYPE_INT, flags: CTLFLAG_READWRITE, description: 'Enable Vestigial Time-Wait',
    get: () => vtw_enable(ts), set: (v: number) => vtw_set_enable(ts, v),
  });
  mk(k, vw, {
    name: 'entries', type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Maximum number of vestigial TIME_WAIT entries (a power of two; settable until first enabled)',
    get: () => vtw_entries(ts), set: (v: number) => vtw_set_entries(ts, v),
  });
  mk(k, vw, { name: 'stats', type: CTLTYPE_STRUCT, get: () => vtw_stats_read(ts), description: 'Vestigial Time-Wait statistics (ours)' });

  mkdir(k, t, 'mslt', CTL_CREATE, 'TCP MSL truncation');
  const ml = `${t}.mslt`;
  rwint(k, ml, 'enable', CTL_CREATE, -0x80000000, 0x7fffffff, () => ts.tcp_msl_enable, (v) => { ts.tcp_msl_enable = v; }, 'Enable TIME_WAIT truncation');
  rwint(k, ml, 'loopback', CTL_CREATE, 0, 0x7fffffff, () => ts.tcp_msl_loop, (v) => { ts.tcp_msl_loop = v; }, 'MSL value to use for loopback connections');
  rwint(k, ml, 'local', CTL_CREATE, 0, 0x7fffffff, () => ts.tcp_msl_local, (v) => { ts.tcp_msl_local = v; }, 'MSL value to use for local connections');
  rwint(k, ml, 'remote', CTL_CREATE, 0, 0x7fffffff, () => ts.tcp_msl_remote, (v) => { ts.tcp_msl_remote = v; }, 'MSL value to use for remote connections');
  rwint(k, ml, 'remote_threshold', CTL_CREATE, 0, 0x7fffffff, () => ts.tcp_msl_remote_threshold, (v) => { ts.tcp_msl_remote_threshold = v; }, 'RTT estimate value to promote local to remote');
}

/** tcp_drop for a user (NetBSD's net.inet.tcp.drop): abort the connection with this 4-tuple. */
export function tcp_drop_connection(k: Kernel, laddr: number, lport: number, faddr: number, fport: number): boolean {
  const ts = tcp_of(k);
  const q = ts.tcbtable.inpt_queue;
  for (let i = 0; i < q.length; i++) {
    const inp = q[i]!;
    if (inp.inp_laddr === laddr && inp.inp_lport === lport && inp.inp_faddr === faddr && inp.inp_fport === fport) {
      const tp = intotcpcb(inp);
      if (tp === null) return false;
      tcp_drop(tp, ECONNABORTED);
      return true;
    }
  }
  return false;
}
