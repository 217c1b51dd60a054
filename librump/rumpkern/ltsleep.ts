/*
 * Sleeping and waking (NetBSD's kern_synch.c/sleepq.c, rump's ltsleep.c):
 * tsleep, mtsleep, wakeup, kpause.  Condition variables (locks.ts) sleep
 * through the same queues.
 *
 * A sleeping LWP sits on the queue of its wait channel (any object) and
 * has given the CPU up; it awaits a promise that the scheduler resolves
 * when the LWP is handed the CPU again.  wakeup() only moves sleepers to
 * the run queue.  A timeout is a callout embedded in the LWP, so sleeping
 * allocates one promise and nothing else.
 */

import type { Kernel } from './rump.ts';
import { LSSLEEP, LW_RUMP_QEXIT, type Lwp } from './lwproc.ts';
import { cpu_release, setrunnable } from './intr.ts';
import { callout_reset, callout_stop } from './kern_timeout.ts';
import { EINTR, EWOULDBLOCK } from '../../include/errno.ts';
import { KASSERT, KernelPanic, panic } from './subr_prf.ts';
import type { Kmutex } from './locks.ts';
import { mutex_enter, mutex_exit } from './locks.ts';

/** Priority flag: the sleep may be interrupted (here: by halt or process exit). */
export const PCATCH = 0x100;

/** Thrown into an LWP that tries to sleep in a kernel that is going down. */
export class KernelHalted extends Error {
  constructor(kernelName: string) {
    super(`${kernelName}: kernel halted`);
    this.name = 'KernelHalted';
  }
}

class SleepQueue {
  sq_head: Lwp | null = null;
  sq_tail: Lwp | null = null;
}

/** The sleep table: one queue per wait channel that has sleepers. */
export class SleepTab {
  readonly queues = new Map<unknown, SleepQueue>();
  private readonly spare: SleepQueue[] = [];
  nsleepers = 0;

  enqueue(l: Lwp, wchan: unknown): void {
    let sq = this.queues.get(wchan);
    if (sq === undefined) {
      sq = this.spare.pop() ?? new SleepQueue();
      this.queues.set(wchan, sq);
    }
    l.l_sleepnext = null;
    l.l_sleepprev = sq.sq_tail;
    if (sq.sq_tail === null) sq.sq_head = l;
    else sq.sq_tail.l_sleepnext = l;
    sq.sq_tail = l;
    this.nsleepers++;
  }

  remove(l: Lwp): void {
    const sq = this.queues.get(l.l_wchan)!;
    const next = l.l_sleepnext;
    const prev = l.l_sleepprev;
    if (prev === null) sq.sq_head = next;
    else prev.l_sleepnext = next;
    if (next === null) sq.sq_tail = prev;
    else next.l_sleepprev = prev;
    l.l_sleepnext = l.l_sleepprev = null;
    if (sq.sq_head === null) {
      this.queues.delete(l.l_wchan);
      this.spare.push(sq);
    }
    this.nsleepers--;
  }

  first(wchan: unknown): Lwp | null {
    return this.queues.get(wchan)?.sq_head ?? null;
  }

  /** Every sleeping LWP (for halt and for state summaries). */
  all(): Lwp[] {
    const out: Lwp[] = [];
    for (const sq of this.queues.values()) for (let l = sq.sq_head; l !== null; l = l.l_sleepnext) out.push(l);
    return out;
  }
}

/** End l's sleep with error; it becomes runnable. */
export function sleepq_unsleep(k: Kernel, l: Lwp, error: number): void {
  k.sleeptab.remove(l);
  callout_stop(l.l_timeout_ch);
  l.l_sleeperr = error;
  l.l_wchan = null;
  l.l_wmesg = '';
  setrunnable(k, l);
}

function sleepq_timeout(arg: unknown): void {
  const l = arg as Lwp;
  if (l.l_stat === LSSLEEP) sleepq_unsleep(l.l_kernel, l, EWOULDBLOCK);
}

/**
 * mtsleep(9): sleep on wchan, releasing mtx (if any) while asleep and
 * taking it again before returning.  timo in ticks, 0 = forever.  Returns
 * 0 when woken, EWOULDBLOCK on timeout, EINTR when interrupted (PCATCH, or
 * always when the kernel is halting or the process exiting).
 */
export async function mtsleep(
  l: Lwp, wchan: unknown, priority: number, wmesg: string, timo: number, mtx: Kmutex | null,
): Promise<number> {
  const k = l.l_kernel;
  if (k.dying) {
    if (mtx !== null) mutex_exit(mtx);
    throw new KernelHalted(k.name);
  }
  /* As rump: every sleep of an LWP whose process is exiting is interrupted. */
  if ((l.l_flag & LW_RUMP_QEXIT) !== 0) return EINTR;
  const ci = k.cpu;
  if (ci.ci_idepth > 0 || ci.ci_softlevel >= 0) {
    /* There is no LWP to put to sleep here; when only logging, refuse the sleep. */
    const msg = `sleeping on "${wmesg}" in ${ci.ci_idepth > 0 ? 'interrupt' : 'softint'} context`;
    if (!k.ld.enabled) panic(k, msg);
    k.ld.abort('sleep-intr', msg);
    return EWOULDBLOCK;
  }
  KASSERT(k, ci.ci_curlwp === l, `mtsleep: lwp ${l.l_lid} "${l.l_name}" sleeps without holding the CPU`);
  if (k.ld.enabled) k.ld.lockdebug_sleep(mtx, (lk) => k.isSpinLock(lk));
  const woken = new Promise<number>((resolve) => { l.l_wake = resolve; });
  l.l_wchan = wchan;
  l.l_wmesg = wmesg;
  l.l_stat = LSSLEEP;
  l.l_sleeperr = -1;
  l.l_spl = ci.ci_ilevel;
  k.sleeptab.enqueue(l, wchan);
  if (timo > 0) callout_reset(l.l_timeout_ch, timo, sleepq_timeout, l);
  if (mtx !== null) mutex_exit(mtx);
  cpu_release(k, l);
  const error = await woken;
  if (k.panicstr !== null) throw new KernelPanic(k.name, k.panicstr);
  if (mtx !== null) mutex_enter(mtx);
  return error;
}

/** tsleep(9): mtsleep without an interlock. */
export function tsleep(l: Lwp, wchan: unknown, priority: number, wmesg: string, timo: number): Promise<number> {
  return mtsleep(l, wchan, priority, wmesg, timo, null);
}

/** wakeup(9): make every LWP sleeping on wchan runnable. */
export function wakeup(k: Kernel, wchan: unknown): void {
  const st = k.sleeptab;
  for (let l = st.first(wchan); l !== null; l = st.first(wchan)) sleepq_unsleep(k, l, 0);
}

/** Wake only the first sleeper on wchan (cv_signal); returns whether one was woken. */
export function wakeup_one(k: Kernel, wchan: unknown): boolean {
  const l = k.sleeptab.first(wchan);
  if (l === null) return false;
  sleepq_unsleep(k, l, 0);
  return true;
}

/**
 * kpause(9): sleep for timo ticks.  Returns EWOULDBLOCK when the time is up
 * (the normal case) or EINTR if interrupted.
 */
export function kpause(l: Lwp, wmesg: string, intr: boolean, timo: number, mtx: Kmutex | null): Promise<number> {
  return mtsleep(l, l, intr ? PCATCH : 0, wmesg, timo > 0 ? timo : 1, mtx);
}
