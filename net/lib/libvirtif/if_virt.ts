/*
 * virt: an Ethernet interface whose wire is a host TAP device (NetBSD's
 * sys/rump/net/lib/libvirtif/if_virt.c).  This is the kernel half; the
 * device itself is opened and read by the host half behind the
 * VirtifHypercalls table (virtif_user.ts on Linux), as if_virt.c reaches
 * virtif_user.c only through VIFHYPER_*.
 *
 * Place in the packet path: the driver.
 *   send:    ether_output -> ether_output_frame (which taps it and
 *            counts multicasts) -> if_snd -> virtif_start: the mbuf
 *            chain's segments handed to the host as they are (a writev,
 *            no staging copy; chains longer than the host takes are
 *            linearised first), count, free.
 *   receive: the host reads every frame waiting on the device into its
 *            receive area and makes one upcall (virtif_deliver) from the
 *            host loop -> the "hardware" filter (our MAC, broadcast and
 *            multicast, anything when promiscuous) -> one
 *            intr_dispatch(IPL_NET, fromHost) for the batch ->
 *            virtif_rxintr: per frame, m_devget copies it into mbufs ->
 *            ifp.if_input (ether_input, which taps it for bpf/pcap).
 *
 * Configuration, as NetBSD: "ifconfig virtN create" (the virt cloner)
 * opens the host device at once, named as NetBSD names it on Linux: virtN
 * is TAP device tunN.  "ifconfig virtN linkstr NAME" (SIOCSLINKSTR) moves
 * the interface to host device NAME while it is down: NAME is opened
 * first, so on failure the old device stays; null (IFLINKSTR_UNSET)
 * closes the device.  With the component's linkstr option (NetBSD's
 * RUMP_VIF_LINKSTR) creation opens nothing and waits for a linkstr, so
 * no tunN is ever touched.  SIOCGLINKSTR gives the host device's name.
 * Up without a device is ENXIO (as shmif); destroy while up is EBUSY (as
 * NetBSD's virtif_clone_destroy).  The MAC is b2:0a:RR:0b:0e:NN, RR
 * from the kernel's cprng and NN the unit, as if_virt.c makes it.
 *
 * Sharing a device: interfaces of several kernels in one process may name
 * the same host device; the host half then holds it once and hands each
 * kernel only the frames its demux filter takes (sc_demux, the program
 * an Ethernet interface wants from a shared wire: its MAC, group
 * addresses but other hosts' ARP, everything when promiscuous; rebuilt
 * when the flags, taps, MAC or addresses change), and the frames the
 * other kernels send, as on a shared segment.  Within one kernel a device
 * serves one interface (EBUSY).
 *
 * When the device fails for good (deleted on the host side), the host
 * half says so once: the interface loses IFF_RUNNING and its device, the
 * reason goes to the console, and bringing it up again reopens the device
 * by name.  The kernel's halt closes every device (the component's
 * thread), so a halted kernel holds no host handle.
 *
 * Per packet nothing is allocated: the receive interrupt's handler and
 * argument are the module function virtif_rxintr and the softc, the batch
 * travels in sc_rx for the duration of the call, and the send iovec is the
 * softc's, reused.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { intr_dispatch, IPL_NET } from '../../../librump/rumpkern/intr.ts';
import { printf } from '../../../librump/rumpkern/subr_prf.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_copydata, m_devget, m_freem, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { EBUSY, EINVAL, ENXIO, strerror } from '../../../include/errno.ts';
import { IFF_PROMISC, IFF_RUNNING, IFF_UP, IFNAMSIZ } from '../../../include/if.ts';
import { IF_DEQUEUE, if_attach, if_detach, Ifnet, type IfCloner } from '../libnet/if.ts';
import { ether_ifattach, ether_ifdetach } from '../libnet/if_ethersubr.ts';
import { ETHER_ADDR_LEN, ETHER_HDR_LEN, ETHER_MAX_LEN, ETHER_VLAN_ENCAP_LEN, ether_addr_eq } from '../libnet/if_ether.ts';
import { EtherDemuxFilter } from '../libnet/bpf_demux.ts';
import type { BpfInsn } from '../../../include/bpf.ts';
import type { VirtifHandle, VirtifHypercalls, VirtifIovec, VirtifRxBatch, VirtifUpcalls } from './virtif_hyper.ts';

/** The cloner's name (NetBSD's VIRTIF_BASE). */
export const VIRTIF_BASE = 'virt';
/** Highest unit (NetBSD's clone units end at 32767). */
export const VIRTIF_MAXUNIT = 32767;
/** Longest host device name: Linux's IFNAMSIZ - 1. */
export const VIRTIF_DEVNAME_MAX = IFNAMSIZ - 1;
/** Segments of one frame handed to the host at most (if_virt.c's LB_SH). */
export const VIRTIF_IOV_MAX = 32;

/** Makes the host half for kernel k, which it reaches through up. */
export type VirtifHyperFactory = (k: Kernel, up: VirtifUpcalls<VirtifSoftc>) => VirtifHypercalls<VirtifSoftc>;

/** The kernel's virtif state: its host half and its interfaces. */
export class VirtifState {
  readonly vs_softcs = new Set<VirtifSoftc>();
  readonly vs_hyp: VirtifHypercalls<VirtifSoftc>;

  constructor(
    readonly vs_kernel: Kernel,
    mkhyp: VirtifHyperFactory,
    /** NetBSD's RUMP_VIF_LINKSTR: create opens nothing; the device comes with SIOCSLINKSTR. */
    readonly vs_linkstr: boolean,
  ) {
    this.vs_hyp = mkhyp(vs_kernel, virtif_upcalls);
  }
}

/** The driver state of one virt interface (NetBSD's struct virtif_sc). */
export class VirtifSoftc {
  /** The open host device, or null. */
  sc_viu: VirtifHandle | null = null;
  /** The host device's name, kept when the device is lost so "up" can reopen it. */
  sc_devname: string | null = null;
  /** The batch being received, during its interrupt. */
  sc_rx: VirtifRxBatch | null = null;
  /** Reused for every frame sent. */
  readonly sc_iov: VirtifIovec = {
    bufs: new Array<Uint8Array>(VIRTIF_IOV_MAX).fill(new Uint8Array(0)),
    offs: new Int32Array(VIRTIF_IOV_MAX),
    lens: new Int32Array(VIRTIF_IOV_MAX),
    n: 0,
  };
  /** Why the host device failed, until the interrupt reports it. */
  sc_hosterr: string | null = null;
  /** Where a chain with more segments than the host takes is linearised. */
  sc_txbuf: Uint8Array | null = null;
  /** The frames this interface wants from a shared device, as a BPF program. */
  readonly sc_demux: EtherDemuxFilter;

  constructor(
    readonly sc_st: VirtifState,
    readonly sc_ifp: Ifnet,
    readonly sc_unit: number,
  ) {
    this.sc_demux = new EtherDemuxFilter(sc_ifp);
  }
}

const IFF_UPRUNNING = IFF_UP | IFF_RUNNING;

/* The host's upcalls: module functions, so no closure exists per interface. */
const virtif_upcalls: VirtifUpcalls<VirtifSoftc> = {
  deliver: virtif_deliver,
  error: virtif_hosterror,
  filter: virtif_filter,
};

function virtif_filter(sc: VirtifSoftc): readonly BpfInsn[] {
  return sc.sc_demux.program();
}

/*
 * Does sc take frame [off, off+len) of buf?  Runts (so ether_input counts
 * them), broadcast and multicast, frames to our MAC, or anything when
 * promiscuous; as VIF_DELIVERPKT decides "passup".  A device of our own
 * hands over everything it reads, so this is our NIC's address filter; on
 * a shared one the host's demux ran sc_demux first, and this lets through
 * all it took.
 */
function virtif_wants(ifp: Ifnet, buf: Uint8Array, off: number, len: number): boolean {
  if (len < ETHER_HDR_LEN) return true;
  return (buf[off]! & 0x01) !== 0 || (ifp.if_flags & IFF_PROMISC) !== 0 || ether_addr_eq(buf, off, ifp.if_sadl, 0);
}

/* VIF_DELIVERPKT: frames from the host loop; one interrupt for those we take. */
function virtif_deliver(sc: VirtifSoftc, rx: VirtifRxBatch): void {
  const ifp = sc.sc_ifp;
  if ((ifp.if_flags & IFF_UPRUNNING) !== IFF_UPRUNNING) return;
  const desc = rx.desc;
  let n = 0;
  for (let i = 0; i < rx.n; i++) if (virtif_wants(ifp, rx.buf, desc[2 * i]!, desc[2 * i + 1]!)) n++;
  if (n === 0) return;
  sc.sc_rx = rx;
  intr_dispatch(ifp.if_kernel, IPL_NET, virtif_rxintr, sc, true);
  if (sc.sc_rx !== null) {
    /* The interrupt was masked (deferred) or the kernel is gone: the frames are lost. */
    sc.sc_rx = null;
    ifp.if_iqdrops += n;
  }
}

/* The receive interrupt handler: copy each wanted frame into an mbuf, hand it up. */
function virtif_rxintr(arg: unknown): void {
  const sc = arg as VirtifSoftc;
  const rx = sc.sc_rx;
  sc.sc_rx = null;
  if (rx === null) return;
  const ifp = sc.sc_ifp;
  const k = ifp.if_kernel;
  const mb = net_of(k).mb;
  const desc = rx.desc;
  /* Longer than any frame of our MTU could be (a tagged one included): a giant. */
  const maxlen = ifp.if_mtu + ETHER_HDR_LEN + ETHER_VLAN_ENCAP_LEN;
  for (let i = 0; i < rx.n; i++) {
    const off = desc[2 * i]!;
    const len = desc[2 * i + 1]!;
    if (!virtif_wants(ifp, rx.buf, off, len)) continue;
    if (k.dead) return;
    if (len > maxlen) {
      ifp.if_ierrors++;
      continue;
    }
    const m = m_devget(mb, rx.buf, off, len, ifp.if_index);
    if (m === null) {
      ifp.if_iqdrops++;
      continue;
    }
    ifp.if_input(ifp, m);
  }
}

/* The device failed: handled as an interrupt, like any event from the host. */
function virtif_hosterror(sc: VirtifSoftc, errno: number, why: string): void {
  if (sc.sc_viu === null) return;
  sc.sc_hosterr = `${why} (${strerror(errno)})`;
  intr_dispatch(sc.sc_ifp.if_kernel, IPL_NET, virtif_errintr, sc, true);
}

/* Say why once, drop the device, keep its name for the next "up". */
function virtif_errintr(arg: unknown): void {
  const sc = arg as VirtifSoftc;
  const ifp = sc.sc_ifp;
  const why = sc.sc_hosterr;
  sc.sc_hosterr = null;
  if (sc.sc_viu === null || why === null) return;
  printf(ifp.if_kernel, `${ifp.if_xname}: lost host device ${sc.sc_viu.vh_devname}: ${why}\n`);
  ifp.if_ierrors++;
  virtif_close(sc);
}

/* Put m's segments in sc_iov (linearised into sc_txbuf if there are too many). */
function virtif_iov(sc: VirtifSoftc, m: Mbuf, len: number, iovmax: number): VirtifIovec {
  const iov = sc.sc_iov;
  let n = 0;
  for (let x: Mbuf | null = m; x !== null; x = x.m_next) {
    if (x.m_len === 0) continue;
    if (n === iovmax) {
      n = -1;
      break;
    }
    iov.bufs[n] = x.m_buf;
    iov.offs[n] = x.m_data;
    iov.lens[n] = x.m_len;
    n++;
  }
  if (n < 0) {
    if (sc.sc_txbuf === null || sc.sc_txbuf.length < len) sc.sc_txbuf = new Uint8Array(Math.max(len, ETHER_MAX_LEN));
    m_copydata(m, 0, len, sc.sc_txbuf, 0);
    iov.bufs[0] = sc.sc_txbuf;
    iov.offs[0] = 0;
    iov.lens[0] = len;
    n = 1;
  }
  iov.n = n;
  return iov;
}

function virtif_start(ifp: Ifnet): void {
  const sc = ifp.if_softc as VirtifSoftc;
  const hyp = sc.sc_st.vs_hyp;
  const iovmax = Math.min(hyp.iovmax, VIRTIF_IOV_MAX);
  for (let m = IF_DEQUEUE(ifp.if_snd); m !== null; m = IF_DEQUEUE(ifp.if_snd)) {
    const viu = sc.sc_viu;
    if (viu === null || (ifp.if_flags & IFF_RUNNING) === 0) {
      ifp.if_oerrors++;
      m_freem(m);
      continue;
    }
    const len = m.m_pkthdr.len;
    const error = hyp.send(viu, virtif_iov(sc, m, len, iovmax));
    m_freem(m);
    if (error !== 0) {
      ifp.if_oerrors++;
      continue;
    }
    ifp.if_opackets++;
    ifp.if_obytes += len;
  }
}

/* Open host device name for sc; on failure say why on the console. */
function virtif_open(sc: VirtifSoftc, name: string): number {
  const ifp = sc.sc_ifp;
  const r = sc.sc_st.vs_hyp.create(name, sc);
  if (r.error !== 0) {
    printf(ifp.if_kernel, `${ifp.if_xname}: cannot attach to host device ${name}: ${'why' in r ? r.why : strerror(r.error)}\n`);
    return r.error;
  }
  if (!('viu' in r)) return EINVAL;
  sc.sc_viu = r.viu;
  sc.sc_devname = r.viu.vh_devname;
  ifp.if_linkstr = r.viu.vh_devname;
  return 0;
}

function virtif_close(sc: VirtifSoftc): void {
  const ifp = sc.sc_ifp;
  ifp.if_flags &= ~IFF_RUNNING;
  if (sc.sc_viu !== null) sc.sc_st.vs_hyp.destroy(sc.sc_viu);
  sc.sc_viu = null;
}

function virtif_init(ifp: Ifnet): number {
  const sc = ifp.if_softc as VirtifSoftc;
  if (sc.sc_viu === null) {
    /* A device lost earlier is reopened by name; one never given cannot be. */
    if (sc.sc_devname === null) return ENXIO;
    const error = virtif_open(sc, sc.sc_devname);
    if (error !== 0) return error;
  }
  ifp.if_flags |= IFF_RUNNING;
  return 0;
}

function virtif_stop(ifp: Ifnet): void {
  ifp.if_flags &= ~IFF_RUNNING;
}

/* SIOCSLINKSTR: move to host device s (while down), or with null close the device. */
function virtif_setlinkstr(ifp: Ifnet, s: string | null): number {
  const sc = ifp.if_softc as VirtifSoftc;
  if (s === null) {
    if ((ifp.if_flags & IFF_UP) !== 0) return EBUSY;
    virtif_close(sc);
    sc.sc_devname = null;
    ifp.if_linkstr = null;
    return 0;
  }
  if (s.length === 0 || s.length > VIRTIF_DEVNAME_MAX || !/^[^\s/:%]+$/.test(s)) return EINVAL;
  if (sc.sc_viu !== null && sc.sc_viu.vh_devname === s) return 0;
  if ((ifp.if_flags & IFF_UP) !== 0) return EBUSY;
  const old = sc.sc_viu;
  sc.sc_viu = null;
  const error = virtif_open(sc, s);
  if (error !== 0) {
    sc.sc_viu = old;
    return error;
  }
  if (old !== null) sc.sc_st.vs_hyp.destroy(old);
  return 0;
}

/* b2:0a:RR:0b:0e:NN, as if_virt.c. */
function virtif_mac(k: Kernel, unit: number): Uint8Array {
  const mac = new Uint8Array(ETHER_ADDR_LEN);
  mac[0] = 0xb2;
  mac[1] = 0x0a;
  mac[2] = k.cprng.cprng_fast32() & 0xff;
  mac[3] = 0x0b;
  mac[4] = 0x0e;
  mac[5] = unit & 0xff;
  return mac;
}

function virtif_clone_create(st: VirtifState, k: Kernel, unit: number): { error: number; ifp: Ifnet | null } {
  if (unit > VIRTIF_MAXUNIT) return { error: EINVAL, ifp: null };
  const ifp = new Ifnet(k, `${VIRTIF_BASE}${unit}`);
  const sc = new VirtifSoftc(st, ifp, unit);
  ifp.if_softc = sc;
  ifp.if_start = virtif_start;
  ifp.if_init = virtif_init;
  ifp.if_stop = virtif_stop;
  ifp.if_setlinkstr = virtif_setlinkstr;
  let error = if_attach(k, ifp);
  if (error !== 0) return { error, ifp: null };
  ether_ifattach(ifp, virtif_mac(k, unit));
  st.vs_softcs.add(sc);
  if (!st.vs_linkstr) {
    error = virtif_open(sc, `tun${unit}`);
    if (error !== 0) {
      virtif_teardown(sc);
      return { error, ifp: null };
    }
  }
  return { error: 0, ifp };
}

function virtif_teardown(sc: VirtifSoftc): void {
  const ifp = sc.sc_ifp;
  if_detach(ifp.if_kernel, ifp);
  virtif_close(sc);
  ether_ifdetach(ifp);
  sc.sc_st.vs_softcs.delete(sc);
}

function virtif_clone_destroy(ifp: Ifnet): number {
  if ((ifp.if_flags & IFF_UP) !== 0) return EBUSY;
  virtif_teardown(ifp.if_softc as VirtifSoftc);
  return 0;
}

/** The virt cloner of one kernel. */
export function virtif_cloner(st: VirtifState): IfCloner {
  return {
    ifc_name: VIRTIF_BASE,
    ifc_create: (k, unit) => virtif_clone_create(st, k, unit),
    ifc_destroy: virtif_clone_destroy,
  };
}

/** The kernel halts: close every host device, so nothing of ours keeps the host busy. */
export function virtif_fini(st: VirtifState): void {
  for (const sc of st.vs_softcs) {
    sc.sc_viu = null;
    sc.sc_ifp.if_flags &= ~IFF_RUNNING;
  }
  st.vs_hyp.fini();
}
