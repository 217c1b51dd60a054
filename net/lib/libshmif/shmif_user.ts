/*
 * The host half of the shmif bus (as NetBSD's shmif_user.c is the host
 * half of if_shmif.c): where a bus gets its time and its host events.
 *
 * Place in the packet path: between a sender's shmif_start, which puts a
 * frame on the bus, and the receivers' interrupts.  The bus never delivers
 * inside the sender's call: it asks its clock for a host event at the
 * delivery time, and delivers from that event, so each receiver's
 * interrupt enters from the host loop (intr_dispatch fromHost), exactly as
 * a frame from a real wire would.
 *
 *   - Sim host (SimHost): the event is a SimWorld.schedule entry at virtual
 *     time now + latency; delivery is part of the world's deterministic
 *     event order, and latency costs no real time.
 *   - Any other host (node, a browser): setImmediate (or setTimeout 0) for
 *     "now", setTimeout for a later time, on the host's monotonic clock.
 *
 * A bus keeps one clock, taken from the host of the first interface that
 * attaches; later interfaces must share its time domain (the same
 * SimWorld, or real time), since one wire cannot run on two clocks.
 * One event is armed per bus at a time (for the earliest frame in flight),
 * not one per frame.
 */

import type { RumpUser, Timespec } from '../../../include/rumpuser.ts';
import { SimHost, type SimTimer, type SimWorld } from '../../../librump/rumpuser/sim.ts';

/** A bus's source of time and host events. */
export interface ShmifHostClock {
  /** What must match for two hosts to share a bus: the SimWorld, or real time. */
  readonly domain: object;
  /** Monotonic time of the domain, ns. */
  now(): number;
  /** Wall-clock time at monotonic time t (for capture time stamps). */
  walltime(t: number, ts: Timespec): void;
  /** Have fire() called from the host loop at monotonic time `at` (replacing any earlier request). */
  arm(at: number): void;
  /** Cancel the pending request, if any. */
  disarm(): void;
}

/** Real time: one marker for every host that is not simulated. */
const REALTIME_DOMAIN: object = Object.freeze({ name: 'realtime' });

/** The time domain of a kernel's host. */
export function shmif_clock_domain(hyp: RumpUser): object {
  return hyp instanceof SimHost ? hyp.world : REALTIME_DOMAIN;
}

/** A clock for a bus whose first interface lives on hyp; fire is the bus's delivery. */
export function shmif_hostclock(hyp: RumpUser, fire: () => void): ShmifHostClock {
  return hyp instanceof SimHost ? new SimBusClock(hyp.world, fire) : new RealBusClock(fire);
}

class SimBusClock implements ShmifHostClock {
  private timer: SimTimer | null = null;
  /* Made once per bus: SimWorld.schedule then needs no closure per event. */
  private readonly run = (): void => {
    this.timer = null;
    this.fire();
  };

  constructor(readonly domain: SimWorld, private readonly fire: () => void) {}

  now(): number {
    return this.domain.nowNs();
  }

  walltime(t: number, ts: Timespec): void {
    const wallMs = this.domain.wallStartMs;
    const sec0 = Math.floor(wallMs / 1000);
    let nsec = (wallMs - sec0 * 1000) * 1e6 + (t % 1e9);
    let sec = sec0 + Math.floor(t / 1e9);
    if (nsec >= 1e9) {
      nsec -= 1e9;
      sec++;
    }
    ts.tv_sec = sec;
    ts.tv_nsec = nsec;
  }

  arm(at: number): void {
    this.disarm();
    this.timer = this.domain.schedule(at, this.run);
  }

  disarm(): void {
    if (this.timer !== null) this.timer.cancel();
    this.timer = null;
  }
}

type Cancel = () => void;

class RealBusClock implements ShmifHostClock {
  readonly domain = REALTIME_DOMAIN;
  private cancel: Cancel | null = null;
  private readonly run = (): void => {
    this.cancel = null;
    this.fire();
  };

  constructor(private readonly fire: () => void) {}

  now(): number {
    return performance.now() * 1e6;
  }

  walltime(t: number, ts: Timespec): void {
    const ms = performance.timeOrigin + t / 1e6;
    ts.tv_sec = Math.floor(ms / 1000);
    ts.tv_nsec = Math.floor((ms - ts.tv_sec * 1000) * 1e6);
  }

  /* setImmediate for "now" (browsers have none: setTimeout 0), setTimeout for later. */
  arm(at: number): void {
    this.disarm();
    const delayMs = Math.ceil((at - this.now()) / 1e6);
    if (delayMs <= 0 && typeof setImmediate === 'function') {
      const h = setImmediate(this.run);
      this.cancel = () => { clearImmediate(h); };
    } else {
      const h = setTimeout(this.run, Math.max(0, delayMs));
      this.cancel = () => { clearTimeout(h); };
    }
  }

  disarm(): void {
    if (this.cancel !== null) this.cancel();
    this.cancel = null;
  }
}
