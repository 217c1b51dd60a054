/*
 * Tests for subr_pool.ts: pool(9) on a booted sim kernel.  Get/put
 * accounting, page-unit allocation, the hard limit (null, pr_nfail, the
 * rate-limited warning, recovery), pool_get_wait sleeping until another
 * LWP puts an item back, idle pages given back, the double-put and
 * destroy-while-busy panics, and two kernels' pools staying apart.
 */
import { describe, expect, it } from 'vitest';
import { bootSim, expectPanics, simWorld } from '../../tests/kernel.ts';
import { kernel_run, kthread_create, kthread_join, type Kernel } from './rump.ts';
import { kpause, KernelHalted } from './ltsleep.ts';
import { LSSLEEP } from './lwproc.ts';
import { KernelPanic } from './subr_prf.ts';
import { EINVAL } from '../../include/errno.ts';
import {
  pool_destroy, pool_get, pool_get_wait, pool_init, pool_print_stats, pool_put, pool_reclaim,
  pool_sethardlimit, pool_stat, pool_stats, PR_NOWAIT, PR_WAITOK, type Pool, type PoolInitOptions,
} from './subr_pool.ts';

/* A pool item with a field that reset must scrub and a serial that tells objects apart. */
class Thing {
  data = 0;
  constructor(readonly serial: number) {}
}

function thingPool(k: Kernel, name: string, opts: PoolInitOptions<Thing> = {}) {
  let made = 0;
  const pp = pool_init<Thing>(k, name, () => new Thing(made++), { reset: (t) => { t.data = 0; }, ...opts });
  return { pp, made: () => made };
}

function getN(pp: Pool<Thing>, n: number): Thing[] {
  const out: Thing[] = [];
  for (let i = 0; i < n; i++) {
    const t = pool_get(pp, PR_NOWAIT);
    if (t === null) throw new Error(`getN: get ${i} failed`);
    out.push(t);
  }
  return out;
}

function count(s: string, sub: string): number {
  return s.split(sub).length - 1;
}

describe('pool_get / pool_put', () => {
  it('counts gets, puts and items out, and registers the pool in k.pools', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp } = thingPool(k, 'thingpl', { itemsperpage: 8 });
    expect(k.pools).toContain(pp);
    kernel_run(k, () => {
      const a = getN(pp, 5);
      expect(new Set(a).size).toBe(5);
      expect(pp.pr_nget).toBe(5);
      expect(pp.pr_nout).toBe(5);
      pool_put(pp, a[0]!);
      pool_put(pp, a[1]!);
      expect(pp.pr_nput).toBe(2);
      expect(pp.pr_nout).toBe(3);
      expect(pp.pr_maxout).toBe(5);
      getN(pp, 1);
      expect(pp.pr_nget).toBe(6);
      expect(pp.pr_nout).toBe(4);
      /* The high-water mark of items out stays at the peak. */
      expect(pp.pr_maxout).toBe(5);
      expect(pp.pr_nfail).toBe(0);
    });
  });

  it('makes items a page at a time', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp, made } = thingPool(k, 'pagepl', { itemsperpage: 8 });
    expect(pp.pr_npages).toBe(0);
    expect(made()).toBe(0);
    kernel_run(k, () => {
      getN(pp, 1);
      expect(made()).toBe(8);
      expect(pp.pr_npages).toBe(1);
      expect(pp.pr_npagealloc).toBe(1);
      expect(pp.pr_nitems).toBe(7);
      getN(pp, 7);
      expect(made()).toBe(8);
      expect(pp.pr_npages).toBe(1);
      getN(pp, 1);
      expect(made()).toBe(16);
      expect(pp.pr_npages).toBe(2);
      expect(pp.pr_npagealloc).toBe(2);
      expect(pp.pr_hiwat).toBe(2);
      expect(pp.pr_nout).toBe(9);
      expect(pp.pr_nitems).toBe(7);
    });
  });

  it('scrubs a put item with reset and reuses the most recently freed one first', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp } = thingPool(k, 'lifopl', { itemsperpage: 4 });
    kernel_run(k, () => {
      const [a, b] = getN(pp, 2) as [Thing, Thing];
      a.data = 42;
      b.data = 43;
      pool_put(pp, b);
      pool_put(pp, a);
      expect(a.data).toBe(0);
      expect(b.data).toBe(0);
      expect(pool_get(pp, PR_NOWAIT)).toBe(a);
      expect(pool_get(pp, PR_NOWAIT)).toBe(b);
    });
  });

  it('reaches a steady state with no new pages and no growth of the free list', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp, made } = thingPool(k, 'steadypl', { itemsperpage: 16 });
    kernel_run(k, () => {
      const warm = getN(pp, 40);
      for (const t of warm) pool_put(pp, t);
      const pages = pp.pr_npagealloc;
      const len = pp.pr_freelist.length;
      const held: Thing[] = [];
      for (let round = 0; round < 1000; round++) {
        for (let i = 0; i < 30; i++) held.push(pool_get(pp, PR_NOWAIT)!);
        while (held.length > 0) pool_put(pp, held.pop()!);
      }
      expect(pp.pr_npagealloc).toBe(pages);
      expect(pp.pr_freelist.length).toBe(len);
      expect(made()).toBe(48);
      expect(pp.pr_nget).toBe(40 + 30_000);
      expect(pp.pr_nput).toBe(pp.pr_nget);
    });
  });
});

describe('hard limit', () => {
  it('fails with null at the limit, counts pr_nfail and recovers after a put', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp } = thingPool(k, 'limpl', { itemsperpage: 2, hardlimit: 3 });
    expect(pp.pr_maxpages).toBe(2);
    kernel_run(k, () => {
      const a = getN(pp, 3);
      expect(pool_get(pp, PR_NOWAIT)).toBeNull();
      expect(pool_get(pp, PR_NOWAIT)).toBeNull();
      expect(pp.pr_nfail).toBe(2);
      expect(pp.pr_nget).toBe(3);
      expect(pp.pr_nout).toBe(3);
      /* Whole pages, but never more than the limit needs, and never more out than the limit. */
      expect(pp.pr_npages).toBe(2);
      expect(pp.pr_nitems).toBe(1);
      pool_put(pp, a[2]!);
      expect(pool_get(pp, PR_NOWAIT)).toBe(a[2]);
      expect(pp.pr_nget).toBe(4);
      expect(pool_get(pp, PR_NOWAIT)).toBeNull();
      expect(pp.pr_nfail).toBe(3);
      expect(pp.pr_npagealloc).toBe(2);
    });
  });

  it('logs the warning at most once per rate cap of virtual time', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'warnpl', { itemsperpage: 1, hardlimit: 1 });
    expect(pool_sethardlimit(pp, 1, 'warnpl: out of things', 10)).toBe(0);
    kernel_run(k, () => {
      getN(pp, 1);
      for (let i = 0; i < 5; i++) expect(pool_get(pp, PR_NOWAIT)).toBeNull();
    });
    expect(count(k.dmesg(), 'warnpl: out of things')).toBe(1);
    await w.advance(5_000);
    kernel_run(k, () => { expect(pool_get(pp, PR_NOWAIT)).toBeNull(); });
    expect(count(k.dmesg(), 'warnpl: out of things')).toBe(1);
    await w.advance(6_000);
    kernel_run(k, () => { expect(pool_get(pp, PR_NOWAIT)).toBeNull(); });
    expect(count(k.dmesg(), 'warnpl: out of things')).toBe(2);
    expect(pp.pr_nfail).toBe(7);
  });

  it('pool_sethardlimit refuses a limit below the items out and releases pages above the new one', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp } = thingPool(k, 'setpl', { itemsperpage: 4 });
    kernel_run(k, () => {
      const a = getN(pp, 12);
      for (const t of a.slice(4)) pool_put(pp, t);
      expect(pp.pr_npages).toBe(3);
      expect(pool_sethardlimit(pp, 3)).toBe(EINVAL);
      expect(pool_sethardlimit(pp, -1)).toBe(EINVAL);
      expect(pool_sethardlimit(pp, 2.5)).toBe(EINVAL);
      expect(pp.pr_hardlimit).toBe(Infinity);
      expect(pool_sethardlimit(pp, 4)).toBe(0);
      expect(pp.pr_hardlimit).toBe(4);
      expect(pp.pr_maxpages).toBe(1);
      expect(pp.pr_npages).toBe(1);
      expect(pp.pr_npagefree).toBe(2);
      expect(pp.pr_nitems).toBe(0);
      expect(pool_get(pp, PR_NOWAIT)).toBeNull();
      expect(pool_sethardlimit(pp, Infinity)).toBe(0);
      expect(pool_get(pp, PR_NOWAIT)).not.toBeNull();
    });
  });
});

describe('pool_get_wait', () => {
  it('sleeps on the pool until another LWP puts an item back, waking waiters in order', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'waitpl', { itemsperpage: 2, hardlimit: 2 });
    const held = kernel_run(k, () => getN(pp, 2));
    const got: { who: string; item: Thing; ms: number }[] = [];
    const waiter = (who: string) => kthread_create(k, who, async (l) => {
      const item = await pool_get_wait(pp, l);
      got.push({ who, item, ms: w.nowMs() });
    });
    const wa = waiter('wa');
    const wb = waiter('wb');
    const putter = kthread_create(k, 'putter', async (l) => {
      /* 50 ticks at hz 100: the first put comes 500 ms of virtual time later, the second 500 ms after that. */
      for (const t of held) {
        await kpause(l, 'delay', false, 50, null);
        pool_put(pp, t);
      }
    });
    await w.advance(100);
    expect(got).toEqual([]);
    expect(wa.l_stat).toBe(LSSLEEP);
    expect(wa.l_wmesg).toBe('waitpl');
    expect(wb.l_wmesg).toBe('waitpl');
    expect(pp.pr_nwaiters).toBe(2);
    /* Waiting is not failing. */
    expect(pp.pr_nfail).toBe(0);

    await w.advance(500);
    expect(got.map((g) => g.who)).toEqual(['wa']);
    expect(got[0]!.item).toBe(held[0]);
    expect(got[0]!.ms).toBeGreaterThanOrEqual(500);
    expect(wb.l_stat).toBe(LSSLEEP);
    expect(pp.pr_nwaiters).toBe(1);

    await w.advance(500);
    expect(got.map((g) => g.who)).toEqual(['wa', 'wb']);
    expect(got[1]!.item).toBe(held[1]);
    expect(got[1]!.ms).toBeGreaterThanOrEqual(1000);
    await Promise.all([kthread_join(wa), kthread_join(wb), kthread_join(putter)]);
    expect(pp.pr_nwaiters).toBe(0);
    expect(pp.pr_nout).toBe(2);
    expect(pp.pr_nget).toBe(4);
    expect(pp.pr_nput).toBe(2);
  });

  it('returns at once when an item is free', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'fastpl', { itemsperpage: 2 });
    let item: Thing | null = null;
    const l = kthread_create(k, 'getter', async (l) => { item = await pool_get_wait(pp, l); });
    await kthread_join(l);
    expect(item).toBeInstanceOf(Thing);
    expect(pp.pr_nout).toBe(1);
    expect(w.nowMs()).toBe(0);
  });

  it('wakes every waiter when the hard limit is raised', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'raisepl', { itemsperpage: 4, hardlimit: 0 });
    let n = 0;
    const ls = ['r1', 'r2', 'r3'].map((name) => kthread_create(k, name, async (l) => {
      await pool_get_wait(pp, l);
      n++;
    }));
    await w.advance(10);
    expect(pp.pr_nwaiters).toBe(3);
    kernel_run(k, () => { expect(pool_sethardlimit(pp, 2)).toBe(0); });
    await w.advance(10);
    expect(n).toBe(2);
    expect(pp.pr_nwaiters).toBe(1);
    kernel_run(k, () => { expect(pool_sethardlimit(pp, 3)).toBe(0); });
    await Promise.all(ls.map((l) => kthread_join(l)));
    expect(n).toBe(3);
    expect(pp.pr_nout).toBe(3);
  });

  it('propagates KernelHalted when the kernel halts under a waiter', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'haltpl', { itemsperpage: 1, hardlimit: 0 });
    let err: unknown = null;
    const l = kthread_create(k, 'stuck', async (l) => {
      try {
        await pool_get_wait(pp, l);
      } catch (e) {
        err = e;
        throw e;
      }
    });
    await w.advance(10);
    expect(pp.pr_nwaiters).toBe(1);
    await k.halt();
    await kthread_join(l);
    expect(err).toBeInstanceOf(KernelHalted);
    expect(pp.pr_nwaiters).toBe(0);
    expect(k.state).toBe('halted');
  });
});

describe('idle pages', () => {
  it('releases a page once more than maxidlepages pages of items sit free', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp } = thingPool(k, 'idlepl', { itemsperpage: 4, maxidlepages: 1 });
    kernel_run(k, () => {
      const a = getN(pp, 12);
      expect(pp.pr_npages).toBe(3);
      for (let i = 0; i < 7; i++) pool_put(pp, a[i]!);
      expect(pp.pr_npages).toBe(3);
      expect(pp.pr_nitems).toBe(7);
      /* The 8th free item makes two idle pages' worth: one page goes. */
      pool_put(pp, a[7]!);
      expect(pp.pr_npages).toBe(2);
      expect(pp.pr_npagefree).toBe(1);
      expect(pp.pr_nitems).toBe(4);
      for (let i = 8; i < 12; i++) pool_put(pp, a[i]!);
      expect(pp.pr_npages).toBe(1);
      expect(pp.pr_npagefree).toBe(2);
      expect(pp.pr_nitems).toBe(4);
      expect(pp.pr_nout).toBe(0);
      expect(pp.pr_hiwat).toBe(3);
      expect(pool_stat(pp).idle).toBe(1);
      /* A released item is gone for good: putting it again is a use after free. */
      expect(pp.pr_freelist.slice(0, pp.pr_nitems)).not.toContain(a[7]);
    });
  });

  it('keeps minpages primed and pool_reclaim gives back the rest', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp, made } = thingPool(k, 'minpl', { itemsperpage: 4, minpages: 2, maxidlepages: 10 });
    expect(pp.pr_npages).toBe(2);
    expect(made()).toBe(8);
    kernel_run(k, () => {
      const a = getN(pp, 20);
      for (const t of a) pool_put(pp, t);
      expect(pp.pr_npages).toBe(5);
      expect(pool_reclaim(pp)).toBe(3);
      expect(pp.pr_npages).toBe(2);
      expect(pool_reclaim(pp)).toBe(0);
      expect(pp.pr_nitems).toBe(8);
    });
  });
});

describe('statistics', () => {
  it('pool_stats gives the vmstat -m rows of this kernel only', async () => {
    const w = simWorld({ seed: 1 });
    const k1 = await bootSim(w);
    const k2 = await bootSim(w);
    const { pp: p1 } = thingPool(k1, 'netpl', { itemsperpage: 4, hardlimit: 5 });
    const { pp: p2 } = thingPool(k2, 'netpl', { itemsperpage: 4 });
    kernel_run(k1, () => {
      const a = getN(p1, 5);
      expect(pool_get(p1, PR_NOWAIT)).toBeNull();
      pool_put(p1, a[0]!);
    });
    kernel_run(k2, () => { getN(p2, 1); });
    const base = k1.pools.filter((pp) => pp !== p1).length;
    const rows = pool_stats(k1);
    expect(rows).toHaveLength(base + 1);
    expect(rows[rows.length - 1]).toEqual({
      name: 'netpl', itemsperpage: 4, requests: 5, fails: 1, releases: 1, pagesalloc: 2, pagesfree: 0,
      pages: 2, hiwat: 2, minpages: 0, maxpages: 2, idle: 1, out: 4, maxout: 5, hardlimit: 5,
    });
    /* The other kernel's pool of the same name is untouched. */
    expect(k1.pools).not.toContain(p2);
    expect(k2.pools).not.toContain(p1);
    expect(pool_stat(p2)).toMatchObject({ requests: 1, fails: 0, releases: 0, pages: 1, out: 1 });
    const text = pool_print_stats(k1);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Memory resource pool statistics');
    expect(lines[1]).toMatch(/^Name\s+Perpg\s+Requests\s+Fail\s+Releases\s+Pgreq\s+Pgrel\s+Npage\s+Hiwat\s+Minpg\s+Maxpg\s+Idle\s+Out\s+Maxout$/);
    const row = lines.find((s) => s.startsWith('netpl'))!;
    expect(row.trim().split(/\s+/)).toEqual(['netpl', '4', '5', '1', '1', '2', '0', '2', '2', '0', '2', '1', '4', '5']);
  });
});

describe('kernel bugs panic', () => {
  it('a double put panics the kernel', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'dblpl', { itemsperpage: 4 });
    const t = kernel_run(k, () => getN(pp, 1)[0]!);
    kernel_run(k, () => { pool_put(pp, t); });
    expect(() => kernel_run(k, () => { pool_put(pp, t); })).toThrow(KernelPanic);
    expect(k.state).toBe('panicked');
    expect(w.panics).toHaveLength(1);
    expect(w.panics[0]!.message).toMatch(/pool_put: dblpl: .*double free/);
    /* The bad put changed nothing. */
    expect(pp.pr_nput).toBe(1);
    expect(pp.pr_nitems).toBe(4);
  });

  it('putting a released item panics (use after free)', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'relpl', { itemsperpage: 1, maxidlepages: 0 });
    const t = kernel_run(k, () => getN(pp, 1)[0]!);
    kernel_run(k, () => { pool_put(pp, t); });
    expect(pp.pr_npages).toBe(0);
    expect(() => kernel_run(k, () => { pool_put(pp, t); })).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/relpl: item is not out/);
  });

  it('putting an item into another kernel\'s pool panics that kernel only', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k1 = await bootSim(w);
    const k2 = await bootSim(w);
    const { pp: p1 } = thingPool(k1, 'xpl', { itemsperpage: 2 });
    const { pp: p2 } = thingPool(k2, 'xpl', { itemsperpage: 2 });
    const t = kernel_run(k1, () => getN(p1, 1)[0]!);
    expect(() => kernel_run(k2, () => { pool_put(p2, t); })).toThrow(KernelPanic);
    expect(w.panics.map((p) => p.kernel)).toEqual([k2.name]);
    expect(w.panics[0]!.message).toMatch(/not from this pool/);
    expect(k2.state).toBe('panicked');
    expect(k1.state).toBe('running');
    kernel_run(k1, () => { pool_put(p1, t); });
    expect(p1.pr_nout).toBe(0);
  });

  it('pool_destroy with items out panics', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'busypl', { itemsperpage: 4 });
    kernel_run(k, () => { getN(pp, 3); });
    expect(() => kernel_run(k, () => { pool_destroy(pp); })).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toBe('pool_destroy: busypl: pool busy: still out: 3');
    expect(k.state).toBe('panicked');
  });

  it('pool_destroy of an idle pool unregisters it', async () => {
    const k = await bootSim(simWorld({ seed: 1 }));
    const { pp } = thingPool(k, 'gonepl', { itemsperpage: 4 });
    kernel_run(k, () => {
      const a = getN(pp, 5);
      for (const t of a) pool_put(pp, t);
      pool_destroy(pp);
    });
    expect(k.pools).not.toContain(pp);
    expect(pool_stats(k).map((s) => s.name)).not.toContain('gonepl');
    expect(pp.pr_npages).toBe(0);
    expect(pp.pr_npagefree).toBe(2);
  });

  it('pool_get with PR_WAITOK panics: sleeping gets go through pool_get_wait', async () => {
    expectPanics();
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const { pp } = thingPool(k, 'waitokpl');
    expect(() => kernel_run(k, () => pool_get(pp, PR_WAITOK))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/PR_WAITOK needs pool_get_wait/);
  });
});
