/*
 * The virtual CPU: who runs, interrupt levels, interrupts and softints
 * (NetBSD rump's scheduler.c and intr.c, for an event loop).
 *
 * One context at a time holds the CPU (ci_curlwp): an LWP between its sleep
 * points, an interrupt handler, or the softint pseudo-LWP.  An LWP that
 * wants the CPU while it is taken waits on the run queue; whoever gives the
 * CPU up (sleeping, returning from a syscall, finishing an interrupt) runs
 * pending softints (or asks the host to run them on a later turn, a boot
 * option) and hands the CPU to the next runnable LWP.  This is what makes
 * locks meaningful across the hops of async code: no other context runs
 * until the holder sleeps.
 *
 * spl: ci_ilevel masks softints and interrupts at or below it.  A hard
 * interrupt that arrives while masked (an in-process driver delivering
 * synchronously) is deferred to splx().
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import { LSONPROC } from './lwproc.ts';
import { KernelPanic, panic, KASSERT } from './subr_prf.ts';

export const IPL_NONE = 0;
export const IPL_SOFTCLOCK = 1;
export const IPL_SOFTBIO = 2;
export const IPL_SOFTNET = 3;
export const IPL_SOFTSERIAL = 4;
export const IPL_VM = 5;
export const IPL_SCHED = 6;
export const IPL_HIGH = 7;
/** NetBSD folds the network interrupt level into IPL_VM. */
export const IPL_NET = IPL_VM;

/* Softint levels (the low bits of softint_establish flags), as NetBSD. */
export const SOFTINT_BIO = 0x00;
export const SOFTINT_CLOCK = 0x01;
export const SOFTINT_SERIAL = 0x02;
export const SOFTINT_NET = 0x03;
export const SOFTINT_MPSAFE = 0x100;
const SOFTINT_LVLMASK = 0xff;
const SOFTINT_COUNT = 4;

/** The IPL a softint level runs at. */
const SOFTINT_IPL = [IPL_SOFTBIO, IPL_SOFTCLOCK, IPL_SOFTSERIAL, IPL_SOFTNET];
/** Levels in the order pending ones run: highest IPL first. */
const SOFTINT_ORDER = [SOFTINT_SERIAL, SOFTINT_NET, SOFTINT_BIO, SOFTINT_CLOCK];

export type SoftintFunc = (arg: unknown) => void;

export class Softint {
  si_pending = false;
  si_established = true;
  si_next: Softint | null = null;
  si_count = 0;
  constructor(
    readonly si_kernel: Kernel,
    readonly si_level: number,
    readonly si_func: SoftintFunc,
    readonly si_arg: unknown,
    readonly si_name: string,
  ) {}
}

interface DeferredIntr {
  ipl: number;
  fn: (arg: unknown) => void;
  arg: unknown;
}

export class CpuInfo {
  /** The context on the CPU, or null when the CPU is free. */
  ci_curlwp: Lwp | null = null;
  ci_ilevel = IPL_NONE;
  /** Hard interrupt nesting depth. */
  ci_idepth = 0;
  /** Level of the running softint, or -1. */
  ci_softlevel = -1;
  ci_runq_head: Lwp | null = null;
  ci_runq_tail: Lwp | null = null;
  ci_softpending = 0;
  readonly ci_softq_head: (Softint | null)[] = new Array<Softint | null>(SOFTINT_COUNT).fill(null);
  readonly ci_softq_tail: (Softint | null)[] = new Array<Softint | null>(SOFTINT_COUNT).fill(null);
  readonly ci_deferred: DeferredIntr[] = [];
  /** A sched_soft request is outstanding. */
  ci_softreq = false;
  /* Statistics. */
  ci_nintr = 0;
  ci_nswitch = 0;
  /** Softint handler runs done before control went back to the host. */
  ci_softint_inline = 0;
  /** Softint handler runs done on a later turn of the host loop. */
  ci_softint_deferred = 0;
}

/** Is the current context an interrupt or softint (where sleeping is illegal)? */
export function cpu_intr_p(k: Kernel): boolean {
  return k.cpu.ci_idepth > 0;
}

export function cpu_softintr_p(k: Kernel): boolean {
  return k.cpu.ci_softlevel >= 0;
}

/* ------------------------------------------------------------------ spl */

export function splraise(k: Kernel, ipl: number): number {
  const ci = k.cpu;
  const s = ci.ci_ilevel;
  if (ipl > s) ci.ci_ilevel = ipl;
  return s;
}

export function splsoftclock(k: Kernel): number { return splraise(k, IPL_SOFTCLOCK); }
export function splsoftnet(k: Kernel): number { return splraise(k, IPL_SOFTNET); }
export function splsoftserial(k: Kernel): number { return splraise(k, IPL_SOFTSERIAL); }
export function splvm(k: Kernel): number { return splraise(k, IPL_VM); }
export function splnet(k: Kernel): number { return splraise(k, IPL_NET); }
export function splsched(k: Kernel): number { return splraise(k, IPL_SCHED); }
export function splhigh(k: Kernel): number { return splraise(k, IPL_HIGH); }

/**
 * splx(9): restore a level.  Hard interrupts deferred while masked run now;
 * softints wait until the CPU is given up, because the lowering context may
 * hold locks a softint handler would need.
 */
export function splx(k: Kernel, s: number): void {
  const ci = k.cpu;
  ci.ci_ilevel = s;
  if (ci.ci_deferred.length > 0) intr_run_deferred(k);
}

export function spl0(k: Kernel): void {
  splx(k, IPL_NONE);
}

/* ------------------------------------------------------------ softints */

/** softint_establish(9). */
export function softint_establish(k: Kernel, flags: number, func: SoftintFunc, arg: unknown, name?: string): Softint {
  const level = flags & SOFTINT_LVLMASK;
  if (level >= SOFTINT_COUNT) panic(k, `softint_establish: bad level ${level}`);
  const si = new Softint(k, level, func, arg, name ?? func.name ?? 'softint');
  k.softints.add(si);
  return si;
}

/** softint_schedule(9): mark pending (once); it runs when the CPU is given up. */
export function softint_schedule(si: Softint): void {
  if (si.si_pending || !si.si_established) return;
  const k = si.si_kernel;
  const ci = k.cpu;
  si.si_pending = true;
  si.si_next = null;
  const lvl = si.si_level;
  const tail = ci.ci_softq_tail[lvl]!;
  if (tail === null) ci.ci_softq_head[lvl] = si;
  else tail.si_next = si;
  ci.ci_softq_tail[lvl] = si;
  ci.ci_softpending |= 1 << lvl;
  /* Scheduled from outside any kernel context: nobody will give the CPU up. */
  if (ci.ci_curlwp === null && !k.dead) cpu_dispatch(k);
}

/** softint_disestablish(9). */
export function softint_disestablish(si: Softint): void {
  const k = si.si_kernel;
  if (si.si_pending) softq_remove(k.cpu, si);
  si.si_established = false;
  k.softints.delete(si);
}

function softq_remove(ci: CpuInfo, si: Softint): void {
  const lvl = si.si_level;
  let prev: Softint | null = null;
  for (let s: Softint | null = ci.ci_softq_head[lvl]!; s !== null; prev = s, s = s.si_next) {
    if (s !== si) continue;
    if (prev === null) ci.ci_softq_head[lvl] = s.si_next;
    else prev.si_next = s.si_next;
    if (ci.ci_softq_tail[lvl] === s) ci.ci_softq_tail[lvl] = prev;
    break;
  }
  si.si_pending = false;
  si.si_next = null;
  if (ci.ci_softq_head[lvl] === null) ci.ci_softpending &= ~(1 << lvl);
}

/** Run every pending softint, highest level first, as the softint context. */
function softint_run(k: Kernel, inline: boolean): void {
  const ci = k.cpu;
  ci.ci_curlwp = k.lwp_softint;
  try {
    while (ci.ci_softpending !== 0 && !k.dead) {
      let lvl = SOFTINT_CLOCK;
      for (let i = 0; i < SOFTINT_COUNT; i++) {
        if ((ci.ci_softpending & (1 << SOFTINT_ORDER[i]!)) !== 0) {
          lvl = SOFTINT_ORDER[i]!;
          break;
        }
      }
      const si = ci.ci_softq_head[lvl]!;
      ci.ci_softq_head[lvl] = si.si_next;
      if (si.si_next === null) {
        ci.ci_softq_tail[lvl] = null;
        ci.ci_softpending &= ~(1 << lvl);
      }
      si.si_next = null;
      si.si_pending = false;
      si.si_count++;
      if (inline) ci.ci_softint_inline++;
      else ci.ci_softint_deferred++;
      ci.ci_softlevel = lvl;
      ci.ci_ilevel = SOFTINT_IPL[lvl]!;
      const nheld = k.ld.held.length;
      try {
        si.si_func(si.si_arg);
      } catch (e) {
        entry_exception(k, e, `softint ${si.si_name}`);
      }
      ci.ci_softlevel = -1;
      ci.ci_ilevel = IPL_NONE;
      if (k.ld.enabled && k.ld.held.length !== nheld && !k.dead) {
        try {
          k.ld.abort('sleep-locked', `softint ${si.si_name} returned holding ${k.ld.heldNames()}`);
        } catch (e) {
          entry_exception(k, e, 'softint');
        }
      }
    }
  } finally {
    ci.ci_softlevel = -1;
    ci.ci_curlwp = null;
  }
}

/** The host's deferred-softint upcall (hyp_intr_soft). */
export function softint_host(k: Kernel): void {
  const ci = k.cpu;
  ci.ci_softreq = false;
  if (k.dead) return;
  if (ci.ci_curlwp !== null) {
    host_entry_busy(k);
    return;
  }
  k.tick_sync();
  softint_run(k, false);
  cpu_dispatch(k);
}

/* ------------------------------------------------------- CPU ownership */

/**
 * Give the free CPU to whoever should run next: pending softints first
 * (now, or on a later host turn), then the first runnable LWP.
 */
export function cpu_dispatch(k: Kernel): void {
  const ci = k.cpu;
  if (ci.ci_curlwp !== null) return;
  if (ci.ci_softpending !== 0 && !k.dead) {
    if (k.softintInline) softint_run(k, true);
    else if (!ci.ci_softreq) {
      ci.ci_softreq = true;
      k.hyp.rumpuser_sched_soft();
    }
  }
  const l = ci.ci_runq_head;
  if (l === null) return;
  ci.ci_runq_head = l.l_runnext;
  if (ci.ci_runq_head === null) ci.ci_runq_tail = null;
  l.l_runnext = null;
  ci.ci_curlwp = l;
  ci.ci_ilevel = l.l_spl;
  ci.ci_nswitch++;
  l.l_stat = LSONPROC;
  const wake = l.l_wake!;
  l.l_wake = null;
  wake(l.l_sleeperr);
}

/** Put l on the run queue; it gets the CPU when the holder gives it up. */
export function setrunnable(k: Kernel, l: Lwp): void {
  const ci = k.cpu;
  l.l_runnext = null;
  if (ci.ci_runq_tail === null) ci.ci_runq_head = l;
  else ci.ci_runq_tail.l_runnext = l;
  ci.ci_runq_tail = l;
  if (ci.ci_curlwp === null) cpu_dispatch(k);
}

/**
 * rump_schedule: l wants the CPU.  Returns true if it has it now;
 * otherwise l is queued and must await its l_wake promise.
 */
export function cpu_acquire(k: Kernel, l: Lwp): boolean {
  const ci = k.cpu;
  if (ci.ci_curlwp === null) {
    ci.ci_curlwp = l;
    ci.ci_ilevel = l.l_spl;
    l.l_stat = LSONPROC;
    return true;
  }
  return false;
}

/** rump_unschedule: the current context gives the CPU up. */
export function cpu_release(k: Kernel, l: Lwp): void {
  const ci = k.cpu;
  KASSERT(k, ci.ci_curlwp === l, `cpu_release: lwp ${l.l_lid} does not hold the CPU`);
  ci.ci_curlwp = null;
  ci.ci_ilevel = IPL_NONE;
  cpu_dispatch(k);
}

/**
 * The host entered the kernel (a timer, a deferred softint, a device)
 * while an LWP still held the CPU: it awaited something that is not a
 * kernel sleep.  Nothing else can run until it gives the CPU up.
 */
export function host_entry_busy(k: Kernel): void {
  const l = k.cpu.ci_curlwp!;
  const held = k.ld.held.length > 0 ? `, holding ${k.ld.heldNames()}` : '';
  try {
    k.ld.abort(held !== '' ? 'await-locked' : 'await-cpu',
      `lwp ${l.l_lid} "${l.l_name}" awaited something other than a kernel sleep while on the CPU${held}`);
  } catch (e) {
    entry_exception(k, e, 'host entry');
  }
}

/* ---------------------------------------------------------- interrupts */

/**
 * Run a hard interrupt handler at ipl.  fromHost: the call comes straight
 * from the host loop (not nested in kernel code), so a busy CPU means an
 * LWP awaited outside a sleep.  A masked interrupt is deferred to splx().
 */
export function intr_dispatch(k: Kernel, ipl: number, fn: (arg: unknown) => void, arg: unknown, fromHost = false): void {
  if (k.dead) return;
  const ci = k.cpu;
  const prev = ci.ci_curlwp;
  if (prev !== null) {
    if (fromHost && ci.ci_idepth === 0 && ci.ci_softlevel < 0) host_entry_busy(k);
    if (ipl <= ci.ci_ilevel) {
      ci.ci_deferred.push({ ipl, fn, arg });
      return;
    }
  } else {
    k.tick_sync();
  }
  const s = ci.ci_ilevel;
  const nheld = k.ld.held.length;
  ci.ci_idepth++;
  ci.ci_nintr++;
  ci.ci_ilevel = ipl > s ? ipl : s;
  ci.ci_curlwp = k.lwp_intr;
  try {
    fn(arg);
  } catch (e) {
    entry_exception(k, e, 'interrupt');
  } finally {
    ci.ci_idepth--;
    ci.ci_ilevel = s;
    ci.ci_curlwp = prev;
  }
  if (k.ld.enabled && k.ld.held.length !== nheld && !k.dead) {
    try {
      k.ld.abort('sleep-locked', `interrupt handler returned holding ${k.ld.heldNames()}`);
    } catch (e) {
      entry_exception(k, e, 'interrupt');
    }
  }
  if (prev === null) cpu_dispatch(k);
}

function intr_run_deferred(k: Kernel): void {
  const ci = k.cpu;
  for (let i = 0; i < ci.ci_deferred.length;) {
    const d = ci.ci_deferred[i]!;
    if (d.ipl > ci.ci_ilevel) {
      ci.ci_deferred.splice(i, 1);
      intr_dispatch(k, d.ipl, d.fn, d.arg);
    } else {
      i++;
    }
  }
}

/**
 * An exception reached a kernel entry point.  A panic has already stopped
 * the kernel; anything else is a kernel bug and becomes a panic.  Neither
 * escapes to the host loop.
 */
export function entry_exception(k: Kernel, e: unknown, where: string): void {
  if (e instanceof KernelPanic) return;
  try {
    panic(k, `${where}: unexpected exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } catch {
    /* panic() always throws; the kernel is now stopped. */
  }
}

