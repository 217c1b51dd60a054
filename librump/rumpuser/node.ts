/*
 * rumpuser on a real Node.js host: host clocks, one host timer for the
 * kernel's next due tick, setImmediate for deferred softints, the host's
 * cryptographic random bytes, and stdout as the console.
 *
 * Nothing here keeps the process alive once the kernel is halted: fini()
 * clears the timer and any pending immediate.
 */

import { randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';
import {
  RUMPUSER_CLOCK_RELWALL, RUMPUSER_PARAM_HOSTNAME, RUMPUSER_PARAM_NCPU, RUMPUSER_VERSION,
  type PanicReport, type RumpHyperup, type RumpUser, type Timespec,
} from '../../include/rumpuser.ts';
import { EINVAL } from '../../include/errno.ts';

export interface NodeHostOptions {
  /** Parameters that override the process environment (RUMP_VERBOSE, ...). */
  params?: Record<string, string>;
  /** Console sink; default process.stdout. */
  console?: (s: string) => void;
  /** Called on panic after the report is printed; default: nothing more. */
  onPanic?: (r: PanicReport) => void;
}

export class NodeHost implements RumpUser {
  readonly hostkind = 'node';
  private hyp: RumpHyperup | null = null;
  private readonly originMs = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private timerDeadline = -1;
  private immediate: NodeJS.Immediate | null = null;
  private readonly params: Record<string, string>;
  private readonly cons: (s: string) => void;
  private readonly onPanic: ((r: PanicReport) => void) | undefined;
  private readonly fireClock = (): void => {
    this.timer = null;
    const now = this.rumpuser_clock_monotonic();
    /* setTimeout has millisecond granularity; never deliver a tick early. */
    if (now < this.timerDeadline) {
      this.armTimer(this.timerDeadline - now);
      return;
    }
    this.timerDeadline = -1;
    this.hyp?.hyp_intr_clock();
  };
  private readonly fireSoft = (): void => {
    this.immediate = null;
    this.hyp?.hyp_intr_soft();
  };

  constructor(opts: NodeHostOptions = {}) {
    this.params = opts.params ?? {};
    this.cons = opts.console ?? ((s) => { process.stdout.write(s); });
    this.onPanic = opts.onPanic;
  }

  rumpuser_init(version: number, hyp: RumpHyperup): number {
    if (version !== RUMPUSER_VERSION || this.hyp !== null) return EINVAL;
    this.hyp = hyp;
    return 0;
  }

  rumpuser_getparam(name: string): string | undefined {
    const v = this.params[name];
    if (v !== undefined) return v;
    if (name === RUMPUSER_PARAM_HOSTNAME) return `rump-${process.pid}.${hostname()}`;
    if (name === RUMPUSER_PARAM_NCPU) return process.env['RUMP_NCPU'] ?? '1';
    return process.env[name];
  }

  rumpuser_clock_gettime(clk: number, ts: Timespec): void {
    if (clk === RUMPUSER_CLOCK_RELWALL) {
      const ms = Date.now();
      ts.tv_sec = Math.floor(ms / 1000);
      ts.tv_nsec = (ms % 1000) * 1e6;
    } else {
      const ns = this.rumpuser_clock_monotonic();
      ts.tv_sec = Math.floor(ns / 1e9);
      ts.tv_nsec = ns - ts.tv_sec * 1e9;
    }
  }

  rumpuser_clock_monotonic(): number {
    /* performance.now() is the same monotonic clock without a BigInt per call (the kernel reads it at every entry). */
    return Math.round((performance.now() - this.originMs) * 1e6);
  }

  rumpuser_clock_arm(deadline: number): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.timerDeadline = deadline;
    if (deadline < 0 || this.hyp === null) return;
    this.armTimer(deadline - this.rumpuser_clock_monotonic());
  }

  private armTimer(deltaNs: number): void {
    /* setTimeout takes at most 2^31-1 ms; fireClock re-arms if woken before the deadline. */
    this.timer = setTimeout(this.fireClock, Math.min(0x7fffffff, Math.max(0, Math.ceil(deltaNs / 1e6))));
  }

  rumpuser_sched_soft(): void {
    if (this.immediate === null && this.hyp !== null) this.immediate = setImmediate(this.fireSoft);
  }

  rumpuser_sp_activity(_delta: number): void {
    /* Real time runs by itself. */
  }

  rumpuser_getrandom(buf: Uint8Array, _flags: number): number {
    randomFillSync(buf);
    return buf.length;
  }

  rumpuser_putstr(s: string): void {
    this.cons(s);
  }

  rumpuser_dprintf(s: string): void {
    process.stderr.write(s);
  }

  rumpuser_panic(r: PanicReport): void {
    process.stderr.write(`${r.kernel}: panic: ${r.message}\n${r.summary}\n`);
    this.onPanic?.(r);
  }

  rumpuser_fini(): void {
    this.rumpuser_clock_arm(-1);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.hyp = null;
  }
}
