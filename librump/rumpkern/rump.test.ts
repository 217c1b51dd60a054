import { describe, it, expect } from 'vitest';
import { simWorld, bootSim, expectPanics } from '../../tests/kernel.ts';
import { rump_init, kthread_create, kernel_run, rump_lwproc_rfork, rump_proc_exit, RUMP_RFCFDG, RUMP_RFFDG, type KernelComponent } from './rump.ts';
import { COMPONENT_LEVELS } from './component.ts';
import { Retval, rump_syscall, syscall_establish } from './rump_syscalls.ts';
import { Callout, callout_init, callout_reset } from './kern_timeout.ts';
import { softint_establish, softint_schedule, SOFTINT_NET } from './intr.ts';
import { tsleep } from './ltsleep.ts';
import { KASSERT, KernelPanic, panic } from './subr_prf.ts';
import { SimWorld } from '../rumpuser/sim.ts';
import { EINTR, ENOSYS } from '../../include/errno.ts';

function recorder(log: string[], name: string, extra: Partial<KernelComponent> = {}): KernelComponent {
  const init: KernelComponent['init'] = {};
  for (const lvl of COMPONENT_LEVELS) {
    (init as Record<string, (k: unknown) => void>)[lvl] = () => { log.push(`${name}:${lvl}`); };
  }
  return { name, init, ...extra };
}

describe('boot and components', () => {
  it('runs component levels in NetBSD order, each component per level in list order', async () => {
    const log: string[] = [];
    const w = simWorld();
    await bootSim(w, { components: [recorder(log, 'a'), { name: 'b', init: { NET_IF: () => { log.push('b:NET_IF'); } } }] });
    expect(log).toEqual([
      'a:KERN', 'a:FACTION_VFS', 'a:VFS', 'a:FACTION_NET', 'a:NET', 'a:NET_ROUTE', 'a:NET_IF', 'b:NET_IF', 'a:NET_IFCFG',
      'a:FACTION_DEV', 'a:DEV', 'a:DEV_AFTERMAINBUS', 'a:KERN_VFS', 'a:POSTINIT', 'a:SYSCALL',
    ]);
  });

  it('async component inits may sleep during boot', async () => {
    const w = simWorld();
    const k = await bootSim(w, {
      components: [{
        name: 'slow',
        init: { NET: async (k, l) => { await tsleep(l, l, 0, 'slowinit', 50); k.hostid = 42; } },
      }],
    });
    expect(k.hostid).toBe(42);
    expect(w.nowMs()).toBe(500);
  });

  it('refuses two providers of one thing, naming both', async () => {
    const host = new SimWorld().host();
    const a: KernelComponent = { name: 'rumpnet_netinet', provides: ['domain:PF_INET'], init: {} };
    const b: KernelComponent = { name: 'rumpnet_sockin', provides: ['domain:PF_INET'], init: {} };
    await expect(rump_init({ host, components: [a, b] })).rejects.toThrow(
      'rump_init: components rumpnet_netinet and rumpnet_sockin both provide domain:PF_INET; load only one of them');
  });

  it('refuses a missing need and a declared conflict', async () => {
    const w = new SimWorld();
    await expect(rump_init({ host: w.host(), components: [{ name: 'shmif', needs: ['ifnet'], init: {} }] }))
      .rejects.toThrow('component shmif needs ifnet, which no listed component provides');
    await expect(rump_init({
      host: w.host(),
      components: [{ name: 'net', provides: ['ifnet'], init: {} }, { name: 'sockin', conflicts: ['ifnet'], init: {} }],
    })).rejects.toThrow('component sockin cannot be loaded with net (both would own ifnet)');
  });

  it('refuses two components claiming one faction, and a component listed twice', async () => {
    const w = new SimWorld();
    const f1: KernelComponent = { name: 'rumpnet', init: { FACTION_NET: () => undefined } };
    const f2: KernelComponent = { name: 'rumpnet2', init: { FACTION_NET: () => undefined } };
    await expect(rump_init({ host: w.host(), components: [f1, f2] })).rejects.toThrow(/rumpnet and rumpnet2 both initialise net faction/);
    await expect(rump_init({ host: w.host(), components: [f1, f1] })).rejects.toThrow(/rumpnet is listed twice/);
  });

  it('a failing component init fails the boot with its name and level, and halts the kernel', async () => {
    const w = new SimWorld();
    const bad: KernelComponent = { name: 'broken', init: { NET_IF: () => { throw new Error('no such device'); } } };
    await expect(rump_init({ host: w.host(), components: [bad] })).rejects.toThrow('component broken failed at NET_IF: no such device');
    expect(w.pending()).toBe(0);
  });

  it('syscalls answer ENOSYS until a component registers them at SYSCALL', async () => {
    const w = simWorld();
    const SYS_fake = 499;
    const sysLog: string[] = [];
    const k = await bootSim(w, {
      components: [{
        name: 'fake',
        init: {
          POSTINIT: (k) => { sysLog.push(`postinit sysent=${k.sysent[SYS_fake] !== undefined}`); },
          SYSCALL: (k) => {
            syscall_establish(k, [[SYS_fake, { name: 'fake', call: (_l, _u, rv) => { rv.rv0 = 7; return 0; } }]]);
          },
        },
      }],
    });
    expect(sysLog).toEqual(['postinit sysent=false']);
    const rv = new Retval();
    await rump_syscall(k, k.initproc, SYS_fake, 'fake', {}, rv);
    expect(rv.rv0).toBe(7);
    await expect(rump_syscall(k, k.initproc, 498, 'unknown', {}, new Retval())).rejects.toMatchObject({ errno: ENOSYS, code: 'ENOSYS' });
  });

  it('prints boot messages to the console and the message buffer', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const cons = (k.hyp as unknown as { consoleLines: string[] }).consoleLines;
    expect(cons[1]).toBe('NetBSD 10.0 (RUMP-ROAST) rumpts 0.1.0');
    expect(k.dmesg()).toMatch(/\[\s+0\.000000\] NetBSD 10\.0/);
    expect(k.dmesg()).toContain('component rumpkern: SYSCALL');
  });
});

describe('halt', () => {
  it('stops callouts, softints and LWPs and leaves no host event queued', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const c = new Callout();
    callout_init(c, 0, k);
    let fired = false;
    kernel_run(k, () => { callout_reset(c, 1000, () => { fired = true; }, null); });
    softint_establish(k, SOFTINT_NET, () => undefined, null);
    const errs: number[] = [];
    for (let i = 0; i < 3; i++) kthread_create(k, `t${i}`, async (l) => { errs.push(await tsleep(l, l, 0, 'idle', 0)); });
    const [r] = await k.sys.pipe();
    const blocked = k.sys.read(r, new Uint8Array(1));
    await w.advance(100);
    expect(w.pending()).toBe(1);
    await k.halt();
    await expect(blocked).rejects.toMatchObject({ errno: EINTR });
    expect(errs).toEqual([EINTR, EINTR, EINTR]);
    expect(k.alllwp.size).toBe(0);
    expect(k.cc.cc_npending).toBe(0);
    expect(k.softints.size).toBe(0);
    expect(w.pending()).toBe(0);
    await w.runUntilIdle();
    expect(fired).toBe(false);
    expect(k.state).toBe('halted');
    await expect(k.sys.getpid()).rejects.toThrow('kernel halted');
  });

  it('reboot(2) halts the kernel', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    await k.sys.reboot();
    expect(k.state).toBe('halted');
    expect(k.dmesg()).toContain('reboot requested by pid 1');
  });

  it('a kthread that ignores EINTR and sleeps again is unwound', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    let loops = 0;
    kthread_create(k, 'stubborn', async (l) => {
      for (;;) {
        loops++;
        await tsleep(l, l, 0, 'again', 0);
      }
    });
    await w.advance(1);
    await k.halt();
    expect(loops).toBe(2);
    expect(k.alllwp.size).toBe(0);
  });
});

describe('panic', () => {
  it('panic() stops only that kernel, records the message and a state summary', async () => {
    expectPanics();
    const w = simWorld();
    const k1 = await bootSim(w, { name: 'k1' });
    const k2 = await bootSim(w, { name: 'k2' });
    const [r] = await k1.sys.pipe();
    const blocked = k1.sys.read(r, new Uint8Array(1));
    await w.advance(1);
    expect(() => kernel_run(k1, () => { panic(k1, 'something broke'); })).toThrow(KernelPanic);
    expect(k1.state).toBe('panicked');
    expect(w.panics).toEqual([expect.objectContaining({ kernel: 'k1', message: 'something broke' })]);
    expect(w.panics[0]!.summary).toMatch(/lwp \d+ "read" pid 1 stat 3 sleeping on "piperd"/);
    expect(k1.dmesg()).toContain('panic: something broke');
    await expect(blocked).rejects.toBeInstanceOf(KernelPanic);
    await expect(k1.sys.getpid()).rejects.toThrow('k1: panic: something broke');
    expect(await k2.sys.getpid()).toBe(1);
    expect(k2.state).toBe('running');
  });

  it('an exception in a softint becomes a panic and does not reach the host loop', async () => {
    expectPanics();
    const w = simWorld();
    const k = await bootSim(w);
    const si = softint_establish(k, SOFTINT_NET, () => { throw new TypeError('bad pointer'); }, null);
    kernel_run(k, () => { softint_schedule(si); });
    expect(k.panicstr).toMatch(/softint .*: unexpected exception: TypeError: bad pointer/);
  });

  it('KASSERT panics with the failed expression', async () => {
    expectPanics();
    const w = simWorld();
    const k = await bootSim(w);
    expect(() => kernel_run(k, () => { KASSERT(k, 1 + 1 === 3, 'arith'); })).toThrow(/assertion "arith" failed/);
  });
});

describe('processes', () => {
  it('rfork with RUMP_RFFDG copies the descriptor table; the files are shared', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const [r, wr] = await k.sys.pipe();
    const { proc, sys } = rump_lwproc_rfork(k, RUMP_RFFDG, 'child');
    expect(await sys.getpid()).toBe(proc.p_pid);
    expect(proc.p_pptr).toBe(k.initproc);
    await sys.write(wr, 'from child');
    await sys.close(wr);
    /* The parent's descriptor still holds the write end open. */
    const buf = new Uint8Array(32);
    expect(await k.sys.read(r, buf)).toBe(10);
    await k.sys.close(wr);
    expect(await k.sys.read(r, buf)).toBe(0);
  });

  it('rfork with RUMP_RFCFDG starts with an empty table; 0 shares the table', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const clean = rump_lwproc_rfork(k, RUMP_RFCFDG, 'clean');
    await expect(clean.sys.write(1, 'x')).rejects.toMatchObject({ code: 'EBADF' });
    const shared = rump_lwproc_rfork(k, 0, 'shared');
    const fd = await shared.sys.dup(1);
    expect((await k.sys.fstat(fd)).st_mode & 0o170000).toBe(0o020000);
    expect(() => rump_lwproc_rfork(k, RUMP_RFFDG | RUMP_RFCFDG, 'bad')).toThrow(/bad flags/);
  });

  it('a process exit interrupts its sleepers and closes its descriptors', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const [r, wr] = await k.sys.pipe();
    const child = rump_lwproc_rfork(k, RUMP_RFFDG, 'client');
    await k.sys.close(wr);
    const [r2] = await child.sys.pipe();
    const blocked = child.sys.read(r2, new Uint8Array(1));
    const parentRead = k.sys.read(r, new Uint8Array(1));
    await w.advance(10);
    await rump_proc_exit(k, child.proc);
    await expect(blocked).rejects.toMatchObject({ code: 'EINTR' });
    /* The child held the last write end: the parent's reader sees end-of-file. */
    expect(await parentRead).toBe(0);
    await expect(child.sys.getpid()).rejects.toMatchObject({ code: 'ESRCH' });
    expect(k.allproc.has(child.proc.p_pid)).toBe(false);
  });
});
