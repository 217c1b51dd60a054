/*
 * Socket buffers and socket state changes (NetBSD's uipc_socket2.c).
 *
 * Protocols call these from their input paths (sbappend*, soisconnected,
 * sorwakeup), which run in softint context: nothing here sleeps except
 * sbwait()/sblock(), which only syscall paths use.  sowakeup() is where the
 * sleeping side learns of new data: a condvar broadcast, a selnotify for
 * poll, and the socket upcall if one is set.
 */

import type { Lwp } from '../rumpkern/lwproc.ts';
import { cv_broadcast, cv_timedwait_sig, cv_wait_sig } from '../rumpkern/locks.ts';
import { selnotify } from '../rumpkern/sys_select.ts';
import { KASSERT } from '../rumpkern/subr_prf.ts';
import { ENOBUFS, EWOULDBLOCK } from '../../include/errno.ts';
import { SO_ACCEPTCONN } from '../../include/socket.ts';
import {
  M_DONTWAIT, M_EOR, M_EXT, MCLBYTES, MLEN, MSIZE, MT_DATA, MT_HEADER, MT_OOBDATA, MT_SONAME,
} from '../../include/mbuf.ts';
import { m_free, m_get, M_READONLY, M_TRAILINGSPACE, type Mbuf } from './uipc_mbuf.ts';
import { net_of } from './net.ts';
import {
  POLL_IN, POLL_OUT, SB_AUTOSIZE, SB_LOCK, SB_UPCALL, SS_CANTRCVMORE, SS_CANTSENDMORE, SS_ISCONFIRMING, SS_ISCONNECTED,
  SS_ISCONNECTING, SS_ISDISCONNECTED, SS_ISDISCONNECTING, SS_NOFDREF, Socket, type Sockbuf,
} from './socketvar.ts';

/* -------------------------------------------------- state transitions */

export function soisconnecting(so: Socket): void {
  so.so_state = (so.so_state & ~(SS_ISCONNECTED | SS_ISDISCONNECTING)) | SS_ISCONNECTING;
}

/**
 * The connection is up.  A socket on a listener's incomplete queue moves
 * to the complete queue and the listener's accept wakes.
 */
export function soisconnected(so: Socket): void {
  so.so_state = (so.so_state & ~(SS_ISCONNECTING | SS_ISDISCONNECTING | SS_ISCONFIRMING)) | SS_ISCONNECTED;
  const head = so.so_head;
  if (head !== null) {
    const i = head.so_q0.indexOf(so);
    if (i >= 0) {
      head.so_q0.splice(i, 1);
      head.so_q.push(so);
      sorwakeup(head);
      cv_broadcast(head.so_cv);
      return;
    }
  }
  cv_broadcast(so.so_cv);
  sorwakeup(so);
  sowwakeup(so);
}

export function soisdisconnecting(so: Socket): void {
  so.so_state = (so.so_state & ~SS_ISCONNECTING) | SS_ISDISCONNECTING | SS_CANTRCVMORE | SS_CANTSENDMORE;
  cv_broadcast(so.so_cv);
  sowwakeup(so);
  sorwakeup(so);
}

export function soisdisconnected(so: Socket): void {
  so.so_state = (so.so_state & ~(SS_ISCONNECTING | SS_ISCONNECTED | SS_ISDISCONNECTING)) |
    SS_CANTRCVMORE | SS_CANTSENDMORE | SS_ISDISCONNECTED;
  cv_broadcast(so.so_cv);
  sowwakeup(so);
  sorwakeup(so);
}

export function socantsendmore(so: Socket): void {
  so.so_state |= SS_CANTSENDMORE;
  sowwakeup(so);
}

export function socantrcvmore(so: Socket): void {
  so.so_state |= SS_CANTRCVMORE;
  sorwakeup(so);
}

/**
 * sonewconn: a connection arrived on listener `head`; make its socket, on
 * the incomplete queue (or the complete one if `connected`).  Null when
 * the backlog is full or the protocol refuses.
 */
export function sonewconn(head: Socket, connected: boolean): Socket | null {
  if (head.so_q0.length + head.so_q.length > (3 * head.so_qlimit) / 2) return null;
  const k = head.so_kernel;
  const so = new Socket(k, head.so_type, head.so_proto, head.so_lock);
  so.so_options = head.so_options & ~SO_ACCEPTCONN;
  so.so_linger = head.so_linger;
  so.so_state = head.so_state | SS_NOFDREF;
  so.so_state &= ~(SS_ISCONNECTED | SS_ISCONNECTING | SS_CANTRCVMORE | SS_CANTSENDMORE | SS_ISDISCONNECTED);
  so.so_cpid = head.so_cpid;
  so.so_rcv.sb_lowat = head.so_rcv.sb_lowat;
  so.so_snd.sb_lowat = head.so_snd.sb_lowat;
  so.so_rcv.sb_timeo = head.so_rcv.sb_timeo;
  so.so_snd.sb_timeo = head.so_snd.sb_timeo;
  so.so_rcv.sb_flags |= head.so_rcv.sb_flags & SB_AUTOSIZE;
  so.so_snd.sb_flags |= head.so_snd.sb_flags & SB_AUTOSIZE;
  if (soreserve(so, head.so_snd.sb_hiwat, head.so_rcv.sb_hiwat) !== 0) return null;
  so.so_head = head;
  const error = head.so_proto.pr_usrreqs!.pr_attach(so, 0, k.lwp0);
  if (error !== 0) {
    so.so_head = null;
    return null;
  }
  net_of(k).nsockets++;
  if (connected) {
    head.so_q.push(so);
    so.so_state |= SS_ISCONNECTED;
    sorwakeup(head);
    cv_broadcast(head.so_cv);
  } else {
    head.so_q0.push(so);
  }
  return so;
}

/** Take a socket off its listener's queues. */
export function soqremque(so: Socket): void {
  const head = so.so_head;
  if (head === null) return;
  let i = head.so_q.indexOf(so);
  if (i >= 0) head.so_q.splice(i, 1);
  i = head.so_q0.indexOf(so);
  if (i >= 0) head.so_q0.splice(i, 1);
  so.so_head = null;
}

/* ---------------------------------------------------------- wakeups */

export function sowakeup(so: Socket, sb: Sockbuf, code: number): void {
  cv_broadcast(sb.sb_cv);
  selnotify(so.so_kernel, sb.sb_sel);
  if ((sb.sb_flags & SB_UPCALL) !== 0 && so.so_upcall !== null) so.so_upcall(so, so.so_upcallarg, code, M_DONTWAIT);
}

export function sorwakeup(so: Socket): void {
  sowakeup(so, so.so_rcv, POLL_IN);
}

export function sowwakeup(so: Socket): void {
  sowakeup(so, so.so_snd, POLL_OUT);
}

/** Set or clear the socket upcall (soupcall_set / soupcall_clear). */
export function soupcall_set(so: Socket, fn: Socket['so_upcall'], arg: unknown): void {
  so.so_upcall = fn;
  so.so_upcallarg = arg;
  so.so_rcv.sb_flags |= SB_UPCALL;
  so.so_snd.sb_flags |= SB_UPCALL;
}

export function soupcall_clear(so: Socket): void {
  so.so_upcall = null;
  so.so_upcallarg = null;
  so.so_rcv.sb_flags &= ~SB_UPCALL;
  so.so_snd.sb_flags &= ~SB_UPCALL;
}

/* ------------------------------------------------- sleeping on a buffer */

/** sbwait: sleep until the buffer changes (with so_lock held); EWOULDBLOCK on SO_*TIMEO. */
export function sbwait(sb: Sockbuf, l: Lwp): Promise<number> {
  const so = sb.sb_so;
  return cv_timedwait_sig(sb.sb_cv, so.so_lock, sb.sb_timeo, l);
}

/**
 * sblock: exclusive use of the buffer across sleeps; EWOULDBLOCK if busy
 * and !wait.  A free buffer is taken synchronously (a number comes back),
 * so the common case costs no promise; only a wait returns one.
 */
export function sblock(sb: Sockbuf, wait: boolean, l: Lwp): number | Promise<number> {
  if ((sb.sb_flags & SB_LOCK) === 0) {
    sb.sb_flags |= SB_LOCK;
    return 0;
  }
  return wait ? sblock_wait(sb, l) : EWOULDBLOCK;
}

async function sblock_wait(sb: Sockbuf, l: Lwp): Promise<number> {
  while ((sb.sb_flags & SB_LOCK) !== 0) {
    const error = await cv_wait_sig(sb.sb_cv, sb.sb_so.so_lock, l);
    if (error !== 0) return error;
  }
  sb.sb_flags |= SB_LOCK;
  return 0;
}

export function sbunlock(sb: Sockbuf): void {
  sb.sb_flags &= ~SB_LOCK;
  cv_broadcast(sb.sb_cv);
}

/* -------------------------------------------------------- reservation */

/** sbreserve: set the buffer's high-water mark; false if too large. */
export function sbreserve(sb: Sockbuf, cc: number): boolean {
  const k = sb.sb_so.so_kernel;
  const sb_max = net_of(k).sb_max;
  if (!Number.isInteger(cc) || cc <= 0 || cc > (sb_max * MCLBYTES) / (MSIZE + MCLBYTES)) return false;
  sb.sb_hiwat = cc;
  sb.sb_mbmax = Math.min(cc * 2, sb_max);
  if (sb.sb_lowat > sb.sb_hiwat) sb.sb_lowat = sb.sb_hiwat;
  return true;
}

/** soreserve: both buffers, with NetBSD's default low-water marks; ENOBUFS if too large. */
export function soreserve(so: Socket, sndcc: number, rcvcc: number): number {
  if (!sbreserve(so.so_snd, sndcc)) return ENOBUFS;
  if (!sbreserve(so.so_rcv, rcvcc)) return ENOBUFS;
  if (so.so_rcv.sb_lowat === 0) so.so_rcv.sb_lowat = 1;
  if (so.so_snd.sb_lowat === 0) so.so_snd.sb_lowat = MCLBYTES;
  if (so.so_snd.sb_lowat > so.so_snd.sb_hiwat) so.so_snd.sb_lowat = so.so_snd.sb_hiwat;
  return 0;
}

export function sbrelease(sb: Sockbuf): void {
  sbflush(sb);
  sb.sb_hiwat = sb.sb_mbmax = 0;
}

/** Room left, in bytes (may be negative after the limits shrank). */
export function sbspace(sb: Sockbuf): number {
  return Math.min(sb.sb_hiwat - sb.sb_cc, sb.sb_mbmax - sb.sb_mbcnt);
}

/* ------------------------------------------------------------ accounting */

/** Control and address bytes held (part of sb_cc, not data). */
function is_data(m: Mbuf): boolean {
  return m.m_type === MT_DATA || m.m_type === MT_HEADER || m.m_type === MT_OOBDATA;
}

export function sballoc(sb: Sockbuf, m: Mbuf): void {
  sb.sb_cc += m.m_len;
  if (!is_data(m)) sb.sb_ctl += m.m_len;
  sb.sb_mbcnt += MSIZE;
  if ((m.m_flags & M_EXT) !== 0) sb.sb_mbcnt += m.m_ext!.ext_size;
}

export function sbfree(sb: Sockbuf, m: Mbuf): void {
  sb.sb_cc -= m.m_len;
  if (!is_data(m)) sb.sb_ctl -= m.m_len;
  sb.sb_mbcnt -= MSIZE;
  if ((m.m_flags & M_EXT) !== 0) sb.sb_mbcnt -= m.m_ext!.ext_size;
}

/* ------------------------------------------------------------ appending */

/**
 * Append chain m after mbuf n of the last record, folding small mbufs into
 * the trailing space of the one before (so a stream of small writes does
 * not hold an mbuf each).
 */
function sbcompress(sb: Sockbuf, m0: Mbuf | null, n0: Mbuf | null): void {
  let m = m0;
  let n = n0;
  let eor = 0;
  while (m !== null) {
    eor |= m.m_flags & M_EOR;
    if (m.m_len === 0 && (eor === 0 || (n !== null && n.m_type === m.m_type))) {
      m = m_free(m);
      continue;
    }
    if (n !== null && (n.m_flags & M_EOR) === 0 && !M_READONLY(n) && m.m_len <= MCLBYTES / 4 &&
        m.m_len <= M_TRAILINGSPACE(n) && n.m_type === m.m_type) {
      n.m_buf.set(m.m_buf.subarray(m.m_data, m.m_data + m.m_len), n.m_data + n.m_len);
      n.m_len += m.m_len;
      sb.sb_cc += m.m_len;
      if (!is_data(m)) sb.sb_ctl += m.m_len;
      m = m_free(m);
      continue;
    }
    if (n !== null) n.m_next = m;
    else sb.sb_mb = m;
    sb.sb_mbtail = m;
    sballoc(sb, m);
    n = m;
    m.m_flags &= ~M_EOR;
    m = m.m_next;
    n.m_next = null;
  }
  if (eor !== 0 && n !== null) n.m_flags |= eor;
}

/** sbappendstream: add data to the one record of a stream socket. */
export function sbappendstream(sb: Sockbuf, m: Mbuf): void {
  KASSERT(sb.sb_so.so_kernel, m.m_nextpkt === null, 'sbappendstream: m_nextpkt');
  KASSERT(sb.sb_so.so_kernel, sb.sb_mb === sb.sb_lastrecord, 'sbappendstream: more than one record');
  sbcompress(sb, m, sb.sb_mbtail);
  sb.sb_lastrecord = sb.sb_mb;
}

/** sbappend: data onto the last record (a new one if the buffer is empty). */
export function sbappend(sb: Sockbuf, m: Mbuf | null): void {
  if (m === null) return;
  if (sb.sb_mb === null) {
    sbappendrecord(sb, m);
    return;
  }
  sbcompress(sb, m, sb.sb_mbtail);
}

/** sbappendrecord: m0 becomes a new record. */
export function sbappendrecord(sb: Sockbuf, m0: Mbuf | null): void {
  if (m0 === null) return;
  const last = sb.sb_lastrecord;
  if (last !== null) last.m_nextpkt = m0;
  else sb.sb_mb = m0;
  sb.sb_lastrecord = m0;
  sb.sb_mbtail = m0;
  sballoc(sb, m0);
  const rest = m0.m_next;
  m0.m_next = null;
  if (rest !== null && (m0.m_flags & M_EOR) !== 0) {
    m0.m_flags &= ~M_EOR;
    rest.m_flags |= M_EOR;
  }
  sbcompress(sb, rest, m0);
}

/**
 * sbappendaddr: a datagram with its sender's address (struct sockaddr
 * bytes) and optional control, as one record.  False (nothing taken) if
 * there is no room or no mbuf: the caller counts the drop and frees m0.
 */
export function sbappendaddr(sb: Sockbuf, asa: Uint8Array, m0: Mbuf | null, control: Mbuf | null): boolean {
  let space = asa.length;
  for (let m: Mbuf | null = m0; m !== null; m = m.m_next) space += m.m_len;
  for (let m: Mbuf | null = control; m !== null; m = m.m_next) space += m.m_len;
  if (space > sbspace(sb) || asa.length > MLEN) {
    sb.sb_overflowed++;
    return false;
  }
  const n = m_get(net_of(sb.sb_so.so_kernel).mb, M_DONTWAIT, MT_SONAME);
  if (n === null) {
    sb.sb_overflowed++;
    return false;
  }
  n.m_buf.set(asa, n.m_data);
  n.m_len = asa.length;
  /* address, then control, then data: one chain, one record */
  let tail: Mbuf = n;
  if (control !== null) {
    tail.m_next = control;
    while (tail.m_next !== null) tail = tail.m_next;
  }
  tail.m_next = m0;
  const last = sb.sb_lastrecord;
  if (last !== null) last.m_nextpkt = n;
  else sb.sb_mb = n;
  sb.sb_lastrecord = n;
  let m: Mbuf = n;
  for (;;) {
    sballoc(sb, m);
    sb.sb_mbtail = m;
    if (m.m_next === null) break;
    m = m.m_next;
  }
  return true;
}

/* ------------------------------------------------------------- dropping */

/** sbdrop: drop len bytes from the front of the buffer (acknowledged stream data). */
export function sbdrop(sb: Sockbuf, len: number): void {
  let next = sb.sb_mb !== null ? sb.sb_mb.m_nextpkt : null;
  let m = sb.sb_mb;
  while (len > 0) {
    if (m === null) {
      KASSERT(sb.sb_so.so_kernel, next !== null, 'sbdrop: more than the buffer holds');
      m = next;
      next = m.m_nextpkt;
      continue;
    }
    if (m.m_len > len) {
      m.m_len -= len;
      m.m_data += len;
      sb.sb_cc -= len;
      if (!is_data(m)) sb.sb_ctl -= len;
      break;
    }
    len -= m.m_len;
    sbfree(sb, m);
    m = m_free(m);
  }
  while (m !== null && m.m_len === 0) {
    sbfree(sb, m);
    m = m_free(m);
  }
  if (m !== null) {
    sb.sb_mb = m;
    m.m_nextpkt = next;
  } else {
    sb.sb_mb = next;
  }
  if (sb.sb_mb === null) {
    sb.sb_mbtail = null;
    sb.sb_lastrecord = null;
  } else if (sb.sb_mb.m_nextpkt === null) {
    sb.sb_lastrecord = sb.sb_mb;
  }
}

/** sbdroprecord: drop the first record whole. */
export function sbdroprecord(sb: Sockbuf): void {
  const m0 = sb.sb_mb;
  if (m0 === null) return;
  sb.sb_mb = m0.m_nextpkt;
  m0.m_nextpkt = null;
  for (let m: Mbuf | null = m0; m !== null; m = m_free(m)) sbfree(sb, m);
  if (sb.sb_mb === null) {
    sb.sb_mbtail = null;
    sb.sb_lastrecord = null;
  }
}

/** sbflush: drop everything. */
export function sbflush(sb: Sockbuf): void {
  while (sb.sb_mb !== null) sbdroprecord(sb);
  KASSERT(sb.sb_so.so_kernel, sb.sb_cc === 0 && sb.sb_mbcnt === 0, 'sbflush: accounting');
}


