/*
 * Tests for the callout wheel (kern_timeout.ts).
 *
 * Unit tests drive a standalone wheel (new CalloutCpu(null, ticks0)) by
 * hand: `step` is one hardclock tick followed by the softclock when the
 * tick left work on todo, exactly as the kernel does; `fast` jumps with
 * callout_advance().  The oracles are independent of the wheel: a model
 * that remembers each callout's due tick, and brute-force tick-by-tick
 * stepping.  Kernel tests check the same things through the sim host,
 * where a tick is 10 ms of virtual time.
 */

import { describe, it, expect } from 'vitest';
import {
  Callout, CalloutCpu, CALLOUT_MPSAFE,
  callout_ack, callout_active, callout_advance, callout_destroy, callout_due, callout_expired,
  callout_halt, callout_hardclock, callout_init, callout_invoking, callout_next, callout_pending,
  callout_remaining, callout_reset, callout_schedule, callout_setfunc, callout_softclock, callout_stop,
} from './kern_timeout.ts';
import { kernel_run, type Kernel } from './rump.ts';
import { cpu_intr_p, cpu_softintr_p, intr_dispatch, IPL_SCHED, SOFTINT_CLOCK } from './intr.ts';
import { KernelPanic } from './subr_prf.ts';
import { bootSim, expectPanics, simWorld } from '../../tests/kernel.ts';
import type { SimWorld } from '../rumpuser/sim.ts';

/* ------------------------------------------------------------- helpers */

/** mulberry32: a small seeded PRNG, so every random test is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randint(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** A delay whose logarithm is uniform in [0, bits): every wheel gets its share. */
function logDelay(r: () => number, bits: number): number {
  return Math.max(1, Math.floor(2 ** (r() * bits)));
}

const T24 = 1 << 24;
const MAXTICKS = 0x7fffffff;
const WRAP_A = 0x7fffff00; /* just below INT32_MAX: the int32 tick wraps to negative */
const WRAP_B = 0xffffff00 | 0; /* -256: the tick crosses -1 -> 0 */

/** The delays the wheel geometry makes interesting: each wheel's edges. */
const EDGE_DELAYS = [1, 2, 255, 256, 257, 300, 511, 512, 65535, 65536, 65537, 70000, T24 - 1, T24, T24 + 1, T24 + 5];

function wheel(ticks0 = 0): CalloutCpu {
  return new CalloutCpu(null, ticks0);
}

function mk(cc: CalloutCpu, flags = 0): Callout {
  const c = new Callout();
  callout_init(c, flags, cc);
  return c;
}

/** One hardclock tick, then the softclock if the tick left work. */
function step(cc: CalloutCpu): void {
  if (callout_hardclock(cc)) callout_softclock(cc);
}

function steps(cc: CalloutCpu, n: number): void {
  for (let i = 0; i < n; i++) step(cc);
}

/** n ticks through callout_advance, running the softclock whenever it stops. */
function fast(cc: CalloutCpu, n: number): void {
  let left = n;
  callout_softclock(cc);
  while (left > 0) {
    const done = callout_advance(cc, left);
    if (!(done > 0 && done <= left)) throw new Error(`callout_advance(${left}) took ${done} ticks`);
    left -= done;
    callout_softclock(cc);
  }
}

/** Ticks from a to b on the wrapping int32 counter. */
function tdiff(b: number, a: number): number {
  return (b - a) | 0;
}

interface Fire { id: number; tick: number }

/* ------------------------------------------------------- unit: timing */

describe('firing time (standalone wheel)', () => {
  const starts = [0, 12345, WRAP_A, WRAP_B];

  for (const t0 of starts) {
    it(`every edge delay fires on its due tick, stepping tick by tick (ticks0 ${t0})`, () => {
      const cc = wheel(t0);
      const fires: Fire[] = [];
      const cs = EDGE_DELAYS.map((d, id) => {
        const c = mk(cc);
        callout_reset(c, d, () => { fires.push({ id, tick: cc.cc_ticks }); }, null);
        return c;
      });
      expect(cc.cc_npending).toBe(EDGE_DELAYS.length);
      steps(cc, T24 + 5 - 1);
      /* One tick early: only the shorter ones have fired, the longest still waits. */
      expect(callout_pending(cs[cs.length - 1]!)).toBe(true);
      expect(callout_remaining(cs[cs.length - 1]!)).toBe(1);
      step(cc);
      expect(fires.map((f) => f.id)).toEqual(EDGE_DELAYS.map((_, i) => i));
      for (const f of fires) expect(f.tick).toBe((t0 + EDGE_DELAYS[f.id]!) | 0);
      expect(cc.cc_npending).toBe(0);
      expect(cc.cc_nlate).toBe(0);
      expect(cc.cc_nfired).toBe(EDGE_DELAYS.length);
    });
  }

  for (const t0 of [...starts, 0x12345678]) {
    it(`each delay alone fires on its due tick through callout_advance (ticks0 ${t0})`, () => {
      const r = rng(t0 >>> 0);
      const delays = [...EDGE_DELAYS, 0x00ffffff + 256, 0x10000000, 0x40000000, MAXTICKS - 1, MAXTICKS];
      for (let i = 0; i < 40; i++) delays.push(logDelay(r, 31));
      for (const d of delays) {
        const cc = wheel(t0);
        const c = mk(cc);
        let fired: number | null = null;
        callout_reset(c, d, () => { fired = cc.cc_ticks; }, null);
        expect(callout_remaining(c)).toBe(d);
        /* Up to the tick before: nothing, whatever the chunking. */
        if (d > 1) fast(cc, d - 1);
        expect(fired, `delay ${d}`).toBe(null);
        expect(callout_pending(c)).toBe(true);
        expect(callout_remaining(c)).toBe(1);
        expect(callout_due(cc)).toBe(1);
        fast(cc, 1);
        expect(fired, `delay ${d}`).toBe((t0 + d) | 0);
        expect(cc.cc_nlate).toBe(0);
      }
    });
  }

  it('random delays (seeded) fire on their due ticks, stepping tick by tick', () => {
    const r = rng(7);
    const t0 = randint(r, -0x80000000, 0x7fffffff);
    const cc = wheel(t0);
    const due = new Map<number, number>();
    let fired = 0;
    for (let id = 0; id < 300; id++) {
      const d = logDelay(r, 25);
      const c = mk(cc);
      due.set(id, (t0 + d) | 0);
      callout_reset(c, d, (arg) => {
        expect(cc.cc_ticks).toBe(due.get(arg as number));
        fired++;
      }, id);
    }
    let n = 0;
    while (cc.cc_npending > 0 && n <= 2 ** 25) {
      step(cc);
      n++;
    }
    expect(fired).toBe(300);
    expect(n).toBe(Math.max(...[...due.values()].map((t) => tdiff(t, t0))));
    expect(cc.cc_nlate).toBe(0);
  });

  it('ticks <= 0 (and NaN, and fractions below one) mean one tick; fractions are truncated', () => {
    for (const d of [0, -1, -1000, -Infinity, NaN, 0.25, 0.999]) {
      const cc = wheel(WRAP_A + 255);
      const c = mk(cc);
      let at: number | null = null;
      callout_reset(c, d, () => { at = cc.cc_ticks; }, null);
      expect(callout_remaining(c), `ticks ${d}`).toBe(1);
      step(cc);
      expect(at, `ticks ${d}`).toBe((WRAP_A + 256) | 0);
    }
    const cc = wheel(0);
    const c = mk(cc);
    callout_reset(c, 2.7, () => {}, null);
    expect(callout_remaining(c)).toBe(2);
  });

  it('a standalone wheel clamps delays beyond 2^31 - 1 ticks', () => {
    const cc = wheel(0);
    const c = mk(cc);
    callout_reset(c, 2 ** 40, () => {}, null);
    expect(callout_remaining(c)).toBe(MAXTICKS);
    expect(c.c_time).toBe(MAXTICKS);
  });

  it('a handler arming with ticks <= 0 runs on the next tick, not the current one', () => {
    const cc = wheel(0);
    const a = mk(cc);
    const b = mk(cc);
    const log: string[] = [];
    callout_reset(a, 5, () => {
      log.push(`a@${cc.cc_ticks}`);
      callout_reset(b, 0, () => { log.push(`b@${cc.cc_ticks}`); }, null);
    }, null);
    steps(cc, 5);
    expect(log).toEqual(['a@5']);
    step(cc);
    expect(log).toEqual(['a@5', 'b@6']);
  });
});

/* ------------------------------------------------ unit: order and flags */

describe('order, re-arming and flags (standalone wheel)', () => {
  it('callouts due on the same tick fire in the order they were armed, in every wheel', () => {
    for (const t0 of [0, WRAP_A, WRAP_B]) {
      for (const d of [1, 200, 256, 300, 65536, 70000, T24 + 5]) {
        const cc = wheel(t0);
        const order: string[] = [];
        for (const name of ['A', 'B', 'C', 'D']) {
          callout_reset(mk(cc), d, () => { order.push(name); }, null);
        }
        fast(cc, d);
        expect(order, `ticks0 ${t0} delay ${d}`).toEqual(['A', 'B', 'C', 'D']);
      }
    }
  });

  it('callouts armed at different ticks for the same due tick keep arming order', () => {
    const cc = wheel(0);
    const order: string[] = [];
    callout_reset(mk(cc), 10, () => { order.push('A'); }, null);
    steps(cc, 3);
    callout_reset(mk(cc), 7, () => { order.push('B'); }, null);
    steps(cc, 5);
    callout_reset(mk(cc), 2, () => { order.push('C'); }, null);
    steps(cc, 2);
    expect(cc.cc_ticks).toBe(10);
    expect(order).toEqual(['A', 'B', 'C']);
  });

  it('across wheels the due tick decides, not the arming order: wheel 0 first, then cascades (NetBSD order)', () => {
    /* A is armed first but far (wheel 1), B later and near (wheel 0); both due at 512. */
    const cc = wheel(0);
    const order: string[] = [];
    callout_reset(mk(cc), 512, () => { order.push(`A@${cc.cc_ticks}`); }, null);
    steps(cc, 300);
    callout_reset(mk(cc), 212, () => { order.push(`B@${cc.cc_ticks}`); }, null);
    steps(cc, 300);
    expect(order).toEqual(['B@512', 'A@512']);
  });

  it('re-arming a pending callout for the same tick moves it behind the others', () => {
    const cc = wheel(0);
    const order: string[] = [];
    const a = mk(cc);
    callout_reset(a, 10, () => { order.push('A'); }, null);
    callout_reset(mk(cc), 10, () => { order.push('B'); }, null);
    callout_reset(mk(cc), 10, () => { order.push('C'); }, null);
    callout_schedule(a, 10);
    steps(cc, 10);
    expect(order).toEqual(['B', 'C', 'A']);
  });

  it('re-arming a pending callout moves it later, and it fires only there', () => {
    for (const [first, second] of [[100, 200], [300, 70000], [70000, T24 + 5], [5, 65537]] as const) {
      const cc = wheel(WRAP_A);
      const c = mk(cc);
      const at: number[] = [];
      callout_reset(c, first, () => { at.push(cc.cc_ticks); }, null);
      fast(cc, 3);
      callout_reset(c, second, () => { at.push(cc.cc_ticks); }, null);
      expect(cc.cc_npending).toBe(1);
      fast(cc, second + 3 + 300);
      expect(at).toEqual([(WRAP_A + 3 + second) | 0]);
    }
  });

  it('re-arming a pending callout moves it earlier, and it fires only there', () => {
    for (const [first, second] of [[200, 100], [70000, 300], [T24 + 5, 70000], [65537, 1], [MAXTICKS, 2]] as const) {
      const cc = wheel(WRAP_B);
      const c = mk(cc);
      const at: number[] = [];
      callout_reset(c, first, () => { at.push(cc.cc_ticks); }, null);
      steps(cc, 1);
      callout_reset(c, second, () => { at.push(cc.cc_ticks); }, null);
      expect(callout_due(cc)).toBe(second);
      fast(cc, first + 10);
      expect(at).toEqual([(WRAP_B + 1 + second) | 0]);
      expect(cc.cc_npending).toBe(0);
    }
  });

  it('callout_schedule keeps the function and argument; callout_setfunc sets them', () => {
    const cc = wheel(0);
    const c = mk(cc);
    const got: unknown[] = [];
    callout_setfunc(c, (arg) => { got.push(arg); }, 'x');
    callout_schedule(c, 3);
    steps(cc, 3);
    callout_schedule(c, 1);
    step(cc);
    callout_reset(c, 1, (arg) => { got.push(['reset', arg]); }, 'y');
    callout_schedule(c, 2);
    steps(cc, 2);
    expect(got).toEqual(['x', 'x', ['reset', 'y']]);
  });

  it('callout_stop returns true only if it was pending, and the handler never runs', () => {
    for (const d of [1, 256, 300, 70000, T24 + 5]) {
      const cc = wheel(0);
      const c = mk(cc);
      let runs = 0;
      expect(callout_stop(c)).toBe(false); /* never armed */
      callout_reset(c, d, () => { runs++; }, null);
      if (d > 1) fast(cc, d - 1);
      expect(callout_stop(c)).toBe(true);
      expect(callout_pending(c)).toBe(false);
      expect(callout_stop(c)).toBe(false);
      expect(cc.cc_npending).toBe(0);
      fast(cc, d + 70000);
      expect(runs).toBe(0);
      /* After it has fired, stop reports it was not pending. */
      callout_reset(c, 1, () => { runs++; }, null);
      step(cc);
      expect(runs).toBe(1);
      expect(callout_stop(c)).toBe(false);
    }
  });

  it('callout_stop on a callout already moved to todo (due this tick) still cancels it', () => {
    const cc = wheel(0);
    const a = mk(cc);
    let runs = 0;
    callout_reset(a, 1, () => { runs++; }, null);
    expect(callout_hardclock(cc)).toBe(true); /* now on todo, softclock not run yet */
    expect(callout_stop(a)).toBe(true);
    callout_softclock(cc);
    expect(runs).toBe(0);
    expect(callout_next(cc)).toBe(Infinity);
  });

  it('callout_expired is set by firing and cleared by stop and by reset; active = pending or fired', () => {
    const cc = wheel(0);
    const c = mk(cc);
    expect([callout_pending(c), callout_expired(c), callout_active(c)]).toEqual([false, false, false]);
    callout_reset(c, 2, () => {}, null);
    expect([callout_pending(c), callout_expired(c), callout_active(c)]).toEqual([true, false, true]);
    steps(cc, 2);
    expect([callout_pending(c), callout_expired(c), callout_active(c)]).toEqual([false, true, true]);
    expect(callout_stop(c)).toBe(false);
    expect([callout_pending(c), callout_expired(c), callout_active(c)]).toEqual([false, false, false]);
    callout_reset(c, 1, () => {}, null);
    step(cc);
    expect(callout_expired(c)).toBe(true);
    callout_reset(c, 5, () => {}, null);
    expect([callout_pending(c), callout_expired(c), callout_active(c)]).toEqual([true, false, true]);
  });

  it('callout_invoking is set during and after the call until callout_ack; reset clears it, stop does not', () => {
    const cc = wheel(0);
    const c = mk(cc);
    const inside: boolean[][] = [];
    const fn = (): void => {
      inside.push([callout_invoking(c), callout_pending(c), callout_expired(c), callout_active(c)]);
      expect(cc.cc_active).toBe(c);
      expect(callout_remaining(c)).toBe(-1);
    };
    callout_reset(c, 3, fn, null);
    expect(callout_invoking(c)).toBe(false);
    steps(cc, 3);
    expect(inside).toEqual([[true, false, true, true]]);
    expect(cc.cc_active).toBe(null);
    expect(callout_invoking(c)).toBe(true);
    steps(cc, 1000);
    expect(callout_invoking(c)).toBe(true);
    callout_ack(c);
    expect(callout_invoking(c)).toBe(false);
    expect(callout_expired(c)).toBe(true);
    /* NetBSD: stop clears PENDING|FIRED only; reset/schedule clear FIRED|INVOKING. */
    callout_reset(c, 1, fn, null);
    step(cc);
    expect(callout_stop(c)).toBe(false);
    expect(callout_invoking(c)).toBe(true);
    callout_reset(c, 1, fn, null);
    expect(callout_invoking(c)).toBe(false);
  });

  it('a handler that re-arms itself fires every N ticks', () => {
    for (const N of [1, 7, 255, 256, 257, 65537]) {
      const cc = wheel(WRAP_A - 3 * N);
      const c = mk(cc);
      const at: number[] = [];
      callout_reset(c, N, () => {
        at.push(cc.cc_ticks);
        expect(callout_pending(c)).toBe(false);
        if (at.length < 8) callout_schedule(c, N);
        expect(callout_pending(c)).toBe(at.length < 8);
      }, null);
      if (N <= 257) steps(cc, 10 * N);
      else fast(cc, 10 * N);
      expect(at, `period ${N}`).toEqual(Array.from({ length: 8 }, (_, i) => (WRAP_A - 3 * N + (i + 1) * N) | 0));
    }
  });

  it('a handler stopping another callout due on the same tick prevents it', () => {
    const cc = wheel(0);
    const a = mk(cc);
    const b = mk(cc);
    const c = mk(cc);
    const log: string[] = [];
    let stopped: boolean | null = null;
    callout_reset(a, 300, () => {
      log.push('a');
      stopped = callout_stop(b);
    }, null);
    callout_reset(b, 300, () => { log.push('b'); }, null);
    callout_reset(c, 300, () => { log.push('c'); }, null);
    fast(cc, 1000);
    expect(log).toEqual(['a', 'c']);
    expect(stopped).toBe(true);
    expect(callout_pending(b)).toBe(false);
    expect(cc.cc_npending).toBe(0);
  });

  it('a handler re-arming a callout due on the same tick postpones it', () => {
    const cc = wheel(0);
    const a = mk(cc);
    const b = mk(cc);
    const log: string[] = [];
    callout_reset(a, 5, () => {
      log.push(`a@${cc.cc_ticks}`);
      callout_schedule(b, 10);
    }, null);
    callout_reset(b, 5, () => { log.push(`b@${cc.cc_ticks}`); }, null);
    steps(cc, 30);
    expect(log).toEqual(['a@5', 'b@15']);
  });

  it('callout_halt from the handler itself', () => {
    const cc = wheel(0);
    const c = mk(cc, CALLOUT_MPSAFE);
    const results: boolean[] = [];
    let runs = 0;
    callout_reset(c, 4, () => {
      runs++;
      results.push(callout_halt(c)); /* not pending: false, returns at once */
      callout_schedule(c, 4);
      results.push(callout_halt(c)); /* re-armed, then halted: true */
    }, null);
    steps(cc, 100);
    expect(runs).toBe(1);
    expect(results).toEqual([false, true]);
    expect(callout_pending(c)).toBe(false);
    expect(cc.cc_npending).toBe(0);
  });

  it('callout_destroy of an idle callout detaches it', () => {
    const cc = wheel(0);
    const c = mk(cc);
    callout_reset(c, 1, () => {}, null);
    step(cc);
    callout_destroy(c);
    expect(c.c_cc).toBe(null);
  });
});

/* --------------------------------------------- unit: next, due, advance */

/** Arm callouts whose due ticks cluster around the next wheel boundaries after t0. */
function armAroundBoundaries(cc: CalloutCpu, r: () => number, n: number, due: Map<Callout, number>, fires: Fire[]): Callout[] {
  const t0 = cc.cc_ticks;
  const out: Callout[] = [];
  for (let i = 0; i < n; i++) {
    let d: number;
    const kind = randint(r, 0, 5);
    if (kind === 0) d = randint(r, 1, 256);
    else if (kind === 1) d = randint(r, 257, 65536);
    else if (kind === 2) d = randint(r, 65537, T24);
    else if (kind === 3) d = randint(r, T24 + 1, 2 * T24);
    else {
      /* Due near a boundary of wheel 1..3 ahead of t0. */
      const span = 2 ** (8 * randint(r, 1, 3));
      const u = t0 >>> 0;
      const boundary = (u - (u % span)) + span * randint(r, 1, 2);
      d = Math.max(1, Math.min(MAXTICKS, boundary - u + randint(r, -300, 300)));
    }
    const c = mk(cc);
    const id = out.length;
    due.set(c, (cc.cc_ticks + d) | 0);
    callout_reset(c, d, () => {
      fires.push({ id, tick: cc.cc_ticks });
      expect(cc.cc_ticks).toBe(due.get(c));
      due.delete(c);
    }, null);
    out.push(c);
  }
  return out;
}

/** Model answer for callout_due: ticks to the earliest due tick among pending callouts. */
function modelDue(cc: CalloutCpu, due: Map<Callout, number>): number {
  let best = Infinity;
  for (const t of due.values()) best = Math.min(best, tdiff(t, cc.cc_ticks));
  return best;
}

describe('callout_next, callout_due and callout_advance', () => {
  it('an empty wheel has nothing next and nothing due', () => {
    const cc = wheel(WRAP_A);
    expect(callout_next(cc)).toBe(Infinity);
    expect(callout_due(cc)).toBe(Infinity);
    expect(callout_advance(cc, 1e6)).toBe(1e6);
    expect(cc.cc_ticks).toBe((WRAP_A + 1e6) | 0);
  });

  it('a callout goes to the wheel its distance calls for (<= 2^8, <= 2^16, <= 2^24, beyond), as callout_next shows', () => {
    /* Ticks from t0 to the tick at which the bucket holding `due` in a wheel of 2^bits-tick buckets cascades. */
    const cascadeAt = (t0: number, due: number, bits: number): number => {
      const u = due >>> 0;
      return tdiff((u - (u % 2 ** bits)) | 0, t0);
    };
    const r = rng(5);
    for (const t0 of [5, 0x1234 + 7, 0xabcdef, WRAP_A + 9, WRAP_B + 3, randint(r, -0x80000000, 0x7fffffff)]) {
      for (const d of [...EDGE_DELAYS, 0x01000100, 0x0fffffff, MAXTICKS]) {
        const cc = wheel(t0);
        callout_reset(mk(cc), d, () => {}, null);
        const due = (t0 + d) | 0;
        const want = d <= 256 ? d : d <= 65536 ? cascadeAt(t0, due, 8) : d <= T24 ? cascadeAt(t0, due, 16) : cascadeAt(t0, due, 24);
        expect(callout_next(cc), `ticks0 ${t0} delay ${d}`).toBe(want);
        expect(callout_due(cc), `ticks0 ${t0} delay ${d}`).toBe(d);
      }
    }
  });

  it('callout_next matches brute-force stepping (the first tick at which something moves) on random wheels', () => {
    const r = rng(20260101);
    const LIMIT = 200_000;
    let checked = 0;
    const cascadesByWheel = [0, 0, 0, 0];
    for (let trial = 0; trial < 120; trial++) {
      /* Start within LIMIT/2 ticks below a boundary of a random wheel, sometimes at the int32 wrap. */
      const span = 2 ** (8 * randint(r, 1, 3));
      const base = trial % 10 === 0 ? 0x80000000 : span * randint(r, 1, Math.floor(2 ** 32 / span) - 1);
      const t0 = (base - randint(r, 1, LIMIT / 2)) | 0;
      const cc = wheel(t0);
      const due = new Map<Callout, number>();
      const fires: Fire[] = [];
      armAroundBoundaries(cc, r, randint(r, 1, 12), due, fires);
      if (randint(r, 0, 1) === 1) fast(cc, randint(r, 1, 1000));
      let budget = LIMIT;
      while (cc.cc_npending > 0 && budget > 0) {
        expect(callout_due(cc)).toBe(modelDue(cc, due));
        const next = callout_next(cc);
        expect(next).toBeGreaterThan(0);
        let moved = 0;
        const lim = Math.min(next, budget);
        for (let i = 1; i <= lim; i++) {
          budget--;
          if (callout_hardclock(cc)) {
            moved = i;
            break;
          }
        }
        if (next > lim) {
          /* Beyond the budget: nothing may have moved before it. */
          expect(moved).toBe(0);
          break;
        }
        expect(moved, `trial ${trial} t=${cc.cc_ticks}`).toBe(next);
        checked++;
        const firedBefore = fires.length;
        const remaining = modelDue(cc, due);
        callout_softclock(cc);
        if (fires.length === firedBefore) {
          const t = cc.cc_ticks;
          cascadesByWheel[(t & 0xffffff) === 0 ? 3 : (t & 0xffff) === 0 ? 2 : (t & 0xff) === 0 ? 1 : 0]!++;
          expect(remaining).toBeGreaterThan(0);
        } else {
          expect(remaining).toBe(0);
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
    /* Cascades that made nothing due, by the highest wheel they involved: all were exercised. */
    expect(cascadesByWheel[0]).toBe(0);
    for (const w of [1, 2, 3]) expect(cascadesByWheel[w]).toBeGreaterThanOrEqual(10);
  });

  it('callout_due equals the model\'s earliest due tick through random operations', () => {
    const r = rng(99);
    for (const t0 of [0, WRAP_A, WRAP_B, randint(r, -0x80000000, 0x7fffffff)]) {
      const cc = wheel(t0);
      const due = new Map<Callout, number>();
      const fires: Fire[] = [];
      const cs = armAroundBoundaries(cc, r, 200, due, fires);
      for (let op = 0; op < 3000; op++) {
        const c = cs[randint(r, 0, cs.length - 1)]!;
        const x = randint(r, 0, 9);
        if (x < 3) {
          callout_stop(c);
          due.delete(c);
        } else if (x < 6) {
          const d = logDelay(r, 31);
          due.set(c, (cc.cc_ticks + d) | 0);
          callout_schedule(c, d);
        } else {
          fast(cc, Math.min(logDelay(r, 20), Math.max(1, modelDue(cc, due))));
        }
        expect(callout_due(cc)).toBe(modelDue(cc, due));
      }
    }
  });

  it('callout_advance across idle stretches gives the same firings as tick-by-tick stepping', () => {
    for (const [seed, t0, horizon, bits] of [
      [1, 0, 300_000, 18], [2, WRAP_A, 300_000, 18], [3, WRAP_B, 300_000, 18],
      [4, (T24 - 1000) | 0, T24 + 200_000, 25],
    ] as const) {
      const logs: Fire[][] = [];
      for (const mode of ['step', 'advance'] as const) {
        const r = rng(seed);
        const cc = wheel(t0);
        const log: Fire[] = [];
        const cs: Callout[] = [];
        for (let id = 0; id < 150; id++) {
          const c = mk(cc);
          cs.push(c);
          callout_reset(c, logDelay(r, bits), () => {
            log.push({ id, tick: cc.cc_ticks });
            /* Handlers re-arm themselves or others, as protocols do. */
            const y = r();
            if (y < 0.5) callout_schedule(c, logDelay(r, bits));
            else if (y < 0.6) callout_stop(cs[randint(r, 0, cs.length - 1)]!);
            else if (y < 0.8) callout_schedule(cs[randint(r, 0, cs.length - 1)]!, logDelay(r, 9));
          }, null);
        }
        if (mode === 'step') {
          steps(cc, horizon);
        } else {
          /* Random chunks, with a separate PRNG so both runs consume r identically. */
          const rc = rng(seed + 1000);
          let left = horizon;
          while (left > 0) {
            const n = Math.min(left, logDelay(rc, 20));
            fast(cc, n);
            left -= n;
          }
        }
        expect(cc.cc_ticks).toBe((t0 + horizon) | 0);
        expect(cc.cc_nlate).toBe(0);
        logs.push(log);
      }
      expect(logs[0]!.length).toBeGreaterThan(100);
      expect(logs[1]).toEqual(logs[0]);
    }
  });

  it('callout_advance stops right after a tick with a due callout, and not at a cascade', () => {
    const cc = wheel(0);
    const c = mk(cc);
    callout_reset(c, 1000, () => {}, null);
    /* 1000 sits in wheel 1; it cascades at tick 768 but is due at 1000. */
    expect(callout_next(cc)).toBe(768);
    expect(callout_due(cc)).toBe(1000);
    expect(callout_advance(cc, 5000)).toBe(1000);
    expect(callout_pending(c)).toBe(true); /* on todo: the softclock runs it */
    expect(callout_next(cc)).toBe(0);
    expect(callout_due(cc)).toBe(0);
    expect(callout_advance(cc, 5000)).toBe(0);
    callout_softclock(cc);
    expect(callout_expired(c)).toBe(true);
  });

  it('100k random resets and stops lose no callout and fire each pending one exactly once, on time', () => {
    const r = rng(424242);
    const cc = wheel(WRAP_A - 50_000);
    const N = 1000;
    const cs: Callout[] = [];
    const due = new Map<Callout, number>();
    let firings = 0;
    let lastFire = cc.cc_ticks;
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      const c = mk(cc);
      callout_setfunc(c, () => {
        if (!due.has(c) || cc.cc_ticks !== due.get(c) || tdiff(cc.cc_ticks, lastFire) < 0) {
          bad.push(`callout ${i} fired at ${cc.cc_ticks}, due ${due.get(c)}, last firing ${lastFire}`);
        }
        lastFire = cc.cc_ticks;
        due.delete(c);
        firings++;
      }, null);
      cs.push(c);
    }
    let resets = 0;
    let stops = 0;
    for (let op = 0; op < 100_000; op++) {
      const c = cs[randint(r, 0, N - 1)]!;
      const x = r();
      if (x < 0.55) {
        const d = r() < 0.9 ? logDelay(r, 17) : logDelay(r, 31);
        due.set(c, (cc.cc_ticks + d) | 0);
        callout_schedule(c, d);
        resets++;
      } else if (x < 0.9) {
        expect(callout_stop(c)).toBe(due.has(c));
        due.delete(c);
        stops++;
      } else if (x < 0.97) {
        fast(cc, randint(r, 1, 400));
      } else {
        steps(cc, randint(r, 1, 20));
      }
      if (op % 1000 === 0) {
        expect(cc.cc_npending).toBe(due.size);
        expect(cs.filter((k) => callout_pending(k) !== due.has(k)).length).toBe(0);
      }
    }
    expect(resets).toBeGreaterThan(50_000);
    expect(stops).toBeGreaterThan(30_000);
    const pending = due.size;
    expect(cc.cc_npending).toBe(pending);
    const firedBefore = firings;
    const horizon = Math.max(0, ...[...due.values()].map((t) => tdiff(t, cc.cc_ticks)));
    fast(cc, horizon);
    expect(bad).toEqual([]);
    expect(firings - firedBefore).toBe(pending);
    expect(due.size).toBe(0);
    expect(cc.cc_npending).toBe(0);
    expect(cc.cc_nfired).toBe(firings);
    expect(cc.cc_nlate).toBe(0);
    expect(callout_next(cc)).toBe(Infinity);
    expect([...cc.cc_bitmap].every((w) => w === 0)).toBe(true);
    expect(cc.cc_head.every((h) => h === null)).toBe(true);
  });
});

/* ------------------------------------------------------------- wraparound */

describe('wraparound of the 32-bit tick', () => {
  for (const t0 of [WRAP_A, WRAP_B]) {
    it(`callouts spanning the wrap from ticks0 ${t0 >>> 0 === t0 ? '0x' : '-0x'}${Math.abs(t0).toString(16)}, including wheel 3`, () => {
      const cc = wheel(t0);
      const delays = [1, 255, 256, 257, 300, 65535, 65536, 65537, 70000, T24 - 1, T24 + 5, 0x40000000, MAXTICKS];
      const at = new Map<number, number>();
      for (const d of delays) callout_reset(mk(cc), d, () => { at.set(d, cc.cc_ticks); }, null);
      /* The callout in wheel 3 is due across the wrap. */
      expect(tdiff((t0 + 0x40000000) | 0, t0)).toBe(0x40000000);
      fast(cc, MAXTICKS);
      for (const d of delays) expect(at.get(d), `delay ${d}`).toBe((t0 + d) | 0);
      expect(cc.cc_nlate).toBe(0);
    });
  }

  it('stepping across INT32_MAX fires on the negative side at the right tick', () => {
    const cc = wheel(0x7ffffff0);
    const at: number[] = [];
    callout_reset(mk(cc), 0x20, () => { at.push(cc.cc_ticks); }, null);
    callout_reset(mk(cc), 0x10, () => { at.push(cc.cc_ticks); }, null);
    steps(cc, 0x20);
    expect(at).toEqual([-0x80000000, -0x7ffffff0]);
  });
});

/* ---------------------------------------------------------------- kernel */

interface KFire { tag: string | number; ticks: number; ms: number }

/** Arm from a kernel context; tick_sync first, as every real kernel entry does. */
function arm(k: Kernel, fn: () => void): void {
  kernel_run(k, () => {
    k.tick_sync();
    fn();
  });
}

function kcallout(k: Kernel, flags = CALLOUT_MPSAFE): Callout {
  const c = new Callout();
  callout_init(c, flags, k);
  return c;
}

function recorder(k: Kernel, w: SimWorld, out: KFire[]): (arg: unknown) => void {
  return (arg) => { out.push({ tag: arg as string | number, ticks: k.ticks, ms: w.nowMs() }); };
}

/* A broken clock can livelock the sim world; fail well before the global timeout. */
describe('callouts in a kernel (sim host, hz 100)', { timeout: 20_000 }, () => {
  it('every edge delay fires at exactly its tick and virtual time', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    expect(k.ticks).toBe(0);
    const out: KFire[] = [];
    arm(k, () => {
      for (const d of EDGE_DELAYS) callout_reset(kcallout(k), d, recorder(k, w, out), d);
    });
    await w.runUntilIdle((T24 + 10) * 10);
    expect(out.map((f) => f.tag)).toEqual(EDGE_DELAYS);
    for (const f of out) {
      expect(f.ticks).toBe(f.tag);
      expect(f.ms).toBe((f.tag as number) * 10);
    }
    expect(k.cc.cc_nlate).toBe(0);
  });

  it('random delays (seeded) fire at exactly their virtual times', async () => {
    const w = simWorld({ seed: 3 });
    const k = await bootSim(w);
    const r = rng(3);
    const out: KFire[] = [];
    const delays = Array.from({ length: 60 }, () => logDelay(r, 22));
    arm(k, () => {
      for (const d of delays) callout_reset(kcallout(k), d, recorder(k, w, out), d);
    });
    await w.runUntilIdle(2 ** 22 * 10 + 10);
    expect(out.length).toBe(delays.length);
    expect(out.map((f) => f.tag)).toEqual([...delays].sort((a, b) => a - b));
    for (const f of out) expect([f.ticks, f.ms]).toEqual([f.tag, (f.tag as number) * 10]);
  });

  for (const ticks0 of [WRAP_A, WRAP_B]) {
    it(`ticks0 ${ticks0}: callouts spanning the wrap fire on time, one in wheel 3`, async () => {
      const w = simWorld({ seed: 2 });
      const k = await bootSim(w, { ticks0 });
      expect(k.ticks).toBe(ticks0);
      const out: KFire[] = [];
      const delays = [1, 255, 256, 257, 300, 65536, 65537, T24 + 5];
      arm(k, () => {
        for (const d of delays) callout_reset(kcallout(k), d, recorder(k, w, out), d);
      });
      await w.runUntilIdle((T24 + 10) * 10);
      expect(out.map((f) => f.tag)).toEqual(delays);
      for (const f of out) {
        expect(f.ticks).toBe((ticks0 + (f.tag as number)) | 0);
        expect(f.ms).toBe((f.tag as number) * 10);
      }
    });
  }

  it('handlers run in the clock softint', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const seen: unknown[] = [];
    const c = kcallout(k);
    arm(k, () => {
      callout_reset(c, 5, () => {
        seen.push(cpu_softintr_p(k), cpu_intr_p(k), k.cpu.ci_softlevel, k.cpu.ci_curlwp === k.lwp_softint,
          callout_pending(c), callout_expired(c), callout_invoking(c));
      }, null);
    });
    await w.advance(100);
    expect(seen).toEqual([true, false, SOFTINT_CLOCK, true, false, true, true]);
  });

  it('FIFO on the same tick, stop from a handler, and a periodic callout', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const log: string[] = [];
    const [a, b, c, d, p] = [kcallout(k), kcallout(k), kcallout(k), kcallout(k), kcallout(k)];
    let stopped: boolean | null = null;
    let n = 0;
    arm(k, () => {
      callout_reset(a, 300, () => { log.push(`A@${k.ticks}`); }, null);
      callout_reset(b, 300, () => { log.push(`B@${k.ticks}`); stopped = callout_stop(d); }, null);
      callout_reset(c, 300, () => { log.push(`C@${k.ticks}`); }, null);
      callout_reset(d, 300, () => { log.push(`D@${k.ticks}`); }, null);
      callout_reset(p, 70, () => {
        log.push(`P@${k.ticks}/${w.nowMs()}`);
        if (++n < 5) callout_schedule(p, 70);
      }, null);
    });
    await w.advance(10_000);
    expect(log).toEqual(['P@70/700', 'P@140/1400', 'P@210/2100', 'P@280/2800', 'A@300', 'B@300', 'C@300', 'P@350/3500']);
    expect(stopped).toBe(true);
    expect(k.cc.cc_npending).toBe(0);
  });

  it('re-arming later and earlier, stop, and halt from its own handler', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const out: KFire[] = [];
    const later = kcallout(k);
    const earlier = kcallout(k);
    const stopped = kcallout(k);
    const self = kcallout(k);
    const halts: boolean[] = [];
    arm(k, () => {
      callout_reset(later, 100, recorder(k, w, out), 'later');
      callout_reset(earlier, 70000, recorder(k, w, out), 'earlier');
      callout_reset(stopped, 50, recorder(k, w, out), 'stopped');
      callout_reset(self, 20, () => {
        out.push({ tag: 'self', ticks: k.ticks, ms: w.nowMs() });
        callout_schedule(self, 20);
        halts.push(callout_halt(self));
      }, null);
    });
    await w.advance(300);
    arm(k, () => {
      expect(k.ticks).toBe(30);
      callout_reset(later, 200, recorder(k, w, out), 'later');
      callout_reset(earlier, 10, recorder(k, w, out), 'earlier');
      expect(callout_stop(stopped)).toBe(true);
      expect(callout_stop(stopped)).toBe(false);
    });
    await w.advance(1_000_000);
    expect(out).toEqual([
      { tag: 'self', ticks: 20, ms: 200 },
      { tag: 'earlier', ticks: 40, ms: 400 },
      { tag: 'later', ticks: 230, ms: 2300 },
    ]);
    expect(halts).toEqual([true]);
    expect(k.cc.cc_npending).toBe(0);
  });

  it('callout_destroy of a pending callout panics', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const c = kcallout(k);
    arm(k, () => { callout_reset(c, 10, () => {}, null); });
    expect(() => { kernel_run(k, () => { callout_destroy(c); }); }).toThrow(KernelPanic);
    expect(k.state).toBe('panicked');
    expect(w.panics.map((p) => p.message)).toEqual([expect.stringContaining('callout_destroy: callout pending')]);
  });

  it('callout_destroy from its own handler panics (it is running)', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const c = kcallout(k);
    arm(k, () => { callout_reset(c, 10, () => { callout_destroy(c); }, null); });
    await w.advance(200);
    expect(k.state).toBe('panicked');
    expect(w.panics.map((p) => p.message)).toEqual([expect.stringContaining('callout_destroy: callout running')]);
  });

  it('callout_halt in a hard interrupt panics (callout_stop is fine there)', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const c = kcallout(k);
    arm(k, () => { callout_reset(c, 10, () => {}, null); });
    const stopped: boolean[] = [];
    intr_dispatch(k, IPL_SCHED, () => { stopped.push(callout_stop(c)); }, null);
    expect(stopped).toEqual([true]);
    expect(k.state).toBe('running');
    intr_dispatch(k, IPL_SCHED, () => { callout_halt(c); }, null);
    expect(k.state).toBe('panicked');
    expect(w.panics.map((p) => p.message)).toEqual([expect.stringContaining('callout_halt: in hard interrupt')]);
  });

  it('a delay beyond the wheel panics', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const c = kcallout(k);
    expect(() => { arm(k, () => { callout_reset(c, 2 ** 31, () => {}, null); }); }).toThrow(KernelPanic);
    expect(w.panics.map((p) => p.message)).toEqual([expect.stringContaining('beyond the wheel')]);
  });

  it('a handler that throws panics the kernel, naming the handler', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const c = kcallout(k);
    arm(k, () => { callout_reset(c, 3, function tcp_timer_rexmt() { throw new Error('boom'); }, null); });
    await w.advance(100);
    expect(k.state).toBe('panicked');
    expect(w.panics.map((p) => p.message)).toEqual([expect.stringMatching(/callout handler tcp_timer_rexmt threw: boom/)]);
  });

  it('two kernels in one world keep separate wheels', async () => {
    const w = simWorld({ seed: 1 });
    const k1 = await bootSim(w);
    const k2 = await bootSim(w, { ticks0: WRAP_A });
    const out: KFire[] = [];
    const c1 = kcallout(k1);
    const c2 = kcallout(k2);
    arm(k1, () => { callout_reset(c1, 300, (a) => { out.push({ tag: a as string, ticks: k1.ticks, ms: w.nowMs() }); }, 'k1'); });
    arm(k2, () => { callout_reset(c2, 200, (a) => { out.push({ tag: a as string, ticks: k2.ticks, ms: w.nowMs() }); }, 'k2'); });
    expect(k1.cc.cc_npending).toBe(1);
    expect(k2.cc.cc_npending).toBe(1);
    await w.advance(5000);
    expect(out).toEqual([
      { tag: 'k2', ticks: (WRAP_A + 200) | 0, ms: 2000 },
      { tag: 'k1', ticks: 300, ms: 3000 },
    ]);
  });

  it('halt stops every pending callout and leaves nothing queued on the host', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    let runs = 0;
    const cs = [1, 300, 70000, T24 + 5].map((d) => {
      const c = kcallout(k);
      arm(k, () => { callout_reset(c, d, () => { runs++; }, null); });
      return c;
    });
    await k.halt();
    expect(k.cc.cc_npending).toBe(0);
    for (const c of cs) expect(callout_pending(c)).toBe(false);
    expect(w.pending()).toBe(0);
    await w.runUntilIdle((T24 + 10) * 10);
    expect(runs).toBe(0);
  });
});
