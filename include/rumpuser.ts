/*
 * The hypercall interface: the only way kernel code reaches the host.
 *
 * Shaped after NetBSD's rumpuser.h (version 17): the same groups (init,
 * params, clock, random, console, exit) reduced to what a kernel on one
 * virtual CPU in an event loop needs.  Two things differ from the C
 * interface because the host is an event loop, not threads:
 *   - instead of a clock thread that sleeps to absolute deadlines, the host
 *     arms ONE timer for the kernel's next due tick (clock_arm) and upcalls
 *     hyp_intr_clock() when it expires, so an idle kernel costs nothing;
 *   - "run softints on a later turn" is a host request (sched_soft) that
 *     upcalls hyp_intr_soft() once on the next turn of the event loop.
 * Implementations: librump/rumpuser/node.ts (a real host) and
 * librump/rumpuser/sim.ts (virtual time and seeded randomness).
 */

export const RUMPUSER_VERSION = 17;

/** clock_gettime() clocks, as rumpuser.h. */
export const RUMPUSER_CLOCK_RELWALL = 0;
export const RUMPUSER_CLOCK_ABSMONO = 1;

/** getrandom() flags. */
export const RUMPUSER_RANDOM_HARD = 0x01;
export const RUMPUSER_RANDOM_NOWAIT = 0x02;

/** getparam() names, as rumpuser.h. */
export const RUMPUSER_PARAM_NCPU = '_RUMPUSER_NCPU';
export const RUMPUSER_PARAM_HOSTNAME = '_RUMPUSER_HOSTNAME';

/** A time value filled in by clock_gettime(); reused by callers. */
export interface Timespec {
  tv_sec: number;
  tv_nsec: number;
}

/** Upcalls from the host into the kernel (rumpuser_hyperup). */
export interface RumpHyperup {
  /** The timer armed with clock_arm() expired: a clock interrupt. */
  hyp_intr_clock(): void;
  /** A sched_soft() request came due: run pending softints. */
  hyp_intr_soft(): void;
}

/** What the host reports when a kernel panics. */
export interface PanicReport {
  readonly kernel: string;
  readonly message: string;
  readonly summary: string;
}

export interface RumpUser {
  /** Which host this is ('node', 'sim'); for messages only. */
  readonly hostkind: string;

  /** Bind the host to one kernel; returns an errno (version mismatch: EINVAL). */
  rumpuser_init(version: number, hyp: RumpHyperup): number;

  /** Host parameters (RUMP_NCPU, RUMP_VERBOSE, ...); undefined when unset. */
  rumpuser_getparam(name: string): string | undefined;

  /**
   * Fill ts with the time of clk: RELWALL is wall time since the epoch,
   * ABSMONO a monotonic clock with an arbitrary origin.
   */
  rumpuser_clock_gettime(clk: number, ts: Timespec): void;

  /** The monotonic clock in nanoseconds since rumpuser_init (exact up to 2^53 ns). */
  rumpuser_clock_monotonic(): number;

  /**
   * Arm the single clock timer to fire hyp_intr_clock() at the monotonic
   * time deadline (ns, same origin as rumpuser_clock_monotonic); a negative
   * deadline disarms it.  Re-arming replaces the previous deadline.
   */
  rumpuser_clock_arm(deadline: number): void;

  /** Ask for hyp_intr_soft() on a later turn of the host loop (coalesced). */
  rumpuser_sched_soft(): void;

  /**
   * Syscalls in progress changed by delta.  A simulated clock may run by
   * itself only while some are in progress, so that an awaited sleep ends
   * at once but an idle kernel's periodic callouts never spin.
   */
  rumpuser_sp_activity(delta: number): void;

  /** Fill buf with random bytes; returns the count. */
  rumpuser_getrandom(buf: Uint8Array, flags: number): number;

  /** Console output (the kernel's printf and the rumpcons device). */
  rumpuser_putstr(s: string): void;

  /** Debug output usable even without a kernel context. */
  rumpuser_dprintf(s: string): void;

  /** The kernel panicked; the host decides what the process does about it. */
  rumpuser_panic(report: PanicReport): void;

  /** Release every host resource (timers, pending callbacks). */
  rumpuser_fini(): void;
}
