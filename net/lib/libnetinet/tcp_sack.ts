/*
 * tcp_sack.ts: selective acknowledgements (NetBSD's netinet/tcp_sack.c):
 * RFC 2018 SACK blocks both ways, RFC 2883 D-SACK generation, and the
 * sender's scoreboard for SACK-based loss recovery (RFC 6675, with the
 * FACK estimate of data in flight NetBSD uses).
 *
 * Place in the packet path:
 *   receiver: tcp_input() queues out-of-order data (tcp_reass) and notes
 *     duplicates (tcp_new_dsack); tcp_output() asks tcp_sack_numblks()
 *     how many blocks to send and tcp_sack_fill() writes them: the D-SACK
 *     block first (reported once), then the block holding the segment that
 *     arrived last, then the others (RFC 2018 4).
 *   sender: tcp_input() hands the peer's blocks to tcp_sack_option(),
 *     which keeps the holes, the unSACKed ranges between snd_una and
 *     snd_fack (the highest SACKed byte + 1); new ACKs trim them
 *     (tcp_del_sackholes).  In recovery tcp_output() resends from the first
 *     hole (tcp_sack_output) while pipe = (snd_max - snd_fack) + bytes
 *     resent from holes stays below cwnd (tcp_sack_pipe).
 *
 * Holes are objects from a per-kernel free list, linked in sequence
 * order; per connection at most net.inet.tcp.sack.maxholes, per kernel
 * sack.globalmaxholes (sack.globalholes counts them).
 */

import { SEQ_GEQ, SEQ_GT, SEQ_LEQ, SEQ_LT, SEQ_MAX, SEQ_MIN, SEQ_SUB } from './tcp_seq.ts';
import { SackHole, TCP_SACK_MAX, TF_WILL_SACK, tcp_of, type TcpOptInfo, type Tcpcb, type TcpState } from './tcp_var.ts';

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/* ------------------------------------------------------------ holes */

function hole_alloc(ts: TcpState, tp: Tcpcb, start: number, end: number): SackHole | null {
  if (tp.snd_numholes >= ts.tcp_sack_tp_maxholes || ts.tcp_sack_globalholes >= ts.tcp_sack_globalmaxholes) return null;
  let h = ts.hole_free;
  if (h !== null) ts.hole_free = h.next;
  else h = new SackHole();
  h.start = start;
  h.end = end;
  h.rxmit = start;
  h.next = null;
  tp.snd_numholes++;
  ts.tcp_sack_globalholes++;
  return h;
}

function hole_free(ts: TcpState, tp: Tcpcb, h: SackHole): void {
  h.next = ts.hole_free;
  ts.hole_free = h;
  tp.snd_numholes--;
  ts.tcp_sack_globalholes--;
}

/** tcp_free_sackholes: forget the scoreboard (recovery over, or a timeout). */
export function tcp_free_sackholes(tp: Tcpcb): void {
  const ts = tcp_of(tp.t_kernel);
  for (let h = tp.snd_holes; h !== null;) {
    const n = h.next;
    hole_free(ts, tp, h);
    h = n;
  }
  tp.snd_holes = null;
  tp.sack_bytes_rexmit = 0;
  tp.snd_fack = tp.snd_una;
}

/**
 * tcp_sack_option: take the SACK blocks of an arriving ACK (already
 * parsed into opti) into the scoreboard.  Blocks that lie at or below the
 * ACK (D-SACKs, stale reports) or beyond snd_max are ignored (RFC 2018 5,
 * RFC 2883 4.1).  A block past snd_fack opens a hole from the old
 * snd_fack to its left edge; a block inside the holes shrinks, splits or
 * removes them.
 */
export function tcp_sack_option(tp: Tcpcb, opti: TcpOptInfo, ack: number): void {
  const ts = tcp_of(tp.t_kernel);
  if (SEQ_LT(tp.snd_fack, ack)) tp.snd_fack = ack;
  for (let i = 0; i < opti.nsack; i++) {
    let l = opti.sack_left[i]!;
    const r = opti.sack_right[i]!;
    if (!SEQ_LT(l, r) || SEQ_LEQ(r, ack) || SEQ_GT(r, tp.snd_max)) continue;
    if (SEQ_LT(l, ack)) l = ack;
    if (SEQ_GT(r, tp.snd_fack)) {
      if (SEQ_GT(l, tp.snd_fack)) {
        const h = hole_alloc(ts, tp, tp.snd_fack, l);
        if (h !== null) {
          /* Append: holes stay in sequence order. */
          let last = tp.snd_holes;
          if (last === null) tp.snd_holes = h;
          else {
            while (last.next !== null) last = last.next;
            last.next = h;
          }
        }
      }
      tp.snd_fack = r;
    }
    /* Remove [l, r) from the holes. */
    let prev: SackHole | null = null;
    for (let h = tp.snd_holes; h !== null;) {
      const next = h.next;
      if (SEQ_LEQ(h.end, l) || SEQ_GEQ(h.start, r)) {
        prev = h;
        h = next;
        continue;
      }
      if (SEQ_LEQ(l, h.start) && SEQ_GEQ(r, h.end)) {
        /* Covered: gone. */
        if (prev === null) tp.snd_holes = next;
        else prev.next = next;
        hole_free(ts, tp, h);
        h = next;
        continue;
      }
      if (SEQ_LEQ(l, h.start)) {
        /* The front is SACKed. */
        h.start = r;
        h.rxmit = SEQ_MAX(h.rxmit, r);
      } else if (SEQ_GEQ(r, h.end)) {
        /* The back is SACKed. */
        h.end = l;
        h.rxmit = SEQ_MIN(h.rxmit, l);
      } else {
        /* The middle: split in two. */
        const n2 = hole_alloc(ts, tp, r, h.end);
        if (n2 !== null) {
          n2.rxmit = SEQ_MAX(h.rxmit, r);
          n2.next = next;
          h.next = n2;
        }
        h.end = l;
        h.rxmit = SEQ_MIN(h.rxmit, l);
      }
      prev = h;
      h = next;
    }
  }
}

/**
 * tcp_sack_hole_first: recovery began on duplicate ACKs that carried no
 * SACK block: the scoreboard starts with one hole, the segment at snd_una
 * (what RFC 5681 would resend).
 */
export function tcp_sack_hole_first(tp: Tcpcb): void {
  const ts = tcp_of(tp.t_kernel);
  const end = SEQ_MIN((tp.snd_una + tp.t_segsz) >>> 0, tp.snd_max);
  const h = hole_alloc(ts, tp, tp.snd_una, end);
  if (h === null) return;
  tp.snd_holes = h;
  if (SEQ_LT(tp.snd_fack, end)) tp.snd_fack = end;
}

/** tcp_del_sackholes: a new ACK; holes (or parts) below it are gone. */
export function tcp_del_sackholes(tp: Tcpcb, ack: number): void {
  const ts = tcp_of(tp.t_kernel);
  if (SEQ_LT(tp.snd_fack, ack)) tp.snd_fack = ack;
  while (tp.snd_holes !== null) {
    const h = tp.snd_holes;
    if (SEQ_LEQ(h.end, ack)) {
      tp.snd_holes = h.next;
      hole_free(ts, tp, h);
      continue;
    }
    if (SEQ_LT(h.start, ack)) {
      h.start = ack;
      if (SEQ_LT(h.rxmit, ack)) h.rxmit = ack;
    }
    break;
  }
}

/** tcp_sack_output: the first hole with bytes not yet resent in this recovery, or null. */
export function tcp_sack_output(tp: Tcpcb): SackHole | null {
  for (let h = tp.snd_holes; h !== null; h = h.next) if (SEQ_LT(h.rxmit, h.end)) return h;
  return null;
}

/**
 * tcp_sack_pipe: the estimate of bytes in the network during recovery
 * (FACK): everything above the highest SACKed byte, plus what we resent
 * from holes and not yet heard of.
 */
export function tcp_sack_pipe(tp: Tcpcb): number {
  let pipe = SEQ_SUB(tp.snd_max, tp.snd_fack);
  if (pipe < 0) pipe = 0;
  for (let h = tp.snd_holes; h !== null; h = h.next) pipe += SEQ_SUB(h.rxmit, h.start);
  return pipe;
}

/* --------------------------------------------------------- receiver */

/**
 * tcp_new_dsack: a duplicate [seq, seq + len) arrived; report it as the
 * first block of our next ACK (RFC 2883 4).
 */
export function tcp_new_dsack(tp: Tcpcb, seq: number, len: number): void {
  if (len <= 0 || (tp.t_flags & TF_WILL_SACK) === 0) return;
  tp.rcv_dsack_valid = true;
  tp.rcv_dsack_left = seq >>> 0;
  tp.rcv_dsack_right = (seq + len) >>> 0;
}

/** The number of contiguous runs of out-of-order data (each one SACK block). */
function sack_runs(tp: Tcpcb): number {
  let n = 0;
  let end = 0;
  for (let q = tp.segq; q !== null; q = q.next) {
    if (q.len === 0) continue;
    if (n === 0 || q.seq !== end) n++;
    end = (q.seq + q.len) >>> 0;
  }
  return n;
}

/** tcp_sack_numblks: SACK blocks our next segment would carry (before the option-space limit). */
export function tcp_sack_numblks(tp: Tcpcb): number {
  const n = (tp.rcv_dsack_valid ? 1 : 0) + Math.min(sack_runs(tp), TCP_SACK_MAX);
  return Math.min(n, TCP_SACK_MAX + 1);
}

/**
 * tcp_sack_fill: write n blocks at b[o..]: the D-SACK block, then the
 * run holding rcv_lastsack_seq, then the other runs from the lowest.
 */
export function tcp_sack_fill(tp: Tcpcb, b: Uint8Array, o: number, n: number): void {
  const ts = tcp_of(tp.t_kernel);
  let k = 0;
  if (tp.rcv_dsack_valid && k < n) {
    wr32(b, o, tp.rcv_dsack_left);
    wr32(b, o + 4, tp.rcv_dsack_right);
    o += 8;
    k++;
    tp.rcv_dsack_valid = false;
    ts.tcpstat.tcps_dsack_sent++;
  }
  if (k >= n) return;
  /* The run holding the latest segment. */
  let first_l = 0;
  let first_r = 0;
  let have_first = false;
  for (let q = tp.segq; q !== null;) {
    if (q.len === 0) {
      q = q.next;
      continue;
    }
    const l = q.seq;
    let r = (q.seq + q.len) >>> 0;
    q = q.next;
    while (q !== null && q.seq === r && q.len > 0) {
      r = (q.seq + q.len) >>> 0;
      q = q.next;
    }
    if (SEQ_LEQ(l, tp.rcv_lastsack_seq) && SEQ_LT(tp.rcv_lastsack_seq, r)) {
      first_l = l;
      first_r = r;
      have_first = true;
      break;
    }
  }
  if (have_first) {
    wr32(b, o, first_l);
    wr32(b, o + 4, first_r);
    o += 8;
    k++;
  }
  for (let q = tp.segq; q !== null && k < n;) {
    if (q.len === 0) {
      q = q.next;
      continue;
    }
    const l = q.seq;
    let r = (q.seq + q.len) >>> 0;
    q = q.next;
    while (q !== null && q.seq === r && q.len > 0) {
      r = (q.seq + q.len) >>> 0;
      q = q.next;
    }
    if (have_first && l === first_l) continue;
    wr32(b, o, l);
    wr32(b, o + 4, r);
    o += 8;
    k++;
  }
  /* Fewer runs than counted (cannot happen): repeat the last block rather than leave garbage. */
  while (k < n) {
    b.copyWithin(o, o - 8, o);
    o += 8;
    k++;
  }
}

/** The scoreboard operations tcpcbs reach through TcpState.sackops. */
export const tcp_sackops = { tcp_free_sackholes };
