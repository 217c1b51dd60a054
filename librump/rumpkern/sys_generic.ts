/*
 * read(2), write(2), ioctl(2) (NetBSD's sys_generic.c): descriptor checks,
 * then the file's fileops.
 */

import type { Lwp } from './lwproc.ts';
import type { Retval } from './rump_syscalls.ts';
import { fd_getfile, FDF_CLOEXEC, type Uio } from './kern_descrip.ts';
import { EAGAIN, EBADF, EINTR, EINVAL, ENOTTY, ERESTART } from '../../include/errno.ts';
import { FASYNC, FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX, FNONBLOCK, FREAD, FWRITE } from '../../include/syscall.ts';

export interface RwArgs {
  fd: number;
  buf: Uint8Array;
}

async function dofileio(l: Lwp, uap: RwArgs, rv: Retval, write: boolean): Promise<number> {
  const fdp = l.l_proc.p_fd;
  const fp = fdp === null ? null : fd_getfile(fdp, uap.fd);
  if (fp === null || (fp.f_flag & (write ? FWRITE : FREAD)) === 0) return EBADF;
  if (!(uap.buf instanceof Uint8Array)) return EINVAL;
  const uio: Uio = { uio_buf: uap.buf, uio_offset: 0, uio_resid: uap.buf.length };
  const r = write ? fp.f_ops.fo_write(fp, l, uio) : fp.f_ops.fo_read(fp, l, uio);
  const error = typeof r === 'number' ? r : await r;
  const done = uap.buf.length - uio.uio_resid;
  /*
   * As NetBSD's dofileread/dofilewrite: a partial transfer interrupted by a
   * signal or EAGAIN still succeeds; any other error (EPIPE...) is returned.
   */
  if (error !== 0 && (done === 0 || (error !== EINTR && error !== ERESTART && error !== EAGAIN))) return error;
  rv.rv0 = done;
  return 0;
}

export function sys_read(l: Lwp, uap: RwArgs, rv: Retval): Promise<number> {
  return dofileio(l, uap, rv, false);
}

export function sys_write(l: Lwp, uap: RwArgs, rv: Retval): Promise<number> {
  return dofileio(l, uap, rv, true);
}

export interface IoctlArgs {
  fd: number;
  cmd: number;
  data: { value?: unknown };
}

/** ioctl(2): the generic FIO* requests here, the rest to the object. */
export async function sys_ioctl(l: Lwp, uap: IoctlArgs, rv: Retval): Promise<number> {
  const fdp = l.l_proc.p_fd;
  const fp = fdp === null ? null : fd_getfile(fdp, uap.fd);
  if (fp === null || fdp === null) return EBADF;
  const data = uap.data;
  switch (uap.cmd) {
    case FIONCLEX:
      fdp.fd_ofileflags[uap.fd]! &= ~FDF_CLOEXEC;
      return 0;
    case FIOCLEX:
      fdp.fd_ofileflags[uap.fd]! |= FDF_CLOEXEC;
      return 0;
    case FIONBIO:
    case FIOASYNC: {
      const on = data.value !== undefined && data.value !== 0 && data.value !== false;
      const bit = uap.cmd === FIONBIO ? FNONBLOCK : FASYNC;
      if (on) fp.f_flag |= bit;
      else fp.f_flag &= ~bit;
      break;
    }
  }
  const r = fp.f_ops.fo_ioctl(fp, l, uap.cmd, data);
  const error = typeof r === 'number' ? r : await r;
  /* FIONBIO/FIOASYNC are the descriptor's business even if the object has no opinion. */
  if ((uap.cmd === FIONBIO || uap.cmd === FIOASYNC) && error === ENOTTY) return 0;
  rv.rv0 = 0;
  return error;
}
