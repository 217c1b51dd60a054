/*
 * The Berkeley Packet Filter device, /dev/bpf (NetBSD's sys/net/bpf.c).
 *
 * Place in the packet path: a tap.  A BpfIf (struct bpf_if) hangs on an
 * interface's if_taps while at least one descriptor listens there, so
 * the generic taps feed it: ether_input (received, after the address
 * filter, promiscuous frames included), ether_output_frame (sent, by any
 * Ethernet driver) and looutput (lo0, with the address family, as
 * bpf_mtap_af).  An interface nobody listens on pays one length test per
 * packet and nothing else; the BpfIf is removed with its last listener.
 *
 * bpf_mtap runs each listener's filter (JIT-compiled by bpfjit; the mbuf
 * chain is read in place) and copies what passes, with a bpf_hdr, into
 * that descriptor's store buffer.  Each descriptor has three buffers of
 * bd_bufsize bytes, as NetBSD: store (being filled), hold (full, waiting
 * for read) and free.  When the store fills and the free buffer exists,
 * they rotate and the reader is woken; when the hold buffer has not been
 * read yet, the packet is dropped and counted (bs_drop).  A read takes
 * the whole hold buffer, so its buffer must be exactly bd_bufsize long
 * (EINVAL otherwise).  In immediate mode a read returns as soon as
 * anything is buffered; otherwise it waits for a full buffer or for the
 * read timeout (BIOCSRTIMEOUT), and with O_NONBLOCK/FIONBIO it takes
 * what there is or fails with EAGAIN.  poll reports readable on the same
 * terms, a timeout armed by poll counting as one for the next read.
 *
 * Every open of /dev/bpf is a new descriptor (the device clones): its
 * state lives in the Devfile, so dup'ed descriptors share it and the last
 * close detaches it.  Writes send a whole frame out of the interface
 * (ether_output_frame, or looutput with the family word for lo0).
 *
 * Locking: each descriptor's buffers are under bd_lock, a spin mutex at
 * IPL_NET since the tap runs in the receive interrupt.  Listener lists
 * are replaced, never changed in place, so the tap iterates them safely.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import type { Uio } from '../../../librump/rumpkern/kern_descrip.ts';
import { IPL_NET } from '../../../librump/rumpkern/intr.ts';
import {
  cv_broadcast, cv_init, cv_timedwait_sig, mutex_enter, mutex_exit, mutex_init, MUTEX_DEFAULT,
  type Kcondvar, type Kmutex,
} from '../../../librump/rumpkern/locks.ts';
import { Callout, callout_init, callout_reset, callout_stop, CALLOUT_MPSAFE } from '../../../librump/rumpkern/kern_timeout.ts';
import { SelInfo, selnotify, selrecord } from '../../../librump/rumpkern/sys_select.ts';
import { devnode_create, devsw_attach, makedev, type Cdevsw, type Devfile } from '../../../librump/rumpkern/subr_devsw.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_adj, m_copydata, m_devget, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import type { Timespec } from '../../../include/rumpuser.ts';
import {
  EAGAIN, EINTR, EINVAL, EMSGSIZE, ENETDOWN, ENOBUFS, ENXIO, EOPNOTSUPP, ERESTART, EWOULDBLOCK,
} from '../../../include/errno.ts';
import {
  FIOASYNC, FIONBIO, FIONREAD, FNONBLOCK, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
} from '../../../include/syscall.ts';
import { IFF_UP, IFT_ETHER, IFT_LOOP } from '../../../include/if.ts';
import {
  BIOCFLUSH, BIOCGBLEN, BIOCGDLT, BIOCGETIF, BIOCGHDRCMPLT, BIOCGRTIMEOUT, BIOCGSEESENT, BIOCGSTATS, BIOCIMMEDIATE,
  BIOCPROMISC, BIOCSBLEN, BIOCSETF, BIOCSETIF, BIOCSHDRCMPLT, BIOCSRTIMEOUT, BIOCSSEESENT, BIOCVERSION,
  BPF_DFLTBUFSIZE, BPF_HDR_CAPLEN_OFF, BPF_HDR_DATALEN_OFF, BPF_HDR_HDRLEN_OFF, BPF_HDR_TSTAMP_SEC_OFF,
  BPF_HDR_TSTAMP_USEC_OFF, BPF_MAJOR_VERSION, BPF_MAXBUFSIZE, BPF_MAXINSNS, BPF_MINBUFSIZE, BPF_MINOR_VERSION,
  BPF_WORDALIGN, DLT_EN10MB, DLT_NULL, SIZEOF_BPF_HDR, type BpfInsn, type BpfStat, type BpfTimeval,
} from '../../../include/bpf.ts';
import { bpfjit_filter, bpfjit_generate_code, type BpfJitCode } from './bpfjit.ts';
import { ifpromisc, ifnet_of, ifunit, TAP_OUT, type Ifnet, type IfTap } from './if.ts';
import { ether_output_frame } from './if_ethersubr.ts';
import { ETHER_ADDR_LEN, ETHER_HDR_LEN, ETHER_SHOST_OFF } from './if_ether.ts';
import { kernel_nanotime } from './pcap.ts';

/** Length of the address-family word in front of a DLT_NULL packet. */
const NULL_HDR_LEN = 4;

/* bd_state: a read timeout armed by poll (NetBSD's BPF_IDLE/WAITING/TIMED_OUT). */
const BPF_IDLE = 0;
const BPF_WAITING = 1;
const BPF_TIMED_OUT = 2;

/* What a filter that accepts everything returns: the whole packet. */
const BPF_ACCEPT_ALL = 0xffffffff;

/** A capture buffer and a view to write headers through (made once per buffer). */
class BpfBuf {
  readonly b: Uint8Array;
  readonly v: DataView;
  constructor(size: number) {
    this.b = new Uint8Array(size);
    this.v = new DataView(this.b.buffer);
  }
}

/** One open of /dev/bpf (struct bpf_d). */
export class BpfD {
  bd_bif: BpfIf | null = null;
  /** The interface we listened on was detached: reads end with ENXIO once drained. */
  bd_gone = false;
  bd_bufsize = BPF_DFLTBUFSIZE;
  bd_sbuf: BpfBuf | null = null;
  bd_slen = 0;
  bd_hbuf: BpfBuf | null = null;
  bd_hlen = 0;
  bd_fbuf: BpfBuf | null = null;
  /** Packets seen by the filter, dropped for want of buffer, and accepted (bs_recv, bs_drop, bs_capt). */
  bd_rcount = 0;
  bd_dcount = 0;
  bd_ccount = 0;
  bd_filter: BpfJitCode | null = null;
  bd_promisc = false;
  bd_immediate = false;
  bd_seesent = true;
  bd_hdrcmplt = false;
  /** Read timeout in ticks; 0 waits forever. */
  bd_rtout = 0;
  bd_state = BPF_IDLE;
  readonly bd_callout = new Callout();
  readonly bd_lock: Kmutex;
  readonly bd_cv: Kcondvar;
  readonly bd_sel = new SelInfo();

  constructor(readonly bd_kernel: Kernel) {
    this.bd_lock = mutex_init(bd_kernel, 'bpf_d', MUTEX_DEFAULT, IPL_NET);
    this.bd_cv = cv_init(bd_kernel, 'bpf');
    callout_init(this.bd_callout, CALLOUT_MPSAFE, bd_kernel);
  }
}

/** The listeners of one interface (struct bpf_if); on if_taps while it has any. */
export class BpfIf implements IfTap {
  /** Replaced on attach and detach, never changed in place. */
  bif_dlist: readonly BpfD[] = [];
  readonly bif_dlt: number;
  /** Header length that puts the network header of a record on a word boundary. */
  readonly bif_hdrlen: number;
  /* Time stamp of the packet being tapped, read once for all listeners. */
  private readonly ts: Timespec = { tv_sec: 0, tv_nsec: 0 };
  /* DLT_NULL: the family word and the packet, flattened for the filters. */
  private scratch = new Uint8Array(0);
  private scratchView = new DataView(this.scratch.buffer);

  constructor(readonly bif_ifp: Ifnet) {
    this.bif_dlt = bif_ifp.if_type === IFT_LOOP ? DLT_NULL : DLT_EN10MB;
    const linkhdr = this.bif_dlt === DLT_NULL ? NULL_HDR_LEN : ETHER_HDR_LEN;
    this.bif_hdrlen = BPF_WORDALIGN(linkhdr + SIZEOF_BPF_HDR) - linkhdr;
  }

  /** IfTap: bpf_mtap (bpf_mtap_af on lo0). The mbuf is only read. */
  tap(ifp: Ifnet, m: Mbuf, dir: number, af: number): void {
    const dlist = this.bif_dlist;
    const nul = this.bif_dlt === DLT_NULL;
    const pktlen = m.m_pkthdr.len + (nul ? NULL_HDR_LEN : 0);
    let flattened = false;
    let gottime = false;
    for (let i = 0; i < dlist.length; i++) {
      const d = dlist[i]!;
      if (dir === TAP_OUT && !d.bd_seesent) continue;
      d.bd_rcount++;
      if (nul && !flattened) {
        this.flatten_af(m, af, pktlen);
        flattened = true;
      }
      const f = d.bd_filter;
      let slen = BPF_ACCEPT_ALL;
      if (f !== null) slen = nul ? f.flat(this.scratchView, 0, pktlen, pktlen) : bpfjit_filter(f, m, pktlen, pktlen);
      if (slen === 0) continue;
      if (!gottime) {
        kernel_nanotime(ifp.if_kernel, this.ts);
        gottime = true;
      }
      catchpacket(d, nul ? null : m, this.scratch, pktlen, slen, this.ts);
    }
  }

  /* DLT_NULL: the family word, then the packet, into the scratch buffer (as bpf_mtap_af's stack mbuf). */
  private flatten_af(m: Mbuf, af: number, pktlen: number): void {
    if (this.scratch.length < pktlen) {
      this.scratch = new Uint8Array(pktlen);
      this.scratchView = new DataView(this.scratch.buffer);
    }
    this.scratchView.setUint32(0, af, true);
    m_copydata(m, 0, pktlen - NULL_HDR_LEN, this.scratch, NULL_HDR_LEN);
  }
}

/** Per-kernel bpf state. */
export class BpfState {
  /** Interfaces with listeners. */
  readonly bifs = new Map<Ifnet, BpfIf>();
  /** The interface detach hook is in place (added on first attach). */
  hooked = false;
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** bpf(4); set when rumpdev_bpf boots. */
    bpf?: BpfState;
  }
}

function bpf_state(k: Kernel): BpfState {
  const st = k.bpf;
  if (st === undefined) panic(k, 'bpf used in a kernel booted without rumpdev_bpf');
  return st;
}

function bpf_wakeup(d: BpfD): void {
  cv_broadcast(d.bd_cv);
  selnotify(d.bd_kernel, d.bd_sel);
}

/* The hold buffer becomes free, the store buffer is held, the free one stores. */
function rotate_buffers(d: BpfD): void {
  d.bd_hbuf = d.bd_sbuf;
  d.bd_hlen = d.bd_slen;
  d.bd_sbuf = d.bd_fbuf;
  d.bd_slen = 0;
  d.bd_fbuf = null;
}

/*
 * catchpacket: copy pktlen bytes of packet (the chain m, or flat bytes
 * when m is null), at most snaplen, into the store buffer behind a
 * bpf_hdr; rotate when full, drop when the reader is behind.
 */
function catchpacket(d: BpfD, m: Mbuf | null, flat: Uint8Array, pktlen: number, snaplen: number, ts: Timespec): void {
  const bp = d.bd_bif!;
  const hdrlen = bp.bif_hdrlen;
  mutex_enter(d.bd_lock);
  d.bd_ccount++;
  let totlen = hdrlen + Math.min(snaplen, pktlen);
  if (totlen > d.bd_bufsize) totlen = d.bd_bufsize;
  let curlen = BPF_WORDALIGN(d.bd_slen);
  let wake = false;
  if (curlen + totlen > d.bd_bufsize) {
    if (d.bd_fbuf === null) {
      /* The reader has not taken the hold buffer yet: no room. */
      d.bd_dcount++;
      mutex_exit(d.bd_lock);
      return;
    }
    rotate_buffers(d);
    wake = true;
    curlen = 0;
  } else if (d.bd_immediate || d.bd_state === BPF_TIMED_OUT) {
    wake = true;
  }
  const sb = d.bd_sbuf!;
  const v = sb.v;
  const caplen = totlen - hdrlen;
  v.setUint32(curlen + BPF_HDR_TSTAMP_SEC_OFF, ts.tv_sec >>> 0, true);
  v.setUint32(curlen + BPF_HDR_TSTAMP_SEC_OFF + 4, Math.floor(ts.tv_sec / 2 ** 32), true);
  v.setUint32(curlen + BPF_HDR_TSTAMP_USEC_OFF, Math.floor(ts.tv_nsec / 1000), true);
  v.setUint32(curlen + BPF_HDR_TSTAMP_USEC_OFF + 4, 0, true);
  v.setUint32(curlen + BPF_HDR_CAPLEN_OFF, caplen, true);
  v.setUint32(curlen + BPF_HDR_DATALEN_OFF, pktlen, true);
  v.setUint16(curlen + BPF_HDR_HDRLEN_OFF, hdrlen, true);
  /* The padding up to the packet: never a previous record's bytes. */
  sb.b.fill(0, curlen + BPF_HDR_HDRLEN_OFF + 2, curlen + hdrlen);
  if (m !== null) m_copydata(m, 0, caplen, sb.b, curlen + hdrlen);
  else sb.b.set(flat.subarray(0, caplen), curlen + hdrlen);
  d.bd_slen = curlen + totlen;
  mutex_exit(d.bd_lock);
  if (wake) bpf_wakeup(d);
}

/* reset_d: drop what is buffered and zero the counters (d.bd_lock held). */
function reset_d(d: BpfD): void {
  if (d.bd_hbuf !== null) {
    d.bd_fbuf = d.bd_hbuf;
    d.bd_hbuf = null;
  }
  d.bd_slen = 0;
  d.bd_hlen = 0;
  d.bd_rcount = 0;
  d.bd_dcount = 0;
  d.bd_ccount = 0;
}

/* Interfaces going away take their listeners off with them. */
function bpf_ifdetach(k: Kernel, ifp: Ifnet): void {
  const bp = bpf_state(k).bifs.get(ifp);
  if (bp === undefined) return;
  for (const d of bp.bif_dlist) {
    bpf_detachd(d);
    d.bd_gone = true;
    bpf_wakeup(d);
  }
}

function bpf_attachd(d: BpfD, bp: BpfIf): void {
  const ifp = bp.bif_ifp;
  d.bd_bif = bp;
  d.bd_gone = false;
  bp.bif_dlist = [...bp.bif_dlist, d];
  /* A new array: the packet path iterates if_taps without copying it. */
  if (bp.bif_dlist.length === 1) ifp.if_taps = [...ifp.if_taps, bp];
}

function bpf_detachd(d: BpfD): void {
  const bp = d.bd_bif;
  if (bp === null) return;
  const ifp = bp.bif_ifp;
  if (d.bd_promisc) {
    d.bd_promisc = false;
    ifpromisc(ifp, false);
  }
  d.bd_bif = null;
  bp.bif_dlist = bp.bif_dlist.filter((x) => x !== d);
  if (bp.bif_dlist.length === 0) {
    ifp.if_taps = ifp.if_taps.filter((t) => t !== bp);
    bpf_state(d.bd_kernel).bifs.delete(ifp);
  }
}

/* BIOCSETIF: listen on the named interface from now on, with empty buffers. */
function bpf_setif(d: BpfD, name: unknown): number {
  if (typeof name !== 'string') return EINVAL;
  const k = d.bd_kernel;
  const ifp = ifunit(k, name);
  if (ifp === null) return ENXIO;
  const st = bpf_state(k);
  if (!st.hooked) {
    ifnet_of(k).detachhooks.push((i) => { bpf_ifdetach(k, i); });
    st.hooked = true;
  }
  let bp = st.bifs.get(ifp);
  if (bp === undefined) {
    bp = new BpfIf(ifp);
    st.bifs.set(ifp, bp);
  }
  if (d.bd_bif !== bp) {
    bpf_detachd(d);
    if (d.bd_sbuf === null) {
      d.bd_sbuf = new BpfBuf(d.bd_bufsize);
      d.bd_fbuf = new BpfBuf(d.bd_bufsize);
    }
    bpf_attachd(d, bp);
  }
  mutex_enter(d.bd_lock);
  reset_d(d);
  mutex_exit(d.bd_lock);
  return 0;
}

/* A well-formed instruction from user data, or null. */
function insn_from_user(x: unknown): BpfInsn | null {
  if (typeof x !== 'object' || x === null) return null;
  const { code, jt, jf, k } = x as Record<string, unknown>;
  const u8 = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xff;
  if (!Number.isInteger(code) || (code as number) < 0 || (code as number) > 0xffff || !u8(jt) || !u8(jf)) return null;
  if (!Number.isInteger(k) || (k as number) < -0x80000000 || (k as number) > 0xffffffff) return null;
  return { code: code as number, jt, jf, k: (k as number) >>> 0 };
}

/*
 * BIOCSETF: a validated, compiled program, or none (null, no bf_insns, or
 * an empty one) to take everything.  EINVAL for anything bpf_validate
 * refuses.  The buffers are flushed, as the old filter's packets are moot.
 */
function bpf_setf(d: BpfD, arg: unknown): number {
  let code: BpfJitCode | null = null;
  if (arg !== null && arg !== undefined) {
    if (typeof arg !== 'object') return EINVAL;
    const { bf_len, bf_insns } = arg as { bf_len?: unknown; bf_insns?: unknown };
    if (bf_insns === null || bf_insns === undefined) {
      if (bf_len !== undefined && bf_len !== 0) return EINVAL;
    } else {
      if (!Array.isArray(bf_insns) || bf_insns.length > BPF_MAXINSNS) return EINVAL;
      if (bf_len !== undefined && bf_len !== bf_insns.length) return EINVAL;
      if (bf_insns.length > 0) {
        const prog: BpfInsn[] = [];
        for (const x of bf_insns) {
          const p = insn_from_user(x);
          if (p === null) return EINVAL;
          prog.push(p);
        }
        code = bpfjit_generate_code(prog);
        if (code === null) return EINVAL;
      }
    }
  }
  mutex_enter(d.bd_lock);
  d.bd_filter = code;
  reset_d(d);
  mutex_exit(d.bd_lock);
  return 0;
}

function flag_from_user(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return v !== 0;
  return null;
}

/* BIOCSRTIMEOUT: a timeval to ticks, at least one for any nonzero time. */
function bpf_setrtout(d: BpfD, arg: unknown): number {
  if (typeof arg !== 'object' || arg === null) return EINVAL;
  const { tv_sec, tv_usec } = arg as Partial<BpfTimeval>;
  if (!Number.isInteger(tv_sec) || !Number.isInteger(tv_usec)) return EINVAL;
  if (tv_sec! < 0 || tv_usec! < 0 || tv_usec! >= 1_000_000 || tv_sec! > 0x7fffffff) return EINVAL;
  const hz = d.bd_kernel.hz;
  let ticks = tv_sec! * hz + Math.floor(tv_usec! / (1_000_000 / hz));
  if (ticks === 0 && tv_usec! !== 0) ticks = 1;
  d.bd_rtout = ticks;
  return 0;
}

/* ---- the device entry points ---- */

function bpf_of(df: Devfile): BpfD {
  return df.df_private as BpfD;
}

function bpfopen(df: Devfile, _flag: number, l: Lwp): number {
  df.df_private = new BpfD(l.l_kernel);
  return 0;
}

function bpfclose(df: Devfile, _flag: number, _l: Lwp): number {
  const d = bpf_of(df);
  mutex_enter(d.bd_lock);
  if (d.bd_state === BPF_WAITING) callout_stop(d.bd_callout);
  d.bd_state = BPF_IDLE;
  mutex_exit(d.bd_lock);
  bpf_detachd(d);
  d.bd_sbuf = d.bd_hbuf = d.bd_fbuf = null;
  d.bd_filter = null;
  df.df_private = null;
  return 0;
}

async function bpfread(df: Devfile, uio: Uio, flag: number, l: Lwp): Promise<number> {
  const d = bpf_of(df);
  /* The whole hold buffer moves at once: the reader must take exactly that much. */
  if (uio.uio_resid !== d.bd_bufsize) return EINVAL;
  mutex_enter(d.bd_lock);
  if (d.bd_state === BPF_WAITING) callout_stop(d.bd_callout);
  const timedOut = d.bd_state === BPF_TIMED_OUT;
  d.bd_state = BPF_IDLE;
  let error = 0;
  while (d.bd_hbuf === null) {
    if ((d.bd_immediate || timedOut || d.bd_bif === null) && d.bd_slen !== 0) {
      rotate_buffers(d);
      break;
    }
    if (d.bd_bif === null) {
      error = ENXIO;
      break;
    }
    if ((flag & FNONBLOCK) !== 0) {
      if (d.bd_slen === 0) {
        error = EAGAIN;
        break;
      }
      rotate_buffers(d);
      break;
    }
    error = await cv_timedwait_sig(d.bd_cv, d.bd_lock, d.bd_rtout, l);
    if (error === EINTR || error === ERESTART) break;
    if (error === EWOULDBLOCK) {
      /* The timeout: whatever has come in, possibly nothing (a read of 0). */
      error = 0;
      if (d.bd_hbuf !== null) break;
      if (d.bd_slen === 0) break;
      rotate_buffers(d);
      break;
    }
  }
  const hb = d.bd_hbuf;
  if (error === 0 && hb !== null) {
    uio.uio_buf.set(hb.b.subarray(0, d.bd_hlen), uio.uio_offset);
    uio.uio_offset += d.bd_hlen;
    uio.uio_resid -= d.bd_hlen;
    d.bd_fbuf = hb;
    d.bd_hbuf = null;
    d.bd_hlen = 0;
  }
  mutex_exit(d.bd_lock);
  return error;
}

/*
 * Send a whole frame out of the interface: an Ethernet frame (its source
 * address filled in unless BIOCSHDRCMPLT), or for DLT_NULL the family
 * word and the packet.
 */
function bpfwrite(df: Devfile, uio: Uio, _flag: number, _l: Lwp): number {
  const d = bpf_of(df);
  const bp = d.bd_bif;
  if (bp === null) return ENXIO;
  const ifp = bp.bif_ifp;
  const len = uio.uio_resid;
  if (len === 0) return 0;
  if ((ifp.if_flags & IFF_UP) === 0) return ENETDOWN;
  const nul = bp.bif_dlt === DLT_NULL;
  const hlen = nul ? NULL_HDR_LEN : ETHER_HDR_LEN;
  if (len < hlen) return EINVAL;
  if (len - hlen > ifp.if_mtu) return EMSGSIZE;
  if (!nul && ifp.if_type !== IFT_ETHER) return EOPNOTSUPP;
  const m = m_devget(net_of(d.bd_kernel).mb, uio.uio_buf, uio.uio_offset, len, 0);
  if (m === null) return ENOBUFS;
  uio.uio_offset += len;
  uio.uio_resid = 0;
  if (nul) {
    const af = m.m_view.getUint32(m.m_data, true);
    m_adj(m, NULL_HDR_LEN);
    return ifp.if_output(ifp, m, af, 0);
  }
  /* m_devget put at least the header in the first mbuf. */
  if (!d.bd_hdrcmplt) m.m_buf.set(ifp.if_sadl.subarray(0, ETHER_ADDR_LEN), m.m_data + ETHER_SHOST_OFF);
  return ether_output_frame(ifp, m);
}

function bpfioctl(df: Devfile, cmd: number, data: { value?: unknown }, _flag: number, _l: Lwp): number {
  const d = bpf_of(df);
  /* Any ioctl ends a read timeout that poll armed, as NetBSD's does. */
  mutex_enter(d.bd_lock);
  if (d.bd_state === BPF_WAITING) callout_stop(d.bd_callout);
  d.bd_state = BPF_IDLE;
  mutex_exit(d.bd_lock);
  const bp = d.bd_bif;
  switch (cmd) {
    case FIONREAD:
      mutex_enter(d.bd_lock);
      data.value = d.bd_slen + (d.bd_hbuf !== null ? d.bd_hlen : 0);
      mutex_exit(d.bd_lock);
      return 0;
    case FIONBIO:
    case FIOASYNC:
      /* The descriptor keeps FNONBLOCK; there are no signals to send. */
      return 0;
    case BIOCGBLEN:
      data.value = d.bd_bufsize;
      return 0;
    case BIOCSBLEN: {
      if (bp !== null) return EINVAL;
      const v = data.value;
      if (typeof v !== 'number' || !Number.isInteger(v)) return EINVAL;
      d.bd_bufsize = Math.min(Math.max(v, BPF_MINBUFSIZE), BPF_MAXBUFSIZE);
      data.value = d.bd_bufsize;
      return 0;
    }
    case BIOCSETF:
      return bpf_setf(d, data.value);
    case BIOCFLUSH:
      mutex_enter(d.bd_lock);
      reset_d(d);
      mutex_exit(d.bd_lock);
      return 0;
    case BIOCPROMISC: {
      if (bp === null) return EINVAL;
      if (d.bd_promisc) return 0;
      const error = ifpromisc(bp.bif_ifp, true);
      if (error === 0) d.bd_promisc = true;
      return error;
    }
    case BIOCGDLT:
      if (bp === null) return EINVAL;
      data.value = bp.bif_dlt;
      return 0;
    case BIOCGETIF:
      if (bp === null) return EINVAL;
      data.value = { ifr_name: bp.bif_ifp.if_xname };
      return 0;
    case BIOCSETIF: {
      const req = data.value as { ifr_name?: unknown } | null | undefined;
      return bpf_setif(d, typeof req === 'object' && req !== null ? req.ifr_name : undefined);
    }
    case BIOCSRTIMEOUT:
      return bpf_setrtout(d, data.value);
    case BIOCGRTIMEOUT: {
      const hz = d.bd_kernel.hz;
      const tv: BpfTimeval = { tv_sec: Math.floor(d.bd_rtout / hz), tv_usec: (d.bd_rtout % hz) * Math.floor(1_000_000 / hz) };
      data.value = tv;
      return 0;
    }
    case BIOCGSTATS: {
      const bs: BpfStat = { bs_recv: d.bd_rcount, bs_drop: d.bd_dcount, bs_capt: d.bd_ccount };
      data.value = bs;
      return 0;
    }
    case BIOCIMMEDIATE:
    case BIOCSSEESENT:
    case BIOCSHDRCMPLT: {
      const on = flag_from_user(data.value);
      if (on === null) return EINVAL;
      if (cmd === BIOCIMMEDIATE) d.bd_immediate = on;
      else if (cmd === BIOCSSEESENT) d.bd_seesent = on;
      else d.bd_hdrcmplt = on;
      return 0;
    }
    case BIOCGSEESENT:
      data.value = d.bd_seesent ? 1 : 0;
      return 0;
    case BIOCGHDRCMPLT:
      data.value = d.bd_hdrcmplt ? 1 : 0;
      return 0;
    case BIOCVERSION:
      data.value = { bv_major: BPF_MAJOR_VERSION, bv_minor: BPF_MINOR_VERSION };
      return 0;
    default:
      return EINVAL;
  }
}

/* Poll armed a read timeout and it ran out: what is buffered becomes readable. */
function bpf_timed_out(arg: unknown): void {
  const d = arg as BpfD;
  mutex_enter(d.bd_lock);
  let wake = false;
  if (d.bd_state === BPF_WAITING) {
    d.bd_state = BPF_TIMED_OUT;
    wake = d.bd_slen !== 0;
  }
  mutex_exit(d.bd_lock);
  if (wake) bpf_wakeup(d);
}

function bpfpoll(df: Devfile, events: number, l: Lwp): number {
  const d = bpf_of(df);
  let revents = events & (POLLOUT | POLLWRNORM);
  if (d.bd_gone) revents |= POLLHUP;
  if ((events & (POLLIN | POLLRDNORM)) !== 0) {
    mutex_enter(d.bd_lock);
    const ready = d.bd_hlen !== 0 || d.bd_gone ||
      ((d.bd_immediate || d.bd_state === BPF_TIMED_OUT) && d.bd_slen !== 0);
    if (ready) {
      revents |= events & (POLLIN | POLLRDNORM);
    } else {
      selrecord(l, d.bd_sel);
      if (d.bd_rtout > 0 && d.bd_state === BPF_IDLE) {
        callout_reset(d.bd_callout, d.bd_rtout, bpf_timed_out, d);
        d.bd_state = BPF_WAITING;
      }
    }
    mutex_exit(d.bd_lock);
  }
  return revents;
}

export const bpf_cdevsw: Cdevsw = {
  d_name: 'bpf',
  d_open: bpfopen,
  d_close: bpfclose,
  d_read: bpfread,
  d_write: bpfwrite,
  d_ioctl: bpfioctl,
  d_poll: bpfpoll,
};

/** The bpf device of a kernel: its switch and the cloning node /dev/bpf. */
export function bpf_init(k: Kernel): void {
  k.bpf = new BpfState();
  const r = devsw_attach(k, bpf_cdevsw);
  if (r.error !== 0) panic(k, `bpf: devsw_attach: errno ${r.error}`);
  const error = devnode_create(k, 'bpf', makedev(r.major, 0));
  if (error !== 0) panic(k, `bpf: /dev/bpf: errno ${error}`);
}

/** Listeners on ifp now (for tests and tools): how many descriptors would see its packets. */
export function bpf_listeners(k: Kernel, ifp: Ifnet): number {
  return bpf_state(k).bifs.get(ifp)?.bif_dlist.length ?? 0;
}
