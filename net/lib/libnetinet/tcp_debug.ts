/*
 * tcp_debug.ts: the SO_DEBUG trace ring (NetBSD's netinet/tcp_debug.c,
 * read by trpt(8)).
 *
 * Place in the packet path: at the end of tcp_input() (TA_INPUT, or
 * TA_DROP for a segment dropped with a tcpcb), after each segment
 * tcp_output() sends (TA_OUTPUT), in tcp_respond() (TA_RESPOND), and in
 * user requests and timers (TA_USER).  Only connections whose socket has
 * SO_DEBUG are recorded.
 *
 * The ring holds the last net.inet.tcp.debug_size events of the kernel
 * (NetBSD's TCP_NDEBUG, 100 by default; ours is a sysctl so a test can
 * keep a whole transfer).  Each entry records the segment's header fields
 * and a copy of the tcpcb's sequence, window, congestion and timer state
 * after the event, so tests can follow cwnd and ssthresh through slow
 * start, recovery and timeouts.  Entries are objects reused in place.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { SO_DEBUG } from '../../../include/socket.ts';
import { inet_ntop4 } from './in.ts';
import { tcpstates } from './tcp_fsm.ts';
import { TA_USER, tanames, TcpDebug, tcp_of, type Tcpcb, type TcpState } from './tcp_var.ts';

function tcp_debug_slot(ts: TcpState): TcpDebug {
  if (ts.tcp_debug.length < ts.tcp_ndebug) {
    const td = new TcpDebug();
    ts.tcp_debug.push(td);
    ts.tcp_debx = ts.tcp_debug.length % ts.tcp_ndebug;
    return td;
  }
  if (ts.tcp_debx >= ts.tcp_debug.length) ts.tcp_debx = 0;
  const td = ts.tcp_debug[ts.tcp_debx]!;
  ts.tcp_debx = (ts.tcp_debx + 1) % ts.tcp_debug.length;
  return td;
}

/** Does tp trace (SO_DEBUG on its socket)? */
export function tcp_debugging(tp: Tcpcb | null): boolean {
  return tp !== null && (tp.t_inpcb.inp_socket.so_options & SO_DEBUG) !== 0;
}

/**
 * tcp_trace: record a segment event of tp (act TA_INPUT, TA_OUTPUT,
 * TA_RESPOND, TA_DROP): its header fields (len = data bytes) and tp's
 * state after it.  Nothing happens unless tp traces.
 */
export function tcp_trace(act: number, ostate: number, tp: Tcpcb | null, seq: number, ack: number, flags: number,
  len: number, win: number): void {
  if (tp === null || !tcp_debugging(tp)) return;
  const td = tcp_trace_fill(act, ostate, tp, '');
  td.th_seq = seq;
  td.th_ack = ack;
  td.th_flags = flags;
  td.th_len = len;
  td.th_win = win;
}

/** tcp_trace for a user request or a timer (TA_USER), named req. */
export function tcp_trace_user(tp: Tcpcb | null, ostate: number, req: string): void {
  if (tp === null || !tcp_debugging(tp)) return;
  const td = tcp_trace_fill(TA_USER, ostate, tp, req);
  td.th_seq = td.th_ack = td.th_flags = td.th_len = td.th_win = 0;
}

function tcp_trace_fill(act: number, ostate: number, tp: Tcpcb, req: string): TcpDebug {
  const ts = tcp_of(tp.t_kernel);
  const td = tcp_debug_slot(ts);
  const inp = tp.t_inpcb;
  td.td_time = Math.floor(tp.t_kernel.uptimeNs() / 1e6);
  td.td_act = act;
  td.td_ostate = ostate;
  td.td_nstate = tp.t_state;
  td.td_laddr = inp.inp_laddr;
  td.td_lport = inp.inp_lport;
  td.td_faddr = inp.inp_faddr;
  td.td_fport = inp.inp_fport;
  td.snd_una = tp.snd_una;
  td.snd_nxt = tp.snd_nxt;
  td.snd_max = tp.snd_max;
  td.snd_wnd = tp.snd_wnd;
  td.snd_cwnd = tp.snd_cwnd;
  td.snd_ssthresh = tp.snd_ssthresh;
  td.rcv_nxt = tp.rcv_nxt;
  td.rcv_wnd = tp.rcv_wnd;
  td.t_rxtshift = tp.t_rxtshift;
  td.t_rxtcur = tp.t_rxtcur;
  td.t_srtt = tp.t_srtt;
  td.t_dupacks = tp.t_dupacks;
  td.td_req = req;
  return td;
}

/** A copy of one trace entry (what tcp_debug_read returns). */
export type TcpDebugRecord = Omit<TcpDebug, never>;

/** The trace ring of k, oldest first (copies), as trpt reads net.inet.tcp.debug. */
export function tcp_debug_read(k: Kernel): TcpDebugRecord[] {
  const ts = tcp_of(k);
  const n = ts.tcp_debug.length;
  const out: TcpDebugRecord[] = [];
  const start = n < ts.tcp_ndebug ? 0 : ts.tcp_debx;
  for (let i = 0; i < n; i++) out.push({ ...ts.tcp_debug[(start + i) % n]! });
  return out;
}

/** Empty the ring (and set its size; 0 keeps the current one). */
export function tcp_debug_reset(k: Kernel, size = 0): void {
  const ts = tcp_of(k);
  if (size > 0) ts.tcp_ndebug = size;
  ts.tcp_debug = [];
  ts.tcp_debx = 0;
}

const FLAGNAMES = ['FIN', 'SYN', 'RST', 'PUSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** One entry as trpt prints it. */
export function tcp_debug_format(td: TcpDebugRecord): string {
  const fl: string[] = [];
  for (let i = 0; i < 8; i++) if ((td.th_flags & (1 << i)) !== 0) fl.push(FLAGNAMES[i]!);
  const conn = `${inet_ntop4(td.td_laddr)}.${td.td_lport} > ${inet_ntop4(td.td_faddr)}.${td.td_fport}`;
  const st = `${tcpstates[td.td_ostate] ?? td.td_ostate} -> ${tcpstates[td.td_nstate] ?? td.td_nstate}`;
  const seg = td.td_act === TA_USER ? td.td_req : `[${td.th_seq}..${(td.th_seq + td.th_len) >>> 0})@${td.th_ack} <${fl.join(',')}> win ${td.th_win}`;
  return `${td.td_time} ${tanames[td.td_act]} ${conn} ${st} ${seg} | una ${td.snd_una} nxt ${td.snd_nxt} max ${td.snd_max} ` +
    `cwnd ${td.snd_cwnd} ssthresh ${td.snd_ssthresh} wnd ${td.snd_wnd} rcv_nxt ${td.rcv_nxt} rcv_wnd ${td.rcv_wnd}`;
}
