/*
 * The callout wheel (librump/rumpkern/kern_timeout.ts) against two
 * baselines measured in the same run on the same input:
 *   - a binary-heap timer queue (written below), the usual data structure
 *     for timers: O(log n) insert and cancel where the wheel is O(1);
 *   - Node's own setTimeout/clearTimeout, which is what a kernel on the
 *     event loop would use if it had no wheel.
 *
 * Procedure, per round (rounds are interleaved so drift hits all alike):
 *   1. arm N callouts at seeded random future ticks        -> ns per reset
 *   2. stop every second one                               -> ns per stop
 *   3. tick the wheel (hardclock, softclock when there is work) until all
 *      N/2 left have fired, each checked against its due tick
 *                                                           -> ns per expiry
 * The heap does the same with the same ticks (insert, cancel, pop due per
 * tick).  setTimeout gets the same ticks as delays pushed an hour out so
 * none fires, then half are cleared; its expiry cost is measured apart,
 * on a smaller set of short timers that are all due when the event loop
 * gets them.  Figures are medians over ROUNDS rounds, after WARMUP
 * rounds thrown away.
 *
 * Targets: reset+stop <= 150 ns, and at least 10x setTimeout+clearTimeout.
 */

import {
  Callout,
  CalloutCpu,
  callout_hardclock,
  callout_init,
  callout_reset,
  callout_softclock,
  callout_stop,
} from '../librump/rumpkern/kern_timeout.ts';
import { XorShift32, elapsedNs, gc, note, now, parseArgs, report, rounds } from './harness.ts';

const BENCH = 'callout';
const args = parseArgs();
/* Even, so exactly N/2 are stopped and N/2 fire. */
const N = args.quick ? 200_000 : 1_000_000;
/*
 * Two warm-up rounds, not one: the first only gets the timed loops
 * optimized on-stack; the whole-function versions are compiled during the
 * second, and a round measured then ran partly unoptimized (2-4x slower).
 */
const WARMUP = 2;
const ROUNDS = 5;
/* setTimeout expiry is measured with real timers: fewer, and short. */
const EXPIRY_TIMERS = 100_000;
const EXPIRY_MAX_MS = 20;
/* Ticks to milliseconds at the kernel's default HZ of 100. */
const TICK_MS = 10;
/* Pushes the setTimeout baseline's timers past the end of the run. */
const HOUR_MS = 3_600_000;
const SEED = 0x5eed_c0de;

/*
 * Due ticks, relative to a wheel starting at tick 0 (so also absolute).
 * Mostly 257..65,536 (wheel 1, one cascade before firing), a tenth within
 * 256 (wheel 0, no cascade) and a tenth 65,537..100,000 (wheel 2, two
 * cascades): the mix a busy stack has, without needing wheel 3.
 */
function makeTicks(n: number, rng: XorShift32): Int32Array {
  const t = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rng.next() % 10;
    t[i] = r === 0 ? rng.int(1, 256) : r === 9 ? rng.int(65_537, 100_000) : rng.int(257, 65_536);
  }
  return t;
}

function fail(msg: string): never {
  throw new Error(`${BENCH}: verification failed: ${msg}`);
}

/* ---- the wheel ---- */

/*
 * What the handlers check against.  One shared object and one handler
 * function for all callouts, so the softclock's call site stays
 * monomorphic, as it is for a real kernel's few handlers; the handler's
 * argument is the callout's index, a small integer that costs no
 * allocation.
 */
interface Check {
  due: Int32Array;
  now: number;
  fired: number;
  bad: number;
  cc: CalloutCpu | null;
}
const wheelChk: Check = { due: new Int32Array(0), now: 0, fired: 0, bad: 0, cc: null };

function wheelFire(arg: unknown): void {
  if (wheelChk.due[arg as number] !== wheelChk.cc!.cc_ticks) wheelChk.bad++;
  wheelChk.fired++;
}

/*
 * The timed loops live in small functions of their own: each is then
 * optimized whole once warm, instead of being entered through on-stack
 * replacement in the middle of a larger function whose later code has no
 * type feedback yet (which deoptimizes it again, and left a different share
 * of every round running unoptimized).
 */
function wheelArm(cs: Callout[], ticks: Int32Array): void {
  for (let i = 0; i < cs.length; i++) callout_reset(cs[i]!, ticks[i]!, wheelFire, i);
}

function wheelStopHalf(cs: Callout[]): void {
  for (let i = 0; i < cs.length; i += 2) callout_stop(cs[i]!);
}

/* The last due tick bounds the loop, so a broken wheel fails instead of spinning. */
function wheelRun(cc: CalloutCpu, last: number): void {
  while (cc.cc_npending > 0 && cc.cc_ticks <= last) {
    if (callout_hardclock(cc)) callout_softclock(cc);
  }
}

function wheelRound(cs: Callout[], ticks: Int32Array, last: number): { reset: number; stop: number; expiry: number } {
  const n = cs.length;
  /* A fresh standalone wheel each round (no kernel, no softint), so every round starts at tick 0. */
  const cc = new CalloutCpu(null, 0);
  for (let i = 0; i < n; i++) callout_init(cs[i]!, 0, cc);
  wheelChk.due = ticks;
  wheelChk.cc = cc;
  wheelChk.fired = wheelChk.bad = 0;

  let t0 = now();
  wheelArm(cs, ticks);
  const reset = elapsedNs(t0) / n;
  if (cc.cc_npending !== n) fail(`${cc.cc_npending} pending after ${n} resets`);

  t0 = now();
  wheelStopHalf(cs);
  const stop = elapsedNs(t0) / (n / 2);
  if (cc.cc_npending !== n / 2) fail(`${cc.cc_npending} pending after stopping half of ${n}`);

  t0 = now();
  wheelRun(cc, last);
  const expiry = elapsedNs(t0) / wheelChk.fired;
  if (wheelChk.fired !== n / 2) fail(`wheel fired ${wheelChk.fired} callouts, expected ${n / 2}`);
  if (wheelChk.bad !== 0) fail(`wheel fired ${wheelChk.bad} callouts off their due tick`);
  if (cc.cc_npending !== 0) fail(`${cc.cc_npending} callouts still pending at tick ${cc.cc_ticks}`);
  return { reset, stop, expiry };
}

/* ---- baseline: a binary-heap timer queue ---- */

type TimerFn = (arg: unknown) => void;

class HeapTimer {
  due = 0;
  /** Index in the heap array, or -1 when not queued: makes cancel O(log n) with no search. */
  pos = -1;
  fn: TimerFn | null = null;
  arg: unknown = null;
}

/**
 * A min-heap on due time with indexed removal (each timer knows its slot),
 * the textbook alternative to a wheel.  The array is allocated once at
 * full size so no timed phase pays for growing it.
 */
class TimerHeap {
  private readonly h: HeapTimer[];
  n = 0;

  constructor(capacity: number) {
    this.h = new Array<HeapTimer>(capacity).fill(new HeapTimer());
  }

  insert(t: HeapTimer, due: number, fn: TimerFn, arg: unknown): void {
    if (t.pos >= 0) this.removeAt(t.pos);
    t.due = due;
    t.fn = fn;
    t.arg = arg;
    this.siftUp(this.n++, t);
  }

  cancel(t: HeapTimer): boolean {
    if (t.pos < 0) return false;
    this.removeAt(t.pos);
    return true;
  }

  /** Run every timer due at or before `tick`, earliest first. */
  expire(tick: number): void {
    const h = this.h;
    while (this.n > 0 && h[0]!.due <= tick) {
      const t = h[0]!;
      this.removeAt(0);
      t.fn!(t.arg);
    }
  }

  private removeAt(i: number): void {
    const h = this.h;
    const t = h[i]!;
    t.pos = -1;
    const last = h[--this.n]!;
    if (i === this.n) return;
    /* Move the last timer into the hole, up or down as its due time says. */
    if (i > 0 && last.due < h[(i - 1) >> 1]!.due) this.siftUp(i, last);
    else this.siftDown(i, last);
  }

  /* Sifts move a hole and write t once at the end, rather than swapping at each level. */
  private siftUp(i: number, t: HeapTimer): void {
    const h = this.h;
    const due = t.due;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = h[p]!;
      if (pt.due <= due) break;
      h[i] = pt;
      pt.pos = i;
      i = p;
    }
    h[i] = t;
    t.pos = i;
  }

  private siftDown(i: number, t: HeapTimer): void {
    const h = this.h;
    const n = this.n;
    const due = t.due;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1]!.due < h[c]!.due) c++;
      const ct = h[c]!;
      if (ct.due >= due) break;
      h[i] = ct;
      ct.pos = i;
      i = c;
    }
    h[i] = t;
    t.pos = i;
  }
}

const heapChk: Check = { due: new Int32Array(0), now: 0, fired: 0, bad: 0, cc: null };

function heapFire(arg: unknown): void {
  if (heapChk.due[arg as number] !== heapChk.now) heapChk.bad++;
  heapChk.fired++;
}

function heapArm(heap: TimerHeap, ts: HeapTimer[], ticks: Int32Array): void {
  for (let i = 0; i < ts.length; i++) heap.insert(ts[i]!, ticks[i]!, heapFire, i);
}

function heapCancelHalf(heap: TimerHeap, ts: HeapTimer[]): void {
  for (let i = 0; i < ts.length; i += 2) heap.cancel(ts[i]!);
}

/* Tick by tick, as the wheel is driven: the heap pays one comparison per empty tick. */
function heapRun(heap: TimerHeap, last: number): void {
  for (let tick = 1; heap.n > 0 && tick <= last; tick++) {
    heapChk.now = tick;
    heap.expire(tick);
  }
}

function heapRound(heap: TimerHeap, ts: HeapTimer[], ticks: Int32Array, last: number): { insert: number; cancel: number; expiry: number } {
  const n = ts.length;
  heapChk.due = ticks;
  heapChk.fired = heapChk.bad = 0;

  let t0 = now();
  heapArm(heap, ts, ticks);
  const insert = elapsedNs(t0) / n;
  if (heap.n !== n) fail(`heap holds ${heap.n} after ${n} inserts`);

  t0 = now();
  heapCancelHalf(heap, ts);
  const cancel = elapsedNs(t0) / (n / 2);
  if (heap.n !== n / 2) fail(`heap holds ${heap.n} after cancelling half of ${n}`);

  t0 = now();
  heapRun(heap, last);
  const expiry = elapsedNs(t0) / heapChk.fired;
  if (heapChk.fired !== n / 2) fail(`heap fired ${heapChk.fired} timers, expected ${n / 2}`);
  if (heapChk.bad !== 0) fail(`heap fired ${heapChk.bad} timers off their due tick`);
  if (heap.n !== 0) fail(`${heap.n} timers still in the heap after tick ${last}`);
  return { insert, cancel, expiry };
}

/* ---- baseline: Node's setTimeout / clearTimeout ---- */

let strayFires = 0;
function neverFires(): void {
  strayFires++;
}

function nodeArm(timers: (NodeJS.Timeout | null)[], ticks: Int32Array): void {
  for (let i = 0; i < timers.length; i++) timers[i] = setTimeout(neverFires, ticks[i]! * TICK_MS + HOUR_MS);
}

function nodeClearHalf(timers: (NodeJS.Timeout | null)[]): void {
  for (let i = 0; i < timers.length; i += 2) clearTimeout(timers[i]!);
}

function nodeTimersRound(timers: (NodeJS.Timeout | null)[], ticks: Int32Array): { set: number; clear: number } {
  const n = timers.length;
  let t0 = now();
  nodeArm(timers, ticks);
  const set = elapsedNs(t0) / n;

  t0 = now();
  nodeClearHalf(timers);
  const clear = elapsedNs(t0) / (n / 2);

  /* The rest, untimed: an armed timer would keep the process alive for an hour. */
  for (let i = 1; i < n; i += 2) clearTimeout(timers[i]!);
  timers.fill(null);
  if (strayFires !== 0) fail(`${strayFires} setTimeout timers meant to be far off fired`);
  return { set, clear };
}

/*
 * setTimeout expiry: arm short timers, then busy-wait until all are due,
 * and time from handing control to the event loop until the last callback
 * has run.  That is the event loop's cost per fired timer (libuv's timer
 * phase, Node's timer lists, the callback), without the idle wait that a
 * timer's delay would otherwise add.
 */
async function nodeExpiryRound(delays: Uint8Array): Promise<number> {
  const m = delays.length;
  let fired = 0;
  let tEnd = 0n;
  let done!: () => void;
  const allFired = new Promise<void>((resolve) => (done = resolve));
  const cb = (): void => {
    if (++fired === m) {
      tEnd = now();
      done();
    }
  };
  for (let i = 0; i < m; i++) setTimeout(cb, delays[i]!);
  const armed = now();
  while (elapsedNs(armed) < (EXPIRY_MAX_MS + 5) * 1e6) {
    /* spin: the event loop must not run yet */
  }
  const t0 = now();
  await allFired;
  if (fired !== m) fail(`setTimeout fired ${fired} of ${m}`);
  return Number(tEnd - t0) / m;
}

/* ---- main ---- */

async function main(): Promise<void> {
  const rng = new XorShift32(SEED);
  const ticks = makeTicks(N, rng);
  const delays = new Uint8Array(EXPIRY_TIMERS);
  for (let i = 0; i < EXPIRY_TIMERS; i++) delays[i] = ticks[i % N]! % (EXPIRY_MAX_MS + 1);

  /* Everything the timed loops touch is allocated up front and reused each round. */
  const cs: Callout[] = [];
  for (let i = 0; i < N; i++) cs.push(new Callout());
  const ts: HeapTimer[] = [];
  for (let i = 0; i < N; i++) ts.push(new HeapTimer());
  /* The last tick anything left after the stops is due: bounds the expiry loops. */
  let last = 0;
  for (let i = 1; i < N; i += 2) if (ticks[i]! > last) last = ticks[i]!;
  const heap = new TimerHeap(N);
  const timers = new Array<NodeJS.Timeout | null>(N).fill(null);

  note(`callout: N=${N} timers, ${WARMUP} warm-up + ${ROUNDS} rounds, medians; setTimeout expiry with ${EXPIRY_TIMERS} timers`);
  const r = await rounds({ warmup: WARMUP, rounds: ROUNDS }, async () => {
    const w = wheelRound(cs, ticks, last);
    gc();
    const h = heapRound(heap, ts, ticks, last);
    gc();
    const s = nodeTimersRound(timers, ticks);
    gc();
    const e = await nodeExpiryRound(delays);
    return {
      reset: w.reset,
      stop: w.stop,
      expiry: w.expiry,
      resetStop: w.reset + w.stop,
      heapInsert: h.insert,
      heapCancel: h.cancel,
      heapExpiry: h.expiry,
      heapInsertCancel: h.insert + h.cancel,
      setTimeout: s.set,
      clearTimeout: s.clear,
      setClear: s.set + s.clear,
      timeoutExpiry: e,
    };
  });
  if (!args.json) {
    for (const [k, v] of Object.entries(r.samples)) note(`${k}: ${v.map((x) => x.toFixed(1)).join(' ')}`);
  }

  const m = r.median;
  const ns = { bench: BENCH, unit: 'ns/op', better: 'lower' } as const;
  report({ ...ns, metric: 'reset', value: m.reset, baseline: 'heap insert', baseline_value: m.heapInsert }, args);
  report({ ...ns, metric: 'reset', value: m.reset, baseline: 'setTimeout', baseline_value: m.setTimeout }, args);
  report({ ...ns, metric: 'stop', value: m.stop, baseline: 'heap cancel', baseline_value: m.heapCancel }, args);
  report({ ...ns, metric: 'stop', value: m.stop, baseline: 'clearTimeout', baseline_value: m.clearTimeout }, args);
  report({ ...ns, metric: 'expiry', value: m.expiry, baseline: 'heap expiry', baseline_value: m.heapExpiry }, args);
  report(
    { ...ns, metric: 'expiry', value: m.expiry, baseline: `setTimeout expiry (${EXPIRY_TIMERS / 1000}k, all due)`, baseline_value: m.timeoutExpiry },
    args,
  );
  report(
    {
      ...ns,
      metric: 'reset+stop',
      value: m.resetStop,
      baseline: 'heap insert+cancel',
      baseline_value: m.heapInsertCancel,
      target: { value: 150 },
    },
    args,
  );
  report(
    {
      ...ns,
      metric: 'reset+stop',
      value: m.resetStop,
      baseline: 'setTimeout+clearTimeout',
      baseline_value: m.setClear,
      target: { value: 10, on: 'ratio' },
    },
    args,
  );
}

await main();
