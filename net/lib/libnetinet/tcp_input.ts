/*
 * tcp_input.ts: TCP input (NetBSD's netinet/tcp_input.c), the segment
 * arrival rules of RFC 9293 section 3.10.7, with RFC 7323 (window scale,
 * timestamps, PAWS), RFC 5961 (blind RST/SYN/data defences), RFC 2018 /
 * 2883 (SACK, D-SACK) and RFC 6298 (RTT measurement).
 *
 * Place in the packet path:
 *   ip_input -> inetsw[ip_protox[6]].pr_input = tcp_input(m, iphlen)
 *     -> checks: length (tcps_rcvshort), checksum (tcps_rcvbadsum),
 *        header length (tcps_rcvbadoff), options (tcp_dooptions)
 *     -> the connection's PCB by 4-tuple (in_pcblookup_connect); else a
 *        Vestigial Time-Wait entry, answered by tcp_vtw_input; else a
 *        listener (tcp_pcblookup_listen)
 *     -> LISTEN: a SYN goes to the SYN cache, which answers SYN-ACK;
 *        the ACK completing it makes the socket (syn_cache_get), which
 *        continues below in SYN_RECEIVED
 *     -> ESTABLISHED fast path (header prediction): a pure in-order ACK
 *        or a pure in-order data segment
 *     -> otherwise RFC 9293's order: SYN_SENT, PAWS, trim to the window,
 *        RST, SYN, ACK (congestion control, RTT, send-buffer drop, FIN
 *        acknowledged), window update, data (in order -> so_rcv; out of
 *        order -> tcp_reass), FIN
 *     -> tcp_output() if an ACK or more data is due
 * Data goes to the socket with sbappendstream (the mbufs themselves,
 * headers trimmed) and sorwakeup.
 *
 * Drops end in one of NetBSD's five ways: drop (free, nothing sent),
 * dropafterack (ACK, unless the segment was a RST), dropafterack_ratelim
 * (the same within net.inet.tcp.ackdropppslimit: RFC 5961 challenge
 * ACKs), dropwithreset (RST, never for a RST, a broadcast or multicast),
 * dropwithreset_ratelim (within net.inet.tcp.rstppslimit: closed ports).
 * Every drop is counted in tcpstat with NetBSD's names.
 *
 * The input path allocates nothing per segment beyond mbufs: options are
 * parsed into the kernel's TcpOptInfo, out-of-order segments take
 * entries from a free list, no closure or promise is made.  It runs under
 * softnet_lock (ipintr) and never sleeps.
 *
 * Where NetBSD has a known bug we do the RFC's thing, said at the rule:
 * a retransmitted FIN in TIME_WAIT restarts the 2*MSL timer (RFC 9293
 * 3.10.7.4; NetBSD only ACKs it); a SYN at rcv_nxt in a synchronized state
 * gets an ordinary challenge ACK (RFC 5961 4.2; NetBSD sends an ACK with
 * seq = SEG.ACK - 1 and ack 0); a SYN to TIME_WAIT reopens the connection
 * when its sequence number (or timestamp) is newer (RFC 1122 4.2.2.13,
 * RFC 6191), not only when it lies beyond the whole window; a segment to
 * a bound but non-listening port gets a RST rather than silence; receive
 * buffer auto-sizing counts rounds in sequence space (NetBSD measures
 * them with the 2 Hz timestamp clock, which never closes a round on a
 * fast path and never on a sim host where no time passes).
 */

import { m_adj, m_freem, m_pullup, M_BCAST, M_CSUM_TCP_UDP_BAD, M_CSUM_TCPv4, M_MCAST, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { SB_AUTOSIZE, SS_CANTRCVMORE, SS_NOFDREF, type Socket } from '../../../librump/rumpnet/socketvar.ts';
import {
  sbappendstream, sbdrop, sbreserve, sbspace, socantrcvmore, soisconnected, soisdisconnected, sonewconn, sorwakeup,
  sowwakeup,
} from '../../../librump/rumpnet/uipc_socket2.ts';
import { if_byindex } from '../libnet/if.ts';
import { IFF_LOOPBACK } from '../../../include/if.ts';
import { ECONNREFUSED, ECONNRESET } from '../../../include/errno.ts';
import { SO_ACCEPTCONN } from '../../../include/socket.ts';
import { log, LOG_INFO } from '../../../librump/rumpkern/subr_prf.ts';
import { IN_MULTICAST, INADDR_ANY, INADDR_BROADCAST, IPPROTO_TCP, in_addr_read, inet_ntop4 } from './in.ts';
import { in4_cksum } from './cpu_in_cksum.ts';
import { IP_DST_OFF, IP_LEN_OFF, IP_SRC_OFF } from './ip.ts';
import { in_broadcast, type InetState } from './in_var.ts';
import {
  INP_CONNECTED, in_pcblookup_connect, in_pcbsetaddrs, sotoinpcb, type Inpcb, type Inpcbtable,
} from './in_pcb.ts';
import {
  TCP_HDR_LEN, TCP_MAX_WINSHIFT, TCP_MAXWIN, TCPOLEN_MAXSEG, TCPOLEN_SACK, TCPOLEN_SACK_PERMITTED, TCPOLEN_TIMESTAMP,
  TCPOLEN_WINDOW, TCPOPT_MAXSEG, TCPOPT_SACK, TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP, TCPOPT_WINDOW, TH_ACK, TH_FIN,
  TH_PUSH, TH_RST, TH_SYN, TH_URG, tcp_opt_len,
} from './tcp.ts';
import {
  TCPS_CLOSE_WAIT, TCPS_CLOSED, TCPS_CLOSING, TCPS_ESTABLISHED, TCPS_FIN_WAIT_1, TCPS_FIN_WAIT_2, TCPS_LAST_ACK,
  TCPS_LISTEN, TCPS_SYN_RECEIVED, TCPS_SYN_SENT, TCPS_TIME_WAIT, TCPS_HAVEESTABLISHED, TCPS_HAVERCVDFIN,
} from './tcp_fsm.ts';
import { SEQ_ADD, SEQ_GT, SEQ_LEQ, SEQ_LT, SEQ_SUB, TSTMP_GEQ, TSTMP_LT } from './tcp_seq.ts';
import {
  TA_DROP, TA_INPUT, TCPT_2MSL, TCPT_PERSIST, TCPT_REXMT, TF_ACKNOW, TF_NODELAY, TF_NOOPT,
  TF_RCVD_SCALE, TF_RCVD_TSTMP, TF_REQ_SCALE, TF_REQ_TSTMP, TF_SACK_PERMIT, TF_SYN_REXMT, TF_WILL_SACK,
  TCP_INITIAL_WINDOW, TCP_RTT_SHIFT, TCP_SACK_ENABLED, TCP_TIMESTAMP, intotcpcb, ppsratecheck, tcp_now,
  tcprexmtthresh, type TcpOptInfo, type Tcpcb, type TcpState,
} from './tcp_var.ts';
import {
  TCP_PAWS_IDLE, TCP_REXMTVAL, TCP_SET_DELACK, TCP_TIMER_ARM, TCP_TIMER_DISARM, TCP_TIMER_ISARMED, TCPT_RANGESET,
  TCPTV_REXMTMAX, tcp_canceltimers,
} from './tcp_timer.ts';
import {
  in_localaddr, tcp_close, tcp_drop, tcp_established, tcp_msl_remote, tcp_mss_from_peer, tcp_rcvseqinit, tcp_respond,
  tcp_optlen, tcp_segsize, tcpipqent_alloc,
} from './tcp_subr.ts';
import { tcp_output } from './tcp_output.ts';
import { tcp_del_sackholes, tcp_new_dsack, tcp_sack_option } from './tcp_sack.ts';
import { tcp_trace } from './tcp_debug.ts';
import { TcpQent } from './tcp_var.ts';
import { SC_ABORT, SC_NONE, syn_cache_add, syn_cache_get, syn_cache_reset } from './tcp_syncache.ts';
import { VTW_DONE, tcp_vtw_input, vtw_add } from './tcp_vtw_input.ts';

function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/* How a segment's processing ends (NetBSD's goto labels). */
const ACT_DONE = 0;
const ACT_DROP = 1;
const ACT_DROPAFTERACK = 2;
const ACT_DROPAFTERACK_RATELIM = 3;
const ACT_DROPWITHRESET = 4;
const ACT_DROPWITHRESET_RATELIM = 5;

/* --------------------------------------------------------- options */

/**
 * tcp_dooptions: parse the options at b[cp, cp + cnt) into opti (RFC 9293
 * 3.2: unknown options are skipped by their length; an option of a known
 * kind with the wrong length is ignored, as NetBSD does).  MSS, window
 * scale and SACK-permitted count only on a SYN.  Returns false for a
 * malformed length (the segment is dropped); a missing length byte at the
 * very end just ends the walk.
 */
export function tcp_dooptions(opti: TcpOptInfo, b: Uint8Array, cp: number, cnt: number, flags: number): boolean {
  const end = cp + cnt;
  for (let p = cp; p < end;) {
    const n = tcp_opt_len(b, p, end);
    if (n === 0) break;
    if (n < 0) return end - p < 2;
    switch (b[p]) {
      case TCPOPT_MAXSEG:
        if (n === TCPOLEN_MAXSEG && (flags & TH_SYN) !== 0) opti.maxseg = rd16(b, p + 2);
        break;
      case TCPOPT_WINDOW:
        if (n === TCPOLEN_WINDOW && (flags & TH_SYN) !== 0) opti.wscale = Math.min(b[p + 2]!, TCP_MAX_WINSHIFT);
        break;
      case TCPOPT_SACK_PERMITTED:
        if (n === TCPOLEN_SACK_PERMITTED && (flags & TH_SYN) !== 0) opti.sack_permitted = true;
        break;
      case TCPOPT_SACK:
        if (n > 2 && (n - 2) % TCPOLEN_SACK === 0) {
          for (let q = p + 2; q < p + n && opti.nsack < 4; q += TCPOLEN_SACK) {
            opti.sack_left[opti.nsack] = rd32(b, q);
            opti.sack_right[opti.nsack] = rd32(b, q + 4);
            opti.nsack++;
          }
        }
        break;
      case TCPOPT_TIMESTAMP:
        if (n === TCPOLEN_TIMESTAMP) {
          opti.ts_present = true;
          opti.ts_val = rd32(b, p + 2);
          opti.ts_ecr = rd32(b, p + 6);
        }
        break;
      default:
        break;
    }
    p += n;
  }
  return true;
}

/**
 * The options of the peer's SYN decide what the connection uses (RFC 7323
 * 1.3, 2.2; RFC 2018 2): window scaling and timestamps only if both sides
 * asked, SACK if the peer permits it and net.inet.tcp.sack.enable is on;
 * then the peer's MSS.
 */
function tcp_synopts(ts: TcpState, tp: Tcpcb, opti: TcpOptInfo): void {
  if ((tp.t_flags & TF_NOOPT) === 0) {
    if (opti.wscale >= 0 && (tp.t_flags & TF_REQ_SCALE) !== 0) {
      tp.t_flags |= TF_RCVD_SCALE;
      tp.requested_s_scale = opti.wscale;
    }
    if (opti.ts_present && (tp.t_flags & TF_REQ_TSTMP) !== 0) {
      tp.t_flags |= TF_RCVD_TSTMP;
      tp.ts_recent = opti.ts_val;
      tp.ts_recent_age = tcp_now(ts);
    }
    if (opti.sack_permitted && ts.tcp_do_sack !== 0) tp.t_flags |= TF_SACK_PERMIT | TF_WILL_SACK;
  }
  if ((tp.t_flags & TF_RCVD_SCALE) === 0) tp.t_flags &= ~TF_REQ_SCALE;
  if ((tp.t_flags & TF_RCVD_TSTMP) === 0) tp.t_flags &= ~TF_REQ_TSTMP;
  tcp_mss_from_peer(tp, opti.maxseg);
}

/** Window scaling takes effect once both SYNs are through (RFC 7323 2.2). */
function tcp_apply_scale(tp: Tcpcb): void {
  if ((tp.t_flags & (TF_RCVD_SCALE | TF_REQ_SCALE)) === (TF_RCVD_SCALE | TF_REQ_SCALE)) {
    tp.snd_scale = tp.requested_s_scale;
    tp.rcv_scale = tp.request_r_scale;
  }
}

/** The initial congestion window (RFC 5681 3.1 / NetBSD init_win, init_win_local; one segment after a SYN loss). */
function tcp_initial_cwnd(ts: TcpState, tp: Tcpcb): void {
  if ((tp.t_flags & TF_SYN_REXMT) !== 0) {
    tp.snd_cwnd = tp.t_segsz;
  } else {
    const iw = in_localaddr(ts.st, tp.t_inpcb.inp_faddr) ? ts.tcp_init_win_local : ts.tcp_init_win;
    tp.snd_cwnd = TCP_INITIAL_WINDOW(iw, tp.t_segsz);
  }
}

/* ------------------------------------------------------------ RTT */

/**
 * tcp_xmit_timer: a new RTT sample of rtt slow ticks (RFC 6298 2.2-2.3):
 * the first sets SRTT = R, RTTVAR = R/2; later ones SRTT += (R - SRTT)/8,
 * RTTVAR += (|SRTT - R| - RTTVAR)/4.  The RTO becomes SRTT + max(G,
 * 4 RTTVAR), within [rttmin, 64 s], and the backoff is cleared (5.7).
 */
export function tcp_xmit_timer(ts: TcpState, tp: Tcpcb, rtt: number): void {
  ts.tcpstat.tcps_rttupdated++;
  if (rtt < 1) rtt = 1;
  if (tp.t_srtt !== 0) {
    let delta = (rtt << TCP_RTT_SHIFT) - tp.t_srtt;
    tp.t_srtt += delta >> 3;
    if (tp.t_srtt <= 0) tp.t_srtt = 1;
    if (delta < 0) delta = -delta;
    delta = (delta >> 1) - tp.t_rttvar;
    tp.t_rttvar += delta >> 2;
    if (tp.t_rttvar <= 0) tp.t_rttvar = 1;
  } else {
    tp.t_srtt = rtt << TCP_RTT_SHIFT;
    tp.t_rttvar = rtt << 3;
  }
  /* MSLT's local_by_rtt: a "local" peer that turns out to be far away is promoted to remote (t_srtt in 1/32 ticks, as NetBSD compares it). */
  if (ts.tcp_rttlocal !== 0 && ts.tcp_msl_enable !== 0 && tp.t_srtt > ts.tcp_msl_remote_threshold &&
      tp.t_msl < tcp_msl_remote(ts)) {
    tp.t_msl = tcp_msl_remote(ts);
  }
  tp.t_rtton = false;
  tp.t_rtttime = 0;
  tp.t_rxtshift = 0;
  tp.t_rxtcur = TCPT_RANGESET(TCP_REXMTVAL(tp), tp.t_rttmin, TCPTV_REXMTMAX);
  tp.t_softerror = 0;
}

/* An ACK's RTT sample: from the echoed timestamp (RFC 7323 4), else from the timed segment (Karn). */
function tcp_ack_rtt(ts: TcpState, tp: Tcpcb, opti: TcpOptInfo, ack: number): void {
  if (opti.ts_present && opti.ts_ecr !== 0 && (tp.t_flags & TF_RCVD_TSTMP) !== 0) {
    const d = SEQ_SUB(TCP_TIMESTAMP(ts, tp), opti.ts_ecr);
    if (d >= 0 && d < 0x10000) {
      tcp_xmit_timer(ts, tp, d + 1);
      return;
    }
  }
  if (tp.t_rtton && SEQ_GT(ack, tp.t_rtseq)) tcp_xmit_timer(ts, tp, tcp_now(ts) - tp.t_rtttime + 1);
}

/* -------------------------------------------------------- TIME_WAIT */

/**
 * tcp_enter_time_wait: the one place a connection enters TIME_WAIT
 * (FIN_WAIT_2 receiving the FIN, CLOSING getting its FIN acked): every
 * timer stops, 2*MSL starts (2 * t_msl), the socket is disconnected.
 * MSL Truncation chose t_msl in tcp_established(); once tcp_input has
 * answered the segment, a connection whose socket the application has
 * closed (SS_NOFDREF) becomes a vestige (vtw_add, tcp_vtw_input.ts).
 */
export function tcp_enter_time_wait(tp: Tcpcb): void {
  tp.t_state = TCPS_TIME_WAIT;
  tcp_canceltimers(tp);
  TCP_TIMER_ARM(tp, TCPT_2MSL, 2 * tp.t_msl);
  soisdisconnected(tp.t_inpcb.inp_socket);
}

/* ---------------------------------------------------------- lookups */

/**
 * tcp_pcblookup_listen: the socket that should take a segment for
 * (laddr, lport) with no connection: a LISTEN tcpcb bound to laddr, else
 * one bound to the wildcard; failing that, any PCB bound there (a
 * CLOSED tcpcb, which answers with a RST).  SYNs for a listener go to
 * the SYN cache (tcp_syncache.ts).
 */
export function tcp_pcblookup_listen(table: Inpcbtable, laddr: number, lport: number): Inpcb | null {
  const b = table.inpt_bindhash.get(lport);
  if (b === undefined) return null;
  let wild: Inpcb | null = null;
  let other: Inpcb | null = null;
  for (let i = 0; i < b.length; i++) {
    const inp = b[i]!;
    if (inp.inp_state === INP_CONNECTED || inp.inp_lport !== lport) continue;
    if (inp.inp_laddr !== laddr && inp.inp_laddr !== INADDR_ANY) continue;
    const tp = intotcpcb(inp);
    if (tp !== null && tp.t_state === TCPS_LISTEN) {
      if (inp.inp_laddr === laddr) return inp;
      if (wild === null) wild = inp;
    } else if (other === null) {
      other = inp;
    }
  }
  return wild !== null ? wild : other;
}

/* ------------------------------------------------------- reassembly */

/**
 * tcp_reass: queue the data m (headers already trimmed: tlen bytes at
 * seq, with TH_FIN in fin) in sequence order, trimming overlaps as 4.4BSD
 * does (the new segment loses what the segment before it already holds;
 * segments after it lose what it covers; the duplicate bytes are reported
 * as D-SACK), then hand the in-order prefix to the socket.  Returns TH_FIN
 * if the FIN became in order (the caller processes it), else 0.  m is
 * consumed.
 */
function tcp_reass(ts: TcpState, tp: Tcpcb, so: Socket, seq: number, tlen: number, m: Mbuf | null, fin: number): number {
  const stat = ts.tcpstat;
  if (m !== null && (tlen > 0 || fin !== 0)) {
    /* Trim against the queued segment before us, and drop queued segments we cover. */
    let prev: TcpQent | null = null;
    let q = tp.segq;
    while (q !== null && SEQ_LT(q.seq, seq)) {
      prev = q;
      q = q.next;
    }
    let drop = false;
    if (prev !== null) {
      const overlap = SEQ_SUB(SEQ_ADD(prev.seq, prev.len), seq);
      if (overlap > 0) {
        if (overlap >= tlen && !(fin !== 0 && (prev.flags & TH_FIN) === 0 && overlap === tlen)) {
          /* Wholly duplicate. */
          stat.tcps_rcvduppack++;
          stat.tcps_rcvdupbyte += tlen;
          tcp_new_dsack(tp, seq, tlen);
          drop = true;
        } else {
          const o = Math.min(overlap, tlen);
          tcp_new_dsack(tp, seq, o);
          m_adj(m, o);
          seq = SEQ_ADD(seq, o);
          tlen -= o;
        }
      }
    }
    if (!drop) {
      while (q !== null) {
        const over = SEQ_SUB(SEQ_ADD(seq, tlen), q.seq);
        if (over <= 0) break;
        if (over < q.len) {
          /* We cover its front: the queued copy keeps the rest. */
          tcp_new_dsack(tp, q.seq, over);
          m_adj(q.m!, over);
          q.seq = SEQ_ADD(q.seq, over);
          q.len -= over;
          break;
        }
        /* We cover it whole. */
        tcp_new_dsack(tp, q.seq, q.len);
        fin |= q.flags & TH_FIN;
        const next = q.next;
        if (prev === null) tp.segq = next;
        else prev.next = next;
        m_freem(q.m);
        q.m = null;
        q.next = ts.qent_free;
        ts.qent_free = q;
        tp.t_segqlen--;
        q = next;
      }
      if (tp.t_segqlen >= ts.tcp_reass_maxqueuelen) {
        stat.tcps_rcvoopackdrop++;
        stat.tcps_rcvmemdrop++;
        drop = true;
      }
    }
    if (drop) {
      m_freem(m);
    } else {
      let e = tcpipqent_alloc(ts);
      if (e === null) e = new TcpQent();
      e.seq = seq;
      e.len = tlen;
      e.flags = fin;
      e.m = m;
      e.next = q;
      if (prev === null) tp.segq = e;
      else prev.next = e;
      tp.t_segqlen++;
      if (seq === tp.rcv_nxt) {
        stat.tcps_rcvpack++;
        stat.tcps_rcvbyte += tlen;
      } else {
        stat.tcps_rcvoopack++;
        stat.tcps_rcvoobyte += tlen;
        if (tlen > 0) tp.rcv_lastsack_seq = seq;
      }
    }
  } else if (m !== null) {
    m_freem(m);
  }
  /* Present the in-order prefix (not before the connection is established). */
  if (!TCPS_HAVEESTABLISHED(tp.t_state)) return 0;
  let presented = false;
  let rfin = 0;
  while (tp.segq !== null && tp.segq.seq === tp.rcv_nxt) {
    const e = tp.segq;
    tp.segq = e.next;
    tp.t_segqlen--;
    tp.rcv_nxt = SEQ_ADD(tp.rcv_nxt, e.len);
    rfin = e.flags & TH_FIN;
    if ((so.so_state & SS_CANTRCVMORE) !== 0 || e.len === 0) m_freem(e.m);
    else sbappendstream(so.so_rcv, e.m!);
    e.m = null;
    e.next = ts.qent_free;
    ts.qent_free = e;
    presented = true;
    if (rfin !== 0) break;
  }
  if (presented) sorwakeup(so);
  return rfin;
}

/* --------------------------------------------------- buffer autosize */

/**
 * Receive-buffer auto-sizing (net.inet.tcp.recvbuf_*): a round ends when
 * rcv_nxt reaches the window edge we advertised at its start, i.e. the
 * sender was limited by our window.  If the round brought more than 7/8
 * of the buffer, the buffer grows by recvbuf_inc up to recvbuf_max (a
 * reader that keeps up; one that falls behind shrinks the offered window
 * and never triggers it).  See the file comment for why rounds are not
 * timed as NetBSD times them.
 */
function tcp_rcvbuf_autosize(ts: TcpState, tp: Tcpcb, so: Socket): void {
  const sb = so.so_rcv;
  if (ts.tcp_do_autorcvbuf === 0 || (sb.sb_flags & SB_AUTOSIZE) === 0 || !tp.rfbuf_on) return;
  if (SEQ_LT(tp.rcv_nxt, tp.rfbuf_edge)) return;
  const got = SEQ_SUB(tp.rcv_nxt, tp.rfbuf_start);
  if (got > (sb.sb_hiwat / 8) * 7 && sb.sb_hiwat < ts.tcp_autorcvbuf_max) {
    if (!sbreserve(sb, Math.min(sb.sb_hiwat + ts.tcp_autorcvbuf_inc, ts.tcp_autorcvbuf_max))) sb.sb_flags &= ~SB_AUTOSIZE;
  }
  tp.rfbuf_start = tp.rcv_nxt;
  tp.rfbuf_edge = SEQ_GT(tp.rcv_adv, tp.rcv_nxt) ? tp.rcv_adv : SEQ_ADD(tp.rcv_nxt, 1);
}

/**
 * Delayed ACKs (RFC 9293 3.8.6.3, RFC 5681 4.2): ACK at once for every
 * second full-sized segment's worth of data (or on PUSH with
 * net.inet.tcp.ack_on_push), otherwise within delack_ticks.
 */
function tcp_setup_ack(ts: TcpState, tp: Tcpcb, tlen: number, flags: number): void {
  tp.t_unacked += tlen;
  /* A full segment from the peer: our MSS less the options it carries. */
  const full = Math.max(1, tp.t_ourmss - tcp_optlen(tp));
  if (tp.t_unacked >= 2 * full || (ts.tcp_ack_on_push !== 0 && (flags & TH_PUSH) !== 0)) {
    tp.t_flags |= TF_ACKNOW;
  } else {
    TCP_SET_DELACK(tp);
  }
}

/* ------------------------------------------------------------ input */

/**
 * tcp_input: the TCP pr_input (see the file comment).  m starts with the
 * IP header, iphlen bytes; ip_len has been checked against the packet.
 */
export function tcp_input(m0: Mbuf, iphlen: number, _proto: number): void {
  const k = m0.m_ctx.k;
  const ts = k.tcp;
  if (ts === undefined) {
    m_freem(m0);
    return;
  }
  const stat = ts.tcpstat;
  const st: InetState = ts.st;
  stat.tcps_rcvtotal++;
  let m: Mbuf | null = m0;
  if (m.m_pkthdr.len < iphlen + TCP_HDR_LEN) {
    stat.tcps_rcvshort++;
    m_freem(m);
    return;
  }
  if (m.m_len < iphlen + TCP_HDR_LEN) {
    m = m_pullup(m, iphlen + TCP_HDR_LEN);
    if (m === null) {
      stat.tcps_rcvshort++;
      return;
    }
  }
  let b = m.m_buf;
  let ip = m.m_data;
  const iplen = rd16(b, ip + IP_LEN_OFF);
  let tlen = iplen - iphlen;
  const src = in_addr_read(b, ip + IP_SRC_OFF);
  const dst = in_addr_read(b, ip + IP_DST_OFF);
  const rcvif = if_byindex(k, m.m_pkthdr.rcvif_index);
  /* TCP is unicast only (RFC 1122 4.2.3.10): no segments to broadcast or multicast addresses. */
  if ((m.m_flags & (M_BCAST | M_MCAST)) !== 0 || IN_MULTICAST(dst) || in_broadcast(st, dst, rcvif)) {
    stat.tcps_rcvbcast++;
    m_freem(m);
    return;
  }
  /* The checksum: vouched for by the interface, skipped on loopback (do_loopback_cksum 0), else computed. */
  const cf = m.m_pkthdr.csum_flags;
  if ((cf & M_CSUM_TCPv4) !== 0) {
    if ((cf & M_CSUM_TCP_UDP_BAD) !== 0) {
      stat.tcps_rcvbadsum++;
      m_freem(m);
      return;
    }
  } else if (!(rcvif !== null && (rcvif.if_flags & IFF_LOOPBACK) !== 0 && ts.tcp_do_loopback_cksum === 0) &&
      in4_cksum(m, IPPROTO_TCP, iphlen, tlen, src, dst) !== 0) {
    stat.tcps_rcvbadsum++;
    m_freem(m);
    return;
  }
  let th = ip + iphlen;
  const thoff = (b[th + 12]! >>> 4) << 2;
  if (thoff < TCP_HDR_LEN || thoff > tlen) {
    stat.tcps_rcvbadoff++;
    m_freem(m);
    return;
  }
  if (m.m_len < iphlen + thoff) {
    m = m_pullup(m, iphlen + thoff);
    if (m === null) {
      stat.tcps_rcvshort++;
      return;
    }
    b = m.m_buf;
    ip = m.m_data;
    th = ip + iphlen;
  }
  tlen -= thoff;
  const sport = rd16(b, th);
  const dport = rd16(b, th + 2);
  let seq = rd32(b, th + 4);
  const ack = rd32(b, th + 8);
  let flags = b[th + 13]!;
  const win = rd16(b, th + 14);
  let urp = rd16(b, th + 18);
  const oseq = seq;
  const otlen = tlen;
  const oflags = flags;
  const opti = ts.opti;
  opti.reset();
  if (thoff > TCP_HDR_LEN && !tcp_dooptions(opti, b, th + TCP_HDR_LEN, thoff - TCP_HDR_LEN, flags)) {
    stat.tcps_rcvbadoff++;
    m_freem(m);
    return;
  }
  /* Bytes to trim from the front of the packet to reach the data (headers, then duplicate data). */
  let dataoff = iphlen + thoff;

  let act = ACT_DONE;
  let tp: Tcpcb | null = null;
  let so: Socket | null = null;
  let ostate = TCPS_CLOSED;
  let needoutput = false;
  let tiwin = win;

  findpcb: for (;;) {
    let inp = in_pcblookup_connect(ts.tcbtable, src, sport, dst, dport);
    if (inp === null) {
      /* Vestigial Time-Wait: consulted only when no real connection matches; a hit skips the listener. */
      const vtab = ts.vtw?.table;
      if (vtab !== undefined && vtab !== null && vtab.count() > 0) {
        const vi = vtab.lookup_connect(src, sport, dst, dport);
        if (vi >= 0 && tcp_vtw_input(ts, vi, src, sport, dst, dport, seq, ack, flags, tlen, opti) === VTW_DONE) {
          m_freem(m);
          return;
        }
      }
      stat.tcps_pcbhashmiss++;
      inp = tcp_pcblookup_listen(ts.tcbtable, dst, dport);
    }
    if (inp === null) {
      stat.tcps_noport++;
      if (ts.tcp_log_refused !== 0 && (flags & (TH_RST | TH_ACK | TH_SYN)) === TH_SYN) {
        log(k, LOG_INFO, `Connection attempt to TCP ${inet_ntop4(dst)}:${dport} from ${inet_ntop4(src)}:${sport}\n`);
      }
      act = ACT_DROPWITHRESET_RATELIM;
      break;
    }
    tp = intotcpcb(inp);
    if (tp === null || tp.t_state === TCPS_CLOSED) {
      /* A bound socket that is not listening: no connection here (RFC 9293 3.10.7.1). */
      stat.tcps_noport++;
      tp = null;
      act = ACT_DROPWITHRESET_RATELIM;
      break;
    }
    so = inp.inp_socket;
    ostate = tp.t_state;

    /* -------------------------------------------------- LISTEN */
    if ((so.so_options & SO_ACCEPTCONN) !== 0) {
      if ((flags & TH_RST) !== 0) {
        syn_cache_reset(ts, src, sport, dst, dport, seq);
        act = ACT_DROP;
        break;
      }
      if ((flags & TH_ACK) !== 0) {
        /* The ACK that may complete a handshake the SYN cache holds. */
        const r = syn_cache_get(ts, tp, so, src, sport, dst, dport, seq, ack);
        if (typeof r === 'number') {
          if (r === SC_NONE) {
            stat.tcps_badsyn++;
            act = ACT_DROPWITHRESET_RATELIM;
          } else {
            act = r === SC_ABORT ? ACT_DROPWITHRESET : ACT_DROP;
          }
          break;
        }
        tp = r;
        so = tp.t_inpcb.inp_socket;
        ostate = TCPS_SYN_RECEIVED;
      } else {
        if ((flags & TH_SYN) === 0) {
          act = ACT_DROP;
          break;
        }
        /* RFC 1122 4.2.3.10: no connections from broadcast/multicast/unspecified sources, nor to ourselves through the listener. */
        if (IN_MULTICAST(src) || src === INADDR_ANY || src === INADDR_BROADCAST || (src === dst && sport === dport) ||
            in_broadcast(st, src, rcvif)) {
          stat.tcps_badsyn++;
          act = ACT_DROP;
          break;
        }
        /* LISTEN + SYN (RFC 9293 3.10.7.2) goes to the SYN cache; data and FIN in the SYN are not kept. */
        syn_cache_add(ts, tp, so, src, sport, dst, dport, seq, win, opti, rcvif);
        m_freem(m);
        return;
      }
    }

    /* A connection: it has been heard from. */
    tp.t_rcvtime = tcp_now(ts);
    if ((flags & TH_SYN) === 0) tiwin = win << tp.snd_scale;
    if ((tp.t_flags & TF_RCVD_TSTMP) === 0 && (flags & TH_SYN) === 0) opti.ts_present = false;

    /* ------------------------------------------------ fast path */
    if (tp.t_state === TCPS_ESTABLISHED && (flags & (TH_SYN | TH_FIN | TH_RST | TH_URG | TH_ACK)) === TH_ACK &&
        (!opti.ts_present || TSTMP_GEQ(opti.ts_val, tp.ts_recent)) && seq === tp.rcv_nxt && tiwin !== 0 &&
        tiwin === tp.snd_wnd && tp.snd_nxt === tp.snd_max && opti.nsack === 0 && tp.t_partialacks < 0) {
      if (opti.ts_present && SEQ_LEQ(seq, tp.last_ack_sent)) {
        tp.ts_recent_age = tcp_now(ts);
        tp.ts_recent = opti.ts_val;
      }
      if (tlen === 0) {
        if (SEQ_GT(ack, tp.snd_una) && SEQ_LEQ(ack, tp.snd_max) && tp.t_dupacks < tcprexmtthresh) {
          /* A pure ACK for outstanding data. */
          stat.tcps_predack++;
          tcp_ack_rtt(ts, tp, opti, ack);
          const acked = SEQ_SUB(ack, tp.snd_una);
          stat.tcps_rcvackpack++;
          stat.tcps_rcvackbyte += acked;
          tp.t_congctl.newack(tp, ack, acked);
          sbdrop(so.so_snd, Math.min(acked, so.so_snd.sb_cc));
          tp.snd_una = ack;
          if (tp.snd_holes !== null) tcp_del_sackholes(tp, ack);
          else if (SEQ_LT(tp.snd_fack, ack)) tp.snd_fack = ack;
          tp.t_dupacks = 0;
          if (tp.snd_una === tp.snd_max) TCP_TIMER_DISARM(tp, TCPT_REXMT);
          else if (!TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
          sowwakeup(so);
          tcp_trace(TA_INPUT, ostate, tp, oseq, ack, oflags, otlen, win);
          if (so.so_snd.sb_cc > 0) tcp_output(tp);
          m_freem(m);
          return;
        }
      } else if (ack === tp.snd_una && tp.segq === null && tlen <= sbspace(so.so_rcv)) {
        /* Pure in-order data for us. */
        stat.tcps_preddat++;
        tp.rcv_nxt = SEQ_ADD(tp.rcv_nxt, tlen);
        stat.tcps_rcvpack++;
        stat.tcps_rcvbyte += tlen;
        tcp_rcvbuf_autosize(ts, tp, so);
        m_adj(m, dataoff);
        sbappendstream(so.so_rcv, m);
        m = null;
        sorwakeup(so);
        tcp_setup_ack(ts, tp, tlen, flags);
        tcp_trace(TA_INPUT, ostate, tp, oseq, ack, oflags, otlen, win);
        if ((tp.t_flags & TF_ACKNOW) !== 0) tcp_output(tp);
        return;
      }
    }

    /* ------------------------------------------------ slow path */
    {
      const space = sbspace(so.so_rcv);
      tp.rcv_wnd = Math.max(space > 0 ? space : 0, SEQ_SUB(tp.rcv_adv, tp.rcv_nxt));
    }

    let stepsix = false;
    if (tp.t_state === TCPS_SYN_SENT) {
      /* RFC 9293 3.10.7.3. */
      if ((flags & TH_ACK) !== 0 && (SEQ_LEQ(ack, tp.iss) || SEQ_GT(ack, tp.snd_max))) {
        act = ACT_DROPWITHRESET;
        break;
      }
      if ((flags & TH_RST) !== 0) {
        if ((flags & TH_ACK) !== 0) {
          tcp_drop(tp, ECONNREFUSED);
          tp = null;
        }
        act = ACT_DROP;
        break;
      }
      if ((flags & TH_SYN) === 0) {
        act = ACT_DROP;
        break;
      }
      if ((flags & TH_ACK) !== 0) {
        tp.snd_una = ack;
        if (SEQ_LT(tp.snd_nxt, tp.snd_una)) tp.snd_nxt = tp.snd_una;
        TCP_TIMER_DISARM(tp, TCPT_REXMT);
      }
      tp.irs = seq;
      tcp_rcvseqinit(tp);
      tp.t_flags |= TF_ACKNOW;
      tcp_synopts(ts, tp, opti);
      tcp_initial_cwnd(ts, tp);
      if ((flags & TH_ACK) !== 0) {
        /* Our SYN was timed (unless resent, Karn). */
        if (tp.t_rtton) tcp_xmit_timer(ts, tp, tcp_now(ts) - tp.t_rtttime + 1);
        stat.tcps_connects++;
        tcp_apply_scale(tp);
        tcp_established(tp);
        soisconnected(so);
      } else {
        /*
         * Simultaneous open: SYN_RECEIVED, and our SYN goes again with the
         * ACK (RFC 9293 3.10.7.3 "form a SYN,ACK segment": seq = ISS).
         */
        tp.t_state = TCPS_SYN_RECEIVED;
        tp.snd_nxt = tp.snd_una;
      }
      /* The SYN's data, if any, is trimmed to the window; the FIN goes with the excess. */
      seq = SEQ_ADD(seq, 1);
      if (tlen > tp.rcv_wnd) {
        const todrop = tlen - tp.rcv_wnd;
        m_adj(m, -todrop);
        tlen = tp.rcv_wnd;
        flags &= ~TH_FIN;
        stat.tcps_rcvpackafterwin++;
        stat.tcps_rcvbyteafterwin += todrop;
      }
      tp.snd_wl1 = SEQ_ADD(seq, -1);
      tp.rcv_up = seq;
      flags &= ~TH_SYN;
      stepsix = true;
    }

    if (!stepsix) {
      if (tp.t_state === TCPS_SYN_RECEIVED && (flags & (TH_ACK | TH_RST)) === TH_ACK &&
          (SEQ_LEQ(ack, tp.snd_una) || SEQ_GT(ack, tp.snd_max))) {
        /* RFC 9293 3.10.7.4: an unacceptable ACK in SYN-RECEIVED draws <SEQ=SEG.ACK><CTL=RST>. */
        act = ACT_DROPWITHRESET;
        break;
      }
      /*
       * TIME_WAIT reopened by a new SYN (RFC 1122 4.2.2.13, RFC 6191): its
       * sequence number or timestamp is newer than the old connection's.
       */
      if (tp.t_state === TCPS_TIME_WAIT && (flags & (TH_SYN | TH_ACK | TH_RST)) === TH_SYN &&
          (SEQ_GT(seq, tp.rcv_nxt) || (opti.ts_present && (tp.t_flags & TF_RCVD_TSTMP) !== 0 &&
            TSTMP_LT(tp.ts_recent, opti.ts_val)))) {
        tcp_close(tp);
        tp = null;
        continue findpcb;
      }

      /* PAWS (RFC 7323 5.3). */
      if (opti.ts_present && (flags & TH_RST) === 0 && tp.ts_recent !== 0 && TSTMP_LT(opti.ts_val, tp.ts_recent)) {
        if (tcp_now(ts) - tp.ts_recent_age > TCP_PAWS_IDLE) {
          /* RFC 7323 5.5: a ts_recent idle for 24 days is invalid. */
          tp.ts_recent = 0;
        } else {
          stat.tcps_rcvduppack++;
          stat.tcps_rcvdupbyte += tlen;
          stat.tcps_pawsdrop++;
          if (tlen > 0) tcp_new_dsack(tp, seq, tlen);
          act = ACT_DROPAFTERACK;
          break;
        }
      }

      /* Trim what lies before rcv_nxt (RFC 9293 3.10.7.4, first check). */
      let todrop = SEQ_SUB(tp.rcv_nxt, seq);
      if (todrop > 0) {
        if ((flags & TH_SYN) !== 0) {
          flags &= ~TH_SYN;
          seq = SEQ_ADD(seq, 1);
          if (urp > 1) urp--;
          else flags &= ~TH_URG;
          todrop--;
        }
        if (todrop > tlen || (todrop === tlen && (flags & TH_FIN) === 0)) {
          /* A RST left of the window is old or forged: drop it silently (RFC 5961 3.2). */
          if ((flags & TH_RST) !== 0) {
            act = ACT_DROP;
            break;
          }
          /*
           * All duplicate.  A retransmitted FIN in TIME_WAIT restarts 2*MSL
           * (RFC 9293 3.10.7.4; NetBSD, like 4.4BSD, only ACKs it).
           */
          if (tp.t_state === TCPS_TIME_WAIT && (flags & TH_FIN) !== 0 && SEQ_ADD(seq, tlen + 1) === tp.rcv_nxt) {
            TCP_TIMER_ARM(tp, TCPT_2MSL, 2 * tp.t_msl);
          }
          flags &= ~TH_FIN;
          tp.t_flags |= TF_ACKNOW;
          todrop = tlen;
          stat.tcps_rcvduppack++;
          stat.tcps_rcvdupbyte += todrop;
          if (todrop > 0) tcp_new_dsack(tp, seq, todrop);
        } else {
          stat.tcps_rcvpartduppack++;
          stat.tcps_rcvpartdupbyte += todrop;
          tcp_new_dsack(tp, seq, todrop);
        }
        dataoff += todrop;
        seq = SEQ_ADD(seq, todrop);
        tlen -= todrop;
        if (urp > todrop) urp -= todrop;
        else {
          flags &= ~TH_URG;
          urp = 0;
        }
      }

      /* Data for a socket the user has closed: the peer must learn at once (RST). */
      if ((so.so_state & SS_NOFDREF) !== 0 && tp.t_state > TCPS_CLOSE_WAIT && tlen > 0) {
        tcp_close(tp);
        tp = null;
        stat.tcps_rcvafterclose++;
        act = ACT_DROPWITHRESET;
        break;
      }

      /* Trim what lies beyond the window. */
      todrop = SEQ_SUB(SEQ_ADD(seq, tlen), SEQ_ADD(tp.rcv_nxt, tp.rcv_wnd));
      if (todrop > 0) {
        stat.tcps_rcvpackafterwin++;
        if (todrop >= tlen) {
          stat.tcps_rcvbyteafterwin += tlen;
          if (tp.rcv_wnd === 0 && seq === tp.rcv_nxt) {
            /* A zero-window probe: ACK it (RFC 9293 3.8.6.1). */
            tp.t_flags |= TF_ACKNOW;
            stat.tcps_rcvwinprobe++;
          } else {
            act = ACT_DROPAFTERACK;
            break;
          }
        } else {
          stat.tcps_rcvbyteafterwin += todrop;
        }
        m_adj(m, -todrop);
        tlen -= todrop;
        flags &= ~(TH_PUSH | TH_FIN);
      }

      /* Remember the timestamp to echo (RFC 7323 4.3): only from a segment covering last_ack_sent. */
      if (opti.ts_present && SEQ_LEQ(seq, tp.last_ack_sent) &&
          SEQ_LT(tp.last_ack_sent, SEQ_ADD(seq, tlen + ((flags & (TH_SYN | TH_FIN)) !== 0 ? 1 : 0)))) {
        tp.ts_recent_age = tcp_now(ts);
        tp.ts_recent = opti.ts_val;
      }

      /* RST (RFC 5961 3.2): only an exact match is accepted; an in-window one earns a challenge ACK. */
      if ((flags & TH_RST) !== 0) {
        if (seq !== tp.rcv_nxt) {
          act = ACT_DROPAFTERACK_RATELIM;
          break;
        }
        switch (tp.t_state) {
          case TCPS_SYN_RECEIVED:
            so.so_error = ECONNREFUSED;
            tp.t_state = TCPS_CLOSED;
            stat.tcps_drops++;
            tcp_close(tp);
            break;
          case TCPS_ESTABLISHED:
          case TCPS_FIN_WAIT_1:
          case TCPS_FIN_WAIT_2:
          case TCPS_CLOSE_WAIT:
            so.so_error = ECONNRESET;
            tp.t_state = TCPS_CLOSED;
            stat.tcps_drops++;
            tcp_close(tp);
            break;
          default:
            tcp_close(tp);
            break;
        }
        tp = null;
        act = ACT_DROP;
        break;
      }

      /* A SYN in a synchronized state (RFC 5961 4.2): a challenge ACK, never a RST. */
      if ((flags & TH_SYN) !== 0) {
        act = ACT_DROPAFTERACK_RATELIM;
        break;
      }

      if ((flags & TH_ACK) === 0) {
        act = (tp.t_flags & TF_ACKNOW) !== 0 ? ACT_DROPAFTERACK : ACT_DROP;
        break;
      }

      /* RFC 5961 5.2: the ACK must lie in [snd_una - max_sndwnd, snd_max]. */
      if (SEQ_GT(ack, tp.snd_max)) {
        stat.tcps_rcvacktoomuch++;
        act = ACT_DROPAFTERACK_RATELIM;
        break;
      }
      if (SEQ_LT(ack, SEQ_ADD(tp.snd_una, -tp.max_sndwnd))) {
        act = ACT_DROPAFTERACK_RATELIM;
        break;
      }

      if (tp.t_state === TCPS_SYN_RECEIVED) {
        /* The handshake completes (RFC 9293 3.10.7.4, fifth check). */
        stat.tcps_connects++;
        tcp_apply_scale(tp);
        tcp_initial_cwnd(ts, tp);
        /* The window of this segment counts (scaled now). */
        tiwin = win << tp.snd_scale;
        tcp_established(tp);
        soisconnected(so);
        tp.snd_wl1 = SEQ_ADD(seq, -1);
        if (tcp_reass(ts, tp, so, seq, 0, null, 0) !== 0) flags |= TH_FIN;
      }

      if (TCP_SACK_ENABLED(tp) && opti.nsack > 0) tcp_sack_option(tp, opti, ack);

      if (SEQ_LEQ(ack, tp.snd_una)) {
        /*
         * A duplicate ACK (RFC 5681 2): no data, no window change, our
         * data outstanding, ack == snd_una.  The third starts fast
         * retransmit; later ones inflate the window (or, with SACK, let
         * the pipe rule send).
         */
        if (tlen === 0 && tiwin === tp.snd_wnd && (flags & TH_FIN) === 0) {
          stat.tcps_rcvdupack++;
          if (!TCP_TIMER_ISARMED(tp, TCPT_REXMT) || ack !== tp.snd_una) {
            tp.t_dupacks = 0;
          } else if (tp.t_partialacks < 0) {
            /*
             * Not in recovery: the third duplicate, or (SACK, NetBSD's
             * TCP_FACK_FASTRECOV) three segments SACKed above the first
             * hole, means loss.
             */
            if (++tp.t_dupacks === tcprexmtthresh ||
                (TCP_SACK_ENABLED(tp) && tp.t_dupacks < tcprexmtthresh &&
                  SEQ_GT(tp.snd_fack, SEQ_ADD(tp.snd_una, tcprexmtthresh * tp.t_segsz)))) {
              if (tp.t_congctl.fast_retransmit(tp, ack) === 0) {
                act = ACT_DROP;
                break;
              }
            }
          } else {
            /* In recovery: each duplicate means a segment left the network. */
            tp.t_dupacks++;
            if (!TCP_SACK_ENABLED(tp)) tp.snd_cwnd += tp.t_segsz;
            tcp_output(tp);
            act = ACT_DROP;
            break;
          }
        } else {
          tp.t_dupacks = 0;
        }
      } else {
        /* New data acknowledged. */
        const synacked = tp.snd_una === tp.iss;
        const recovering = tp.t_partialacks >= 0;
        tp.t_congctl.fast_retransmit_newack(tp, ack);
        if (tp.t_partialacks < 0) tp.t_dupacks = 0;
        let acked = SEQ_SUB(ack, tp.snd_una);
        stat.tcps_rcvackpack++;
        stat.tcps_rcvackbyte += acked;
        tcp_ack_rtt(ts, tp, opti, ack);
        if (ack === tp.snd_max) {
          TCP_TIMER_DISARM(tp, TCPT_REXMT);
          needoutput = true;
        } else if (!TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) {
          TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
        }
        /* The SYN's sequence number is not data. */
        if (synacked) acked--;
        /* The ACK that ends recovery leaves cwnd where recovery set it (RFC 5681 3.2 step 6). */
        if (!recovering) tp.t_congctl.newack(tp, ack, acked);
        let ourfinisacked = false;
        if (acked > so.so_snd.sb_cc) {
          tp.snd_wnd -= so.so_snd.sb_cc;
          sbdrop(so.so_snd, so.so_snd.sb_cc);
          ourfinisacked = true;
        } else {
          if (acked > 0) sbdrop(so.so_snd, acked);
          tp.snd_wnd -= acked;
        }
        if (tp.snd_wnd < 0) tp.snd_wnd = 0;
        sowwakeup(so);
        tp.snd_una = ack;
        if (SEQ_LT(tp.snd_nxt, tp.snd_una)) tp.snd_nxt = tp.snd_una;
        if (TCP_SACK_ENABLED(tp)) tcp_del_sackholes(tp, ack);
        else if (SEQ_LT(tp.snd_fack, ack)) tp.snd_fack = ack;

        switch (tp.t_state) {
          case TCPS_FIN_WAIT_1:
            if (ourfinisacked) {
              /*
               * Our FIN is acknowledged.  If the user has closed the
               * socket, limit how long we wait for the peer's FIN
               * (t_maxidle; RFC 9293 has no such timer, but without it a
               * silent peer holds the connection forever).
               */
              if ((so.so_state & SS_CANTRCVMORE) !== 0) {
                soisdisconnected(so);
                if (tp.t_maxidle > 0) TCP_TIMER_ARM(tp, TCPT_2MSL, tp.t_maxidle);
              }
              tp.t_state = TCPS_FIN_WAIT_2;
            }
            break;
          case TCPS_CLOSING:
            if (ourfinisacked) tcp_enter_time_wait(tp);
            break;
          case TCPS_LAST_ACK:
            if (ourfinisacked) {
              tcp_close(tp);
              tp = null;
              act = ACT_DROP;
            }
            break;
          case TCPS_TIME_WAIT:
            TCP_TIMER_ARM(tp, TCPT_2MSL, 2 * tp.t_msl);
            act = ACT_DROPAFTERACK;
            break;
          default:
            break;
        }
        if (act !== ACT_DONE) break;
        acked = 0;
      }
    }

    /* ---------------------------------------------------- step 6 */
    if (tp === null) {
      act = ACT_DROP;
      break;
    }
    /* The send window (RFC 9293 3.10.7.4, "update the send window"). */
    if ((flags & TH_ACK) !== 0 && (SEQ_LT(tp.snd_wl1, seq) ||
        (tp.snd_wl1 === seq && (SEQ_LT(tp.snd_wl2, ack) || (tp.snd_wl2 === ack && tiwin > tp.snd_wnd))))) {
      if (tlen === 0 && tp.snd_wl2 === ack && tiwin > tp.snd_wnd) stat.tcps_rcvwinupd++;
      tp.snd_wnd = tiwin;
      tp.snd_wl1 = seq;
      tp.snd_wl2 = ack;
      if (tp.snd_wnd > tp.max_sndwnd) tp.max_sndwnd = tp.snd_wnd;
      needoutput = true;
    }

    /*
     * Urgent data: the pointer is tracked (rcv_up) but the urgent byte
     * stays in the stream, as with SO_OOBINLINE (RFC 6093 recommends
     * inline urgent data; out-of-band delivery is not implemented).
     */
    if ((flags & TH_URG) !== 0 && urp > 0 && !TCPS_HAVERCVDFIN(tp.t_state)) {
      if (SEQ_GT(SEQ_ADD(seq, urp), tp.rcv_up)) tp.rcv_up = SEQ_ADD(seq, urp);
    } else if (SEQ_GT(tp.rcv_nxt, tp.rcv_up)) {
      tp.rcv_up = tp.rcv_nxt;
    }

    /* The data and the FIN. */
    if ((tlen > 0 || (flags & TH_FIN) !== 0) && !TCPS_HAVERCVDFIN(tp.t_state)) {
      if (seq === tp.rcv_nxt && tp.segq === null && tp.t_state === TCPS_ESTABLISHED) {
        tp.rcv_nxt = SEQ_ADD(tp.rcv_nxt, tlen);
        if (tlen > 0) {
          stat.tcps_rcvpack++;
          stat.tcps_rcvbyte += tlen;
          tcp_setup_ack(ts, tp, tlen, flags);
          tcp_rcvbuf_autosize(ts, tp, so);
          if ((so.so_state & SS_CANTRCVMORE) !== 0) {
            m_freem(m);
          } else {
            m_adj(m, dataoff);
            sbappendstream(so.so_rcv, m);
            sorwakeup(so);
          }
          m = null;
        }
      } else {
        const fin = tcp_reass(ts, tp, so, seq, tlen, tlen > 0 || (flags & TH_FIN) !== 0 ? tcp_trimhdr(m!, dataoff) : null,
          flags & TH_FIN);
        m = null;
        flags = (flags & ~TH_FIN) | fin;
        tp.t_flags |= TF_ACKNOW;
      }
    } else {
      flags &= ~TH_FIN;
    }

    if ((flags & TH_FIN) !== 0) {
      if (!TCPS_HAVERCVDFIN(tp.t_state)) {
        socantrcvmore(so);
        tp.t_flags |= TF_ACKNOW;
        tp.rcv_nxt = SEQ_ADD(tp.rcv_nxt, 1);
      }
      switch (tp.t_state) {
        case TCPS_SYN_RECEIVED:
        case TCPS_ESTABLISHED:
          tp.t_state = TCPS_CLOSE_WAIT;
          break;
        case TCPS_FIN_WAIT_1:
          tp.t_state = TCPS_CLOSING;
          break;
        case TCPS_FIN_WAIT_2:
          tcp_enter_time_wait(tp);
          break;
        case TCPS_TIME_WAIT:
          TCP_TIMER_ARM(tp, TCPT_2MSL, 2 * tp.t_msl);
          break;
        default:
          break;
      }
    }
    tcp_trace(TA_INPUT, ostate, tp, oseq, ack, oflags, otlen, win);
    if (needoutput || (tp.t_flags & TF_ACKNOW) !== 0) tcp_output(tp);
    /* A closed socket's connection in TIME_WAIT becomes a vestige (NetBSD's vtw_add call in tcp_input). */
    if (tp.t_state === TCPS_TIME_WAIT && (so.so_state & SS_NOFDREF) !== 0 && tp.segq === null && !tp.t_dead) vtw_add(ts, tp);
    m_freem(m);
    return;
  }

  /* ----------------------------------------------------- drops */
  let chalack = false;
  if (act === ACT_DROPAFTERACK_RATELIM) {
    /* RFC 5961's challenge ACKs (for RSTs too), within ackdropppslimit. */
    if (tp !== null) {
      if (ppsratecheck(k, ts.ackdrop_rate, ts.tcp_ackdrop_ppslim)) {
        stat.tcps_chalacks++;
        chalack = true;
      } else {
        stat.tcps_ratelimited++;
      }
    }
  } else if (act === ACT_DROPWITHRESET_RATELIM) {
    if ((oflags & TH_RST) === 0 && !ppsratecheck(k, ts.rst_rate, ts.tcp_rst_ppslim)) stat.tcps_ratelimited++;
    else act = ACT_DROPWITHRESET;
  }
  if (tp !== null && !tp.t_dead && (chalack || (act === ACT_DROPAFTERACK && (oflags & TH_RST) === 0))) {
    tcp_trace(TA_DROP, ostate, tp, oseq, ack, oflags, otlen, win);
    tp.t_flags |= TF_ACKNOW;
    tcp_output(tp);
    m_freem(m);
    return;
  }
  /* Never a RST for a RST (RFC 9293 3.10.7.1). */
  if (act === ACT_DROPWITHRESET && (oflags & TH_RST) === 0) {
    if (tp !== null && tp.t_dead) tp = null;
    if ((oflags & TH_ACK) !== 0) {
      tcp_respond(ts, tp, dst, dport, src, sport, ack, 0, TH_RST);
    } else {
      const n = otlen + ((oflags & TH_SYN) !== 0 ? 1 : 0) + ((oflags & TH_FIN) !== 0 ? 1 : 0);
      tcp_respond(ts, tp, dst, dport, src, sport, 0, SEQ_ADD(oseq, n), TH_RST | TH_ACK);
    }
  }
  if (tp !== null && !tp.t_dead) tcp_trace(TA_DROP, ostate, tp, oseq, ack, oflags, otlen, win);
  m_freem(m);
}

/* The data of m: the first off bytes (headers, duplicate data) trimmed. */
function tcp_trimhdr(m: Mbuf, off: number): Mbuf {
  m_adj(m, off);
  return m;
}

/**
 * The window-scale shift we ask for: the smallest that lets the largest
 * buffer we may grow to (kern.sbmax) be advertised (RFC 7323 2.3).
 */
export function tcp_request_r_scale(ts: TcpState, tp: Tcpcb): number {
  if ((tp.t_flags & TF_REQ_SCALE) === 0) return 0;
  return tcp_rscale_for(ts, tp.t_inpcb.inp_socket.so_rcv.sb_hiwat);
}

/** The window-scale shift for a receive buffer of hiwat bytes (and what autosizing may grow it to). */
export function tcp_rscale_for(ts: TcpState, hiwat: number): number {
  const want = Math.max(hiwat, ts.tcp_do_autorcvbuf !== 0 ? ts.tcp_autorcvbuf_max : 0);
  let s = 0;
  while (s < TCP_MAX_WINSHIFT && TCP_MAXWIN << s < want) s++;
  return s;
}

/**
 * tcp_listen_input: the handshake the SYN cache held has completed: make
 * the connection's socket on the listener's queue (sonewconn, which
 * refuses beyond 3/2 of the backlog: kern.somaxconn bounds it), give its
 * PCB the 4-tuple and the listener's TCP settings, and return its tcpcb.
 * Null when the backlog is full.  syn_cache_get fills in the rest.
 */
export function tcp_listen_input(ts: TcpState, ltp: Tcpcb, lso: Socket, src: number, sport: number, dst: number,
  dport: number): Tcpcb | null {
  const so = sonewconn(lso, false);
  if (so === null) return null;
  const inp = sotoinpcb(so)!;
  const tp = intotcpcb(inp)!;
  const linp = ltp.t_inpcb;
  in_pcbsetaddrs(inp, dst, dport, src, sport);
  inp.inp_ip_ttl = linp.inp_ip_ttl;
  inp.inp_ip_tos = linp.inp_ip_tos;
  tp.t_flags |= ltp.t_flags & (TF_NODELAY | TF_NOOPT);
  if ((ltp.t_flags & TF_NOOPT) !== 0) tp.t_flags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP);
  tp.t_keepinit = ltp.t_keepinit;
  tp.t_keepidle = ltp.t_keepidle;
  tp.t_keepintvl = ltp.t_keepintvl;
  tp.t_keepcnt = ltp.t_keepcnt;
  tp.t_maxidle = ltp.t_maxidle;
  tp.t_maxseg_user = ltp.t_maxseg_user;
  tp.t_congctl = ltp.t_congctl;
  tp.t_state = TCPS_LISTEN;
  tcp_segsize(tp);
  return tp;
}

