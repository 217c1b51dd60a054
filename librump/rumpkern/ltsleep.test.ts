import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import { kthread_create, kthread_join, kernel_run } from './rump.ts';
import { kpause, mtsleep, tsleep, wakeup } from './ltsleep.ts';
import { cv_broadcast, cv_init, cv_signal, cv_timedwait, cv_wait, mutex_enter, mutex_exit, mutex_init, mutex_owned, MUTEX_DEFAULT } from './locks.ts';
import { IPL_NONE } from './intr.ts';
import { EINTR, EWOULDBLOCK } from '../../include/errno.ts';

describe('tsleep/wakeup', () => {
  it('tsleep() sleeps until wakeup() on its channel and returns 0', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const chan = {};
    const log: string[] = [];
    const t = kthread_create(k, 'sleeper', async (l) => {
      log.push('sleep');
      const e = await tsleep(l, chan, 0, 'test', 0);
      log.push(`woke ${e} at ${w.nowMs()}`);
    });
    await w.advance(500);
    expect(log).toEqual(['sleep']);
    kernel_run(k, () => { wakeup(k, {}); });
    await w.advance(1);
    expect(log).toEqual(['sleep']);
    kernel_run(k, () => { wakeup(k, chan); });
    await kthread_join(t);
    expect(log).toEqual(['sleep', 'woke 0 at 501']);
  });

  it('tsleep() with a timeout returns EWOULDBLOCK after exactly that many ticks', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    let res = '';
    const t = kthread_create(k, 'timed', async (l) => {
      const start = w.nowMs();
      const e = await tsleep(l, l, 0, 'timed', 37);
      res = `${e} after ${w.nowMs() - start}`;
    });
    await w.runUntilIdle();
    await kthread_join(t);
    expect(res).toBe(`${EWOULDBLOCK} after 370`);
  });

  it('a wakeup before the timeout cancels the timeout', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const chan = {};
    let res = -1;
    kthread_create(k, 'timed', async (l) => { res = await tsleep(l, chan, 0, 'timed', 100); });
    await w.advance(200);
    kernel_run(k, () => { wakeup(k, chan); });
    await w.advance(0);
    expect(res).toBe(0);
    /* The timeout callout was stopped: nothing left on the wheel. */
    expect(k.cc.cc_npending).toBe(0);
  });

  it('wakeup() wakes every sleeper on the channel, in the order they slept', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const chan = {};
    const order: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      kthread_create(k, name, async (l) => {
        await tsleep(l, chan, 0, 'many', 0);
        order.push(name);
      });
    }
    await w.advance(10);
    kernel_run(k, () => { wakeup(k, chan); });
    await w.advance(0);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('kpause() sleeps for its ticks and returns EWOULDBLOCK', async () => {
    const w = simWorld();
    const k = await bootSim(w, { hz: 1000 });
    const times: number[] = [];
    const t = kthread_create(k, 'pauser', async (l) => {
      for (let i = 0; i < 3; i++) {
        expect(await kpause(l, 'pause', false, 250, null)).toBe(EWOULDBLOCK);
        times.push(w.nowMs());
      }
    });
    await w.runUntilIdle();
    await kthread_join(t);
    expect(times).toEqual([250, 500, 750]);
  });

  it('halting the kernel interrupts sleepers with EINTR', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    let res = -1;
    const t = kthread_create(k, 'forever', async (l) => { res = await tsleep(l, l, 0, 'forever', 0); });
    await w.advance(10);
    await k.halt();
    await kthread_join(t);
    expect(res).toBe(EINTR);
    expect(k.state).toBe('halted');
    expect(k.alllwp.size).toBe(0);
  });
});

describe('condition variables', () => {
  it('cv_wait() releases the interlock while asleep and holds it again on return', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const mtx = mutex_init(k, 'test_lock', MUTEX_DEFAULT, IPL_NONE);
    const cv = cv_init(k, 'testcv');
    let ready = false;
    const seen: string[] = [];
    const t = kthread_create(k, 'waiter', async (l) => {
      mutex_enter(mtx);
      while (!ready) await cv_wait(cv, mtx, l);
      seen.push(`owned=${mutex_owned(mtx)}`);
      mutex_exit(mtx);
    });
    kthread_create(k, 'signaller', async (l) => {
      await kpause(l, 'later', false, 10, null);
      mutex_enter(mtx);
      ready = true;
      cv_signal(cv);
      mutex_exit(mtx);
    });
    await w.runUntilIdle();
    await kthread_join(t);
    expect(seen).toEqual(['owned=true']);
    expect(mtx.mtx_owner).toBeNull();
  });

  it('cv_signal() wakes one waiter (FIFO), cv_broadcast() all', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const mtx = mutex_init(k, 'q_lock', MUTEX_DEFAULT, IPL_NONE);
    const cv = cv_init(k, 'qcv');
    const woke: string[] = [];
    for (const name of ['w1', 'w2', 'w3']) {
      kthread_create(k, name, async (l) => {
        mutex_enter(mtx);
        await cv_wait(cv, mtx, l);
        woke.push(name);
        mutex_exit(mtx);
      });
    }
    await w.advance(1);
    kernel_run(k, () => { cv_signal(cv); });
    await w.advance(1);
    expect(woke).toEqual(['w1']);
    kernel_run(k, () => { cv_broadcast(cv); });
    await w.advance(1);
    expect(woke).toEqual(['w1', 'w2', 'w3']);
  });

  it('cv_timedwait() times out with EWOULDBLOCK holding the mutex', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const mtx = mutex_init(k, 't_lock', MUTEX_DEFAULT, IPL_NONE);
    const cv = cv_init(k, 'tcv');
    let res = '';
    const t = kthread_create(k, 'tw', async (l) => {
      mutex_enter(mtx);
      const e = await cv_timedwait(cv, mtx, 5, l);
      res = `${e} ${mutex_owned(mtx)} ${w.nowMs()}`;
      mutex_exit(mtx);
    });
    await w.runUntilIdle();
    await kthread_join(t);
    expect(res).toBe(`${EWOULDBLOCK} true 50`);
  });

  it('many LWPs woken at once each get the interlock in turn (no false contention)', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const mtx = mutex_init(k, 'herd_lock', MUTEX_DEFAULT, IPL_NONE);
    const cv = cv_init(k, 'herd');
    let inside = 0;
    let maxInside = 0;
    let done = 0;
    for (let i = 0; i < 20; i++) {
      kthread_create(k, `h${i}`, async (l) => {
        mutex_enter(mtx);
        await cv_wait(cv, mtx, l);
        inside++;
        maxInside = Math.max(maxInside, inside);
        /* an async hop while holding the interlock: nobody else may run */
        await Promise.resolve();
        inside--;
        done++;
        mutex_exit(mtx);
      });
    }
    await w.advance(1);
    kernel_run(k, () => { cv_broadcast(cv); });
    await w.advance(1);
    expect(done).toBe(20);
    expect(maxInside).toBe(1);
  });

  it('mtsleep() with an interlock keeps other LWPs out until it sleeps', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const mtx = mutex_init(k, 'il', MUTEX_DEFAULT, IPL_NONE);
    const chan = {};
    const log: string[] = [];
    kthread_create(k, 'a', async (l) => {
      mutex_enter(mtx);
      log.push('a locked');
      await mtsleep(l, chan, 0, 'a', 0, mtx);
      log.push('a back');
      mutex_exit(mtx);
    });
    kthread_create(k, 'b', async () => {
      mutex_enter(mtx);
      log.push('b locked');
      wakeup(k, chan);
      mutex_exit(mtx);
    });
    await w.advance(1);
    expect(log).toEqual(['a locked', 'b locked', 'a back']);
  });
});
