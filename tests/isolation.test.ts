/*
 * Two kernels in one process share nothing: every kind of state changed in
 * one is invisible in the other.
 */
import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { kernel_run, kthread_create, proc_create, type Kernel } from '../librump/rumpkern/rump.ts';
import { Callout, callout_init, callout_reset } from '../librump/rumpkern/kern_timeout.ts';
import { softint_establish } from '../librump/rumpkern/intr.ts';
import { mutex_enter, mutex_exit, mutex_init, MUTEX_DEFAULT } from '../librump/rumpkern/locks.ts';
import { tsleep } from '../librump/rumpkern/ltsleep.ts';
import { log, LOG_NOTICE } from '../librump/rumpkern/subr_prf.ts';
import { pool_get, pool_init, PR_NOWAIT } from '../librump/rumpkern/subr_pool.ts';
import { IPL_NONE } from '../librump/rumpkern/intr.ts';

function snapshot(k: Kernel): Record<string, unknown> {
  return {
    sysctl: [...k.sysctl.walk('kern')].filter((e) => !['kern.uptime'].includes(e.name)).map((e) => `${e.name}=${String(e.value instanceof Object ? JSON.stringify(e.value) : e.value)}`),
    nfiles: k.nfiles,
    fds: k.initproc.p_fd!.fd_ofiles.filter((f) => f !== null).length,
    callouts: k.cc.cc_npending,
    softints: k.softints.size,
    lwps: k.alllwp.size,
    procs: k.allproc.size,
    lockclasses: k.ld.classes.length,
    findings: k.ld.findings.length,
    pools: k.pools.map((p) => p.pr_wchan),
    dmesgLines: k.msgbuf.msgbuf_lines().length,
    hostname: k.hostname,
    ticks: k.ticks,
    state: k.state,
  };
}

describe('two kernels in one process', () => {
  it('share no state', async () => {
    const w = simWorld({ seed: 7 });
    const a = await bootSim(w, { name: 'a', lockdebug: 'log' });
    const b = await bootSim(w, { name: 'b', lockdebug: 'log', hostname: 'rump-1.sim' });
    /* Same hostname on purpose: only identity differs. */
    const before = snapshot(b);
    expect(snapshot(a)).toEqual({ ...before, hostname: a.hostname });

    await a.sys.sysctl('kern.hostname', 'changed.example');
    await a.sys.sysctl('kern.maxfiles', 100);
    await a.sys.sysctl('kern.hostid', 99);
    await a.sys.pipe();
    await a.sys.dup(1);
    const c = new Callout();
    callout_init(c, 0, a);
    kernel_run(a, () => { callout_reset(c, 5000, () => undefined, null); });
    softint_establish(a, 0, () => undefined, null);
    kthread_create(a, 'sleeper', async (l) => { await tsleep(l, l, 0, 'forever', 0); });
    const m = mutex_init(a, 'only_in_a', MUTEX_DEFAULT, IPL_NONE);
    kernel_run(a, () => { mutex_exit(m); });
    kernel_run(a, () => { mutex_enter(m); mutex_exit(m); });
    log(a, LOG_NOTICE, 'a private message\n');
    const pp = pool_init(a, 'apool', () => ({ x: 0 }));
    kernel_run(a, () => { pool_get(pp, PR_NOWAIT); });
    a.cprng.cprng_fast32();
    proc_create(a, 'client', a.initproc);
    await w.advance(2000);

    const changed = snapshot(a);
    for (const key of Object.keys(before)) {
      if (key === 'ticks' || key === 'sysctl' || key === 'state') continue;
      expect(changed[key], key).not.toEqual(before[key]);
    }
    const bNow = snapshot(b);
    expect({ ...bNow, ticks: 0, sysctl: (bNow.sysctl as string[]).filter((s) => !s.startsWith('kern.hardclock_ticks')) })
      .toEqual({ ...before, ticks: 0, sysctl: (before.sysctl as string[]).filter((s) => !s.startsWith('kern.hardclock_ticks')) });
    expect(await b.sys.sysctl('kern.hostname')).toBe('rump-1.sim');
    expect(await b.sys.sysctl('kern.maxfiles')).toBe(3404);
    expect(b.dmesg()).not.toContain('a private message');

    /* Halting one leaves the other running. */
    await a.halt();
    expect(await b.sys.getpid()).toBe(1);
    expect(b.state).toBe('running');
  });

  it('kernels on one world draw different random streams; the same seed repeats them', async () => {
    const w1 = simWorld({ seed: 3 });
    const a = await bootSim(w1);
    const b = await bootSim(w1);
    const ra = [a.cprng.cprng_strong32(), a.cprng.cprng_strong32()];
    const rb = [b.cprng.cprng_strong32(), b.cprng.cprng_strong32()];
    expect(ra).not.toEqual(rb);
    const w2 = simWorld({ seed: 3 });
    const a2 = await bootSim(w2);
    expect([a2.cprng.cprng_strong32(), a2.cprng.cprng_strong32()]).toEqual(ra);
  });
});
