/*
 * Processes and LWPs (NetBSD's lwproc.c and threads.c, for async code).
 *
 * An LWP is a kernel execution context: a syscall in progress (an implicit
 * LWP made for the call, in the calling process) or a kernel thread
 * (kthread_create, in proc0).  Its code is an async function that gives up
 * the CPU only at sleep points.  The LWP is passed explicitly to everything
 * that may sleep, since an event loop has no thread-local curlwp.
 */

import type { Kernel } from './rump.ts';
import type { Filedesc } from './kern_descrip.ts';
import type { SelState } from './sys_select.ts';
import { Callout, callout_init, CALLOUT_MPSAFE } from './kern_timeout.ts';

/* l_stat */
export const LSIDL = 1;
export const LSRUN = 2;
export const LSSLEEP = 3;
export const LSONPROC = 7;
export const LSZOMB = 5;

/* l_flag */
export const LW_SYSTEM = 0x0001;
export const LW_INTR = 0x0002;
/** The LWP's process is exiting (remote client gone): sleeps fail with EINTR. */
export const LW_RUMP_QEXIT = 0x0004;

export class Proc {
  p_nlwps = 0;
  /** The descriptor table; proc0 has none. */
  p_fd: Filedesc | null = null;
  p_exiting = false;

  constructor(
    readonly p_kernel: Kernel,
    readonly p_pid: number,
    public p_comm: string,
    readonly p_pptr: Proc | null,
  ) {}
}

export class Lwp {
  l_stat = LSIDL;
  l_wchan: unknown = null;
  l_wmesg = '';
  /** Why the sleep ended: 0, EWOULDBLOCK, EINTR; or -1 while asleep. */
  l_sleeperr = 0;
  /** The IPL to restore when the LWP gets the CPU back. */
  l_spl = 0;
  l_flag: number;
  /** Sleep-queue and run-queue links. */
  l_sleepnext: Lwp | null = null;
  l_sleepprev: Lwp | null = null;
  l_runnext: Lwp | null = null;
  /** Resolves the promise the LWP awaits while asleep or waiting for the CPU. */
  l_wake: ((err: number) => void) | null = null;
  /** Sleep timeout. */
  readonly l_timeout_ch: Callout;
  /** Set when the LWP ends; kthreads are joined through it. */
  l_done: Promise<void> | null = null;
  l_doneResolve: (() => void) | null = null;
  /** poll(2) state, made on first use. */
  l_sel: SelState | null = null;

  constructor(
    readonly l_kernel: Kernel,
    public l_proc: Proc,
    public l_lid: number,
    public l_name: string,
    flags: number,
  ) {
    this.l_flag = flags;
    this.l_timeout_ch = new Callout();
    callout_init(this.l_timeout_ch, CALLOUT_MPSAFE, l_kernel);
  }
}

/** Create a process whose parent is `parent` (proc1 for clients). */
export function proc_create(k: Kernel, comm: string, parent: Proc | null): Proc {
  const p = new Proc(k, k.nextpid++, comm, parent);
  k.allproc.set(p.p_pid, p);
  return p;
}

/** Exited LWPs kept for reuse: a syscall makes one, and most calls are short. */
const LWP_FREE_MAX = 64;

/** Make an LWP in p (not yet on the CPU). */
export function lwp_create(k: Kernel, p: Proc, name: string, flags: number): Lwp {
  const l = k.lwpfree.pop();
  let nl: Lwp;
  if (l !== undefined) {
    l.l_proc = p;
    l.l_lid = k.nextlid++;
    l.l_name = name;
    l.l_flag = flags;
    l.l_stat = LSIDL;
    l.l_spl = 0;
    l.l_sleeperr = 0;
    nl = l;
  } else {
    nl = new Lwp(k, p, k.nextlid++, name, flags);
  }
  p.p_nlwps++;
  k.alllwp.add(nl);
  return nl;
}

/** The LWP is finished: drop it from its process and wake joiners. */
export function lwp_exit(k: Kernel, l: Lwp): void {
  l.l_stat = LSZOMB;
  if (k.alllwp.delete(l)) l.l_proc.p_nlwps--;
  const r = l.l_doneResolve;
  l.l_doneResolve = null;
  r?.();
  k.lwpExited();
  /* Only implicit LWPs are recycled: nobody holds a kthread's join promise afterwards. */
  if (l.l_done === null && l.l_wake === null && k.lwpfree.length < LWP_FREE_MAX) k.lwpfree.push(l);
}
