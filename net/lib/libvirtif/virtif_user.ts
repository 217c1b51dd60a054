/*
 * virtif's host half on Node (NetBSD's virtif_user.c): Linux TAP devices
 * through the native addon in native/ (virtif.c, built by node-gyp at
 * `npm install`).  The only file of libvirtif that touches the host.
 *
 * Place in the packet path: between the TAP's file descriptor and the
 * kernel half's interrupts.
 *   receive: the addon's uv_poll sees the fd readable, reads every frame
 *            waiting (up to VIRTIF_RXBATCH) into this port's receive area
 *            and calls onrx once; onrx makes the one upcall (deliver) for
 *            the batch.  The area, the descriptor array and the batch
 *            object are made once per device: nothing per frame.
 *   send:    the kernel's iovec goes to the addon's writev as arguments
 *            (up to VIRTIF_USER_IOVMAX segments), no copy in JavaScript.
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
import { EIO, ENXIO, errnoByName } from '../../../include/errno.ts';
import type { RumpUser } from '../../../include/rumpuser.ts';
import type {
  VirtifCreateResult, VirtifHandle, VirtifHypercalls, VirtifIovec, VirtifRxBatch, VirtifUpcalls,
} from './virtif_hyper.ts';

/** Frames one receive upcall carries at most. */
export const VIRTIF_RXBATCH = 64;
/** Segments the addon's send takes. */
export const VIRTIF_USER_IOVMAX = 4;

/** The addon's handle: an opaque external. */
type AddonHandle = object;

/** native/virtif.c's exports. */
interface VirtifAddon {
  open(name: string, rx: Uint8Array, desc: Int32Array, onrx: (n: number, errno: number) => void): [number, AddonHandle | null, string];
  start(h: AddonHandle): number;
  stop(h: AddonHandle): number;
  send(h: AddonHandle, n: number, ...seg: (Uint8Array | number)[]): number;
  close(h: AddonHandle): number;
  strerror(errno: number): string;
  readonly READ_MAX: number;
}

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

/** One open TAP device. */
class VirtifPort<C> implements VirtifHandle {
  readonly rx: Uint8Array;
  readonly desc = new Int32Array(2 * VIRTIF_RXBATCH);
  readonly batch: VirtifRxBatch;
  h: AddonHandle | null = null;
  vh_devname = '';
  /** Made once per device: the addon calls it for every batch. */
  readonly onrx = (n: number, errno: number): void => {
    if (this.h === null) return;
    if (n > 0) {
      this.batch.n = n;
      this.user.up.deliver(this.cookie, this.batch);
    }
    if (errno !== 0 && this.h !== null) {
      this.user.up.error(this.cookie, netbsd_errno(errno), `reading ${this.vh_devname} failed: ${this.user.addon.strerror(errno)}`);
    }
  };

  constructor(readonly user: VirtifUser<C>, readonly cookie: C) {
    /* Room for a full batch of MTU-sized frames, and one more read of the largest frame a TAP gives. */
    this.rx = new Uint8Array(VIRTIF_RXBATCH * 1536 + user.addon.READ_MAX);
    this.batch = { buf: this.rx, desc: this.desc, n: 0 };
  }
}

/** The Node/Linux host half of virtif. */
export class VirtifUser<C> implements VirtifHypercalls<C> {
  readonly iovmax = VIRTIF_USER_IOVMAX;
  private readonly ports = new Set<VirtifPort<C>>();

  constructor(readonly up: VirtifUpcalls<C>, readonly addon: VirtifAddon) {}

  create(devname: string, c: C): VirtifCreateResult {
    const p = new VirtifPort(this, c);
    const [err, h, what] = this.addon.open(devname, p.rx, p.desc, p.onrx);
    if (err !== 0 || h === null) {
      const code = HOST_ERRNO_NAMES.get(err);
      const advice = open_advice(devname, what, code);
      return { error: netbsd_errno(err), why: `${what}: ${this.addon.strerror(err)}${advice !== '' ? `: ${advice}` : ''}` };
    }
    p.h = h;
    p.vh_devname = what;
    const serr = this.addon.start(h);
    if (serr !== 0) {
      this.addon.close(h);
      return { error: netbsd_errno(serr), why: `cannot poll ${what}: ${this.addon.strerror(serr)}` };
    }
    this.ports.add(p);
    return { error: 0, viu: p };
  }

  send(viu: VirtifHandle, iov: VirtifIovec): number {
    const h = (viu as VirtifPort<C>).h;
    if (h === null) return ENXIO;
    const b = iov.bufs;
    const o = iov.offs;
    const l = iov.lens;
    const a = this.addon;
    let r: number;
    /* Fixed arities: a spread or apply would allocate an array per frame. */
    switch (iov.n) {
      case 1: r = a.send(h, 1, b[0]!, o[0]!, l[0]!); break;
      case 2: r = a.send(h, 2, b[0]!, o[0]!, l[0]!, b[1]!, o[1]!, l[1]!); break;
      case 3: r = a.send(h, 3, b[0]!, o[0]!, l[0]!, b[1]!, o[1]!, l[1]!, b[2]!, o[2]!, l[2]!); break;
      case 4: r = a.send(h, 4, b[0]!, o[0]!, l[0]!, b[1]!, o[1]!, l[1]!, b[2]!, o[2]!, l[2]!, b[3]!, o[3]!, l[3]!); break;
      default: return EIO;
    }
    return r < 0 ? netbsd_errno(-r) : 0;
  }

  destroy(viu: VirtifHandle): void {
    const p = viu as VirtifPort<C>;
    if (p.h === null) return;
    this.addon.close(p.h);
    p.h = null;
    this.ports.delete(p);
  }

  fini(): void {
    for (const p of [...this.ports]) this.destroy(p);
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
  const r = virtif_addon();
  if ('why' in r) return new VirtifUnavailable<C>(r.why, ENXIO);
  return new VirtifUser(up, r.addon);
}
