/*
 * rumpnet: the network faction (NetBSD's rump_net.c).  At FACTION_NET it
 * makes the mbuf pools (mbinit), softnet_lock and the domain list (soinit,
 * domaininit), with kern.somaxconn and kern.sbmax; at SYSCALL it registers
 * the socket calls.  Domains (liblocal, libnetinet, ...) attach at NET.
 */

import type { Kernel, KernelComponent } from '../rumpkern/rump.ts';
import { mutex_init, MUTEX_DEFAULT } from '../rumpkern/locks.ts';
import { IPL_NONE } from '../rumpkern/intr.ts';
import { syscall_establish, type Sysent } from '../rumpkern/rump_syscalls.ts';
import { EINVAL } from '../../include/errno.ts';
import { CTLFLAG_READWRITE, CTLTYPE_INT } from '../../include/sysctl.ts';
import { SOMAXCONN } from '../../include/socket.ts';
import {
  SYS___socket30, SYS_accept, SYS_bind, SYS_connect, SYS_getpeername, SYS_getsockname, SYS_getsockopt,
  SYS_listen, SYS_paccept, SYS_recvfrom, SYS_recvmsg, SYS_sendmsg, SYS_sendto, SYS_setsockopt, SYS_shutdown,
  SYS_socketpair, SYS_sendmmsg, SYS_recvmmsg,
} from '../../include/syscall.ts';
import { mbinit } from './uipc_mbuf.ts';
import { Domains } from './uipc_domain.ts';
import { SB_MAX, type NetState } from './net.ts';
import {
  sys___socket30, sys_accept, sys_bind, sys_connect, sys_getpeername, sys_getsockname, sys_getsockopt,
  sys_listen, sys_paccept, sys_recvfrom, sys_recvmsg, sys_sendmsg, sys_sendto, sys_setsockopt, sys_shutdown,
  sys_socketpair, sys_sendmmsg, sys_recvmmsg,
} from './uipc_syscalls.ts';

/** NetBSD's KERN_SOMAXCONN and KERN_SBMAX. */
const KERN_SOMAXCONN = 47;
const KERN_SBMAX = 38;

function rumpnet_init(k: Kernel): void {
  const net: NetState = {
    domains: new Domains(),
    softnet_lock: mutex_init(k, 'softnet_lock', MUTEX_DEFAULT, IPL_NONE),
    mb: mbinit(k),
    somaxconn: SOMAXCONN,
    sb_max: SB_MAX,
    nsockets: 0,
  };
  k.rumpnet = net;
  const mk = (desc: Parameters<typeof k.sysctl.sysctl_createv>[1]): void => {
    const r = k.sysctl.sysctl_createv('kern', desc);
    if (r.error !== 0) throw new Error(`sysctl kern.${desc.name}: errno ${r.error}`);
  };
  mk({
    name: 'somaxconn', num: KERN_SOMAXCONN, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    get: () => net.somaxconn,
    validate: (v: number) => (v < 1 ? EINVAL : 0),
    set: (v: number) => { net.somaxconn = v; return 0; },
    description: 'Maximum listen queue length',
  });
  mk({
    name: 'sbmax', num: KERN_SBMAX, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    get: () => net.sb_max,
    validate: (v: number) => (v < 16 * 1024 ? EINVAL : 0),
    set: (v: number) => { net.sb_max = v; return 0; },
    description: 'Maximum socket buffer size',
  });
}

const socket_syscalls: readonly (readonly [number, Sysent])[] = [
  [SYS___socket30, { name: 'socket', call: sys___socket30 }],
  [SYS_socketpair, { name: 'socketpair', call: sys_socketpair }],
  [SYS_bind, { name: 'bind', call: sys_bind }],
  [SYS_listen, { name: 'listen', call: sys_listen }],
  [SYS_accept, { name: 'accept', call: sys_accept }],
  [SYS_paccept, { name: 'paccept', call: sys_paccept }],
  [SYS_connect, { name: 'connect', call: sys_connect }],
  [SYS_sendto, { name: 'sendto', call: sys_sendto }],
  [SYS_recvfrom, { name: 'recvfrom', call: sys_recvfrom }],
  [SYS_sendmsg, { name: 'sendmsg', call: sys_sendmsg }],
  [SYS_recvmsg, { name: 'recvmsg', call: sys_recvmsg }],
  [SYS_shutdown, { name: 'shutdown', call: sys_shutdown }],
  [SYS_setsockopt, { name: 'setsockopt', call: sys_setsockopt }],
  [SYS_getsockopt, { name: 'getsockopt', call: sys_getsockopt }],
  [SYS_getsockname, { name: 'getsockname', call: sys_getsockname }],
  [SYS_getpeername, { name: 'getpeername', call: sys_getpeername }],
  [SYS_sendmmsg, { name: 'sendmmsg', call: sys_sendmmsg }],
  [SYS_recvmmsg, { name: 'recvmmsg', call: sys_recvmmsg }],
];

export const rumpnet_component: KernelComponent = {
  name: 'rumpnet',
  provides: ['faction:net', 'sockets', 'mbufs'],
  needs: ['kern'],
  init: {
    FACTION_NET: (k) => { rumpnet_init(k); },
    SYSCALL: (k) => { syscall_establish(k, socket_syscalls); },
  },
};
