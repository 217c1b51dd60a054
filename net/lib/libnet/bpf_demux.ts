/*
 * Early demultiplexing with packet filters: the receivers sharing one
 * wire each register a BPF program for the frames they want, and whoever
 * holds the wire (the shmif bus, a TAP reader shared by several kernels)
 * runs the programs on each frame and hands it only to the receivers
 * that accept it.  This is the packet filter's original job (Mogul,
 * Rashid and Accetta; McCanne and Jacobson) and the point of Network
 * Algorithmics' "control overhead" chapter: decide where a packet goes
 * before anyone pays for it, instead of every receiver taking an
 * interrupt, copying the frame into mbufs and then dropping it.
 *
 * Place in the packet path: before the receive interrupt.  The holder of
 * the wire calls bd_match per frame; the programs are JIT-compiled once
 * (bpfjit) when registered, and run on the frame's bytes where they lie
 * (a DataView the holder keeps per buffer), so matching allocates nothing.
 * Each entry counts what it accepted and rejected.
 *
 * ether_demux_filter builds the program an Ethernet interface wants from
 * its configuration, what a NIC's address filter does in hardware plus
 * one step further up: frames to its MAC; multicast and broadcast, except
 * ARP that concerns other hosts only (on a shared wire most broadcast is
 * someone else's ARP): kept are requests for one of its IPv4 addresses,
 * packets from one of them (someone else using our address, which ARP
 * reports), announcements (sender = target) and target 0.0.0.0;
 * everything when promiscuous, nothing when down.  Runts, truncated ARP
 * and ARP that is not IPv4 over Ethernet are let through so the stack
 * counts them as the errors they are.  While the interface is tapped (bpf, pcap) ARP is not
 * narrowed either: a capture on the host shows the broadcast a NIC would
 * have passed up.  EtherDemuxFilter keeps that program current: it
 * compares the configuration it was built from (flags, taps, MAC, IPv4
 * addresses) on each call and rebuilds when any of them changed.
 *
 * libnet must not import libnetinet, so the IPv4 addresses are read from
 * the interface's address list as the AF_INET entries' ia_addr (struct
 * in_ifaddr's field), structurally.
 */

import {
  BPF_ABS, BPF_B, BPF_H, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LEN, BPF_MISC, BPF_RET,
  BPF_TAX, BPF_W, BPF_X, type BpfInsn,
} from '../../../include/bpf.ts';
import { EINVAL } from '../../../include/errno.ts';
import { IFF_PROMISC, IFF_RUNNING, IFF_UP } from '../../../include/if.ts';
import { AF_INET } from '../../../include/socket.ts';
import { bpfjit_generate_code, type BpfJitCode } from './bpfjit.ts';
import type { Ifaddr, Ifnet } from './if.ts';
import { ETHER_ADDR_LEN, ETHER_HDR_LEN, ETHERTYPE_ARP } from './if_ether.ts';

/** One receiver: its key, its program, and what the program decided. */
export class BpfDemuxEntry<T> {
  de_accepted = 0;
  de_rejected = 0;
  constructor(
    readonly de_key: T,
    readonly de_prog: readonly BpfInsn[],
    readonly de_code: BpfJitCode,
  ) {}
}

/** The filters of the receivers on one wire. */
export class BpfDemux<T> {
  /* Replaced, never changed in place: a match in progress keeps its list. */
  private entries: readonly BpfDemuxEntry<T>[] = [];

  /**
   * Register (or replace) key's program.  EINVAL when bpf_validate
   * refuses it; the old program, if any, then stays.  Replacing keeps the
   * counters.
   */
  bd_set(key: T, prog: readonly BpfInsn[]): number {
    const code = bpfjit_generate_code(prog);
    if (code === null) return EINVAL;
    const old = this.bd_entry(key);
    const e = new BpfDemuxEntry(key, code.insns, code);
    if (old !== null) {
      e.de_accepted = old.de_accepted;
      e.de_rejected = old.de_rejected;
      this.entries = this.entries.map((x) => (x === old ? e : x));
    } else {
      this.entries = [...this.entries, e];
    }
    return 0;
  }

  /** Forget key; false if it had no program. */
  bd_remove(key: T): boolean {
    const n = this.entries.length;
    this.entries = this.entries.filter((x) => x.de_key !== key);
    return this.entries.length !== n;
  }

  bd_entry(key: T): BpfDemuxEntry<T> | null {
    for (const e of this.entries) if (e.de_key === key) return e;
    return null;
  }

  bd_entries(): readonly BpfDemuxEntry<T>[] {
    return this.entries;
  }

  /**
   * Run every program but skip's over the frame v[off, off+len) and put
   * the keys of those that accept it in out[0..n); returns n.  out is the
   * caller's, reused from frame to frame.
   */
  bd_match(v: DataView, off: number, len: number, skip: T | null, out: T[]): number {
    const es = this.entries;
    let n = 0;
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      if (e.de_key === skip) continue;
      if (e.de_code.flat(v, off, len, len) !== 0) {
        e.de_accepted++;
        out[n++] = e.de_key;
      } else {
        e.de_rejected++;
      }
    }
    return n;
  }
}

/* ---- the program an Ethernet interface wants ---- */

/** Offsets in an Ethernet frame carrying ARP for IPv4 (after the 14-byte header). */
const ARP_HRD_OFF = ETHER_HDR_LEN;
const ARP_HLN_OFF = ETHER_HDR_LEN + 4;
const ARP_SPA_OFF = ETHER_HDR_LEN + 14;
const ARP_TPA_OFF = ETHER_HDR_LEN + 24;
/** The whole ARP packet for IPv4 over Ethernet. */
const ETHER_ARP_LEN = ETHER_HDR_LEN + 28;
/** ar_hrd ARPHRD_ETHER and ar_pro ETHERTYPE_IP as one word; ar_hln 6 and ar_pln 4 as a halfword. */
const ARP_HRD_PRO_ETHER_IP = 0x00010800;
const ARP_HLN_PLN_ETHER_IP = 0x0604;
/** More addresses than this and ARP broadcast is taken whole (jumps must stay within 255). */
const DEMUX_MAXADDRS = 48;

const ACCEPT = 0xffffffff;
const IFF_DEMUX = IFF_UP | IFF_RUNNING | IFF_PROMISC;
/** Not an interface flag: the interface is tapped, so ARP broadcast is not narrowed. */
export const DEMUX_TAPPED = 0x10000;

/* A forward-only assembler: jumps name labels, resolved at the end. */
class Asm {
  private readonly code: { code: number; k: number; jt: string | null; jf: string | null }[] = [];
  private readonly labels = new Map<string, number>();

  stmt(code: number, k: number): void {
    this.code.push({ code, k: k >>> 0, jt: null, jf: null });
  }

  jump(code: number, k: number, jt: string | null, jf: string | null): void {
    this.code.push({ code, k: k >>> 0, jt, jf });
  }

  label(name: string): void {
    this.labels.set(name, this.code.length);
  }

  assemble(): BpfInsn[] {
    return this.code.map((p, i) => {
      const off = (l: string | null): number => {
        if (l === null) return 0;
        const t = this.labels.get(l)!;
        return t - i - 1;
      };
      return { code: p.code, jt: off(p.jt), jf: off(p.jf), k: p.k };
    });
  }
}

/** The IPv4 addresses on ifp (host order). */
function if_inaddrs(ifp: Ifnet, out: number[]): number[] {
  out.length = 0;
  const l: readonly Ifaddr[] = ifp.if_addrlist;
  for (let i = 0; i < l.length; i++) {
    const ifa = l[i]!;
    if (ifa.ifa_family !== AF_INET) continue;
    const a = (ifa as Ifaddr & { ia_addr?: unknown }).ia_addr;
    if (typeof a === 'number') out.push(a >>> 0);
  }
  return out;
}

/**
 * The program for frames an Ethernet interface with these flags (and
 * DEMUX_TAPPED), MAC and IPv4 addresses wants from a shared wire (see the
 * top of the file).
 */
export function ether_demux_program(flags: number, mac: Uint8Array, inaddrs: readonly number[]): BpfInsn[] {
  const a = new Asm();
  if ((flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING) || mac.length !== ETHER_ADDR_LEN) {
    a.stmt(BPF_RET | BPF_K, 0);
    return a.assemble();
  }
  if ((flags & IFF_PROMISC) !== 0) {
    a.stmt(BPF_RET | BPF_K, ACCEPT);
    return a.assemble();
  }
  const hi = (mac[0]! << 8) | mac[1]!;
  const lo = ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0;
  a.stmt(BPF_LD | BPF_W | BPF_LEN, 0);
  a.jump(BPF_JMP | BPF_JGE | BPF_K, ETHER_HDR_LEN, null, 'accept');
  /* To our MAC. */
  a.stmt(BPF_LD | BPF_W | BPF_ABS, 2);
  a.jump(BPF_JMP | BPF_JEQ | BPF_K, lo, null, 'group');
  a.stmt(BPF_LD | BPF_H | BPF_ABS, 0);
  a.jump(BPF_JMP | BPF_JEQ | BPF_K, hi, 'accept', 'group');
  /* Not ours: only group addresses can still be for us. */
  a.label('group');
  a.stmt(BPF_LD | BPF_B | BPF_ABS, 0);
  a.jump(BPF_JMP | BPF_JSET | BPF_K, 0x01, null, 'reject');
  a.stmt(BPF_LD | BPF_H | BPF_ABS, 12);
  a.jump(BPF_JMP | BPF_JEQ | BPF_K, ETHERTYPE_ARP, null, 'accept');
  if ((flags & DEMUX_TAPPED) === 0 && inaddrs.length <= DEMUX_MAXADDRS) {
    /* Group-addressed ARP, well formed for IPv4 over Ethernet (else ARP counts the error). */
    a.stmt(BPF_LD | BPF_W | BPF_LEN, 0);
    a.jump(BPF_JMP | BPF_JGE | BPF_K, ETHER_ARP_LEN, null, 'accept');
    a.stmt(BPF_LD | BPF_W | BPF_ABS, ARP_HRD_OFF);
    a.jump(BPF_JMP | BPF_JEQ | BPF_K, ARP_HRD_PRO_ETHER_IP, null, 'accept');
    a.stmt(BPF_LD | BPF_H | BPF_ABS, ARP_HLN_OFF);
    a.jump(BPF_JMP | BPF_JEQ | BPF_K, ARP_HLN_PLN_ETHER_IP, null, 'accept');
    /* The target: one of ours, or 0.0.0.0 (which ARP counts as an error). */
    a.stmt(BPF_LD | BPF_W | BPF_ABS, ARP_TPA_OFF);
    a.jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 'accept', null);
    for (const ia of inaddrs) a.jump(BPF_JMP | BPF_JEQ | BPF_K, ia, 'accept', null);
    /* The sender: the target itself (an announcement), or one of ours (a conflict). */
    a.stmt(BPF_MISC | BPF_TAX, 0);
    a.stmt(BPF_LD | BPF_W | BPF_ABS, ARP_SPA_OFF);
    a.jump(BPF_JMP | BPF_JEQ | BPF_X, 0, 'accept', null);
    for (const ia of inaddrs) a.jump(BPF_JMP | BPF_JEQ | BPF_K, ia, 'accept', null);
    a.stmt(BPF_RET | BPF_K, 0);
  }
  a.label('accept');
  a.stmt(BPF_RET | BPF_K, ACCEPT);
  a.label('reject');
  a.stmt(BPF_RET | BPF_K, 0);
  return a.assemble();
}

function demux_flags(ifp: Ifnet): number {
  return (ifp.if_flags & IFF_DEMUX) | (ifp.if_taps.length > 0 ? DEMUX_TAPPED : 0);
}

/** ether_demux_filter: the program ifp wants, from its configuration now. */
export function ether_demux_filter(ifp: Ifnet): BpfInsn[] {
  return ether_demux_program(demux_flags(ifp), ifp.if_sadl, if_inaddrs(ifp, []));
}

/**
 * An interface's demux program, kept current: program() returns the same
 * array while the flags, taps, MAC and IPv4 addresses it was built from stay
 * the same (comparing them allocates nothing), and a new one once any
 * changed, which tells the wire's holder to register it again.
 */
export class EtherDemuxFilter {
  private flags = -1;
  private readonly mac = new Uint8Array(ETHER_ADDR_LEN);
  private addrs: number[] = [];
  private readonly scratch: number[] = [];
  private prog: readonly BpfInsn[] = [];

  constructor(readonly ifp: Ifnet) {}

  program(): readonly BpfInsn[] {
    const ifp = this.ifp;
    const flags = demux_flags(ifp);
    const sadl = ifp.if_sadl;
    const addrs = if_inaddrs(ifp, this.scratch);
    let same = flags === this.flags && sadl.length === ETHER_ADDR_LEN && addrs.length === this.addrs.length;
    for (let i = 0; same && i < ETHER_ADDR_LEN; i++) same = sadl[i] === this.mac[i];
    for (let i = 0; same && i < addrs.length; i++) same = addrs[i] === this.addrs[i];
    if (same) return this.prog;
    this.flags = flags;
    if (sadl.length === ETHER_ADDR_LEN) this.mac.set(sadl);
    this.addrs = addrs.slice();
    this.prog = ether_demux_program(flags, sadl, this.addrs);
    return this.prog;
  }
}
