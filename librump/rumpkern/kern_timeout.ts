/*
 * callout(9): timed calls on a hashed hierarchical timing wheel, in the
 * manner of NetBSD's kern_timeout.c (Varghese and Lauck, scheme 7).
 *
 * 1024 buckets form four wheels of 256.  A callout due in rel ticks sits in
 * wheel 0 if rel <= 2^8 (bucket = due & 255), wheel 1 if rel <= 2^16
 * (bucket = (due >> 8) & 255), wheel 2 if rel <= 2^24, else wheel 3.
 * Every hardclock tick moves wheel 0's bucket for the tick to the todo
 * queue, and when the low 8 (16, 24) bits of the tick are zero also the
 * matching bucket of wheel 1 (2, 3): a cascade.  The clock softint then
 * drains todo in FIFO order, re-bucketing callouts not yet due and calling
 * the rest.  Ticks are 32-bit and wrap; they are compared only through
 * their difference.
 *
 * Departures from NetBSD, because this kernel has one virtual CPU and is
 * tickless:
 *   - callout_reset() puts the callout straight into its bucket (NetBSD
 *     goes through todo so another CPU's wheel is not touched); a pending
 *     callout that is reset is moved, so no stale entry is left to wake
 *     the clock early.
 *   - A bitmap of non-empty buckets per wheel lets callout_next() find the
 *     next tick with bucket work and callout_due() the next due callout,
 *     so the clock sleeps until a callout is due (cascades on the way are
 *     done by callout_advance() without waking it), no host timer fires
 *     while nothing is due, and an idle stretch is skipped in one step.
 *   - callout_stop() returns whether the callout was pending (FreeBSD's
 *     meaning; NetBSD returns whether it had fired, which callout_expired()
 *     still tells).
 *   - Handlers run to completion on the CPU (they may not sleep), so
 *     callout_halt() never has another context's handler to wait for; it
 *     differs from callout_stop() only in its assertions.
 *
 * Buckets and todo are intrusive doubly-linked lists through the callouts
 * themselves: arming, moving and stopping allocate nothing.
 */

import type { Kernel } from './rump.ts';
import { KASSERT, panic, KernelPanic } from './subr_prf.ts';
import { softint_establish, softint_schedule, SOFTINT_CLOCK, SOFTINT_MPSAFE, type Softint } from './intr.ts';

export const CALLOUT_BOUND = 0x0001;
export const CALLOUT_PENDING = 0x0002;
export const CALLOUT_FIRED = 0x0004;
export const CALLOUT_INVOKING = 0x0008;
export const CALLOUT_MPSAFE = 0x0100;

const WHEELSIZE = 256;
const WHEELMASK = 255;
const WHEELBITS = 8;
const BUCKETS = 4 * WHEELSIZE;
/** c_list value of a callout on the todo queue. */
const TODO = BUCKETS;
/** c_list value of a callout on no list. */
const NOLIST = -1;
const CALLOUT_MAXTICKS = 0x7fffffff;

export type CalloutFunc = (arg: unknown) => void;

export class Callout {
  c_func: CalloutFunc | null = null;
  c_arg: unknown = null;
  /** Absolute due tick (int32, wraps). */
  c_time = 0;
  c_flags = 0;
  c_next: Callout | null = null;
  c_prev: Callout | null = null;
  /** Which list holds it: a bucket index, TODO, or NOLIST. */
  c_list = NOLIST;
  c_cc: CalloutCpu | null = null;
}

/** The per-CPU wheel (one CPU here). */
export class CalloutCpu {
  /** The current tick, int32. */
  cc_ticks: number;
  readonly cc_head: (Callout | null)[] = new Array<Callout | null>(BUCKETS + 1).fill(null);
  readonly cc_tail: (Callout | null)[] = new Array<Callout | null>(BUCKETS + 1).fill(null);
  /** One bit per non-empty bucket; 8 words per wheel. */
  readonly cc_bitmap = new Uint32Array(BUCKETS / 32);
  /** The callout whose handler is running. */
  cc_active: Callout | null = null;
  cc_softint: Softint | null = null;
  /** Number of callouts on the wheel or todo. */
  cc_npending = 0;
  /* Statistics, as the evcnts late/N and friends. */
  cc_nfired = 0;
  cc_nlate = 0;
  cc_nreset = 0;
  cc_nstop = 0;
  /**
   * Told when a callout becomes due earlier than anything before (re-arm
   * the host timer), and with Infinity when callout_stop() empties the
   * wheel (disarm it: a stale timer would wake an idle kernel, and keep a
   * host process alive).
   */
  cc_earlier: ((rel: number) => void) | null = null;

  constructor(readonly k: Kernel | null, ticks0: number) {
    this.cc_ticks = ticks0 | 0;
  }
}

/**
 * callout_startup: the wheel, and the clock softint that drains it (the
 * kernel's softclock, which also re-arms the host timer).
 */
export function callout_startup(k: Kernel, ticks0: number, softclock: (arg: unknown) => void): CalloutCpu {
  const cc = new CalloutCpu(k, ticks0);
  cc.cc_softint = softint_establish(k, SOFTINT_CLOCK | SOFTINT_MPSAFE, softclock, k, 'softclock');
  return cc;
}

/** callout_init(9).  k is the kernel whose wheel the callout uses. */
export function callout_init(c: Callout, flags: number, k: Kernel | CalloutCpu): void {
  c.c_flags = flags & (CALLOUT_MPSAFE | CALLOUT_BOUND);
  c.c_func = null;
  c.c_arg = null;
  c.c_next = c.c_prev = null;
  c.c_list = NOLIST;
  c.c_cc = k instanceof CalloutCpu ? k : k.cc;
}

/** callout_destroy(9): it must be neither pending nor running. */
export function callout_destroy(c: Callout): void {
  const cc = c.c_cc!;
  if (cc.k !== null) {
    KASSERT(cc.k, (c.c_flags & CALLOUT_PENDING) === 0, 'callout_destroy: callout pending');
    KASSERT(cc.k, cc.cc_active !== c, 'callout_destroy: callout running');
  }
  c.c_cc = null;
}

export function callout_setfunc(c: Callout, func: CalloutFunc, arg: unknown): void {
  c.c_func = func;
  c.c_arg = arg;
}

function bucket_of(rel: number, abs: number): number {
  if (rel <= WHEELSIZE) return abs & WHEELMASK;
  if (rel <= 1 << (2 * WHEELBITS)) return WHEELSIZE + ((abs >>> WHEELBITS) & WHEELMASK);
  if (rel <= 1 << (3 * WHEELBITS)) return 2 * WHEELSIZE + ((abs >>> (2 * WHEELBITS)) & WHEELMASK);
  return 3 * WHEELSIZE + ((abs >>> (3 * WHEELBITS)) & WHEELMASK);
}

function list_append(cc: CalloutCpu, list: number, c: Callout): void {
  const tail = cc.cc_tail[list]!;
  c.c_list = list;
  c.c_next = null;
  c.c_prev = tail;
  if (tail === null) {
    cc.cc_head[list] = c;
    if (list < BUCKETS) cc.cc_bitmap[list >>> 5]! |= 1 << (list & 31);
  } else {
    tail.c_next = c;
  }
  cc.cc_tail[list] = c;
}

function list_remove(cc: CalloutCpu, c: Callout): void {
  const list = c.c_list;
  const next = c.c_next;
  const prev = c.c_prev;
  if (prev === null) cc.cc_head[list] = next;
  else prev.c_next = next;
  if (next === null) cc.cc_tail[list] = prev;
  else next.c_prev = prev;
  if (cc.cc_head[list] === null && list < BUCKETS) cc.cc_bitmap[list >>> 5]! &= ~(1 << (list & 31));
  c.c_next = c.c_prev = null;
  c.c_list = NOLIST;
}

/** Splice a whole bucket onto the tail of todo. */
function bucket_to_todo(cc: CalloutCpu, b: number): void {
  const head = cc.cc_head[b]!;
  if (head === null) return;
  for (let c: Callout | null = head; c !== null; c = c.c_next) c.c_list = TODO;
  const ttail = cc.cc_tail[TODO]!;
  if (ttail === null) cc.cc_head[TODO] = head;
  else {
    ttail.c_next = head;
    head.c_prev = ttail;
  }
  cc.cc_tail[TODO] = cc.cc_tail[b]!;
  cc.cc_head[b] = cc.cc_tail[b] = null;
  cc.cc_bitmap[b >>> 5]! &= ~(1 << (b & 31));
}

/**
 * callout_schedule(9): (re)arm with the function already set, due `ticks`
 * from now (at least one tick).
 */
export function callout_schedule(c: Callout, ticks: number): void {
  const cc = c.c_cc!;
  /* Below one tick (0, negative, NaN, or a fraction that would floor to 0): one tick. */
  if (!(ticks >= 1)) ticks = 1;
  else if (ticks > CALLOUT_MAXTICKS) {
    if (cc.k !== null) panic(cc.k, `callout_schedule: ${ticks} ticks is beyond the wheel`);
    ticks = CALLOUT_MAXTICKS;
  }
  ticks = Math.floor(ticks);
  if ((c.c_flags & CALLOUT_PENDING) !== 0) {
    list_remove(cc, c);
    cc.cc_npending--;
  }
  c.c_flags = (c.c_flags & ~(CALLOUT_FIRED | CALLOUT_INVOKING)) | CALLOUT_PENDING;
  const due = (cc.cc_ticks + ticks) | 0;
  c.c_time = due;
  list_append(cc, bucket_of(ticks, due), c);
  cc.cc_npending++;
  cc.cc_nreset++;
  const earlier = cc.cc_earlier;
  if (earlier !== null) earlier(ticks);
}

/** callout_reset(9). */
export function callout_reset(c: Callout, ticks: number, func: CalloutFunc, arg: unknown): void {
  c.c_func = func;
  c.c_arg = arg;
  callout_schedule(c, ticks);
}

/** callout_stop(9): cancel; returns whether it was pending. */
export function callout_stop(c: Callout): boolean {
  const cc = c.c_cc!;
  const pending = (c.c_flags & CALLOUT_PENDING) !== 0;
  if (pending) {
    list_remove(cc, c);
    cc.cc_npending--;
    cc.cc_nstop++;
    if (cc.cc_npending === 0 && cc.cc_earlier !== null) cc.cc_earlier(Infinity);
  }
  c.c_flags &= ~(CALLOUT_PENDING | CALLOUT_FIRED);
  return pending;
}

/**
 * callout_halt(9): stop, and make sure the handler is not running.  A
 * handler runs to completion on the one CPU, so the only case left is a
 * handler halting its own callout, which NetBSD also lets return at once.
 */
export function callout_halt(c: Callout): boolean {
  const cc = c.c_cc!;
  if (cc.k !== null) KASSERT(cc.k, cc.k.cpu.ci_idepth === 0, 'callout_halt: in hard interrupt');
  return callout_stop(c);
}

export function callout_pending(c: Callout): boolean {
  return (c.c_flags & CALLOUT_PENDING) !== 0;
}

export function callout_expired(c: Callout): boolean {
  return (c.c_flags & CALLOUT_FIRED) !== 0;
}

export function callout_active(c: Callout): boolean {
  return (c.c_flags & (CALLOUT_PENDING | CALLOUT_FIRED)) !== 0;
}

export function callout_invoking(c: Callout): boolean {
  return (c.c_flags & CALLOUT_INVOKING) !== 0;
}

export function callout_ack(c: Callout): void {
  c.c_flags &= ~CALLOUT_INVOKING;
}

/** Ticks until c fires (0 if due now), or -1 if not pending. */
export function callout_remaining(c: Callout): number {
  if ((c.c_flags & CALLOUT_PENDING) === 0) return -1;
  const d = (c.c_time - c.c_cc!.cc_ticks) | 0;
  return d > 0 ? d : 0;
}

/**
 * callout_hardclock: one tick.  Returns true if todo has work, in which
 * case the clock softint has been scheduled.
 */
export function callout_hardclock(cc: CalloutCpu): boolean {
  if (!hardclock_tick(cc)) return false;
  if (cc.cc_softint !== null) softint_schedule(cc.cc_softint);
  return true;
}

/* Count one tick and move the buckets it takes to todo; true if todo has work. */
function hardclock_tick(cc: CalloutCpu): boolean {
  const t = (cc.cc_ticks = (cc.cc_ticks + 1) | 0);
  bucket_to_todo(cc, t & WHEELMASK);
  if ((t & WHEELMASK) === 0) {
    bucket_to_todo(cc, WHEELSIZE + ((t >>> WHEELBITS) & WHEELMASK));
    if ((t & 0xffff) === 0) {
      bucket_to_todo(cc, 2 * WHEELSIZE + ((t >>> (2 * WHEELBITS)) & WHEELMASK));
      if ((t & 0xffffff) === 0) bucket_to_todo(cc, 3 * WHEELSIZE + ((t >>> (3 * WHEELBITS)) & WHEELMASK));
    }
  }
  return cc.cc_head[TODO] !== null;
}

/*
 * After a tick: if nothing on todo is due yet (a cascade only), put each
 * callout in its bucket now, as callout_softclock would, and return true.
 * If anything is due, leave todo to the softclock and return false.
 */
function todo_rebucket(cc: CalloutCpu): boolean {
  const t = cc.cc_ticks;
  for (let c: Callout | null = cc.cc_head[TODO]!; c !== null; c = c.c_next) {
    if (((c.c_time - t) | 0) <= 0) return false;
  }
  for (;;) {
    const c = cc.cc_head[TODO]!;
    if (c === null) break;
    list_remove(cc, c);
    list_append(cc, bucket_of((c.c_time - t) | 0, c.c_time), c);
  }
  return true;
}

/** callout_softclock: drain todo, re-bucketing or calling each callout. */
export function callout_softclock(cc: CalloutCpu): void {
  for (;;) {
    const c = cc.cc_head[TODO]!;
    if (c === null) break;
    list_remove(cc, c);
    const delta = (c.c_time - cc.cc_ticks) | 0;
    if (delta > 0) {
      list_append(cc, bucket_of(delta, c.c_time), c);
      continue;
    }
    if (delta < 0) cc.cc_nlate++;
    cc.cc_npending--;
    cc.cc_nfired++;
    c.c_flags = (c.c_flags & ~CALLOUT_PENDING) | CALLOUT_FIRED | CALLOUT_INVOKING;
    const func = c.c_func!;
    cc.cc_active = c;
    try {
      func(c.c_arg);
    } catch (e) {
      cc.cc_active = null;
      if (e instanceof KernelPanic || cc.k === null) throw e;
      panic(cc.k, `callout handler ${func.name || '(anonymous)'} threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    cc.cc_active = null;
  }
}

/* First set bit at index >= from (circularly) in one wheel's 256-bit map. */
function wheel_scan(bm: Uint32Array, wheel: number, from: number): number {
  const base = wheel * 8;
  let w = from >>> 5;
  let bits = bm[base + w]! & (~0 << (from & 31));
  for (let i = 0; i <= 8; i++) {
    if (bits !== 0) {
      const idx = (w << 5) + (31 - Math.clz32(bits & -bits));
      return idx;
    }
    w = (w + 1) & 7;
    bits = bm[base + w]!;
  }
  return -1;
}

/**
 * The scan shared by callout_next and callout_due: ticks to the next
 * wheel-0 bucket with callouts (which are due exactly then), and for each
 * higher wheel, ticks to the cascade of its first non-empty bucket.  With
 * `exact`, a cascading bucket is looked through for its earliest callout
 * (all of them are due at or after the cascade), giving the earliest due
 * time instead of the next tick with work.
 */
function callout_scan(cc: CalloutCpu, exact: boolean): number {
  if (cc.cc_head[TODO] !== null) return 0;
  if (cc.cc_npending === 0) return Infinity;
  const t = cc.cc_ticks;
  const bm = cc.cc_bitmap;
  let best = Infinity;
  const from0 = (t + 1) & WHEELMASK;
  const b0 = wheel_scan(bm, 0, from0);
  if (b0 >= 0) best = ((b0 - from0) & WHEELMASK) + 1;
  for (let w = 1; w < 4; w++) {
    const span = 2 ** (w * WHEELBITS);
    /* Ticks to the next cascade of this wheel, and the bucket it takes. */
    const from = (Math.floor((t >>> 0) / span) + 1) & WHEELMASK;
    const b = wheel_scan(bm, w, from);
    if (b < 0) continue;
    const rel = span - ((t >>> 0) % span) + ((b - from) & WHEELMASK) * span;
    if (rel >= best) continue;
    if (!exact) {
      best = rel;
      continue;
    }
    for (let c: Callout | null = cc.cc_head[w * WHEELSIZE + b]!; c !== null; c = c.c_next) {
      const d = (c.c_time - t) | 0;
      if (d < best) best = d;
    }
  }
  return best;
}

/**
 * Ticks from now until the next tick at which hardclock has anything to
 * do (a wheel-0 bucket comes due or a non-empty bucket cascades); 0 if
 * todo already has work; Infinity if nothing is pending.
 */
export function callout_next(cc: CalloutCpu): number {
  return callout_scan(cc, false);
}

/**
 * Ticks from now until the earliest pending callout is due; 0 if todo
 * already has work; Infinity if nothing is pending.  Unlike callout_next()
 * this looks through cascades: it is what the host timer is armed for.
 */
export function callout_due(cc: CalloutCpu): number {
  return callout_scan(cc, true);
}

/**
 * Advance the wheel by up to n ticks, stopping early after a tick that
 * leaves a due callout on todo (the clock softint is then scheduled);
 * returns the ticks taken.  Ticks at which nothing can happen are skipped
 * in one step, and a cascade that makes nothing due is re-bucketed on the
 * spot, so an idle stretch up to the next due callout is one call.
 */
export function callout_advance(cc: CalloutCpu, n: number): number {
  let done = 0;
  while (done < n) {
    const next = callout_next(cc);
    if (next === 0) break;
    if (next > n - done) {
      const skip = n - done;
      cc.cc_ticks = (cc.cc_ticks + skip) | 0;
      done += skip;
      break;
    }
    if (next > 1) {
      cc.cc_ticks = (cc.cc_ticks + next - 1) | 0;
      done += next - 1;
    }
    done++;
    if (hardclock_tick(cc) && !todo_rebucket(cc)) {
      if (cc.cc_softint !== null) softint_schedule(cc.cc_softint);
      break;
    }
  }
  return done;
}
