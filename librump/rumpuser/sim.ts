/*
 * rumpuser for simulation: a virtual clock and seeded randomness shared by
 * any number of kernels in one "world", so a run is reproducible bit for bit.
 *
 * Every host event (a kernel's clock timer, a deferred-softint request, and
 * whatever later drivers post with schedule()) is an entry in one queue
 * ordered by (virtual time, sequence).  The world dispatches one entry per
 * turn of the host event loop, so all promise continuations (woken LWPs)
 * settle between two entries: causality and order never depend on the host.
 *
 * Time moves only
 *   - by itself, jumping straight to the next entry, when every entry due
 *     now has run and some kernel has a syscall in progress (an awaited
 *     sleep(60s) ends in microseconds, an idle kernel's callouts never spin);
 *   - when a test calls advance(ms) or runUntilIdle().
 */

import {
  RUMPUSER_CLOCK_RELWALL, RUMPUSER_PARAM_HOSTNAME, RUMPUSER_PARAM_NCPU, RUMPUSER_VERSION,
  type PanicReport, type RumpHyperup, type RumpUser, type Timespec,
} from '../../include/rumpuser.ts';
import { EINVAL } from '../../include/errno.ts';

export interface SimWorldOptions {
  /** Seed of every random byte in the world; default 1. */
  seed?: number;
  /** Wall-clock time at virtual time zero, in ms since the epoch. */
  wallStartMs?: number;
  /** Echo kernel consoles to this sink (default: captured only). */
  echo?: (s: string) => void;
  /** Record every dispatched event in world.trace. */
  trace?: boolean;
  /** Called when a kernel panics (the report is also kept in world.panics). */
  onPanic?: (r: PanicReport) => void;
}

const EV_CLOCK = 0;
const EV_SOFT = 1;
const EV_CALL = 2;

/** One queued host event. Entries are recycled through a free list. */
class SimEvent {
  t = 0;
  seq = 0;
  kind = EV_CALL;
  host: SimHost | null = null;
  fn: ((arg: unknown) => void) | null = null;
  arg: unknown = null;
  cancelled = false;
}

/** A cancellable handle for events posted with SimWorld.schedule(). */
export interface SimTimer {
  cancel(): void;
}

function hashSeed(seed: number, salt: number): number {
  /* splitmix32-style finaliser: decorrelates host streams of one world seed. */
  let h = (seed ^ Math.imul(salt + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class SimWorld {
  /** Virtual monotonic time in nanoseconds. */
  private now = 0;
  private seq = 0;
  private heap: SimEvent[] = [];
  private free: SimEvent[] = [];
  private readonly hosts: SimHost[] = [];
  private activity = 0;
  private pumpPending = false;
  private manual = 0;
  readonly seed: number;
  readonly wallStartMs: number;
  readonly echo: ((s: string) => void) | undefined;
  readonly panics: PanicReport[] = [];
  readonly trace: string[] | null;
  private readonly onPanic: ((r: PanicReport) => void) | undefined;
  /** Events dispatched so far. */
  dispatched = 0;

  private readonly pump = (): void => {
    this.pumpPending = false;
    if (this.manual > 0) return;
    const ev = this.heapPeek();
    if (ev === null) return;
    if (ev.t > this.now) {
      if (this.activity <= 0) return;
      this.now = ev.t;
    }
    this.dispatchOne();
    this.kick();
  };

  constructor(opts: SimWorldOptions = {}) {
    this.seed = (opts.seed ?? 1) >>> 0;
    this.wallStartMs = opts.wallStartMs ?? Date.UTC(2026, 0, 1);
    this.echo = opts.echo;
    this.trace = opts.trace === true ? [] : null;
    this.onPanic = opts.onPanic;
  }

  /** A new host (one per kernel), with its own random stream. */
  host(name?: string, params?: Record<string, string>): SimHost {
    const h = new SimHost(this, this.hosts.length, name ?? `sim${this.hosts.length}`, params ?? {});
    this.hosts.push(h);
    return h;
  }

  /** Virtual monotonic time, ns. */
  nowNs(): number {
    return this.now;
  }

  /** Virtual monotonic time, ms. */
  nowMs(): number {
    return this.now / 1e6;
  }

  /** Post fn(arg) at virtual time `at` (ns); drivers use this for wire delays. */
  schedule(at: number, fn: (arg: unknown) => void, arg?: unknown): SimTimer {
    const ev = this.post(Math.max(at, this.now), EV_CALL, null);
    ev.fn = fn;
    ev.arg = arg ?? null;
    /* Entries are recycled: only cancel the one this handle was made for. */
    const seq = ev.seq;
    return { cancel: () => { if (ev.seq === seq) ev.cancelled = true; } };
  }

  /**
   * Run every event due within the next `ms` of virtual time, letting all
   * woken LWPs settle between events, and leave the clock at now + ms.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance: bad interval ${ms}`);
    const target = this.now + Math.round(ms * 1e6);
    this.manual++;
    try {
      for (;;) {
        await turn();
        const ev = this.heapPeek();
        if (ev === null || ev.t > target) break;
        if (ev.t > this.now) this.now = ev.t;
        this.dispatchOne();
      }
      this.now = target;
    } finally {
      this.manual--;
    }
    await turn();
    this.kick();
  }

  /**
   * Run events, jumping the clock from one to the next, until none is left
   * or the next lies more than limitMs (default one virtual hour) ahead.
   * Returns the virtual milliseconds that passed.
   */
  async runUntilIdle(limitMs = 3_600_000): Promise<number> {
    const start = this.now;
    const limit = start + limitMs * 1e6;
    this.manual++;
    try {
      for (;;) {
        await turn();
        const ev = this.heapPeek();
        if (ev === null || ev.t > limit) break;
        if (ev.t > this.now) this.now = ev.t;
        this.dispatchOne();
      }
    } finally {
      this.manual--;
    }
    this.kick();
    return (this.now - start) / 1e6;
  }

  /** Events waiting in the queue (cancelled ones excluded). */
  pending(): number {
    let n = 0;
    for (const ev of this.heap) if (!ev.cancelled) n++;
    return n;
  }

  /* ---- used by SimHost ---- */

  /** @internal */
  post(t: number, kind: number, host: SimHost | null): SimEvent {
    const ev = this.free.pop() ?? new SimEvent();
    ev.t = t;
    ev.seq = this.seq++;
    ev.kind = kind;
    ev.host = host;
    ev.fn = null;
    ev.arg = null;
    ev.cancelled = false;
    this.heapPush(ev);
    this.kick();
    return ev;
  }

  /** @internal */
  addActivity(delta: number): void {
    this.activity += delta;
    if (this.activity > 0) this.kick();
  }

  /** @internal */
  reportPanic(r: PanicReport): void {
    this.panics.push(r);
    this.onPanic?.(r);
  }

  private kick(): void {
    if (this.pumpPending || this.manual > 0) return;
    const ev = this.heapPeek();
    if (ev === null || (ev.t > this.now && this.activity <= 0)) return;
    this.pumpPending = true;
    nextTurn(this.pump);
  }

  private dispatchOne(): void {
    const ev = this.heapPop();
    if (ev === null) return;
    this.dispatched++;
    const { kind, host, fn, arg } = ev;
    ev.host = null;
    ev.fn = null;
    ev.arg = null;
    this.free.push(ev);
    if (this.trace !== null) {
      this.trace.push(`${this.now} ${host?.name ?? '-'} ${kind === EV_CLOCK ? 'clock' : kind === EV_SOFT ? 'soft' : 'call'}`);
    }
    if (kind === EV_CLOCK) host!.fireClock(ev);
    else if (kind === EV_SOFT) host!.fireSoft();
    else fn!(arg);
  }

  /* A binary min-heap on (t, seq), skipping cancelled entries lazily. */
  private heapPeek(): SimEvent | null {
    const h = this.heap;
    while (h.length > 0 && h[0]!.cancelled) this.free.push(this.heapTake());
    return h.length > 0 ? h[0]! : null;
  }

  private heapPop(): SimEvent | null {
    return this.heapPeek() === null ? null : this.heapTake();
  }

  private heapTake(): SimEvent {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  private heapPush(ev: SimEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = ev;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/* The next turn of the host loop; browsers have no setImmediate. */
const nextTurn: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => { setImmediate(fn); } : (fn) => { setTimeout(fn, 0); };

function turn(): Promise<void> {
  return new Promise((resolve) => { nextTurn(resolve); });
}

/** One kernel's view of the simulated world. */
export class SimHost implements RumpUser {
  readonly hostkind = 'sim';
  private hyp: RumpHyperup | null = null;
  private clockEv: SimEvent | null = null;
  private softEv: SimEvent | null = null;
  private activity = 0;
  /* xoshiro128** state */
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Everything the kernel wrote to its console. */
  readonly consoleLines: string[] = [];
  private partial = '';

  constructor(
    readonly world: SimWorld,
    readonly index: number,
    readonly name: string,
    private readonly params: Record<string, string>,
  ) {
    const base = hashSeed(world.seed, index);
    this.s0 = hashSeed(base, 1) | 1;
    this.s1 = hashSeed(base, 2);
    this.s2 = hashSeed(base, 3);
    this.s3 = hashSeed(base, 4);
  }

  rumpuser_init(version: number, hyp: RumpHyperup): number {
    if (version !== RUMPUSER_VERSION || this.hyp !== null) return EINVAL;
    this.hyp = hyp;
    return 0;
  }

  rumpuser_getparam(name: string): string | undefined {
    const v = this.params[name];
    if (v !== undefined) return v;
    if (name === RUMPUSER_PARAM_HOSTNAME) return `rump-${this.index + 1}.sim`;
    if (name === RUMPUSER_PARAM_NCPU) return '1';
    return undefined;
  }

  rumpuser_clock_gettime(clk: number, ts: Timespec): void {
    /* Seconds and nanoseconds apart: wall time in ns does not fit a double exactly. */
    const ns = this.world.nowNs();
    let sec = Math.floor(ns / 1e9);
    let nsec = ns - sec * 1e9;
    if (clk === RUMPUSER_CLOCK_RELWALL) {
      const ms = this.world.wallStartMs;
      sec += Math.floor(ms / 1000);
      nsec += (ms % 1000) * 1e6;
      if (nsec >= 1e9) {
        sec++;
        nsec -= 1e9;
      }
    }
    ts.tv_sec = sec;
    ts.tv_nsec = nsec;
  }

  rumpuser_clock_monotonic(): number {
    return this.world.nowNs();
  }

  rumpuser_clock_arm(deadline: number): void {
    const old = this.clockEv;
    if (old !== null) {
      if (deadline === old.t && !old.cancelled) return;
      old.cancelled = true;
      this.clockEv = null;
    }
    if (deadline < 0 || this.hyp === null) return;
    this.clockEv = this.world.post(Math.max(deadline, this.world.nowNs()), EV_CLOCK, this);
  }

  rumpuser_sched_soft(): void {
    if (this.softEv === null && this.hyp !== null) {
      this.softEv = this.world.post(this.world.nowNs(), EV_SOFT, this);
    }
  }

  rumpuser_sp_activity(delta: number): void {
    this.activity += delta;
    this.world.addActivity(delta);
  }

  rumpuser_getrandom(buf: Uint8Array, _flags: number): number {
    for (let i = 0; i < buf.length; i += 4) {
      const r = this.next32();
      for (let j = 0; j < 4 && i + j < buf.length; j++) buf[i + j] = (r >>> (8 * j)) & 0xff;
    }
    return buf.length;
  }

  private next32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  rumpuser_putstr(s: string): void {
    this.world.echo?.(s);
    const text = this.partial + s;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const l of lines) this.consoleLines.push(l);
  }

  rumpuser_dprintf(s: string): void {
    this.rumpuser_putstr(s);
  }

  rumpuser_panic(r: PanicReport): void {
    this.world.reportPanic(r);
  }

  rumpuser_fini(): void {
    this.rumpuser_clock_arm(-1);
    if (this.softEv !== null) this.softEv.cancelled = true;
    this.softEv = null;
    if (this.activity !== 0) this.world.addActivity(-this.activity);
    this.activity = 0;
    this.hyp = null;
  }

  /** @internal */
  fireClock(ev: SimEvent): void {
    if (this.clockEv === ev) this.clockEv = null;
    this.hyp?.hyp_intr_clock();
  }

  /** @internal */
  fireSoft(): void {
    this.softEv = null;
    this.hyp?.hyp_intr_soft();
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
