/*
 * virtif's host half on Node (NetBSD's virtif_user.c): Linux TAP devices
 * through the native addon in native/ (virtif.c, built by node-gyp at
 * `npm install`).  The only file of libvirtif that touches the host.
 *
 * Place in the packet path: between the TAP's file descriptor and the
 * kernel half's interrupts.
 *   receive: the addon's uv_poll sees the fd readable, reads every frame
 *            waiting (up to VIRTIF_RXBATCH) into the device's receive
 *            area and calls onrx once; onrx makes the one upcall
 *            (deliver) for the batch, per kernel attached.  The area, the
 *            descriptor arrays and the batch objects are made once per
 *            device and attachment: nothing per frame.
 *   send:    the kernel's iovec goes to the addon's writev as arguments
 *            (up to VIRTIF_USER_IOVMAX segments), no copy in JavaScript.
 *
 * A device shared by kernels.  The open devices belong to the process
 * (VirtifHost, one table per process as virtif_user.c's are the
 * process's; a worker thread has its own), not to a kernel: when
 * interfaces of several kernels name the same device, it is opened once
 * and each interface is an attachment to it (a second TUNSETIFF would be
 * EBUSY).  With one kernel attached, a batch goes to it whole, as if
 * nothing were shared.  With more, every attached interface registers
 * its demux filter (the filter upcall, rebuilt by the kernel when its
 * flags, MAC or addresses change) in the device's BpfDemux, and each
 * frame read goes only to the kernels whose filter accepts it, one upcall
 * per kernel per batch, in its own descriptor array over the same area
 * (no copy).  A frame one kernel sends is written to the device and, as
 * on a shared segment, offered to the others: copied into a loop page
 * (a subarray view per long segment for set(): the one allocation per
 * frame, and only while the device is shared), and on the next turn of the host loop (never inside the sender's
 * hypercall) run through their filters and delivered, one batch per
 * kernel; never back to its sender.  The two loop pages alternate, so
 * what kernels send while a page is delivered waits in the other; at
 * most VIRTIF_LOOPMAX frames wait, more are dropped and counted, as a
 * full ring drops.  The last attachment to leave closes the device; a
 * device that fails is reported to every kernel on it, and the name
 * opens afresh for the next create.  Within one kernel a device serves
 * one interface (EBUSY).
 *
 * Device names: the kernel asks for a name (tunN, or a linkstr); the TAP is
 * created if it does not exist (and disappears when closed), or attached
 * if it is a persistent one ("ip tuntap add dev NAME mode tap").
 * Failures come back as NetBSD errnos with a sentence saying what to do:
 * the addon not built (why, from native/build/FAILED), no /dev/net/tun,
 * no privilege, a name in use or not a TAP.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osconstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EBUSY, EIO, ENXIO, errnoByName } from '../../../include/errno.ts';
import { BPF_K, BPF_RET, type BpfInsn } from '../../../include/bpf.ts';
import type { RumpUser } from '../../../include/rumpuser.ts';
import { BpfDemux } from '../libnet/bpf_demux.ts';
import type {
  VirtifCreateResult, VirtifHandle, VirtifHypercalls, VirtifIovec, VirtifRxBatch, VirtifUpcalls,
} from './virtif_hyper.ts';

/** Frames one receive upcall carries at most. */
export const VIRTIF_RXBATCH = 64;
/** Segments the addon's send takes. */
export const VIRTIF_USER_IOVMAX = 4;
/** Frames sent on a shared device that may wait for the other kernels at once. */
export const VIRTIF_LOOPMAX = 512;
/* Segments shorter than this are copied into a loop page byte by byte (no subarray view). */
const LOOP_COPY_LOOP_MAX = 32;

/** The addon's handle: an opaque external. */
export type VirtifAddonHandle = object;

/**
 * native/virtif.c's exports: open a device into a receive area and
 * descriptor array the caller lends, with onrx(n, errno) called from the
 * host loop per batch read; errors as host errno values.  A test may put
 * a fake TAP with the same shape behind VirtifHost.
 */
export interface VirtifAddon {
  open(name: string, rx: Uint8Array, desc: Int32Array, onrx: (n: number, errno: number) => void): [number, VirtifAddonHandle | null, string];
  start(h: VirtifAddonHandle): number;
  stop(h: VirtifAddonHandle): number;
  send(h: VirtifAddonHandle, n: number, ...seg: (Uint8Array | number)[]): number;
  close(h: VirtifAddonHandle): number;
  strerror(errno: number): string;
  readonly READ_MAX: number;
}

/** Has run() called from the host loop soon, never inside the caller. */
export type VirtifSoon = (run: () => void) => void;

const here = dirname(fileURLToPath(import.meta.url));
const NATIVE_REL = join('net', 'lib', 'libvirtif', 'native');

/*
 * Where the built addon may be: beside this file, or (in a bundle under
 * dist/) in the source tree.  RUMPTS_VIRTIF_ADDON, when set, is the only
 * place looked at.
 */
function addon_candidates(): string[] {
  const env = process.env['RUMPTS_VIRTIF_ADDON'];
  if (env !== undefined && env !== '') return [env];
  return [join(here, 'native', 'build', 'Release', 'virtif.node'), join(here, '..', NATIVE_REL, 'build', 'Release', 'virtif.node')];
}

/** Load the addon, or say why it cannot be and what to do. */
export function virtif_addon(): { addon: VirtifAddon } | { why: string } {
  const cands = addon_candidates();
  const path = cands.find((p) => existsSync(p));
  if (path === undefined) {
    const failed = [join(here, 'native', 'build', 'FAILED'), join(here, '..', NATIVE_REL, 'build', 'FAILED')].find((p) => existsSync(p));
    const reason = failed !== undefined ? readFileSync(failed, 'utf8').trim() : 'npm install did not build it (was it run with --ignore-scripts?)';
    return {
      why: `the virtif native addon is not built (${reason}); install g++, make and python3 and run "npm run build:virtif"`,
    };
  }
  try {
    return { addon: createRequire(import.meta.url)(path) as VirtifAddon };
  } catch (e) {
    return { why: `the virtif native addon ${path} does not load (${e instanceof Error ? e.message : String(e)}); rebuild it with "npm run build:virtif"` };
  }
}

/* Host (Linux) errno number -> NetBSD errno, through the name. */
const HOST_ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(osconstants.errno).map(([name, n]) => [n, name] as [number, string]),
);

function netbsd_errno(host: number): number {
  const name = HOST_ERRNO_NAMES.get(host);
  return (name !== undefined ? errnoByName(name) : undefined) ?? EIO;
}

/* What to do about a failed open, by the step that failed and its error. */
function open_advice(name: string, step: string, code: string | undefined): string {
  if (step === 'open /dev/net/tun') {
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') {
      return '/dev/net/tun is missing: load the tun module (modprobe tun) or, in a container, pass the device in (--device /dev/net/tun)';
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return '/dev/net/tun may not be opened by this user: run as root, or give node CAP_NET_ADMIN and access to the device';
    }
  } else if (step === 'ioctl TUNSETIFF') {
    if (code === 'EPERM' || code === 'EACCES') {
      return `creating TAP device ${name} needs CAP_NET_ADMIN: run as root, or create it beforehand for this user (ip tuntap add dev ${name} mode tap user $USER)`;
    }
    if (code === 'EBUSY') return `TAP device ${name} is already attached to another process`;
    if (code === 'EINVAL') return `${name} exists on the host and is not a TAP device (a TUN device or another kind of interface): pick another name with ifconfig linkstr`;
  }
  return '';
}

/** A batch handed to one kernel: the area it lies in may change between calls (the loop's pages). */
class VirtifBatch implements VirtifRxBatch {
  n = 0;
  constructor(public buf: Uint8Array, readonly desc: Int32Array) {}
}

/* What a filter that does not compile is replaced by: everything, so the kernel's own address filter decides. */
const ACCEPT_ALL: readonly BpfInsn[] = [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0xffffffff }];

/** One kernel's interface on a host device: the handle its kernel half holds. */
class VirtifAttachment<C> implements VirtifHandle {
  open = true;
  /** Frames handed to the kernel, from the device and from the other kernels on it. */
  frames = 0;
  /** The filter program registered in the device's demux (to notice a new one). */
  prog: readonly BpfInsn[] | null = null;
  /** Its share of a batch read from a shared device: the device's area, its own descriptors. */
  readonly rxbatch: VirtifBatch;
  /** Its share of what the other kernels sent, in the loop page being drained. */
  readonly loopbatch: VirtifBatch;

  constructor(readonly tap: VirtifTap, readonly user: VirtifUser<C>, readonly cookie: C) {
    this.rxbatch = new VirtifBatch(tap.rx, new Int32Array(2 * VIRTIF_RXBATCH));
    this.loopbatch = new VirtifBatch(tap.rx, new Int32Array(2 * VIRTIF_LOOPMAX));
  }

  get vh_devname(): string {
    return this.tap.vh_devname;
  }

  deliver(b: VirtifRxBatch): void {
    this.frames += b.n;
    this.user.up.deliver(this.cookie, b);
  }

  error(errno: number, why: string): void {
    this.user.up.error(this.cookie, errno, why);
  }

  filter(): readonly BpfInsn[] {
    return this.user.up.filter(this.cookie);
  }
}

/*
 * Frames sent by the kernels on a shared device, for the others: send
 * copies each one in (the sender's mbufs are freed when send returns),
 * and the host loop's flush runs the filters on them and delivers.
 */
class VirtifLoopPage {
  buf = new Uint8Array(VIRTIF_RXBATCH * 1536);
  view = new DataView(this.buf.buffer);
  readonly desc = new Int32Array(2 * VIRTIF_LOOPMAX);
  readonly senders: (VirtifAttachment<unknown> | null)[] = new Array<VirtifAttachment<unknown> | null>(VIRTIF_LOOPMAX).fill(null);
  n = 0;
  used = 0;

  /** Room for len more bytes: grows (keeping what is there) and stays grown. */
  room(len: number): void {
    if (this.used + len <= this.buf.length) return;
    const b = new Uint8Array(Math.max(2 * this.buf.length, this.used + len));
    b.set(this.buf.subarray(0, this.used));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
}

/** One open host TAP device, and the kernels' interfaces attached to it. */
class VirtifTap {
  readonly rx: Uint8Array;
  readonly rxview: DataView;
  readonly desc = new Int32Array(2 * VIRTIF_RXBATCH);
  /** The batch as the addon filled it: what a device with one kernel hands over whole. */
  readonly batch: VirtifBatch;
  h: VirtifAddonHandle | null = null;
  vh_devname = '';
  /** Attached interfaces: replaced, never changed in place, so a delivery loop keeps its list. */
  atts: readonly VirtifAttachment<unknown>[] = [];
  readonly demux = new BpfDemux<VirtifAttachment<unknown>>();
  private readonly matched: VirtifAttachment<unknown>[] = [];
  /* Sends waiting for the flush, and the page the flush delivers from; made when the device is first shared. */
  private fill: VirtifLoopPage | null = null;
  private drain: VirtifLoopPage | null = null;
  private armed = false;
  rxframes = 0;
  txframes = 0;
  loopframes = 0;
  loopdrops = 0;

  /** Made once per device: the addon calls it for every batch. */
  readonly onrx = (n: number, errno: number): void => {
    if (this.h === null) return;
    if (n > 0) {
      this.rxframes += n;
      const atts = this.atts;
      if (atts.length === 1) {
        /* One kernel: the batch as it is; its own address filter does the rest, as before sharing. */
        this.batch.n = n;
        atts[0]!.deliver(this.batch);
      } else {
        this.demux_rx(atts, n);
      }
    }
    if (errno !== 0 && this.h !== null) this.fail(errno);
  };

  private readonly flush = (): void => {
    this.armed = false;
    const p = this.fill;
    if (p === null || p.n === 0) return;
    /* Swap first: what the kernels send while we deliver goes to the other page and the next flush. */
    this.fill = this.drain;
    this.drain = p;
    const atts = this.atts;
    if (this.h !== null) {
      this.refilter(atts);
      const out = this.matched;
      const desc = p.desc;
      for (let i = 0; i < p.n; i++) {
        const off = desc[2 * i]!;
        const len = desc[2 * i + 1]!;
        const k = this.demux.bd_match(p.view, off, len, p.senders[i]!, out);
        p.senders[i] = null;
        for (let j = 0; j < k; j++) {
          const b = out[j]!.loopbatch;
          b.desc[2 * b.n] = off;
          b.desc[2 * b.n + 1] = len;
          b.n++;
        }
      }
      for (let i = 0; i < atts.length; i++) {
        const a = atts[i]!;
        const b = a.loopbatch;
        if (b.n === 0) continue;
        b.buf = p.buf;
        if (a.open) a.deliver(b);
        b.n = 0;
      }
    } else {
      p.senders.fill(null, 0, p.n);
    }
    p.n = 0;
    p.used = 0;
  };

  constructor(readonly host: VirtifHost, readonly name: string) {
    /* Room for a full batch of MTU-sized frames, and one more read of the largest frame a TAP gives. */
    this.rx = new Uint8Array(VIRTIF_RXBATCH * 1536 + host.addon.READ_MAX);
    this.rxview = new DataView(this.rx.buffer);
    this.batch = new VirtifBatch(this.rx, this.desc);
  }

  /* Register the filters that changed since the last batch. */
  private refilter(atts: readonly VirtifAttachment<unknown>[]): void {
    for (let i = 0; i < atts.length; i++) {
      const a = atts[i]!;
      const prog = a.filter();
      if (prog === a.prog) continue;
      if (this.demux.bd_set(a, prog) !== 0) this.demux.bd_set(a, ACCEPT_ALL);
      a.prog = prog;
    }
  }

  /* A batch read from a shared device: each kernel gets the frames its filter takes, in one upcall. */
  private demux_rx(atts: readonly VirtifAttachment<unknown>[], n: number): void {
    this.refilter(atts);
    const out = this.matched;
    const desc = this.desc;
    for (let i = 0; i < n; i++) {
      const off = desc[2 * i]!;
      const len = desc[2 * i + 1]!;
      const k = this.demux.bd_match(this.rxview, off, len, null, out);
      for (let j = 0; j < k; j++) {
        const b = out[j]!.rxbatch;
        b.desc[2 * b.n] = off;
        b.desc[2 * b.n + 1] = len;
        b.n++;
      }
    }
    for (let i = 0; i < atts.length; i++) {
      const a = atts[i]!;
      const b = a.rxbatch;
      if (b.n === 0) continue;
      if (a.open) a.deliver(b);
      b.n = 0;
    }
  }

  /* A frame sender sent on a shared device: copied for the other kernels, delivered from the host loop. */
  loop(sender: VirtifAttachment<unknown>, iov: VirtifIovec): void {
    let p = this.fill;
    if (p === null) {
      p = this.fill = new VirtifLoopPage();
      this.drain = new VirtifLoopPage();
    }
    if (p.n === VIRTIF_LOOPMAX) {
      this.loopdrops++;
      return;
    }
    let len = 0;
    for (let i = 0; i < iov.n; i++) len += iov.lens[i]!;
    p.room(len);
    const dst = p.buf;
    let o = p.used;
    for (let i = 0; i < iov.n; i++) {
      const src = iov.bufs[i]!;
      const s = iov.offs[i]!;
      const l = iov.lens[i]!;
      /* As the mbuf layer's bcopy: for a full frame set() is ~30x faster than a byte loop; its view is the one allocation. */
      if (l <= LOOP_COPY_LOOP_MAX) {
        for (let x = 0; x < l; x++) dst[o + x] = src[s + x]!;
      } else {
        dst.set(src.subarray(s, s + l), o);
      }
      o += l;
    }
    p.desc[2 * p.n] = p.used;
    p.desc[2 * p.n + 1] = len;
    p.senders[p.n] = sender;
    p.n++;
    p.used += (len + 7) & ~7;
    this.loopframes++;
    if (!this.armed) {
      this.armed = true;
      this.host.soon(this.flush);
    }
  }

  attach(a: VirtifAttachment<unknown>): void {
    this.atts = [...this.atts, a];
  }

  /* a leaves; the last one out closes the device. */
  detach(a: VirtifAttachment<unknown>): void {
    if (!a.open) return;
    a.open = false;
    this.atts = this.atts.filter((x) => x !== a);
    this.demux.bd_remove(a);
    a.prog = null;
    if (this.atts.length > 0) return;
    if (this.h !== null) this.host.addon.close(this.h);
    this.h = null;
    this.host.forget(this);
  }

  /* The device failed: a later create opens the name afresh; every kernel on it hears why. */
  private fail(errno: number): void {
    this.host.forget(this);
    const why = `reading ${this.vh_devname} failed: ${this.host.addon.strerror(errno)}`;
    const e = netbsd_errno(errno);
    const atts = this.atts;
    for (let i = 0; i < atts.length; i++) if (atts[i]!.open) atts[i]!.error(e, why);
  }
}

/** What a host device did, for one device (VirtifHost.tapStats). */
export interface VirtifTapStats {
  /** The host's name of the device. */
  devname: string;
  /** Interfaces attached (of as many kernels). */
  attached: number;
  /** Frames read from the device. */
  rxframes: number;
  /** Frames the kernels sent on it. */
  txframes: number;
  /** Frames sent while it was shared, offered to the other kernels on it. */
  loopframes: number;
  /** Of those, frames dropped because VIRTIF_LOOPMAX were already waiting. */
  loopdrops: number;
}

/** What one interface on a host device was given (VirtifHost.attachStats). */
export interface VirtifAttachStats {
  /** Frames handed to its kernel. */
  frames: number;
  /** Frames its filter accepted and rejected: counted while the device is shared, when the filters run. */
  accepted: number;
  rejected: number;
}

/**
 * The open host devices of a process (or of one fake, in a test): one per
 * name, shared by every kernel whose interface names it.  soon() calls
 * its argument from the host loop, never inside the caller: it delivers
 * what one kernel sends to the others.
 */
export class VirtifHost {
  private readonly taps = new Map<string, VirtifTap>();

  constructor(readonly addon: VirtifAddon, readonly soon: VirtifSoon) {}

  /* Attach user's interface c to device devname, opening it if no kernel has it. */
  attach<C>(user: VirtifUser<C>, devname: string, c: C): VirtifCreateResult {
    let t = this.taps.get(devname);
    if (t !== undefined) {
      if (t.atts.some((a) => a.user === user)) {
        return { error: EBUSY, why: `TAP device ${devname} is already attached to another interface of this kernel` };
      }
    } else {
      t = new VirtifTap(this, devname);
      const err = this.open(t, devname);
      if (err !== null) return err;
      this.taps.set(devname, t);
    }
    const a = new VirtifAttachment(t, user, c);
    t.attach(a);
    return { error: 0, viu: a };
  }

  private open(t: VirtifTap, devname: string): VirtifCreateResult | null {
    const [err, h, what] = this.addon.open(devname, t.rx, t.desc, t.onrx);
    if (err !== 0 || h === null) {
      const code = HOST_ERRNO_NAMES.get(err);
      const advice = open_advice(devname, what, code);
      return { error: netbsd_errno(err), why: `${what}: ${this.addon.strerror(err)}${advice !== '' ? `: ${advice}` : ''}` };
    }
    t.h = h;
    t.vh_devname = what;
    const serr = this.addon.start(h);
    if (serr !== 0) {
      this.addon.close(h);
      t.h = null;
      return { error: netbsd_errno(serr), why: `cannot poll ${what}: ${this.addon.strerror(serr)}` };
    }
    return null;
  }

  /* t is closed or failed: its name no longer leads to it. */
  forget(t: VirtifTap): void {
    if (this.taps.get(t.name) === t) this.taps.delete(t.name);
  }

  /** Names of the devices open now. */
  devices(): string[] {
    return [...this.taps.keys()];
  }

  tapStats(devname: string): VirtifTapStats | null {
    const t = this.taps.get(devname);
    if (t === undefined) return null;
    return {
      devname: t.vh_devname, attached: t.atts.length, rxframes: t.rxframes, txframes: t.txframes,
      loopframes: t.loopframes, loopdrops: t.loopdrops,
    };
  }

  /** What the interface holding handle viu was given, or null if viu is not attached. */
  attachStats(viu: VirtifHandle): VirtifAttachStats | null {
    if (!(viu instanceof VirtifAttachment) || !viu.open) return null;
    const a = viu as VirtifAttachment<unknown>;
    const e = a.tap.demux.bd_entry(a);
    return { frames: a.frames, accepted: e?.de_accepted ?? 0, rejected: e?.de_rejected ?? 0 };
  }
}

/** The Node/Linux host half of virtif for one kernel: its interfaces' attachments to the process's devices. */
export class VirtifUser<C> implements VirtifHypercalls<C> {
  readonly iovmax = VIRTIF_USER_IOVMAX;
  private readonly atts = new Set<VirtifAttachment<C>>();

  constructor(readonly up: VirtifUpcalls<C>, readonly host: VirtifHost) {}

  create(devname: string, c: C): VirtifCreateResult {
    const r = this.host.attach(this, devname, c);
    if (r.error === 0 && 'viu' in r) this.atts.add(r.viu as VirtifAttachment<C>);
    return r;
  }

  send(viu: VirtifHandle, iov: VirtifIovec): number {
    const at = viu as VirtifAttachment<C>;
    const t = at.tap;
    const h = t.h;
    if (h === null || !at.open) return ENXIO;
    const b = iov.bufs;
    const o = iov.offs;
    const l = iov.lens;
    const a = this.host.addon;
    let r: number;
    /* Fixed arities: a spread or apply would allocate an array per frame. */
    switch (iov.n) {
      case 1: r = a.send(h, 1, b[0]!, o[0]!, l[0]!); break;
      case 2: r = a.send(h, 2, b[0]!, o[0]!, l[0]!, b[1]!, o[1]!, l[1]!); break;
      case 3: r = a.send(h, 3, b[0]!, o[0]!, l[0]!, b[1]!, o[1]!, l[1]!, b[2]!, o[2]!, l[2]!); break;
      case 4: r = a.send(h, 4, b[0]!, o[0]!, l[0]!, b[1]!, o[1]!, l[1]!, b[2]!, o[2]!, l[2]!, b[3]!, o[3]!, l[3]!); break;
      default: return EIO;
    }
    t.txframes++;
    /* On a shared segment the other stations hear it whatever the host side did with it. */
    if (t.atts.length > 1) t.loop(at, iov);
    return r < 0 ? netbsd_errno(-r) : 0;
  }

  destroy(viu: VirtifHandle): void {
    const a = viu as VirtifAttachment<C>;
    if (!this.atts.delete(a)) return;
    a.tap.detach(a);
  }

  fini(): void {
    for (const a of [...this.atts]) this.destroy(a);
  }
}

/**
 * Refuses to create anything: the addon is missing (or the host is
 * simulated), and every create says why.
 */
class VirtifUnavailable<C> implements VirtifHypercalls<C> {
  readonly iovmax = 1;
  constructor(private readonly why: string, private readonly errno: number) {}
  create(_devname: string, _c: C): VirtifCreateResult {
    return { error: this.errno, why: this.why };
  }
  send(): number {
    return ENXIO;
  }
  destroy(): void {}
  fini(): void {}
}

/**
 * The host half for a kernel on host hyp.  A TAP runs in real time, so a
 * simulated host gets one that refuses every device (a test on the sim
 * host puts its own host half behind the driver instead).
 */
export function virtif_user_create<C>(hyp: RumpUser, up: VirtifUpcalls<C>): VirtifHypercalls<C> {
  if (hyp.hostkind === 'sim') {
    return new VirtifUnavailable<C>('a TAP device runs in real time and cannot serve a kernel on the simulated host: boot it on NodeHost', ENXIO);
  }
  const host = virtif_host();
  if ('why' in host) return new VirtifUnavailable<C>(host.why, ENXIO);
  return new VirtifUser(up, host);
}

/* The process's devices, made with the first kernel that asks for one. */
let processHost: VirtifHost | null = null;

/** The process's table of open TAP devices (on the real addon), or why there is none. */
export function virtif_host(): VirtifHost | { why: string } {
  if (processHost !== null) return processHost;
  const r = virtif_addon();
  if ('why' in r) return r;
  processHost = new VirtifHost(r.addon, (run) => { setImmediate(run); });
  return processHost;
}
