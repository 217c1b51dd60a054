/*
 * The clock: hardclock ticks at hz, driven tickless from the host.
 *
 * NetBSD rump runs a clock thread that calls hardclock() every 1/hz.  Here
 * the host arms one timer for the next tick at which the callout wheel has
 * work (callout_next), so an idle kernel wakes nobody.  When the timer
 * fires, the clock interrupt brings the tick counter up to the host's
 * monotonic time, skipping ticks where nothing can happen and stopping at a
 * tick that leaves callouts due, so the clock softint can run them in
 * order before later ticks are counted.  Kernel entries also catch the
 * counter up over idle stretches (tick_sync), so `ticks` read by a syscall
 * is current even though no interrupt came.
 */

import type { Kernel } from './rump.ts';
import { callout_advance, callout_next, callout_softclock } from './kern_timeout.ts';
import { intr_dispatch, IPL_SCHED, host_entry_busy } from './intr.ts';

/** The tick the host's monotonic clock says it is (ticks since boot). */
function clock_target(k: Kernel): number {
  return Math.floor((k.hyp.rumpuser_clock_monotonic() - k.mono0) / k.tick_ns);
}

/** Catch `ticks` up over an idle stretch; never past a tick with work. */
export function tick_sync(k: Kernel): void {
  const n = clock_target(k) - k.elapsed;
  if (n <= 0) return;
  const cc = k.cc;
  const next = callout_next(cc);
  const skip = Math.min(n, next - 1);
  if (skip > 0) {
    cc.cc_ticks = (cc.cc_ticks + skip) | 0;
    k.elapsed += skip;
  }
}

function hardclock(arg: unknown): void {
  const k = arg as Kernel;
  const n = clock_target(k) - k.elapsed;
  if (n > 0) k.elapsed += callout_advance(k.cc, n);
}

/** The host's clock upcall (hyp_intr_clock). */
export function clock_intr(k: Kernel): void {
  if (k.dead) return;
  k.clock_armed = Infinity;
  if (k.cpu.ci_curlwp !== null) host_entry_busy(k);
  k.inclock = true;
  try {
    intr_dispatch(k, IPL_SCHED, hardclock, k);
  } finally {
    k.inclock = false;
  }
  clock_rearm(k);
}

/** The clock softint: run due callouts, then re-arm the host timer. */
export function softclock(arg: unknown): void {
  const k = arg as Kernel;
  k.inclock = true;
  try {
    callout_softclock(k.cc);
  } finally {
    k.inclock = false;
  }
  clock_rearm(k);
}

/** Arm the host timer for the next tick with work (or disarm). */
export function clock_rearm(k: Kernel): void {
  if (k.dead) return;
  const rel = callout_next(k.cc);
  if (rel === 0) return; /* the clock softint is pending and re-arms after it runs */
  const due = k.elapsed + rel;
  if (due === k.clock_armed) return;
  k.clock_armed = due;
  k.hyp.rumpuser_clock_arm(due === Infinity ? -1 : k.mono0 + due * k.tick_ns);
}

/** callout_schedule() made something due earlier than the armed tick. */
export function clock_earlier(k: Kernel, rel: number): void {
  if (k.inclock || k.dead) return;
  if (k.elapsed + rel < k.clock_armed) clock_rearm(k);
}

/** mstohz(9): milliseconds to ticks, rounding up. */
export function mstohz(k: Kernel, ms: number): number {
  return Math.ceil((ms * k.hz) / 1000);
}

/** hztoms(9). */
export function hztoms(k: Kernel, ticks: number): number {
  return (ticks * 1000) / k.hz;
}
