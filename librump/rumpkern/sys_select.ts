/*
 * poll(2) and the select/poll rendezvous (NetBSD's sys_select.c).
 *
 * An object that can become ready keeps a SelInfo.  A poller scans its
 * descriptors; each fo_poll either reports ready events or records the
 * poller on the object's SelInfo (selrecord).  If nothing is ready the
 * poller sleeps on its own channel until some object calls selnotify(),
 * which wakes every recorded poller to scan again, or the timeout passes.
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import type { Retval } from './rump_syscalls.ts';
import { fd_getfile } from './kern_descrip.ts';
import { PCATCH, tsleep, wakeup } from './ltsleep.ts';
import { EINVAL, EWOULDBLOCK } from '../../include/errno.ts';
import { POLLERR, POLLHUP, POLLNVAL, type PollFd } from '../../include/syscall.ts';

export class SelInfo {
  /** LWPs waiting for this object to change. */
  sel_lwps: Lwp[] = [];
}

/** Per-LWP poll state, made on the LWP's first poll. */
export class SelState {
  readonly sc_chan = {};
  readonly sc_recs: SelInfo[] = [];
}

/** Record that l waits for sip to change (called from fo_poll). */
export function selrecord(l: Lwp, sip: SelInfo): void {
  const st = l.l_sel;
  if (st === null || sip.sel_lwps.includes(l)) return;
  sip.sel_lwps.push(l);
  st.sc_recs.push(sip);
}

/** The object changed: wake every poller recorded on it. */
export function selnotify(k: Kernel, sip: SelInfo): void {
  const lwps = sip.sel_lwps;
  if (lwps.length === 0) return;
  for (const l of lwps) {
    if (l.l_sel !== null) wakeup(k, l.l_sel.sc_chan);
  }
}

function selclear(l: Lwp): void {
  const st = l.l_sel!;
  for (const sip of st.sc_recs) {
    const i = sip.sel_lwps.indexOf(l);
    if (i >= 0) sip.sel_lwps.splice(i, 1);
  }
  st.sc_recs.length = 0;
}

function pollscan(l: Lwp, fds: PollFd[]): number {
  const fdp = l.l_proc.p_fd!;
  let n = 0;
  for (const pfd of fds) {
    if (pfd.fd < 0) {
      pfd.revents = 0;
      continue;
    }
    const fp = fd_getfile(fdp, pfd.fd);
    if (fp === null) {
      pfd.revents = POLLNVAL;
      n++;
      continue;
    }
    pfd.revents = fp.f_ops.fo_poll(fp, l, pfd.events | POLLERR | POLLHUP);
    if (pfd.revents !== 0) n++;
  }
  return n;
}

/**
 * The tick (in `ticks`) by which a timeout of `ms` from now has fully passed.
 * Sleeps end on tick boundaries, so mstohz(ms) ticks alone would cut a poll
 * started part-way through a tick short by that part; like tvtohz's extra
 * tick, count to the first boundary at or after now + ms (exact when the
 * poll starts on a boundary).
 */
function poll_deadline(k: Kernel, ms: number): number {
  const end = Math.ceil((k.uptimeNs() + ms * 1e6) / k.tick_ns - 1e-6);
  return (k.ticks + Math.max(1, end - k.elapsed)) | 0;
}

export interface PollArgs {
  fds: PollFd[];
  /** Milliseconds; negative (INFTIM) waits forever, 0 does not wait. */
  timeout: number;
}

/** poll(2): the number of descriptors with events; revents filled in. */
export async function sys_poll(l: Lwp, uap: PollArgs, rv: Retval): Promise<number> {
  const k = l.l_kernel;
  const { fds, timeout } = uap;
  if (!Array.isArray(fds) || fds.length > k.maxfiles) return EINVAL;
  if (l.l_sel === null) l.l_sel = new SelState();
  const forever = timeout < 0;
  const deadline = forever ? 0 : poll_deadline(k, timeout);
  try {
    for (;;) {
      const n = pollscan(l, fds);
      if (n > 0 || timeout === 0) {
        rv.rv0 = n;
        return 0;
      }
      let timo = 0;
      if (!forever) {
        timo = (deadline - k.ticks) | 0;
        if (timo <= 0) {
          rv.rv0 = 0;
          return 0;
        }
      }
      const error = await tsleep(l, l.l_sel.sc_chan, PCATCH, 'poll', timo);
      selclear(l);
      if (error === EWOULDBLOCK) {
        rv.rv0 = pollscan(l, fds);
        selclear(l);
        return 0;
      }
      if (error !== 0) return error;
    }
  } finally {
    selclear(l);
  }
}
