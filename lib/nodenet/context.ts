/*
 * What the sockets and servers of one createNet() share: the syscall
 * surface they run on, and the handle that keeps the Node process alive
 * while any of them is open and ref'd.
 *
 * Why a handle.  In Node an open socket or listening server keeps the
 * event loop alive; ours are promises waiting on kernel syscalls, which
 * keep nothing alive, and an idle kernel arms no host timer (its clock is
 * tickless).  So a program whose only work is a listening server would
 * exit at once.  One long interval timer per context, ref'd while the
 * count of open ref'd sockets and servers is above zero, restores Node's
 * rule: ref()/unref() move an object in and out of the count.
 */

import type { SysApi } from '../../include/sysapi.ts';

/* The interval never fires in practice; it only holds the loop. */
const HOLD_MS = 0x3fffffff;

function noop(): void {}

export class NetContext {
  private holds = 0;
  private holder: ReturnType<typeof setInterval> | null = null;

  constructor(readonly sys: SysApi) {}

  /** One more (+1) or one fewer (-1) open, ref'd socket or server. */
  hold(delta: 1 | -1): void {
    this.holds += delta;
    if (this.holds > 0 && this.holder === null) this.holder = setInterval(noop, HOLD_MS);
    else if (this.holds === 0 && this.holder !== null) {
      clearInterval(this.holder);
      this.holder = null;
    }
  }

  /** Open, ref'd sockets and servers (for tests and diagnostics). */
  get held(): number {
    return this.holds;
  }
}
