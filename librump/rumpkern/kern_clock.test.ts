/*
 * Tests for the tickless clock (kern_clock.ts) on the sim host.
 *
 * The host timer is armed only for the tick at which the next callout is
 * due: an idle kernel queues no host event, a callout far away costs one
 * clock interrupt when it is due and none on the way (wheel cascades are
 * done without waking the clock), and `ticks` read at a kernel entry is
 * caught up over idle stretches.  World traces (`trace: true`) show every
 * host event that reached a kernel.
 */

import { describe, it, expect } from 'vitest';
import { Callout, CALLOUT_MPSAFE, callout_init, callout_reset, callout_schedule, callout_stop } from './kern_timeout.ts';
import { hztoms, mstohz } from './kern_clock.ts';
import { kernel_run, kthread_create, kthread_join, type Kernel } from './rump.ts';
import { tsleep, wakeup } from './ltsleep.ts';
import { EWOULDBLOCK } from '../../include/errno.ts';
import { bootSim, simWorld } from '../../tests/kernel.ts';
import type { SimWorld } from '../rumpuser/sim.ts';

const T24 = 1 << 24;

/** Arm from a kernel context; tick_sync first, as every real kernel entry does. */
function arm(k: Kernel, fn: () => void): void {
  kernel_run(k, () => {
    k.tick_sync();
    fn();
  });
}

function kcallout(k: Kernel): Callout {
  const c = new Callout();
  callout_init(c, CALLOUT_MPSAFE, k);
  return c;
}

interface Fire { tag: unknown; ticks: number; ms: number }

function recorder(k: Kernel, w: SimWorld, out: Fire[]): (arg: unknown) => void {
  return (tag) => { out.push({ tag, ticks: k.ticks, ms: w.nowMs() }); };
}

/** Virtual times (ms) of the clock events the world dispatched to host `name`. */
function clockEvents(w: SimWorld, name = 'sim0'): number[] {
  return w.trace!.filter((e) => e.endsWith(` ${name} clock`)).map((e) => Number(e.split(' ')[0]) / 1e6);
}

function softEvents(w: SimWorld, name = 'sim0'): number[] {
  return w.trace!.filter((e) => e.endsWith(` ${name} soft`)).map((e) => Number(e.split(' ')[0]) / 1e6);
}

/* A broken clock can livelock the sim world; fail well before the global timeout. */
describe('tickless clock', { timeout: 20_000 }, () => {
  it('an idle kernel queues no host event and is never woken', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    expect(await w.runUntilIdle()).toBe(0);
    expect(w.pending()).toBe(0);
    expect(k.clock_armed).toBe(Infinity);
    const dispatched = w.dispatched;
    await w.advance(3_600_000);
    expect(w.dispatched).toBe(dispatched);
    expect(w.trace).toEqual([]);
    expect(k.cpu.ci_nintr).toBe(0);
  });

  it('one callout 10 s out: one queued clock event, fired at exactly 10 000 ms, no wakeup on the way', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    expect(w.pending()).toBe(0);
    const out: Fire[] = [];
    arm(k, () => { callout_reset(kcallout(k), 1000, recorder(k, w, out), 'c'); });
    expect(w.pending()).toBe(1);
    await w.advance(9_999);
    expect(out).toEqual([]);
    expect(clockEvents(w)).toEqual([]);
    await w.advance(10_001);
    expect(out).toEqual([{ tag: 'c', ticks: 1000, ms: 10_000 }]);
    expect(clockEvents(w)).toEqual([10_000]);
    expect(k.cpu.ci_nintr).toBe(1);
    expect(w.pending()).toBe(0);
    expect(k.clock_armed).toBe(Infinity);
  });

  for (const ticks0 of [0, 0x7fffff00, 0xffffff00 | 0]) {
    it(`callouts in every wheel cost one clock event each, at their due times (ticks0 ${ticks0})`, async () => {
      const w = simWorld({ seed: 1, trace: true });
      const k = await bootSim(w, { ticks0 });
      const out: Fire[] = [];
      const delays = [1, 256, 257, 300, 65536, 65537, 70000, T24 - 1, T24 + 5];
      arm(k, () => {
        for (const d of delays) callout_reset(kcallout(k), d, recorder(k, w, out), d);
      });
      expect(w.pending()).toBe(1);
      await w.runUntilIdle((T24 + 10) * 10);
      expect(out).toEqual(delays.map((d) => ({ tag: d, ticks: (ticks0 + d) | 0, ms: d * 10 })));
      expect(clockEvents(w)).toEqual(delays.map((d) => d * 10));
      expect(k.cpu.ci_nintr).toBe(delays.length);
      expect(w.pending()).toBe(0);
    });
  }

  it('callouts due on the same tick share one clock event', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    const out: Fire[] = [];
    arm(k, () => {
      callout_reset(kcallout(k), 70000, recorder(k, w, out), 'far');
      callout_reset(kcallout(k), 200, recorder(k, w, out), 'near');
    });
    await w.advance(1000);
    arm(k, () => { callout_reset(kcallout(k), 69900, recorder(k, w, out), 'later'); });
    await w.runUntilIdle(1e6);
    expect(out.map((f) => [f.tag, f.ticks])).toEqual([['near', 200], ['far', 70000], ['later', 70000]]);
    expect(clockEvents(w)).toEqual([2000, 700_000]);
  });

  it('re-arming earlier moves the host timer; the callout fires once, at the new time', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    const out: Fire[] = [];
    const c = kcallout(k);
    arm(k, () => { callout_reset(c, 70000, recorder(k, w, out), 'c'); });
    await w.advance(500);
    arm(k, () => { callout_schedule(c, 10); });
    expect(w.pending()).toBe(1);
    await w.runUntilIdle(1e6);
    expect(out).toEqual([{ tag: 'c', ticks: 60, ms: 600 }]);
    expect(clockEvents(w)).toEqual([600]);
    expect(w.pending()).toBe(0);
  });

  it('re-arming later: the callout fires only at the new time, and nothing stays queued', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    const out: Fire[] = [];
    const c = kcallout(k);
    arm(k, () => { callout_reset(c, 10, recorder(k, w, out), 'c'); });
    arm(k, () => { callout_schedule(c, 70000); });
    await w.runUntilIdle(1e6);
    expect(out).toEqual([{ tag: 'c', ticks: 70000, ms: 700_000 }]);
    expect(clockEvents(w).at(-1)).toBe(700_000);
    expect(w.pending()).toBe(0);
  });

  it('stopping the last callout disarms the host timer', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    const out: Fire[] = [];
    const a = kcallout(k);
    const b = kcallout(k);
    arm(k, () => {
      callout_reset(a, 100, recorder(k, w, out), 'a');
      callout_reset(b, 300, recorder(k, w, out), 'b');
    });
    expect(w.pending()).toBe(1);
    arm(k, () => { expect(callout_stop(a)).toBe(true); });
    expect(w.pending()).toBe(1); /* b still needs the clock */
    arm(k, () => { expect(callout_stop(b)).toBe(true); });
    expect(w.pending()).toBe(0);
    expect(k.clock_armed).toBe(Infinity);
    await w.advance(10_000);
    expect(out).toEqual([]);
    expect(clockEvents(w)).toEqual([]);
  });

  it('a sleep with a timeout that is woken early leaves no host timer behind', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    const chan = {};
    let error = -1;
    const l = kthread_create(k, 'sleeper', async (l) => { error = await tsleep(l, chan, 0, 'nap', 6000); });
    await w.advance(1);
    expect(w.pending()).toBe(1); /* the sleep's timeout, 60 s out */
    kernel_run(k, () => { wakeup(k, chan); });
    await kthread_join(l);
    expect(error).toBe(0);
    expect(w.pending()).toBe(0);
    await w.advance(120_000);
    expect(clockEvents(w)).toEqual([]);
  });

  it('a sleep that times out is woken by one clock event at its deadline', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    let error = -1;
    let at = -1;
    const l = kthread_create(k, 'sleeper', async (l) => {
      error = await tsleep(l, {}, 0, 'nap', 4321);
      at = w.nowMs();
    });
    await w.runUntilIdle();
    await kthread_join(l);
    expect([error, at]).toEqual([EWOULDBLOCK, 43_210]);
    expect(clockEvents(w)).toEqual([43_210]);
  });

  it('halt disarms the host timer', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    arm(k, () => { callout_reset(kcallout(k), 500, () => {}, null); });
    expect(w.pending()).toBe(1);
    await k.halt();
    expect(w.pending()).toBe(0);
  });
});

describe('ticks at kernel entries', { timeout: 20_000 }, () => {
  it('kern.hardclock_ticks tracks virtual time after an idle stretch, without any clock event', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(0);
    await w.advance(12_345);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(1234);
    await w.advance(4.999);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(1234);
    await w.advance(0.001);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(1235);
    expect(k.ticks).toBe(1235);
    expect(w.trace).toEqual([]);
  });

  it('an entry catches ticks up across wheel cascades, and the far callout still fires on time', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w);
    const out: Fire[] = [];
    /* 100 000 ticks: wheel 2, cascading at 65 536 and again at 99 840 on its way down. */
    arm(k, () => { callout_reset(kcallout(k), 100_000, recorder(k, w, out), 'far'); });
    await w.advance(700_000);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(70_000);
    await w.advance(299_000);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(99_900);
    expect(clockEvents(w)).toEqual([]);
    expect(out).toEqual([]);
    await w.advance(10_000);
    expect(out).toEqual([{ tag: 'far', ticks: 100_000, ms: 1_000_000 }]);
    expect(clockEvents(w)).toEqual([1_000_000]);
  });

  it('an entry after a due callout fired sees the current tick', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const out: Fire[] = [];
    arm(k, () => { callout_reset(kcallout(k), 500, recorder(k, w, out), 'c'); });
    await w.advance(12_345);
    expect(out).toEqual([{ tag: 'c', ticks: 500, ms: 5000 }]);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(1234);
  });

  it('kern.hardclock_ticks wraps as a 32-bit int', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w, { ticks0: 0x7fffff00 });
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(0x7fffff00);
    await w.advance(10_000);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe((0x7fffff00 + 1000) | 0);
    expect(k.elapsed).toBe(1000);
  });

  it('ticks are counted from boot, for a kernel booted late in the world', async () => {
    const w = simWorld({ seed: 1 });
    await w.advance(7_777);
    const k = await bootSim(w);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(0);
    const out: Fire[] = [];
    arm(k, () => { callout_reset(kcallout(k), 3, recorder(k, w, out), 'c'); });
    await w.advance(1000);
    expect(out).toEqual([{ tag: 'c', ticks: 3, ms: 7_807 }]);
  });
});

describe('clock rate', { timeout: 20_000 }, () => {
  it('hz 1000 makes a tick one millisecond', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k = await bootSim(w, { hz: 1000 });
    expect(k.hz).toBe(1000);
    expect(await k.sys.sysctl('kern.hz')).toBe(1000);
    expect(await k.sys.sysctl('kern.clockrate')).toEqual({ hz: 1000, tick: 1000, tickadj: 0, stathz: 1, profhz: 1 });
    const out: Fire[] = [];
    arm(k, () => { callout_reset(kcallout(k), 250, recorder(k, w, out), 'c'); });
    await w.advance(1500);
    expect(out).toEqual([{ tag: 'c', ticks: 250, ms: 250 }]);
    expect(clockEvents(w)).toEqual([250]);
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(1500);
    expect(mstohz(k, 1500)).toBe(1500);
    expect(hztoms(k, 250)).toBe(250);
  });

  for (const hz of [3, 7, 60, 300, 600, 1024]) {
    it(`hz ${hz} (1e9/hz ${Number.isInteger(1e9 / hz) ? 'exact' : 'inexact'}): a periodic callout keeps exact ticks, one clock event each`, async () => {
      const w = simWorld({ seed: 1, trace: true });
      await w.advance(1234.567); /* boot at an odd virtual time */
      const t0 = w.nowMs();
      const k = await bootSim(w, { hz });
      const out: Fire[] = [];
      const c = kcallout(k);
      const N = 50;
      const P = 7;
      arm(k, () => {
        callout_reset(c, P, () => {
          out.push({ tag: out.length, ticks: k.ticks, ms: w.nowMs() });
          if (out.length < N) callout_schedule(c, P);
        }, null);
      });
      await w.runUntilIdle();
      expect(out.map((f) => f.ticks)).toEqual(Array.from({ length: N }, (_, i) => (i + 1) * P));
      for (const f of out) expect(f.ms).toBeCloseTo(t0 + ((f.ticks * 1000) / hz), 6);
      expect(clockEvents(w).length).toBe(N);
      expect(w.dispatched).toBe(N);
      expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(N * P);
    });
  }

  it('mstohz rounds up; hztoms is exact', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    expect([mstohz(k, 0), mstohz(k, 1), mstohz(k, 10), mstohz(k, 11), mstohz(k, 60_000)]).toEqual([0, 1, 1, 2, 6000]);
    expect(hztoms(k, 3)).toBe(30);
  });

  it('two kernels with different hz in one world keep their own clocks', async () => {
    const w = simWorld({ seed: 1, trace: true });
    const k1 = await bootSim(w);
    const k2 = await bootSim(w, { hz: 1000 });
    const out: Fire[] = [];
    arm(k1, () => { callout_reset(kcallout(k1), 100, recorder(k1, w, out), 'k1'); });
    arm(k2, () => { callout_reset(kcallout(k2), 100, recorder(k2, w, out), 'k2'); });
    await w.advance(5000);
    expect(out).toEqual([{ tag: 'k2', ticks: 100, ms: 100 }, { tag: 'k1', ticks: 100, ms: 1000 }]);
    expect(clockEvents(w, 'sim0')).toEqual([1000]);
    expect(clockEvents(w, 'sim1')).toEqual([100]);
  });
});

describe('softint mode', { timeout: 20_000 }, () => {
  for (const mode of ['inline', 'deferred'] as const) {
    it(`softints '${mode}': callouts fire at the right virtual time and are counted as ${mode}`, async () => {
      const w = simWorld({ seed: 1, trace: true });
      const k = await bootSim(w, { softints: mode });
      expect(await k.sys.sysctl('kern.softint.mode')).toBe(mode);
      await w.runUntilIdle();
      const inline0 = k.cpu.ci_softint_inline;
      const deferred0 = k.cpu.ci_softint_deferred;
      const out: Fire[] = [];
      arm(k, () => {
        callout_reset(kcallout(k), 100, recorder(k, w, out), 'a');
        callout_reset(kcallout(k), 100, recorder(k, w, out), 'b');
        callout_reset(kcallout(k), 70000, recorder(k, w, out), 'c');
      });
      await w.runUntilIdle(1e6);
      expect(out).toEqual([
        { tag: 'a', ticks: 100, ms: 1000 },
        { tag: 'b', ticks: 100, ms: 1000 },
        { tag: 'c', ticks: 70000, ms: 700_000 },
      ]);
      expect(clockEvents(w)).toEqual([1000, 700_000]);
      /* One softclock run per due tick. */
      if (mode === 'inline') {
        expect(k.cpu.ci_softint_inline - inline0).toBe(2);
        expect(k.cpu.ci_softint_deferred).toBe(deferred0);
        expect(softEvents(w)).toEqual([]);
      } else {
        expect(k.cpu.ci_softint_deferred - deferred0).toBe(2);
        expect(k.cpu.ci_softint_inline).toBe(inline0);
        expect(softEvents(w)).toEqual([1000, 700_000]);
      }
      expect(await k.sys.sysctl('kern.softint.inline')).toBe(BigInt(k.cpu.ci_softint_inline));
      expect(await k.sys.sysctl('kern.softint.deferred')).toBe(BigInt(k.cpu.ci_softint_deferred));
      expect(w.pending()).toBe(0);
    });
  }

  it('deferred: a periodic callout keeps its period across deferred runs', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w, { softints: 'deferred' });
    const at: number[] = [];
    const c = kcallout(k);
    arm(k, () => {
      callout_reset(c, 25, () => {
        at.push(k.ticks);
        if (at.length < 6) callout_schedule(c, 25);
      }, null);
    });
    await w.advance(10_000);
    expect(at).toEqual([25, 50, 75, 100, 125, 150]);
  });
});

describe('kern.* clock sysctls', () => {
  it('kern.clockrate, kern.hz, kern.uptime and kern.boottime', async () => {
    const wall = Date.UTC(2030, 5, 15, 12, 0, 0, 250);
    const w = simWorld({ seed: 1, wallStartMs: wall });
    await w.advance(5000);
    const k = await bootSim(w);
    /*
     * Wall time since 1970 in ns is beyond 2^53: the sim's RELWALL clock
     * keeps it as one double, so tv_nsec is only good to a few hundred ns.
     */
    const expectBoottime = async (): Promise<void> => {
      const bt = await k.sys.sysctl('kern.boottime') as { tv_sec: number; tv_nsec: number };
      expect(bt.tv_sec).toBe(Math.floor(wall / 1000) + 5);
      expect(Math.abs(bt.tv_nsec - 250_000_000)).toBeLessThan(1000);
    };
    expect(await k.sys.sysctl('kern.hz')).toBe(100);
    expect(await k.sys.sysctl('kern.clockrate')).toEqual({ hz: 100, tick: 10000, tickadj: 0, stathz: 1, profhz: 1 });
    await expectBoottime();
    expect(await k.sys.sysctl('kern.uptime')).toEqual({ tv_sec: 0, tv_nsec: 0 });
    await w.advance(12_345.678);
    expect(await k.sys.sysctl('kern.uptime')).toEqual({ tv_sec: 12, tv_nsec: 345_678_000 });
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(1234);
    await expectBoottime();
  });

  it('the default world starts at 2026-01-01T00:00:00Z', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    expect(await k.sys.sysctl('kern.boottime')).toEqual({ tv_sec: Date.UTC(2026, 0, 1) / 1000, tv_nsec: 0 });
  });
});
