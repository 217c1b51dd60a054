/*
 * tcp_output.ts: TCP output (NetBSD's netinet/tcp_output.c).
 *
 * Place in the packet path:
 *   sosend -> tcp_usrreqs.pr_send (data appended to so_snd) -> tcp_output()
 *   tcp_input (ACKs, window updates), the timers, pr_rcvd -> tcp_output()
 *   tcp_output() -> ip_output() -> ifp.if_output (ether_output, looutput)
 *
 * tcp_output() decides whether a segment is due and sends as many as the
 * windows allow: the data in so_snd from snd_nxt, bounded by the peer's
 * window and the congestion window, cut at t_segsz; or, in SACK recovery,
 * the next hole of the scoreboard while the estimate of data in the
 * network ("pipe", RFC 6675 / FACK) is below cwnd.  A data segment is
 * sent when it is full, or when it empties the buffer and Nagle allows
 * (nothing unacknowledged, or TCP_NODELAY; RFC 9293 3.7.4), or it is at
 * least half the largest window the peer offered (sender silly-window
 * avoidance, RFC 9293 3.8.6.2.1), or it is a retransmission or a
 * persist probe.  A segment without data goes out for a due ACK, a window
 * update worth two segments or half the buffer (receiver SWS avoidance,
 * 3.8.6.2.2), a SYN, FIN or RST.  When data waits but the peer's window
 * is zero, the persist timer is armed instead (3.8.6.1).
 *
 * Segments are built without copying payload: an mbuf for the IP and TCP
 * headers (in front of which the link header will go), chained to an
 * m_copym of the send buffer, which shares its clusters; a small payload
 * is copied into the header mbuf instead.  The checksum is left to
 * ip_output (or the interface) as the pseudo-header's partial sum, the
 * way udp_output does.
 *
 * Options (RFC 9293 3.2, RFC 7323, RFC 2018): a SYN carries MSS, window
 * scale, SACK-permitted and timestamps (the SYN-ACK only those the peer
 * offered); later segments carry timestamps when both sides agreed, and
 * SACK blocks (D-SACK first) when the receiver holds out-of-order data.
 */

import { M_CSUM_TCPv4, M_DONTWAIT, M_PKTHDR, MHLEN, MT_HEADER } from '../../../include/mbuf.ts';
import {
  m_copydata, m_copym, m_freem, m_gethdr, m_reserve, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { sbreserve, sbspace } from '../../../librump/rumpnet/uipc_socket2.ts';
import { SB_AUTOSIZE } from '../../../librump/rumpnet/socketvar.ts';
import { EHOSTDOWN, EHOSTUNREACH, EMSGSIZE, ENETDOWN, ENETUNREACH, ENOBUFS } from '../../../include/errno.ts';
import { IPPROTO_TCP, in_addr_write } from './in.ts';
import { in4_cksum_phdr } from './in_cksum.ts';
import { IP_DF, IP_DST_OFF, IP_HDR_LEN, IP_LEN_OFF, IP_SRC_OFF } from './ip.ts';
import { ip_output } from './ip_output.ts';
import {
  TCP_HDR_LEN, TCP_MAXWIN, TCPOLEN_MAXSEG, TCPOLEN_SACK, TCPOLEN_SACK_PERMITTED, TCPOLEN_TIMESTAMP, TCPOLEN_WINDOW,
  TCPOPT_MAXSEG, TCPOPT_NOP, TCPOPT_SACK, TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP, TCPOPT_WINDOW, TH_ACK, TH_FIN,
  TH_PUSH, TH_RST, TH_SYN, TH_URG, tcp_hdr_write,
} from './tcp.ts';
import { TCPS_HAVERCVDSYN, TCPS_SYN_RECEIVED, TCPS_SYN_SENT, TCPS_CLOSED, TCPS_ESTABLISHED, tcp_outflags } from './tcp_fsm.ts';
import { SEQ_ADD, SEQ_GT, SEQ_LT, SEQ_SUB } from './tcp_seq.ts';
import {
  TA_OUTPUT, TCPT_PERSIST, TCPT_REXMT, TF_ACKNOW, TF_NODELAY, TF_NOOPT, TF_RCVD_SCALE, TF_RCVD_TSTMP,
  TF_REQ_SCALE, TF_REQ_TSTMP, TF_SACK_PERMIT, TF_SENTFIN, TCP_INITIAL_WINDOW, TCP_SACK_ENABLED, TCP_TIMESTAMP,
  tcp_now, tcp_of, type Tcpcb,
} from './tcp_var.ts';
import {
  TCP_CLEAR_DELACK, TCP_TIMER_ARM, TCP_TIMER_DISARM, TCP_TIMER_ISARMED, tcp_setpersist,
} from './tcp_timer.ts';
import { tcp_mss_to_advertise, tcp_optlen, tcp_route_ifp, tcp_mtudisc } from './tcp_subr.ts';
import { tcp_sack_fill, tcp_sack_numblks, tcp_sack_output, tcp_sack_pipe } from './tcp_sack.ts';
import { tcp_trace } from './tcp_debug.ts';

function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/**
 * The window to advertise (receiver SWS avoidance, RFC 9293 3.8.6.2.2):
 * the free receive space, but 0 rather than less than a quarter of the
 * buffer and less than a segment, never more than the scale can express,
 * and never shrinking what was already offered (3.8.6.2.2: a receiver
 * must not shrink the window).
 */
function tcp_rcvwin(tp: Tcpcb): number {
  const so = tp.t_inpcb.inp_socket;
  let win = sbspace(so.so_rcv);
  if (win < 0) win = 0;
  if (win < so.so_rcv.sb_hiwat / 4 && win < tp.t_ourmss) win = 0;
  const max = TCP_MAXWIN << tp.rcv_scale;
  if (win > max) win = max;
  const offered = SEQ_SUB(tp.rcv_adv, tp.rcv_nxt);
  if (win < offered) win = offered;
  return win;
}

/**
 * Send-buffer auto-sizing (NetBSD's criteria, net.inet.tcp.sendbuf_*):
 * grow so_snd by sendbuf_inc, up to sendbuf_max, when the peer's window
 * is at least 4/5 of the buffer (the buffer, not the peer, would limit
 * us), the buffer is 7/8 full, and the send window covers the data not
 * yet sent.  One step per call (per ACK).
 */
function tcp_sndbuf_autosize(tp: Tcpcb, win: number): void {
  const ts = tcp_of(tp.t_kernel);
  const sb = tp.t_inpcb.inp_socket.so_snd;
  if (ts.tcp_do_autosndbuf === 0 || (sb.sb_flags & SB_AUTOSIZE) === 0) return;
  if ((tp.snd_wnd / 4) * 5 >= sb.sb_hiwat && sb.sb_cc >= (sb.sb_hiwat / 8) * 7 &&
      sb.sb_hiwat < ts.tcp_autosndbuf_max && win >= sb.sb_cc - SEQ_SUB(tp.snd_nxt, tp.snd_una)) {
    if (!sbreserve(sb, Math.min(sb.sb_hiwat + ts.tcp_autosndbuf_inc, ts.tcp_autosndbuf_max))) sb.sb_flags &= ~SB_AUTOSIZE;
  }
}

/**
 * tcp_output: send what is due on tp (see the file comment).  Returns an
 * errno for the user request that called it (0 when nothing could be
 * sent for reasons TCP recovers from itself).
 */
export function tcp_output(tp: Tcpcb): number {
  if (tp.t_dead) return 0;
  const ts = tcp_of(tp.t_kernel);
  const inp = tp.t_inpcb;
  const so = inp.inp_socket;
  const sb = so.so_snd;
  const stat = ts.tcpstat;
  const txsegsize = tp.t_segsz;
  /*
   * Restart from the initial window after an idle period longer than the
   * RTO (RFC 5681 4.1; NetBSD measures idleness from the last segment
   * received, as here).
   */
  const idle = tp.snd_max === tp.snd_una;
  if (idle && tp.t_state >= TCPS_ESTABLISHED && tcp_now(ts) - tp.t_rcvtime >= tp.t_rxtcur) {
    const iw = TCP_INITIAL_WINDOW(ts.tcp_init_win, txsegsize);
    if (tp.snd_cwnd > iw) tp.snd_cwnd = iw;
  }

  for (;;) {
    let sendalot = false;
    let flags = tcp_outflags[tp.t_state]!;
    let off = SEQ_SUB(tp.snd_nxt, tp.snd_una);
    let sendwin = Math.min(tp.snd_wnd, tp.snd_cwnd);
    let len = 0;
    let sack_rxmit = false;
    let sack_seq = 0;

    if ((flags & TH_SYN) !== 0) {
      /*
       * The handshake: the SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED)
       * carries no data.  Once sent and not yet acknowledged it goes out
       * again only when retransmitting (snd_nxt pulled back to snd_una)
       * or, for the SYN-ACK, when an ACK is due: it is sent again at iss
       * (RFC 9293 3.10.7.4: a duplicate SYN gets our SYN-ACK again).
       */
      if (SEQ_GT(tp.snd_nxt, tp.snd_una)) {
        if (tp.t_state !== TCPS_SYN_RECEIVED || (tp.t_flags & TF_ACKNOW) === 0) return 0;
        sack_rxmit = true;
        sack_seq = tp.iss;
      }
      off = 0;
      len = 0;
    } else if (tp.t_state === TCPS_CLOSED) {
      /* tcp_drop: a RST|ACK and nothing else. */
      len = 0;
    } else {
      if (tp.t_force) {
        if (sendwin === 0) {
          /* A zero-window probe: one byte, not the FIN (unless the FIN is all there is). */
          if (off < sb.sb_cc) flags &= ~TH_FIN;
          sendwin = 1;
        } else {
          TCP_TIMER_DISARM(tp, TCPT_PERSIST);
          tp.t_rxtshift = 0;
        }
      }
      if (TCP_SACK_ENABLED(tp) && tp.t_partialacks >= 0 && !tp.t_force) {
        /*
         * SACK loss recovery (RFC 6675 5, FACK's pipe): while the data
         * estimated in the network is below cwnd, resend the first
         * unSACKed byte of the scoreboard, else new data.
         */
        const pipe = tcp_sack_pipe(tp);
        const room = tp.snd_cwnd - pipe;
        if (room <= 0) {
          len = 0;
          flags &= ~TH_FIN;
          off = SEQ_SUB(tp.snd_max, tp.snd_una);
        } else {
          const p = tcp_sack_output(tp);
          if (p !== null) {
            sack_rxmit = true;
            sack_seq = p.rxmit;
            off = SEQ_SUB(p.rxmit, tp.snd_una);
            len = Math.min(SEQ_SUB(p.end, p.rxmit), txsegsize);
            flags &= ~TH_FIN;
          } else {
            if (SEQ_LT(tp.snd_nxt, tp.snd_max)) tp.snd_nxt = tp.snd_max;
            off = SEQ_SUB(tp.snd_nxt, tp.snd_una);
            const wleft = tp.snd_wnd - off;
            len = Math.min(sb.sb_cc - off, wleft, room);
            if (len < 0) len = 0;
          }
        }
      } else {
        len = Math.min(sb.sb_cc, sendwin) - off;
      }
      if (len < 0) {
        /*
         * The FIN is sent and not acknowledged (off past the data), or the
         * window shrank under data already sent.  A closed window pulls
         * snd_nxt back and waits for the persist timer.
         */
        len = 0;
        if (sendwin === 0) {
          TCP_TIMER_DISARM(tp, TCPT_REXMT);
          tp.t_rxtshift = 0;
          tp.snd_nxt = tp.snd_una;
          if (!TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) tcp_setpersist(tp);
        }
      }
    }
    if (len > txsegsize) {
      len = txsegsize;
      sendalot = true;
    }
    if (!sack_rxmit && SEQ_LT(SEQ_ADD(tp.snd_nxt, len), SEQ_ADD(tp.snd_una, sb.sb_cc))) flags &= ~TH_FIN;
    if (sack_rxmit && SEQ_LT(SEQ_ADD(sack_seq, len), SEQ_ADD(tp.snd_una, sb.sb_cc))) flags &= ~TH_FIN;

    const rcvwin = tcp_rcvwin(tp);
    tcp_sndbuf_autosize(tp, sendwin);

    let send = false;
    if ((flags & TH_SYN) !== 0 || (flags & TH_RST) !== 0) {
      send = true;
    } else if (len > 0 && (len === txsegsize || sack_rxmit || tp.t_force || SEQ_LT(tp.snd_nxt, tp.snd_max) ||
      /* Nagle (RFC 9293 3.7.4): a short segment only when nothing is in flight, or TCP_NODELAY. */
      ((idle || (tp.t_flags & TF_NODELAY) !== 0) && len + off >= sb.sb_cc) ||
      /* Sender SWS avoidance: at least half the largest window the peer offered. */
      (tp.max_sndwnd > 0 && len >= tp.max_sndwnd / 2))) {
      send = true;
    } else if ((tp.t_flags & TF_ACKNOW) !== 0) {
      send = true;
    } else if (rcvwin > 0 && TCPS_HAVERCVDSYN(tp.t_state)) {
      /* A window update worth sending (RFC 9293 3.8.6.2.2): two segments, or half the buffer. */
      const adv = Math.min(rcvwin, TCP_MAXWIN << tp.rcv_scale) - SEQ_SUB(tp.rcv_adv, tp.rcv_nxt);
      if (adv >= 2 * tp.t_ourmss || 2 * adv >= so.so_rcv.sb_hiwat) send = true;
    }
    if (!send && (flags & TH_FIN) !== 0 && ((tp.t_flags & TF_SENTFIN) === 0 || tp.snd_nxt === tp.snd_una)) send = true;
    if (!send) {
      /*
       * Data waits but nothing may go: with no retransmission pending,
       * the persist timer makes sure a closed window gets probed.
       */
      if (sb.sb_cc > 0 && tp.t_state >= TCPS_ESTABLISHED && !TCP_TIMER_ISARMED(tp, TCPT_REXMT) &&
          !TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) {
        if (tp.snd_max !== tp.snd_una) {
          /* Data in flight must always have a retransmission pending. */
          TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
        } else {
          tp.t_rxtshift = 0;
          tcp_setpersist(tp);
        }
      }
      return 0;
    }

    /* ------------------------------------------------------- send */
    const noopt = (tp.t_flags & TF_NOOPT) !== 0;
    let optlen = 0;
    let mss = 0;
    let wscale = -1;
    let sackok = false;
    let tsopt = false;
    if ((flags & TH_SYN) !== 0 && !noopt) {
      tp.t_ourmss = tcp_mss_to_advertise(ts, tcp_route_ifp(tp), tp);
      mss = tp.t_ourmss;
      optlen += TCPOLEN_MAXSEG;
      if ((tp.t_flags & TF_REQ_SCALE) !== 0 && ((flags & TH_ACK) === 0 || (tp.t_flags & TF_RCVD_SCALE) !== 0)) {
        wscale = tp.request_r_scale;
        optlen += 4;
      }
      if (ts.tcp_do_sack !== 0 && ((flags & TH_ACK) === 0 || (tp.t_flags & TF_SACK_PERMIT) !== 0)) {
        sackok = true;
        optlen += 4;
      }
    }
    if ((tp.t_flags & (TF_REQ_TSTMP | TF_NOOPT)) === TF_REQ_TSTMP && (flags & TH_RST) === 0 &&
        ((flags & (TH_SYN | TH_ACK)) === TH_SYN || (tp.t_flags & TF_RCVD_TSTMP) !== 0)) {
      tsopt = true;
      optlen += 12;
    }
    let nsack = 0;
    if (TCP_SACK_ENABLED(tp) && (flags & TH_SYN) === 0 && !noopt) {
      nsack = tcp_sack_numblks(tp);
      const room = Math.floor((40 - optlen - 4) / TCPOLEN_SACK);
      if (nsack > room) nsack = room;
      if (nsack > 0) optlen += 4 + nsack * TCPOLEN_SACK;
    }
    /* Options beyond those every segment carries come out of the data (RFC 9293 3.7.1). */
    const extra = optlen - tcp_optlen(tp);
    if (extra > 0 && len > txsegsize - extra && (flags & TH_SYN) === 0) {
      len = Math.max(0, txsegsize - extra);
      sendalot = true;
      flags &= ~TH_FIN;
    }
    const hdrlen = IP_HDR_LEN + TCP_HDR_LEN + optlen;

    /* Statistics, as NetBSD counts them. */
    const retransmit = sack_rxmit ? (flags & TH_SYN) === 0 : SEQ_LT(tp.snd_nxt, tp.snd_max);
    if (len > 0) {
      if (tp.t_force && len === 1) stat.tcps_sndprobe++;
      else if (retransmit) {
        stat.tcps_sndrexmitpack++;
        stat.tcps_sndrexmitbyte += len;
        if (sack_rxmit) {
          stat.tcps_sack_rexmits++;
          stat.tcps_sack_rexmit_bytes += len;
        }
      } else {
        stat.tcps_sndpack++;
        stat.tcps_sndbyte += len;
      }
    } else if ((tp.t_flags & TF_ACKNOW) !== 0 && (flags & (TH_SYN | TH_FIN | TH_RST)) === 0) {
      stat.tcps_sndacks++;
    } else if ((flags & (TH_SYN | TH_FIN | TH_RST)) !== 0) {
      stat.tcps_sndctrl++;
    } else if (SEQ_GT(tp.snd_up, tp.snd_una)) {
      stat.tcps_sndurg++;
    } else {
      stat.tcps_sndwinup++;
    }

    const ctx = net_of(tp.t_kernel).mb;
    const m = m_gethdr(ctx, M_DONTWAIT, MT_HEADER);
    if (m === null) {
      stat.tcps_selfquench++;
      tcp_output_enobufs(tp);
      return 0;
    }
    m_reserve(m, ctx.max_linkhdr);
    m.m_len = hdrlen;
    if (len > 0) {
      if (len <= MHLEN - ctx.max_linkhdr - hdrlen) {
        m_copydata(sb.sb_mb!, off, len, m.m_buf, m.m_data + hdrlen);
        m.m_len += len;
      } else {
        const d = m_copym(sb.sb_mb!, off, len, M_DONTWAIT);
        if (d === null) {
          m_freem(m);
          stat.tcps_selfquench++;
          tcp_output_enobufs(tp);
          return 0;
        }
        for (let n: Mbuf | null = d; n !== null; n = n.m_next) n.m_flags &= ~M_PKTHDR;
        m.m_next = d;
      }
      /* PUSH when this segment empties the buffer (RFC 9293 3.9.1.2). */
      if (off + len === sb.sb_cc) flags |= TH_PUSH;
    }
    m.m_pkthdr.len = hdrlen + len;

    /* The sequence number: snd_nxt, but a bare ACK carries snd_max (4.4BSD's rule, persist aside). */
    let seq: number;
    if (sack_rxmit) seq = sack_seq;
    else if (len > 0 || (flags & (TH_SYN | TH_FIN)) !== 0 || TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) seq = tp.snd_nxt;
    else seq = tp.snd_max;
    /* A FIN sent again (retransmission): it sits one below snd_max. */
    if (!sack_rxmit && (flags & TH_FIN) !== 0 && (tp.t_flags & TF_SENTFIN) !== 0 && tp.snd_nxt === tp.snd_max && len === 0) {
      tp.snd_nxt = SEQ_ADD(tp.snd_nxt, -1);
      seq = tp.snd_nxt;
    }
    /* The window field: unscaled on a SYN (RFC 7323 2.2). */
    let win = rcvwin;
    let thwin = (flags & TH_SYN) !== 0 ? Math.min(win, TCP_MAXWIN) : win >>> tp.rcv_scale;
    if (thwin > TCP_MAXWIN) thwin = TCP_MAXWIN;
    if ((flags & TH_SYN) !== 0) win = thwin;
    if ((flags & TH_RST) !== 0) {
      thwin = 0;
      win = 0;
    }

    const b = m.m_buf;
    const ip = m.m_data;
    b[ip] = 0x45;
    b[ip + 1] = inp.inp_ip_tos;
    wr16(b, ip + IP_LEN_OFF, hdrlen + len);
    wr16(b, ip + 4, 0);
    /* Path MTU discovery (RFC 1191, net.inet.ip.mtudisc 1): DF on every segment. */
    wr16(b, ip + 6, IP_DF);
    b[ip + 8] = inp.inp_ip_ttl;
    b[ip + 9] = IPPROTO_TCP;
    wr16(b, ip + 10, 0);
    in_addr_write(b, ip + IP_SRC_OFF, inp.inp_laddr);
    in_addr_write(b, ip + IP_DST_OFF, inp.inp_faddr);
    const th = ip + IP_HDR_LEN;
    const ack = (flags & TH_ACK) !== 0 ? tp.rcv_nxt : 0;
    let urp = 0;
    if (SEQ_GT(tp.snd_up, tp.snd_nxt)) {
      urp = Math.min(SEQ_SUB(tp.snd_up, tp.snd_nxt), 0xffff);
      flags |= TH_URG;
    }
    tcp_hdr_write(b, th, inp.inp_lport, inp.inp_fport, seq, ack, TCP_HDR_LEN + optlen, flags, thwin, urp);
    let o = th + TCP_HDR_LEN;
    if (mss > 0) {
      b[o] = TCPOPT_MAXSEG;
      b[o + 1] = TCPOLEN_MAXSEG;
      wr16(b, o + 2, mss);
      o += TCPOLEN_MAXSEG;
    }
    if (wscale >= 0) {
      b[o] = TCPOPT_NOP;
      b[o + 1] = TCPOPT_WINDOW;
      b[o + 2] = TCPOLEN_WINDOW;
      b[o + 3] = wscale;
      o += 4;
    }
    if (sackok) {
      b[o] = TCPOPT_NOP;
      b[o + 1] = TCPOPT_NOP;
      b[o + 2] = TCPOPT_SACK_PERMITTED;
      b[o + 3] = TCPOLEN_SACK_PERMITTED;
      o += 4;
    }
    if (tsopt) {
      b[o] = TCPOPT_NOP;
      b[o + 1] = TCPOPT_NOP;
      b[o + 2] = TCPOPT_TIMESTAMP;
      b[o + 3] = TCPOLEN_TIMESTAMP;
      wr32(b, o + 4, TCP_TIMESTAMP(ts, tp));
      wr32(b, o + 8, (flags & TH_ACK) !== 0 ? tp.ts_recent : 0);
      o += 12;
    }
    if (nsack > 0) {
      b[o] = TCPOPT_NOP;
      b[o + 1] = TCPOPT_NOP;
      b[o + 2] = TCPOPT_SACK;
      b[o + 3] = 2 + nsack * TCPOLEN_SACK;
      tcp_sack_fill(tp, b, o + 4, nsack);
      o += 4 + nsack * TCPOLEN_SACK;
    }
    wr16(b, th + 16, in4_cksum_phdr(inp.inp_laddr, inp.inp_faddr, TCP_HDR_LEN + optlen + len, IPPROTO_TCP));
    m.m_pkthdr.csum_flags = M_CSUM_TCPv4;
    m.m_pkthdr.csum_data = 16;

    /* Advance the send variables and the timers (RFC 6298 5.1). */
    const ostate = tp.t_state;
    if (sack_rxmit) {
      if ((flags & TH_SYN) === 0) {
        const p = tcp_sack_output(tp);
        if (p !== null && p.rxmit === sack_seq) p.rxmit = SEQ_ADD(p.rxmit, len);
        tp.sack_bytes_rexmit += len;
      }
      if (!TCP_TIMER_ISARMED(tp, TCPT_REXMT)) TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
    } else if (!tp.t_force || !TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) {
      const startseq = tp.snd_nxt;
      if ((flags & TH_SYN) !== 0) tp.snd_nxt = SEQ_ADD(tp.snd_nxt, 1);
      if ((flags & TH_FIN) !== 0) {
        tp.snd_nxt = SEQ_ADD(tp.snd_nxt, 1);
        tp.t_flags |= TF_SENTFIN;
      }
      tp.snd_nxt = SEQ_ADD(tp.snd_nxt, len);
      if (SEQ_GT(tp.snd_nxt, tp.snd_max)) {
        tp.snd_max = tp.snd_nxt;
        /* Time this segment unless one is being timed (Karn: never a retransmission). */
        if (!tp.t_rtton) {
          tp.t_rtton = true;
          tp.t_rtttime = tcp_now(ts);
          tp.t_rtseq = startseq;
          stat.tcps_segstimed++;
        }
      }
      if (!TCP_TIMER_ISARMED(tp, TCPT_REXMT) && tp.snd_nxt !== tp.snd_una) {
        if (TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) {
          TCP_TIMER_DISARM(tp, TCPT_PERSIST);
          tp.t_rxtshift = 0;
        }
        TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
      }
    } else if (SEQ_GT(SEQ_ADD(tp.snd_nxt, len), tp.snd_max)) {
      /* A zero-window probe: the byte is outstanding, snd_nxt stays. */
      tp.snd_max = SEQ_ADD(tp.snd_nxt, len);
    }

    tcp_trace(TA_OUTPUT, ostate, tp, seq, ack, flags, len, thwin);

    if (win > 0 && SEQ_GT(SEQ_ADD(tp.rcv_nxt, win), tp.rcv_adv)) tp.rcv_adv = SEQ_ADD(tp.rcv_nxt, win);
    if ((flags & TH_ACK) !== 0) tp.last_ack_sent = tp.rcv_nxt;
    tp.t_flags &= ~TF_ACKNOW;
    tp.t_unacked = 0;
    TCP_CLEAR_DELACK(tp);
    if (tp.rfbuf_on === false && TCPS_HAVERCVDSYN(tp.t_state)) {
      tp.rfbuf_on = true;
      tp.rfbuf_start = tp.rcv_nxt;
      tp.rfbuf_edge = tp.rcv_adv;
    }
    stat.tcps_sndtotal++;

    const error = ip_output(m, 0, inp);
    if (error !== 0) {
      if (error === ENOBUFS) {
        stat.tcps_selfquench++;
        tcp_output_enobufs(tp);
        return 0;
      }
      if (error === EMSGSIZE) {
        /* The route's MTU shrank under us: re-derive the segment size and resend. */
        tcp_mtudisc(inp, 0);
        return 0;
      }
      if ((error === EHOSTUNREACH || error === ENETDOWN || error === ENETUNREACH || error === EHOSTDOWN) &&
          TCPS_HAVERCVDSYN(tp.t_state)) {
        tp.t_softerror = error;
        return 0;
      }
      return error;
    }
    if (!sendalot || tp.t_dead) return 0;
    if (tp.t_state === TCPS_SYN_SENT) return 0;
  }
}

/*
 * Out of mbufs: make sure something will try again (the retransmission
 * timer), and back off to one segment (NetBSD's tcp_quench on ENOBUFS).
 */
function tcp_output_enobufs(tp: Tcpcb): void {
  if (!TCP_TIMER_ISARMED(tp, TCPT_REXMT) && !TCP_TIMER_ISARMED(tp, TCPT_PERSIST)) {
    TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
  }
  if (tp.t_state >= TCPS_ESTABLISHED) tp.snd_cwnd = tp.t_segsz;
}
