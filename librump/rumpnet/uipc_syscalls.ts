/*
 * The socket system calls (NetBSD's uipc_syscalls.c): descriptors in,
 * socket-layer calls out.  Each takes so_lock for the duration of the
 * call; the sleeps below it (sbwait, connect, accept) release it while
 * asleep.
 */

import type { Lwp } from '../rumpkern/lwproc.ts';
import type { Retval } from '../rumpkern/rump_syscalls.ts';
import { DTYPE_SOCKET, fd_allocfile, fd_close, fd_getfile, FDF_CLOEXEC, type Uio } from '../rumpkern/kern_descrip.ts';
import { cv_wait_sig } from '../rumpkern/locks.ts';
import {
  EBADF, ECONNABORTED, EINPROGRESS, EINTR, EINVAL, ENOTCONN, ENOTSOCK, ERESTART, EWOULDBLOCK,
} from '../../include/errno.ts';
import { FNONBLOCK, FREAD, FWRITE } from '../../include/syscall.ts';
import { MSG_DONTWAIT, MSG_WAITFORONE, SO_ACCEPTCONN, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_FLAGS_MASK, SOCK_NONBLOCK, SOCK_NOSIGPIPE } from '../../include/socket.ts';
import { socketops, solock, sounlock } from './sys_socket.ts';
import {
  soaccept, sobind, soclose, soconnect, soconnect2, socreate, sogetopt, solisten, soreceive, sosend, sosetopt,
  soshutdown, type RecvState,
} from './uipc_socket.ts';
import { soqremque } from './uipc_socket2.ts';
import { SS_ISCONFIRMING, SS_ISCONNECTED, SS_ISCONNECTING, SS_NBIO, SS_CANTRCVMORE, type Socket } from './socketvar.ts';
import type { SockaddrBuf, Sockopt } from './uipc_domain.ts';

function getsock(l: Lwp, fd: number): { error: number; so: Socket | null } {
  const fdp = l.l_proc.p_fd;
  const fp = fdp === null ? null : fd_getfile(fdp, fd);
  if (fp === null) return { error: EBADF, so: null };
  if (fp.f_type !== DTYPE_SOCKET) return { error: ENOTSOCK, so: null };
  return { error: 0, so: fp.f_data as Socket };
}

/** Run body with the socket of fd locked. */
async function withsock(l: Lwp, fd: number, body: (so: Socket) => number | Promise<number>): Promise<number> {
  const { error, so } = getsock(l, fd);
  if (so === null) return error;
  solock(so);
  try {
    return await body(so);
  } finally {
    sounlock(so);
  }
}

/** A socket file on a new descriptor. */
function sockfd(l: Lwp, so: Socket, flags: number, rv: Retval, slot: 0 | 1): number {
  const fflag = FREAD | FWRITE | ((flags & SOCK_NONBLOCK) !== 0 ? FNONBLOCK : 0);
  const r = fd_allocfile(l.l_proc.p_fd!, fflag, DTYPE_SOCKET, socketops, so, (flags & SOCK_CLOEXEC) !== 0 ? FDF_CLOEXEC : 0);
  if (r.error !== 0) return r.error;
  /*
   * The socket's SS_NBIO follows its descriptor's FNONBLOCK.  A socket from
   * accept carries its listener's so_state (sonewconn copies it): clear
   * SS_NBIO too, or a descriptor that says blocking would not block.
   */
  if ((flags & SOCK_NONBLOCK) !== 0) so.so_state |= SS_NBIO;
  else so.so_state &= ~SS_NBIO;
  if (slot === 0) rv.rv0 = r.fd;
  else rv.rv1 = r.fd;
  return 0;
}

export interface SocketArgs {
  domain: number;
  type: number;
  protocol: number;
}

export async function sys___socket30(l: Lwp, uap: SocketArgs, rv: Retval): Promise<number> {
  const flags = uap.type & SOCK_FLAGS_MASK;
  if ((flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK | SOCK_NOSIGPIPE)) !== 0) return EINVAL;
  const k = l.l_kernel;
  const { error, so } = socreate(k, uap.domain, uap.type & ~SOCK_FLAGS_MASK, uap.protocol, l);
  if (so === null) return error;
  const e2 = sockfd(l, so, flags, rv, 0);
  if (e2 !== 0) {
    solock(so);
    try {
      await soclose(so, l);
    } finally {
      sounlock(so);
    }
  }
  return e2;
}

export async function sys_socketpair(l: Lwp, uap: SocketArgs, rv: Retval): Promise<number> {
  const flags = uap.type & SOCK_FLAGS_MASK;
  if ((flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK | SOCK_NOSIGPIPE)) !== 0) return EINVAL;
  const type = uap.type & ~SOCK_FLAGS_MASK;
  const k = l.l_kernel;
  const a = socreate(k, uap.domain, type, uap.protocol, l);
  if (a.so === null) return a.error;
  const b = socreate(k, uap.domain, type, uap.protocol, l);
  const so1 = a.so;
  const so2 = b.so;
  let error = b.error;
  let fd1 = -1;
  if (so2 !== null) {
    solock(so1);
    try {
      error = soconnect2(so1, so2);
      /* A datagram connection points one way only: connect the other way too (as NetBSD). */
      if (error === 0 && type === SOCK_DGRAM) error = soconnect2(so2, so1);
    } finally {
      sounlock(so1);
    }
    if (error === 0) error = sockfd(l, so1, flags, rv, 0);
    if (error === 0) {
      fd1 = rv.rv0;
      error = sockfd(l, so2, flags, rv, 1);
    }
  }
  if (error !== 0) {
    /*
     * Undo without holding so_lock across the descriptor close: closing
     * fd1 reaches soo_close, which takes the lock itself.  A socket that
     * got a descriptor is closed through it, the other directly.
     */
    if (fd1 >= 0) await fd_close(l.l_proc.p_fd!, fd1, l);
    for (const so of fd1 >= 0 ? [so2] : [so1, so2]) {
      if (so === null) continue;
      solock(so);
      try {
        await soclose(so, l);
      } finally {
        sounlock(so);
      }
    }
  }
  return error;
}

export function sys_bind(l: Lwp, uap: { s: number; name: Uint8Array }, _rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => sobind(so, uap.name, l));
}

export function sys_listen(l: Lwp, uap: { s: number; backlog: number }, _rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => solisten(so, uap.backlog, l));
}

/** accept(2)/paccept(2): wait for a completed connection and give it a descriptor. */
export function sys_paccept(l: Lwp, uap: { s: number; flags: number }, rv: Retval): Promise<number> {
  if ((uap.flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK | SOCK_NOSIGPIPE)) !== 0) return Promise.resolve(EINVAL);
  return withsock(l, uap.s, async (so) => {
    if ((so.so_options & SO_ACCEPTCONN) === 0) return EINVAL;
    while (so.so_q.length === 0 && so.so_error === 0) {
      if ((so.so_state & SS_CANTRCVMORE) !== 0) return ECONNABORTED;
      if ((so.so_state & SS_NBIO) !== 0) return EWOULDBLOCK;
      const error = await cv_wait_sig(so.so_cv, so.so_lock, l);
      if (error !== 0) return error;
    }
    if (so.so_error !== 0) {
      const error = so.so_error;
      so.so_error = 0;
      return error;
    }
    const so2 = so.so_q[0]!;
    soqremque(so2);
    const error = sockfd(l, so2, uap.flags, rv, 0);
    if (error !== 0) {
      /* No descriptor: the connection goes back to wait for another accept. */
      so2.so_head = so;
      so.so_q.unshift(so2);
      return error;
    }
    const nam: SockaddrBuf = { sa: null };
    const e2 = soaccept(so2, nam);
    rv.value = nam.sa;
    return e2;
  });
}

/**
 * accept(2): as paccept, but the new descriptor takes the listener's
 * non-blocking mode, as NetBSD's accept(2) does (paccept sets it from its
 * flags alone).
 */
export function sys_accept(l: Lwp, uap: { s: number }, rv: Retval): Promise<number> {
  const fdp = l.l_proc.p_fd;
  const fp = fdp === null ? null : fd_getfile(fdp, uap.s);
  const flags = fp !== null && (fp.f_flag & FNONBLOCK) !== 0 ? SOCK_NONBLOCK : 0;
  return sys_paccept(l, { s: uap.s, flags }, rv);
}

/**
 * connect(2): EINPROGRESS at once when non-blocking (SO_ERROR tells the
 * outcome later), else wait for the protocol to finish.
 */
export function sys_connect(l: Lwp, uap: { s: number; name: Uint8Array }, _rv: Retval): Promise<number> {
  return withsock(l, uap.s, async (so) => {
    let error = soconnect(so, uap.name, l);
    if (error !== 0) return error;
    if ((so.so_state & SS_NBIO) !== 0 && (so.so_state & SS_ISCONNECTING) !== 0) return EINPROGRESS;
    while ((so.so_state & SS_ISCONNECTING) !== 0 && so.so_error === 0) {
      error = await cv_wait_sig(so.so_cv, so.so_lock, l);
      if (error !== 0) return error === ERESTART ? EINTR : error;
    }
    error = so.so_error;
    so.so_error = 0;
    return error;
  });
}

export interface SendArgs {
  s: number;
  buf: Uint8Array;
  flags: number;
  to: Uint8Array | null;
}

export function sys_sendto(l: Lwp, uap: SendArgs, rv: Retval): Promise<number> {
  return withsock(l, uap.s, async (so) => {
    const uio: Uio = { uio_buf: uap.buf, uio_offset: 0, uio_resid: uap.buf.length };
    const error = await sosend(so, uap.to, uio, null, null, uap.flags, l);
    const done = uap.buf.length - uio.uio_resid;
    if (error !== 0 && !(done > 0 && (error === EWOULDBLOCK || error === EINTR || error === ERESTART))) return error;
    rv.rv0 = done;
    return 0;
  });
}

export interface RecvArgs {
  s: number;
  buf: Uint8Array;
  flags: number;
}

/** recvfrom(2): rv.value = { from, flags } (from: sockaddr bytes or null). */
export function sys_recvfrom(l: Lwp, uap: RecvArgs, rv: Retval): Promise<number> {
  return withsock(l, uap.s, async (so) => {
    const uio: Uio = { uio_buf: uap.buf, uio_offset: 0, uio_resid: uap.buf.length };
    const rs: RecvState = { flags: uap.flags, from: { sa: null } };
    const error = await soreceive(so, uio, rs, l);
    const done = uap.buf.length - uio.uio_resid;
    if (error !== 0 && !(done > 0 && (error === EWOULDBLOCK || error === EINTR || error === ERESTART))) return error;
    rv.rv0 = done;
    rv.value = { from: rs.from!.sa, flags: rs.flags };
    return 0;
  });
}

/** sendmsg(2): the iovecs are gathered into one message. */
export function sys_sendmsg(l: Lwp, uap: { s: number; iov: Uint8Array[]; name: Uint8Array | null; flags: number }, rv: Retval): Promise<number> {
  let total = 0;
  for (const v of uap.iov) total += v.length;
  const buf = new Uint8Array(total);
  let off = 0;
  for (const v of uap.iov) {
    buf.set(v, off);
    off += v.length;
  }
  return sys_sendto(l, { s: uap.s, buf, flags: uap.flags, to: uap.name }, rv);
}

/** recvmsg(2): one receive, scattered over the iovecs. */
export async function sys_recvmsg(l: Lwp, uap: { s: number; iov: Uint8Array[]; flags: number }, rv: Retval): Promise<number> {
  let total = 0;
  for (const v of uap.iov) total += v.length;
  const buf = new Uint8Array(total);
  const error = await sys_recvfrom(l, { s: uap.s, buf, flags: uap.flags }, rv);
  if (error !== 0) return error;
  let off = 0;
  for (const v of uap.iov) {
    if (off >= rv.rv0) break;
    const n = Math.min(v.length, rv.rv0 - off);
    v.set(buf.subarray(off, off + n));
    off += n;
  }
  return 0;
}

export function sys_shutdown(l: Lwp, uap: { s: number; how: number }, _rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => soshutdown(so, uap.how, l));
}

export function sys_setsockopt(l: Lwp, uap: { s: number; level: number; name: number; value: unknown }, _rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => sosetopt(so, { sopt_level: uap.level, sopt_name: uap.name, sopt_value: uap.value }));
}

export function sys_getsockopt(l: Lwp, uap: { s: number; level: number; name: number }, rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => {
    const sopt: Sockopt = { sopt_level: uap.level, sopt_name: uap.name, sopt_value: undefined };
    const error = sogetopt(so, sopt);
    rv.value = sopt.sopt_value;
    return error;
  });
}

export function sys_getsockname(l: Lwp, uap: { s: number }, rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => {
    const nam: SockaddrBuf = { sa: null };
    const error = so.so_proto.pr_usrreqs!.pr_sockaddr(so, nam);
    rv.value = nam.sa;
    return error;
  });
}

export function sys_getpeername(l: Lwp, uap: { s: number }, rv: Retval): Promise<number> {
  return withsock(l, uap.s, (so) => {
    if ((so.so_state & (SS_ISCONNECTED | SS_ISCONFIRMING)) === 0) return ENOTCONN;
    const nam: SockaddrBuf = { sa: null };
    const error = so.so_proto.pr_usrreqs!.pr_peeraddr(so, nam);
    rv.value = nam.sa;
    return error;
  });
}

/** A message of sendmmsg as the kernel gets it (the address already as sockaddr bytes). */
export interface KMmsghdr {
  buf: Uint8Array;
  to: Uint8Array | null;
}

/**
 * sendmmsg(2): several datagrams in one call.  As NetBSD: an error after
 * at least one message went out ends the call with the count sent.
 */
export function sys_sendmmsg(l: Lwp, uap: { s: number; msgs: KMmsghdr[]; flags: number }, rv: Retval): Promise<number> {
  return withsock(l, uap.s, async (so) => {
    const uio: Uio = { uio_buf: new Uint8Array(0), uio_offset: 0, uio_resid: 0 };
    let n = 0;
    for (const msg of uap.msgs) {
      uio.uio_buf = msg.buf;
      uio.uio_offset = 0;
      uio.uio_resid = msg.buf.length;
      const error = await sosend(so, msg.to, uio, null, null, uap.flags, l);
      if (error !== 0) {
        if (n === 0) return error;
        break;
      }
      n++;
    }
    rv.rv0 = n;
    return 0;
  });
}

/** A message of recvmmsg as the kernel fills it (the sender as sockaddr bytes). */
export interface KRecvMmsghdr {
  buf: Uint8Array;
  n: number;
  from: Uint8Array | null;
  flags: number;
}

/**
 * recvmmsg(2): up to msgs.length datagrams in one call.  With
 * MSG_WAITFORONE only the first receive blocks; the call returns what is
 * queued after it.  An error after the first message ends the call with
 * the count received, as NetBSD.
 */
export function sys_recvmmsg(l: Lwp, uap: { s: number; msgs: KRecvMmsghdr[]; flags: number }, rv: Retval): Promise<number> {
  return withsock(l, uap.s, async (so) => {
    const uio: Uio = { uio_buf: new Uint8Array(0), uio_offset: 0, uio_resid: 0 };
    const rs: RecvState = { flags: 0, from: { sa: null } };
    const base = uap.flags & ~MSG_WAITFORONE;
    let n = 0;
    for (const msg of uap.msgs) {
      uio.uio_buf = msg.buf;
      uio.uio_offset = 0;
      uio.uio_resid = msg.buf.length;
      rs.flags = n > 0 && (uap.flags & MSG_WAITFORONE) !== 0 ? base | MSG_DONTWAIT : base;
      rs.from!.sa = null;
      const error = await soreceive(so, uio, rs, l);
      if (error !== 0) {
        if (n === 0) return error;
        break;
      }
      msg.n = msg.buf.length - uio.uio_resid;
      msg.from = rs.from!.sa;
      msg.flags = rs.flags;
      n++;
    }
    rv.rv0 = n;
    return 0;
  });
}
