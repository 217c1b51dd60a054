/*
 * mutex(9), rwlock(9) and condvar(9), with owners and lockdebug hooks.
 *
 * On one virtual CPU where only the CPU holder runs and the CPU is given up
 * only by sleeping, a lock can never be found taken by someone else unless
 * a contract was broken (a lock kept across a sleep or a foreign await, or
 * taken twice).  So acquiring never waits: a taken lock is a finding for
 * lockdebug, or a panic when lockdebug is off.  Spin mutexes raise the
 * interrupt level to their IPL while held, as in NetBSD.
 *
 * Every lock has a class (its name); lockdebug orders classes, not
 * instances, the way witness-style checkers do.
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import type { LockdebugLock } from './subr_lockdebug.ts';
import { IPL_SOFTSERIAL, IPL_NONE, splx } from './intr.ts';
import { mtsleep, wakeup, wakeup_one } from './ltsleep.ts';
import { panic } from './subr_prf.ts';

export const MUTEX_DEFAULT = 0;
export const MUTEX_SPIN = 1;
export const MUTEX_ADAPTIVE = 2;

export const RW_READER = 1;
export const RW_WRITER = 0;

export class Kmutex implements LockdebugLock {
  mtx_owner: Lwp | null = null;
  readonly mtx_spin: boolean;
  mtx_oldspl = IPL_NONE;
  readonly ld_class: number;
  readonly ld_kind: string;

  constructor(readonly mtx_kernel: Kernel, readonly ld_name: string, type: number, readonly mtx_ipl: number) {
    /* As NetBSD: spin if asked, or if the IPL is above the soft levels. */
    this.mtx_spin = type === MUTEX_SPIN || mtx_ipl > IPL_SOFTSERIAL;
    this.ld_kind = this.mtx_spin ? 'spin mutex' : 'mutex';
    this.ld_class = mtx_kernel.ld.lockdebug_class(ld_name);
  }
}

/** Who owns a lock taken now: the CPU holder, or lwp0 when outside any context. */
function curowner(k: Kernel): Lwp {
  return k.cpu.ci_curlwp ?? k.lwp0;
}

/** mutex_init(9); the name is the lock class for lockdebug. */
export function mutex_init(k: Kernel, name: string, type: number, ipl: number): Kmutex {
  return new Kmutex(k, name, type, ipl);
}

export function mutex_destroy(m: Kmutex): void {
  if (m.mtx_owner !== null) panic(m.mtx_kernel, `mutex_destroy: "${m.ld_name}" is held`);
}

export function mutex_enter(m: Kmutex): void {
  const k = m.mtx_kernel;
  const ci = k.cpu;
  const ld = k.ld;
  if (m.mtx_spin) {
    const s = ci.ci_ilevel;
    if (m.mtx_ipl > s) ci.ci_ilevel = m.mtx_ipl;
    m.mtx_oldspl = s;
  } else if (ci.ci_idepth > 0 && ld.enabled) {
    ld.abort('adaptive-intr', `adaptive mutex "${m.ld_name}" taken in hard interrupt context`);
  }
  const me = curowner(k);
  if (m.mtx_owner !== null) {
    const o = m.mtx_owner;
    const msg = o === me
      ? `mutex_enter: locking against myself: "${m.ld_name}" (lwp ${me.l_lid})`
      : `mutex_enter: "${m.ld_name}" is held by lwp ${o.l_lid} "${o.l_name}", which gave up the CPU with it`;
    if (!ld.enabled) panic(k, msg);
    ld.abort(o === me ? 'recursion' : 'wrong-owner', msg);
    ld.lockdebug_unlocked(m);
  }
  if (ld.enabled) ld.lockdebug_wantlock(m);
  m.mtx_owner = me;
  if (ld.enabled) ld.lockdebug_locked(m);
}

export function mutex_exit(m: Kmutex): void {
  const k = m.mtx_kernel;
  const ld = k.ld;
  const o = m.mtx_owner;
  if (o === null) {
    const msg = `mutex_exit: "${m.ld_name}" is not held`;
    if (!ld.enabled) panic(k, msg);
    ld.abort('not-held', msg);
    return;
  }
  if (ld.enabled) {
    const me = curowner(k);
    if (o !== me) {
      ld.abort('wrong-owner', `mutex_exit: "${m.ld_name}" is held by lwp ${o.l_lid} "${o.l_name}", not by lwp ${me.l_lid} "${me.l_name}"`);
    }
    ld.lockdebug_unlocked(m);
  }
  m.mtx_owner = null;
  if (m.mtx_spin) splx(k, m.mtx_oldspl);
}

export function mutex_tryenter(m: Kmutex): boolean {
  if (m.mtx_owner !== null) return false;
  mutex_enter(m);
  return true;
}

export const mutex_spin_enter = mutex_enter;
export const mutex_spin_exit = mutex_exit;

/** mutex_owned(9): held by the current context. */
export function mutex_owned(m: Kmutex): boolean {
  return m.mtx_owner !== null && m.mtx_owner === curowner(m.mtx_kernel);
}

export function mutex_ownable(m: Kmutex): boolean {
  return m.mtx_owner === null || mutex_owned(m);
}

/* ------------------------------------------------------------- rwlock */

export class Krwlock implements LockdebugLock {
  rw_writer: Lwp | null = null;
  rw_readers = 0;
  readonly ld_class: number;
  readonly ld_kind = 'rwlock';

  constructor(readonly rw_kernel: Kernel, readonly ld_name: string) {
    this.ld_class = rw_kernel.ld.lockdebug_class(ld_name);
  }
}

export function rw_init(k: Kernel, name: string): Krwlock {
  return new Krwlock(k, name);
}

export function rw_destroy(rw: Krwlock): void {
  if (rw.rw_writer !== null || rw.rw_readers > 0) panic(rw.rw_kernel, `rw_destroy: "${rw.ld_name}" is held`);
}

function rw_busy(rw: Krwlock, op: number): boolean {
  return rw.rw_writer !== null || (op === RW_WRITER && rw.rw_readers > 0);
}

export function rw_enter(rw: Krwlock, op: number): void {
  const k = rw.rw_kernel;
  const ld = k.ld;
  const me = curowner(k);
  if (rw_busy(rw, op)) {
    const mine = rw.rw_writer === me;
    const msg = rw.rw_writer !== null
      ? `rw_enter: "${rw.ld_name}" is write-held by ${mine ? 'the caller' : `lwp ${rw.rw_writer.l_lid}, which gave up the CPU with it`}`
      : `rw_enter: "${rw.ld_name}" wanted for writing while ${rw.rw_readers} reader(s) hold it`;
    if (!ld.enabled) panic(k, msg);
    ld.abort(mine ? 'recursion' : 'wrong-owner', msg);
    return;
  }
  if (ld.enabled) ld.lockdebug_wantlock(rw);
  if (op === RW_WRITER) rw.rw_writer = me;
  else rw.rw_readers++;
  if (ld.enabled) ld.lockdebug_locked(rw);
}

export function rw_tryenter(rw: Krwlock, op: number): boolean {
  if (rw_busy(rw, op)) return false;
  rw_enter(rw, op);
  return true;
}

export function rw_exit(rw: Krwlock): void {
  const k = rw.rw_kernel;
  const ld = k.ld;
  if (rw.rw_writer !== null) {
    if (ld.enabled && rw.rw_writer !== curowner(k)) {
      ld.abort('wrong-owner', `rw_exit: "${rw.ld_name}" is write-held by lwp ${rw.rw_writer.l_lid}, not the caller`);
    }
    rw.rw_writer = null;
  } else if (rw.rw_readers > 0) {
    rw.rw_readers--;
  } else {
    const msg = `rw_exit: "${rw.ld_name}" is not held`;
    if (!ld.enabled) panic(k, msg);
    ld.abort('not-held', msg);
    return;
  }
  if (ld.enabled) ld.lockdebug_unlocked(rw);
}

/** rw_tryupgrade(9): the only reader becomes the writer. */
export function rw_tryupgrade(rw: Krwlock): boolean {
  if (rw.rw_writer !== null || rw.rw_readers !== 1) return false;
  rw.rw_readers = 0;
  rw.rw_writer = curowner(rw.rw_kernel);
  return true;
}

export function rw_downgrade(rw: Krwlock): void {
  const k = rw.rw_kernel;
  if (rw.rw_writer !== curowner(k)) panic(k, `rw_downgrade: "${rw.ld_name}" not write-held by the caller`);
  rw.rw_writer = null;
  rw.rw_readers = 1;
}

export function rw_read_held(rw: Krwlock): boolean {
  return rw.rw_readers > 0;
}

export function rw_write_held(rw: Krwlock): boolean {
  return rw.rw_writer !== null && rw.rw_writer === curowner(rw.rw_kernel);
}

export function rw_lock_held(rw: Krwlock): boolean {
  return rw_read_held(rw) || rw_write_held(rw);
}

/* ----------------------------------------------------------- condvar */

export class Kcondvar {
  constructor(readonly cv_kernel: Kernel, readonly cv_wmesg: string) {}
}

export function cv_init(k: Kernel, wmesg: string): Kcondvar {
  return new Kcondvar(k, wmesg);
}

export function cv_destroy(cv: Kcondvar): void {
  if (cv_has_waiters(cv)) panic(cv.cv_kernel, `cv_destroy: "${cv.cv_wmesg}" has waiters`);
}

function cv_check(cv: Kcondvar, mtx: Kmutex): void {
  const ld = cv.cv_kernel.ld;
  if (ld.enabled && !mutex_owned(mtx)) {
    ld.abort('cv-interlock', `cv_wait on "${cv.cv_wmesg}" without holding its interlock "${mtx.ld_name}"`);
  }
}

/** cv_wait(9): release mtx, sleep until signalled, retake mtx. */
export function cv_wait(cv: Kcondvar, mtx: Kmutex, l: Lwp): Promise<number> {
  cv_check(cv, mtx);
  return mtsleep(l, cv, 0, cv.cv_wmesg, 0, mtx);
}

/** cv_wait_sig(9): as cv_wait, but interruptible (EINTR). */
export function cv_wait_sig(cv: Kcondvar, mtx: Kmutex, l: Lwp): Promise<number> {
  cv_check(cv, mtx);
  return mtsleep(l, cv, 0x100, cv.cv_wmesg, 0, mtx);
}

/** cv_timedwait(9): EWOULDBLOCK after `ticks` ticks (0 = no timeout). */
export function cv_timedwait(cv: Kcondvar, mtx: Kmutex, ticks: number, l: Lwp): Promise<number> {
  cv_check(cv, mtx);
  return mtsleep(l, cv, 0, cv.cv_wmesg, ticks, mtx);
}

export function cv_timedwait_sig(cv: Kcondvar, mtx: Kmutex, ticks: number, l: Lwp): Promise<number> {
  cv_check(cv, mtx);
  return mtsleep(l, cv, 0x100, cv.cv_wmesg, ticks, mtx);
}

export function cv_signal(cv: Kcondvar): void {
  wakeup_one(cv.cv_kernel, cv);
}

export function cv_broadcast(cv: Kcondvar): void {
  wakeup(cv.cv_kernel, cv);
}

export function cv_has_waiters(cv: Kcondvar): boolean {
  return cv.cv_kernel.sleeptab.first(cv) !== null;
}
