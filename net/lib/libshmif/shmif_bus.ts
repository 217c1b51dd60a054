/*
 * The shmif bus: a virtual Ethernet hub shared by kernels of one process
 * (what NetBSD's shmif keeps in a 1 MiB mapped file, kept here as an
 * object in memory).
 *
 * Place in the packet path: the wire.  A sender's shmif_start copies each
 * frame out of its mbuf into a bus frame (the mbuf is freed at once, like
 * a transmit completion) and calls transmit(); the frame is "in flight"
 * until its delivery time, then every other attached interface gets it in
 * a receive interrupt (ShmifPort.shmif_rx -> intr_dispatch -> m_devget ->
 * ether_input).  Nothing is delivered inside the sender's call: delivery
 * happens in a host event from the bus's clock (shmif_user.ts), at
 * now + latency, so kernels interleave as they would on a real wire.
 *
 * Who owns what.  A ShmifNet is a set of buses by name, made by whoever
 * sets up the kernels (a test, rump_server) and handed to each kernel's
 * component: rumpnet_shmif_component(net).  Kernels given the same
 * ShmifNet meet on its buses ("ifconfig shmif0 linkstr NAME" picks one);
 * two ShmifNets never share anything, so tests stay independent, and no
 * bus lives in module state.
 *
 * Frames.  A bus frame is a reusable buffer from the bus's free list, so
 * steady traffic allocates nothing per frame; the frames in flight form a
 * list ordered by delivery time (stable: equal times keep send order).
 * One host event is armed for the earliest of them and delivers every
 * frame due, not one event per frame, and each receiver takes all of
 * them in one interrupt.  Frames sent while a delivery runs (a reply
 * made in the receiver's interrupt) wait for the next event.
 * At most maxInflight frames are in flight; more are lost (overruns), as
 * a slow reader of NetBSD's ring loses the oldest frames.
 *
 * Faults (setFaults) apply to frames as they enter the wire, drawn from a
 * PRNG seeded by the caller, so a run with the same seed loses, doubles,
 * delays and corrupts the same frames: drop (never delivered), duplicate
 * (delivered twice), delay (delivered delayNs later), reorder (held back
 * reorderNs so frames sent just after it overtake it), corrupt (one bit
 * flipped after the Ethernet header: what an FCS would catch cannot reach
 * a host, so only corruption that slips past the link layer is worth
 * modelling; it exercises the IP/UDP/TCP checksums).
 *
 * Early demultiplexing.  Every attached port registers a BPF program for
 * the frames it wants (shmif_filter: its MAC, group addresses, ARP for
 * its own IPv4 addresses, everything when promiscuous, nothing when down;
 * the port rebuilds it when its configuration changes, and the bus takes
 * the new one at the next delivery).  The bus runs the programs on each
 * frame due (BpfDemux, JIT-compiled) and gives each port only what its
 * program accepted, so a kernel never takes an interrupt, copies a frame
 * into mbufs or runs its input path for traffic that is not its own, even
 * with many kernels on one bus.  Per port, the demux counts frames
 * accepted and rejected (portStats).  With demux off (a bus option, to
 * measure what it saves) every port gets every frame but its own and the
 * kernels' ether_input drops what is not theirs, as on a hub of
 * promiscuous NICs.
 *
 * Capture hooks see every frame twice: at 'send' (as the sender put it on
 * the wire) and at 'deliver' (as the receivers get it, after faults),
 * with the bus's time.  shmif_bus_pcap writes the deliver side as pcap.
 *
 * Checksum offload (setChecksumOffload, default off) makes every attached
 * interface advertise M_CSUM_IPv4|TCPv4|UDPv4: senders may skip computing
 * checksums and receivers are told they were verified.  The bytes on the
 * wire then carry whatever the sender left, so captures show bad
 * checksums; with it off (the default) every checksum is real.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Timespec } from '../../../include/rumpuser.ts';
import { EINVAL, EXDEV } from '../../../include/errno.ts';
import type { BpfInsn } from '../../../include/bpf.ts';
import { BpfDemux } from '../libnet/bpf_demux.ts';
import { ETHER_HDR_LEN, ETHER_MAX_LEN } from '../libnet/if_ether.ts';
import { LINKTYPE_ETHERNET, pcap_file_header, pcap_record_header, PCAP_PKTHDR_LEN, PCAP_SNAPLEN, type PcapOptions } from '../libnet/pcap.ts';
import { shmif_clock_domain, shmif_hostclock, type ShmifHostClock } from './shmif_user.ts';

/** Default limit of frames in flight on one bus. */
export const SHMIF_MAXINFLIGHT = 4096;
/** Free frames a bus keeps for reuse. */
const SHMIF_FREEMAX = 1024;
/** Default hold-back of a reordered frame: 1 ms. */
export const SHMIF_REORDER_NS = 1_000_000;
/** Default extra delay of a delayed frame: 10 ms. */
export const SHMIF_DELAY_NS = 10_000_000;

/** One frame on the wire; recycled through the bus's free list. */
export class ShmifFrame {
  /** At least len bytes; grows for a jumbo frame and stays grown. */
  buf = new Uint8Array(ETHER_MAX_LEN);
  /** A view of buf, for the demux filters. */
  view = new DataView(this.buf.buffer);
  len = 0;
  /** Bus time it was sent, and is due. */
  sent = 0;
  t = 0;
  /** Send order, to keep equal times FIFO and to tell frames sent during a delivery. */
  seq = 0;
  /** The sender: it does not hear its own frame.  null for injected frames. */
  sender: ShmifPort | null = null;
  /** A fault changed its bytes (receivers must not trust offloaded checksums). */
  corrupted = false;
  next: ShmifFrame | null = null;
  prev: ShmifFrame | null = null;
}

/** An interface attached to a bus (the driver's softc). */
export interface ShmifPort {
  /** The kernel the interface belongs to. */
  readonly sp_kernel: Kernel;
  /** Its MAC (6 bytes). */
  readonly sp_mac: Uint8Array;
  /**
   * Frames arrived for this port: frames[0, n), in wire order, never its
   * own; it raises at most one receive interrupt for them.  Frames are
   * valid only during the call.  offload: the bus offers checksum offload
   * (corrupted frames must still be left for the stack to verify).
   */
  shmif_rx(frames: readonly ShmifFrame[], n: number, offload: boolean): void;
  /**
   * The BPF program for frames this port wants.  The same array while
   * nothing changed; a new one tells the bus to register it again.
   */
  shmif_filter(): readonly BpfInsn[];
  /** The bus's checksum offload was switched. */
  shmif_offload(on: boolean): void;
}

/** Fault injection; probabilities are per frame, in [0, 1]. */
export interface ShmifFaults {
  /** PRNG seed: the same seed and traffic give the same faults. */
  seed: number;
  drop?: number;
  duplicate?: number;
  delay?: number;
  /** Extra time a delayed frame takes; default 10 ms. */
  delayNs?: number;
  reorder?: number;
  /** How long a reordered frame is held back; default 1 ms. */
  reorderNs?: number;
  corrupt?: number;
  /** Only frames for which this returns true are subject to faults (buf holds len bytes). */
  filter?: (buf: Uint8Array, len: number) => boolean;
}

export type ShmifCaptureStage = 'send' | 'deliver';
/**
 * A capture hook: frame bytes are buf[0, len), valid only during the call
 * (copy what you keep); t is the bus's monotonic time in ns.
 */
export type ShmifCaptureHook = (buf: Uint8Array, len: number, t: number, stage: ShmifCaptureStage) => void;

/** Counters of one bus. */
export interface ShmifBusStats {
  /** Frames senders put on the wire, and their bytes. */
  frames: number;
  bytes: number;
  /** Frame arrivals (one per frame delivered, whatever the number of receivers). */
  delivered: number;
  /** Receive interrupts raised (at most one per receiver per delivery event, for all frames due). */
  rxintr: number;
  /** Frames handed to ports (a frame counts once per port that gets it). */
  rxframes: number;
  /** Demux decisions, per (frame, port) pair: given to the port, or kept from it. */
  demux_accepted: number;
  demux_rejected: number;
  dropped: number;
  duplicated: number;
  delayed: number;
  reordered: number;
  corrupted: number;
  /** Lost because maxInflight frames were already in flight. */
  overruns: number;
}

/*
 * splitmix32-style generator: small, fast, and good enough to decide
 * which frames a fault hits.  Not a kernel random source.
 */
class FaultRandom {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next32(): number {
    this.s = (this.s + 0x9e3779b9) | 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/* The fault configuration in the form the send path reads. */
class FaultState {
  readonly rng: FaultRandom;
  readonly drop: number;
  readonly duplicate: number;
  readonly delay: number;
  readonly delayNs: number;
  readonly reorder: number;
  readonly reorderNs: number;
  readonly corrupt: number;
  readonly filter: ((buf: Uint8Array, len: number) => boolean) | null;

  constructor(f: ShmifFaults) {
    const p = (name: string, v: number | undefined): number => {
      const x = v ?? 0;
      if (!(x >= 0 && x <= 1)) throw new RangeError(`shmif faults: ${name} ${x} is not a probability`);
      return x;
    };
    const ns = (name: string, v: number | undefined, def: number): number => {
      const x = v ?? def;
      if (!(Number.isFinite(x) && x >= 0)) throw new RangeError(`shmif faults: ${name} ${x} is not a duration`);
      return Math.round(x);
    };
    if (!Number.isInteger(f.seed)) throw new RangeError(`shmif faults: seed ${f.seed} is not an integer`);
    this.rng = new FaultRandom(f.seed);
    this.drop = p('drop', f.drop);
    this.duplicate = p('duplicate', f.duplicate);
    this.delay = p('delay', f.delay);
    this.delayNs = ns('delayNs', f.delayNs, SHMIF_DELAY_NS);
    this.reorder = p('reorder', f.reorder);
    this.reorderNs = ns('reorderNs', f.reorderNs, SHMIF_REORDER_NS);
    this.corrupt = p('corrupt', f.corrupt);
    this.filter = f.filter ?? null;
  }
}

export interface ShmifBusOptions {
  /** Wire latency in ns; default 0 (delivered on the next host turn, still never inside the send). */
  latencyNs?: number;
  /** Checksum offload for every attached interface; default off. */
  csumOffload?: boolean;
  /** Limit of frames in flight; default SHMIF_MAXINFLIGHT. */
  maxInflight?: number;
  /** Early demultiplexing by the ports' filters; default on.  Off: every port gets every frame. */
  demux?: boolean;
}

/** What the demux decided for one port. */
export interface ShmifPortStats {
  /** Frames its filter accepted (handed to it). */
  accepted: number;
  /** Frames its filter rejected (never reached its kernel). */
  rejected: number;
}

/* The bus's side of an attached port: its receive queue for the delivery in progress. */
class ShmifSlot {
  readonly rxq: ShmifFrame[] = [];
  rxn = 0;
  /** The program registered for it, to notice when the port makes a new one. */
  prog: readonly BpfInsn[] | null = null;
  constructor(readonly port: ShmifPort) {}
}

/** One virtual Ethernet hub. */
export class ShmifBus {
  readonly stats: ShmifBusStats = {
    frames: 0, bytes: 0, delivered: 0, rxintr: 0, rxframes: 0, demux_accepted: 0, demux_rejected: 0,
    dropped: 0, duplicated: 0, delayed: 0, reordered: 0, corrupted: 0, overruns: 0,
  };
  private latency: number;
  private offload: boolean;
  private maxInflight: number;
  /* Attached ports, replaced (never changed in place) so a delivery loop keeps a stable list. */
  private slots: readonly ShmifSlot[] = [];
  private readonly demux = new BpfDemux<ShmifSlot>();
  private demuxOn: boolean;
  /* bd_match's output, reused for every frame. */
  private readonly matched: ShmifSlot[] = [];
  private clock: ShmifHostClock | null = null;
  private armedAt = Infinity;
  /* Frames in flight, by (t, seq). */
  private head: ShmifFrame | null = null;
  private tail: ShmifFrame | null = null;
  private ninflight = 0;
  private readonly freelist: ShmifFrame[] = [];
  private seq = 0;
  private faults: FaultState | null = null;
  private captures: readonly ShmifCaptureHook[] = [];
  /* Made once: the bus's clock calls it for every delivery event. */
  private readonly fire = (): void => { this.deliver(); };

  /** Use ShmifNet.bus(). */
  constructor(readonly name: string, opts: ShmifBusOptions = {}) {
    this.latency = checkLatency(opts.latencyNs ?? 0);
    this.offload = opts.csumOffload ?? false;
    this.maxInflight = opts.maxInflight ?? SHMIF_MAXINFLIGHT;
    this.demuxOn = opts.demux ?? true;
  }

  /* ---- configuration (the public API) ---- */

  get latencyNs(): number {
    return this.latency;
  }

  /** Wire latency for frames sent from now on. */
  setLatency(ns: number): void {
    this.latency = checkLatency(ns);
  }

  get csumOffload(): boolean {
    return this.offload;
  }

  /** Switch checksum offload for every attached interface (and later ones). */
  setChecksumOffload(on: boolean): void {
    this.offload = on;
    for (const s of this.slots) s.port.shmif_offload(on);
  }

  get demuxEnabled(): boolean {
    return this.demuxOn;
  }

  /** Switch early demultiplexing (for measuring what it saves); counters are kept. */
  setDemux(on: boolean): void {
    this.demuxOn = on;
  }

  /** What the demux decided for port p, or null if p is not attached. */
  portStats(p: ShmifPort): ShmifPortStats | null {
    const slot = this.slotOf(p);
    if (slot === null) return null;
    const e = this.demux.bd_entry(slot);
    return { accepted: e?.de_accepted ?? 0, rejected: e?.de_rejected ?? 0 };
  }

  /** Set (or with null clear) fault injection; a new config restarts the PRNG from its seed. */
  setFaults(f: ShmifFaults | null): void {
    this.faults = f === null ? null : new FaultState(f);
  }

  addCapture(hook: ShmifCaptureHook): void {
    this.captures = [...this.captures, hook];
  }

  removeCapture(hook: ShmifCaptureHook): void {
    this.captures = this.captures.filter((h) => h !== hook);
  }

  /** Interfaces attached now. */
  attached(): readonly ShmifPort[] {
    return this.slots.map((s) => s.port);
  }

  /** Frames in flight. */
  inflight(): number {
    return this.ninflight;
  }

  /** The bus's monotonic time (ns), or -1 while nothing is attached. */
  now(): number {
    return this.clock === null ? -1 : this.clock.now();
  }

  /** Wall-clock time at bus time t (for capture time stamps); false while nothing is attached. */
  walltime(t: number, ts: Timespec): boolean {
    if (this.clock === null) return false;
    this.clock.walltime(t, ts);
    return true;
  }

  /**
   * Put a frame on the wire from outside any kernel (tests, fuzzers): it
   * reaches every attached interface.  EINVAL when nothing is attached
   * (there is no clock to deliver it by).
   */
  inject(frame: Uint8Array): number {
    if (this.clock === null) return EINVAL;
    const f = this.frameGet(frame.length);
    f.buf.set(frame);
    this.transmit(f, frame.length, null);
    return 0;
  }

  /* ---- used by the driver ---- */

  /** Attach a port; EXDEV if its host runs on another clock than the bus. */
  attachPort(p: ShmifPort): number {
    const hyp = p.sp_kernel.hyp;
    if (this.clock === null) {
      this.clock = shmif_hostclock(hyp, this.fire);
    } else if (shmif_clock_domain(hyp) !== this.clock.domain) {
      return EXDEV;
    }
    if (this.slotOf(p) === null) this.slots = [...this.slots, new ShmifSlot(p)];
    p.shmif_offload(this.offload);
    return 0;
  }

  /**
   * Detach a port.  When the last one leaves, frames in flight are lost
   * and the clock is released, so the bus holds no host event.
   */
  detachPort(p: ShmifPort): void {
    const slot = this.slotOf(p);
    if (slot !== null) {
      this.slots = this.slots.filter((s) => s !== slot);
      this.demux.bd_remove(slot);
    }
    p.shmif_offload(false);
    if (this.slots.length > 0) return;
    for (let f = this.head; f !== null; f = this.head) {
      this.unlink(f);
      this.frameFree(f);
    }
    this.clock?.disarm();
    this.clock = null;
    this.armedAt = Infinity;
  }

  /** Is the MAC used by an attached port other than `self`? */
  macInUse(mac: Uint8Array, self: ShmifPort | null): boolean {
    for (const s of this.slots) {
      const p = s.port;
      if (p === self) continue;
      const a = p.sp_mac;
      if (a[0] === mac[0] && a[1] === mac[1] && a[2] === mac[2] && a[3] === mac[3] && a[4] === mac[4] && a[5] === mac[5]) return true;
    }
    return false;
  }

  /** A frame buffer for len bytes; fill f.buf[0, len) and transmit() it. */
  frameGet(len: number): ShmifFrame {
    const f = this.freelist.pop() ?? new ShmifFrame();
    if (f.buf.length < len) {
      f.buf = new Uint8Array(len);
      f.view = new DataView(f.buf.buffer);
    }
    f.corrupted = false;
    f.sender = null;
    return f;
  }

  private frameFree(f: ShmifFrame): void {
    f.sender = null;
    f.next = null;
    f.prev = null;
    if (this.freelist.length < SHMIF_FREEMAX) this.freelist.push(f);
  }

  /** Send frame f (len bytes) from `sender`: faults, capture, then in flight until due. */
  transmit(f: ShmifFrame, len: number, sender: ShmifPort | null): void {
    const clock = this.clock;
    if (clock === null) {
      /* The sender was detached under us; nobody could hear it. */
      this.frameFree(f);
      return;
    }
    const now = clock.now();
    f.len = len;
    f.sender = sender;
    f.sent = now;
    f.t = now + this.latency;
    const st = this.stats;
    st.frames++;
    st.bytes += len;
    const caps = this.captures;
    for (let i = 0; i < caps.length; i++) caps[i]!(f.buf, len, now, 'send');
    const fs = this.faults;
    if (fs !== null && (fs.filter === null || fs.filter(f.buf, len))) {
      const rng = fs.rng;
      if (fs.drop > 0 && rng.uniform() < fs.drop) {
        st.dropped++;
        this.frameFree(f);
        return;
      }
      if (fs.corrupt > 0 && rng.uniform() < fs.corrupt && len > 0) {
        const at = len > ETHER_HDR_LEN ? ETHER_HDR_LEN + rng.below(len - ETHER_HDR_LEN) : rng.below(len);
        f.buf[at] = f.buf[at]! ^ (1 << rng.below(8));
        f.corrupted = true;
        st.corrupted++;
      }
      if (fs.delay > 0 && rng.uniform() < fs.delay) {
        f.t += fs.delayNs;
        st.delayed++;
      }
      if (fs.reorder > 0 && rng.uniform() < fs.reorder) {
        f.t += fs.reorderNs;
        st.reordered++;
      }
      if (fs.duplicate > 0 && rng.uniform() < fs.duplicate) {
        const d = this.frameGet(len);
        d.buf.set(f.buf.subarray(0, len));
        d.len = len;
        d.sender = sender;
        d.sent = now;
        d.t = f.t;
        d.corrupted = f.corrupted;
        st.duplicated++;
        this.enqueue(f);
        this.enqueue(d);
        return;
      }
    }
    this.enqueue(f);
  }

  private enqueue(f: ShmifFrame): void {
    if (this.ninflight >= this.maxInflight) {
      this.stats.overruns++;
      this.frameFree(f);
      return;
    }
    f.seq = this.seq++;
    /* From the tail: with a fixed latency every frame goes last. */
    let p = this.tail;
    while (p !== null && p.t > f.t) p = p.prev;
    f.prev = p;
    f.next = p === null ? this.head : p.next;
    if (f.next !== null) f.next.prev = f;
    else this.tail = f;
    if (p !== null) p.next = f;
    else this.head = f;
    this.ninflight++;
    if (f.t < this.armedAt) {
      this.armedAt = f.t;
      this.clock!.arm(f.t);
    }
  }

  private unlink(f: ShmifFrame): void {
    if (f.prev !== null) f.prev.next = f.next;
    else this.head = f.next;
    if (f.next !== null) f.next.prev = f.prev;
    else this.tail = f.prev;
    f.next = null;
    f.prev = null;
    this.ninflight--;
  }

  /*
   * The clock's event: deliver every frame due that was sent before it
   * began.  The due frames are cut off the in-flight list as one batch and
   * each port gets the whole batch in ONE receive interrupt, as a NIC
   * drains its receive ring per interrupt: the receiving kernel then runs
   * its protocol softints once for the batch, and its packet queues see
   * bursts, not single packets.
   */
  private deliver(): void {
    const clock = this.clock;
    if (clock === null) return;
    this.armedAt = Infinity;
    const now = clock.now();
    const limit = this.seq;
    const first = this.head;
    let last: ShmifFrame | null = null;
    let count = 0;
    const caps = this.captures;
    for (let f = first; f !== null && f.t <= now && f.seq < limit; f = f.next) {
      last = f;
      count++;
      for (let i = 0; i < caps.length; i++) caps[i]!(f.buf, f.len, now, 'deliver');
    }
    if (last !== null) {
      this.head = last.next;
      if (this.head !== null) this.head.prev = null;
      else this.tail = null;
      last.next = null;
      this.ninflight -= count;
      this.stats.delivered += count;
      this.deliverBatch(first!);
      for (let f: ShmifFrame | null = first; f !== null;) {
        const n: ShmifFrame | null = f.next;
        this.frameFree(f);
        f = n;
      }
    }
    const h = this.head;
    if (h !== null && this.clock !== null && h.t < this.armedAt) {
      this.armedAt = h.t;
      this.clock.arm(h.t);
    }
  }

  /*
   * Hand the batch to the ports: each gets the frames its filter accepts
   * (or, with demux off, every frame but its own) in one call.
   */
  private deliverBatch(first: ShmifFrame): void {
    const slots = this.slots;
    if (this.demuxOn) {
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!;
        if (slot.port.sp_kernel.dead) continue;
        const prog = slot.port.shmif_filter();
        if (prog !== slot.prog) {
          if (this.demux.bd_set(slot, prog) !== 0) throw new Error(`shmif ${this.name}: a port's demux program does not validate`);
          slot.prog = prog;
        }
      }
    }
    const st = this.stats;
    const out = this.matched;
    for (let f: ShmifFrame | null = first; f !== null; f = f.next) {
      const sender = f.sender;
      if (this.demuxOn) {
        const skip = sender === null ? null : this.slotOf(sender);
        const n = this.demux.bd_match(f.view, 0, f.len, skip, out);
        /* Decisions for the ports that could hear it: all but the sender. */
        const heard = slots.length - (skip !== null ? 1 : 0);
        st.demux_accepted += n;
        st.demux_rejected += heard - n;
        for (let i = 0; i < n; i++) {
          const slot = out[i]!;
          slot.rxq[slot.rxn++] = f;
        }
      } else {
        for (let i = 0; i < slots.length; i++) {
          const slot = slots[i]!;
          if (slot.port !== sender) slot.rxq[slot.rxn++] = f;
        }
      }
    }
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      const n = slot.rxn;
      if (n === 0) continue;
      slot.rxn = 0;
      if (slot.port.sp_kernel.dead) continue;
      st.rxframes += n;
      slot.port.shmif_rx(slot.rxq, n, this.offload);
    }
    /* A halted kernel's interfaces stay attached until noticed here. */
    for (const slot of slots) if (slot.port.sp_kernel.dead) this.detachPort(slot.port);
  }

  private slotOf(p: ShmifPort): ShmifSlot | null {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i]!.port === p) return slots[i]!;
    return null;
  }
}

function checkLatency(ns: number): number {
  if (!(Number.isFinite(ns) && ns >= 0)) throw new RangeError(`shmif: latency ${ns} ns is not a duration`);
  return Math.round(ns);
}

export interface ShmifNetOptions {
  /** Defaults for buses this net makes. */
  bus?: ShmifBusOptions;
}

/**
 * A set of shmif buses by name: the "shared memory" kernels meet in.
 * Make one per simulated network and give it to each kernel's
 * rumpnet_shmif_component.  It also keeps MACs unique across all its buses.
 */
export class ShmifNet {
  private readonly byName = new Map<string, ShmifBus>();
  /** The random 32 bits of every shmif MAC handed out by this net. */
  readonly macs = new Set<number>();

  constructor(readonly opts: ShmifNetOptions = {}) {}

  /** The bus called name, made on first use (as attaching to a new bus file creates it). */
  bus(name: string, opts?: ShmifBusOptions): ShmifBus {
    let b = this.byName.get(name);
    if (b === undefined) {
      b = new ShmifBus(name, { ...this.opts.bus, ...opts });
      this.byName.set(name, b);
    }
    return b;
  }

  /** The bus called name if it exists. */
  lookup(name: string): ShmifBus | undefined {
    return this.byName.get(name);
  }

  buses(): ShmifBus[] {
    return [...this.byName.values()];
  }
}

/** A pcap writer on a bus: what the receivers got, with wall-clock time stamps. */
export interface ShmifBusPcap {
  readonly hook: ShmifCaptureHook;
  packets: number;
  close(): void;
}

/**
 * shmif_bus_pcap: write the bus's traffic as pcap (LINKTYPE_ETHERNET), as
 * NetBSD's shmif_dumpbus does with a bus file.  stage 'deliver' (default)
 * records frames as receivers got them, after faults; 'send' as sent.
 */
export function shmif_bus_pcap(
  bus: ShmifBus,
  sink: (chunk: Uint8Array) => void,
  opts: PcapOptions & { stage?: ShmifCaptureStage } = {},
): ShmifBusPcap {
  const nsec = opts.nanosecond === true;
  const snaplen = opts.snaplen ?? PCAP_SNAPLEN;
  const stage = opts.stage ?? 'deliver';
  const ts: Timespec = { tv_sec: 0, tv_nsec: 0 };
  sink(pcap_file_header(LINKTYPE_ETHERNET, snaplen, nsec));
  const w: ShmifBusPcap = {
    packets: 0,
    hook: (buf, len, t, st) => {
      if (st !== stage || !bus.walltime(t, ts)) return;
      const caplen = Math.min(len, snaplen);
      const rec = new Uint8Array(PCAP_PKTHDR_LEN + caplen);
      pcap_record_header(new DataView(rec.buffer), ts.tv_sec, nsec ? ts.tv_nsec : Math.floor(ts.tv_nsec / 1000), caplen, len);
      rec.set(buf.subarray(0, caplen), PCAP_PKTHDR_LEN);
      w.packets++;
      sink(rec);
    },
    close: () => { bus.removeCapture(w.hook); },
  };
  bus.addCapture(w.hook);
  return w;
}
