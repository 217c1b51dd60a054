/*
 * The network faction's per-kernel state (what NetBSD keeps in globals:
 * the domain list, softnet_lock, the mbuf pools, kern.somaxconn, sb_max),
 * hung on the Kernel object by the rumpnet component at FACTION_NET.
 */

import type { Kernel } from '../rumpkern/rump.ts';
import type { Kmutex } from '../rumpkern/locks.ts';
import { panic } from '../rumpkern/subr_prf.ts';
import type { Domains } from './uipc_domain.ts';
import type { MbufCtx } from './uipc_mbuf.ts';
import type { Socket } from './socketvar.ts';
import type { Lwp } from '../rumpkern/lwproc.ts';

/** Default largest socket buffer (kern.sbmax), as NetBSD's SB_MAX. */
export const SB_MAX = 256 * 1024;

export interface NetState {
  readonly domains: Domains;
  /** The lock of every socket (so_lock) and of the protocols under them. */
  readonly softnet_lock: Kmutex;
  readonly mb: MbufCtx;
  /** kern.somaxconn: the largest listen backlog. */
  somaxconn: number;
  /** kern.sbmax: the largest socket buffer reservation. */
  sb_max: number;
  /** Sockets alive, for diagnostics and leak checks. */
  nsockets: number;
  /** Interface ioctls ('i' group), when libnet is present. */
  ifioctl?: (so: Socket, cmd: number, data: { value?: unknown }, l: Lwp) => number | Promise<number>;
}

declare module '../rumpkern/rump.ts' {
  interface Kernel {
    /** The network faction; set when rumpnet boots. */
    rumpnet?: NetState;
  }
}

/** The network state of k; a kernel without rumpnet has none. */
export function net_of(k: Kernel): NetState {
  const n = k.rumpnet;
  if (n === undefined) panic(k, 'network code called in a kernel booted without rumpnet');
  return n;
}
