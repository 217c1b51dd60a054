/*
 * The software loopback interface lo0 (NetBSD's sys/net/if_loop.c).
 *
 * Place in the packet path: a protocol sending to one of this host's own
 * addresses routes through lo0 (RTF_LOCAL routes point at it), and
 * ifp.if_output = looutput turns the packet around: it is counted as sent
 * and received, shown to the taps once (as NetBSD's bpf_mtap_af, with the
 * family, since there is no link header) and queued on the family's
 * loopback packet queue.  That queue's SOFTINT_NET softint hands it to
 * the input function the family registered (loop_register_input).
 *
 * Why a queue rather than a direct call: looutput runs inside the
 * sender's output path (ip_output, perhaps with the socket locked);
 * calling the input path from there would recurse into the protocols
 * (tcp_output -> ip_input -> tcp_input -> tcp_output ...).  NetBSD queues
 * on ip_pktq for the same reason.  So the registered function always runs
 * in softint context, and may call the protocol's input directly.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { pktq_create, pktq_enqueue, type PktQueue } from '../../../librump/rumpnet/pktqueue.ts';
import { m_freem, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import { EAFNOSUPPORT, ENETDOWN, ENOBUFS } from '../../../include/errno.ts';
import { IFF_LOOPBACK, IFF_MULTICAST, IFF_RUNNING, IFF_UP, IFT_LOOP } from '../../../include/if.ts';
import { if_attach, if_byindex, if_tap, Ifnet, TAP_OUT } from './if.ts';

/** NetBSD's LOMTU: the loopback MTU. */
export const LOMTU = 33624;
/** Packets a family's loopback queue holds (NetBSD's IFQ_MAXLEN for ip_pktq). */
export const LOOPQ_MAXLEN = 256;

/** A family's loopback input: the packet came back through lo0 (ifp), in softint context. */
export type LoopInputFn = (ifp: Ifnet, m: Mbuf) => void;

/** Per-kernel loopback state. */
export class LoopState {
  /** family -> its loopback queue. */
  readonly lo_queues = new Map<number, PktQueue>();
  lo0: Ifnet | null = null;
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** Loopback state; made on first use. */
    loop?: LoopState;
  }
}

function loop_state(k: Kernel): LoopState {
  let ls = k.loop;
  if (ls === undefined) {
    ls = new LoopState();
    k.loop = ls;
  }
  return ls;
}

/**
 * loop_register_input: packets of `family` sent through lo0 come back to
 * fn (softint context).  One function per family; a second registration
 * panics.  Returns the family's queue (its limit and drop count are
 * settable and readable there).
 */
export function loop_register_input(k: Kernel, family: number, fn: LoopInputFn): PktQueue {
  const ls = loop_state(k);
  if (ls.lo_queues.has(family)) panic(k, `loop_register_input: family ${family} already registered`);
  /* One closure per family, made here: the packet path allocates nothing. */
  const pq = pktq_create(k, `lo.${family}`, LOOPQ_MAXLEN, (m: Mbuf) => {
    const ifp = if_byindex(k, m.m_pkthdr.rcvif_index);
    if (ifp === null) {
      /* lo went away while the packet waited. */
      m_freem(m);
      return;
    }
    fn(ifp, m);
  });
  ls.lo_queues.set(family, pq);
  return pq;
}

/**
 * looutput: loop packet m of `family` back to this host.  dst is unused
 * (every destination is here).  Takes ownership of m; returns an errno:
 * ENETDOWN unless lo is up, EAFNOSUPPORT for a family nobody registered,
 * ENOBUFS when the family's queue is full.
 */
export function looutput(ifp: Ifnet, m: Mbuf, family: number, _dst: number): number {
  if ((ifp.if_flags & IFF_UP) === 0) {
    m_freem(m);
    return ENETDOWN;
  }
  const len = m.m_pkthdr.len;
  if (ifp.if_taps.length > 0) if_tap(ifp, m, TAP_OUT, family);
  ifp.if_opackets++;
  ifp.if_obytes += len;
  const pq = loop_state(ifp.if_kernel).lo_queues.get(family);
  if (pq === undefined) {
    ifp.if_noproto++;
    m_freem(m);
    return EAFNOSUPPORT;
  }
  m.m_pkthdr.rcvif_index = ifp.if_index;
  if (!pktq_enqueue(pq, m)) {
    ifp.if_iqdrops++;
    m_freem(m);
    return ENOBUFS;
  }
  ifp.if_ipackets++;
  ifp.if_ibytes += len;
  return 0;
}

function loinit(ifp: Ifnet): number {
  ifp.if_flags |= IFF_RUNNING;
  return 0;
}

function lostop(ifp: Ifnet): void {
  ifp.if_flags &= ~IFF_RUNNING;
}

/* lo0 has no receive side: anything handed to its input is dropped. */
function loinput(ifp: Ifnet, m: Mbuf): void {
  ifp.if_iqdrops++;
  m_freem(m);
}

/**
 * loopattach: make lo0 (down: libnetinet gives it 127.0.0.1 and brings it
 * up at NET_IFCFG) and tell the routing table, if there is one, that
 * local routes go through it.
 */
export function loopattach(k: Kernel): Ifnet {
  const ifp = new Ifnet(k, 'lo0');
  ifp.if_type = IFT_LOOP;
  ifp.if_flags = IFF_LOOPBACK | IFF_MULTICAST;
  ifp.if_mtu = LOMTU;
  ifp.if_maxmtu = LOMTU;
  ifp.if_output = looutput;
  ifp.if_input = loinput;
  ifp.if_init = loinit;
  ifp.if_stop = lostop;
  const error = if_attach(k, ifp);
  if (error !== 0) panic(k, `loopattach: if_attach lo0: errno ${error}`);
  loop_state(k).lo0 = ifp;
  if (k.rt !== undefined) k.rt.lo0ifp = ifp;
  return ifp;
}
