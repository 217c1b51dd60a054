/*
 * The clock: hardclock ticks at hz, driven tickless from the host.
 *
 * NetBSD rump runs a clock thread that calls hardclock() every 1/hz.  Here
 * the host arms one timer for the tick at which the next callout is due
 * (callout_due), so an idle kernel wakes nobody.  When the timer fires, the
 * clock interrupt brings the tick counter up to the host's monotonic time,
 * skipping ticks where nothing can happen, doing the wheel cascades on the
 * way, and stopping at a tick that leaves callouts due, so the clock
 * softint can run them in order before later ticks are counted.  Kernel
 * entries also catch the counter up over idle stretches (tick_sync), so
 * `ticks` read by a syscall is current even though no interrupt came.
 */

import type { Kernel } from './rump.ts';
import { callout_advance, callout_due, callout_softclock } from './kern_timeout.ts';
import { intr_dispatch, IPL_SCHED, host_entry_busy } from './intr.ts';

/** Host monotonic time (ns) at which tick t (since boot) begins. */
function tick_deadline(k: Kernel, t: number): number {
  return k.mono0 + t * k.tick_ns;
}

/** The tick the host's monotonic clock says it is (ticks since boot). */
function clock_target(k: Kernel): number {
  const now = k.hyp.rumpuser_clock_monotonic();
  let t = Math.floor((now - k.mono0) / k.tick_ns);
  /*
   * 1e9/hz is inexact unless hz divides 1e9 (hz 60, 300, ...): agree with
   * the deadline the timer was armed for, or a timer for tick t could
   * find it is still tick t - 1 and re-arm for the same instant forever.
   */
  if (tick_deadline(k, t + 1) <= now) t++;
  else if (t > 0 && tick_deadline(k, t) > now) t--;
  return t;
}

/** Catch `ticks` up over an idle stretch; never up to a due callout. */
export function tick_sync(k: Kernel): void {
  const n = clock_target(k) - k.elapsed;
  if (n <= 0) return;
  const m = Math.min(n, callout_due(k.cc) - 1);
  if (m > 0) k.elapsed += callout_advance(k.cc, m);
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

/** Arm the host timer for the tick the next callout is due (or disarm). */
export function clock_rearm(k: Kernel): void {
  if (k.dead) return;
  const rel = callout_due(k.cc);
  if (rel === 0) return; /* the clock softint is pending and re-arms after it runs */
  const due = k.elapsed + rel;
  if (due === k.clock_armed) return;
  k.clock_armed = due;
  k.hyp.rumpuser_clock_arm(due === Infinity ? -1 : tick_deadline(k, due));
}

/**
 * callout_schedule() made something due in rel ticks, maybe earlier than
 * the armed tick; or (rel Infinity) callout_stop() emptied the wheel.
 */
export function clock_earlier(k: Kernel, rel: number): void {
  if (k.inclock || k.dead) return;
  if (rel === Infinity ? k.clock_armed !== Infinity : k.elapsed + rel < k.clock_armed) clock_rearm(k);
}

/** mstohz(9): milliseconds to ticks, rounding up. */
export function mstohz(k: Kernel, ms: number): number {
  return Math.ceil((ms * k.hz) / 1000);
}

/** hztoms(9). */
export function hztoms(k: Kernel, ticks: number): number {
  return (ticks * 1000) / k.hz;
}
