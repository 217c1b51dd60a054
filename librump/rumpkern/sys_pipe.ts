/*
 * pipe(2) (NetBSD's sys_pipe.c, without the page-loaning direct writes).
 *
 * A pipe is a pair of ends, each with a ring buffer of PIPE_SIZE bytes that
 * its reader drains and the other end's writer fills.  Both ends share one
 * adaptive mutex; readers and writers sleep on per-end condition variables
 * with that mutex as interlock.  Writes of at most PIPE_BUF bytes are
 * atomic; a write with no reader left fails with EPIPE; a read with no
 * writer left returns end-of-file.
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import type { Retval } from './rump_syscalls.ts';
import {
  DTYPE_PIPE, fd_affix, fd_alloc, fd_detach, file_alloc, FDF_CLOEXEC,
  type File, type Fileops, type Uio,
} from './kern_descrip.ts';
import { cv_broadcast, cv_init, cv_wait_sig, mutex_enter, mutex_exit, mutex_init, MUTEX_DEFAULT, type Kcondvar, type Kmutex } from './locks.ts';
import { IPL_NONE } from './intr.ts';
import { SelInfo, selnotify, selrecord } from './sys_select.ts';
import { EAGAIN, EINVAL, EMFILE, ENFILE, ENOTTY, EPIPE } from '../../include/errno.ts';
import {
  FIONREAD, FIONSPACE, FIONWRITE, FNONBLOCK, FREAD, FWRITE, O_CLOEXEC, O_NONBLOCK, O_NOSIGPIPE,
  POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, S_IFIFO, type Stat,
} from '../../include/syscall.ts';

export const PIPE_SIZE = 16384;
/** Writes up to this size are atomic (POSIX PIPE_BUF). */
export const PIPE_BUF = 512;

const PIPE_EOF = 0x01;

class Pipe {
  readonly pipe_buf = new Uint8Array(PIPE_SIZE);
  pipe_in = 0;
  pipe_out = 0;
  pipe_cnt = 0;
  pipe_state = 0;
  pipe_peer: Pipe | null = null;
  readonly pipe_sel = new SelInfo();
  /** Readers of this end wait here. */
  readonly pipe_rcv: Kcondvar;
  /** Writers into this end's buffer wait here. */
  readonly pipe_wcv: Kcondvar;
  constructor(readonly pipe_kernel: Kernel, readonly pipe_lock: Kmutex, readonly pipe_ino: number) {
    this.pipe_rcv = cv_init(pipe_kernel, 'piperd');
    this.pipe_wcv = cv_init(pipe_kernel, 'pipewr');
  }
}

function pipe_notify(p: Pipe): void {
  cv_broadcast(p.pipe_rcv);
  cv_broadcast(p.pipe_wcv);
  selnotify(p.pipe_kernel, p.pipe_sel);
}

async function pipe_read(fp: File, l: Lwp, uio: Uio): Promise<number> {
  const rp = fp.f_data as Pipe;
  const lock = rp.pipe_lock;
  mutex_enter(lock);
  let error = 0;
  const start = uio.uio_resid;
  while (uio.uio_resid > 0) {
    if (rp.pipe_cnt > 0) {
      const n = Math.min(uio.uio_resid, rp.pipe_cnt, PIPE_SIZE - rp.pipe_out);
      uio.uio_buf.set(rp.pipe_buf.subarray(rp.pipe_out, rp.pipe_out + n), uio.uio_offset);
      uio.uio_offset += n;
      uio.uio_resid -= n;
      rp.pipe_out = (rp.pipe_out + n) % PIPE_SIZE;
      rp.pipe_cnt -= n;
      continue;
    }
    /* Empty: return what we have, EOF, or wait. */
    if (uio.uio_resid < start || (rp.pipe_state & PIPE_EOF) !== 0) break;
    if ((fp.f_flag & FNONBLOCK) !== 0) {
      error = EAGAIN;
      break;
    }
    error = await cv_wait_sig(rp.pipe_rcv, lock, l);
    if (error !== 0) break;
  }
  if (uio.uio_resid < start) {
    /* Space was made: writers and pollers of the writing end may proceed. */
    cv_broadcast(rp.pipe_wcv);
    if (rp.pipe_peer !== null) selnotify(rp.pipe_kernel, rp.pipe_peer.pipe_sel);
    selnotify(rp.pipe_kernel, rp.pipe_sel);
  }
  mutex_exit(lock);
  return error;
}

async function pipe_write(fp: File, l: Lwp, uio: Uio): Promise<number> {
  const wp = (fp.f_data as Pipe).pipe_peer;
  const lock = (fp.f_data as Pipe).pipe_lock;
  mutex_enter(lock);
  let error = 0;
  const start = uio.uio_resid;
  while (uio.uio_resid > 0) {
    if (wp === null || (wp.pipe_state & PIPE_EOF) !== 0) {
      error = EPIPE;
      break;
    }
    const space = PIPE_SIZE - wp.pipe_cnt;
    /* A small write goes in whole or not at all. */
    const need = uio.uio_resid <= PIPE_BUF && uio.uio_resid === start ? uio.uio_resid : 1;
    if (space >= need) {
      let n = Math.min(uio.uio_resid, space);
      while (n > 0) {
        const chunk = Math.min(n, PIPE_SIZE - wp.pipe_in);
        wp.pipe_buf.set(uio.uio_buf.subarray(uio.uio_offset, uio.uio_offset + chunk), wp.pipe_in);
        wp.pipe_in = (wp.pipe_in + chunk) % PIPE_SIZE;
        wp.pipe_cnt += chunk;
        uio.uio_offset += chunk;
        uio.uio_resid -= chunk;
        n -= chunk;
      }
      cv_broadcast(wp.pipe_rcv);
      selnotify(wp.pipe_kernel, wp.pipe_sel);
      continue;
    }
    if ((fp.f_flag & FNONBLOCK) !== 0) {
      error = EAGAIN;
      break;
    }
    error = await cv_wait_sig(wp.pipe_wcv, lock, l);
    if (error !== 0) break;
  }
  mutex_exit(lock);
  return error;
}

function pipe_ioctl(fp: File, _l: Lwp, cmd: number, data: { value?: unknown }): number {
  const p = fp.f_data as Pipe;
  switch (cmd) {
    case FIONREAD:
      data.value = p.pipe_cnt;
      return 0;
    case FIONWRITE:
      data.value = p.pipe_peer?.pipe_cnt ?? 0;
      return 0;
    case FIONSPACE:
      data.value = p.pipe_peer !== null ? PIPE_SIZE - p.pipe_peer.pipe_cnt : 0;
      return 0;
    default:
      return ENOTTY;
  }
}

function pipe_poll(fp: File, l: Lwp, events: number): number {
  const rp = fp.f_data as Pipe;
  const wp = rp.pipe_peer;
  let revents = 0;
  if ((events & (POLLIN | POLLRDNORM)) !== 0 && (rp.pipe_cnt > 0 || (rp.pipe_state & PIPE_EOF) !== 0)) {
    revents |= events & (POLLIN | POLLRDNORM);
  }
  const wgone = wp === null || (wp.pipe_state & PIPE_EOF) !== 0;
  if ((events & (POLLOUT | POLLWRNORM)) !== 0 && !wgone && PIPE_SIZE - wp.pipe_cnt >= PIPE_BUF) {
    revents |= events & (POLLOUT | POLLWRNORM);
  }
  if ((rp.pipe_state & PIPE_EOF) !== 0 || wgone) revents |= POLLHUP;
  if (revents === 0) {
    if ((events & (POLLIN | POLLRDNORM)) !== 0) selrecord(l, rp.pipe_sel);
    if ((events & (POLLOUT | POLLWRNORM)) !== 0 && wp !== null) selrecord(l, wp.pipe_sel);
  }
  return revents;
}

function pipe_stat(fp: File, st: Stat): number {
  const p = fp.f_data as Pipe;
  st.st_mode = S_IFIFO | 0o600;
  st.st_size = p.pipe_cnt;
  st.st_blksize = PIPE_SIZE;
  st.st_ino = p.pipe_ino;
  return 0;
}

function pipe_close(fp: File, _l: Lwp): number {
  const p = fp.f_data as Pipe;
  const lock = p.pipe_lock;
  mutex_enter(lock);
  p.pipe_state |= PIPE_EOF;
  pipe_notify(p);
  const peer = p.pipe_peer;
  if (peer !== null) {
    peer.pipe_state |= PIPE_EOF;
    pipe_notify(peer);
    peer.pipe_peer = null;
  }
  p.pipe_peer = null;
  mutex_exit(lock);
  return 0;
}

const pipeops: Fileops = {
  fo_name: 'pipe',
  fo_read: pipe_read,
  fo_write: pipe_write,
  fo_ioctl: pipe_ioctl,
  fo_fcntl: () => 0,
  fo_poll: pipe_poll,
  fo_stat: pipe_stat,
  fo_close: pipe_close,
};

/** pipe2(2): fds[0] reads what fds[1] writes. */
export function sys_pipe2(l: Lwp, uap: { flags: number }, rv: Retval): number {
  const k = l.l_kernel;
  const fdp = l.l_proc.p_fd;
  const flags = uap.flags;
  if (fdp === null) return EINVAL;
  if ((flags & ~(O_CLOEXEC | O_NONBLOCK | O_NOSIGPIPE)) !== 0) return EINVAL;
  const lock = mutex_init(k, 'pipe_lock', MUTEX_DEFAULT, IPL_NONE);
  const ino = k.nextino++;
  const rpipe = new Pipe(k, lock, ino);
  const wpipe = new Pipe(k, lock, ino);
  rpipe.pipe_peer = wpipe;
  wpipe.pipe_peer = rpipe;
  const fflags = flags & (O_NONBLOCK | O_NOSIGPIPE);
  const fdflags = (flags & O_CLOEXEC) !== 0 ? FDF_CLOEXEC : 0;
  const rfd = fd_alloc(fdp, 0);
  if (rfd < 0) return EMFILE;
  const rf = file_alloc(k, FREAD | fflags, DTYPE_PIPE, pipeops, rpipe);
  if (rf === null) return ENFILE;
  fd_affix(fdp, rf, rfd, fdflags);
  const wfd = fd_alloc(fdp, 0);
  const wf = wfd < 0 ? null : file_alloc(k, FWRITE | fflags, DTYPE_PIPE, pipeops, wpipe);
  if (wf === null) {
    fd_detach(fdp, rfd);
    k.nfiles--;
    return wfd < 0 ? EMFILE : ENFILE;
  }
  fd_affix(fdp, wf, wfd, fdflags);
  rv.rv0 = rfd;
  rv.rv1 = wfd;
  return 0;
}
