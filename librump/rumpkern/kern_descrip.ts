/*
 * Descriptors (NetBSD's kern_descrip.c and sys/file.h).
 *
 * A process has a descriptor table (Filedesc) of open files; a File is the
 * open object shared by every descriptor that refers to it (dup, dup2,
 * F_DUPFD, a forked table) and counts those references.  Its fileops vector
 * (read, write, ioctl, fcntl, poll, stat, close) is where sockets, pipes,
 * the console and later vnodes plug in.  The object's fo_close runs when
 * the last reference goes.
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import type { Stat } from '../../include/syscall.ts';
import { EBADF, EINVAL, EMFILE, ENFILE } from '../../include/errno.ts';

export const DTYPE_VNODE = 1;
export const DTYPE_SOCKET = 2;
export const DTYPE_PIPE = 3;
export const DTYPE_MISC = 7;

/** A transfer description: bytes move between buf[uio_offset...] and the object. */
export interface Uio {
  uio_buf: Uint8Array;
  /** Position in uio_buf of the next byte. */
  uio_offset: number;
  /** Bytes still to transfer. */
  uio_resid: number;
}

export interface Fileops {
  readonly fo_name: string;
  fo_read(fp: File, l: Lwp, uio: Uio): number | Promise<number>;
  fo_write(fp: File, l: Lwp, uio: Uio): number | Promise<number>;
  /** data: the ioctl argument object; results are written into it. */
  fo_ioctl(fp: File, l: Lwp, cmd: number, data: { value?: unknown }): number | Promise<number>;
  /** F_SETFL passes the new flags here before they take effect. */
  fo_fcntl(fp: File, cmd: number, arg: number): number;
  /** Returns the ready events among `events`; records l for selnotify if none. */
  fo_poll(fp: File, l: Lwp, events: number): number;
  fo_stat(fp: File, st: Stat): number;
  fo_close(fp: File, l: Lwp): number | Promise<number>;
}

export class File {
  f_count = 1;
  constructor(
    public f_flag: number,
    readonly f_type: number,
    readonly f_ops: Fileops,
    public f_data: unknown,
  ) {}
}

/** Descriptor flag: close on exec. */
export const FDF_CLOEXEC = 0x01;

export class Filedesc {
  fd_ofiles: (File | null)[] = [];
  fd_ofileflags: number[] = [];
  /** Lowest descriptor that may be free. */
  fd_freefile = 0;
  /** Processes sharing this table (rfork without copying). */
  fd_refcnt = 1;
  constructor(readonly fd_kernel: Kernel) {}
}

/** The file open on fd, or null (EBADF for the caller). */
export function fd_getfile(fdp: Filedesc, fd: number): File | null {
  if (!Number.isInteger(fd) || fd < 0 || fd >= fdp.fd_ofiles.length) return null;
  return fdp.fd_ofiles[fd]!;
}

/** Lowest free descriptor >= want, or -1 (EMFILE) past the limit. */
export function fd_alloc(fdp: Filedesc, want: number): number {
  const k = fdp.fd_kernel;
  const lim = k.maxfiles;
  let fd = Math.max(want, fdp.fd_freefile);
  while (fd < fdp.fd_ofiles.length && fdp.fd_ofiles[fd] !== null) fd++;
  if (fd >= lim) return -1;
  while (fdp.fd_ofiles.length <= fd) {
    fdp.fd_ofiles.push(null);
    fdp.fd_ofileflags.push(0);
  }
  return fd;
}

/** Install fp at fd (which fd_alloc returned, or dup2 chose). */
export function fd_affix(fdp: Filedesc, fp: File, fd: number, flags: number): void {
  while (fdp.fd_ofiles.length <= fd) {
    fdp.fd_ofiles.push(null);
    fdp.fd_ofileflags.push(0);
  }
  fdp.fd_ofiles[fd] = fp;
  fdp.fd_ofileflags[fd] = flags;
  if (fd === fdp.fd_freefile) fdp.fd_freefile = fd + 1;
}

/** A new open file, counted against kern.maxfiles. */
export function file_alloc(k: Kernel, flag: number, type: number, ops: Fileops, data: unknown): File | null {
  if (k.nfiles >= k.maxfiles) return null;
  k.nfiles++;
  return new File(flag, type, ops, data);
}

/** fd_allocfile: allocate a descriptor and a file; errno ENFILE/EMFILE. */
export function fd_allocfile(fdp: Filedesc, flag: number, type: number, ops: Fileops, data: unknown, fdflags: number): { error: number; fd: number; fp: File | null } {
  const fd = fd_alloc(fdp, 0);
  if (fd < 0) return { error: EMFILE, fd: -1, fp: null };
  const fp = file_alloc(fdp.fd_kernel, flag, type, ops, data);
  if (fp === null) return { error: ENFILE, fd: -1, fp: null };
  fd_affix(fdp, fp, fd, fdflags);
  return { error: 0, fd, fp };
}

/** Drop one reference; the last one closes the object. */
export async function closef(fp: File, l: Lwp): Promise<number> {
  if (--fp.f_count > 0) return 0;
  l.l_kernel.nfiles--;
  const r = fp.f_ops.fo_close(fp, l);
  return typeof r === 'number' ? r : await r;
}

/** Remove fd from the table; returns the file that was there (or null). */
export function fd_detach(fdp: Filedesc, fd: number): File | null {
  const fp = fd_getfile(fdp, fd);
  if (fp === null) return null;
  fdp.fd_ofiles[fd] = null;
  fdp.fd_ofileflags[fd] = 0;
  if (fd < fdp.fd_freefile) fdp.fd_freefile = fd;
  return fp;
}

/** close(2) of one descriptor. */
export async function fd_close(fdp: Filedesc, fd: number, l: Lwp): Promise<number> {
  const fp = fd_detach(fdp, fd);
  if (fp === null) return EBADF;
  return closef(fp, l);
}

/** dup(2)/F_DUPFD: the lowest free descriptor >= min refers to old's file. */
export function fd_dup(fdp: Filedesc, old: number, min: number, flags: number): { error: number; fd: number } {
  const fp = fd_getfile(fdp, old);
  if (fp === null) return { error: EBADF, fd: -1 };
  if (!Number.isInteger(min) || min < 0) return { error: EINVAL, fd: -1 };
  const fd = fd_alloc(fdp, min);
  if (fd < 0) return { error: min >= fdp.fd_kernel.maxfiles ? EINVAL : EMFILE, fd: -1 };
  fp.f_count++;
  fd_affix(fdp, fp, fd, flags);
  return { error: 0, fd };
}

/** dup2(2): make `to` refer to old's file, closing what `to` had. */
export async function fd_dup2(fdp: Filedesc, old: number, to: number, flags: number, l: Lwp): Promise<number> {
  const fp = fd_getfile(fdp, old);
  if (fp === null) return EBADF;
  if (!Number.isInteger(to) || to < 0 || to >= fdp.fd_kernel.maxfiles) return EBADF;
  if (old === to) return 0;
  const prev = fd_detach(fdp, to);
  fp.f_count++;
  fd_affix(fdp, fp, to, flags);
  if (prev !== null) await closef(prev, l);
  return 0;
}

/** A copy of a table for a new process (rfork RFFDG): files are shared, descriptors copied. */
export function fd_copy(src: Filedesc): Filedesc {
  const fdp = new Filedesc(src.fd_kernel);
  fdp.fd_ofiles = src.fd_ofiles.slice();
  fdp.fd_ofileflags = src.fd_ofileflags.slice();
  fdp.fd_freefile = src.fd_freefile;
  for (const fp of fdp.fd_ofiles) if (fp !== null) fp.f_count++;
  return fdp;
}

/** Close every descriptor (process exit, or the last user of a shared table). */
export async function fd_free(fdp: Filedesc, l: Lwp): Promise<void> {
  if (--fdp.fd_refcnt > 0) return;
  for (let fd = 0; fd < fdp.fd_ofiles.length; fd++) {
    if (fdp.fd_ofiles[fd] !== null) await fd_close(fdp, fd, l);
  }
}

