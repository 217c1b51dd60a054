/*
 * One host TAP shared by several kernels of a process (virtif_user.ts's
 * VirtifHost), on the sim host: the real host half over a fake TAP addon
 * (the shape of native/virtif.c, frames injected as Linux would write
 * them, frames the kernels write recorded as Linux would read them).
 * Kernels naming one TAP share one open device; each gets only the frames
 * its demux filter takes (its unicast, broadcast, ARP for its addresses),
 * one interrupt per batch; kernels on the TAP talk to each other (ping,
 * TCP) while every frame also reaches the host, never echoed to its
 * sender; counters per attachment; one leaving (or halting) keeps the
 * rest working and the last closes the device; a failure reaches all.
 * Deterministic: no real device, no root.
 */
import { constants as osconstants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { bootSim, simWorld } from './kernel.ts';
import { echo, ifconfig, recvWithin, sin } from './inet_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { m_freem } from '../librump/rumpnet/uipc_mbuf.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { ether_register_input } from '../net/lib/libnet/if_ethersubr.ts';
import { ArpRepr } from '../net/lib/libnet/if_arp_hdr.ts';
import { pcap_attach, pcap_detach, pcap_parse } from '../net/lib/libnet/pcap.ts';
import { rumpnet_netinet_component, inet_stats } from '../net/lib/libnetinet/netinet_component.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';
import { virtif_component_create, type VirtifSoftc } from '../net/lib/libvirtif/virtif_component.ts';
import {
  VIRTIF_LOOPMAX, VirtifHost, VirtifUser, type VirtifAddon, type VirtifAddonHandle, type VirtifAttachStats,
} from '../net/lib/libvirtif/virtif_user.ts';
import type { VirtifHandle, VirtifIovec, VirtifRxBatch, VirtifUpcalls } from '../net/lib/libvirtif/virtif_hyper.ts';
import { BPF_K, BPF_RET, type BpfInsn } from '../include/bpf.ts';
import { AF_INET, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM } from '../include/socket.ts';
import { IFF_UP, SIOCIFCREATE, SIOCSIFFLAGS, SIOCSLINKSTR } from '../include/if.ts';

const HOST_EBUSY = osconstants.errno.EBUSY;
const HOST_EIO = osconstants.errno.EIO;
const HOST_EBADF = osconstants.errno.EBADF;

class FakeTapDev {
  open = true;
  polling = false;
  constructor(
    readonly name: string,
    readonly rx: Uint8Array,
    readonly desc: Int32Array,
    readonly onrx: (n: number, errno: number) => void,
  ) {}
}

/** A fake of native/virtif.c: devices by name (a second open of one is EBUSY, as TUNSETIFF). */
class FakeTapAddon implements VirtifAddon {
  readonly READ_MAX = 65664;
  readonly devs = new Map<string, FakeTapDev>();
  opens = 0;
  closes = 0;
  /** Frames the kernels wrote, as Linux would read them from the TAP. */
  readonly written: { dev: string; frame: Uint8Array }[] = [];

  open(name: string, rx: Uint8Array, desc: Int32Array, onrx: (n: number, errno: number) => void): [number, VirtifAddonHandle | null, string] {
    if (rx.length < this.READ_MAX) throw new TypeError('open: rx too small');
    if (this.devs.has(name)) return [HOST_EBUSY, null, 'ioctl TUNSETIFF'];
    const d = new FakeTapDev(name, rx, desc, onrx);
    this.devs.set(name, d);
    this.opens++;
    return [0, d, name];
  }

  start(h: VirtifAddonHandle): number {
    (h as FakeTapDev).polling = true;
    return 0;
  }

  stop(h: VirtifAddonHandle): number {
    (h as FakeTapDev).polling = false;
    return 0;
  }

  send(h: VirtifAddonHandle, n: number, ...seg: (Uint8Array | number)[]): number {
    const d = h as FakeTapDev;
    if (!d.open) return -HOST_EBADF;
    let len = 0;
    for (let i = 0; i < n; i++) len += seg[3 * i + 2] as number;
    const f = new Uint8Array(len);
    for (let i = 0, o = 0; i < n; i++) {
      const b = seg[3 * i] as Uint8Array;
      const off = seg[3 * i + 1] as number;
      const l = seg[3 * i + 2] as number;
      f.set(b.subarray(off, off + l), o);
      o += l;
    }
    this.written.push({ dev: d.name, frame: f });
    return len;
  }

  close(h: VirtifAddonHandle): number {
    const d = h as FakeTapDev;
    d.open = false;
    d.polling = false;
    if (this.devs.get(d.name) === d) this.devs.delete(d.name);
    this.closes++;
    return 0;
  }

  strerror(errno: number): string {
    return errno === HOST_EIO ? 'Input/output error' : `host error ${errno}`;
  }

  /** Linux writes frames into TAP name; the poll reads them as one batch. */
  inject(name: string, frames: Uint8Array[]): void {
    const d = this.devs.get(name);
    if (d === undefined || !d.polling) throw new Error(`fake TAP ${name} is not open and polled`);
    let off = 0;
    frames.forEach((f, i) => {
      d.rx.set(f, off);
      d.desc[2 * i] = off;
      d.desc[2 * i + 1] = f.length;
      off += (f.length + 7) & ~7;
    });
    d.onrx(frames.length, 0);
  }

  /** The device fails (deleted under us): the poll stops and reports once. */
  fail(name: string, errno: number): void {
    const d = this.devs.get(name)!;
    d.polling = false;
    d.onrx(0, errno);
  }
}

interface Shared {
  w: SimWorld;
  addon: FakeTapAddon;
  host: VirtifHost;
  ks: Kernel[];
  boot(name: string): Promise<Kernel>;
}

/* n kernels, k{i} with virt0 on TAP tap0 at 10.0.0.{i+1}/24. */
async function shared(n: number, seed = 3): Promise<Shared> {
  const w = simWorld({ seed });
  const addon = new FakeTapAddon();
  const host = new VirtifHost(addon, (run) => { w.schedule(w.nowNs(), run); });
  const comps = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component,
    virtif_component_create({ linkstr: true, hyper: (_k, up) => new VirtifUser(up, host) })];
  const boot = (name: string): Promise<Kernel> => bootSim(w, { name, components: comps });
  const ks: Kernel[] = [];
  for (let i = 0; i < n; i++) {
    const k = await boot(`k${i}`);
    await ifconfig(k, 'virt0', 'tap0', `10.0.0.${i + 1}`);
    ks.push(k);
  }
  return { w, addon, host, ks, boot };
}

function softc(k: Kernel, ifname = 'virt0'): VirtifSoftc {
  return ifunit(k, ifname)!.if_softc as VirtifSoftc;
}

function stats(S: Shared, k: Kernel): VirtifAttachStats {
  return S.host.attachStats(softc(k).sc_viu!)!;
}

/* Let virtual time pass on k (the host loop runs: pending loop flushes are delivered). */
async function settle(k: Kernel, ms = 20): Promise<void> {
  await k.sys.poll([], ms);
}

async function ioctl(k: Kernel, cmd: number, arg: object): Promise<unknown> {
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  try {
    return await k.sys.ioctl(s, cmd, arg);
  } finally {
    await k.sys.close(s);
  }
}

/* Down and off the TAP. */
async function leave(k: Kernel): Promise<void> {
  await ioctl(k, SIOCSIFFLAGS, { ifr_name: 'virt0', ifr_flags: 0 });
  await ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: null });
}

const PEER = [0x02, 0, 0, 0, 0, 9];
const PEER_IP = 0x0a0000fe;
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const TEST_TYPE = 0x88b5;

function frame(dst: ArrayLike<number>, src: ArrayLike<number>, type: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = i;
  return f;
}

/* ARP who-has tpa from the host side. */
function whohas(tpa: number): Uint8Array {
  const f = frame(BCAST, PEER, 0x0806, 14 + 28);
  ArpRepr.emit({ op: 1, sha: Uint8Array.from(PEER), spa: PEER_IP, tha: new Uint8Array(6), tpa }, f, 14);
  return f;
}

/* Payload lengths of TEST_TYPE frames each kernel takes in. */
function listen(ks: Kernel[]): number[][] {
  const got: number[][] = ks.map(() => []);
  ks.forEach((k, i) => {
    ether_register_input(k, TEST_TYPE, (_ifp, m) => {
      got[i]!.push(m.m_pkthdr.len);
      m_freem(m);
    });
  });
  return got;
}

function delta(a: VirtifAttachStats, b: VirtifAttachStats): VirtifAttachStats {
  return { frames: b.frames - a.frames, accepted: b.accepted - a.accepted, rejected: b.rejected - a.rejected };
}

async function ping(from: Kernel, to: string): Promise<void> {
  const r = await from.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  await from.sys.sendto(r, echo(7, 1, new Uint8Array(32).fill(5)), 0, sin(to));
  for (;;) {
    const rep = await recvWithin(from, r, 2000);
    const icmp = rep.data.subarray((rep.data[0]! & 0x0f) * 4);
    if (icmp[0] !== 0) continue;
    expect(rep.from).toMatchObject({ sin_addr: to });
    break;
  }
  await from.sys.close(r);
}

async function tcp(a: Kernel, b: Kernel, bAddr: string, size: number): Promise<void> {
  const ls = await b.sys.socket(AF_INET, SOCK_STREAM);
  await b.sys.bind(ls, sin('0.0.0.0', 7000));
  await b.sys.listen(ls, 1);
  const c = await a.sys.socket(AF_INET, SOCK_STREAM);
  const acc = b.sys.accept(ls);
  await a.sys.connect(c, sin(bAddr, 7000));
  const { fd } = await acc;
  const data = new Uint8Array(size).map((_, i) => (i * 7) ^ (i >>> 9));
  const writer = (async () => {
    for (let off = 0; off < data.length;) off += await a.sys.write(c, data.subarray(off, off + 65536));
    await a.sys.close(c);
  })();
  const got = new Uint8Array(size);
  let n = 0;
  const buf = new Uint8Array(65536);
  for (let k = await b.sys.read(fd, buf); k > 0; k = await b.sys.read(fd, buf)) {
    got.set(buf.subarray(0, k), n);
    n += k;
  }
  await writer;
  expect(n).toBe(size);
  expect(Buffer.compare(got, data)).toBe(0);
  await b.sys.close(fd);
  await b.sys.close(ls);
}

describe('a TAP shared by kernels of one process (fake TAP addon, sim host)', () => {
  it('kernels naming one TAP share one open device; a second interface of the same kernel is EBUSY', async () => {
    const S = await shared(3);
    expect(S.addon.opens).toBe(1);
    expect(S.host.devices()).toEqual(['tap0']);
    expect(S.host.tapStats('tap0')).toMatchObject({ devname: 'tap0', attached: 3 });
    for (const k of S.ks) expect(softc(k).sc_viu!.vh_devname).toBe('tap0');
    const [a] = S.ks as [Kernel];
    await ioctl(a, SIOCIFCREATE, { ifr_name: 'virt1' });
    await expect(ioctl(a, SIOCSLINKSTR, { ifd_name: 'virt1', ifd_data: 'tap0' })).rejects.toMatchObject({ code: 'EBUSY' });
    expect(a.dmesg()).toContain('virt1: cannot attach to host device tap0: TAP device tap0 is already attached to another interface of this kernel');
    /* Another name is another device, of its own. */
    await ioctl(a, SIOCSLINKSTR, { ifd_name: 'virt1', ifd_data: 'tap1' });
    expect(S.addon.opens).toBe(2);
    expect(S.host.devices().sort()).toEqual(['tap0', 'tap1']);
  });

  it('a batch from the host: each kernel gets its unicast, broadcast and ARP for its address, in one interrupt; counted per attachment', async () => {
    const S = await shared(3);
    const [a, , c] = S.ks as [Kernel, Kernel, Kernel];
    await settle(a);
    const got = listen(S.ks);
    const mac = S.ks.map((k) => [...ifunit(k, 'virt0')!.if_sadl]);
    const batch = [
      frame(mac[0]!, PEER, TEST_TYPE, 60),
      frame(mac[1]!, PEER, TEST_TYPE, 61),
      frame(mac[2]!, PEER, TEST_TYPE, 62),
      frame(mac[2]!, PEER, TEST_TYPE, 63),
      frame(BCAST, PEER, TEST_TYPE, 64),
      frame([0x02, 0, 0, 0, 0, 0x77], PEER, TEST_TYPE, 65),
      whohas(0x0a000002),
      whohas(0x0a000063),
    ];
    const st0 = S.ks.map((k) => stats(S, k));
    const intr0 = S.ks.map((k) => k.cpu.ci_nintr);
    const arp0 = S.ks.map((k) => inet_stats(k).arp.arps_rcvrequest);
    const written0 = S.addon.written.length;
    S.addon.inject('tap0', batch);
    expect(got).toEqual([[46, 50], [47, 50], [48, 49, 50]]);
    expect(S.ks.map((k, i) => k.cpu.ci_nintr - intr0[i]!)).toEqual([1, 1, 1]);
    expect(S.ks.map((k, i) => inet_stats(k).arp.arps_rcvrequest - arp0[i]!)).toEqual([0, 1, 0]);
    expect(S.ks.map((k, i) => delta(st0[i]!, stats(S, k)))).toEqual([
      { frames: 2, accepted: 2, rejected: 6 },
      { frames: 3, accepted: 3, rejected: 5 },
      { frames: 3, accepted: 3, rejected: 5 },
    ]);
    expect(S.host.tapStats('tap0')!.rxframes).toBeGreaterThanOrEqual(8);
    /* b answered the who-has: to the host, and offered to a and c, whose filters keep it out. */
    const reply = S.addon.written.slice(written0);
    expect(reply.map((w) => [[...w.frame.subarray(0, 6)], (w.frame[12]! << 8) | w.frame[13]!])).toEqual([[PEER, 0x0806]]);
    const st1 = S.ks.map((k) => stats(S, k));
    await settle(a);
    expect(S.ks.map((k, i) => delta(st1[i]!, stats(S, k)).rejected)).toEqual([1, 0, 1]);
    /* A capture puts c's interface in promiscuous mode: its filter follows and takes the stranger's frame. */
    const chunks: Uint8Array[] = [];
    const ph = pcap_attach(ifunit(c, 'virt0')!, (x) => { chunks.push(x); }, { promisc: true });
    S.addon.inject('tap0', [batch[5]!]);
    expect(pcap_parse(Uint8Array.from(chunks.flatMap((x) => [...x]))).records.map((r) => r.data.length)).toEqual([65]);
    expect(got.map((g) => g.length)).toEqual([2, 2, 3]);
    pcap_detach(ph);
  });

  it('two kernels talk through the shared TAP (ping, 256 KiB over TCP); every frame also goes to the host, none back to its sender', async () => {
    const S = await shared(3, 8);
    const [a, , b] = S.ks as [Kernel, Kernel, Kernel];
    await settle(a);
    const t0 = S.host.tapStats('tap0')!;
    const w0 = S.addon.written.length;
    const st0 = S.ks.map((k) => stats(S, k));
    const ip0 = S.ks.map((k) => ifunit(k, 'virt0')!.if_ipackets);
    await ping(a, '10.0.0.3');
    await tcp(a, b, '10.0.0.3', 256 * 1024);
    await settle(a);
    const t1 = S.host.tapStats('tap0')!;
    const L = t1.loopframes - t0.loopframes;
    expect(L).toBeGreaterThan(200);
    expect(t1.loopdrops).toBe(0);
    expect(t1.txframes - t0.txframes).toBe(L);
    expect(S.addon.written.length - w0).toBe(L);
    const [da, dc, db] = S.ks.map((k, i) => delta(st0[i]!, stats(S, k))) as [VirtifAttachStats, VirtifAttachStats, VirtifAttachStats];
    /* a and b were offered only each other's frames and took them all; c, in the middle, was spared every one. */
    expect(da.accepted + db.accepted).toBe(L);
    expect([da.rejected, db.rejected]).toEqual([0, 0]);
    expect(dc).toEqual({ frames: 0, accepted: 0, rejected: L });
    /* What a kernel took in is what it was handed. */
    expect(S.ks.map((k, i) => ifunit(k, 'virt0')!.if_ipackets - ip0[i]!)).toEqual([da.frames, 0, db.frames]);
    for (const k of [a, b]) {
      const ifp = ifunit(k, 'virt0')!;
      expect(ifp.if_oerrors + ifp.if_ierrors + ifp.if_iqdrops).toBe(0);
    }
  });

  it('one kernel leaving, another halting: the rest keep working; the last one out closes the TAP', async () => {
    const S = await shared(3, 11);
    const [a, b, c] = S.ks as [Kernel, Kernel, Kernel];
    await c.halt();
    expect(S.host.tapStats('tap0')!.attached).toBe(2);
    await ping(a, '10.0.0.2');
    await ping(b, '10.0.0.1');
    await leave(b);
    expect(S.host.tapStats('tap0')!.attached).toBe(1);
    expect(S.addon.closes).toBe(0);
    /* Alone on it: the host still reaches a. */
    const w0 = S.addon.written.length;
    S.addon.inject('tap0', [whohas(0x0a000001)]);
    expect(S.addon.written.slice(w0).map((w) => (w.frame[12]! << 8) | w.frame[13]!)).toEqual([0x0806]);
    /* b comes back to the same open device. */
    await ioctl(b, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: 'tap0' });
    await ioctl(b, SIOCSIFFLAGS, { ifr_name: 'virt0', ifr_flags: IFF_UP });
    expect(S.addon.opens).toBe(1);
    await ping(b, '10.0.0.1');
    await leave(a);
    await leave(b);
    expect(S.addon.closes).toBe(1);
    expect(S.addon.devs.size).toBe(0);
    expect(S.host.devices()).toEqual([]);
    expect(S.host.tapStats('tap0')).toBeNull();
  });

  it('the TAP fails: every kernel on it hears why and lets go; up again opens the name afresh and shares it again', async () => {
    const S = await shared(2, 12);
    const [a, b] = S.ks as [Kernel, Kernel];
    S.addon.fail('tap0', HOST_EIO);
    for (const k of [a, b]) expect(k.dmesg()).toContain('virt0: lost host device tap0: reading tap0 failed: Input/output error');
    expect(S.addon.closes).toBe(1);
    expect(S.host.devices()).toEqual([]);
    for (const k of [a, b]) {
      await ioctl(k, SIOCSIFFLAGS, { ifr_name: 'virt0', ifr_flags: 0 });
      await ioctl(k, SIOCSIFFLAGS, { ifr_name: 'virt0', ifr_flags: IFF_UP });
    }
    expect(S.addon.opens).toBe(2);
    expect(S.host.tapStats('tap0')!.attached).toBe(2);
    await ping(a, '10.0.0.2');
  });

  it('one kernel alone on a TAP gets each batch whole (its own address filter decides), no demux runs', async () => {
    const S = await shared(1, 13);
    const [a] = S.ks as [Kernel];
    const got = listen(S.ks);
    const mine = [...ifunit(a, 'virt0')!.if_sadl];
    const s0 = stats(S, a);
    const n0 = a.cpu.ci_nintr;
    S.addon.inject('tap0', [frame(mine, PEER, TEST_TYPE, 60), frame([0x02, 0, 0, 0, 0, 0x77], PEER, TEST_TYPE, 61), frame(BCAST, PEER, TEST_TYPE, 62)]);
    expect(got).toEqual([[46, 48]]);
    expect(a.cpu.ci_nintr - n0).toBe(1);
    expect(delta(s0, stats(S, a))).toEqual({ frames: 3, accepted: 0, rejected: 0 });
    expect(S.host.tapStats('tap0')!.loopframes).toBe(0);
  });
});

/* ---- the host half alone, behind fake kernels ---- */

const ACCEPT_ALL: readonly BpfInsn[] = [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0xffffffff }];

interface Delivery {
  to: string;
  batch: VirtifRxBatch;
  desc: Int32Array;
  frames: Uint8Array[];
}

function fakeKernels(): { host: VirtifHost; addon: FakeTapAddon; soon: (() => void)[]; got: Delivery[]; user(): VirtifUser<string> } {
  const addon = new FakeTapAddon();
  const soon: (() => void)[] = [];
  const host = new VirtifHost(addon, (run) => { soon.push(run); });
  const got: Delivery[] = [];
  const up: VirtifUpcalls<string> = {
    deliver: (c, rx) => {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < rx.n; i++) frames.push(rx.buf.slice(rx.desc[2 * i]!, rx.desc[2 * i]! + rx.desc[2 * i + 1]!));
      got.push({ to: c, batch: rx, desc: rx.desc, frames });
    },
    error: () => undefined,
    filter: () => ACCEPT_ALL,
  };
  return { host, addon, soon, got, user: () => new VirtifUser(up, host) };
}

function iov(segs: Uint8Array[]): VirtifIovec {
  return { bufs: segs, offs: Int32Array.from(segs, () => 0), lens: Int32Array.from(segs, (s) => s.length), n: segs.length };
}

describe('VirtifHost: the loop between kernels on one device', () => {
  it('a send is written to the device and, from the host loop, offered to the others in one batch each, never to its sender', async () => {
    const F = fakeKernels();
    const ua = F.user();
    const ub = F.user();
    const uc = F.user();
    const ra = ua.create('tapx', 'a');
    const rb = ub.create('tapx', 'b');
    const rc = uc.create('tapx', 'c');
    expect([ra.error, rb.error, rc.error]).toEqual([0, 0, 0]);
    const va = (ra as { viu: VirtifHandle }).viu;
    /* Segments short and long, copied whole. */
    const f1 = [frame(BCAST, PEER, TEST_TYPE, 14), new Uint8Array(20).fill(1), new Uint8Array(100).fill(2)];
    const f2 = [frame(BCAST, PEER, TEST_TYPE, 70)];
    expect(ua.send(va, iov(f1))).toBe(0);
    expect(ua.send(va, iov(f2))).toBe(0);
    expect(F.addon.written.length).toBe(2);
    /* Nothing inside the hypercall. */
    expect(F.got).toEqual([]);
    expect(F.soon.length).toBe(1);
    F.soon.shift()!();
    expect(F.got.map((d) => [d.to, d.frames.length])).toEqual([['b', 2], ['c', 2]]);
    const whole = Uint8Array.from([...f1[0]!, ...f1[1]!, ...f1[2]!]);
    expect(F.got[0]!.frames[0]).toEqual(whole);
    expect(F.got[1]!.frames[1]).toEqual(f2[0]);
    /* Batches and descriptors are reused from flush to flush. */
    ua.send(va, iov(f2));
    F.soon.shift()!();
    expect(F.got[2]!.batch).toBe(F.got[0]!.batch);
    expect(F.got[2]!.desc).toBe(F.got[0]!.desc);
    expect(F.host.attachStats(va)).toEqual({ frames: 0, accepted: 0, rejected: 0 });
    expect(F.host.attachStats((rb as { viu: VirtifHandle }).viu)).toEqual({ frames: 3, accepted: 3, rejected: 0 });
  });

  it('more than VIRTIF_LOOPMAX waiting: the rest are dropped and counted (still written to the device)', async () => {
    const F = fakeKernels();
    const ua = F.user();
    const ub = F.user();
    const va = (ua.create('tapy', 'a') as { viu: VirtifHandle }).viu;
    ub.create('tapy', 'b');
    const f = iov([frame(BCAST, PEER, TEST_TYPE, 1514)]);
    for (let i = 0; i < VIRTIF_LOOPMAX + 10; i++) expect(ua.send(va, f)).toBe(0);
    expect(F.addon.written.length).toBe(VIRTIF_LOOPMAX + 10);
    expect(F.host.tapStats('tapy')).toMatchObject({ loopframes: VIRTIF_LOOPMAX, loopdrops: 10 });
    F.soon.shift()!();
    expect(F.got.map((d) => [d.to, d.frames.length])).toEqual([['b', VIRTIF_LOOPMAX]]);
    /* Closing the last attachment closes the device; a flush still pending finds nothing to do. */
    ua.send(va, f);
    ua.fini();
    ub.fini();
    expect(F.addon.closes).toBe(1);
    F.soon.shift()!();
    expect(F.got.length).toBe(1);
  });
});
