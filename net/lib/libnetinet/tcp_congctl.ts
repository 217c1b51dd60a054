/*
 * tcp_congctl.ts: congestion control (NetBSD's netinet/tcp_congctl.c):
 * Reno (RFC 5681), NewReno (RFC 6582, the default) and CUBIC (RFC 9438),
 * selectable per kernel (net.inet.tcp.congctl.selected) and per socket
 * (TCP_CONGCTL), with Appropriate Byte Counting (RFC 3465,
 * net.inet.tcp.abc.*).
 *
 * Place in the packet path: tcp_input() calls the connection's algorithm
 * on every new ACK (newack: slow start and congestion avoidance), on the
 * third duplicate ACK (fast_retransmit), on ACKs during recovery
 * (fast_retransmit_newack), and tcp_timer_rexmt() on a timeout
 * (slow_retransmit).  Windows are in bytes.
 *
 * With SACK agreed, loss recovery takes its segments from the scoreboard
 * (tcp_sack.ts) instead of resending from snd_una: entering recovery only
 * sets the window and marks where new data starts (sack_newdata), and the
 * "pipe" rule in tcp_output() decides what may be sent (RFC 6675).
 *
 * Where NetBSD departs from the RFCs and we follow the RFC (said at the
 * rule): ssthresh after a loss is half the data in flight (RFC 5681
 * equation 4), not half of min(cwnd, snd_wnd) as 4.4BSD and NetBSD compute
 * it; CUBIC's window uses RFC 9438's constants (C = 0.4, beta = 0.7) with
 * fast convergence.
 */

import { TCP_MAXWIN } from './tcp.ts';
import { SEQ_GT, SEQ_LT, SEQ_SUB } from './tcp_seq.ts';
import { TCP_TIMER_DISARM } from './tcp_timer.ts';
import {
  TCPT_REXMT, TCP_SACK_ENABLED, tcp_of, type TcpCongctl, type Tcpcb, type TcpState,
} from './tcp_var.ts';
import { tcp_output } from './tcp_output.ts';
import { tcp_sack_hole_first, tcp_sack_pipe } from './tcp_sack.ts';

/** Names net.inet.tcp.congctl.available lists, in order. */
export const TCP_CONGCTL_NAMES = ['reno', 'newreno', 'cubic'] as const;

/* ---------------------------------------------------------- common */

/** Bytes in flight (RFC 5681 FlightSize). */
function flightsize(tp: Tcpcb): number {
  return SEQ_SUB(tp.snd_max, tp.snd_una);
}

/**
 * The Reno cut (RFC 5681 3.1 equation 4): ssthresh = max(FlightSize / 2,
 * 2 * SMSS), in whole segments; recover = snd_max (RFC 6582 3.2 step 2).
 */
function reno_congestion_exp(tp: Tcpcb): void {
  const segs = Math.max(2, Math.floor(flightsize(tp) / 2 / tp.t_segsz));
  tp.snd_ssthresh = segs * tp.t_segsz;
  tp.snd_recover = tp.snd_max;
}

/** The largest window the peer's scale lets us use. */
function cwnd_max(tp: Tcpcb): number {
  return TCP_MAXWIN << tp.snd_scale;
}

/**
 * Enter fast recovery after the threshold of duplicate ACKs.  ssthresh has
 * been set by the algorithm.  Without SACK: resend the segment at snd_una
 * with a one-segment window, then inflate the window by the duplicates
 * that left the network (RFC 5681 3.2 steps 2-4).  With SACK: the window
 * is ssthresh and the scoreboard drives retransmission (RFC 6675 5).
 */
function common_enter_recovery(tp: Tcpcb, ack: number): void {
  const ts = tcp_of(tp.t_kernel);
  tp.t_partialacks = 0;
  tp.t_rtttime = 0;
  tp.t_rtton = false;
  if (TCP_SACK_ENABLED(tp)) {
    /*
     * RFC 6675 5 (4.3): the first segment presumed lost goes out at once,
     * whatever the pipe says; after that the pipe rule paces the rest.
     * The retransmission timer keeps running.
     */
    ts.tcpstat.tcps_sack_recovery_episode++;
    tp.sack_newdata = tp.snd_nxt;
    tp.sack_bytes_rexmit = 0;
    if (tp.snd_holes === null && SEQ_LT(tp.snd_una, tp.snd_max)) {
      /* No SACK block yet (plain duplicate ACKs): the hole is the first segment. */
      tcp_sack_hole_first(tp);
    }
    tp.snd_cwnd = tcp_sack_pipe(tp) + tp.t_segsz;
    tcp_output(tp);
    tp.snd_cwnd = tp.snd_ssthresh;
    return;
  }
  TCP_TIMER_DISARM(tp, TCPT_REXMT);
  const onxt = tp.snd_nxt;
  tp.snd_nxt = ack;
  tp.snd_cwnd = tp.t_segsz;
  tcp_output(tp);
  tp.snd_cwnd = tp.snd_ssthresh + tp.t_segsz * tp.t_dupacks;
  if (SEQ_GT(onxt, tp.snd_nxt)) tp.snd_nxt = onxt;
}

/**
 * Slow start and congestion avoidance on a new ACK outside recovery
 * (RFC 5681 3.1), counting bytes (RFC 3465): in slow start cwnd grows by
 * the bytes acked, at most L = 2 * SMSS (abc.aggressive, and not while
 * resending after a timeout) or 1 * SMSS; in congestion avoidance by one
 * SMSS each time a whole cwnd of bytes has been acked.  Without ABC, the
 * classic per-ACK rules (SMSS, and SMSS * SMSS / cwnd).
 */
function reno_newack(tp: Tcpcb, _ack: number, acked: number): void {
  if (tp.t_partialacks >= 0) return;
  const ts = tcp_of(tp.t_kernel);
  const cw = tp.snd_cwnd;
  let incr = tp.t_segsz;
  if (ts.tcp_do_abc !== 0) {
    if (cw < tp.snd_ssthresh) {
      const lim = ts.tcp_abc_aggressive !== 0 && tp.snd_nxt === tp.snd_max ? 2 * tp.t_segsz : tp.t_segsz;
      incr = Math.min(acked, lim);
    } else {
      tp.t_bytes_acked += acked;
      if (tp.t_bytes_acked >= cw) {
        tp.t_bytes_acked -= cw;
      } else {
        incr = 0;
      }
    }
  } else if (cw >= tp.snd_ssthresh) {
    incr = Math.max(1, Math.floor((incr * incr) / cw));
  }
  tp.snd_cwnd = Math.min(cw + incr, cwnd_max(tp));
}

/** RFC 5681 3.1 after a timeout: ssthresh from the flight, cwnd one segment (the loss window). */
function reno_slow_retransmit(tp: Tcpcb): void {
  reno_congestion_exp(tp);
  tp.snd_cwnd = tp.t_segsz;
  tp.t_partialacks = -1;
  tp.t_dupacks = 0;
  tp.t_bytes_acked = 0;
}

/** ECN or source quench: the Reno cut without a retransmission (RFC 3168 6.1.2). */
function reno_cong_exp(tp: Tcpcb): void {
  reno_congestion_exp(tp);
  tp.snd_cwnd = tp.snd_ssthresh;
}

/* ------------------------------------------------------------ Reno */

/**
 * Reno's fast retransmit (RFC 5681 3.2).  Duplicate ACKs below snd_high
 * belong to data sent before the last timeout: no second cut for one loss
 * (RFC 6582 4.1, which NetBSD applies to Reno too).
 */
function reno_fast_retransmit(tp: Tcpcb, ack: number): number {
  if (SEQ_LT(ack, tp.snd_high)) {
    tp.t_dupacks = 0;
    return 1;
  }
  reno_congestion_exp(tp);
  common_enter_recovery(tp, ack);
  return 0;
}

/** Reno leaves recovery on the first new ACK, deflating cwnd to ssthresh (RFC 5681 3.2 step 6). */
function reno_fast_retransmit_newack(tp: Tcpcb, _ack: number): void {
  if (tp.t_partialacks < 0) return;
  if (tp.snd_cwnd > tp.snd_ssthresh) tp.snd_cwnd = tp.snd_ssthresh;
  tp.t_partialacks = -1;
  tp.t_dupacks = 0;
  tp.t_bytes_acked = 0;
  tcp_of(tp.t_kernel).sackops.tcp_free_sackholes(tp);
}

export const tcp_reno_ctl: TcpCongctl = {
  name: 'reno',
  fast_retransmit: reno_fast_retransmit,
  slow_retransmit: reno_slow_retransmit,
  fast_retransmit_newack: reno_fast_retransmit_newack,
  newack: reno_newack,
  cong_exp: reno_cong_exp,
};

/* --------------------------------------------------------- NewReno */

/**
 * NewReno's ACKs in recovery (RFC 6582 3.2).  A partial ACK (below
 * recover) means the next hole: resend the segment at the ACK, deflate
 * cwnd by the bytes acked and add one SMSS back (step 5); the timer is
 * re-armed for the first partial ACK only ("impatient" would be every
 * one).  With SACK the scoreboard finds the holes and only the window is
 * kept.  The ACK that covers recover ends recovery: cwnd = min(ssthresh,
 * FlightSize + SMSS) (step 3, option 1).
 */
function newreno_fast_retransmit_newack(tp: Tcpcb, ack: number): void {
  if (tp.t_partialacks < 0) return;
  if (SEQ_LT(ack, tp.snd_recover)) {
    const acked = SEQ_SUB(ack, tp.snd_una);
    if (TCP_SACK_ENABLED(tp)) {
      tp.t_partialacks++;
      return;
    }
    if (tp.t_partialacks++ === 0) TCP_TIMER_DISARM(tp, TCPT_REXMT);
    tp.t_rtttime = 0;
    tp.t_rtton = false;
    const onxt = tp.snd_nxt;
    const ocwnd = tp.snd_cwnd;
    tp.snd_nxt = ack;
    /* snd_una has not moved yet: one segment beyond the ACK. */
    tp.snd_cwnd = tp.t_segsz + acked;
    tcp_output(tp);
    tp.snd_cwnd = ocwnd;
    if (SEQ_GT(onxt, tp.snd_nxt)) tp.snd_nxt = onxt;
    tp.snd_cwnd = Math.max(tp.t_segsz, tp.snd_cwnd - acked + (acked >= tp.t_segsz ? tp.t_segsz : 0));
    return;
  }
  const flight = SEQ_SUB(tp.snd_max, ack);
  tp.snd_cwnd = Math.min(tp.snd_ssthresh, Math.max(flight, 0) + tp.t_segsz);
  tp.t_partialacks = -1;
  tp.t_dupacks = 0;
  tp.t_bytes_acked = 0;
  tcp_of(tp.t_kernel).sackops.tcp_free_sackholes(tp);
}

export const tcp_newreno_ctl: TcpCongctl = {
  name: 'newreno',
  fast_retransmit: reno_fast_retransmit,
  slow_retransmit: reno_slow_retransmit,
  fast_retransmit_newack: newreno_fast_retransmit_newack,
  newack: reno_newack,
  cong_exp: reno_cong_exp,
};

/* ----------------------------------------------------------- CUBIC */

/** RFC 9438 4.5: C = 0.4 segments / s^3. */
const CUBIC_C = 0.4;
/** RFC 9438 4.6: multiplicative decrease 0.7. */
const CUBIC_BETA = 0.7;
/** RFC 9438 4.3: the Reno-friendly additive increase, 3 * (1 - beta) / (1 + beta) segments per RTT. */
const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** Time for CUBIC's curve: milliseconds of uptime (virtual time on the sim host). */
function cubic_now_ms(tp: Tcpcb): number {
  return tp.t_kernel.uptimeNs() / 1e6;
}

/**
 * A congestion event (RFC 9438 4.6, 4.7): W_max is the window before the
 * cut, reduced further when the window stopped short of the previous W_max
 * (fast convergence); ssthresh = cwnd * beta; the curve restarts at the
 * next ACK in congestion avoidance.
 */
function cubic_congestion_exp(tp: Tcpcb): void {
  const cwnd_segs = Math.max(tp.snd_cwnd, tp.t_segsz) / tp.t_segsz;
  if (cwnd_segs < tp.snd_cubic_wmax_last) {
    tp.snd_cubic_wmax = (cwnd_segs * (1 + CUBIC_BETA)) / 2;
  } else {
    tp.snd_cubic_wmax = cwnd_segs;
  }
  tp.snd_cubic_wmax_last = cwnd_segs;
  tp.snd_ssthresh = Math.max(2 * tp.t_segsz, Math.floor(cwnd_segs * CUBIC_BETA) * tp.t_segsz);
  tp.snd_recover = tp.snd_max;
  tp.snd_cubic_ctime = 0;
}

function cubic_fast_retransmit(tp: Tcpcb, ack: number): number {
  if (SEQ_LT(ack, tp.snd_high)) {
    tp.t_dupacks = 0;
    return 1;
  }
  cubic_congestion_exp(tp);
  common_enter_recovery(tp, ack);
  return 0;
}

/** RFC 9438 4.8: a timeout cuts like a loss and restarts from one segment in slow start. */
function cubic_slow_retransmit(tp: Tcpcb): void {
  cubic_congestion_exp(tp);
  tp.snd_cwnd = tp.t_segsz;
  tp.t_partialacks = -1;
  tp.t_dupacks = 0;
  tp.t_bytes_acked = 0;
}

function cubic_cong_exp(tp: Tcpcb): void {
  cubic_congestion_exp(tp);
  tp.snd_cwnd = tp.snd_ssthresh;
}

/**
 * Window growth (RFC 9438 4.2-4.4).  Slow start as Reno (with ABC).  In
 * congestion avoidance: t seconds since the epoch began, W_cubic(t) =
 * C * (t - K)^3 + W_max with K = cbrt(W_max * (1 - beta) / C); the target
 * is W_cubic(t + RTT); cwnd grows by (target - cwnd) / cwnd segments per
 * segment acked, but never slower than the Reno-friendly estimate W_est,
 * which grows by alpha per window of bytes acked.
 */
function cubic_newack(tp: Tcpcb, _ack: number, acked: number): void {
  if (tp.t_partialacks >= 0) return;
  if (tp.snd_cwnd < tp.snd_ssthresh) {
    reno_newack(tp, _ack, acked);
    return;
  }
  const segsz = tp.t_segsz;
  const cwnd_segs = tp.snd_cwnd / segsz;
  const now = cubic_now_ms(tp);
  if (tp.snd_cubic_ctime === 0) {
    /* A new epoch (RFC 9438 4.2). */
    tp.snd_cubic_ctime = now > 0 ? now : 1;
    if (tp.snd_cubic_wmax < cwnd_segs) {
      tp.snd_cubic_k = 0;
      tp.snd_cubic_wmax = cwnd_segs;
    } else {
      tp.snd_cubic_k = Math.cbrt((tp.snd_cubic_wmax * (1 - CUBIC_BETA)) / CUBIC_C);
    }
    tp.snd_cubic_west = cwnd_segs;
  }
  const rtt_s = ((tp.t_srtt / 32) * 500) / 1000;
  const t = (now - tp.snd_cubic_ctime) / 1000 + rtt_s;
  const d = t - tp.snd_cubic_k;
  const wcubic = CUBIC_C * d * d * d + tp.snd_cubic_wmax;
  /* Reno-friendly region (4.3). */
  tp.snd_cubic_west += (CUBIC_ALPHA * acked) / segsz / cwnd_segs;
  let target = wcubic;
  if (target < cwnd_segs) target = cwnd_segs;
  if (target > 1.5 * cwnd_segs) target = 1.5 * cwnd_segs;
  let next = cwnd_segs + ((target - cwnd_segs) / cwnd_segs) * (acked / segsz);
  if (tp.snd_cubic_west > next) next = tp.snd_cubic_west;
  tp.snd_cwnd = Math.min(Math.max(tp.snd_cwnd, Math.floor(next * segsz)), cwnd_max(tp));
}

export const tcp_cubic_ctl: TcpCongctl = {
  name: 'cubic',
  fast_retransmit: cubic_fast_retransmit,
  slow_retransmit: cubic_slow_retransmit,
  fast_retransmit_newack: newreno_fast_retransmit_newack,
  newack: cubic_newack,
  cong_exp: cubic_cong_exp,
};

/* ------------------------------------------------------- selection */

/** tcp_congctl_init: register the algorithms of a kernel. */
export function tcp_congctl_init(ts: TcpState): void {
  ts.congctls.set('reno', tcp_reno_ctl);
  ts.congctls.set('newreno', tcp_newreno_ctl);
  ts.congctls.set('cubic', tcp_cubic_ctl);
}

/** The algorithm called name, or null. */
export function tcp_congctl_lookup(ts: TcpState, name: string): TcpCongctl | null {
  return ts.congctls.get(name) ?? null;
}

/** The kernel's selected algorithm (congctl.selected). */
export function tcp_congctl_default(ts: TcpState): TcpCongctl {
  return ts.congctls.get(ts.tcp_congctl_selected) ?? tcp_newreno_ctl;
}
