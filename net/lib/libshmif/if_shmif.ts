/*
 * shmif: an Ethernet interface on a shmif bus (NetBSD's
 * sys/rump/net/lib/libshmif/if_shmif.c).
 *
 * Place in the packet path: the driver.
 *   send:    ether_output -> ether_output_frame (which taps it) -> if_snd
 *            -> shmif_start: count, copy the frame into a bus frame, free
 *            the mbuf, transmit.
 *   receive: the bus's delivery event, after its demux ran our filter
 *            (shmif_filter: our MAC, group addresses but other hosts'
 *            ARP, anything when promiscuous; a hub carries everyone's
 *            traffic and taking it in would be wasted) -> shmif_rx with
 *            the frames for us -> one intr_dispatch(IPL_NET, fromHost)
 *            for the batch -> shmif_rxintr: per frame, m_devget copies it
 *            into this kernel's mbufs -> ifp.if_input (ether_input).
 *
 * Configuration, as NetBSD: "ifconfig shmif0 create" (the shmif cloner),
 * "ifconfig shmif0 linkstr BUS" (SIOCSLINKSTR attaches to the named bus
 * of the kernel's ShmifNet; null, IFLINKSTR_UNSET, detaches), "ifconfig
 * shmif0 up" (ENXIO before a bus is attached, as shmif_init).  RUNNING
 * means up and on a bus.  The MAC is b2:a0 and 32 bits from the kernel's
 * cprng, drawn again while another shmif of the same ShmifNet has it.
 *
 * Per packet nothing is allocated: the receive interrupt's handler and
 * argument are the module function shmif_rxintr and the softc, and the
 * frames travel in sc_rxq for the duration of the call.  The filter is
 * rebuilt only when the interface's flags, taps, MAC or addresses change.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { intr_dispatch, IPL_NET } from '../../../librump/rumpkern/intr.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_copydata, m_devget, m_freem, M_CSUM_IPv4, M_CSUM_TCPv4, M_CSUM_UDPv4 } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { EBUSY, EINVAL, ENXIO } from '../../../include/errno.ts';
import { IFF_RUNNING, IFF_UP } from '../../../include/if.ts';
import {
  IF_DEQUEUE, if_attach, if_clone_create, if_detach, Ifnet, ifnet_of, type IfCloner,
} from '../libnet/if.ts';
import { ether_ifattach, ether_ifdetach } from '../libnet/if_ethersubr.ts';
import { ETHER_ADDR_LEN } from '../libnet/if_ether.ts';
import { EtherDemuxFilter } from '../libnet/bpf_demux.ts';
import type { BpfInsn } from '../../../include/bpf.ts';
import type { ShmifBus, ShmifFrame, ShmifNet, ShmifPort } from './shmif_bus.ts';

/** Largest MTU a shmif accepts: jumbo frames, which the bus carries as well as any. */
export const SHMIF_MAXMTU = 9000;
/** What checksum offload lets the stack skip (tx) and reports as verified (rx). */
export const SHMIF_CSUM_FLAGS = M_CSUM_IPv4 | M_CSUM_TCPv4 | M_CSUM_UDPv4;
/** Longest bus name (NetBSD's linkstr is a path: MAXPATHLEN - 1). */
export const SHMIF_LINKSTR_MAX = 1023;
/** Highest unit (NetBSD's unit vmem is 1..32767 as unit + 1). */
export const SHMIF_MAXUNIT = 32766;

/** The driver state of one shmif (NetBSD's struct shmif_sc). */
export class ShmifSoftc implements ShmifPort {
  sc_bus: ShmifBus | null = null;
  /** The frames being received, sc_rxq[0, sc_rxn), during their interrupt. */
  sc_rxq: readonly ShmifFrame[] = [];
  sc_rxn = 0;
  sc_rxoffload = false;
  /** The frames this interface wants from the bus, as a BPF program. */
  readonly sc_demux: EtherDemuxFilter;
  /** The 32 random bits of the MAC (its key in net.macs). */
  sc_macbits = 0;

  constructor(
    readonly sc_net: ShmifNet,
    readonly sc_ifp: Ifnet,
    readonly sp_kernel: Kernel,
  ) {
    this.sc_demux = new EtherDemuxFilter(sc_ifp);
  }

  get sp_mac(): Uint8Array {
    return this.sc_ifp.if_sadl;
  }

  /**
   * The bus's receive path for this interface, from the host loop: the
   * frames its demux let through for us.  One interrupt takes them all.
   */
  shmif_rx(frames: readonly ShmifFrame[], n: number, offload: boolean): void {
    const ifp = this.sc_ifp;
    if ((ifp.if_flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING)) return;
    this.sc_rxq = frames;
    this.sc_rxn = n;
    this.sc_rxoffload = offload;
    this.sc_bus!.stats.rxintr++;
    intr_dispatch(this.sp_kernel, IPL_NET, shmif_rxintr, this, true);
    if (this.sc_rxn !== 0) {
      /* The interrupt was masked (deferred) or the kernel is gone: the frames are lost. */
      this.sc_rxn = 0;
      ifp.if_iqdrops += n;
    }
  }

  shmif_filter(): readonly BpfInsn[] {
    return this.sc_demux.program();
  }

  shmif_offload(on: boolean): void {
    this.sc_ifp.if_csum_flags_tx = on ? SHMIF_CSUM_FLAGS : 0;
    this.sc_ifp.if_csum_flags_rx = on ? SHMIF_CSUM_FLAGS : 0;
  }
}

/* The receive interrupt handler: copy each frame into an mbuf, hand it up. */
function shmif_rxintr(arg: unknown): void {
  const sc = arg as ShmifSoftc;
  const q = sc.sc_rxq;
  const n = sc.sc_rxn;
  sc.sc_rxn = 0;
  const ifp = sc.sc_ifp;
  const k = sc.sp_kernel;
  const mb = net_of(k).mb;
  for (let i = 0; i < n; i++) {
    const f = q[i]!;
    if (k.dead) return;
    const m = m_devget(mb, f.buf, 0, f.len, ifp.if_index);
    if (m === null) {
      ifp.if_iqdrops++;
      continue;
    }
    if (sc.sc_rxoffload && !f.corrupted) m.m_pkthdr.csum_flags = ifp.if_csum_flags_rx;
    ifp.if_input(ifp, m);
  }
}

function shmif_start(ifp: Ifnet): void {
  const sc = ifp.if_softc as ShmifSoftc;
  for (let m = IF_DEQUEUE(ifp.if_snd); m !== null; m = IF_DEQUEUE(ifp.if_snd)) {
    const bus = sc.sc_bus;
    if (bus === null || (ifp.if_flags & IFF_RUNNING) === 0) {
      ifp.if_oerrors++;
      m_freem(m);
      continue;
    }
    const len = m.m_pkthdr.len;
    const f = bus.frameGet(len);
    m_copydata(m, 0, len, f.buf, 0);
    m_freem(m);
    ifp.if_opackets++;
    ifp.if_obytes += len;
    bus.transmit(f, len, sc);
  }
}

function shmif_init(ifp: Ifnet): number {
  const sc = ifp.if_softc as ShmifSoftc;
  if (sc.sc_bus === null) return ENXIO;
  ifp.if_flags |= IFF_RUNNING;
  return 0;
}

function shmif_stop(ifp: Ifnet): void {
  ifp.if_flags &= ~IFF_RUNNING;
}

/* Draw b2:a0 + 32 random bits into mac, unique among this net's shmifs. */
function shmif_drawmac(k: Kernel, net: ShmifNet, mac: Uint8Array): number {
  let bits: number;
  do bits = k.cprng.cprng_fast32() >>> 0;
  while (net.macs.has(bits));
  net.macs.add(bits);
  mac[0] = 0xb2;
  mac[1] = 0xa0;
  mac[2] = bits >>> 24;
  mac[3] = bits >>> 16;
  mac[4] = bits >>> 8;
  mac[5] = bits;
  return bits;
}

/* SIOCSLINKSTR: attach to the named bus, or with null detach. */
function shmif_setlinkstr(ifp: Ifnet, s: string | null): number {
  const sc = ifp.if_softc as ShmifSoftc;
  if (s === null) {
    const bus = sc.sc_bus;
    if (bus !== null) {
      ifp.if_flags &= ~IFF_RUNNING;
      bus.detachPort(sc);
      sc.sc_bus = null;
    }
    ifp.if_linkstr = null;
    return 0;
  }
  if (s.length === 0 || s.length > SHMIF_LINKSTR_MAX) return EINVAL;
  if (sc.sc_bus !== null) return EBUSY;
  const bus = sc.sc_net.bus(s);
  const error = bus.attachPort(sc);
  if (error !== 0) return error;
  /* MACs are unique per net already; this guards a MAC changed by hand. */
  while (bus.macInUse(ifp.if_sadl, sc)) {
    sc.sc_net.macs.delete(sc.sc_macbits);
    const mac = new Uint8Array(ETHER_ADDR_LEN);
    sc.sc_macbits = shmif_drawmac(sc.sp_kernel, sc.sc_net, mac);
    ifp.if_sadl = mac;
  }
  sc.sc_bus = bus;
  ifp.if_linkstr = s;
  if ((ifp.if_flags & IFF_UP) !== 0) ifp.if_flags |= IFF_RUNNING;
  return 0;
}

function shmif_clone_create(net: ShmifNet, k: Kernel, unit: number): { error: number; ifp: Ifnet | null } {
  if (unit > SHMIF_MAXUNIT) return { error: EINVAL, ifp: null };
  const ifp = new Ifnet(k, `shmif${unit}`);
  const sc = new ShmifSoftc(net, ifp, k);
  const mac = new Uint8Array(ETHER_ADDR_LEN);
  sc.sc_macbits = shmif_drawmac(k, net, mac);
  ifp.if_softc = sc;
  ifp.if_start = shmif_start;
  ifp.if_init = shmif_init;
  ifp.if_stop = shmif_stop;
  ifp.if_setlinkstr = shmif_setlinkstr;
  const error = if_attach(k, ifp);
  if (error !== 0) {
    net.macs.delete(sc.sc_macbits);
    return { error, ifp: null };
  }
  ether_ifattach(ifp, mac);
  ifp.if_maxmtu = SHMIF_MAXMTU;
  return { error: 0, ifp };
}

function shmif_clone_destroy(ifp: Ifnet): number {
  const sc = ifp.if_softc as ShmifSoftc;
  if_detach(ifp.if_kernel, ifp);
  shmif_setlinkstr(ifp, null);
  ether_ifdetach(ifp);
  sc.sc_net.macs.delete(sc.sc_macbits);
  return 0;
}

/** The shmif cloner of one kernel, creating interfaces on net's buses. */
export function shmif_cloner(net: ShmifNet): IfCloner {
  return {
    ifc_name: 'shmif',
    ifc_create: (k, unit) => shmif_clone_create(net, k, unit),
    ifc_destroy: shmif_clone_destroy,
  };
}

/**
 * rump_shmif_create (rump_pub_shmif_create): make the lowest free shmifN
 * and attach it to bus busname.  Returns the unit, or an errno with -1.
 */
export function rump_shmif_create(k: Kernel, busname: string): { error: number; unit: number } {
  const st = ifnet_of(k);
  let unit = 0;
  while (st.byname.has(`shmif${unit}`)) unit++;
  const name = `shmif${unit}`;
  let error = if_clone_create(k, name);
  if (error !== 0) return { error, unit: -1 };
  const ifp = st.byname.get(name)!;
  error = shmif_setlinkstr(ifp, busname);
  if (error !== 0) {
    shmif_clone_destroy(ifp);
    return { error, unit: -1 };
  }
  return { error: 0, unit };
}
