/*
 * tcp_var.ts: TCP protocol state (NetBSD's netinet/tcp_var.h): the
 * connection block (Tcpcb), the statistics (Tcpstat, NetBSD's counter
 * names), the per-kernel TCP state with the net.inet.tcp tunables, the
 * TCP-level socket options, and the small reusable objects the input path
 * works in.
 *
 * Place in the packet path: every TCP function reads and writes these.
 * One TcpState hangs off each kernel (k.tcp, made by the netinet
 * component); nothing here is module-level state.  A Tcpcb belongs to one
 * Inpcb (inp_ppcb) in the kernel's tcbtable, from socket(2) or sonewconn
 * until tcp_close().
 *
 * Sequence numbers are uint32 numbers compared with tcp_seq.ts; windows
 * and byte counts are plain non-negative numbers.  Times: t_rcvtime,
 * t_rtttime, ts_recent_age and the keep* values are slow ticks of the
 * timestamp clock (tcp_now, PR_SLOWHZ = 2 Hz, NetBSD's clock); t_srtt is
 * 1/32 slow tick (TCP_RTT_SHIFT) and t_rttvar 1/16 (TCP_RTTVAR_SHIFT), as
 * NetBSD keeps them.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { Callout, callout_init, CALLOUT_MPSAFE } from '../../../librump/rumpkern/kern_timeout.ts';
import type { Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import type { Inpcb, Inpcbtable } from './in_pcb.ts';
import type { InetState } from './in_var.ts';
import { PR_SLOWHZ } from './ip_var.ts';
import { TCPS_CLOSED } from './tcp_fsm.ts';
import { TCP_MSS } from './tcp.ts';
import { TcpIss } from './tcp_seq.ts';
import { SynCache, TCP_SYN_BUCKET_LIMIT, TCP_SYN_CACHE_LIMIT } from './tcp_syncache.ts';

/* ------------------------------------------------ socket options (tcp.h) */

/** Send small segments at once: no Nagle (RFC 896). */
export const TCP_NODELAY = 1;
/** Largest segment to send (and to advertise). */
export const TCP_MAXSEG = 2;
/** Idle time before keepalive probes, in seconds. */
export const TCP_KEEPIDLE = 3;
/** Time between keepalive probes, in seconds. */
export const TCP_KEEPINTVL = 5;
/** Keepalive probes before the connection is dropped. */
export const TCP_KEEPCNT = 6;
/** Connection-establishment limit, in seconds. */
export const TCP_KEEPINIT = 7;
/** Connection information (struct tcp_info subset). */
export const TCP_INFO = 9;
/** RFC 2385 signatures (not implemented: ENOPROTOOPT). */
export const TCP_MD5SIG = 0x10;
/** The congestion-control algorithm of this connection, by name. */
export const TCP_CONGCTL = 0x20;

/* ------------------------------------------------------------- t_flags */

export const TF_ACKNOW = 0x00000001;
export const TF_DELACK = 0x00000002;
export const TF_NODELAY = 0x00000004;
export const TF_NOOPT = 0x00000008;
export const TF_REQ_SCALE = 0x00000020;
export const TF_RCVD_SCALE = 0x00000040;
export const TF_REQ_TSTMP = 0x00000080;
export const TF_RCVD_TSTMP = 0x00000100;
export const TF_SACK_PERMIT = 0x00000200;
export const TF_SYN_REXMT = 0x00000400;
export const TF_WILL_SACK = 0x00000800;
export const TF_REASSEMBLING = 0x00001000;
export const TF_DEAD = 0x00002000;
export const TF_PMTUD_PEND = 0x00004000;
/** Our FIN has been sent (4.4BSD's TF_SENTFIN). */
export const TF_SENTFIN = 0x00000010;
export const TF_SIGNATURE = 0x00400000;

/* Timer indices (tcp_timer.h). */
export const TCPT_REXMT = 0;
export const TCPT_PERSIST = 1;
export const TCPT_KEEP = 2;
export const TCPT_2MSL = 3;
export const TCPT_NTIMERS = 4;
export const tcptimers: readonly string[] = ['REXMT', 'PERSIST', 'KEEP', '2MSL'];

/** SRTT is kept in 1/32 slow ticks. */
export const TCP_RTT_SHIFT = 5;
/** RTTVAR is kept in 1/16 slow ticks. */
export const TCP_RTTVAR_SHIFT = 4;

/** Duplicate ACKs that trigger fast retransmit (RFC 5681 3.2). */
export const tcprexmtthresh = 3;
/** Largest number of SACK blocks we send (RFC 2018: 3 with timestamps). */
export const TCP_SACK_MAX = 3;

/* Trace ring actions (tcp_debug.h). */
export const TA_INPUT = 0;
export const TA_OUTPUT = 1;
export const TA_USER = 2;
export const TA_RESPOND = 3;
export const TA_DROP = 4;
export const tanames: readonly string[] = ['input', 'output', 'user', 'respond', 'drop'];

/** The largest initial window for each init_win value (NetBSD's tcp_init_win_max). */
export const tcp_init_win_max: readonly number[] = [1460, 1460, 2920, 2920, 4380, 7300, 8760, 10220, 11680, 13140, 14600];

/* ------------------------------------------------------------- tcpstat */

/** TCP statistics (struct tcpstat), net.inet.tcp.stats. */
export class Tcpstat {
  tcps_connattempt = 0;
  tcps_accepts = 0;
  tcps_connects = 0;
  tcps_drops = 0;
  tcps_conndrops = 0;
  tcps_closed = 0;
  tcps_segstimed = 0;
  tcps_rttupdated = 0;
  tcps_delack = 0;
  tcps_timeoutdrop = 0;
  tcps_rexmttimeo = 0;
  tcps_persisttimeo = 0;
  tcps_keeptimeo = 0;
  tcps_keepprobe = 0;
  tcps_keepdrops = 0;
  tcps_persistdrops = 0;
  tcps_connsdrained = 0;
  tcps_pmtublackhole = 0;
  tcps_sndtotal = 0;
  tcps_sndpack = 0;
  tcps_sndbyte = 0;
  tcps_sndrexmitpack = 0;
  tcps_sndrexmitbyte = 0;
  tcps_sndacks = 0;
  tcps_sndprobe = 0;
  tcps_sndurg = 0;
  tcps_sndwinup = 0;
  tcps_sndctrl = 0;
  tcps_rcvtotal = 0;
  tcps_rcvpack = 0;
  tcps_rcvbyte = 0;
  tcps_rcvbadsum = 0;
  tcps_rcvbadoff = 0;
  tcps_rcvmemdrop = 0;
  tcps_rcvshort = 0;
  tcps_rcvduppack = 0;
  tcps_rcvdupbyte = 0;
  tcps_rcvpartduppack = 0;
  tcps_rcvpartdupbyte = 0;
  tcps_rcvoopack = 0;
  tcps_rcvoobyte = 0;
  tcps_rcvpackafterwin = 0;
  tcps_rcvbyteafterwin = 0;
  tcps_rcvafterclose = 0;
  tcps_rcvwinprobe = 0;
  tcps_rcvdupack = 0;
  tcps_rcvacktoomuch = 0;
  tcps_rcvackpack = 0;
  tcps_rcvackbyte = 0;
  tcps_rcvwinupd = 0;
  tcps_pawsdrop = 0;
  tcps_predack = 0;
  tcps_preddat = 0;
  tcps_pcbhashmiss = 0;
  tcps_noport = 0;
  tcps_badsyn = 0;
  tcps_delayed_free = 0;
  tcps_sc_added = 0;
  tcps_sc_completed = 0;
  tcps_sc_timed_out = 0;
  tcps_sc_overflowed = 0;
  tcps_sc_reset = 0;
  tcps_sc_unreach = 0;
  tcps_sc_bucketoverflow = 0;
  tcps_sc_aborted = 0;
  tcps_sc_dupesyn = 0;
  tcps_sc_dropped = 0;
  tcps_sc_collisions = 0;
  tcps_sc_retransmitted = 0;
  tcps_sc_delayed_free = 0;
  tcps_selfquench = 0;
  tcps_badsig = 0;
  tcps_goodsig = 0;
  tcps_ecn_shs = 0;
  tcps_ecn_ce = 0;
  tcps_ecn_ect = 0;
  /*
   * Ours (NetBSD drops these without a counter, or has no such event):
   */
  /** SYNs dropped because the listen queue was full (sonewconn refused). */
  tcps_listendrop = 0;
  /** Segments addressed to a broadcast or multicast address. */
  tcps_rcvbcast = 0;
  /** Challenge ACKs sent (RFC 5961 3.2, 4.2, 5.2). */
  tcps_chalacks = 0;
  /** ACKs and RSTs suppressed by ackdropppslimit / rstppslimit. */
  tcps_ratelimited = 0;
  /** SACK loss-recovery episodes entered. */
  tcps_sack_recovery_episode = 0;
  /** Segments (and bytes) retransmitted from the SACK scoreboard. */
  tcps_sack_rexmits = 0;
  tcps_sack_rexmit_bytes = 0;
  /** D-SACK blocks sent (RFC 2883). */
  tcps_dsack_sent = 0;
  /** Out-of-order segments dropped because the reassembly queue was full. */
  tcps_rcvoopackdrop = 0;
}

/* net.inet.tcp MIB numbers (TCPCTL_*). */
export const TCPCTL_RFC1323 = 1;
export const TCPCTL_SENDSPACE = 2;
export const TCPCTL_RECVSPACE = 3;
export const TCPCTL_MSSDFLT = 4;
export const TCPCTL_SYN_CACHE_LIMIT = 5;
export const TCPCTL_SYN_BUCKET_LIMIT = 6;
export const TCPCTL_INIT_WIN = 8;
export const TCPCTL_MSS_IFMTU = 9;
export const TCPCTL_SACK = 10;
export const TCPCTL_WSCALE = 11;
export const TCPCTL_TSTAMP = 12;
export const TCPCTL_COMPAT_42 = 13;
export const TCPCTL_CWM = 14;
export const TCPCTL_CWM_BURSTSIZE = 15;
export const TCPCTL_ACK_ON_PUSH = 16;
export const TCPCTL_KEEPIDLE = 17;
export const TCPCTL_KEEPINTVL = 18;
export const TCPCTL_KEEPCNT = 19;
export const TCPCTL_SLOWHZ = 20;
export const TCPCTL_LOG_REFUSED = 22;
export const TCPCTL_RSTPPSLIMIT = 24;
export const TCPCTL_DELACK_TICKS = 25;
export const TCPCTL_INIT_WIN_LOCAL = 26;
export const TCPCTL_IDENT = 27;
export const TCPCTL_ACKDROPRATELIMIT = 28;
export const TCPCTL_LOOPBACKCKSUM = 29;
export const TCPCTL_STATS = 30;
export const TCPCTL_DEBUG = 31;
export const TCPCTL_DEBX = 32;
export const TCPCTL_DROP = 33;
export const TCPCTL_MSL = 34;

/* ------------------------------------------------------------- objects */

/**
 * Options of one received segment (struct tcp_opt_info, and the SACK
 * blocks tcp_dooptions found).  One per kernel, filled per segment.
 */
export class TcpOptInfo {
  ts_present = false;
  ts_val = 0;
  ts_ecr = 0;
  /** MSS option value, 0 if none. */
  maxseg = 0;
  /** Window-scale shift, -1 if no option. */
  wscale = -1;
  sack_permitted = false;
  /** SACK blocks: left/right edges, nsack of them. */
  readonly sack_left = new Uint32Array(4);
  readonly sack_right = new Uint32Array(4);
  nsack = 0;

  reset(): void {
    this.ts_present = false;
    this.ts_val = 0;
    this.ts_ecr = 0;
    this.maxseg = 0;
    this.wscale = -1;
    this.sack_permitted = false;
    this.nsack = 0;
  }
}

/** A segment waiting in the reassembly queue (NetBSD's ipqent for TCP). */
export class TcpQent {
  seq = 0;
  len = 0;
  /** TH_FIN if the segment carried a FIN. */
  flags = 0;
  /** The data (headers stripped). */
  m: Mbuf | null = null;
  next: TcpQent | null = null;
}

/** A hole in the SACK scoreboard (struct sackhole): [start, end) not SACKed, rxmit the next byte to resend. */
export class SackHole {
  start = 0;
  end = 0;
  rxmit = 0;
  next: SackHole | null = null;
}

/** A congestion-control algorithm (NetBSD's struct tcp_congctl, tcp_congctl.h). */
export interface TcpCongctl {
  readonly name: string;
  /** Three duplicate ACKs: enter fast retransmit / recovery. Returns 0 when handled. */
  fast_retransmit(tp: Tcpcb, ack: number): number;
  /** The retransmission timer fired. */
  slow_retransmit(tp: Tcpcb): void;
  /** A new ACK during fast recovery (a partial or the recovering ACK). */
  fast_retransmit_newack(tp: Tcpcb, ack: number): void;
  /** A new ACK outside recovery: grow the window. */
  newack(tp: Tcpcb, ack: number, acked: number): void;
  /** An explicit congestion signal (ECN, source quench): cut without retransmitting. */
  cong_exp(tp: Tcpcb): void;
}

/** One entry of the SO_DEBUG trace ring (struct tcp_debug, trpt's input). */
export class TcpDebug {
  /** Uptime in ms when recorded. */
  td_time = 0;
  /** TA_INPUT, TA_OUTPUT, TA_USER, TA_RESPOND, TA_DROP. */
  td_act = 0;
  /** State before and after. */
  td_ostate = 0;
  td_nstate = 0;
  /** The connection. */
  td_laddr = 0;
  td_lport = 0;
  td_faddr = 0;
  td_fport = 0;
  /** The segment (TA_INPUT/OUTPUT/RESPOND/DROP): seq, ack, flags, data length, window field. */
  th_seq = 0;
  th_ack = 0;
  th_flags = 0;
  th_len = 0;
  th_win = 0;
  /** The tcpcb after the event. */
  snd_una = 0;
  snd_nxt = 0;
  snd_max = 0;
  snd_wnd = 0;
  snd_cwnd = 0;
  snd_ssthresh = 0;
  rcv_nxt = 0;
  rcv_wnd = 0;
  t_rxtshift = 0;
  t_rxtcur = 0;
  t_srtt = 0;
  t_dupacks = 0;
  /** User request or timer name (TA_USER), else ''. */
  td_req = '';
}

/* ------------------------------------------------------------- tcpcb */

/** The TCP control block (struct tcpcb), one per connection. */
export class Tcpcb {
  t_state = TCPS_CLOSED;
  t_flags = 0;
  /** Set by tcp_close: timers that still fire find it and do nothing. */
  t_dead = false;
  readonly t_timer: Callout[];
  readonly t_delack_ch = new Callout();

  t_rxtshift = 0;
  /** Current retransmission timeout, slow ticks. */
  t_rxtcur = 0;
  t_dupacks = 0;
  /** -1 outside fast recovery, else partial ACKs seen in it (NewReno). */
  t_partialacks = -1;
  /** The peer's MSS (what we may send), our advertised MSS, and the segment size in use. */
  t_peermss = TCP_MSS;
  t_ourmss = TCP_MSS;
  t_segsz = TCP_MSS;
  /** TCP_MAXSEG: a user limit on the segment size (0 = none). */
  t_maxseg_user = 0;
  /** Path MTU learned from ICMP "need to fragment" (0 = the route's). */
  t_pmtud_mtu = 0;
  /** Forcing out a byte (persist probe, OOB). */
  t_force = false;

  /* Send sequence variables (RFC 9293 3.3.1). */
  snd_una = 0;
  snd_nxt = 0;
  snd_up = 0;
  snd_wl1 = 0;
  snd_wl2 = 0;
  iss = 0;
  snd_wnd = 0;
  snd_recover = 0;
  /** NewReno: highest sequence sent when the last timeout hit (RFC 6582 4.1 "recover" for RTO). */
  snd_high = 0;
  /* Receive sequence variables. */
  rcv_wnd = 0;
  rcv_nxt = 0;
  rcv_up = 0;
  irs = 0;
  rcv_adv = 0;
  snd_max = 0;
  /* Congestion control. */
  snd_cwnd = 0;
  snd_ssthresh = 0;
  /** ABC (RFC 3465): bytes acked in congestion avoidance since cwnd last grew. */
  t_bytes_acked = 0;
  t_congctl: TcpCongctl;
  /* CUBIC (RFC 9438) state: W_max (bytes), the epoch start (ms), K (ms), and the Reno-friendly estimate. */
  snd_cubic_wmax = 0;
  snd_cubic_wmax_last = 0;
  snd_cubic_ctime = 0;
  snd_cubic_k = 0;
  snd_cubic_west = 0;

  /* Timing (slow ticks of tcp_now). */
  t_rcvtime = 0;
  t_rtttime = 0;
  t_rtton = false;
  t_rtseq = 0;
  t_srtt = 0;
  t_rttvar = 0;
  t_rttmin = 0;
  max_sndwnd = 0;

  t_oobflags = 0;
  t_iobc = 0;
  t_softerror = 0;

  /* RFC 7323. */
  snd_scale = 0;
  rcv_scale = 0;
  request_r_scale = 0;
  requested_s_scale = 0;
  ts_recent = 0;
  ts_recent_age = 0;
  ts_timebase = 0;
  last_ack_sent = 0;

  /* SACK (RFC 2018, 2883, 6675). */
  /** Pending D-SACK block to report (valid when rcv_dsack_valid). */
  rcv_dsack_valid = false;
  rcv_dsack_left = 0;
  rcv_dsack_right = 0;
  /** Sequence number of the out-of-order segment received last (its block is reported first). */
  rcv_lastsack_seq = 0;
  snd_holes: SackHole | null = null;
  snd_numholes = 0;
  /** Highest SACKed sequence + 1 (forward-most data the peer holds, FACK). */
  snd_fack = 0;
  /** New data sent during this recovery starts here. */
  sack_newdata = 0;
  /** Bytes retransmitted from holes during this recovery episode. */
  sack_bytes_rexmit = 0;
  /** SACKed bytes above snd_una (the scoreboard's total). */
  sack_bytes_sacked = 0;

  /* Reassembly queue, ordered by seq. */
  segq: TcpQent | null = null;
  t_segqlen = 0;

  /* Keepalive and lifetimes (slow ticks). */
  t_keepinit = 0;
  t_keepidle = 0;
  t_keepintvl = 0;
  t_keepcnt = 0;
  t_maxidle = 0;
  /** This connection's MSL (TIME_WAIT lasts 2 * t_msl); MSLT classifies it (next issue). */
  t_msl = 0;

  /* Receive buffer auto-sizing: the window edge that closes the current round, and bytes in it. */
  rfbuf_edge = 0;
  rfbuf_start = 0;
  rfbuf_on = false;

  /** Segments received since the last ACK we sent (ACK every second full segment). */
  t_unacked = 0;

  constructor(readonly t_kernel: Kernel, readonly t_inpcb: Inpcb, congctl: TcpCongctl) {
    this.t_timer = [];
    for (let i = 0; i < TCPT_NTIMERS; i++) {
      const c = new Callout();
      callout_init(c, CALLOUT_MPSAFE, t_kernel);
      this.t_timer.push(c);
    }
    callout_init(this.t_delack_ch, CALLOUT_MPSAFE, t_kernel);
    this.t_congctl = congctl;
  }

  /** The SACK scoreboard functions (tcp_sack.ts), reached through the kernel's TCP state. */
  get t_sack(): TcpSackOps {
    return tcp_of(this.t_kernel).sackops;
  }
}

/** The scoreboard operations the timer code needs without importing tcp_sack.ts. */
export interface TcpSackOps {
  tcp_free_sackholes(tp: Tcpcb): void;
}

/* ------------------------------------------------------ per-kernel state */

/** ppsratecheck state: the second being counted and its count. */
export class PpsRate {
  last = 0;
  count = 0;
  started = false;
}

/** All TCP state of one kernel: NetBSD's tcp globals. */
export class TcpState {
  readonly tcpstat = new Tcpstat();
  /** Every TCP PCB (tcbtable). */
  readonly tcbtable: Inpcbtable;
  readonly iss: TcpIss;
  /** NetBSD's tcp_iss_seq for iss_hash 0: grows per use. */
  tcp_iss_seq = 0;
  /** Test hook (net.inet.tcp.iss_force): -1 = off, else the ISS every connection gets. */
  tcp_iss_force = -1;

  /* net.inet.tcp tunables, NetBSD's defaults (vtw-mslt.md section 5). */
  tcp_do_rfc1323 = 1;
  tcp_do_win_scale = 1;
  tcp_do_timestamps = 1;
  tcp_do_sack = 1;
  tcp_sack_tp_maxholes = 32;
  tcp_sack_globalmaxholes = 1024;
  tcp_sack_globalholes = 0;
  tcp_congctl_selected = 'newreno';
  tcp_do_abc = 1;
  tcp_abc_aggressive = 1;
  tcp_do_ecn = 0;
  tcp_ecn_maxretries = 1;
  tcp_init_win = 4;
  tcp_init_win_local = 4;
  tcp_mssdflt = TCP_MSS;
  tcp_minmss = 216;
  tcp_mss_ifmtu = 0;
  tcp_sendspace = 32768;
  tcp_recvspace = 32768;
  tcp_do_autosndbuf = 1;
  tcp_autosndbuf_inc = 8192;
  tcp_autosndbuf_max = 256 * 1024;
  tcp_do_autorcvbuf = 1;
  tcp_autorcvbuf_inc = 16384;
  tcp_autorcvbuf_max = 256 * 1024;
  /** Delayed-ACK time in hz ticks (hz / 5: 200 ms). */
  tcp_delack_ticks: number;
  tcp_ack_on_push = 0;
  tcp_keepinit = 75 * PR_SLOWHZ;
  tcp_keepidle = 120 * 60 * PR_SLOWHZ;
  tcp_keepintvl = 75 * PR_SLOWHZ;
  tcp_keepcnt = 8;
  tcp_compat_42 = 0;
  tcp_rst_ppslim = 100;
  tcp_ackdrop_ppslim = 100;
  /**
   * net.inet.tcp.iss_hash: 1 (our default) = RFC 6528 M + F(4-tuple);
   * 0 = NetBSD's default, 24 random bits + tcp_iss_seq.
   */
  tcp_do_rfc1948 = 1;
  tcp_log_refused = 0;
  tcp_do_loopback_cksum = 0;
  tcp_cwm = 0;
  tcp_cwm_burstsize = 4;
  /** net.inet.tcp.msl in seconds: the MSL of new connections (NetBSD never reads its node; we do). */
  tcp_msl = 30;
  /* MSLT nodes (next issue uses them; defaults as NetBSD). */
  tcp_msl_enable = 1;
  tcp_msl_loop = 2;
  tcp_msl_local = 10;
  tcp_msl_remote = 60;
  tcp_msl_remote_threshold = 6;
  tcp_rttlocal = 0;
  /** Out-of-order segments a connection may hold (ours; NetBSD bounds them by the buffer only). */
  tcp_reass_maxqueuelen = 512;
  /** Persist: give up after this much silence (slow ticks), NetBSD's tcp_maxpersistidle (TCPTV_KEEP_IDLE). */
  tcp_maxpersistidle = 120 * 60 * PR_SLOWHZ;

  /** The SYN cache (tcp_syncache.ts) and its bounds (net.inet.tcp.syn_cache_limit, syn_bucket_limit). */
  readonly syn_cache = new SynCache();
  tcp_syn_cache_limit = TCP_SYN_CACHE_LIMIT;
  tcp_syn_bucket_limit = TCP_SYN_BUCKET_LIMIT;

  /* Rate limits (ppsratecheck). */
  readonly rst_rate = new PpsRate();
  readonly ackdrop_rate = new PpsRate();

  /* SO_DEBUG trace ring (tcp_debug, tcp_debx). */
  tcp_debug: TcpDebug[] = [];
  tcp_debx = 0;
  tcp_ndebug = 100;

  /* Scratch for the input path (one segment at a time, never re-entered). */
  readonly opti = new TcpOptInfo();
  /* Free lists: reassembly entries and SACK holes. */
  qent_free: TcpQent | null = null;
  hole_free: SackHole | null = null;

  /** The congestion-control algorithms by name. */
  readonly congctls = new Map<string, TcpCongctl>();
  sackops!: TcpSackOps;

  constructor(readonly k: Kernel, readonly st: InetState, tcbtable: Inpcbtable, secret: Uint8Array) {
    this.tcbtable = tcbtable;
    this.iss = new TcpIss(secret);
    this.tcp_delack_ticks = Math.max(1, Math.floor(k.hz / 5));
  }
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** TCP (libnetinet); set when rumpnet_netinet boots. */
    tcp?: TcpState;
  }
}

/** The TCP state of k. */
export function tcp_of(k: Kernel): TcpState {
  return k.tcp!;
}

/**
 * tcp_now: the timestamp clock, in slow ticks (2 Hz) of uptime.  NetBSD
 * counts it in a callout every 500 ms; reading uptime gives the same
 * value without a periodic timer, so an idle kernel stays idle.
 */
export function tcp_now(ts: TcpState): number {
  return Math.floor(ts.k.uptimeNs() / (1e9 / PR_SLOWHZ));
}

/** TCP_TIMESTAMP: our timestamp value for tp (RFC 7323 3.2), offset by its random base. */
export function TCP_TIMESTAMP(ts: TcpState, tp: Tcpcb): number {
  return (tcp_now(ts) + tp.ts_timebase) >>> 0;
}

/** The tcpcb of an Internet PCB (intotcpcb). */
export function intotcpcb(inp: Inpcb): Tcpcb | null {
  const p = inp.inp_ppcb;
  return p instanceof Tcpcb ? p : null;
}

/** TCP_SACK_ENABLED: both sides agreed on SACK. */
export function TCP_SACK_ENABLED(tp: Tcpcb): boolean {
  return (tp.t_flags & TF_WILL_SACK) !== 0;
}

/**
 * TCP_INITIAL_WINDOW: min(iw * MSS, max(2 * MSS, table[iw])) (RFC 3390's
 * formula generalised, NetBSD's table).  NetBSD gives 0 for init_win 0,
 * a connection that could never send; one segment is the least useful.
 */
export function TCP_INITIAL_WINDOW(iw: number, segsz: number): number {
  const i = iw < 0 ? 0 : iw > 10 ? 10 : iw;
  const w = Math.min(i * segsz, Math.max(2 * segsz, tcp_init_win_max[i]!));
  return w > 0 ? w : segsz;
}

/**
 * ppsratecheck: may one more event go out this second (limit < 0: no
 * limit, 0: none)?  One-second windows of kernel ticks.
 */
export function ppsratecheck(k: Kernel, r: PpsRate, limit: number): boolean {
  if (limit < 0) return true;
  const now = k.ticks;
  const dt = (now - r.last) | 0;
  if (!r.started || dt >= k.hz || dt < 0) {
    r.last = now;
    r.count = 0;
    r.started = true;
  }
  if (r.count >= limit) return false;
  r.count++;
  return true;
}
