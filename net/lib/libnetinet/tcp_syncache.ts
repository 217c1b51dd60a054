/*
 * The SYN cache (NetBSD's syn_cache_* in tcp_input.c; vtw-mslt.md
 * section 4).  A SYN for a listener makes no socket: a small entry
 * remembers the peer's sequence number and options, the SYN,ACK goes out
 * from it (and is retransmitted from it), and only the ACK that completes
 * the handshake turns it into a socket, which tcp_input then processes in
 * SYN_RECEIVED.  A flood of SYNs from spoofed sources therefore costs at
 * most syn_cache_limit entries, never sockets or the listen queue.
 *
 * Entries hash by (source address, both ports) with two secrets from the
 * cprng, re-drawn whenever the cache empties, into 293 buckets of at most
 * syn_bucket_limit entries, each kept oldest first.  A full bucket loses
 * its oldest entry; a full cache loses the oldest of the first non-empty
 * bucket from the new entry's on.  Entries are recycled through a free
 * list, so the cache never holds more objects than its limit.
 *
 * Packet path: tcp_input -> (listener) syn_cache_add / syn_cache_get /
 * syn_cache_reset -> syn_cache_respond -> ip_output.
 */

import { Callout, callout_init, callout_reset, callout_stop } from '../../../librump/rumpkern/kern_timeout.ts';
import { mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_gethdr, m_reserve } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { sbspace } from '../../../librump/rumpnet/uipc_socket2.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import { M_CSUM_TCPv4, M_DONTWAIT, MT_HEADER } from '../../../include/mbuf.ts';
import type { Ifnet } from '../libnet/if.ts';
import { IPPROTO_TCP, in_addr_write } from './in.ts';
import { in4_cksum_phdr } from './in_cksum.ts';
import { IP_DF, IP_DST_OFF, IP_HDR_LEN, IP_LEN_OFF, IP_SRC_OFF } from './ip.ts';
import { ip_output } from './ip_output.ts';
import {
  TCP_HDR_LEN, TCP_MAXWIN, TCPOLEN_MAXSEG, TCPOLEN_SACK_PERMITTED, TCPOLEN_TIMESTAMP, TCPOPT_MAXSEG, TCPOPT_NOP,
  TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP, TCPOPT_WINDOW, TCPOLEN_WINDOW, TH_ACK, TH_SYN, tcp_hdr_write,
} from './tcp.ts';
import { SEQ_ADD, SEQ_GT, SEQ_LEQ } from './tcp_seq.ts';
import { TCP_MAXRXTSHIFT, TCP_TIMER_ARM, TCPT_RANGESET, TCPTV_MIN, TCPTV_REXMTMAX, TCPTV_SRTTDFLT, tcp_backoff, tcp_slow2hz } from './tcp_timer.ts';
import {
  TCPT_KEEP, TF_NOOPT, TF_RCVD_SCALE, TF_RCVD_TSTMP, TF_REQ_SCALE, TF_REQ_TSTMP, TF_SACK_PERMIT, TF_SYN_REXMT, TF_WILL_SACK,
  tcp_now, type TcpOptInfo, type Tcpcb, type TcpState,
} from './tcp_var.ts';
import { tcp_mss_from_peer, tcp_mss_to_advertise, tcp_new_iss1, tcp_rcvseqinit, tcp_sendseqinit } from './tcp_subr.ts';
import { TCPS_SYN_RECEIVED } from './tcp_fsm.ts';
import { tcp_listen_input, tcp_rscale_for } from './tcp_input.ts';

/** Buckets (NetBSD's compile-time TCP_SYN_HASH_SIZE). */
export const TCP_SYN_HASH_SIZE = 293;
/** NetBSD's defaults: 35 entries per bucket on average, at most 105 in one. */
export const TCP_SYN_CACHE_LIMIT = TCP_SYN_HASH_SIZE * 35;
export const TCP_SYN_BUCKET_LIMIT = 3 * 35;

/* What the SYN asked for (sc_flags). */
const SCF_TIMESTAMP = 0x01;
const SCF_SACK_PERMIT = 0x02;
const SCF_WSCALE = 0x04;

/** One half-open connection (struct syn_cache). */
export class SynCacheEntry {
  sc_src = 0;
  sc_sport = 0;
  sc_dst = 0;
  sc_dport = 0;
  sc_bucketidx = 0;
  sc_irs = 0;
  sc_iss = 0;
  /** The window the SYN offered (never scaled in a SYN). */
  sc_win = 0;
  /** The window our SYN,ACK offers. */
  sc_ourwin = 0;
  sc_ourmaxseg = 0;
  sc_peermaxseg = 0;
  sc_requested_s_scale = 0;
  sc_request_r_scale = 0;
  sc_flags = 0;
  /** The peer's timestamp (ts_recent) and our clock's offset for this connection. */
  sc_timestamp = 0;
  sc_timebase = 0;
  sc_rxtshift = 0;
  /** Slow ticks of SYN,ACK timeouts so far (bounded by keepinit). */
  sc_rxttot = 0;
  sc_rxtcur = 0;
  /** The listener; null once the entry is free. */
  sc_tp: Tcpcb | null = null;
  readonly sc_timer = new Callout();
  /** Free-list link. */
  sc_next: SynCacheEntry | null = null;
}

/** The cache of one kernel. */
export class SynCache {
  readonly buckets: SynCacheEntry[][] = [];
  count = 0;
  secret0 = 0;
  secret1 = 0;
  free: SynCacheEntry | null = null;
  /** Entries ever made (the free list holds the rest of them). */
  made = 0;

  constructor() {
    for (let i = 0; i < TCP_SYN_HASH_SIZE; i++) this.buckets.push([]);
  }
}

/* A keyed mix of the source address and both ports (the secrets keep a flooder from aiming at one bucket). */
function syn_hash(sc: SynCache, src: number, sport: number, dport: number): number {
  let h = Math.imul((src ^ sc.secret0) >>> 0, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul((h ^ ((sport << 16) | dport) ^ sc.secret1) >>> 0, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) % TCP_SYN_HASH_SIZE;
}

function syn_cache_lookup(ts: TcpState, src: number, sport: number, dst: number, dport: number): SynCacheEntry | null {
  const c = ts.syn_cache;
  if (c.count === 0) return null;
  const b = c.buckets[syn_hash(c, src, sport, dport)]!;
  for (let i = 0; i < b.length; i++) {
    const e = b[i]!;
    if (e.sc_src === src && e.sc_sport === sport && e.sc_dst === dst && e.sc_dport === dport) return e;
  }
  return null;
}

/* Take e out of the cache and put it on the free list. */
function syn_cache_rm(ts: TcpState, e: SynCacheEntry): void {
  const c = ts.syn_cache;
  const b = c.buckets[e.sc_bucketidx]!;
  const i = b.indexOf(e);
  if (i >= 0) b.splice(i, 1);
  callout_stop(e.sc_timer);
  e.sc_tp = null;
  e.sc_next = c.free;
  c.free = e;
  c.count--;
}

function syn_cache_timer_arm(ts: TcpState, e: SynCacheEntry): void {
  e.sc_rxtcur = TCPT_RANGESET(TCPTV_SRTTDFLT * tcp_backoff[e.sc_rxtshift]!, TCPTV_MIN, TCPTV_REXMTMAX);
  callout_reset(e.sc_timer, tcp_slow2hz(ts.k, e.sc_rxtcur), syn_cache_timer, e);
}

/*
 * The SYN,ACK timer: retransmit with backoff, until 12 retransmissions
 * or keepinit (75 s) of waiting, then forget the entry (sc_timed_out).
 */
function syn_cache_timer(arg: unknown): void {
  const e = arg as SynCacheEntry;
  const ltp = e.sc_tp;
  if (ltp === null) return;
  const k = ltp.t_kernel;
  const ts = k.tcp!;
  const lock = net_of(k).softnet_lock;
  mutex_enter(lock);
  try {
    e.sc_rxttot += e.sc_rxtcur;
    if (e.sc_rxtshift >= TCP_MAXRXTSHIFT || e.sc_rxttot >= ts.tcp_keepinit) {
      ts.tcpstat.tcps_sc_timed_out++;
      syn_cache_rm(ts, e);
      return;
    }
    e.sc_rxtshift++;
    ts.tcpstat.tcps_sc_retransmitted++;
    syn_cache_respond(ts, e);
    syn_cache_timer_arm(ts, e);
  } finally {
    mutex_exit(lock);
  }
}

/* Make room for one more entry in bucket bi, by NetBSD's two eviction rules. */
function syn_cache_make_room(ts: TcpState, bi: number): void {
  const c = ts.syn_cache;
  const b = c.buckets[bi]!;
  if (b.length >= ts.tcp_syn_bucket_limit) {
    ts.tcpstat.tcps_sc_bucketoverflow++;
    syn_cache_rm(ts, b[0]!);
    return;
  }
  if (c.count >= ts.tcp_syn_cache_limit) {
    ts.tcpstat.tcps_sc_overflowed++;
    for (let i = 0; i < TCP_SYN_HASH_SIZE; i++) {
      const ob = c.buckets[(bi + i) % TCP_SYN_HASH_SIZE]!;
      if (ob.length > 0) {
        syn_cache_rm(ts, ob[0]!);
        return;
      }
    }
  }
}

function syn_cache_alloc(ts: TcpState): SynCacheEntry {
  const c = ts.syn_cache;
  const e = c.free;
  if (e !== null) {
    c.free = e.sc_next;
    e.sc_next = null;
    return e;
  }
  const n = new SynCacheEntry();
  callout_init(n.sc_timer, 0, ts.k);
  c.made++;
  return n;
}

/**
 * syn_cache_add: a SYN for listener ltp.  A SYN for an entry we have
 * resends the SYN,ACK (sc_dupesyn); otherwise an entry is made, evicting
 * if the bucket or the cache is full, and the SYN,ACK goes out.  SYNs are
 * refused (tcps_listendrop) while the listen queue is over its limit.
 * rcvif is where the SYN came in: its MTU decides the MSS we offer.
 */
export function syn_cache_add(ts: TcpState, ltp: Tcpcb, lso: Socket, src: number, sport: number, dst: number,
  dport: number, seq: number, win: number, opti: TcpOptInfo, rcvif: Ifnet | null): boolean {
  if (lso.so_q.length > lso.so_qlimit) {
    ts.tcpstat.tcps_listendrop++;
    return false;
  }
  const old = syn_cache_lookup(ts, src, sport, dst, dport);
  if (old !== null) {
    ts.tcpstat.tcps_sc_dupesyn++;
    if ((old.sc_flags & SCF_TIMESTAMP) !== 0 && opti.ts_present) old.sc_timestamp = opti.ts_val;
    syn_cache_respond(ts, old);
    return true;
  }
  const c = ts.syn_cache;
  if (c.count === 0) {
    c.secret0 = ts.k.cprng.cprng_fast32();
    c.secret1 = ts.k.cprng.cprng_fast32();
  }
  const bi = syn_hash(c, src, sport, dport);
  syn_cache_make_room(ts, bi);
  const e = syn_cache_alloc(ts);
  e.sc_src = src;
  e.sc_sport = sport;
  e.sc_dst = dst;
  e.sc_dport = dport;
  e.sc_bucketidx = bi;
  e.sc_irs = seq;
  e.sc_iss = tcp_new_iss1(ts, dst, dport, src, sport);
  e.sc_win = win;
  e.sc_peermaxseg = opti.maxseg;
  e.sc_ourmaxseg = tcp_mss_to_advertise(ts, rcvif, ltp);
  e.sc_flags = 0;
  e.sc_requested_s_scale = 0;
  e.sc_request_r_scale = 0;
  e.sc_timestamp = 0;
  e.sc_timebase = 0;
  if ((ltp.t_flags & TF_NOOPT) === 0) {
    if (opti.wscale >= 0 && (ltp.t_flags & TF_REQ_SCALE) !== 0) {
      e.sc_flags |= SCF_WSCALE;
      e.sc_requested_s_scale = opti.wscale;
      e.sc_request_r_scale = tcp_rscale_for(ts, lso.so_rcv.sb_hiwat);
    }
    if (opti.ts_present && (ltp.t_flags & TF_REQ_TSTMP) !== 0) {
      e.sc_flags |= SCF_TIMESTAMP;
      e.sc_timestamp = opti.ts_val;
      e.sc_timebase = ts.k.cprng.cprng_fast32();
    }
    if (opti.sack_permitted && ts.tcp_do_sack !== 0) e.sc_flags |= SCF_SACK_PERMIT;
  }
  const space = sbspace(lso.so_rcv);
  e.sc_ourwin = Math.min(space > 0 ? space : 0, TCP_MAXWIN);
  e.sc_rxtshift = 0;
  e.sc_rxttot = 0;
  e.sc_tp = ltp;
  c.buckets[bi]!.push(e);
  c.count++;
  ts.tcpstat.tcps_sc_added++;
  syn_cache_respond(ts, e);
  syn_cache_timer_arm(ts, e);
  return true;
}

/**
 * syn_cache_respond: send e's SYN,ACK: MSS, and window scale, SACK
 * permitted and a timestamp as the SYN asked.  Returns an errno.
 */
export function syn_cache_respond(ts: TcpState, e: SynCacheEntry): number {
  const ltp = e.sc_tp!;
  const linp = ltp.t_inpcb;
  const ctx = net_of(ts.k).mb;
  const m = m_gethdr(ctx, M_DONTWAIT, MT_HEADER);
  if (m === null) {
    ts.tcpstat.tcps_selfquench++;
    return 0;
  }
  m_reserve(m, ctx.max_linkhdr);
  let optlen = TCPOLEN_MAXSEG;
  if ((e.sc_flags & SCF_WSCALE) !== 0) optlen += 4;
  if ((e.sc_flags & SCF_SACK_PERMIT) !== 0) optlen += 4;
  if ((e.sc_flags & SCF_TIMESTAMP) !== 0) optlen += 12;
  const tlen = TCP_HDR_LEN + optlen;
  const b = m.m_buf;
  const ip = m.m_data;
  b[ip] = 0x45;
  b[ip + 1] = linp.inp_ip_tos;
  b[ip + IP_LEN_OFF] = (IP_HDR_LEN + tlen) >>> 8;
  b[ip + IP_LEN_OFF + 1] = (IP_HDR_LEN + tlen) & 0xff;
  b[ip + 4] = 0;
  b[ip + 5] = 0;
  b[ip + 6] = IP_DF >>> 8;
  b[ip + 7] = 0;
  b[ip + 8] = linp.inp_ip_ttl;
  b[ip + 9] = IPPROTO_TCP;
  b[ip + 10] = 0;
  b[ip + 11] = 0;
  in_addr_write(b, ip + IP_SRC_OFF, e.sc_dst);
  in_addr_write(b, ip + IP_DST_OFF, e.sc_src);
  const th = ip + IP_HDR_LEN;
  tcp_hdr_write(b, th, e.sc_dport, e.sc_sport, e.sc_iss, SEQ_ADD(e.sc_irs, 1), tlen, TH_SYN | TH_ACK, e.sc_ourwin, 0);
  let o = th + TCP_HDR_LEN;
  b[o] = TCPOPT_MAXSEG;
  b[o + 1] = TCPOLEN_MAXSEG;
  b[o + 2] = e.sc_ourmaxseg >>> 8;
  b[o + 3] = e.sc_ourmaxseg & 0xff;
  o += 4;
  if ((e.sc_flags & SCF_WSCALE) !== 0) {
    b[o] = TCPOPT_NOP;
    b[o + 1] = TCPOPT_WINDOW;
    b[o + 2] = TCPOLEN_WINDOW;
    b[o + 3] = e.sc_request_r_scale;
    o += 4;
  }
  if ((e.sc_flags & SCF_SACK_PERMIT) !== 0) {
    b[o] = TCPOPT_NOP;
    b[o + 1] = TCPOPT_NOP;
    b[o + 2] = TCPOPT_SACK_PERMITTED;
    b[o + 3] = TCPOLEN_SACK_PERMITTED;
    o += 4;
  }
  if ((e.sc_flags & SCF_TIMESTAMP) !== 0) {
    b[o] = TCPOPT_NOP;
    b[o + 1] = TCPOPT_NOP;
    b[o + 2] = TCPOPT_TIMESTAMP;
    b[o + 3] = TCPOLEN_TIMESTAMP;
    wr32(b, o + 4, (tcp_now(ts) + e.sc_timebase) >>> 0);
    wr32(b, o + 8, e.sc_timestamp);
  }
  m.m_len = IP_HDR_LEN + tlen;
  m.m_pkthdr.len = m.m_len;
  const sum = in4_cksum_phdr(e.sc_dst, e.sc_src, tlen, IPPROTO_TCP);
  b[th + 16] = sum >>> 8;
  b[th + 17] = sum & 0xff;
  m.m_pkthdr.csum_flags = M_CSUM_TCPv4;
  m.m_pkthdr.csum_data = 16;
  ts.tcpstat.tcps_sndtotal++;
  return ip_output(m, 0, null);
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** What syn_cache_get answers when it makes no connection. */
export const SC_NONE = 0;
export const SC_DROP = 1;
export const SC_ABORT = 2;

/**
 * syn_cache_get: an ACK for listener ltp (socket lso).  Without an entry:
 * SC_NONE (the caller answers with a RST).  An ACK that is not for our
 * SYN,ACK, or a sequence number outside what the SYN's window allows,
 * gets the SYN,ACK again: SC_DROP.  Otherwise the entry becomes a socket
 * on the listen queue, with the options the handshake agreed, in
 * SYN_RECEIVED with our SYN sent; the caller processes this same ACK on
 * the tcpcb returned.  A full listen queue aborts the handshake: SC_ABORT
 * (the caller resets the peer, as NetBSD's resetandabort).
 */
export function syn_cache_get(ts: TcpState, ltp: Tcpcb, lso: Socket, src: number, sport: number, dst: number,
  dport: number, seq: number, ack: number): Tcpcb | number {
  const e = syn_cache_lookup(ts, src, sport, dst, dport);
  if (e === null) return SC_NONE;
  if (ack !== SEQ_ADD(e.sc_iss, 1) || SEQ_LEQ(seq, e.sc_irs) || SEQ_GT(seq, SEQ_ADD(e.sc_irs, 1 + e.sc_win))) {
    syn_cache_respond(ts, e);
    return SC_DROP;
  }
  syn_cache_rm(ts, e);
  const tp = tcp_listen_input(ts, ltp, lso, src, sport, dst, dport);
  if (tp === null) {
    ts.tcpstat.tcps_sc_aborted++;
    return SC_ABORT;
  }
  if ((e.sc_flags & SCF_WSCALE) !== 0) {
    tp.t_flags |= TF_RCVD_SCALE;
    tp.requested_s_scale = e.sc_requested_s_scale;
    tp.request_r_scale = e.sc_request_r_scale;
  } else {
    tp.t_flags &= ~TF_REQ_SCALE;
  }
  if ((e.sc_flags & SCF_TIMESTAMP) !== 0) {
    tp.t_flags |= TF_RCVD_TSTMP;
    tp.ts_recent = e.sc_timestamp;
    tp.ts_recent_age = tcp_now(ts);
    tp.ts_timebase = e.sc_timebase;
  } else {
    tp.t_flags &= ~TF_REQ_TSTMP;
  }
  if ((e.sc_flags & SCF_SACK_PERMIT) !== 0) tp.t_flags |= TF_SACK_PERMIT | TF_WILL_SACK;
  tcp_mss_from_peer(tp, e.sc_peermaxseg);
  if (e.sc_rxtshift > 0) tp.t_flags |= TF_SYN_REXMT;
  tp.irs = e.sc_irs;
  tp.iss = e.sc_iss;
  tcp_sendseqinit(tp);
  tcp_rcvseqinit(tp);
  tp.snd_nxt = tp.snd_max = SEQ_ADD(tp.iss, 1);
  tp.rcv_adv = SEQ_ADD(tp.rcv_nxt, e.sc_ourwin);
  tp.last_ack_sent = tp.rcv_nxt;
  tp.snd_wnd = e.sc_win;
  tp.max_sndwnd = e.sc_win;
  tp.snd_wl1 = e.sc_irs;
  tp.snd_wl2 = tp.iss;
  tp.t_state = TCPS_SYN_RECEIVED;
  TCP_TIMER_ARM(tp, TCPT_KEEP, tp.t_keepinit);
  ts.tcpstat.tcps_accepts++;
  ts.tcpstat.tcps_sc_completed++;
  return tp;
}

/**
 * syn_cache_reset: a RST for a half-open connection.  Accepted only with
 * a sequence number in the window the SYN,ACK offered (RFC 5961's spirit:
 * a blind RST must guess it).
 */
export function syn_cache_reset(ts: TcpState, src: number, sport: number, dst: number, dport: number, seq: number): void {
  const e = syn_cache_lookup(ts, src, sport, dst, dport);
  if (e === null) return;
  if (SEQ_LEQ(seq, e.sc_irs) || SEQ_GT(seq, SEQ_ADD(e.sc_irs, 1 + e.sc_ourwin))) return;
  ts.tcpstat.tcps_sc_reset++;
  syn_cache_rm(ts, e);
}

/** syn_cache_unreach: an ICMP error for a half-open connection drops it. */
export function syn_cache_unreach(ts: TcpState, src: number, sport: number, dst: number, dport: number, seq: number): void {
  const e = syn_cache_lookup(ts, dst, dport, src, sport);
  if (e === null || seq !== e.sc_iss) return;
  ts.tcpstat.tcps_sc_unreach++;
  syn_cache_rm(ts, e);
}

/** syn_cache_cleanup: listener tp is going away; its half-open connections go with it. */
export function syn_cache_cleanup(ts: TcpState, tp: Tcpcb): void {
  const c = ts.syn_cache;
  if (c.count === 0) return;
  for (let i = 0; i < TCP_SYN_HASH_SIZE; i++) {
    const b = c.buckets[i]!;
    for (let j = b.length - 1; j >= 0; j--) {
      if (b[j]!.sc_tp === tp) syn_cache_rm(ts, b[j]!);
    }
  }
}
