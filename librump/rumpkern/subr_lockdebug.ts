/*
 * lockdebug: checks of the lock contracts (NetBSD's subr_lockdebug.c, in
 * the terms of this kernel's execution model).
 *
 * The kernel runs on one virtual CPU.  Only the context that holds the CPU
 * runs kernel code, and it gives the CPU up only by sleeping (tsleep,
 * cv_wait, ...) or by returning to the host.  So a lock is never legally
 * held when the CPU is given up, except a sleep's interlock, which the
 * sleep releases.  What this catches:
 *   - releasing a lock that is not held, or held by another context;
 *   - recursion on a non-recursive lock;
 *   - sleeping with a spin mutex held, or with any lock but the interlock;
 *   - an LWP that awaited something other than a kernel sleep while it held
 *     the CPU (found when the host next enters the kernel), with the locks
 *     it held;
 *   - sleeping in interrupt or softint context;
 *   - an adaptive mutex taken in hard interrupt context;
 *   - lock-order reversals between lock classes: every order in which two
 *     classes were held is recorded, and a new order that closes a cycle is
 *     reported with both orders.
 * A finding panics the kernel (the default in tests) or is logged.
 */

import type { Kernel } from './rump.ts';
import { log, LOG_ERR, panic } from './subr_prf.ts';

/** What lockdebug knows about one lock. */
export interface LockdebugLock {
  readonly ld_name: string;
  /** Index of the lock's class (its name) in Lockdebug.classes. */
  readonly ld_class: number;
  readonly ld_kind: string;
}

export type LockdebugMode = 'panic' | 'log' | 'off';

export type FindingKind =
  | 'not-held'
  | 'wrong-owner'
  | 'recursion'
  | 'sleep-spin'
  | 'sleep-locked'
  | 'await-locked'
  | 'await-cpu'
  | 'sleep-intr'
  | 'adaptive-intr'
  | 'order-reversal'
  | 'cv-interlock';

export interface Finding {
  readonly kind: FindingKind;
  readonly message: string;
}

interface OrderEdge {
  readonly where: string;
}

export class Lockdebug {
  mode: LockdebugMode;
  /** Locks held now, in acquisition order (only the CPU holder holds locks). */
  readonly held: LockdebugLock[] = [];
  readonly classes: string[] = [];
  private readonly classByName = new Map<string, number>();
  /** order[a].get(b): class b was taken while class a was held. */
  private readonly order: Map<number, OrderEdge>[] = [];
  readonly findings: Finding[] = [];

  constructor(private readonly k: Kernel, mode: LockdebugMode) {
    this.mode = mode;
  }

  get enabled(): boolean {
    return this.mode !== 'off';
  }

  /** The class index of a lock name, created on first use. */
  lockdebug_class(name: string): number {
    let c = this.classByName.get(name);
    if (c === undefined) {
      c = this.classes.length;
      this.classes.push(name);
      this.classByName.set(name, c);
      this.order.push(new Map());
    }
    return c;
  }

  /** A lock is being acquired: record and check the order against held ones. */
  lockdebug_wantlock(lk: LockdebugLock): void {
    const held = this.held;
    const cb = lk.ld_class;
    for (let i = 0; i < held.length; i++) {
      const ca = held[i]!.ld_class;
      if (ca === cb) continue;
      const edges = this.order[ca]!;
      if (edges.has(cb)) continue;
      const reverse = this.findPath(cb, ca);
      const where = this.describeHeld(lk);
      edges.set(cb, { where });
      if (reverse !== null) {
        this.abort('order-reversal',
          `lock order reversal: "${this.classes[ca]}" then "${this.classes[cb]}" (${where}), ` +
          `but earlier "${this.classes[cb]}" then "${this.classes[ca]}" (${reverse})`);
        return;
      }
    }
  }

  lockdebug_locked(lk: LockdebugLock): void {
    this.held.push(lk);
  }

  lockdebug_unlocked(lk: LockdebugLock): void {
    const held = this.held;
    for (let i = held.length - 1; i >= 0; i--) {
      if (held[i] === lk) {
        held.splice(i, 1);
        return;
      }
    }
  }

  /**
   * The current context is about to give up the CPU by sleeping; only the
   * interlock (which the sleep releases) may be held.
   */
  lockdebug_sleep(interlock: LockdebugLock | null, spin: (lk: LockdebugLock) => boolean): void {
    for (const lk of this.held) {
      if (lk === interlock) continue;
      if (spin(lk)) this.abort('sleep-spin', `sleeping with spin mutex "${lk.ld_name}" held`);
      else this.abort('sleep-locked', `sleeping with ${lk.ld_kind} "${lk.ld_name}" held (not the interlock)`);
      return;
    }
  }

  /** Names of the held locks, for messages and panic summaries. */
  heldNames(): string {
    return this.held.map((l) => `${l.ld_kind} "${l.ld_name}"`).join(', ');
  }

  /** Report a finding: panic or log, as configured. */
  abort(kind: FindingKind, message: string): void {
    if (this.mode === 'off') return;
    this.findings.push({ kind, message });
    if (this.mode === 'panic') panic(this.k, `lockdebug: ${message}`);
    log(this.k, LOG_ERR, `lockdebug: ${message}\n`);
  }

  private describeHeld(lk: LockdebugLock): string {
    const l = this.k.cpu.ci_curlwp;
    const who = l !== null ? `lwp ${l.l_lid} "${l.l_name}"` : 'no lwp';
    return `${who} holding ${this.heldNames()} took "${lk.ld_name}"`;
  }

  /** A recorded chain of orders from class a to class b, or null. */
  private findPath(a: number, b: number): string | null {
    const seen = new Set<number>([a]);
    const stack: [number, string][] = [[a, '']];
    while (stack.length > 0) {
      const [c, via] = stack.pop()!;
      for (const [next, e] of this.order[c]!) {
        const path = via === '' ? e.where : `${via}; ${e.where}`;
        if (next === b) return path;
        if (!seen.has(next)) {
          seen.add(next);
          stack.push([next, path]);
        }
      }
    }
    return null;
  }
}
