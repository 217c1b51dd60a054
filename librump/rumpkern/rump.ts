/*
 * The kernel object and rump_init(): boot, halt, panic teardown.
 *
 * A Kernel holds every piece of kernel state (nothing lives at module
 * level), so any number of kernels run side by side in one process.  Boot
 * follows NetBSD's rump_init(): hypercall init, boot time, message buffer,
 * clock and callouts, sysctl, cprng, proc0 and lwp0, then the components
 * level by level (KERN, the VFS, NET and DEV factions, KERN_VFS, POSTINIT,
 * SYSCALL); syscalls answer ENOSYS until their component registers them
 * at SYSCALL.  Halting wakes every sleeping LWP with EINTR, waits for all
 * of them to leave, stops callouts and softints and releases the host, so
 * a process whose kernels are halted exits by itself.
 */

import {
  RUMPUSER_CLOCK_RELWALL, RUMPUSER_PARAM_HOSTNAME, RUMPUSER_VERSION,
  type RumpHyperup, type RumpUser, type Timespec,
} from '../../include/rumpuser.ts';
import { EINTR, strerror } from '../../include/errno.ts';
import { CpuInfo, cpu_acquire, cpu_release, entry_exception, setrunnable, softint_disestablish, softint_host, type Softint } from './intr.ts';
import { callout_startup, callout_stop, type CalloutCpu, type Callout } from './kern_timeout.ts';
import { clock_earlier, clock_intr, clock_rearm, softclock, tick_sync } from './kern_clock.ts';
import { Lockdebug, type LockdebugLock, type LockdebugMode } from './subr_lockdebug.ts';
import { SleepTab, sleepq_unsleep, KernelHalted } from './ltsleep.ts';
import { Msgbuf } from './subr_log.ts';
import { aprint_normal, aprint_verbose, printf, KernelPanic } from './subr_prf.ts';
import { Sysctl } from './kern_sysctl.ts';
import { Cprng } from './subr_cprng.ts';
import { lwp_create, lwp_exit, proc_create, LW_RUMP_QEXIT, LW_SYSTEM, LSSLEEP, type Lwp, type Proc } from './lwproc.ts';
import { Filedesc, fd_copy, fd_free } from './kern_descrip.ts';
import { component_check, COMPONENT_LEVELS, type RumpComponent } from './component.ts';
import { Kmutex } from './locks.ts';
import type { Pool } from './subr_pool.ts';
import { RumpSys, type Sysent } from './rump_syscalls.ts';
import { rumpkern_component } from './rumpkern_component.ts';

export const OSTYPE = 'NetBSD';
export const OSRELEASE = '10.0';
export const OSREVISION = 1000000000;
export const KERNCONF = 'RUMP-ROAST';
export const RUMPTS_VERSION = 'rumpts 0.1.0';

export type KernelComponent = RumpComponent<Kernel, Lwp>;

export interface RumpInitOptions {
  /** The hypercall layer: new NodeHost() or simWorld.host(). */
  host: RumpUser;
  /** Components to boot, besides the kernel core itself. */
  components?: readonly KernelComponent[];
  /** Name used in messages and panics; default the hostname. */
  name?: string;
  /** Clock rate; default 100, as NetBSD's conf/param.c. */
  hz?: number;
  /**
   * 'inline': pending softints run before control returns to the host
   * loop; 'deferred': on a later turn (the host's sched_soft).  Default inline.
   */
  softints?: 'inline' | 'deferred';
  /** Default: 'panic' on the sim host (tests), 'off' on a real host. */
  lockdebug?: LockdebugMode;
  /** Initial value of the 32-bit tick counter (to exercise wraparound). */
  ticks0?: number;
  /** RUMP_VERBOSE: print verbose boot messages on the console. */
  verbose?: boolean;
  /** Overrides the host's _RUMPUSER_HOSTNAME. */
  hostname?: string;
  /**
   * sysctl values set once every component has initialised, before the
   * kernel runs (NetBSD's /etc/sysctl.conf at boot), e.g.
   * { 'net.inet.tcp.vtw.enable': 1 }.  A bad name or value fails the boot.
   */
  sysctls?: Readonly<Record<string, number | string | bigint>>;
}

export type KernelState = 'booting' | 'running' | 'halting' | 'halted' | 'panicked';

export class Kernel {
  readonly name: string;
  readonly hyp: RumpUser;
  readonly hz: number;
  readonly tick_ns: number;
  /** Host monotonic time at boot (ns). */
  readonly mono0: number;
  /** Ticks counted since boot (unbounded; cc.cc_ticks is its int32 form). */
  elapsed = 0;
  /** Tick (since boot) the host timer is armed for; Infinity if none. */
  clock_armed = Infinity;
  /** The clock is being processed: callout_schedule need not re-arm. */
  inclock = false;
  readonly boottime: Timespec = { tv_sec: 0, tv_nsec: 0 };
  readonly softintInline: boolean;
  readonly verbose: boolean;
  cold = true;
  state: KernelState = 'booting';
  /** Halting or panicked: no new sleeps. */
  dying = false;
  /** No kernel code runs any more. */
  dead = false;
  panicstr: string | null = null;

  readonly cpu = new CpuInfo();
  readonly ld: Lockdebug;
  readonly sleeptab = new SleepTab();
  readonly softints = new Set<Softint>();
  readonly cc: CalloutCpu;
  readonly msgbuf = new Msgbuf();
  readonly sysctl = new Sysctl();
  readonly cprng: Cprng;
  readonly pools: Pool<object>[] = [];
  readonly allproc = new Map<number, Proc>();
  readonly alllwp = new Set<Lwp>();
  /** Exited implicit LWPs, reused by lwp_create. */
  readonly lwpfree: Lwp[] = [];
  nextpid = 0;
  nextlid = 1;
  readonly proc0: Proc;
  /** The boot context, and the owner of locks taken outside any context. */
  readonly lwp0: Lwp;
  /** Pseudo-LWPs naming the hard interrupt and softint contexts. */
  readonly lwp_intr: Lwp;
  readonly lwp_softint: Lwp;
  /** init (pid 1): the process local syscalls run in. */
  readonly initproc: Proc;
  hostname: string;
  domainname = '';
  hostid = 0;
  maxfiles = 3404;
  /** Open files, against maxfiles. */
  nfiles = 0;
  nextino = 2;
  readonly sysent: (Sysent | undefined)[] = [];
  readonly components: string[] = [];
  /** Syscalls through the local process (rump_sys_* in spirit). */
  readonly sys: RumpSys;
  private haltPromise: Promise<void> | null = null;
  private lwpsGone: (() => void) | null = null;

  constructor(opts: RumpInitOptions) {
    const hyp = opts.host;
    this.hyp = hyp;
    const up: RumpHyperup = {
      hyp_intr_clock: () => { clock_intr(this); },
      hyp_intr_soft: () => { softint_host(this); },
    };
    const err = hyp.rumpuser_init(RUMPUSER_VERSION, up);
    if (err !== 0) throw new Error(`rump_init: rumpuser_init failed: ${strerror(err)} (host already in use, or version mismatch)`);
    this.hostname = opts.hostname ?? hyp.rumpuser_getparam(RUMPUSER_PARAM_HOSTNAME) ?? 'rump';
    this.name = opts.name ?? this.hostname;
    const hz = opts.hz ?? 100;
    if (!Number.isInteger(hz) || hz < 1 || hz > 10000) throw new RangeError(`rump_init: hz ${hz} out of range 1..10000`);
    this.hz = hz;
    this.tick_ns = 1e9 / hz;
    this.softintInline = (opts.softints ?? 'inline') === 'inline';
    this.verbose = opts.verbose ?? (hyp.rumpuser_getparam('RUMP_VERBOSE') ?? '0') !== '0';
    this.ld = new Lockdebug(this, opts.lockdebug ?? (hyp.hostkind === 'sim' ? 'panic' : 'off'));
    hyp.rumpuser_clock_gettime(RUMPUSER_CLOCK_RELWALL, this.boottime);
    this.mono0 = hyp.rumpuser_clock_monotonic();
    this.cc = callout_startup(this, opts.ticks0 ?? 0, softclock);
    this.cc.cc_earlier = (rel) => { clock_earlier(this, rel); };
    const seed = new Uint8Array(32);
    hyp.rumpuser_getrandom(seed, 0);
    this.cprng = new Cprng(seed, 'kern');
    seed.fill(0);
    this.proc0 = proc_create(this, 'system', null);
    this.lwp0 = lwp_create(this, this.proc0, 'lwp0', LW_SYSTEM);
    this.lwp_intr = lwp_create(this, this.proc0, 'intr', LW_SYSTEM);
    this.lwp_softint = lwp_create(this, this.proc0, 'softint', LW_SYSTEM);
    /* The pseudo-LWPs never run as LWPs; keep them out of the LWP list. */
    for (const l of [this.lwp0, this.lwp_intr, this.lwp_softint]) {
      this.alllwp.delete(l);
      this.proc0.p_nlwps--;
    }
    this.initproc = proc_create(this, 'rumplocal', this.proc0);
    this.sys = new RumpSys(this, this.initproc);
  }

  /** Uptime in nanoseconds, from the host's monotonic clock. */
  uptimeNs(): number {
    return this.hyp.rumpuser_clock_monotonic() - this.mono0;
  }

  /** hardclock_ticks: the 32-bit tick counter. */
  get ticks(): number {
    return this.cc.cc_ticks;
  }

  tick_sync(): void {
    tick_sync(this);
  }

  isSpinLock(lk: LockdebugLock): boolean {
    return lk instanceof Kmutex && lk.mtx_spin;
  }

  /** The kernel message buffer as dmesg(8) prints it. */
  dmesg(): string {
    return this.msgbuf.dmesg();
  }

  /** A state summary for panics and debugging. */
  stateSummary(): string {
    const ci = this.cpu;
    const cur = ci.ci_curlwp;
    const lines = [
      `uptime ${(this.uptimeNs() / 1e9).toFixed(6)} s, ticks ${this.ticks}, ilevel ${ci.ci_ilevel}, ` +
        `idepth ${ci.ci_idepth}, softint ${ci.ci_softlevel}`,
      `curlwp: ${cur === null ? 'none' : `${cur.l_lid} "${cur.l_name}"`}`,
      `held locks: ${this.ld.held.length === 0 ? 'none' : this.ld.heldNames()}`,
      `callouts pending: ${this.cc.cc_npending}`,
    ];
    for (const l of this.alllwp) {
      const w = l.l_stat === LSSLEEP ? ` sleeping on "${l.l_wmesg}"` : '';
      lines.push(`lwp ${l.l_lid} "${l.l_name}" pid ${l.l_proc.p_pid} stat ${l.l_stat}${w}`);
    }
    return lines.join('\n');
  }

  /**
   * Stop this kernel after a panic: nothing more runs, the host is
   * released, sleepers are woken so that they unwind.
   */
  die(): void {
    if (this.dead) return;
    this.state = 'panicked';
    this.dying = true;
    this.dead = true;
    this.abortSleepers();
    this.hyp.rumpuser_fini();
    this.lwpsGone?.();
  }

  private abortSleepers(): void {
    for (const l of this.sleeptab.all()) sleepq_unsleep(this, l, EINTR);
  }

  /** Called by lwp_exit: resolves halt's wait when the last LWP leaves. */
  lwpExited(): void {
    if (this.dying && this.alllwp.size === 0) this.lwpsGone?.();
  }

  /**
   * Halt the kernel (rump_sys_reboot): wake every sleeper with EINTR, wait
   * for all LWPs to leave, stop callouts and softints, release the host.
   */
  halt(): Promise<void> {
    if (this.haltPromise === null) this.haltPromise = this.doHalt();
    return this.haltPromise;
  }

  private async doHalt(): Promise<void> {
    if (this.state === 'panicked') return;
    this.state = 'halting';
    this.dying = true;
    printf(this, 'rump kernel halting...\n');
    const gone = new Promise<void>((resolve) => { this.lwpsGone = resolve; });
    this.abortSleepers();
    if (this.alllwp.size > 0) {
      /* LWPs unwind on microtasks; an LWP stuck on a foreign promise must not hang the halt. */
      let turns = 0;
      const tick = (): Promise<void> => new Promise((r) => { queueMicrotask(r); });
      while (this.alllwp.size > 0 && turns++ < 10000) await Promise.race([gone, tick()]);
      if (this.alllwp.size > 0) {
        printf(this, `halt: ${this.alllwp.size} lwp(s) did not exit: ${[...this.alllwp].map((l) => `${l.l_lid} "${l.l_name}"`).join(', ')}\n`);
      }
    }
    for (let b = 0; b < this.cc.cc_head.length; b++) {
      for (let c: Callout | null = this.cc.cc_head[b]!; c !== null; c = this.cc.cc_head[b]!) callout_stop(c);
    }
    for (const si of [...this.softints]) softint_disestablish(si);
    printf(this, 'halted\n');
    this.dead = true;
    this.state = 'halted';
    this.hyp.rumpuser_fini();
  }
}

/**
 * Run fn as a kernel context on this kernel's CPU, synchronously (for boot
 * code, tools and tests that poke kernel internals).  The CPU must be free.
 */
export function kernel_run<T>(k: Kernel, fn: (l: Lwp) => T): T {
  if (!cpu_acquire(k, k.lwp0)) throw new Error(`${k.name}: kernel_run: the CPU is busy`);
  /* A kernel entry like any other: ticks must be current before callouts are armed. */
  k.tick_sync();
  try {
    return fn(k.lwp0);
  } finally {
    if (k.cpu.ci_curlwp === k.lwp0) cpu_release(k, k.lwp0);
  }
}

/** Wait until l has the CPU (rump_schedule). */
export function lwp_schedule(k: Kernel, l: Lwp): Promise<number> | null {
  if (cpu_acquire(k, l)) return null;
  const p = new Promise<number>((resolve) => { l.l_wake = resolve; });
  l.l_sleeperr = 0;
  setrunnable(k, l);
  return p;
}

/** kthread_create(9): a kernel thread in proc0 running fn until it returns. */
export function kthread_create(k: Kernel, name: string, fn: (l: Lwp) => Promise<void>): Lwp {
  const l = lwp_create(k, k.proc0, name, LW_SYSTEM);
  l.l_done = new Promise<void>((resolve) => { l.l_doneResolve = resolve; });
  void kthread_run(k, l, fn);
  return l;
}

async function kthread_run(k: Kernel, l: Lwp, fn: (l: Lwp) => Promise<void>): Promise<void> {
  try {
    const w = lwp_schedule(k, l);
    if (w !== null) await w;
    if (k.dead) return;
    await fn(l);
    lwp_leave_check(k, l, 'kthread');
  } catch (e) {
    if (!(e instanceof KernelHalted)) entry_exception(k, e, `kthread ${l.l_name}`);
  } finally {
    if (k.cpu.ci_curlwp === l) cpu_release(k, l);
    lwp_exit(k, l);
  }
}

/** kthread_join(9). */
export function kthread_join(l: Lwp): Promise<void> {
  return l.l_done ?? Promise.resolve();
}

/** An LWP leaves the kernel: it must hold no lock. */
export function lwp_leave_check(k: Kernel, l: Lwp, what: string): void {
  if (k.ld.enabled && k.ld.held.length > 0 && !k.dead) {
    k.ld.abort('sleep-locked', `${what} "${l.l_name}" left the kernel holding ${k.ld.heldNames()}`);
  }
}

/**
 * rump_init(): boot a kernel.  Throws ComponentError for a bad component
 * list, before touching the host.
 */
export async function rump_init(opts: RumpInitOptions): Promise<Kernel> {
  const list: KernelComponent[] = [rumpkern_component, ...(opts.components ?? [])];
  component_check(list);
  const k = new Kernel(opts);
  const l = k.lwp0;
  cpu_acquire(k, l);
  /* The caller awaits the boot: a component that sleeps lets virtual time run. */
  k.hyp.rumpuser_sp_activity(1);
  try {
    aprint_normal(k, `Copyright (c) 1996-2026 The NetBSD Foundation, Inc.  All rights reserved.\n`);
    aprint_normal(k, `${OSTYPE} ${OSRELEASE} (${KERNCONF}) ${RUMPTS_VERSION}\n`);
    aprint_normal(k, `rump kernel ${k.name}: host ${k.hyp.hostkind}, hz ${k.hz}, softints ${k.softintInline ? 'inline' : 'deferred'}, lockdebug ${k.ld.mode}\n`);
    for (const level of COMPONENT_LEVELS) {
      if (level === 'POSTINIT') {
        k.cold = false;
      }
      for (const c of list) {
        const init = c.init[level];
        if (init === undefined) continue;
        aprint_verbose(k, `component ${c.name}: ${level}\n`);
        try {
          const r = init(k, l);
          if (r !== undefined) await r;
        } catch (e) {
          if (e instanceof KernelPanic) throw e;
          throw new Error(`rump_init: component ${c.name} failed at ${level}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        if (!k.components.includes(c.name)) k.components.push(c.name);
      }
    }
    for (const [name, value] of Object.entries(opts.sysctls ?? {})) {
      try {
        k.sysctl.set(name, value);
      } catch (e) {
        throw new Error(`rump_init: sysctl ${name}=${String(value)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    }
    k.state = 'running';
    aprint_normal(k, `components: ${k.components.join(' ')}\n`);
  } catch (e) {
    k.hyp.rumpuser_sp_activity(-1);
    if (k.cpu.ci_curlwp === l) cpu_release(k, l);
    if (!k.dead) await k.halt();
    throw e;
  }
  k.hyp.rumpuser_sp_activity(-1);
  cpu_release(k, l);
  clock_rearm(k);
  return k;
}

export { proc_create, lwp_create, lwp_exit };

/* rump_lwproc_rfork() flags, as rump.h. */
export const RUMP_RFFDG = 0x01;
export const RUMP_RFCFDG = 0x02;

/**
 * rump_lwproc_rfork(): a new process, child of `parent` (init by default),
 * whose descriptor table is a copy of the parent's (RUMP_RFFDG), empty
 * (RUMP_RFCFDG), or shared with it (0).  Remote clients get one each.
 */
export function rump_lwproc_rfork(k: Kernel, flags: number, comm: string, parent: Proc = k.initproc): { proc: Proc; sys: RumpSys } {
  if ((flags & ~(RUMP_RFFDG | RUMP_RFCFDG)) !== 0 || flags === (RUMP_RFFDG | RUMP_RFCFDG)) {
    throw new RangeError(`rump_lwproc_rfork: bad flags 0x${flags.toString(16)}`);
  }
  if (k.dying) throw new Error(`${k.name}: rump_lwproc_rfork: kernel halted`);
  const p = proc_create(k, comm, parent);
  const pfd = parent.p_fd ?? new Filedesc(k);
  if (flags === RUMP_RFFDG) p.p_fd = fd_copy(pfd);
  else if (flags === RUMP_RFCFDG) p.p_fd = new Filedesc(k);
  else {
    pfd.fd_refcnt++;
    p.p_fd = pfd;
  }
  return { proc: p, sys: new RumpSys(k, p) };
}

/**
 * The process is gone (a remote client disconnected, or its user is done):
 * its sleeping LWPs fail with EINTR and its descriptors are closed.
 */
export async function rump_proc_exit(k: Kernel, p: Proc): Promise<void> {
  if (p === k.initproc || p === k.proc0) throw new Error(`${k.name}: rump_proc_exit: pid ${p.p_pid} cannot exit`);
  if (p.p_exiting) return;
  p.p_exiting = true;
  for (const l of k.alllwp) {
    if (l.l_proc !== p) continue;
    l.l_flag |= LW_RUMP_QEXIT;
    if (l.l_stat === LSSLEEP) sleepq_unsleep(k, l, EINTR);
  }
  const fdp = p.p_fd;
  if (fdp !== null && !k.dead) {
    const l = lwp_create(k, p, 'exit', 0);
    try {
      const w = lwp_schedule(k, l);
      if (w !== null) await w;
      await fd_free(fdp, l);
    } finally {
      if (k.cpu.ci_curlwp === l) cpu_release(k, l);
      lwp_exit(k, l);
    }
  }
  p.p_fd = null;
  k.allproc.delete(p.p_pid);
}
