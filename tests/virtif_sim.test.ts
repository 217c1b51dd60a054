/*
 * The virt driver (if_virt.ts) on the sim host, with a fake host half
 * behind VirtifHypercalls in place of the TAP: cloning and naming (virtN
 * opens tunN, NetBSD's MAC), the linkstr rules, UP/RUNNING, the receive
 * filter and counters, one interrupt per batch, sends handed over as the
 * mbuf chain's segments, a device failing under us, the halt closing
 * everything, and two kernels talking IP and TCP through their virt
 * interfaces over a fake wire.  Deterministic: no real device, no root.
 */
import { describe, expect, it } from 'vitest';
import { bootSim, simWorld } from './kernel.ts';
import { echo, recvWithin, sin } from './inet_helpers.ts';
import { kernel_run, rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { m_freem, m_get, m_gethdr, M_DONTWAIT, MT_DATA, type Mbuf } from '../librump/rumpnet/uipc_mbuf.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifunit, type Ifnet } from '../net/lib/libnet/if.ts';
import { ether_output_frame, ether_register_input } from '../net/lib/libnet/if_ethersubr.ts';
import { pcap_attach, pcap_detach, pcap_parse } from '../net/lib/libnet/pcap.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';
import { rumpnet_sockin_component } from '../net/lib/libsockin/sockin_component.ts';
import { rumpnet_virtif_component, virtif_component_create, type VirtifSoftc } from '../net/lib/libvirtif/virtif_component.ts';
import type {
  VirtifCreateResult, VirtifHandle, VirtifHypercalls, VirtifIovec, VirtifRxBatch, VirtifUpcalls,
} from '../net/lib/libvirtif/virtif_hyper.ts';
import { EIO, EPERM } from '../include/errno.ts';
import { AF_INET, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM } from '../include/socket.ts';
import {
  IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, SIOCAIFADDR, SIOCGIFFLAGS, SIOCGLINKSTR, SIOCIFCREATE,
  SIOCIFDESTROY, SIOCSIFFLAGS, SIOCSIFMTU, SIOCSLINKSTR,
} from '../include/if.ts';

class FakeDev implements VirtifHandle {
  open = true;
  constructor(readonly vh_devname: string, readonly c: VirtifSoftc) {}
}

/** Two or more fake hosts' devices of the same name are one wire, delivering a frame a little later. */
class FakeWire {
  readonly ends = new Set<{ host: FakeTap; dev: FakeDev }>();
  constructor(readonly w: SimWorld, readonly latencyNs = 50_000) {}
}

/** A fake host half: devices by name, every frame sent recorded, frames injected on demand. */
class FakeTap implements VirtifHypercalls<VirtifSoftc> {
  up!: VirtifUpcalls<VirtifSoftc>;
  readonly devs = new Map<string, FakeDev>();
  readonly refuse = new Map<string, { error: number; why: string }>();
  readonly created: string[] = [];
  readonly destroyed: string[] = [];
  readonly sent: { dev: string; frame: Uint8Array; nseg: number }[] = [];
  finis = 0;
  keep = true;
  private readonly area = new Uint8Array(64 * 2048);
  private readonly batch: VirtifRxBatch = { buf: this.area, desc: new Int32Array(128), n: 0 };

  constructor(readonly iovmax = 4, readonly wire: FakeWire | null = null) {}

  create(devname: string, c: VirtifSoftc): VirtifCreateResult {
    const r = this.refuse.get(devname);
    if (r !== undefined) return r;
    if (this.devs.has(devname)) return { error: 16, why: `${devname} busy` };
    const d = new FakeDev(devname, c);
    this.devs.set(devname, d);
    this.created.push(devname);
    this.wire?.ends.add({ host: this, dev: d });
    return { error: 0, viu: d };
  }

  send(viu: VirtifHandle, iov: VirtifIovec): number {
    const d = viu as FakeDev;
    if (!d.open || iov.n > this.iovmax) throw new Error(`send on ${d.vh_devname}: closed or ${iov.n} segments`);
    let len = 0;
    for (let i = 0; i < iov.n; i++) len += iov.lens[i]!;
    const f = new Uint8Array(len);
    for (let i = 0, off = 0; i < iov.n; off += iov.lens[i]!, i++) f.set(iov.bufs[i]!.subarray(iov.offs[i]!, iov.offs[i]! + iov.lens[i]!), off);
    if (this.keep) this.sent.push({ dev: d.vh_devname, frame: f, nseg: iov.n });
    const wire = this.wire;
    if (wire !== null) {
      for (const e of wire.ends) {
        if (e.dev === d || e.dev.vh_devname !== d.vh_devname || !e.dev.open) continue;
        wire.w.schedule(wire.w.nowNs() + wire.latencyNs, () => { if (e.dev.open) e.host.inject(e.dev.vh_devname, [f]); });
      }
    }
    return 0;
  }

  destroy(viu: VirtifHandle): void {
    const d = viu as FakeDev;
    d.open = false;
    this.devs.delete(d.vh_devname);
    this.destroyed.push(d.vh_devname);
    if (this.wire !== null) for (const e of this.wire.ends) if (e.dev === d) this.wire.ends.delete(e);
  }

  fini(): void {
    this.finis++;
    for (const d of [...this.devs.values()]) this.destroy(d);
  }

  /** Frames arriving on device name, in one batch (one upcall), from the host loop. */
  inject(name: string, frames: Uint8Array[]): void {
    const d = this.devs.get(name);
    if (d === undefined) throw new Error(`no fake device ${name}`);
    let off = 0;
    frames.forEach((f, i) => {
      this.area.set(f, off);
      this.batch.desc[2 * i] = off;
      this.batch.desc[2 * i + 1] = f.length;
      off += (f.length + 7) & ~7;
    });
    this.batch.n = frames.length;
    this.up.deliver(d.c, this.batch);
  }

  fail(name: string, errno: number, why: string): void {
    this.up.error(this.devs.get(name)!.c, errno, why);
  }
}

function comps(fake: FakeTap, linkstr = false) {
  return [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component,
    virtif_component_create({ linkstr, hyper: (_k, up) => { fake.up = up; return fake; } })];
}

async function boot(fake: FakeTap, opts: { linkstr?: boolean; w?: SimWorld; name?: string } = {}): Promise<Kernel> {
  return bootSim(opts.w ?? simWorld({ seed: 6 }), { name: opts.name ?? 'v', components: comps(fake, opts.linkstr) });
}

async function ioctl(k: Kernel, cmd: number, arg: object): Promise<unknown> {
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  try {
    return await k.sys.ioctl(s, cmd, arg);
  } finally {
    await k.sys.close(s);
  }
}

async function setflags(k: Kernel, name: string, flags: number): Promise<void> {
  await ioctl(k, SIOCSIFFLAGS, { ifr_name: name, ifr_flags: flags });
}

function frame(dst: number[], src: number[], type: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = i;
  return f;
}

const PEER = [0x02, 0, 0, 0, 0, 9];
const TEST_TYPE = 0x88b5;

describe('virt interfaces (fake host half, sim host)', () => {
  it('virtN opens tunN; NetBSD MAC b2:0a:RR:0b:0e:NN; Ethernet, MTU 1500; SIOCGLINKSTR names the device', async () => {
    const fake = new FakeTap();
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt3' });
    expect(fake.created).toEqual(['tun0', 'tun3']);
    const v0 = ifunit(k, 'virt0')!;
    const v3 = ifunit(k, 'virt3')!;
    expect([...v0.if_sadl.slice(0, 2), ...v0.if_sadl.slice(3)]).toEqual([0xb2, 0x0a, 0x0b, 0x0e, 0x00]);
    expect([...v3.if_sadl.slice(0, 2), ...v3.if_sadl.slice(3)]).toEqual([0xb2, 0x0a, 0x0b, 0x0e, 0x03]);
    expect(v0.if_mtu).toBe(1500);
    expect(v0.if_flags & (IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST)).toBe(IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST);
    await expect(ioctl(k, SIOCSIFMTU, { ifr_name: 'virt0', ifr_mtu: 9000 })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await ioctl(k, SIOCGLINKSTR, { ifd_name: 'virt3', ifd_data: null })).toMatchObject({ ifd_data: 'tun3' });
    expect(k.dmesg()).toMatch(/virt0: Ethernet address b2:0a:[0-9a-f]{2}:0b:0e:00/);
  });

  it('a device the host refuses: the errno comes back, the console says why, no interface is left', async () => {
    const fake = new FakeTap();
    fake.refuse.set('tun1', { error: EPERM, why: 'creating TAP device tun1 needs CAP_NET_ADMIN' });
    const k = await boot(fake);
    await expect(ioctl(k, SIOCIFCREATE, { ifr_name: 'virt1' })).rejects.toMatchObject({ code: 'EPERM' });
    expect(ifunit(k, 'virt1')).toBeNull();
    expect(k.dmesg()).toContain('virt1: cannot attach to host device tun1: creating TAP device tun1 needs CAP_NET_ADMIN');
    /* The unit is free again. */
    fake.refuse.clear();
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt1' });
    expect(fake.created).toEqual(['tun1']);
  });

  it('linkstr: moves to another device while down (opened first, so a failure keeps the old one); EBUSY while up; null closes', async () => {
    const fake = new FakeTap();
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    await ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: 'tapA' });
    expect(fake.created).toEqual(['tun0', 'tapA']);
    expect(fake.destroyed).toEqual(['tun0']);
    fake.refuse.set('tapB', { error: EPERM, why: 'nope' });
    await expect(ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: 'tapB' })).rejects.toMatchObject({ code: 'EPERM' });
    expect(await ioctl(k, SIOCGLINKSTR, { ifd_name: 'virt0', ifd_data: null })).toMatchObject({ ifd_data: 'tapA' });
    expect([...fake.devs.keys()]).toEqual(['tapA']);
    for (const bad of ['', 'a/b', 'x'.repeat(16), 'has space']) {
      await expect(ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: bad })).rejects.toMatchObject({ code: 'EINVAL' });
    }
    await setflags(k, 'virt0', IFF_UP);
    expect(ifunit(k, 'virt0')!.if_flags & IFF_RUNNING).toBe(IFF_RUNNING);
    await expect(ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: 'tapC' })).rejects.toMatchObject({ code: 'EBUSY' });
    /* The same name again is no change, even while up. */
    await ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: 'tapA' });
    await setflags(k, 'virt0', 0);
    await ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: null });
    expect(fake.devs.size).toBe(0);
    expect(await ioctl(k, SIOCGLINKSTR, { ifd_name: 'virt0', ifd_data: null })).toMatchObject({ ifd_data: null });
    await expect(setflags(k, 'virt0', IFF_UP)).rejects.toMatchObject({ code: 'ENXIO' });
  });

  it('linkstr mode (RUMP_VIF_LINKSTR): create opens nothing, up is ENXIO until a linkstr names the device', async () => {
    const fake = new FakeTap();
    const k = await boot(fake, { linkstr: true });
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    expect(fake.created).toEqual([]);
    await expect(setflags(k, 'virt0', IFF_UP)).rejects.toMatchObject({ code: 'ENXIO' });
    await ioctl(k, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: 'mytap' });
    await setflags(k, 'virt0', IFF_UP);
    expect(fake.created).toEqual(['mytap']);
    const f = await ioctl(k, SIOCGIFFLAGS, { ifr_name: 'virt0' }) as { ifr_flags: number };
    expect(f.ifr_flags & (IFF_UP | IFF_RUNNING)).toBe(IFF_UP | IFF_RUNNING);
  });

  it('destroy: EBUSY while up, as NetBSD; down, it closes the device and the interface is gone', async () => {
    const fake = new FakeTap();
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt2' });
    await setflags(k, 'virt2', IFF_UP);
    await expect(ioctl(k, SIOCIFDESTROY, { ifr_name: 'virt2' })).rejects.toMatchObject({ code: 'EBUSY' });
    await setflags(k, 'virt2', 0);
    await ioctl(k, SIOCIFDESTROY, { ifr_name: 'virt2' });
    expect(fake.destroyed).toEqual(['tun2']);
    expect(ifunit(k, 'virt2')).toBeNull();
  });

  it('receive: our MAC, broadcast, multicast pass; other unicast only to taps when promiscuous; runts and giants are errors; one interrupt per batch', async () => {
    const fake = new FakeTap();
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    const ifp = ifunit(k, 'virt0')!;
    const got: number[] = [];
    ether_register_input(k, TEST_TYPE, (_ifp, m) => {
      got.push(m.m_pkthdr.len);
      m_freem(m);
    });
    const mine = [...ifp.if_sadl];
    const batch = [
      frame(mine, PEER, TEST_TYPE, 60),
      frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], PEER, TEST_TYPE, 61),
      frame([0x01, 0x00, 0x5e, 0, 0, 1], PEER, TEST_TYPE, 62),
      frame([0x02, 0, 0, 0, 0, 0x77], PEER, TEST_TYPE, 63),
      new Uint8Array(10),
      frame(mine, PEER, TEST_TYPE, 1500 + 14 + 4 + 1),
    ];
    /* Down: nothing is taken, nothing counted. */
    fake.inject('tun0', batch);
    expect([got.length, ifp.if_ipackets, ifp.if_ierrors]).toEqual([0, 0, 0]);
    await setflags(k, 'virt0', IFF_UP);
    const nintr = k.cpu.ci_nintr;
    fake.inject('tun0', batch);
    expect(k.cpu.ci_nintr - nintr).toBe(1);
    /* Payload lengths: the header is stripped. */
    expect(got).toEqual([46, 47, 48]);
    expect(ifp.if_ipackets).toBe(4);
    expect(ifp.if_ibytes).toBe(60 + 61 + 62 + 10);
    expect(ifp.if_imcasts).toBe(2);
    /* The runt (ether_input) and the giant (the driver). */
    expect(ifp.if_ierrors).toBe(2);
    /* Promiscuous (a capture asked for it): the stranger's frame reaches the tap, not the protocol. */
    const chunks: Uint8Array[] = [];
    const ph = pcap_attach(ifp, (c) => { chunks.push(c); }, { promisc: true });
    got.length = 0;
    fake.inject('tun0', [batch[3]!, batch[0]!]);
    expect(got).toEqual([46]);
    const recs = pcap_parse(Uint8Array.from(chunks.flatMap((c) => [...c]))).records;
    expect(recs.map((r) => r.data.length)).toEqual([63, 60]);
    /* A batch that holds nothing for us raises no interrupt. */
    pcap_detach(ph);
    const n2 = k.cpu.ci_nintr;
    fake.inject('tun0', [frame([0x02, 0, 0, 0, 0, 0x55], PEER, TEST_TYPE)]);
    expect(k.cpu.ci_nintr).toBe(n2);
  });

  it('send: the chain\'s segments go to the host uncopied; longer chains are linearised; counters', async () => {
    const fake = new FakeTap(4);
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    await setflags(k, 'virt0', IFF_UP);
    const ifp = ifunit(k, 'virt0')!;
    const send = (segs: number[], dst: number[]): Uint8Array => kernel_run(k, () => {
      const { m, bytes } = chain(k, segs, dst, [...ifp.if_sadl]);
      expect(ether_output_frame(ifp, m)).toBe(0);
      return bytes;
    });
    const a = send([14, 20, 100], PEER);
    const b = send([14, 10, 10, 10, 10, 10, 10], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(fake.sent.map((s) => [s.nseg, s.frame.length])).toEqual([[3, 134], [1, 74]]);
    expect(fake.sent[0]!.frame).toEqual(a);
    expect(fake.sent[1]!.frame).toEqual(b);
    expect([ifp.if_opackets, ifp.if_obytes, ifp.if_omcasts, ifp.if_oerrors]).toEqual([2, 208, 1, 0]);
  });

  it('the device fails: the console says why, RUNNING goes, up again reopens it by name', async () => {
    const fake = new FakeTap();
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    await setflags(k, 'virt0', IFF_UP);
    const ifp: Ifnet = ifunit(k, 'virt0')!;
    fake.fail('tun0', EIO, 'reading tun0 failed: gone');
    expect(k.dmesg()).toContain('virt0: lost host device tun0: reading tun0 failed: gone (Input/output error)');
    expect(ifp.if_flags & IFF_RUNNING).toBe(0);
    expect(fake.destroyed).toEqual(['tun0']);
    expect(ifp.if_ierrors).toBe(1);
    await setflags(k, 'virt0', 0);
    await setflags(k, 'virt0', IFF_UP);
    expect(fake.created).toEqual(['tun0', 'tun0']);
    expect(ifp.if_flags & IFF_RUNNING).toBe(IFF_RUNNING);
  });

  it('the halt closes every device', async () => {
    const fake = new FakeTap();
    const k = await boot(fake);
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
    await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt1' });
    await k.halt();
    expect(fake.finis).toBe(1);
    expect(fake.devs.size).toBe(0);
  });

  it('two kernels over a fake wire: ARP, ping, and 1 MB over TCP through their virt interfaces', async () => {
    const w = simWorld({ seed: 9 });
    const wire = new FakeWire(w);
    const fa = new FakeTap(4, wire);
    const fb = new FakeTap(4, wire);
    fa.keep = fb.keep = false;
    const a = await boot(fa, { w, name: 'a' });
    const b = await boot(fb, { w, name: 'b' });
    for (const [k, addr] of [[a, '10.98.9.1'], [b, '10.98.9.2']] as const) {
      await ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' });
      await ioctl(k, SIOCAIFADDR, { ifra_name: 'virt0', ifra_addr: sin(addr), ifra_mask: sin('255.255.255.0') });
    }
    const r = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    await a.sys.sendto(r, echo(7, 1, new Uint8Array(32).fill(5)), 0, sin('10.98.9.2'));
    const rep = await recvWithin(a, r, 2000);
    expect(rep.from).toMatchObject({ sin_addr: '10.98.9.2' });
    await a.sys.close(r);
    const ls = await b.sys.socket(AF_INET, SOCK_STREAM);
    await b.sys.bind(ls, sin('0.0.0.0', 7000));
    await b.sys.listen(ls, 1);
    const c = await a.sys.socket(AF_INET, SOCK_STREAM);
    const acc = b.sys.accept(ls);
    await a.sys.connect(c, sin('10.98.9.2', 7000));
    const { fd } = await acc;
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 7) ^ (i >>> 9));
    const writer = (async () => {
      for (let off = 0; off < data.length;) off += await a.sys.write(c, data.subarray(off, off + 65536));
      await a.sys.close(c);
    })();
    const got = new Uint8Array(data.length);
    let n = 0;
    const buf = new Uint8Array(65536);
    for (let k = await b.sys.read(fd, buf); k > 0; k = await b.sys.read(fd, buf)) {
      got.set(buf.subarray(0, k), n);
      n += k;
    }
    await writer;
    expect(n).toBe(data.length);
    expect(Buffer.compare(got, data)).toBe(0);
    const va = ifunit(a, 'virt0')!;
    expect(va.if_opackets).toBeGreaterThan(700);
    expect(va.if_oerrors + va.if_ierrors + va.if_iqdrops).toBe(0);
    await b.sys.close(fd);
    await b.sys.close(ls);
  });

  it('boot checks: virtif and sockin refuse each other; the Linux host half refuses a simulated host, saying why', async () => {
    const w = simWorld();
    await expect(rump_init({ host: w.host('x'), components: [rumpnet_component, rumpnet_sockin_component, rumpnet_virtif_component] }))
      .rejects.toThrow(/rumpnet_sockin cannot be loaded with .*virtif|virtif/);
    const k = await bootSim(w, { name: 'y', components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_virtif_component] });
    await expect(ioctl(k, SIOCIFCREATE, { ifr_name: 'virt0' })).rejects.toMatchObject({ code: 'ENXIO' });
    expect(k.dmesg()).toContain('virt0: cannot attach to host device tun0: a TAP device runs in real time and cannot serve a kernel on the simulated host');
  });
});

/* A packet chain with segments of the given lengths: an Ethernet header (dst, src, TEST_TYPE) and a pattern. */
function chain(k: Kernel, segs: number[], dst: number[], src: number[]): { m: Mbuf; bytes: Uint8Array } {
  const ctx = net_of(k).mb;
  const total = segs.reduce((a, b) => a + b, 0);
  const bytes = frame(dst, src, TEST_TYPE, total);
  const top = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
  top.m_pkthdr.len = total;
  let m = top;
  let off = 0;
  segs.forEach((len, i) => {
    if (i > 0) {
      const n = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      m.m_next = n;
      m = n;
    }
    m.m_buf.set(bytes.subarray(off, off + len), m.m_data);
    m.m_len = len;
    off += len;
  });
  return { m: top, bytes };
}
