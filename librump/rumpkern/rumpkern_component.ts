/*
 * The kernel core as a component: the kern.* sysctl nodes at KERN, the
 * console on init's fds 0-2 at POSTINIT, and the kernel's own syscalls
 * (descriptors, open of device nodes, pipes, poll, sysctl, reboot) at SYSCALL.
 */

import type { Kernel, KernelComponent } from './rump.ts';
import { KERNCONF, OSRELEASE, OSREVISION, OSTYPE, RUMPTS_VERSION } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import { Filedesc, fd_affix } from './kern_descrip.ts';
import { cons_open } from './cons.ts';
import { Retval, syscall_establish, type Sysent } from './rump_syscalls.ts';
import { sys_read, sys_write, sys_ioctl } from './sys_generic.ts';
import { sys_close, sys_dup, sys_dup2, sys_fcntl, sys_fstat } from './sys_descrip.ts';
import { sys_poll } from './sys_select.ts';
import { sys_pipe2 } from './sys_pipe.ts';
import { sys_open } from './subr_devsw.ts';
import type { SysctlName, SysctlValue } from './kern_sysctl.ts';
import { EINVAL, ENFILE } from '../../include/errno.ts';
import {
  CTLFLAG_READWRITE, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_QUAD, CTLTYPE_STRING, CTLTYPE_STRUCT,
  KERN_BOOTTIME, KERN_CLOCKRATE, KERN_DOMAINNAME, KERN_HOSTID, KERN_HOSTNAME, KERN_MAXFILES,
  KERN_MSGBUFSIZE, KERN_OSREV, KERN_OSRELEASE, KERN_OSTYPE, KERN_VERSION,
} from '../../include/sysctl.ts';
import {
  RB_AUTOBOOT, RB_HALT, RB_POWERDOWN,
  SYS___fstat50, SYS___sysctl, SYS_close, SYS_dup, SYS_dup2, SYS_fcntl, SYS_getpid, SYS_ioctl,
  SYS_open, SYS_pipe2, SYS_poll, SYS_read, SYS_reboot, SYS_write,
} from '../../include/syscall.ts';
import { printf } from './subr_prf.ts';

/** MAXHOSTNAMELEN - 1 */
const HOSTNAME_MAX = 255;

export interface Clockinfo {
  hz: number;
  tick: number;
  tickadj: number;
  stathz: number;
  profhz: number;
}

function fmtTimespec(ts: { tv_sec: number; tv_nsec: number }): string {
  return `${ts.tv_sec}.${String(Math.floor(ts.tv_nsec / 1000)).padStart(6, '0')}`;
}

function kern_sysctl_init(k: Kernel): void {
  const mk = (desc: Parameters<typeof k.sysctl.sysctl_createv>[1], parent = 'kern'): void => {
    const r = k.sysctl.sysctl_createv(parent, desc);
    if (r.error !== 0) throw new Error(`sysctl_createv ${parent}.${desc.name}: errno ${r.error}`);
  };
  mk({ name: 'ostype', num: KERN_OSTYPE, type: CTLTYPE_STRING, value: OSTYPE, description: 'Operating system type' });
  mk({ name: 'osrelease', num: KERN_OSRELEASE, type: CTLTYPE_STRING, value: OSRELEASE, description: 'Operating system release' });
  mk({ name: 'osrevision', num: KERN_OSREV, type: CTLTYPE_INT, value: OSREVISION, description: 'Operating system revision' });
  mk({ name: 'version', num: KERN_VERSION, type: CTLTYPE_STRING, value: `${OSTYPE} ${OSRELEASE} (${KERNCONF}) ${RUMPTS_VERSION}`, description: 'Kernel version' });
  mk({
    name: 'hostname', num: KERN_HOSTNAME, type: CTLTYPE_STRING, flags: CTLFLAG_READWRITE, maxlen: HOSTNAME_MAX,
    get: () => k.hostname,
    set: (v: string) => { k.hostname = v; return 0; },
    description: 'System hostname',
  });
  mk({
    name: 'domainname', num: KERN_DOMAINNAME, type: CTLTYPE_STRING, flags: CTLFLAG_READWRITE, maxlen: HOSTNAME_MAX,
    get: () => k.domainname,
    set: (v: string) => { k.domainname = v; return 0; },
    description: 'YP domain name',
  });
  mk({
    name: 'hostid', num: KERN_HOSTID, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    get: () => k.hostid,
    set: (v: number) => { k.hostid = v; return 0; },
    description: 'System host ID number',
  });
  mk({
    name: 'maxfiles', num: KERN_MAXFILES, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    get: () => k.maxfiles,
    validate: (v: number) => (v < 16 || v < k.nfiles ? EINVAL : 0),
    set: (v: number) => { k.maxfiles = v; return 0; },
    description: 'Maximum number of open files',
  });
  mk({
    name: 'clockrate', num: KERN_CLOCKRATE, type: CTLTYPE_STRUCT,
    get: (): Clockinfo => ({ hz: k.hz, tick: 1e6 / k.hz, tickadj: 0, stathz: 1, profhz: 1 }),
    format: (c: Clockinfo) => `tick = ${c.tick}, tickadj = ${c.tickadj}, hz = ${c.hz}, profhz = ${c.profhz}, stathz = ${c.stathz}`,
    description: 'Kernel clock rates',
  });
  mk({ name: 'hz', type: CTLTYPE_INT, value: k.hz, description: 'Clock interrupts per second (hardclock)' });
  mk({
    name: 'boottime', num: KERN_BOOTTIME, type: CTLTYPE_STRUCT,
    get: () => ({ tv_sec: k.boottime.tv_sec, tv_nsec: k.boottime.tv_nsec }),
    format: (ts: { tv_sec: number; tv_nsec: number }) => new Date(ts.tv_sec * 1000 + ts.tv_nsec / 1e6).toUTCString(),
    description: 'System boot time',
  });
  mk({
    name: 'uptime', type: CTLTYPE_STRUCT,
    get: () => {
      const ns = k.uptimeNs();
      const tv_sec = Math.floor(ns / 1e9);
      return { tv_sec, tv_nsec: ns - tv_sec * 1e9 };
    },
    format: (ts: { tv_sec: number; tv_nsec: number }) => `${fmtTimespec(ts)} s`,
    description: 'Time since boot',
  });
  mk({ name: 'hardclock_ticks', type: CTLTYPE_INT, get: () => k.ticks, description: 'Number of hardclock ticks' });
  mk({ name: 'msgbufsize', num: KERN_MSGBUFSIZE, type: CTLTYPE_INT, value: k.msgbuf.msg_bufs, description: 'Size of the kernel message buffer' });
  mk({ name: 'softint', type: CTLTYPE_NODE, description: 'Software interrupt dispatch' });
  mk({ name: 'mode', type: CTLTYPE_STRING, value: k.softintInline ? 'inline' : 'deferred', description: 'When softints run: inline before returning to the host, or deferred to a later turn' }, 'kern.softint');
  mk({ name: 'inline', type: CTLTYPE_QUAD, get: () => BigInt(k.cpu.ci_softint_inline), description: 'Softint handler runs before returning to the host' }, 'kern.softint');
  mk({ name: 'deferred', type: CTLTYPE_QUAD, get: () => BigInt(k.cpu.ci_softint_deferred), description: 'Softint handler runs on a later host turn' }, 'kern.softint');
  mk({ name: 'lockdebug', type: CTLTYPE_STRING, get: () => k.ld.mode, description: 'lockdebug mode: panic, log or off' });
}

function init_fds(k: Kernel): void {
  const p = k.initproc;
  const fdp = new Filedesc(k);
  p.p_fd = fdp;
  const cons = cons_open(k);
  if (cons === null) throw new Error(`console: ${ENFILE}`);
  cons.f_count = 3;
  for (let fd = 0; fd < 3; fd++) fd_affix(fdp, cons, fd, 0);
}

function sys_getpid(l: Lwp, _uap: object, rv: Retval): number {
  rv.rv0 = l.l_proc.p_pid;
  rv.rv1 = l.l_proc.p_pptr?.p_pid ?? 0;
  return 0;
}

function sys___sysctl(l: Lwp, uap: { name: SysctlName; newValue?: SysctlValue }, rv: Retval): number {
  const r = l.l_kernel.sysctl.sysctl_dispatch(uap.name, uap.newValue);
  rv.value = r.oldValue;
  return r.error;
}

function sys_reboot(l: Lwp, uap: { howto: number }, _rv: Retval): number {
  const howto = uap.howto;
  if (howto !== RB_AUTOBOOT && (howto & ~(RB_HALT | RB_POWERDOWN)) !== 0) return EINVAL;
  const k = l.l_kernel;
  printf(k, `reboot requested by pid ${l.l_proc.p_pid} (howto ${howto})\n`);
  /* The halt waits for every LWP, this one included, so it cannot be awaited here. */
  void k.halt();
  return 0;
}

const kern_syscalls: readonly (readonly [number, Sysent])[] = [
  [SYS_read, { name: 'read', call: sys_read }],
  [SYS_write, { name: 'write', call: sys_write }],
  [SYS_open, { name: 'open', call: sys_open }],
  [SYS_close, { name: 'close', call: sys_close }],
  [SYS_getpid, { name: 'getpid', call: sys_getpid }],
  [SYS_dup, { name: 'dup', call: sys_dup }],
  [SYS_ioctl, { name: 'ioctl', call: sys_ioctl }],
  [SYS_dup2, { name: 'dup2', call: sys_dup2 }],
  [SYS_fcntl, { name: 'fcntl', call: sys_fcntl }],
  [SYS___sysctl, { name: '__sysctl', call: sys___sysctl }],
  [SYS_reboot, { name: 'reboot', call: sys_reboot }],
  [SYS_poll, { name: 'poll', call: sys_poll }],
  [SYS___fstat50, { name: 'fstat', call: sys_fstat }],
  [SYS_pipe2, { name: 'pipe2', call: sys_pipe2 }],
];

export const rumpkern_component: KernelComponent = {
  name: 'rumpkern',
  provides: ['kern'],
  init: {
    KERN: (k) => { kern_sysctl_init(k); },
    POSTINIT: (k) => { init_fds(k); },
    SYSCALL: (k) => { syscall_establish(k, kern_syscalls); },
  },
};
