/*
 * The socket layer proper (NetBSD's uipc_socket.c): socreate, sobind,
 * solisten, soaccept, soconnect, soshutdown, soclose, and the two data
 * paths, sosend() (user data into mbufs, handed to pr_send) and
 * soreceive() (records out of so_rcv into the user's buffer).
 *
 * Every function here runs with so_lock (softnet_lock) held by the caller,
 * except where it says it takes it; the sleeps (sbwait, sblock, connect
 * and linger waits) release it while asleep.  Errors are errnos.
 */

import type { Kernel } from '../rumpkern/rump.ts';
import type { Lwp } from '../rumpkern/lwproc.ts';
import type { Uio } from '../rumpkern/kern_descrip.ts';
import { cv_timedwait_sig } from '../rumpkern/locks.ts';
import {
  EAFNOSUPPORT, EALREADY, ECONNABORTED, EDESTADDRREQ, EDOM, EINVAL, EISCONN, EMSGSIZE, ENOBUFS, ENOPROTOOPT,
  ENOTCONN, EOPNOTSUPP, EPIPE, EPROTONOSUPPORT, EPROTOTYPE, EWOULDBLOCK,
} from '../../include/errno.ts';
import { M_DONTWAIT, M_EOR, M_EXT, MINCLSIZE, MT_CONTROL, MT_DATA, MT_OOBDATA, MT_SONAME } from '../../include/mbuf.ts';
import {
  MSG_DONTWAIT, MSG_EOR, MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, SHUT_RD, SHUT_RDWR, SHUT_WR, SO_ACCEPTCONN,
  SO_BROADCAST, SO_DEBUG, SO_DONTROUTE, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_NOSIGPIPE, SO_OOBINLINE,
  SO_RCVBUF, SO_RCVLOWAT, SO_RCVTIMEO, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SO_SNDLOWAT, SO_SNDTIMEO,
  SO_TIMESTAMP, SO_TYPE, SO_USELOOPBACK, SO_OVERFLOWED, SOL_SOCKET, type Linger, type Timeval,
} from '../../include/socket.ts';
import { m_clget, m_free, m_freem, m_get, m_gethdr, MH_ALIGN, M_TRAILINGSPACE, type Mbuf } from './uipc_mbuf.ts';
import { net_of } from './net.ts';
import { PR_ABRTACPTDIS, PR_ADDR, PR_ATOMIC, PR_CONNREQUIRED, PR_LISTEN, PR_WANTRCVD, PRCO_GETOPT, PRCO_SETOPT, type Sockopt, type SockaddrBuf } from './uipc_domain.ts';
import {
  SS_CANTRCVMORE, SS_CANTSENDMORE, SS_ISABORTING, SS_ISCONFIRMING, SS_ISCONNECTED, SS_ISCONNECTING,
  SS_ISDISCONNECTED, SS_ISDISCONNECTING, SS_NBIO, SS_NOFDREF, SS_RCVATMARK, SB_AUTOSIZE, Socket,
} from './socketvar.ts';
import {
  sbfree, sblock, sbdroprecord, sbflush, sbrelease, sbreserve, sbspace, sbunlock, sbwait, socantrcvmore, soqremque,
} from './uipc_socket2.ts';

/** socreate: a new socket of (domain, type, protocol) for l's process. */
export function socreate(k: Kernel, dom: number, type: number, proto: number, l: Lwp): { error: number; so: Socket | null } {
  const net = net_of(k);
  const prp = proto !== 0 ? net.domains.pffindproto(dom, proto, type) : net.domains.pffindtype(dom, type);
  if (prp === null || prp.pr_usrreqs === null) {
    if (net.domains.pffinddomain(dom) === null) return { error: EAFNOSUPPORT, so: null };
    return { error: proto !== 0 ? EPROTONOSUPPORT : EPROTOTYPE, so: null };
  }
  if (prp.pr_type !== type) return { error: EPROTOTYPE, so: null };
  const so = new Socket(k, type, prp, net.softnet_lock);
  so.so_cpid = l.l_proc.p_pid;
  /* Counted from birth: sofree uncounts it, also when the attach fails below. */
  net.nsockets++;
  const error = prp.pr_usrreqs.pr_attach(so, proto, l);
  if (error !== 0) {
    so.so_state |= SS_NOFDREF;
    sofree(so);
    return { error, so: null };
  }
  return { error: 0, so };
}

/**
 * sofree: release a socket nobody refers to any more (no descriptor, no
 * protocol).  Not while soabort is inside the protocol's pr_abort (NetBSD's
 * so_aborting): a protocol that frees its PCB there (TCP's tcp_close) may
 * call sofree itself, and soabort frees the socket once, afterwards.
 */
export function sofree(so: Socket): void {
  if (so.so_pcb !== null || (so.so_state & SS_NOFDREF) === 0 || (so.so_state & SS_ISABORTING) !== 0) return;
  const head = so.so_head;
  if (head !== null) {
    /* A completed connection waits for accept; it is freed by the listener's close. */
    if (head.so_q.includes(so)) return;
    soqremque(so);
  }
  sbrelease(so.so_snd);
  sorflush(so);
  sbrelease(so.so_rcv);
  const net = so.so_kernel.rumpnet;
  if (net !== undefined && net.nsockets > 0) net.nsockets--;
}

/**
 * soclose: the descriptor is gone.  Pending connections of a listener are
 * aborted; a connected socket is disconnected, waiting up to SO_LINGER
 * seconds for the disconnect when lingering (a zero linger lets the
 * protocol reset the connection).
 */
export async function soclose(so: Socket, l: Lwp): Promise<number> {
  let error = 0;
  if ((so.so_options & SO_ACCEPTCONN) !== 0) {
    for (const so2 of [...so.so_q0, ...so.so_q]) {
      soqremque(so2);
      soabort(so2);
    }
  }
  if (so.so_pcb !== null) {
    if ((so.so_state & SS_ISCONNECTED) !== 0) {
      if ((so.so_state & SS_ISDISCONNECTING) === 0) error = sodisconnect(so);
      if (error === 0 && (so.so_options & SO_LINGER) !== 0 && so.so_linger > 0 &&
          (so.so_state & SS_ISDISCONNECTING) !== 0 && (so.so_state & SS_NBIO) === 0) {
        const k = so.so_kernel;
        const deadline = k.ticks + so.so_linger * k.hz;
        while ((so.so_state & SS_ISCONNECTED) !== 0) {
          const timo = (deadline - k.ticks) | 0;
          if (timo <= 0) break;
          error = await cv_timedwait_sig(so.so_cv, so.so_lock, timo, l);
          if (error !== 0) {
            if (error === EWOULDBLOCK) error = 0;
            break;
          }
        }
      }
    }
    if (so.so_pcb !== null) so.so_proto.pr_usrreqs!.pr_detach(so);
  }
  so.so_state |= SS_NOFDREF;
  sofree(so);
  return error;
}

/** soabort: drop a connection that never got a descriptor. */
export function soabort(so: Socket): number {
  so.so_state |= SS_ISABORTING;
  const error = so.so_proto.pr_usrreqs!.pr_abort(so);
  so.so_state &= ~SS_ISABORTING;
  so.so_state |= SS_NOFDREF;
  sofree(so);
  return error;
}

/** sobind: a number, or a promise when the protocol sleeps (see PrUsrreqs). */
export function sobind(so: Socket, nam: Uint8Array, l: Lwp): number | Promise<number> {
  return so.so_proto.pr_usrreqs!.pr_bind(so, nam, l);
}

/** solisten: start accepting; backlog clipped to kern.somaxconn. */
export function solisten(so: Socket, backlog: number, l: Lwp): number | Promise<number> {
  if ((so.so_state & (SS_ISCONNECTED | SS_ISCONNECTING | SS_ISDISCONNECTING)) !== 0) return EINVAL;
  if ((so.so_proto.pr_flags & PR_LISTEN) === 0) return EOPNOTSUPP;
  const r = so.so_proto.pr_usrreqs!.pr_listen(so, l);
  /* Only a protocol that sleeps costs a promise. */
  return typeof r === 'number' ? solisten_done(so, backlog, r) : r.then((error) => solisten_done(so, backlog, error));
}

function solisten_done(so: Socket, backlog: number, error: number): number {
  if (error !== 0) return error;
  if (so.so_q.length === 0 && so.so_q0.length === 0) so.so_options |= SO_ACCEPTCONN;
  /* As NetBSD: a negative backlog is 0, and sonewconn's 3/2 rule still admits one connection then. */
  so.so_qlimit = Math.min(Math.max(0, backlog | 0), net_of(so.so_kernel).somaxconn);
  return 0;
}

/** soaccept: a socket taken off the listener's queue gets its descriptor. */
export function soaccept(so: Socket, nam: SockaddrBuf): number {
  so.so_state &= ~SS_NOFDREF;
  if ((so.so_state & SS_ISDISCONNECTED) === 0 || (so.so_proto.pr_flags & PR_ABRTACPTDIS) === 0) {
    return so.so_proto.pr_usrreqs!.pr_accept(so, nam);
  }
  return ECONNABORTED;
}

export function soconnect(so: Socket, nam: Uint8Array, l: Lwp): number {
  if ((so.so_options & SO_ACCEPTCONN) !== 0) return EOPNOTSUPP;
  /* A connected datagram socket may connect again (to another peer): disconnect first. */
  if ((so.so_state & (SS_ISCONNECTED | SS_ISCONNECTING)) !== 0) {
    if ((so.so_proto.pr_flags & PR_CONNREQUIRED) !== 0) {
      return (so.so_state & SS_ISCONNECTING) !== 0 ? EALREADY : EISCONN;
    }
    if (sodisconnect(so) !== 0) return EISCONN;
  }
  return so.so_proto.pr_usrreqs!.pr_connect(so, nam, l);
}

export function soconnect2(so1: Socket, so2: Socket): number {
  return so1.so_proto.pr_usrreqs!.pr_connect2(so1, so2);
}

export function sodisconnect(so: Socket): number {
  if ((so.so_state & SS_ISCONNECTED) === 0) return ENOTCONN;
  if ((so.so_state & SS_ISDISCONNECTING) !== 0) return EALREADY;
  return so.so_proto.pr_usrreqs!.pr_disconnect(so);
}

/** soshutdown(2): SHUT_RD discards what is queued; SHUT_WR tells the protocol. */
export function soshutdown(so: Socket, how: number, l: Lwp): number {
  if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) return EINVAL;
  if ((so.so_state & (SS_ISCONNECTED | SS_ISCONNECTING | SS_ISDISCONNECTING)) === 0 &&
      (so.so_proto.pr_flags & PR_CONNREQUIRED) !== 0) {
    return ENOTCONN;
  }
  if (how === SHUT_RD || how === SHUT_RDWR) {
    sorflush(so);
    /*
     * The flushed bytes are room given back, as if they had been read:
     * tell a protocol that counts it.  A unix stream credits its sender
     * only in pr_rcvd, so without this a writer that had filled this
     * buffer would wait forever for a reader that will never read.
     */
    if ((so.so_proto.pr_flags & PR_WANTRCVD) !== 0 && so.so_pcb !== null) so.so_proto.pr_usrreqs!.pr_rcvd(so, 0, l);
  }
  if (how === SHUT_WR || how === SHUT_RDWR) return so.so_proto.pr_usrreqs!.pr_shutdown(so);
  return 0;
}

/** sorflush: no more input; drop what is queued. */
export function sorflush(so: Socket): void {
  socantrcvmore(so);
  sbflush(so.so_rcv);
}

/* ------------------------------------------------------------- sosend */

/**
 * Copy up to `space` bytes of uio into a new mbuf chain (a packet header
 * first); null with *error ENOBUFS when mbufs run out.
 */
function sosend_chain(so: Socket, uio: Uio, space: number, atomic: boolean, res: { error: number }): Mbuf | null {
  const ctx = net_of(so.so_kernel).mb;
  let top: Mbuf | null = null;
  let tail: Mbuf | null = null;
  let total = 0;
  while (uio.uio_resid > 0 && (atomic || space > 0)) {
    const m: Mbuf | null = top === null ? m_gethdr(ctx, M_DONTWAIT, MT_DATA) : m_get(ctx, M_DONTWAIT, MT_DATA);
    if (m === null || (uio.uio_resid >= MINCLSIZE && !m_clget(m, M_DONTWAIT))) {
      if (m !== null) m_free(m);
      m_freem(top);
      res.error = ENOBUFS;
      return null;
    }
    let len = M_TRAILINGSPACE(m);
    if (uio.uio_resid < len) len = uio.uio_resid;
    if (!atomic && len > space) len = space;
    /* Leave room in front for protocol headers when the data is small. */
    if (top === null && len < M_TRAILINGSPACE(m) && (m.m_flags & M_EXT) === 0) MH_ALIGN(m, len);
    m.m_buf.set(uio.uio_buf.subarray(uio.uio_offset, uio.uio_offset + len), m.m_data);
    m.m_len = len;
    uio.uio_offset += len;
    uio.uio_resid -= len;
    space -= len;
    total += len;
    if (tail === null) top = m;
    else tail.m_next = m;
    tail = m;
  }
  if (top === null) {
    top = m_gethdr(ctx, M_DONTWAIT, MT_DATA);
    if (top === null) {
      res.error = ENOBUFS;
      return null;
    }
  }
  top.m_pkthdr.len = total;
  return top;
}

/**
 * sosend: send uio's data (or a ready chain `top`) to addr (null when
 * connected).  Atomic protocols take the message whole or not at all;
 * streams go out in pieces as buffer space allows.  Blocks for space
 * unless non-blocking (EWOULDBLOCK).  Returns with uio_resid showing what
 * was not sent.
 */
export async function sosend(
  so: Socket, addr: Uint8Array | null, uio: Uio | null, top: Mbuf | null, control: Mbuf | null, flags: number, l: Lwp,
): Promise<number> {
  const atomic = (so.so_proto.pr_flags & PR_ATOMIC) !== 0 || top !== null;
  const resid0 = uio !== null ? uio.uio_resid : top!.m_pkthdr.len;
  let clen = 0;
  for (let m: Mbuf | null = control; m !== null; m = m.m_next) clen += m.m_len;
  if (resid0 < 0) {
    m_freem(top);
    m_freem(control);
    return EINVAL;
  }
  const nbio = (so.so_state & SS_NBIO) !== 0 || (flags & MSG_DONTWAIT) !== 0;
  const lk = sblock(so.so_snd, !nbio, l);
  let error = typeof lk === 'number' ? lk : await lk;
  if (error !== 0) {
    m_freem(top);
    m_freem(control);
    return error;
  }
  const res = { error: 0 };
  try {
    for (;;) {
      if ((so.so_state & SS_CANTSENDMORE) !== 0) return (error = EPIPE);
      if (so.so_error !== 0) {
        error = so.so_error;
        so.so_error = 0;
        return error;
      }
      if ((so.so_state & SS_ISCONNECTED) === 0) {
        if ((so.so_proto.pr_flags & PR_CONNREQUIRED) !== 0) {
          if ((so.so_state & SS_ISCONFIRMING) === 0 && !(resid0 === 0 && clen !== 0)) return (error = ENOTCONN);
        } else if (addr === null) {
          return (error = EDESTADDRREQ);
        }
      }
      const resid = uio !== null ? uio.uio_resid : top!.m_pkthdr.len;
      let space = sbspace(so.so_snd);
      if ((flags & MSG_OOB) !== 0) space += 1024;
      if ((atomic && resid > so.so_snd.sb_hiwat) || clen > so.so_snd.sb_hiwat) return (error = EMSGSIZE);
      if (space < resid + clen && (atomic || space < so.so_snd.sb_lowat || space < clen)) {
        if (nbio) return (error = EWOULDBLOCK);
        sbunlock(so.so_snd);
        error = await sbwait(so.so_snd, l);
        const lk2 = sblock(so.so_snd, true, l);
        const e2 = typeof lk2 === 'number' ? lk2 : await lk2;
        if (error === 0) error = e2;
        if (error !== 0) return error;
        continue;
      }
      space -= clen;
      /* At least one pass, so that a zero-length datagram is sent. */
      do {
        let m: Mbuf | null = top;
        top = null;
        if (m === null) {
          m = sosend_chain(so, uio!, space, atomic, res);
          if (m === null) return (error = res.error);
          space -= m.m_pkthdr.len;
        }
        if ((flags & MSG_EOR) !== 0 && (uio === null || uio.uio_resid === 0)) m.m_flags |= M_EOR;
        const ctl = control;
        control = null;
        error = so.so_proto.pr_usrreqs!.pr_send(so, m, addr, ctl, l);
        if (error !== 0) return error;
      } while (uio !== null && uio.uio_resid > 0 && space > 0);
      if (uio === null || uio.uio_resid === 0) return (error = 0);
    }
  } finally {
    sbunlock(so.so_snd);
    m_freem(top);
    m_freem(control);
  }
}

/* ---------------------------------------------------------- soreceive */

/** soreceive's in/out flags and the sender's address. */
export interface RecvState {
  flags: number;
  from: SockaddrBuf | null;
}

function sb_empty_fixup(so: Socket): void {
  const sb = so.so_rcv;
  if (sb.sb_mb === null) {
    sb.sb_mbtail = null;
    sb.sb_lastrecord = null;
  }
}

/**
 * soreceive: move data from so_rcv into uio.  One record per call for
 * atomic protocols (the rest of a datagram that does not fit is dropped,
 * MSG_TRUNC); streams fill as much as is there, waiting for the low-water
 * mark or, with MSG_WAITALL, for all of it.  The sender's address comes
 * back in rs.from for PR_ADDR protocols.
 */
export async function soreceive(so: Socket, uio: Uio, rs: RecvState, l: Lwp): Promise<number> {
  let flags = rs.flags & ~(MSG_EOR | MSG_TRUNC);
  const pr = so.so_proto;
  const sb = so.so_rcv;
  if ((flags & MSG_OOB) !== 0) return EOPNOTSUPP;
  const nbio = (so.so_state & SS_NBIO) !== 0 || (flags & MSG_DONTWAIT) !== 0;
  const orig_resid = uio.uio_resid;
  let error = 0;
  restart: for (;;) {
    const lk = sblock(sb, !nbio, l);
    error = typeof lk === 'number' ? lk : await lk;
    if (error !== 0) return error;
    let m = sb.sb_mb;
    /*
     * Wait unless there is a record, or enough stream data for the
     * low-water mark (all of the request with MSG_WAITALL), or an error or
     * end-of-file to report.
     */
    /*
     * Only MSG_DONTWAIT skips the low-water wait here (as NetBSD): a
     * non-blocking socket below SO_RCVLOWAT gets EWOULDBLOCK, as poll's
     * soreadable() says, rather than the few bytes there are.
     */
    if (m === null || ((flags & MSG_DONTWAIT) === 0 && sb.sb_cc - sb.sb_ctl < uio.uio_resid &&
        (sb.sb_cc - sb.sb_ctl < sb.sb_lowat || ((flags & MSG_WAITALL) !== 0 && uio.uio_resid <= sb.sb_hiwat)) &&
        m.m_nextpkt === null && (pr.pr_flags & PR_ATOMIC) === 0)) {
      let block = true;
      if (so.so_error !== 0) {
        if (m === null) {
          error = so.so_error;
          if ((flags & MSG_PEEK) === 0) so.so_error = 0;
          sbunlock(sb);
          return error;
        }
        block = false;
      } else if ((so.so_state & SS_CANTRCVMORE) !== 0) {
        if (m === null) {
          sbunlock(sb);
          return 0;
        }
        block = false;
      } else {
        for (let n = m; n !== null; n = n.m_next) {
          if (n.m_type === MT_OOBDATA || (n.m_flags & M_EOR) !== 0) {
            block = false;
            break;
          }
        }
        if (block) {
          if ((so.so_state & (SS_ISCONNECTED | SS_ISCONNECTING)) === 0 && (pr.pr_flags & PR_CONNREQUIRED) !== 0) {
            sbunlock(sb);
            return ENOTCONN;
          }
          if (uio.uio_resid === 0) {
            sbunlock(sb);
            return 0;
          }
          if (nbio) {
            sbunlock(sb);
            return EWOULDBLOCK;
          }
          sbunlock(sb);
          error = await sbwait(sb, l);
          if (error !== 0) return error;
          continue restart;
        }
      }
    }
    /* dontblock: */
    m = sb.sb_mb!;
    let nextrecord = m.m_nextpkt;
    if ((pr.pr_flags & PR_ADDR) !== 0 && m.m_type === MT_SONAME) {
      if (rs.from !== null) rs.from.sa = m.m_buf.slice(m.m_data, m.m_data + m.m_len);
      if ((flags & MSG_PEEK) !== 0) {
        m = m.m_next;
      } else {
        sbfree(sb, m);
        sb.sb_mb = m_free(m);
        m = sb.sb_mb;
      }
    }
    /* Control messages are not delivered yet: skip (or drop) them. */
    while (m !== null && m.m_type === MT_CONTROL) {
      if ((flags & MSG_PEEK) !== 0) {
        m = m.m_next;
      } else {
        sbfree(sb, m);
        sb.sb_mb = m_free(m);
        m = sb.sb_mb;
      }
    }
    if (m !== null && (flags & MSG_PEEK) === 0) {
      m.m_nextpkt = nextrecord;
      if (nextrecord === null) sb.sb_lastrecord = m;
    } else if (m === null && (flags & MSG_PEEK) === 0) {
      sb.sb_mb = nextrecord;
      sb_empty_fixup(so);
    }
    let moff = 0;
    while (m !== null && uio.uio_resid > 0) {
      if (m.m_type === MT_OOBDATA) break;
      so.so_state &= ~SS_RCVATMARK;
      let len = uio.uio_resid;
      if (len > m.m_len - moff) len = m.m_len - moff;
      uio.uio_buf.set(m.m_buf.subarray(m.m_data + moff, m.m_data + moff + len), uio.uio_offset);
      uio.uio_offset += len;
      uio.uio_resid -= len;
      if (len === m.m_len - moff) {
        if ((m.m_flags & M_EOR) !== 0) flags |= MSG_EOR;
        if ((flags & MSG_PEEK) !== 0) {
          m = m.m_next;
          moff = 0;
        } else {
          nextrecord = m.m_nextpkt;
          sbfree(sb, m);
          sb.sb_mb = m = m_free(m);
          if (m !== null) {
            m.m_nextpkt = nextrecord;
            if (nextrecord === null) sb.sb_lastrecord = m;
          } else {
            sb.sb_mb = nextrecord;
            sb_empty_fixup(so);
          }
        }
      } else if ((flags & MSG_PEEK) !== 0) {
        moff += len;
      } else {
        m.m_data += len;
        m.m_len -= len;
        sb.sb_cc -= len;
      }
      if ((flags & MSG_EOR) !== 0) break;
      /* MSG_WAITALL on a stream: wait for the rest unless something ends the wait. */
      if ((flags & MSG_WAITALL) !== 0 && m === null && uio.uio_resid > 0 && (flags & MSG_PEEK) === 0 &&
          (pr.pr_flags & PR_ATOMIC) === 0 && nextrecord === null) {
        if (so.so_error !== 0 || (so.so_state & SS_CANTRCVMORE) !== 0) break;
        if ((pr.pr_flags & PR_WANTRCVD) !== 0 && so.so_pcb !== null) pr.pr_usrreqs!.pr_rcvd(so, flags, l);
        const e = await sbwait(sb, l);
        if (e !== 0) {
          sbunlock(sb);
          return 0;
        }
        m = sb.sb_mb;
        if (m !== null) nextrecord = m.m_nextpkt;
      }
    }
    if (m !== null && (pr.pr_flags & PR_ATOMIC) !== 0) {
      flags |= MSG_TRUNC;
      if ((flags & MSG_PEEK) === 0) sbdroprecord(sb);
    }
    if ((flags & MSG_PEEK) === 0) {
      if (m === null) {
        sb.sb_mb = nextrecord;
        sb_empty_fixup(so);
      }
      if ((pr.pr_flags & PR_WANTRCVD) !== 0 && so.so_pcb !== null) pr.pr_usrreqs!.pr_rcvd(so, flags, l);
    }
    /* A stream read that got nothing (all skipped) waits again. */
    if (orig_resid === uio.uio_resid && orig_resid !== 0 && (flags & MSG_EOR) === 0 &&
        (so.so_state & SS_CANTRCVMORE) === 0 && (pr.pr_flags & PR_ATOMIC) === 0) {
      sbunlock(sb);
      continue restart;
    }
    sbunlock(sb);
    rs.flags = flags;
    return 0;
  }
}

/* ------------------------------------------------------ socket options */

/** A timeval in ticks; -1 if it is not a timeval (EINVAL), -2 if out of range (EDOM, as NetBSD). */
function ticks_of_timeval(so: Socket, v: unknown): number {
  const tv = v as Timeval;
  if (typeof tv !== 'object' || tv === null || !Number.isInteger(tv.tv_sec) || !Number.isInteger(tv.tv_usec)) return -1;
  if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1e6) return -2;
  const k = so.so_kernel;
  const ticks = Math.ceil(tv.tv_sec * k.hz + (tv.tv_usec * k.hz) / 1e6);
  return ticks > 0x7fffffff ? -2 : ticks;
}

function int_of(v: unknown): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

const FLAG_OPTIONS = [SO_DEBUG, SO_KEEPALIVE, SO_DONTROUTE, SO_USELOOPBACK, SO_BROADCAST, SO_REUSEADDR,
  SO_REUSEPORT, SO_OOBINLINE, SO_TIMESTAMP, SO_NOSIGPIPE];

/** sosetopt: SOL_SOCKET options here, the rest to the protocol. */
export function sosetopt(so: Socket, sopt: Sockopt): number {
  if (sopt.sopt_level !== SOL_SOCKET) {
    return so.so_proto.pr_ctloutput !== undefined ? so.so_proto.pr_ctloutput(PRCO_SETOPT, so, sopt) : ENOPROTOOPT;
  }
  const name = sopt.sopt_name;
  const v = sopt.sopt_value;
  let error = 0;
  if (FLAG_OPTIONS.includes(name)) {
    const n = int_of(v);
    if (n === null) return EINVAL;
    if (n !== 0) so.so_options |= name;
    else so.so_options &= ~name;
  } else if (name === SO_LINGER) {
    const lg = v as Linger;
    if (typeof lg !== 'object' || lg === null || !Number.isInteger(lg.l_onoff) || !Number.isInteger(lg.l_linger)) return EINVAL;
    /* NetBSD: a linger time that is negative, above USHRT_MAX or overflows ticks is EDOM. */
    if (lg.l_linger < 0 || lg.l_linger > 0xffff || lg.l_linger > Math.floor(0x7fffffff / so.so_kernel.hz)) return EDOM;
    so.so_linger = lg.l_linger;
    if (lg.l_onoff !== 0) so.so_options |= SO_LINGER;
    else so.so_options &= ~SO_LINGER;
  } else if (name === SO_SNDBUF || name === SO_RCVBUF || name === SO_SNDLOWAT || name === SO_RCVLOWAT) {
    const n = int_of(v);
    if (n === null || n < 1) return EINVAL;
    const sb = name === SO_SNDBUF || name === SO_SNDLOWAT ? so.so_snd : so.so_rcv;
    if (name === SO_SNDBUF || name === SO_RCVBUF) {
      if (!sbreserve(sb, n)) return ENOBUFS;
      sb.sb_flags &= ~SB_AUTOSIZE;
    } else {
      sb.sb_lowat = Math.min(n, sb.sb_hiwat);
    }
  } else if (name === SO_SNDTIMEO || name === SO_RCVTIMEO) {
    const t = ticks_of_timeval(so, v);
    if (t === -1) return EINVAL;
    if (t === -2) return EDOM;
    (name === SO_SNDTIMEO ? so.so_snd : so.so_rcv).sb_timeo = t;
  } else {
    error = ENOPROTOOPT;
  }
  if (error === 0 && so.so_proto.pr_ctloutput !== undefined) {
    /* Protocols see socket-level changes too (NetBSD passes them down). */
    const e2 = so.so_proto.pr_ctloutput(PRCO_SETOPT, so, sopt);
    if (e2 !== ENOPROTOOPT) error = e2;
  }
  return error;
}

function timeval_of_ticks(so: Socket, ticks: number): Timeval {
  const hz = so.so_kernel.hz;
  const tv_sec = Math.floor(ticks / hz);
  return { tv_sec, tv_usec: Math.round(((ticks % hz) * 1e6) / hz) };
}

/** sogetopt: the value lands in sopt.sopt_value. */
export function sogetopt(so: Socket, sopt: Sockopt): number {
  if (sopt.sopt_level !== SOL_SOCKET) {
    return so.so_proto.pr_ctloutput !== undefined ? so.so_proto.pr_ctloutput(PRCO_GETOPT, so, sopt) : ENOPROTOOPT;
  }
  const name = sopt.sopt_name;
  if (FLAG_OPTIONS.includes(name) || name === SO_ACCEPTCONN) {
    sopt.sopt_value = (so.so_options & name) !== 0 ? 1 : 0;
    return 0;
  }
  switch (name) {
    case SO_LINGER:
      sopt.sopt_value = { l_onoff: (so.so_options & SO_LINGER) !== 0 ? 1 : 0, l_linger: so.so_linger } satisfies Linger;
      return 0;
    case SO_TYPE:
      sopt.sopt_value = so.so_type;
      return 0;
    case SO_ERROR:
      sopt.sopt_value = so.so_error;
      so.so_error = 0;
      return 0;
    case SO_SNDBUF:
      sopt.sopt_value = so.so_snd.sb_hiwat;
      return 0;
    case SO_RCVBUF:
      sopt.sopt_value = so.so_rcv.sb_hiwat;
      return 0;
    case SO_SNDLOWAT:
      sopt.sopt_value = so.so_snd.sb_lowat;
      return 0;
    case SO_RCVLOWAT:
      sopt.sopt_value = so.so_rcv.sb_lowat;
      return 0;
    case SO_SNDTIMEO:
      sopt.sopt_value = timeval_of_ticks(so, so.so_snd.sb_timeo);
      return 0;
    case SO_RCVTIMEO:
      sopt.sopt_value = timeval_of_ticks(so, so.so_rcv.sb_timeo);
      return 0;
    case SO_OVERFLOWED:
      sopt.sopt_value = so.so_rcv.sb_overflowed;
      return 0;
    default:
      return ENOPROTOOPT;
  }
}

