/*
 * Same seed, same run: two simulated runs of a busy scenario produce the
 * same event trace, bit for bit; another seed produces another one.
 */
import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { kthread_create } from '../librump/rumpkern/rump.ts';
import { kpause, tsleep, wakeup } from '../librump/rumpkern/ltsleep.ts';
import { Callout, callout_init, callout_reset } from '../librump/rumpkern/kern_timeout.ts';

async function scenario(seed: number): Promise<{ trace: string[]; world: string[]; dmesg: string[] }> {
  const w = simWorld({ seed, trace: true });
  const trace: string[] = [];
  const kernels = [await bootSim(w, { name: 'k0' }), await bootSim(w, { name: 'k1', softints: 'deferred' })];
  for (const k of kernels) {
    const chan = {};
    const rec = (what: string): void => { trace.push(`${w.nowNs()} ${k.name} t${k.ticks} ${what}`); };
    /* Kernel threads sleeping for random times, waking each other. */
    for (let i = 0; i < 4; i++) {
      kthread_create(k, `worker${i}`, async (l) => {
        for (let n = 0; n < 5; n++) {
          const d = 1 + k.cprng.cprng_uniform32(50);
          await kpause(l, 'work', false, d, null);
          rec(`worker${i} slept ${d}`);
          wakeup(k, chan);
        }
      });
    }
    kthread_create(k, 'waiter', async (l) => {
      for (let n = 0; n < 10; n++) {
        const e = await tsleep(l, chan, 0, 'wait', 1 + k.cprng.cprng_uniform32(30));
        rec(`waiter ${e}`);
      }
    });
    /* Callouts at random ticks, some re-arming themselves. */
    for (let i = 0; i < 8; i++) {
      const c = new Callout();
      callout_init(c, 0, k);
      let left = 3;
      const fn = (): void => {
        rec(`callout${i}`);
        if (--left > 0) callout_reset(c, 1 + k.cprng.cprng_uniform32(400), fn, null);
      };
      callout_reset(c, 1 + k.cprng.cprng_uniform32(400), fn, null);
    }
    /* Syscalls racing with all of it. */
    const [r, wr] = await k.sys.pipe();
    const reader = (async () => {
      const buf = new Uint8Array(64);
      for (;;) {
        const n = await k.sys.read(r, buf);
        if (n === 0) break;
        rec(`read ${n}`);
      }
    })();
    for (let i = 0; i < 5; i++) {
      await k.sys.poll([{ fd: r, events: 1, revents: 0 }], 1 + k.cprng.cprng_uniform32(100));
      await k.sys.write(wr, new Uint8Array(1 + k.cprng.cprng_uniform32(60)));
    }
    await k.sys.close(wr);
    await reader;
  }
  await w.runUntilIdle();
  return { trace, world: w.trace!, dmesg: kernels.map((k) => k.dmesg()) };
}

describe('determinism', () => {
  it('two runs with one seed produce the same event trace', async () => {
    const r1 = await scenario(12345);
    const r2 = await scenario(12345);
    expect(r1.trace.length).toBeGreaterThan(100);
    expect(r2.trace).toEqual(r1.trace);
    expect(r2.world).toEqual(r1.world);
    expect(r2.dmesg).toEqual(r1.dmesg);
  });

  it('another seed gives another trace', async () => {
    const r1 = await scenario(1);
    const r2 = await scenario(2);
    expect(r2.trace).not.toEqual(r1.trace);
  });
});
