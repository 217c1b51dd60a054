/*
 * Sockets as files (NetBSD's sys_socket.c): the fileops through which
 * read, write, ioctl, poll, fstat and close reach a socket.
 */

import type { Lwp } from '../rumpkern/lwproc.ts';
import { type File, type Fileops, type Uio } from '../rumpkern/kern_descrip.ts';
import { mutex_enter, mutex_exit } from '../rumpkern/locks.ts';
import { selrecord } from '../rumpkern/sys_select.ts';
import {
  F_SETFL, FIONBIO, FIONREAD, FIONSPACE, FIONWRITE, FNONBLOCK, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI,
  POLLRDBAND, POLLRDNORM, POLLWRNORM, S_IFSOCK, type Stat,
} from '../../include/syscall.ts';
import { PR_CONNREQUIRED } from './uipc_domain.ts';
import { IOCGROUP } from '../../include/if.ts';
import {
  SS_CANTRCVMORE, SS_CANTSENDMORE, SS_ISCONNECTED, SS_ISDISCONNECTED, SS_NBIO, SS_RCVATMARK, type Socket,
} from './socketvar.ts';
import { sbspace } from './uipc_socket2.ts';
import { soclose, soreceive, sosend, type RecvState } from './uipc_socket.ts';

export function solock(so: Socket): void {
  mutex_enter(so.so_lock);
}

export function sounlock(so: Socket): void {
  mutex_exit(so.so_lock);
}

/** Something to read: data past the low-water mark, EOF, a connection to accept, or an error. */
export function soreadable(so: Socket): boolean {
  return so.so_rcv.sb_cc >= so.so_rcv.sb_lowat || (so.so_state & SS_CANTRCVMORE) !== 0 ||
    so.so_q.length > 0 || so.so_error !== 0 || so.so_rerror !== 0;
}

/** Room to write (and a peer when one is required), or an error or shutdown to report. */
export function sowritable(so: Socket): boolean {
  return (sbspace(so.so_snd) >= so.so_snd.sb_lowat &&
    ((so.so_state & SS_ISCONNECTED) !== 0 || (so.so_proto.pr_flags & PR_CONNREQUIRED) === 0)) ||
    (so.so_state & SS_CANTSENDMORE) !== 0 || so.so_error !== 0;
}

async function soo_read(fp: File, l: Lwp, uio: Uio): Promise<number> {
  const so = fp.f_data as Socket;
  const rs: RecvState = { flags: 0, from: null };
  solock(so);
  try {
    return await soreceive(so, uio, rs, l);
  } finally {
    sounlock(so);
  }
}

async function soo_write(fp: File, l: Lwp, uio: Uio): Promise<number> {
  const so = fp.f_data as Socket;
  solock(so);
  try {
    return await sosend(so, null, uio, null, null, 0, l);
  } finally {
    sounlock(so);
  }
}

async function soo_ioctl(fp: File, l: Lwp, cmd: number, data: { value?: unknown }): Promise<number> {
  const so = fp.f_data as Socket;
  solock(so);
  try {
    switch (cmd) {
      case FIONBIO:
        if (data.value !== undefined && data.value !== 0 && data.value !== false) so.so_state |= SS_NBIO;
        else so.so_state &= ~SS_NBIO;
        return 0;
      case FIONREAD:
        data.value = so.so_rcv.sb_cc - so.so_rcv.sb_ctl;
        return 0;
      case FIONWRITE:
        data.value = so.so_snd.sb_cc;
        return 0;
      case FIONSPACE:
        data.value = Math.max(0, sbspace(so.so_snd));
        return 0;
      default: {
        /* Interface requests go through ifioctl (libnet), the rest to the protocol. */
        const ifioctl = so.so_kernel.rumpnet?.ifioctl;
        if (IOCGROUP(cmd) === 'i' && ifioctl !== undefined) return await ifioctl(so, cmd, data, l);
        return await so.so_proto.pr_usrreqs!.pr_ioctl(so, cmd, data, l);
      }
    }
  } finally {
    sounlock(so);
  }
}

function soo_fcntl(fp: File, cmd: number, arg: number): number {
  const so = fp.f_data as Socket;
  if (cmd === F_SETFL) {
    if ((arg & FNONBLOCK) !== 0) so.so_state |= SS_NBIO;
    else so.so_state &= ~SS_NBIO;
  }
  return 0;
}

/**
 * Readiness: POLLIN/POLLOUT as soreadable/sowritable, POLLPRI at the
 * out-of-band mark, POLLHUP once the connection is gone both ways, and
 * POLLERR while an error is pending (NetBSD leaves POLLERR to the read;
 * callers of poll on this stack expect it, as on Linux).
 */
function soo_poll(fp: File, l: Lwp, events: number): number {
  const so = fp.f_data as Socket;
  let revents = 0;
  if ((events & (POLLIN | POLLRDNORM)) !== 0 && soreadable(so)) revents |= events & (POLLIN | POLLRDNORM);
  if ((events & (POLLOUT | POLLWRNORM)) !== 0 && sowritable(so)) revents |= events & (POLLOUT | POLLWRNORM);
  if ((events & (POLLPRI | POLLRDBAND)) !== 0 && (so.so_state & SS_RCVATMARK) !== 0) revents |= events & (POLLPRI | POLLRDBAND);
  if ((so.so_state & SS_ISDISCONNECTED) !== 0 ||
      ((so.so_state & SS_CANTRCVMORE) !== 0 && (so.so_state & SS_CANTSENDMORE) !== 0)) revents |= POLLHUP;
  if (so.so_error !== 0) revents |= POLLERR;
  if (revents === 0) {
    if ((events & (POLLIN | POLLRDNORM | POLLPRI | POLLRDBAND)) !== 0) selrecord(l, so.so_rcv.sb_sel);
    if ((events & (POLLOUT | POLLWRNORM)) !== 0) selrecord(l, so.so_snd.sb_sel);
  }
  return revents;
}

function soo_stat(fp: File, st: Stat): number {
  const so = fp.f_data as Socket;
  st.st_mode = S_IFSOCK | 0o777;
  st.st_size = so.so_rcv.sb_cc - so.so_rcv.sb_ctl;
  st.st_blksize = so.so_snd.sb_hiwat;
  return so.so_proto.pr_usrreqs!.pr_stat(so, st);
}

async function soo_close(fp: File, l: Lwp): Promise<number> {
  const so = fp.f_data as Socket;
  fp.f_data = null;
  solock(so);
  try {
    return await soclose(so, l);
  } finally {
    sounlock(so);
  }
}

export const socketops: Fileops = {
  fo_name: 'socket',
  fo_read: soo_read,
  fo_write: soo_write,
  fo_ioctl: soo_ioctl,
  fo_fcntl: soo_fcntl,
  fo_poll: soo_poll,
  fo_stat: soo_stat,
  fo_close: soo_close,
};

