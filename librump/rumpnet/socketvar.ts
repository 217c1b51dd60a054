/*
 * The socket and its buffers (NetBSD's sys/socketvar.h).
 *
 * A socket sits between the descriptor layer (sys_socket.ts) and its
 * protocol (so_proto, so_pcb).  Data waits in two sockbufs: so_rcv, filled
 * by the protocol (sbappend*) and drained by soreceive(), and so_snd, filled
 * by sosend() and drained by the protocol as the peer acknowledges.  A
 * sockbuf is a list of records linked by m_nextpkt, each a chain of mbufs
 * linked by m_next; a stream socket has at most one record.
 *
 * Locking: every socket of a kernel uses the kernel's softnet_lock as
 * so_lock, as NetBSD does for inet; sleeps on a sockbuf or on the socket
 * (connect, accept) use it as the interlock.  sblock() (SB_LOCK) keeps one
 * sender or receiver at a time across such sleeps.
 */

import type { Kernel } from '../rumpkern/rump.ts';
import { cv_init, type Kcondvar, type Kmutex } from '../rumpkern/locks.ts';
import { SelInfo } from '../rumpkern/sys_select.ts';
import type { Mbuf } from './uipc_mbuf.ts';
import type { Protosw } from './uipc_domain.ts';

/* so_state */
export const SS_NOFDREF = 0x001;
export const SS_ISCONNECTED = 0x002;
export const SS_ISCONNECTING = 0x004;
export const SS_ISDISCONNECTING = 0x008;
export const SS_CANTSENDMORE = 0x010;
export const SS_CANTRCVMORE = 0x020;
export const SS_RCVATMARK = 0x040;
export const SS_ISABORTING = 0x080;
export const SS_NBIO = 0x100;
export const SS_ASYNC = 0x200;
export const SS_ISCONFIRMING = 0x400;
export const SS_ISDISCONNECTED = 0x800;

/* sb_flags */
export const SB_LOCK = 0x01;
export const SB_NOTIFY = 0x04;
export const SB_ASYNC = 0x10;
export const SB_UPCALL = 0x20;
export const SB_NOINTR = 0x40;
export const SB_KNOTE = 0x100;
export const SB_AUTOSIZE = 0x800;

/** Upcall events (so_upcall / sb_upcall). */
export const POLL_IN = 1;
export const POLL_OUT = 2;
export const POLL_ERR = 4;
export const POLL_HUP = 8;

export type SoUpcall = (so: Socket, arg: unknown, events: number, waitflag: number) => void;

export class Sockbuf {
  /** First record. */
  sb_mb: Mbuf | null = null;
  /** Last mbuf of the last record (streams append here). */
  sb_mbtail: Mbuf | null = null;
  /** First mbuf of the last record. */
  sb_lastrecord: Mbuf | null = null;
  /** Bytes held, addresses and control included (as NetBSD). */
  sb_cc = 0;
  /** Of sb_cc, the address and control bytes. */
  sb_ctl = 0;
  sb_hiwat = 0;
  /** Storage (mbuf and cluster bytes) held and its limit, against mbuf hogging. */
  sb_mbcnt = 0;
  sb_mbmax = 0;
  sb_lowat = 0;
  sb_flags = 0;
  /** SO_RCVTIMEO / SO_SNDTIMEO in ticks; 0 = forever. */
  sb_timeo = 0;
  /** Records dropped for lack of room (SO_OVERFLOWED). */
  sb_overflowed = 0;
  readonly sb_cv: Kcondvar;
  readonly sb_sel = new SelInfo();
  constructor(k: Kernel, readonly sb_so: Socket, wmesg: string) {
    this.sb_cv = cv_init(k, wmesg);
  }
}

export class Socket {
  so_options = 0;
  so_linger = 0;
  so_state = 0;
  so_pcb: unknown = null;
  /** For a socket on a listener's queue: the listener. */
  so_head: Socket | null = null;
  /** Incomplete (q0) and complete (q) connections of a listener. */
  so_q0: Socket[] = [];
  so_q: Socket[] = [];
  so_qlimit = 0;
  so_error = 0;
  so_rerror = 0;
  readonly so_rcv: Sockbuf;
  readonly so_snd: Sockbuf;
  /** Sleeps for connect and accept. */
  readonly so_cv: Kcondvar;
  so_upcall: SoUpcall | null = null;
  so_upcallarg: unknown = null;
  /** The rump process that created it (for fstat and diagnostics). */
  so_cpid = 0;

  constructor(
    readonly so_kernel: Kernel,
    readonly so_type: number,
    readonly so_proto: Protosw,
    readonly so_lock: Kmutex,
  ) {
    this.so_rcv = new Sockbuf(so_kernel, this, 'netio');
    this.so_snd = new Sockbuf(so_kernel, this, 'netio');
    this.so_cv = cv_init(so_kernel, 'netcon');
  }
}
