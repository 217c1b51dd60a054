/*
 * Ethernet input and output (NetBSD's sys/net/if_ethersubr.c).
 *
 * Place in the packet path:
 *
 *   receive:  driver interrupt (shmif, virtif) -> m_devget -> ifp.if_input
 *             = ether_input: count, filter by destination, tap, strip the
 *             header, demultiplex by ethertype to the handler a protocol
 *             registered (ether_register_input), still in interrupt
 *             context.  Handlers must not run the protocol there: they queue
 *             the packet (pktq_enqueue) for a softint, as ip_input's does.
 *
 *   send:     protocol -> ifp.if_output = ether_output: ask the family's
 *             resolver (ARP for AF_INET) for the destination MAC, prepend
 *             the header -> ether_output_frame: tap (bpf, pcap), queue on
 *             if_snd and kick the driver's if_start, which copies the
 *             frame out and frees it.
 *
 * Both directions are tapped here, not in the drivers, so every Ethernet
 * driver (shmif, virt) is seen by bpf alike; with no tap attached that is
 * one length test per packet.
 *
 * Protocols reach this file only through the two registries, so libnet
 * does not depend on libnetinet (which attaches later, at NET).  The
 * registries hang on the kernel (k.ether), made on first use so that the
 * order of components at a level does not matter.
 *
 * Nothing here allocates per packet: the destination MAC the resolver
 * fills is a per-kernel scratch buffer, one per nesting level (a resolver
 * may itself send, e.g. an ARP request, which re-enters ether_output).
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { aprint_normal, panic } from '../../../librump/rumpkern/subr_prf.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import {
  m_adj, m_devget, m_freem, m_pullup, M_BCAST, M_DONTWAIT, M_MCAST, M_PREPEND, M_PROMISC, type Mbuf,
} from '../../../librump/rumpnet/uipc_mbuf.ts';
import { EAFNOSUPPORT, EINVAL, EJUSTRETURN, ENETDOWN, ENOBUFS } from '../../../include/errno.ts';
import {
  IFF_BROADCAST, IFF_MULTICAST, IFF_PROMISC, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, IFT_ETHER,
} from '../../../include/if.ts';
import { AF_INET, AF_INET6 } from '../../../include/socket.ts';
import { IF_ENQUEUE, IF_QFULL, if_tap, TAP_IN, TAP_OUT, type Ifnet } from './if.ts';
import {
  ETHER_ADDR_LEN, ETHER_HDR_LEN, ETHER_IS_BROADCAST, ETHER_SHOST_OFF, ETHERMTU, ETHERTYPE_ARP, ETHERTYPE_IP,
  ETHERTYPE_IPV6, ETHERTYPE_MAX_LEN, ether_addr_eq, ether_hdr_write, ether_ntoa, ether_type,
} from './if_ether.ts';

/** NetBSD's AF_ARP: ARP packets handed to if_output (the frame type is ETHERTYPE_ARP). */
export const AF_ARP = 28;

/** A protocol's input for one ethertype: gets the packet without the Ethernet header, in interrupt context. */
export type EtherInputFn = (ifp: Ifnet, m: Mbuf) => void;

/**
 * A family's address resolver (arpresolve for AF_INET): fill desten with
 * the MAC of next hop dst and return 0; or return EJUSTRETURN having kept
 * m (held until resolution completes); or another errno having freed m.
 */
export type EtherResolverFn = (ifp: Ifnet, m: Mbuf, dst: number, desten: Uint8Array) => number;

/** Deepest expected nesting of ether_output (a resolver sending a request); deeper levels allocate. */
const DESTEN_LEVELS = 4;

/** The per-kernel Ethernet registries. */
export class EtherState {
  /** ethertype -> protocol input. */
  readonly ec_input = new Map<number, EtherInputFn>();
  /** address family -> resolver. */
  readonly ec_resolver = new Map<number, EtherResolverFn>();
  /** address family -> ethertype of its frames. */
  readonly ec_type = new Map<number, number>([
    [AF_INET, ETHERTYPE_IP],
    [AF_INET6, ETHERTYPE_IPV6],
    [AF_ARP, ETHERTYPE_ARP],
  ]);
  /* Destination scratch, one per ether_output nesting level. */
  readonly ec_desten: Uint8Array[] = [];
  ec_depth = 0;

  constructor() {
    for (let i = 0; i < DESTEN_LEVELS; i++) this.ec_desten.push(new Uint8Array(ETHER_ADDR_LEN));
  }
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** Ethernet protocol registries; made on first use. */
    ether?: EtherState;
  }
}

/** The kernel's Ethernet registries (made on first use). */
export function ether_state(k: Kernel): EtherState {
  let ec = k.ether;
  if (ec === undefined) {
    ec = new EtherState();
    k.ether = ec;
  }
  return ec;
}

/**
 * ether_register_input: frames of this ethertype go to fn.  One handler
 * per type; registering a second is a kernel bug (two protocols claiming
 * one type) and panics.  Values up to 1500 are 802.3 lengths, not types.
 */
export function ether_register_input(k: Kernel, ethertype: number, fn: EtherInputFn): void {
  if (!Number.isInteger(ethertype) || ethertype <= ETHERTYPE_MAX_LEN || ethertype > 0xffff) {
    panic(k, `ether_register_input: bad ethertype 0x${ethertype.toString(16)}`);
  }
  const ec = ether_state(k);
  if (ec.ec_input.has(ethertype)) panic(k, `ether_register_input: ethertype 0x${ethertype.toString(16)} already registered`);
  ec.ec_input.set(ethertype, fn);
}

/** ether_unregister_input: frames of this type are counted as if_noproto again. */
export function ether_unregister_input(k: Kernel, ethertype: number): void {
  ether_state(k).ec_input.delete(ethertype);
}

/**
 * ether_register_resolver: ether_output asks fn for the destination MAC
 * of packets of this family.  ethertype names the frame type for a family
 * this file does not know (AF_INET, AF_INET6 and AF_ARP it does).
 */
export function ether_register_resolver(k: Kernel, family: number, fn: EtherResolverFn, ethertype?: number): void {
  const ec = ether_state(k);
  if (ethertype !== undefined) {
    if (!Number.isInteger(ethertype) || ethertype <= ETHERTYPE_MAX_LEN || ethertype > 0xffff) {
      panic(k, `ether_register_resolver: bad ethertype 0x${ethertype.toString(16)}`);
    }
    ec.ec_type.set(family, ethertype);
  } else if (!ec.ec_type.has(family)) {
    panic(k, `ether_register_resolver: no ethertype for family ${family}`);
  }
  ec.ec_resolver.set(family, fn);
}

/**
 * ether_ifattach: make ifp an Ethernet interface with address mac (the
 * driver has already if_attach'ed it).  MTU and the MTU limit are ETHERMTU;
 * a driver that carries jumbo frames raises if_maxmtu afterwards.
 */
export function ether_ifattach(ifp: Ifnet, mac: Uint8Array): void {
  if (mac.length !== ETHER_ADDR_LEN) panic(ifp.if_kernel, `ether_ifattach ${ifp.if_xname}: MAC of ${mac.length} bytes`);
  ifp.if_type = IFT_ETHER;
  ifp.if_addrlen = ETHER_ADDR_LEN;
  ifp.if_hdrlen = ETHER_HDR_LEN;
  ifp.if_mtu = ETHERMTU;
  ifp.if_maxmtu = ETHERMTU;
  ifp.if_flags |= IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
  /* A copy: the caller's array is often scratch. */
  ifp.if_sadl = Uint8Array.from(mac);
  ifp.if_input = ether_input;
  ifp.if_output = ether_output;
  aprint_normal(ifp.if_kernel, `${ifp.if_xname}: Ethernet address ${ether_ntoa(ifp.if_sadl)}\n`);
}

/** ether_ifdetach: stop accepting frames (the driver then if_detach'es). */
export function ether_ifdetach(ifp: Ifnet): void {
  ifp.if_input = (_ifp, m) => { m_freem(m); };
}

/**
 * ether_input: a whole frame from the driver, in interrupt context.
 *
 * Counted here: ipackets/ibytes for every frame handed over, ierrors for
 * runts, imcasts for broadcast and multicast (NetBSD counts both),
 * noproto for types nobody registered.  A frame not for our MAC is
 * dropped silently (on a hub that is normal traffic) unless the interface
 * is promiscuous; then it is marked M_PROMISC and goes to the taps only.
 * Frames carrying our own source address are echoes (a hub or bridge
 * loop) and are dropped, as NetBSD does.
 */
export function ether_input(ifp: Ifnet, m: Mbuf): void {
  if ((ifp.if_flags & IFF_UP) === 0) {
    m_freem(m);
    return;
  }
  const len = m.m_pkthdr.len;
  ifp.if_ipackets++;
  ifp.if_ibytes += len;
  if (len < ETHER_HDR_LEN) {
    ifp.if_ierrors++;
    m_freem(m);
    return;
  }
  if (m.m_len < ETHER_HDR_LEN) {
    const n = m_pullup(m, ETHER_HDR_LEN);
    if (n === null) {
      ifp.if_ierrors++;
      return;
    }
    m = n;
  }
  const buf = m.m_buf;
  const off = m.m_data;
  const mac = ifp.if_sadl;
  m.m_flags &= ~(M_BCAST | M_MCAST | M_PROMISC);
  if (ether_addr_eq(buf, off + ETHER_SHOST_OFF, mac, 0)) {
    m_freem(m);
    return;
  }
  if ((buf[off]! & 0x01) !== 0) {
    m.m_flags |= ETHER_IS_BROADCAST(buf, off) ? M_BCAST : M_MCAST;
    ifp.if_imcasts++;
  } else if (!ether_addr_eq(buf, off, mac, 0)) {
    if ((ifp.if_flags & IFF_PROMISC) === 0) {
      m_freem(m);
      return;
    }
    m.m_flags |= M_PROMISC;
  }
  if (ifp.if_taps.length > 0) if_tap(ifp, m, TAP_IN);
  if ((m.m_flags & M_PROMISC) !== 0) {
    /* Seen by the taps; the protocols only get what was addressed to us. */
    m_freem(m);
    return;
  }
  const fn = ether_state(ifp.if_kernel).ec_input.get(ether_type(buf, off));
  if (fn === undefined) {
    ifp.if_noproto++;
    m_freem(m);
    return;
  }
  m_adj(m, ETHER_HDR_LEN);
  fn(ifp, m);
}

const IFF_UPRUNNING = IFF_UP | IFF_RUNNING;

/**
 * ether_output: send packet m of `family` to next hop dst (an IPv4
 * address as a uint32 for AF_INET; resolvers of other families define
 * it).  Takes ownership of m; returns an errno (0 also when the resolver
 * kept the packet to send after resolution).  A packet flagged M_BCAST
 * goes to ff:ff:ff:ff:ff:ff without asking the resolver.
 */
export function ether_output(ifp: Ifnet, m: Mbuf, family: number, dst: number): number {
  if ((ifp.if_flags & IFF_UPRUNNING) !== IFF_UPRUNNING) {
    m_freem(m);
    return ENETDOWN;
  }
  const ec = ether_state(ifp.if_kernel);
  const etype = ec.ec_type.get(family);
  if (etype === undefined) {
    m_freem(m);
    return EAFNOSUPPORT;
  }
  const depth = ec.ec_depth;
  let desten = ec.ec_desten[depth];
  if (desten === undefined) {
    desten = new Uint8Array(ETHER_ADDR_LEN);
    ec.ec_desten.push(desten);
  }
  if ((m.m_flags & M_BCAST) !== 0) {
    desten.fill(0xff);
  } else {
    const resolve = ec.ec_resolver.get(family);
    if (resolve === undefined) {
      m_freem(m);
      return EAFNOSUPPORT;
    }
    ec.ec_depth = depth + 1;
    const error = resolve(ifp, m, dst, desten);
    ec.ec_depth = depth;
    if (error === EJUSTRETURN) return 0;
    if (error !== 0) return error;
  }
  /* Into leading space when there is writable room (M_PREPEND never writes shared storage). */
  const h = M_PREPEND(m, ETHER_HDR_LEN, M_DONTWAIT);
  if (h === null) {
    ifp.if_oerrors++;
    return ENOBUFS;
  }
  ether_hdr_write(h.m_buf, h.m_data, desten, ifp.if_sadl, etype);
  return ether_output_frame(ifp, h);
}

/**
 * ether_output_frame: tap a complete frame (header included), queue it
 * for the driver and start it.  For protocols that build the whole frame
 * (ARP may) and for raw sends.  Takes ownership of m; returns an errno.
 */
export function ether_output_frame(ifp: Ifnet, m: Mbuf): number {
  if ((ifp.if_flags & IFF_UPRUNNING) !== IFF_UPRUNNING) {
    m_freem(m);
    return ENETDOWN;
  }
  const q = ifp.if_snd;
  if (IF_QFULL(q)) {
    q.ifq_drops++;
    ifp.if_oerrors++;
    m_freem(m);
    return ENOBUFS;
  }
  const mcast = m.m_len > 0 && (m.m_buf[m.m_data]! & 0x01) !== 0;
  /* bpf_mtap for every Ethernet driver: the frame as it is handed to the driver. */
  if (ifp.if_taps.length > 0) if_tap(ifp, m, TAP_OUT);
  IF_ENQUEUE(q, m);
  if (mcast) ifp.if_omcasts++;
  ifp.if_start(ifp);
  return 0;
}

/**
 * ether_sendraw: send the bytes frame[off, off+len) as one complete frame
 * (for tests, tools and fault injection).  EINVAL for a frame shorter than
 * the header or longer than the MTU allows; ENOBUFS without mbufs.  Call
 * it from a kernel context (kernel_run, a syscall, a softint).
 */
export function ether_sendraw(ifp: Ifnet, frame: Uint8Array, off = 0, len = frame.length - off): number {
  if (!(off >= 0 && len >= ETHER_HDR_LEN && off + len <= frame.length) || len > ifp.if_mtu + ETHER_HDR_LEN) return EINVAL;
  const m = m_devget(net_of(ifp.if_kernel).mb, frame, off, len, 0);
  if (m === null) {
    ifp.if_oerrors++;
    return ENOBUFS;
  }
  return ether_output_frame(ifp, m);
}
