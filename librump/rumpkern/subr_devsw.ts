/*
 * Character devices and their nodes (NetBSD's kern/subr_devsw.c, and the
 * device nodes a file system would keep in /dev), and open(2) of them.
 *
 * There is no VFS yet, so the only name space is /dev.  A component that
 * provides a device attaches its switch (devsw_attach: a Cdevsw, which is
 * given a major number) and makes a node for it (devnode_create: /dev/NAME
 * names a dev_t).  open(2) resolves the path to a node (ENOENT for any
 * path that is not one), the node's major to its switch (ENXIO when no
 * driver holds that major: the node outlived its driver), and installs a
 * descriptor whose fileops call the driver's d_read, d_write, d_ioctl,
 * d_poll and d_close.
 *
 * Each open makes its own Devfile, shared by the descriptors dup'ed from
 * it and closed with the last of them.  A cloning driver (bpf: every open
 * of /dev/bpf is a new capture) keeps its per-open state in df_private,
 * which is what NetBSD's fd_clone gives a cloner; a plain driver ignores
 * it and works from minor(df_dev).
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import type { Retval } from './rump_syscalls.ts';
import { DTYPE_MISC, fd_allocfile, fd_detach, FDF_CLOEXEC, type File, type Fileops, type Uio } from './kern_descrip.ts';
import { EEXIST, EINVAL, ENAMETOOLONG, ENOENT, ENXIO, EROFS } from '../../include/errno.ts';
import {
  O_ACCMODE, O_APPEND, O_ASYNC, O_CLOEXEC, O_CREAT, O_EXCL, O_NONBLOCK, O_NOSIGPIPE, O_TRUNC, S_IFCHR, type Stat,
} from '../../include/syscall.ts';

/** Longest path open(2) takes (MAXPATHLEN, the terminating NUL included). */
export const MAXPATHLEN = 1024;
/** Majors this kernel hands out (NetBSD's dynamic majors start higher; the number is not visible). */
export const MAXMAJOR = 4095;

/** dev_t as NetBSD encodes it: 12 bits of major, 20 of minor. */
export function makedev(maj: number, min: number): number {
  return (((maj << 8) & 0x000fff00) | ((min << 12) & 0xfff00000) | (min & 0xff)) >>> 0;
}

export function major(dev: number): number {
  return (dev & 0x000fff00) >>> 8;
}

export function minor(dev: number): number {
  return (((dev & 0xfff00000) >>> 12) | (dev & 0xff)) >>> 0;
}

/** One open of a device: what the driver's entry points receive. */
export class Devfile {
  /** The driver's per-open state (a cloning driver's instance); null until d_open sets it. */
  df_private: unknown = null;
  constructor(
    readonly df_dev: number,
    readonly df_cdev: Cdevsw,
    /** The node's name, "bpf" for /dev/bpf. */
    readonly df_name: string,
  ) {}
}

/**
 * A character device switch (struct cdevsw).  flag is the file's f_flag
 * at the time of the call (FREAD, FWRITE, FNONBLOCK...), so a driver sees
 * O_NONBLOCK and FIONBIO alike.  Entry points return an errno; data is the
 * ioctl argument object, results are written into data.value and must be
 * plain data (they may travel over the syscall proxy).
 */
export interface Cdevsw {
  readonly d_name: string;
  d_open(df: Devfile, flag: number, l: Lwp): number | Promise<number>;
  /** The last descriptor of this open went away. */
  d_close(df: Devfile, flag: number, l: Lwp): number | Promise<number>;
  d_read(df: Devfile, uio: Uio, flag: number, l: Lwp): number | Promise<number>;
  d_write(df: Devfile, uio: Uio, flag: number, l: Lwp): number | Promise<number>;
  d_ioctl(df: Devfile, cmd: number, data: { value?: unknown }, flag: number, l: Lwp): number | Promise<number>;
  /** Ready events among `events`; records l (selrecord) when none. */
  d_poll(df: Devfile, events: number, l: Lwp): number;
}

/** The per-kernel device tables. */
export class DevswState {
  /** By major; null for a free slot. */
  readonly cdevsw: (Cdevsw | null)[] = [];
  /** /dev: node name -> dev_t. */
  readonly nodes = new Map<string, number>();
}

declare module './rump.ts' {
  interface Kernel {
    /** Device switches and nodes; made on first use. */
    devsw?: DevswState;
  }
}

export function devsw_state(k: Kernel): DevswState {
  let st = k.devsw;
  if (st === undefined) {
    st = new DevswState();
    k.devsw = st;
  }
  return st;
}

/**
 * devsw_attach: give the switch a major.  EEXIST if a switch of that name
 * is attached already, EINVAL when the majors run out.
 */
export function devsw_attach(k: Kernel, cdev: Cdevsw): { error: number; major: number } {
  const st = devsw_state(k);
  let free = -1;
  for (let i = 0; i < st.cdevsw.length; i++) {
    const c = st.cdevsw[i]!;
    if (c === null) {
      if (free < 0) free = i;
    } else if (c.d_name === cdev.d_name) {
      return { error: EEXIST, major: -1 };
    }
  }
  if (free < 0) {
    if (st.cdevsw.length > MAXMAJOR) return { error: EINVAL, major: -1 };
    free = st.cdevsw.length;
    st.cdevsw.push(null);
  }
  st.cdevsw[free] = cdev;
  return { error: 0, major: free };
}

/** devsw_detach: the major is free again; nodes naming it now open with ENXIO. */
export function devsw_detach(k: Kernel, cdev: Cdevsw): number {
  const st = devsw_state(k);
  const i = st.cdevsw.indexOf(cdev);
  if (i < 0) return ENXIO;
  st.cdevsw[i] = null;
  return 0;
}

/** cdevsw_lookup: the switch for dev's major, or null. */
export function cdevsw_lookup(k: Kernel, dev: number): Cdevsw | null {
  return devsw_state(k).cdevsw[major(dev)] ?? null;
}

function devnode_name_ok(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && name.length < MAXPATHLEN - 5 &&
    name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** devnode_create: /dev/name names dev (mknod).  EINVAL for a bad name, EEXIST if taken. */
export function devnode_create(k: Kernel, name: string, dev: number): number {
  if (!devnode_name_ok(name)) return EINVAL;
  const st = devsw_state(k);
  if (st.nodes.has(name)) return EEXIST;
  st.nodes.set(name, dev);
  return 0;
}

/** devnode_remove: unlink /dev/name.  ENOENT if there is none. */
export function devnode_remove(k: Kernel, name: string): number {
  return devsw_state(k).nodes.delete(name) ? 0 : ENOENT;
}

/** The /dev listing: node names and their dev_t, sorted by name. */
export function devnode_list(k: Kernel): { name: string; dev: number }[] {
  return [...devsw_state(k).nodes].map(([name, dev]) => ({ name, dev })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/*
 * The node a path names, or an errno.  Paths are taken relative to "/"
 * (the only working directory there is); "." and ".." components and
 * repeated slashes are resolved as namei would.
 */
function devnode_lookup(st: DevswState, path: string): { error: number; name: string; dev: number } {
  if (path.length === 0) return { error: ENOENT, name: '', dev: 0 };
  if (path.length >= MAXPATHLEN) return { error: ENAMETOOLONG, name: '', dev: 0 };
  const comps: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') comps.pop();
    else comps.push(c);
  }
  if (comps.length !== 2 || comps[0] !== 'dev') return { error: ENOENT, name: '', dev: 0 };
  const name = comps[1]!;
  const dev = st.nodes.get(name);
  if (dev === undefined) return { error: ENOENT, name, dev: 0 };
  return { error: 0, name, dev };
}

function devfile(fp: File): Devfile {
  return fp.f_data as Devfile;
}

const devfileops: Fileops = {
  fo_name: 'dev',
  fo_read: (fp, l, uio) => devfile(fp).df_cdev.d_read(devfile(fp), uio, fp.f_flag, l),
  fo_write: (fp, l, uio) => devfile(fp).df_cdev.d_write(devfile(fp), uio, fp.f_flag, l),
  fo_ioctl: (fp, l, cmd, data) => devfile(fp).df_cdev.d_ioctl(devfile(fp), cmd, data, fp.f_flag, l),
  fo_fcntl: () => 0,
  fo_poll: (fp, l, events) => devfile(fp).df_cdev.d_poll(devfile(fp), events, l),
  fo_stat: (fp, st: Stat) => {
    st.st_mode = S_IFCHR | 0o600;
    st.st_dev = devfile(fp).df_dev;
    return 0;
  },
  fo_close: (fp, l) => devfile(fp).df_cdev.d_close(devfile(fp), fp.f_flag, l),
};

/** Flags open(2) knows; anything else is EINVAL. */
const O_KNOWN = O_ACCMODE | O_NONBLOCK | O_APPEND | O_ASYNC | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_NOSIGPIPE;
/** Flags that stay on the open file (the rest only steer the open). */
const O_FILEFLAGS = O_NONBLOCK | O_APPEND | O_ASYNC | O_NOSIGPIPE;

export interface OpenArgs {
  path: string;
  flags: number;
}

/**
 * open(2) of a device node.  ENOENT for a path that names no node (and
 * EROFS when O_CREAT asks to make one: /dev is all there is), EEXIST for
 * O_CREAT|O_EXCL on a node, ENXIO when no driver holds the node's major,
 * EINVAL for unknown flags or the access mode 3; then whatever the
 * driver's d_open says.
 */
export async function sys_open(l: Lwp, uap: OpenArgs, rv: Retval): Promise<number> {
  const k = l.l_kernel;
  const fdp = l.l_proc.p_fd;
  const { path, flags } = uap;
  if (fdp === null) return ENXIO;
  if (typeof path !== 'string' || !Number.isInteger(flags)) return EINVAL;
  if ((flags & ~O_KNOWN) !== 0 || (flags & O_ACCMODE) === O_ACCMODE) return EINVAL;
  const st = devsw_state(k);
  const r = devnode_lookup(st, path);
  if (r.error !== 0) return r.error === ENOENT && (flags & O_CREAT) !== 0 ? EROFS : r.error;
  if ((flags & (O_CREAT | O_EXCL)) === (O_CREAT | O_EXCL)) return EEXIST;
  const cdev = cdevsw_lookup(k, r.dev);
  if (cdev === null) return ENXIO;
  const df = new Devfile(r.dev, cdev, r.name);
  /* FFLAGS: the access mode plus one gives FREAD/FWRITE. */
  const fflag = ((flags & O_ACCMODE) + 1) | (flags & O_FILEFLAGS);
  const a = fd_allocfile(fdp, fflag, DTYPE_MISC, devfileops, df, (flags & O_CLOEXEC) !== 0 ? FDF_CLOEXEC : 0);
  if (a.error !== 0) return a.error;
  const o = cdev.d_open(df, fflag, l);
  const error = typeof o === 'number' ? o : await o;
  if (error !== 0) {
    /* The descriptor was never handed out: take it back without a close. */
    if (fdp.fd_ofiles[a.fd] === a.fp) fd_detach(fdp, a.fd);
    k.nfiles--;
    return error;
  }
  rv.rv0 = a.fd;
  return 0;
}
