/*
 * tcp_timer.ts: the TCP timers (NetBSD's netinet/tcp_timer.c and
 * tcp_timer.h): retransmission (RFC 6298), persist (RFC 9293 3.8.6.1),
 * keepalive (RFC 9293 3.8.4), 2*MSL (TIME_WAIT, and the FIN_WAIT_2 idle
 * limit), and the delayed ACK.
 *
 * Place in the packet path: beside it.  tcp_output() and tcp_input() arm
 * and disarm the timers; when one fires, its callout runs the handler here
 * in softint (softclock) context, which takes softnet_lock, as NetBSD's
 * handlers do, and usually ends in tcp_output() or tcp_drop().
 *
 * Each tcpcb owns one callout per timer (t_timer[TCPT_*]) and one for the
 * delayed ACK, made once with the tcpcb; arming is callout_reset with the
 * handler and the tcpcb as argument (module functions, no closure).  Times
 * are kept in slow ticks of 1/PR_SLOWHZ = 500 ms, as NetBSD keeps them
 * (t_rxtcur, the keep* sysctls); TCP_TIMER_ARM converts to hz ticks.  The
 * delayed ACK alone is in hz ticks (net.inet.tcp.delack_ticks).
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { callout_pending, callout_reset, callout_stop } from '../../../librump/rumpkern/kern_timeout.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { ETIMEDOUT } from '../../../include/errno.ts';
import { SO_KEEPALIVE } from '../../../include/socket.ts';
import { PR_SLOWHZ } from './ip_var.ts';
import { TCPS_CLOSING, TCPS_TIME_WAIT, TCPS_HAVEESTABLISHED } from './tcp_fsm.ts';
import { SEQ_ADD } from './tcp_seq.ts';
import {
  TCPT_2MSL, TCPT_KEEP, TCPT_PERSIST, TCPT_REXMT, TF_ACKNOW, TF_DELACK, TF_SYN_REXMT,
  TCP_RTT_SHIFT, tcp_now, tcp_of, type Tcpcb, type TcpState,
} from './tcp_var.ts';
import { tcp_output } from './tcp_output.ts';
import { tcp_close, tcp_drop, tcp_respond } from './tcp_subr.ts';
import { tcp_trace_user } from './tcp_debug.ts';
import { TH_ACK } from './tcp.ts';

/* Times in slow ticks (tcp_timer.h). */
/** Maximum segment lifetime: 30 s (RFC 793's 2 minutes was never used by BSD). */
export const TCPTV_MSL = 30 * PR_SLOWHZ;
/** The assumed RTT before any sample (3 s): NetBSD's initial RTO is built from it. */
export const TCPTV_SRTTDFLT = 3 * PR_SLOWHZ;
/** RFC 6298 2.1: the RTO before any sample, 1 s. */
export const TCPTV_RTOBASE = 1 * PR_SLOWHZ;
/** RFC 6298 5.7: the RTO once data flows after a lost SYN or SYN-ACK, 3 s. */
export const TCPTV_RTOSYNLOSS = 3 * PR_SLOWHZ;
/** Persist interval bounds: 5 s .. 60 s. */
export const TCPTV_PERSMIN = 5 * PR_SLOWHZ;
export const TCPTV_PERSMAX = 60 * PR_SLOWHZ;
/** Connection-establishment limit (keepinit): 75 s. */
export const TCPTV_KEEP_INIT = 75 * PR_SLOWHZ;
/** Idle time before the first keepalive probe: 2 hours. */
export const TCPTV_KEEP_IDLE = 120 * 60 * PR_SLOWHZ;
/** Between keepalive probes: 75 s. */
export const TCPTV_KEEPINTVL = 75 * PR_SLOWHZ;
/** Unanswered probes before the connection is dropped. */
export const TCPTV_KEEPCNT = 8;
/** Smallest RTO (RFC 6298 2.4: 1 s). */
export const TCPTV_MIN = 1 * PR_SLOWHZ;
/** Largest RTO: 64 s. */
export const TCPTV_REXMTMAX = 64 * PR_SLOWHZ;
/** Retransmissions before the connection is dropped (ETIMEDOUT). */
export const TCP_MAXRXTSHIFT = 12;
/** Exponential backoff (RFC 6298 5.5), capped at 64 times. */
export const tcp_backoff: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 64, 64, 64, 64, 64, 64];
/** PAWS: a ts_recent older than 24 days is invalid (RFC 7323 5.5), in timestamp ticks. */
export const TCP_PAWS_IDLE = 24 * 24 * 60 * 60 * PR_SLOWHZ;

/** TCPT_RANGESET: value clamped to [tvmin, tvmax]. */
export function TCPT_RANGESET(value: number, tvmin: number, tvmax: number): number {
  if (value < tvmin) return tvmin;
  if (value > tvmax) return tvmax;
  return value;
}

/** Slow ticks as callout (hz) ticks. */
export function tcp_slow2hz(k: Kernel, nticks: number): number {
  return Math.max(1, Math.round((nticks * k.hz) / PR_SLOWHZ));
}

const timer_funcs: readonly ((arg: unknown) => void)[] = [
  tcp_timer_rexmt, tcp_timer_persist, tcp_timer_keep, tcp_timer_2msl,
];

/** TCP_TIMER_ARM: timer t of tp fires in nticks slow ticks. */
export function TCP_TIMER_ARM(tp: Tcpcb, t: number, nticks: number): void {
  callout_reset(tp.t_timer[t]!, tcp_slow2hz(tp.t_kernel, nticks), timer_funcs[t]!, tp);
}

export function TCP_TIMER_DISARM(tp: Tcpcb, t: number): void {
  callout_stop(tp.t_timer[t]!);
}

export function TCP_TIMER_ISARMED(tp: Tcpcb, t: number): boolean {
  return callout_pending(tp.t_timer[t]!);
}

/** tcp_canceltimers: stop every timer (and the delayed ACK). */
export function tcp_canceltimers(tp: Tcpcb): void {
  for (let i = 0; i < tp.t_timer.length; i++) callout_stop(tp.t_timer[i]!);
  TCP_CLEAR_DELACK(tp);
}

/** TCP_SET_DELACK: ACK within delack_ticks unless something sends first. */
export function TCP_SET_DELACK(tp: Tcpcb): void {
  if ((tp.t_flags & TF_DELACK) === 0) {
    tp.t_flags |= TF_DELACK;
    callout_reset(tp.t_delack_ch, tcp_of(tp.t_kernel).tcp_delack_ticks, tcp_delack, tp);
  }
}

export function TCP_CLEAR_DELACK(tp: Tcpcb): void {
  if ((tp.t_flags & TF_DELACK) !== 0) {
    tp.t_flags &= ~TF_DELACK;
    callout_stop(tp.t_delack_ch);
  }
}

/** TCP_REXMTVAL: SRTT + max(G, 4 * RTTVAR) in slow ticks (RFC 6298 2.3), G = 1 tick. */
export function TCP_REXMTVAL(tp: Tcpcb): number {
  return (tp.t_srtt >> TCP_RTT_SHIFT) + Math.max(1, tp.t_rttvar >> 2);
}

/* Run a timer handler under softnet_lock, unless the tcpcb died meanwhile. */
function timer_enter(tp: Tcpcb): boolean {
  if (tp.t_dead) return false;
  mutex_enter(net_of(tp.t_kernel).softnet_lock);
  return true;
}

function timer_exit(tp: Tcpcb): void {
  mutex_exit(net_of(tp.t_kernel).softnet_lock);
}

/** The delayed-ACK timer: send the ACK now (tcps_delack). */
export function tcp_delack(arg: unknown): void {
  const tp = arg as Tcpcb;
  if (!timer_enter(tp)) return;
  try {
    tp.t_flags &= ~TF_DELACK;
    tp.t_flags |= TF_ACKNOW;
    tcp_of(tp.t_kernel).tcpstat.tcps_delack++;
    tcp_output(tp);
  } finally {
    timer_exit(tp);
  }
}

/**
 * tcp_setpersist: arm the persist timer for the next zero-window probe,
 * backed off like the RTO but within 5 .. 60 s (RFC 9293 3.8.6.1; the RTO
 * timer must not be running).
 */
export function tcp_setpersist(tp: Tcpcb): void {
  const nticks = TCPT_RANGESET(tcp_rto(tp) * tcp_backoff[tp.t_rxtshift]!, TCPTV_PERSMIN, TCPTV_PERSMAX);
  TCP_TIMER_ARM(tp, TCPT_PERSIST, nticks);
  if (tp.t_rxtshift < TCP_MAXRXTSHIFT) tp.t_rxtshift++;
}

/**
 * Retransmission timeout (RFC 6298 5.4-5.7).  Back off, drop after
 * TCP_MAXRXTSHIFT retransmissions (ETIMEDOUT, or the soft error an ICMP
 * message left), forget the RTT estimate after several (its variance is
 * kept), stop timing the segment (Karn), and go back to snd_una: the
 * congestion-control module shrinks the window (RFC 5681 3.1: one segment,
 * ssthresh half the flight).
 */
export function tcp_timer_rexmt(arg: unknown): void {
  const tp = arg as Tcpcb;
  if (!timer_enter(tp)) return;
  try {
    tcp_timer_rexmt_locked(tp);
  } finally {
    timer_exit(tp);
  }
}

function tcp_timer_rexmt_locked(tp: Tcpcb): void {
  const ts = tcp_of(tp.t_kernel);
  const ostate = tp.t_state;
  if (++tp.t_rxtshift > TCP_MAXRXTSHIFT) {
    tp.t_rxtshift = TCP_MAXRXTSHIFT;
    ts.tcpstat.tcps_timeoutdrop++;
    tcp_drop(tp, tp.t_softerror !== 0 ? tp.t_softerror : ETIMEDOUT);
    return;
  }
  ts.tcpstat.tcps_rexmttimeo++;
  /* RFC 6298 5.5/5.6: back the timer off. */
  tp.t_rxtcur = TCPT_RANGESET(tcp_rto(tp) * tcp_backoff[tp.t_rxtshift]!, tp.t_rttmin, TCPTV_REXMTMAX);
  TCP_TIMER_ARM(tp, TCPT_REXMT, tp.t_rxtcur);
  /*
   * After several backoffs the estimate is probably stale: fold SRTT into
   * RTTVAR and start measuring afresh (4.4BSD; RFC 6298 5.7 allows it).
   */
  if (tp.t_rxtshift > TCP_MAXRXTSHIFT / 4) {
    tp.t_rttvar += tp.t_srtt >> 1;
    tp.t_srtt = 0;
  }
  /* A lost SYN: the window after establishment is one segment (RFC 5681 3.1, NetBSD TF_SYN_REXMT). */
  if (!TCPS_HAVEESTABLISHED(tp.t_state)) tp.t_flags |= TF_SYN_REXMT;
  tp.snd_nxt = tp.snd_una;
  tp.snd_high = tp.snd_max;
  /* Karn: the retransmitted segment is not timed. */
  tp.t_rtttime = 0;
  tp.t_rtton = false;
  tp.t_dupacks = 0;
  tp.t_partialacks = -1;
  /* The SACK scoreboard is no longer trusted after a timeout (RFC 6675 5.1). */
  tp.t_sack.tcp_free_sackholes(tp);
  tp.t_congctl.slow_retransmit(tp);
  tcp_trace_user(tp, ostate, 'rexmt');
  tcp_output(tp);
}

/** The base RTO in slow ticks (before backoff): from the estimate, else 1 s (3 s after a SYN loss). */
export function tcp_rto(tp: Tcpcb): number {
  if (tp.t_srtt === 0 && tp.t_rttvar === 0) {
    return TCPT_RANGESET((tp.t_flags & TF_SYN_REXMT) !== 0 && TCPS_HAVEESTABLISHED(tp.t_state) ? TCPTV_RTOSYNLOSS : TCPTV_RTOBASE,
      tp.t_rttmin, TCPTV_REXMTMAX);
  }
  return TCPT_RANGESET(TCP_REXMTVAL(tp), tp.t_rttmin, TCPTV_REXMTMAX);
}

/**
 * Persist timeout: the peer advertises a zero window and we have data.
 * Send a one-byte probe (t_force); drop the connection only if the peer
 * stays silent longer than the retransmission limit allows (NetBSD's rule:
 * max idle >= tcp_maxpersistidle or the total backoff).
 */
export function tcp_timer_persist(arg: unknown): void {
  const tp = arg as Tcpcb;
  if (!timer_enter(tp)) return;
  try {
    const ts = tcp_of(tp.t_kernel);
    ts.tcpstat.tcps_persisttimeo++;
    const idle = tcp_now(ts) - tp.t_rcvtime;
    if (tp.t_rxtshift === TCP_MAXRXTSHIFT && (idle >= ts.tcp_maxpersistidle || idle >= tcp_rto(tp) * 511)) {
      ts.tcpstat.tcps_persistdrops++;
      tcp_drop(tp, ETIMEDOUT);
      return;
    }
    tcp_setpersist(tp);
    tp.t_force = true;
    tcp_output(tp);
    tp.t_force = false;
  } finally {
    timer_exit(tp);
  }
}

/**
 * Keepalive timer.  While the handshake runs it is the connection-
 * establishment limit (keepinit): fire = ETIMEDOUT.  On an established
 * connection with SO_KEEPALIVE it probes after keepidle of silence, every
 * keepintvl, and drops after keepcnt unanswered probes (RFC 9293 3.8.4:
 * the probe is an ACK with seq snd_una - 1, outside the window, so the
 * peer must answer with an ACK; compat_42 adds the byte old 4.2BSD
 * peers needed).
 */
export function tcp_timer_keep(arg: unknown): void {
  const tp = arg as Tcpcb;
  if (!timer_enter(tp)) return;
  try {
    const ts = tcp_of(tp.t_kernel);
    ts.tcpstat.tcps_keeptimeo++;
    if (!TCPS_HAVEESTABLISHED(tp.t_state)) {
      ts.tcpstat.tcps_keepdrops++;
      tcp_drop(tp, ETIMEDOUT);
      return;
    }
    const so = tp.t_inpcb.inp_socket;
    if ((so.so_options & SO_KEEPALIVE) !== 0 && tp.t_state <= TCPS_CLOSING) {
      /*
       * The timer is not re-armed for every segment received: it looks at
       * t_rcvtime when it fires.  Heard from within keepidle: wait for the
       * rest of it.  Silent for keepidle + keepcnt * keepintvl: drop.
       */
      const idle = tcp_now(ts) - tp.t_rcvtime;
      if (idle < tp.t_keepidle) {
        ts.tcpstat.tcps_keeptimeo--;
        TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepidle - idle);
        return;
      }
      if (tp.t_maxidle > 0 && idle >= tp.t_keepidle + tp.t_maxidle) {
        ts.tcpstat.tcps_keepdrops++;
        tcp_drop(tp, ETIMEDOUT);
        return;
      }
      ts.tcpstat.tcps_keepprobe++;
      const seq = SEQ_ADD(tp.snd_una, -1);
      const inp = tp.t_inpcb;
      tcp_respond(ts, tp, inp.inp_laddr, inp.inp_lport, inp.inp_faddr, inp.inp_fport, seq, tp.rcv_nxt, TH_ACK,
        ts.tcp_compat_42 !== 0 ? 1 : 0);
      TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepintvl);
    } else {
      TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepidle);
    }
  } finally {
    timer_exit(tp);
  }
}

/**
 * 2*MSL timer.  In TIME_WAIT it ends the connection.  In FIN_WAIT_2 after
 * the user closed it is the idle limit (t_maxidle = keepcnt * keepintvl):
 * while the peer has been heard from within t_maxidle, look again in
 * keepintvl; otherwise close.  (NetBSD tests idle <= t_maxidle, so a peer
 * silent since the timer was armed still earns one more keepintvl; the
 * limit here is exactly t_maxidle.)
 */
export function tcp_timer_2msl(arg: unknown): void {
  const tp = arg as Tcpcb;
  if (!timer_enter(tp)) return;
  try {
    const ts = tcp_of(tp.t_kernel);
    if (tp.t_state !== TCPS_TIME_WAIT && tp.t_maxidle > 0 && tcp_now(ts) - tp.t_rcvtime < tp.t_maxidle) {
      TCP_TIMER_ARM(tp, TCPT_2MSL, tp.t_keepintvl);
    } else {
      tcp_trace_user(tp, tp.t_state, '2msl');
      tcp_close(tp);
    }
  } finally {
    timer_exit(tp);
  }
}

/** Per-kernel defaults for a new tcpcb's timers, from the sysctls. */
export function tcp_timer_defaults(ts: TcpState, tp: Tcpcb): void {
  tp.t_keepinit = ts.tcp_keepinit;
  tp.t_keepidle = ts.tcp_keepidle;
  tp.t_keepintvl = ts.tcp_keepintvl;
  tp.t_keepcnt = ts.tcp_keepcnt;
  tp.t_maxidle = tp.t_keepcnt * tp.t_keepintvl;
}
