/*
 * The narrow interface between virtif's kernel half (if_virt.ts) and its
 * host half (virtif_user.ts), as NetBSD's VIFHYPER_* hypercalls and the
 * VIF_DELIVERPKT upcall (virtif_user.h).  Types only: nothing here touches
 * the host, so the kernel half bundles without node: modules, and a test
 * can put any host half (a fake TAP on the sim host) behind a real driver.
 *
 * Rules both halves keep:
 *   - a hypercall never calls an upcall before it returns; frames and
 *     errors arrive later, from the host loop, and enter the kernel as
 *     interrupts;
 *   - errors are NetBSD errno numbers (the host half translates), with a
 *     sentence for people where the errno alone would not say what to do;
 *   - after destroy() or fini() no upcall names that handle again;
 *   - create() of a device another kernel of the process holds attaches
 *     to it (a shared wire): the host half then runs each attached
 *     interface's filter (the filter upcall) on every frame, read from
 *     the device or sent by another kernel on it, and delivers only what
 *     the filter accepts.
 */

import type { BpfInsn } from '../../../include/bpf.ts';

/** A host device; opaque to the kernel. */
export interface VirtifHandle {
  /** The host's name of the device (Linux: the TAP interface). */
  readonly vh_devname: string;
}

/**
 * Frames that arrived together: frame i is buf[desc[2i], desc[2i] +
 * desc[2i+1]).  Owned by the host half and reused: valid only during the
 * upcall (the kernel copies what it keeps, as m_devget does).
 */
export interface VirtifRxBatch {
  readonly buf: Uint8Array;
  readonly desc: Int32Array;
  n: number;
}

/**
 * One frame to send, as segments (an mbuf chain's storage, not copied):
 * segment i is bufs[i][offs[i], offs[i] + lens[i]).  Owned by the kernel
 * half and reused: the host half must be done with it when send() returns.
 */
export interface VirtifIovec {
  readonly bufs: Uint8Array[];
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  n: number;
}

/** What create() gives: a handle, or an errno with a sentence saying why. */
export type VirtifCreateResult =
  | { readonly error: 0; readonly viu: VirtifHandle }
  | { readonly error: number; readonly why: string };

/** Upcalls: host events for the interface whose kernel cookie is c. */
export interface VirtifUpcalls<C> {
  /** VIF_DELIVERPKT: frames arrived (a batch, for one interrupt). */
  deliver(c: C, rx: VirtifRxBatch): void;
  /** The device failed for good (removed under us, I/O error): no frame will come any more. */
  error(c: C, errno: number, why: string): void;
  /**
   * The frames c wants from a shared device, as a BPF program over the
   * Ethernet frame.  The same array while nothing changed; a new one
   * tells the host half to compile and register it again.
   */
  filter(c: C): readonly BpfInsn[];
}

/** Hypercalls: what the kernel asks of the host. */
export interface VirtifHypercalls<C> {
  /** Segments send() takes at most; the kernel linearises longer chains. */
  readonly iovmax: number;
  /** VIFHYPER_CREATE: open host device devname for the interface c and start receiving. */
  create(devname: string, c: C): VirtifCreateResult;
  /** VIFHYPER_SEND: one frame; 0 or an errno (the frame is lost either way, as on a wire). */
  send(viu: VirtifHandle, iov: VirtifIovec): number;
  /** VIFHYPER_DYING + VIFHYPER_DESTROY: stop receiving and close the device. */
  destroy(viu: VirtifHandle): void;
  /** Close every device (the kernel halts). */
  fini(): void;
}
