/*
 * pktqueue(9): a packet queue drained by a network softint (NetBSD's
 * sys/net/pktqueue.c, reduced to one CPU).
 *
 * Place in the packet path: the hand-off between interrupt context and
 * protocol input.  A driver's receive interrupt runs ether_input, whose
 * protocol handler (ip_input's, say) only calls pktq_enqueue; the protocol
 * itself runs later from a SOFTINT_NET softint that drains the queue.  This
 * is what keeps interrupt handlers short, bounds the work queued per
 * protocol (pq_maxlen, with drops counted as net.inet.ip.ifq.drops is) and
 * lets a burst of frames be processed in one softint run.
 *
 * NetBSD keeps one queue per CPU; this kernel has one virtual CPU, so a
 * PktQueue is a single FIFO of packets linked through m_nextpkt (no
 * allocation per packet).  The softint drains at most pq_batch packets per
 * run and reschedules itself when more are left, so that one busy queue
 * does not starve the other NET softints (ARP, other protocols) queued
 * behind it.
 */

import type { Kernel } from '../rumpkern/rump.ts';
import {
  softint_disestablish, softint_establish, softint_schedule, SOFTINT_MPSAFE, SOFTINT_NET, type Softint,
} from '../rumpkern/intr.ts';
import { panic } from '../rumpkern/subr_prf.ts';
import { CTLFLAG_READWRITE, CTLTYPE_INT, CTLTYPE_NODE } from '../../include/sysctl.ts';
import { EINVAL } from '../../include/errno.ts';
import { m_freem, type Mbuf } from './uipc_mbuf.ts';

/** Packets one softint run hands to the handler before yielding to the other softints. */
export const PKTQ_BATCH = 64;

/* MIB numbers under <parent>.ifq, NetBSD's IFQCTL_*. */
const IFQCTL_LEN = 1;
const IFQCTL_MAXLEN = 2;
const IFQCTL_DROPS = 4;

export class PktQueue {
  /** FIFO of queued packets, linked through m_nextpkt. */
  pq_head: Mbuf | null = null;
  pq_tail: Mbuf | null = null;
  /** Packets queued now. */
  pq_len = 0;
  /** Queue limit; settable (net.inet.ip.ifq.maxlen). Lowering it drops nothing already queued. */
  pq_maxlen: number;
  /** Packets refused because the queue was full (the caller freed them). */
  pq_drops = 0;
  /** Packets ever accepted. */
  pq_enqueued = 0;
  /** Packets handed to the handler. */
  pq_handled = 0;
  /** Most packets one softint run hands over before rescheduling. */
  pq_batch = PKTQ_BATCH;
  /** The draining softint; null once destroyed. */
  pq_si: Softint | null;

  /** Use pktq_create(). */
  constructor(
    readonly pq_kernel: Kernel,
    readonly pq_name: string,
    maxlen: number,
    readonly pq_handler: (m: Mbuf) => void,
  ) {
    this.pq_maxlen = maxlen;
    this.pq_si = softint_establish(pq_kernel, SOFTINT_NET | SOFTINT_MPSAFE, pktq_softint, this, `pktq ${pq_name}`);
  }
}

/**
 * pktq_create: a queue of at most maxlen packets whose handler runs from a
 * SOFTINT_NET softint, once per packet, in arrival order.  The handler owns
 * each packet it is given.
 */
export function pktq_create(k: Kernel, name: string, maxlen: number, handler: (m: Mbuf) => void): PktQueue {
  if (!Number.isInteger(maxlen) || maxlen < 1) panic(k, `pktq_create ${name}: bad maxlen ${maxlen}`);
  return new PktQueue(k, name, maxlen, handler);
}

/**
 * pktq_enqueue: queue m and schedule the softint.  Returns false when the
 * queue is full: the drop is counted and the CALLER still owns m (and
 * frees it), as in NetBSD, so that it can count the drop in its own
 * statistics too.  Callable from interrupt context.
 */
export function pktq_enqueue(pq: PktQueue, m: Mbuf): boolean {
  const si = pq.pq_si;
  if (si === null || pq.pq_len >= pq.pq_maxlen) {
    pq.pq_drops++;
    return false;
  }
  m.m_nextpkt = null;
  if (pq.pq_tail === null) pq.pq_head = m;
  else pq.pq_tail.m_nextpkt = m;
  pq.pq_tail = m;
  pq.pq_len++;
  pq.pq_enqueued++;
  softint_schedule(si);
  return true;
}

function pktq_dequeue(pq: PktQueue): Mbuf | null {
  const m = pq.pq_head;
  if (m === null) return null;
  pq.pq_head = m.m_nextpkt;
  if (pq.pq_head === null) pq.pq_tail = null;
  m.m_nextpkt = null;
  pq.pq_len--;
  return m;
}

/* The softint: hand over up to pq_batch packets, then make room for the other softints. */
function pktq_softint(arg: unknown): void {
  const pq = arg as PktQueue;
  const k = pq.pq_kernel;
  for (let n = pq.pq_batch; n > 0; n--) {
    const m = pktq_dequeue(pq);
    if (m === null) return;
    pq.pq_handled++;
    pq.pq_handler(m);
    /* A handler that panicked stopped the kernel: leave the rest to halt. */
    if (k.dead) return;
  }
  if (pq.pq_head !== null && pq.pq_si !== null) softint_schedule(pq.pq_si);
}

/** pktq_flush: free every queued packet (an interface or protocol is going away). */
export function pktq_flush(pq: PktQueue): void {
  for (let m = pktq_dequeue(pq); m !== null; m = pktq_dequeue(pq)) m_freem(m);
}

/** pktq_set_maxlen: change the limit (net.inet.ip.ifq.maxlen); EINVAL below 1. */
export function pktq_set_maxlen(pq: PktQueue, maxlen: number): number {
  if (!Number.isInteger(maxlen) || maxlen < 1) return EINVAL;
  pq.pq_maxlen = maxlen;
  return 0;
}

/** pktq_destroy: stop the softint and free what is still queued. */
export function pktq_destroy(pq: PktQueue): void {
  if (pq.pq_si !== null) softint_disestablish(pq.pq_si);
  pq.pq_si = null;
  pktq_flush(pq);
}

/**
 * pktq_sysctl_setup: publish <parent>.ifq.len, .maxlen (writable) and
 * .drops, as NetBSD's net.inet.ip.ifq.*.  Missing parents are made.
 * Returns an errno.
 */
export function pktq_sysctl_setup(pq: PktQueue, parent: string): number {
  const sc = pq.pq_kernel.sysctl;
  const n = sc.sysctl_createv(parent, { name: 'ifq', type: CTLTYPE_NODE, description: `${pq.pq_name} input queue` }, { mkpath: true });
  if (n.error !== 0) return n.error;
  const ifq = `${parent}.ifq`;
  let r = sc.sysctl_createv(ifq, {
    name: 'len', num: IFQCTL_LEN, type: CTLTYPE_INT, get: () => pq.pq_len, description: 'Current input queue length',
  });
  if (r.error !== 0) return r.error;
  r = sc.sysctl_createv(ifq, {
    name: 'maxlen', num: IFQCTL_MAXLEN, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    get: () => pq.pq_maxlen,
    validate: (v: number) => (v < 1 ? EINVAL : 0),
    set: (v: number) => pktq_set_maxlen(pq, v),
    description: 'Maximum allowed input queue length',
  });
  if (r.error !== 0) return r.error;
  r = sc.sysctl_createv(ifq, {
    name: 'drops', num: IFQCTL_DROPS, type: CTLTYPE_INT, get: () => pq.pq_drops, description: 'Packets dropped due to full input queue',
  });
  return r.error;
}
