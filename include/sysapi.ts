/*
 * The syscall surface as its users see it: the promise-based rump_sys_*
 * methods of one process.  An embedded kernel's RumpSys and a remote
 * client of the syscall proxy both offer it, so applications and the
 * rump.* tools are written once against SysApi and run either way.
 */

import type { RumpSys } from '../librump/rumpkern/rump_syscalls.ts';

export type SysApi = Omit<RumpSys, 'k' | 'p'>;
