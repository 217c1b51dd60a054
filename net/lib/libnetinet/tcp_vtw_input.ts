/*
 * Vestigial Time-Wait in TCP (NetBSD's vtw glue in tcp_vtw.c and
 * tcp_vtw_input in tcp_input.c; vtw-mslt.md section 2): when a connection
 * the application has closed enters TIME_WAIT, its socket, inpcb and tcpcb
 * are freed and a few words in the VtwTable (tcp_vtw.ts) stand for it.
 *
 * Packet path: tcp_input -> (no connected PCB) vtw lookup ->
 * tcp_vtw_input, which answers as the TIME_WAIT connection would (ACK,
 * RST, restart of 2*MSL) through tcp_respond, or hands a reusing SYN on
 * to the listener.  bind()/connect()/ephemeral ports consult the table
 * through the PCB table's vestige hooks (in_pcb.ts).  A callout sweeps
 * expired entries every hz/5, per MSLT class.
 *
 * Deliberate differences from NetBSD, each for a reason given where it is
 * done: a SYN that reuses the 4-tuple is accepted as a full TIME_WAIT
 * accepts it (NetBSD refuses it with a RST); the ACK of a retransmitted
 * FIN acknowledges rcv_nxt (NetBSD's is one short); a vestige ends at its
 * 2*MSL exactly (NetBSD's lives until the next sweep); the peer's last
 * timestamp is kept, so PAWS and timestamp-based reuse work; data after
 * close ends the vestige as it ends a full TIME_WAIT; the table size is
 * settable before enable and the counters are exported.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { Callout, callout_init, callout_pending, callout_reset } from '../../../librump/rumpkern/kern_timeout.ts';
import { mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { SO_REUSEADDR, SO_REUSEPORT } from '../../../include/socket.ts';
import { EBUSY, EINVAL, ENOMEM } from '../../../include/errno.ts';
import { INADDR_ANY, inet_ntop4 } from './in.ts';
import type { Inpcbtable, VestigeHooks } from './in_pcb.ts';
import { PR_SLOWHZ } from './ip_var.ts';
import { TH_ACK, TH_FIN, TH_RST, TH_SYN } from './tcp.ts';
import { SEQ_ADD, SEQ_GT, SEQ_SUB } from './tcp_seq.ts';
import { TF_RCVD_TSTMP, ppsratecheck, type TcpOptInfo, type Tcpcb, type TcpState } from './tcp_var.ts';
import { class_to_msl, msl_to_class, mslt_class_names, tcp_close, tcp_respond } from './tcp_subr.ts';
import { tcp_canceltimers } from './tcp_timer.ts';
import { VtwTable, VTW_MAX_ENTRIES, VTW_MIN_ENTRIES, VTW_REUSEADDR, VTW_REUSEPORT, VTW_TSTMP } from './tcp_vtw.ts';
import type { TcpPcbInfo } from './tcp_usrreq.ts';

/** NetBSD's default net.inet.tcp.vtw.entries. */
export const VTW_DEFAULT_ENTRIES = 16;

/** What tcp_vtw_input did with a segment. */
export const VTW_DONE = 0;
/** The vestige is gone (a SYN reused its 4-tuple, or it had just expired): look for a listener. */
export const VTW_REUSE = 1;

/** What TCP counts about vestiges, besides the table's own counters. */
export class VtwTcpStats {
  /** Entries that reached their 2*MSL. */
  expired = 0;
  /** TIME_WAITs that stayed full PCBs because the table refused them. */
  add_failed = 0;
  /** Vestiges ended by a reusing SYN. */
  reused = 0;
  /** Vestiges ended by an exact RST or by data. */
  killed_by_peer = 0;
}

/** VTW of one kernel. */
export class VtwState {
  /** net.inet.tcp.vtw.enable (bit 0: on). */
  enable = 0;
  /** net.inet.tcp.vtw.entries: the size the table gets when first enabled. */
  entries = VTW_DEFAULT_ENTRIES;
  /** Allocated on the first enable and kept (NetBSD never frees it). */
  table: VtwTable | null = null;
  readonly sweep = new Callout();
  readonly stats = new VtwTcpStats();

  constructor(readonly ts: TcpState) {
    callout_init(this.sweep, 0, ts.k);
  }
}

declare module './tcp_var.ts' {
  interface TcpState {
    vtw?: VtwState;
  }
}

function vtw_of(ts: TcpState): VtwState {
  let v = ts.vtw;
  if (v === undefined) {
    v = new VtwState(ts);
    ts.vtw = v;
  }
  return v;
}

/* Uptime in ms: the table's clock. */
function now_ms(k: Kernel): number {
  return Math.floor(k.uptimeNs() / 1e6);
}

/* 2*MSL of a class in ms, from the current sysctls (as NetBSD computes a vestige's lifetime). */
function lifetime_ms(ts: TcpState, cls: number): number {
  return (2 * class_to_msl(ts, cls) * 1000) / PR_SLOWHZ;
}

/* ------------------------------------------------------------ sysctl */

/** net.inet.tcp.vtw.enable: allocate the table on the first enable (ENOMEM if that fails). */
export function vtw_set_enable(ts: TcpState, v: number): number {
  const vs = vtw_of(ts);
  if ((v & 1) !== 0 && vs.table === null) {
    try {
      vs.table = new VtwTable(vs.entries);
    } catch {
      return ENOMEM;
    }
  }
  vs.enable = v;
  if ((v & 1) !== 0) vtw_hooks_install(ts);
  return 0;
}

/** net.inet.tcp.vtw.entries: a power of two, settable until the table exists (EBUSY after). */
export function vtw_set_entries(ts: TcpState, v: number): number {
  const vs = vtw_of(ts);
  if (v < VTW_MIN_ENTRIES || v > VTW_MAX_ENTRIES || (v & (v - 1)) !== 0) return EINVAL;
  if (vs.table !== null) return EBUSY;
  vs.entries = v;
  return 0;
}

export function vtw_enable(ts: TcpState): number {
  return vtw_of(ts).enable;
}

export function vtw_entries(ts: TcpState): number {
  const vs = vtw_of(ts);
  return vs.table !== null ? vs.table.nentries : vs.entries;
}

/** net.inet.tcp.vtw.stats: the table's counters and ours. */
export function vtw_stats_read(ts: TcpState): Record<string, number> {
  const vs = vtw_of(ts);
  const t = vs.table;
  const s = vs.stats;
  const z = t === null;
  const c = t?.stats;
  return {
    entries: vtw_entries(ts),
    alive: z ? 0 : t.count(),
    bytes: z ? 0 : t.bytes(),
    inserts: c?.ins ?? 0,
    deletes: c?.del ?? 0,
    evictions: c?.kill ?? 0,
    expired: s.expired,
    add_failed: s.add_failed,
    reused: s.reused,
    killed_by_peer: s.killed_by_peer,
    lookups_connect: c?.look[0] ?? 0,
    hits_connect: c?.hit[0] ?? 0,
    misses_connect: c?.miss[0] ?? 0,
    visits_connect: c?.visits[0] ?? 0,
    lookups_port: c?.look[1] ?? 0,
    hits_port: c?.hit[1] ?? 0,
    misses_port: c?.miss[1] ?? 0,
    visits_port: c?.visits[1] ?? 0,
    probes: (c?.probe[0] ?? 0) + (c?.probe[1] ?? 0),
    losing: (c?.losing[0] ?? 0) + (c?.losing[1] ?? 0),
    max_chain: Math.max(c?.max_chain[0] ?? 0, c?.max_chain[1] ?? 0),
  };
}

/* ------------------------------------------------------------ insert */

/**
 * vtw_add: replace TIME_WAIT tp, whose socket the application has closed,
 * by a vestige: a fresh 2*MSL of its MSLT class, then the tcpcb, inpcb and
 * socket are freed.  False (tp untouched) if VTW is off or the table
 * cannot take it: the full TIME_WAIT stays, as in NetBSD.
 */
export function vtw_add(ts: TcpState, tp: Tcpcb): boolean {
  const vs = ts.vtw;
  if (vs === undefined || (vs.enable & 1) === 0 || vs.table === null) return false;
  const inp = tp.t_inpcb;
  const so = inp.inp_socket;
  const cls = msl_to_class(ts, tp.t_msl);
  const tsok = (tp.t_flags & TF_RCVD_TSTMP) !== 0;
  const flags = ((so.so_options & SO_REUSEADDR) !== 0 ? VTW_REUSEADDR : 0) |
    ((so.so_options & SO_REUSEPORT) !== 0 ? VTW_REUSEPORT : 0) | (tsok ? VTW_TSTMP : 0);
  const idx = vs.table.add(cls, now_ms(ts.k) + lifetime_ms(ts, cls), inp.inp_laddr, inp.inp_lport, inp.inp_faddr,
    inp.inp_fport, tp.rcv_nxt, tp.snd_max, tsok ? tp.ts_recent : 0, flags);
  if (idx < 0) {
    vs.stats.add_failed++;
    return false;
  }
  if (!callout_pending(vs.sweep)) vtw_sweep_arm(ts);
  tcp_canceltimers(tp);
  tcp_close(tp);
  return true;
}

/* ------------------------------------------------------------- sweep */

function vtw_sweep_arm(ts: TcpState): void {
  callout_reset(ts.vtw!.sweep, Math.max(1, Math.floor(ts.k.hz / 5)), vtw_tick, ts);
}

/* vtw_tick: expire what is due in every class; keep sweeping while anything is left. */
function vtw_tick(arg: unknown): void {
  const ts = arg as TcpState;
  const vs = ts.vtw!;
  const t = vs.table;
  if (t === null) return;
  const lock = net_of(ts.k).softnet_lock;
  mutex_enter(lock);
  try {
    vs.stats.expired += t.ageAll(now_ms(ts.k));
    if (t.count() > 0) vtw_sweep_arm(ts);
  } finally {
    mutex_exit(lock);
  }
}

/* ------------------------------------------------------ port checks */

/*
 * The PCB table's vestige hooks (NetBSD's vestigial_hooks_t): a vestige
 * behaves as a connected PCB with a concrete local address.
 */
function vtw_hooks_install(ts: TcpState): void {
  const table: Inpcbtable = ts.tcbtable;
  if (table.inpt_vestige !== null) return;
  const hooks: VestigeHooks = {
    /* connect(): a vestige with exactly this 4-tuple makes it EADDRINUSE. */
    connect_in_use(faddr: number, fport: number, laddr: number, lport: number): boolean {
      const t = ts.vtw!.table;
      if (t === null || t.count() === 0) return false;
      const i = t.lookup_connect(faddr, fport, laddr, lport);
      return i >= 0 && t.expire(i) > now_ms(ts.k);
    },
    /*
     * bind() and ephemeral ports: with a wildcard lookup (no reuse
     * options), any vestige on lport whose address overlaps laddr.  Its
     * wildcard score is at least one, so an exact lookup never sees it.
     */
    port_in_use(laddr: number, lport: number, wild: boolean): boolean {
      const t = ts.vtw!.table;
      if (!wild || t === null || t.count() === 0) return false;
      const now = now_ms(ts.k);
      for (let i = t.port_first(lport); i >= 0; i = t.port_next()) {
        if ((laddr === INADDR_ANY || t.laddr(i) === laddr) && t.expire(i) > now) return true;
      }
      return false;
    },
  };
  table.inpt_vestige = hooks;
}

/* ------------------------------------------------------------ input */

/*
 * The rate-limited ACK of TIME_WAIT (challenge ACKs and ACKs to dropped
 * segments share net.inet.tcp.ackdropppslimit with the full path).
 */
function vtw_ack(ts: TcpState, idx: number, dst: number, dport: number, src: number, sport: number, ratelim: boolean): void {
  const t = ts.vtw!.table!;
  if (ratelim) {
    if (!ppsratecheck(ts.k, ts.ackdrop_rate, ts.tcp_ackdrop_ppslim)) {
      ts.tcpstat.tcps_ratelimited++;
      return;
    }
    ts.tcpstat.tcps_chalacks++;
  }
  tcp_respond(ts, null, dst, dport, src, sport, t.snd_nxt(idx), t.rcv_nxt(idx), TH_ACK);
}

function vtw_kill(ts: TcpState, idx: number): void {
  ts.vtw!.table!.del(idx);
}

/**
 * tcp_vtw_input: a segment for vestige idx, answered as the full
 * TIME_WAIT connection answers it (tcp_input's TIME_WAIT path, vtw-mslt.md
 * section 3), in its order: reuse by a newer SYN, PAWS, the left trim,
 * data after close, beyond the window, RST, SYN, the ACK.  Replies are
 * bare segments with window 0.  Returns VTW_DONE or VTW_REUSE.
 */
export function tcp_vtw_input(ts: TcpState, idx: number, src: number, sport: number, dst: number, dport: number,
  seq: number, ack: number, flags: number, tlen: number, opti: TcpOptInfo): number {
  const vs = ts.vtw!;
  const t = vs.table!;
  const stat = ts.tcpstat;
  /* Past its 2*MSL it is over, even if the sweep has not reclaimed it yet. */
  if (t.expire(idx) <= now_ms(ts.k)) {
    vtw_kill(ts, idx);
    return VTW_REUSE;
  }
  const rcv_nxt = t.rcv_nxt(idx);
  const tsok = (t.flags(idx) & VTW_TSTMP) !== 0;
  const tsrecent = t.ts_recent(idx);

  /*
   * A new SYN for the same 4-tuple with a newer sequence number or
   * timestamp reopens it (RFC 1122 4.2.2.13, RFC 6191), exactly as the
   * full TIME_WAIT does.  NetBSD's vestige answers it with a RST, which
   * refuses about half of a fast Linux client's connections.
   */
  if ((flags & (TH_SYN | TH_ACK | TH_RST)) === TH_SYN &&
      (SEQ_GT(seq, rcv_nxt) || (opti.ts_present && tsok && ((opti.ts_val - tsrecent) | 0) > 0))) {
    vs.stats.reused++;
    vtw_kill(ts, idx);
    return VTW_REUSE;
  }

  /* PAWS (RFC 7323 5.3): an old timestamp on anything but a RST is a duplicate; ACK it. */
  if (opti.ts_present && tsok && (flags & TH_RST) === 0 && ((opti.ts_val - tsrecent) | 0) < 0) {
    stat.tcps_rcvduppack++;
    stat.tcps_rcvdupbyte += tlen;
    stat.tcps_pawsdrop++;
    vtw_ack(ts, idx, dst, dport, src, sport, false);
    return VTW_DONE;
  }

  /* The left trim: a retransmitted FIN (or any old segment) is a whole duplicate that earns an ACK. */
  let acknow = false;
  let todrop = SEQ_SUB(rcv_nxt, seq);
  if (todrop > 0) {
    if ((flags & TH_SYN) !== 0) {
      flags &= ~TH_SYN;
      seq = SEQ_ADD(seq, 1);
      todrop--;
    }
    if (todrop > tlen || (todrop === tlen && (flags & TH_FIN) === 0)) {
      if ((flags & TH_RST) !== 0) return VTW_DONE;
      flags &= ~(TH_FIN | TH_RST);
      acknow = true;
      stat.tcps_rcvduppack++;
      stat.tcps_rcvdupbyte += tlen;
      todrop = tlen;
    } else {
      stat.tcps_rcvpartduppack++;
      stat.tcps_rcvpartdupbyte += todrop;
    }
    seq = SEQ_ADD(seq, todrop);
    tlen -= todrop;
  }

  /* New data for a closed socket: the connection is over; RST, as the full path does after tcp_close. */
  if (tlen > 0) {
    stat.tcps_rcvafterclose++;
    vs.stats.killed_by_peer++;
    vtw_kill(ts, idx);
    if ((flags & TH_ACK) !== 0) tcp_respond(ts, null, dst, dport, src, sport, ack, 0, TH_RST);
    else tcp_respond(ts, null, dst, dport, src, sport, 0, SEQ_ADD(seq, tlen + ((flags & TH_FIN) !== 0 ? 1 : 0)), TH_RST | TH_ACK);
    return VTW_DONE;
  }

  /* Beyond rcv_nxt (a vestige's window is 0): ACK it, unless it is a RST. */
  if (SEQ_GT(seq, rcv_nxt)) {
    stat.tcps_rcvpackafterwin++;
    if ((flags & TH_RST) === 0) vtw_ack(ts, idx, dst, dport, src, sport, false);
    return VTW_DONE;
  }

  /* RST: only an exact match ends TIME_WAIT; others get a challenge ACK (RFC 5961 3.2). */
  if ((flags & TH_RST) !== 0) {
    if (seq === rcv_nxt) {
      vs.stats.killed_by_peer++;
      vtw_kill(ts, idx);
    } else {
      vtw_ack(ts, idx, dst, dport, src, sport, true);
    }
    return VTW_DONE;
  }

  /* A SYN at rcv_nxt that is not newer: a challenge ACK, never a RST (RFC 5961 4.2). */
  if ((flags & TH_SYN) !== 0) {
    vtw_ack(ts, idx, dst, dport, src, sport, true);
    return VTW_DONE;
  }

  if ((flags & TH_ACK) === 0) {
    if (acknow) vtw_ack(ts, idx, dst, dport, src, sport, false);
    return VTW_DONE;
  }

  /* An ACK beyond what we sent: ACK and drop (RFC 5961 5.2). */
  if (SEQ_GT(ack, t.snd_nxt(idx))) {
    stat.tcps_rcvacktoomuch++;
    vtw_ack(ts, idx, dst, dport, src, sport, true);
    return VTW_DONE;
  }

  /*
   * A pure ACK with nothing to acknowledge is dropped in silence, as the
   * full TIME_WAIT drops a duplicate ACK.  (NetBSD's vestige answers every
   * ACK; two vestiges facing each other after a simultaneous close would
   * trade ACKs forever.)
   */
  if (!acknow) return VTW_DONE;
  /*
   * A retransmitted FIN (or another duplicate): the peer missed our ACK.
   * TIME_WAIT starts again (vtw_restart: a fresh 2*MSL in the entry's
   * class, moved to the young end of its ring) and the peer gets an ACK
   * of rcv_nxt.
   */
  if (opti.ts_present && tsok) t.set_ts_recent(idx, opti.ts_val);
  const nidx = t.restart(idx, now_ms(ts.k) + lifetime_ms(ts, t.msl_class(idx)));
  vtw_ack(ts, nidx >= 0 ? nidx : idx, dst, dport, src, sport, false);
  return VTW_DONE;
}

/* ----------------------------------------------------------- listing */

/** Every vestige of ts, as PCB-list rows (TIME_WAIT, vestigial). */
export function vtw_pcblist(ts: TcpState, out: TcpPcbInfo[]): void {
  const t = ts.vtw?.table;
  if (t === undefined || t === null || t.count() === 0) return;
  const now = now_ms(ts.k);
  t.forEachAlive((i) => {
    if (t.expire(i) <= now) return;
    out.push({
      laddr: inet_ntop4(t.laddr(i)),
      lport: t.lport(i),
      faddr: inet_ntop4(t.faddr(i)),
      fport: t.fport(i),
      state: 'TIME_WAIT',
      recvq: 0,
      sendq: 0,
      timer: '2msl',
      msl_class: mslt_class_names[t.msl_class(i)]!,
      tw_remaining_ms: t.expire(i) - now,
      vestigial: true,
    });
  });
}
