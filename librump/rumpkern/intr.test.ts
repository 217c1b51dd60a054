import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import { kernel_run, kthread_create } from './rump.ts';
import {
  cpu_intr_p, cpu_softintr_p, intr_dispatch, IPL_NET, IPL_NONE, IPL_SOFTNET, softint_disestablish, softint_establish,
  softint_schedule, SOFTINT_BIO, SOFTINT_CLOCK, SOFTINT_NET, SOFTINT_SERIAL, splhigh, splnet, splsoftnet, splx,
} from './intr.ts';
import { tsleep, wakeup } from './ltsleep.ts';

describe('softints', () => {
  it('softint_schedule() only queues; the softint runs when the context gives the CPU up', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const log: string[] = [];
    const si = softint_establish(k, SOFTINT_NET, () => {
      log.push(`ran soft=${cpu_softintr_p(k)} intr=${cpu_intr_p(k)}`);
    }, null);
    kernel_run(k, () => {
      softint_schedule(si);
      softint_schedule(si);
      log.push('scheduled');
    });
    expect(log).toEqual(['scheduled', 'ran soft=true intr=false']);
    expect(si.si_count).toBe(1);
  });

  it('pending softints run highest level first', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const order: string[] = [];
    const mk = (lvl: number, name: string) => softint_establish(k, lvl, () => { order.push(name); }, null);
    const sis = [mk(SOFTINT_CLOCK, 'clock'), mk(SOFTINT_BIO, 'bio'), mk(SOFTINT_NET, 'net'), mk(SOFTINT_SERIAL, 'serial')];
    kernel_run(k, () => { for (const si of sis) softint_schedule(si); });
    expect(order).toEqual(['serial', 'net', 'bio', 'clock']);
  });

  it('a hard interrupt that schedules a softint has it run at interrupt return (inline mode)', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const log: string[] = [];
    const si = softint_establish(k, SOFTINT_NET, () => { log.push('softnet'); }, null);
    const before = k.cpu.ci_softint_inline;
    intr_dispatch(k, IPL_NET, () => { log.push(`hard intr=${cpu_intr_p(k)} ipl=${k.cpu.ci_ilevel}`); softint_schedule(si); }, null);
    expect(log).toEqual([`hard intr=true ipl=${IPL_NET}`, 'softnet']);
    expect(k.cpu.ci_softint_inline).toBe(before + 1);
    expect(k.cpu.ci_ilevel).toBe(IPL_NONE);
  });

  it('deferred mode runs softints on a later host turn and counts them separately', async () => {
    const w = simWorld();
    const k = await bootSim(w, { softints: 'deferred' });
    const log: string[] = [];
    const si = softint_establish(k, SOFTINT_NET, () => { log.push('softnet'); }, null);
    const inline0 = k.cpu.ci_softint_inline;
    intr_dispatch(k, IPL_NET, () => { softint_schedule(si); }, null);
    expect(log).toEqual([]);
    await w.advance(0);
    expect(log).toEqual(['softnet']);
    expect(k.cpu.ci_softint_inline).toBe(inline0);
    expect(k.cpu.ci_softint_deferred).toBeGreaterThanOrEqual(1);
    expect(await k.sys.sysctl('kern.softint.mode')).toBe('deferred');
  });

  it('softints scheduled by an LWP run when it sleeps, before other LWPs run', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const log: string[] = [];
    const chan = {};
    const si = softint_establish(k, SOFTINT_NET, () => { log.push('soft'); wakeup(k, chan); }, null);
    kthread_create(k, 'a', async (l) => {
      softint_schedule(si);
      log.push('a before sleep');
      await tsleep(l, chan, 0, 'a', 0);
      log.push('a woken');
    });
    await w.advance(1);
    expect(log).toEqual(['a before sleep', 'soft', 'a woken']);
  });

  it('softint_disestablish() drops a pending softint', async () => {
    const w = simWorld();
    const k = await bootSim(w, { softints: 'deferred' });
    let ran = 0;
    const si = softint_establish(k, SOFTINT_NET, () => { ran++; }, null);
    kernel_run(k, () => { softint_schedule(si); softint_disestablish(si); softint_schedule(si); });
    await w.advance(1);
    expect(ran).toBe(0);
  });
});

describe('spl', () => {
  it('splx() restores the level; spl functions raise, never lower', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    kernel_run(k, () => {
      const s = splsoftnet(k);
      expect(s).toBe(IPL_NONE);
      expect(k.cpu.ci_ilevel).toBe(IPL_SOFTNET);
      const s2 = splhigh(k);
      const s3 = splnet(k);
      expect(k.cpu.ci_ilevel).toBe(7);
      splx(k, s3);
      splx(k, s2);
      expect(k.cpu.ci_ilevel).toBe(IPL_SOFTNET);
      splx(k, s);
      expect(k.cpu.ci_ilevel).toBe(IPL_NONE);
    });
  });

  it('a hard interrupt arriving while masked is deferred to splx()', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const log: string[] = [];
    kernel_run(k, () => {
      const s = splnet(k);
      intr_dispatch(k, IPL_NET, () => { log.push('intr'); }, null);
      log.push('masked');
      splx(k, s);
      log.push('unmasked');
    });
    expect(log).toEqual(['masked', 'intr', 'unmasked']);
  });
});
