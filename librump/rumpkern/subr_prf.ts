/*
 * Kernel printf(9), log(9), aprint_*(9), panic(9) and KASSERT.
 *
 * printf goes to the console (through rumpuser) and to the message buffer;
 * log goes to the message buffer only.  panic() records the message and a
 * summary of the kernel's state, stops this kernel alone, and throws
 * KernelPanic to unwind whatever context called it; the entry points
 * (interrupts, softints, kthreads, syscalls) catch it so that the host
 * process survives.
 */

import type { Kernel } from './rump.ts';

export const LOG_EMERG = 0;
export const LOG_ALERT = 1;
export const LOG_CRIT = 2;
export const LOG_ERR = 3;
export const LOG_WARNING = 4;
export const LOG_NOTICE = 5;
export const LOG_INFO = 6;
export const LOG_DEBUG = 7;

/** Thrown by panic(); carries the kernel's panic string. */
export class KernelPanic extends Error {
  constructor(readonly kernelName: string, readonly panicstr: string) {
    super(`${kernelName}: panic: ${panicstr}`);
    this.name = 'KernelPanic';
  }
}

/** printf(9): console and message buffer. */
export function printf(k: Kernel, s: string): void {
  k.msgbuf.msgbuf_write(s, LOG_INFO, k.uptimeNs());
  k.hyp.rumpuser_putstr(s);
}

/** log(9): message buffer only, with a priority. */
export function log(k: Kernel, level: number, s: string): void {
  k.msgbuf.msgbuf_write(s, level, k.uptimeNs());
}

/** aprint_normal(9): boot messages everyone sees. */
export function aprint_normal(k: Kernel, s: string): void {
  printf(k, s);
}

/** aprint_verbose(9): on the console only with RUMP_VERBOSE; always in dmesg. */
export function aprint_verbose(k: Kernel, s: string): void {
  if (k.verbose) printf(k, s);
  else log(k, LOG_INFO, s);
}

/** aprint_debug(9): dmesg only. */
export function aprint_debug(k: Kernel, s: string): void {
  log(k, LOG_DEBUG, s);
}

/**
 * panic(9).  The first panic wins; a panic while panicking (from the
 * teardown it triggers) only unwinds.
 */
export function panic(k: Kernel, msg: string): never {
  if (k.panicstr === null) {
    k.panicstr = msg;
    const summary = k.stateSummary();
    k.msgbuf.msgbuf_write(`panic: ${msg}\n${summary}\n`, LOG_EMERG, k.uptimeNs());
    k.hyp.rumpuser_putstr(`panic: ${msg}\n`);
    k.hyp.rumpuser_panic({ kernel: k.name, message: msg, summary });
    k.die();
  }
  throw new KernelPanic(k.name, k.panicstr);
}

/** KASSERT(9): a broken invariant panics the kernel. */
export function KASSERT(k: Kernel, cond: boolean, what: string): asserts cond {
  if (!cond) panic(k, `kernel diagnostic assertion "${what}" failed`);
}
