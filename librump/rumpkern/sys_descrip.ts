/*
 * close(2), dup(2), dup2(2), fcntl(2), fstat(2) (NetBSD's sys_descrip.c).
 */

import type { Lwp } from './lwproc.ts';
import type { Retval } from './rump_syscalls.ts';
import { fd_close, fd_dup, fd_dup2, fd_getfile, FDF_CLOEXEC } from './kern_descrip.ts';
import { EBADF, EINVAL } from '../../include/errno.ts';
import {
  F_CLOSEM, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_MAXFD, F_SETFD, F_SETFL, FCNTLFLAGS,
  FD_CLOEXEC, O_CLOEXEC, type Stat,
} from '../../include/syscall.ts';

export function sys_close(l: Lwp, uap: { fd: number }, _rv: Retval): Promise<number> | number {
  const fdp = l.l_proc.p_fd;
  if (fdp === null) return EBADF;
  return fd_close(fdp, uap.fd, l);
}

export function sys_dup(l: Lwp, uap: { fd: number }, rv: Retval): number {
  const fdp = l.l_proc.p_fd;
  if (fdp === null) return EBADF;
  const r = fd_dup(fdp, uap.fd, 0, 0);
  rv.rv0 = r.fd;
  return r.error;
}

export async function sys_dup2(l: Lwp, uap: { from: number; to: number; flags?: number }, rv: Retval): Promise<number> {
  const fdp = l.l_proc.p_fd;
  if (fdp === null) return EBADF;
  const flags = (uap.flags ?? 0) & O_CLOEXEC ? FDF_CLOEXEC : 0;
  const error = await fd_dup2(fdp, uap.from, uap.to, flags, l);
  rv.rv0 = uap.to;
  return error;
}

export async function sys_fcntl(l: Lwp, uap: { fd: number; cmd: number; arg: number }, rv: Retval): Promise<number> {
  const fdp = l.l_proc.p_fd;
  const { fd, cmd, arg } = uap;
  if (fdp === null) return EBADF;
  if (cmd === F_CLOSEM) {
    if (!Number.isInteger(fd) || fd < 0) return EBADF;
    for (let i = fd; i < fdp.fd_ofiles.length; i++) if (fdp.fd_ofiles[i] !== null) await fd_close(fdp, i, l);
    return 0;
  }
  if (cmd === F_MAXFD) {
    let max = -1;
    for (let i = 0; i < fdp.fd_ofiles.length; i++) if (fdp.fd_ofiles[i] !== null) max = i;
    rv.rv0 = max;
    return 0;
  }
  const fp = fd_getfile(fdp, fd);
  if (fp === null) return EBADF;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const r = fd_dup(fdp, fd, arg, cmd === F_DUPFD_CLOEXEC ? FDF_CLOEXEC : 0);
      rv.rv0 = r.fd;
      return r.error;
    }
    case F_GETFD:
      rv.rv0 = (fdp.fd_ofileflags[fd]! & FDF_CLOEXEC) !== 0 ? FD_CLOEXEC : 0;
      return 0;
    case F_SETFD:
      if ((arg & FD_CLOEXEC) !== 0) fdp.fd_ofileflags[fd]! |= FDF_CLOEXEC;
      else fdp.fd_ofileflags[fd]! &= ~FDF_CLOEXEC;
      return 0;
    case F_GETFL:
      /* OFLAGS: the access mode is stored plus one. */
      rv.rv0 = (fp.f_flag & ~3) | ((fp.f_flag & 3) - 1);
      return 0;
    case F_SETFL: {
      const nflag = (fp.f_flag & ~FCNTLFLAGS) | (arg & FCNTLFLAGS);
      const error = fp.f_ops.fo_fcntl(fp, F_SETFL, nflag);
      if (error !== 0) return error;
      fp.f_flag = nflag;
      return 0;
    }
    default:
      return EINVAL;
  }
}

export function sys_fstat(l: Lwp, uap: { fd: number }, rv: Retval): number {
  const fdp = l.l_proc.p_fd;
  const fp = fdp === null ? null : fd_getfile(fdp, uap.fd);
  if (fp === null) return EBADF;
  const st: Stat = {
    st_dev: 0, st_ino: 0, st_mode: 0, st_nlink: 1, st_size: 0, st_blksize: 0,
    st_atimespec: { tv_sec: 0, tv_nsec: 0 },
  };
  const error = fp.f_ops.fo_stat(fp, st);
  rv.value = st;
  return error;
}
