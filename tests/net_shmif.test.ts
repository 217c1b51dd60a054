/*
 * libnet + libshmif with two and three kernels on a bus, under the sim
 * host: interface configuration through socket ioctls, raw Ethernet
 * frames through a test ethertype, address filtering, promiscuous mode,
 * counters, ether_output with a resolver, the bus's latency and faults,
 * and no mbufs left behind.
 */
import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { kernel_run, rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { pktq_create, pktq_enqueue } from '../librump/rumpnet/pktqueue.ts';
import {
  m_copym, m_freem, m_frombytes, m_getcl, m_outstanding, m_tobytes, M_BCAST, M_COPYALL, M_CSUM_IPv4, M_DONTWAIT, M_MCAST,
  M_PKTHDR, MT_DATA, type Mbuf,
} from '../librump/rumpnet/uipc_mbuf.ts';
import { rumplocal_component } from '../net/lib/liblocal/local_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifpromisc, ifunit, type Ifnet } from '../net/lib/libnet/if.ts';
import {
  ether_output_frame, ether_register_input, ether_register_resolver, ether_sendraw,
} from '../net/lib/libnet/if_ethersubr.ts';
import { ether_aton, ether_ntoa, ETHERMTU } from '../net/lib/libnet/if_ether.ts';
import { rumpnet_shmif_component, rump_shmif_create, ShmifNet, type ShmifBus } from '../net/lib/libshmif/shmif_component.ts';
import { SHMIF_MAXMTU } from '../net/lib/libshmif/if_shmif.ts';
import { EAFNOSUPPORT, EHOSTUNREACH, EINVAL, EJUSTRETURN, ENOBUFS } from '../include/errno.ts';
import {
  IFF_BROADCAST, IFF_MULTICAST, IFF_PROMISC, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, IFT_ETHER, SIOCGIFCONF, SIOCGIFDATA,
  SIOCGIFFLAGS, SIOCGIFMTU, SIOCGLINKSTR, SIOCIFCREATE, SIOCIFDESTROY, SIOCIFGCLONERS, SIOCSIFFLAGS, SIOCSIFMTU,
  SIOCSLINKSTR, type IfconfEntry, type IfData, type Ifreq,
} from '../include/if.ts';
import { AF_INET, AF_LOCAL, SOCK_DGRAM } from '../include/socket.ts';

const ETYPE = 0x88b5;
const ETYPE2 = 0x88b6;
const BCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

interface Node {
  k: Kernel;
  /** An AF_LOCAL socket for interface ioctls. */
  s: number;
  got: Rx[];
}

interface Rx {
  ifname: string;
  flags: number;
  data: Uint8Array;
}

async function bootNodes(w: SimWorld, net: ShmifNet, n: number): Promise<Node[]> {
  const comps = [rumpnet_component, rumplocal_component, rumpnet_net_component, rumpnet_shmif_component(net)];
  const out: Node[] = [];
  for (let i = 0; i < n; i++) {
    const k = await bootSim(w, { name: `k${i}`, components: comps });
    const s = await k.sys.socket(AF_LOCAL, SOCK_DGRAM);
    const got: Rx[] = [];
    ether_register_input(k, ETYPE, (ifp, m) => {
      got.push({ ifname: ifp.if_xname, flags: m.m_flags, data: m_tobytes(m) });
      m_freem(m);
    });
    out.push({ k, s, got });
  }
  return out;
}

/** ifconfig NAME create; ifconfig NAME linkstr BUS; ifconfig NAME up */
async function ifup(nd: Node, name: string, bus: string): Promise<Ifnet> {
  const { k, s } = nd;
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: name });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: name, ifd_data: bus });
  const r = (await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: name })) as Ifreq;
  await k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: name, ifr_flags: r.ifr_flags! | IFF_UP });
  return ifunit(k, name)!;
}

async function ifdata(nd: Node, name: string): Promise<IfData> {
  const r = (await nd.k.sys.ioctl(nd.s, SIOCGIFDATA, { ifr_name: name })) as { ifr_data: IfData };
  return r.ifr_data;
}

function frame(dst: Uint8Array, src: Uint8Array, type: number, payload: ArrayLike<number>): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

function send(ifp: Ifnet, f: Uint8Array): void {
  expect(kernel_run(ifp.if_kernel, () => ether_sendraw(ifp, f))).toBe(0);
}

function mbufsOut(k: Kernel): number {
  const o = m_outstanding(net_of(k).mb);
  return o.mbufs + o.clusters;
}

/** Two or three kernels, each with shmif0 up on bus "wire". */
async function setup(n: number, seed = 1): Promise<{ w: SimWorld; net: ShmifNet; bus: ShmifBus; nodes: Node[]; ifps: Ifnet[] }> {
  const w = simWorld({ seed });
  const net = new ShmifNet();
  const nodes = await bootNodes(w, net, n);
  const ifps: Ifnet[] = [];
  for (const nd of nodes) ifps.push(await ifup(nd, 'shmif0', 'wire'));
  return { w, net, bus: net.bus('wire'), nodes, ifps };
}

describe('shmif interfaces through ioctls', () => {
  it('create, linkstr, up, MTU, data, conf, destroy; errors for bad requests', async () => {
    const w = simWorld();
    const net = new ShmifNet();
    const [nd] = await bootNodes(w, net, 1);
    const { k, s } = nd!;
    const clon = (await k.sys.ioctl(s, SIOCIFGCLONERS, {})) as string[];
    expect(clon).toContain('shmif');

    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
    await expect(k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'nosuch0' })).rejects.toMatchObject({ code: 'EINVAL' });
    const ifp = ifunit(k, 'shmif0')!;
    expect(ifp.if_type).toBe(IFT_ETHER);
    expect(ether_ntoa(ifp.if_sadl)).toMatch(/^b2:a0:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
    expect(k.dmesg()).toContain(`shmif0: Ethernet address ${ether_ntoa(ifp.if_sadl)}`);

    let f = ((await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq).ifr_flags!;
    expect(f).toBe(IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST);
    /* No bus yet: shmif_init refuses, as NetBSD's. */
    await expect(k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'shmif0', ifr_flags: f | IFF_UP })).rejects.toMatchObject({ code: 'ENXIO' });

    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'busA' });
    expect(((await k.sys.ioctl(s, SIOCGLINKSTR, { ifd_name: 'shmif0', ifd_data: null })) as { ifd_data: string }).ifd_data).toBe('busA');
    await expect(k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'busB' })).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: '' })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(net.bus('busA').attached()).toHaveLength(1);

    await k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'shmif0', ifr_flags: f | IFF_UP });
    f = ((await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq).ifr_flags!;
    expect(f & (IFF_UP | IFF_RUNNING)).toBe(IFF_UP | IFF_RUNNING);
    /* Users cannot set IFF_PROMISC or RUNNING themselves. */
    await k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'shmif0', ifr_flags: IFF_UP | IFF_PROMISC });
    f = ((await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq).ifr_flags!;
    expect(f & IFF_PROMISC).toBe(0);
    expect(f & IFF_RUNNING).toBe(IFF_RUNNING);

    /* Detaching from the bus keeps UP, loses RUNNING. */
    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: null });
    f = ((await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq).ifr_flags!;
    expect(f & (IFF_UP | IFF_RUNNING)).toBe(IFF_UP);
    expect(net.bus('busA').attached()).toHaveLength(0);
    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'busA' });
    f = ((await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq).ifr_flags!;
    expect(f & IFF_RUNNING).toBe(IFF_RUNNING);

    expect(((await k.sys.ioctl(s, SIOCGIFMTU, { ifr_name: 'shmif0' })) as Ifreq).ifr_mtu).toBe(ETHERMTU);
    await k.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif0', ifr_mtu: SHMIF_MAXMTU });
    expect(((await k.sys.ioctl(s, SIOCGIFMTU, { ifr_name: 'shmif0' })) as Ifreq).ifr_mtu).toBe(SHMIF_MAXMTU);
    await expect(k.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif0', ifr_mtu: SHMIF_MAXMTU + 1 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif0', ifr_mtu: 67 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'lo0', ifr_mtu: 40000 })).rejects.toMatchObject({ code: 'EINVAL' });

    const d = await ifdata(nd!, 'shmif0');
    expect(d).toMatchObject({ ifi_type: IFT_ETHER, ifi_addrlen: 6, ifi_hdrlen: 14, ifi_mtu: SHMIF_MAXMTU, ifi_opackets: 0, ifi_ipackets: 0 });

    const conf = (await k.sys.ioctl(s, SIOCGIFCONF, {})) as IfconfEntry[];
    expect(conf.map((e) => e.ifr_name)).toEqual(['lo0', 'shmif0']);
    expect((conf[1]!.ifr_addr as { sdl_data: string }).sdl_data).toBe(ether_ntoa(ifp.if_sadl));

    for (const cmd of [SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFDATA]) {
      await expect(k.sys.ioctl(s, cmd, { ifr_name: 'shmif9' })).rejects.toMatchObject({ code: 'ENXIO' });
    }
    await expect(k.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: 'shmif9' })).rejects.toMatchObject({ code: 'ENXIO' });
    /* lo0 was not cloned. */
    await expect(k.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: 'lo0' })).rejects.toMatchObject({ code: 'EOPNOTSUPP' });

    await k.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: 'shmif0' });
    await expect(k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })).rejects.toMatchObject({ code: 'ENXIO' });
    expect(net.bus('busA').attached()).toHaveLength(0);
    expect(net.macs.size).toBe(0);
    /* The name is free again. */
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
    expect(ifunit(k, 'shmif0')!.if_index).toBe(ifp.if_index);
  });

  it('gives every shmif of a net its own b2:a0 MAC; rump_shmif_create picks the lowest free unit', async () => {
    const w = simWorld({ seed: 3 });
    const net = new ShmifNet();
    const nodes = await bootNodes(w, net, 2);
    const macs = new Set<string>();
    for (const nd of nodes) {
      for (let i = 0; i < 20; i++) {
        const r = kernel_run(nd.k, () => rump_shmif_create(nd.k, 'wire'));
        expect(r).toEqual({ error: 0, unit: i });
        macs.add(ether_ntoa(ifunit(nd.k, `shmif${i}`)!.if_sadl));
      }
    }
    expect(macs.size).toBe(40);
    expect(net.bus('wire').attached()).toHaveLength(40);
  });

  it('a kernel of another world cannot join a bus (EXDEV); another ShmifNet is another network', async () => {
    const net = new ShmifNet();
    const [a] = await bootNodes(simWorld({ seed: 1 }), net, 1);
    const [b] = await bootNodes(simWorld({ seed: 2 }), net, 1);
    await ifup(a!, 'shmif0', 'wire');
    await b!.k.sys.ioctl(b!.s, SIOCIFCREATE, { ifr_name: 'shmif0' });
    await expect(b!.k.sys.ioctl(b!.s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'wire' })).rejects.toMatchObject({ code: 'EXDEV' });

    const w = simWorld({ seed: 4 });
    const [c] = await bootNodes(w, new ShmifNet(), 1);
    const [d] = await bootNodes(w, new ShmifNet(), 1);
    const ic = await ifup(c!, 'shmif0', 'wire');
    await ifup(d!, 'shmif0', 'wire');
    send(ic, frame(BCAST, ic.if_sadl, ETYPE, [1, 2, 3]));
    await w.advance(1);
    expect(d!.got).toHaveLength(0);
  });
});

describe('Ethernet frames between kernels', () => {
  it('broadcast reaches every other kernel, never the sender, and not inside the send', async () => {
    const { w, bus, nodes, ifps } = await setup(3);
    const [a, b, c] = nodes;
    send(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE, [0xde, 0xad, 0xbe, 0xef]));
    /* On the wire, not yet delivered. */
    expect(bus.inflight()).toBe(1);
    expect(b!.got).toHaveLength(0);
    await w.advance(1);
    expect(bus.inflight()).toBe(0);
    for (const nd of [b!, c!]) {
      expect(nd.got).toHaveLength(1);
      expect(nd.got[0]!.ifname).toBe('shmif0');
      expect(Array.from(nd.got[0]!.data)).toEqual([0xde, 0xad, 0xbe, 0xef]);
      expect(nd.got[0]!.flags & (M_BCAST | M_MCAST)).toBe(M_BCAST);
      expect(await ifdata(nd, 'shmif0')).toMatchObject({ ifi_ipackets: 1, ifi_ibytes: 18, ifi_imcasts: 1, ifi_ierrors: 0 });
    }
    expect(a!.got).toHaveLength(0);
    expect(await ifdata(a!, 'shmif0')).toMatchObject({ ifi_opackets: 1, ifi_obytes: 18, ifi_omcasts: 1, ifi_ipackets: 0 });
    expect(bus.stats).toMatchObject({ frames: 1, bytes: 18, delivered: 1, rxintr: 2 });
  });

  it('a reply sent from the receive interrupt is its own host event, after the frame that caused it', async () => {
    const { w, bus, nodes, ifps } = await setup(2);
    const ib = ifps[1]!;
    ether_register_input(nodes[1]!.k, ETYPE2, (_ifp, m) => {
      /* Answer at once, in interrupt context, as an ARP reply would be. */
      expect(ether_sendraw(ib, frame(ifps[0]!.if_sadl, ib.if_sadl, ETYPE, [0xaa]))).toBe(0);
      m_freem(m);
    });
    const events: [string, number, number][] = [];
    bus.addCapture((buf, len, _t, stage) => { events.push([stage, buf[len - 1]!, w.dispatched]); });
    send(ifps[0]!, frame(ib.if_sadl, ifps[0]!.if_sadl, ETYPE2, [0x55]));
    await w.advance(1);
    expect(nodes[0]!.got.map((r) => r.data[0])).toEqual([0xaa]);
    expect(events.map((e) => e.slice(0, 2))).toEqual([['send', 0x55], ['deliver', 0x55], ['send', 0xaa], ['deliver', 0xaa]]);
    /* The reply was sent during the first delivery event and delivered by a later one. */
    expect(events[2]![2]).toBe(events[1]![2]);
    expect(events[3]![2]).toBeGreaterThan(events[1]![2]);
  });

  it('frames due together reach each receiver in one interrupt, so its packet queue sees the burst', async () => {
    const { w, bus, nodes, ifps } = await setup(3);
    const b = nodes[1]!;
    const lens: number[] = [];
    const pq = pktq_create(b.k, 'burst', 64, (m) => { lens.push(pq.pq_len); m_freem(m); });
    ether_register_input(b.k, ETYPE2, (_ifp, m) => { if (!pktq_enqueue(pq, m)) m_freem(m); });
    kernel_run(nodes[0]!.k, () => {
      for (let i = 0; i < 5; i++) expect(ether_sendraw(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE2, [i]))).toBe(0);
    });
    await w.advance(1);
    /* Only b raised an interrupt: c's filter saw nothing for it. */
    expect(bus.stats).toMatchObject({ delivered: 5, rxintr: 1 });
    /* All five were queued before the softint ran once for them. */
    expect(lens).toEqual([4, 3, 2, 1, 0]);
    expect(mbufsOut(b.k)).toBe(0);
  });

  it('unicast reaches only the kernel with that MAC; multicast is flagged M_MCAST', async () => {
    const { w, nodes, ifps } = await setup(3);
    const [a, b, c] = nodes;
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE, [7]));
    await w.advance(1);
    expect(b!.got.map((r) => Array.from(r.data))).toEqual([[7]]);
    expect(b!.got[0]!.flags & (M_BCAST | M_MCAST)).toBe(0);
    expect(c!.got).toHaveLength(0);
    /* The hub carried it past c, whose filter kept it out of the kernel entirely. */
    expect(await ifdata(c!, 'shmif0')).toMatchObject({ ifi_ipackets: 0, ifi_ibytes: 0 });

    /* A MAC nobody has: nobody. */
    send(ifps[0]!, frame(ether_aton('b2:a0:00:00:00:01')!, ifps[0]!.if_sadl, ETYPE, [8]));
    /* IPv4 multicast MAC. */
    send(ifps[1]!, frame(ether_aton('01:00:5e:00:00:fb')!, ifps[1]!.if_sadl, ETYPE, [9]));
    await w.advance(1);
    expect(b!.got).toHaveLength(1);
    expect(a!.got.map((r) => [r.data[0], r.flags & (M_BCAST | M_MCAST)])).toEqual([[9, M_MCAST]]);
    expect(c!.got.map((r) => [r.data[0], r.flags & (M_BCAST | M_MCAST)])).toEqual([[9, M_MCAST]]);
  });

  it('promiscuous mode: frames for others reach the taps but not the protocols', async () => {
    const { w, nodes, ifps } = await setup(3);
    const c = nodes[2]!;
    const cif = ifps[2]!;
    const tapped: { dir: number; len: number }[] = [];
    cif.if_taps = [{ tap: (_ifp, m, dir) => { tapped.push({ dir, len: m.m_pkthdr.len }); } }];
    expect(ifpromisc(cif, true)).toBe(0);
    expect(cif.if_flags & IFF_PROMISC).toBe(IFF_PROMISC);
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE, [1, 2]));
    await w.advance(1);
    expect(nodes[1]!.got).toHaveLength(1);
    expect(c.got).toHaveLength(0);
    expect(tapped).toEqual([{ dir: 0, len: 16 }]);
    expect(await ifdata(c, 'shmif0')).toMatchObject({ ifi_ipackets: 1, ifi_ibytes: 16, ifi_noproto: 0 });
    /* Promiscuous mode is counted: two holders, two releases. */
    ifpromisc(cif, true);
    ifpromisc(cif, false);
    expect(cif.if_flags & IFF_PROMISC).toBe(IFF_PROMISC);
    ifpromisc(cif, false);
    expect(cif.if_flags & IFF_PROMISC).toBe(0);
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE, [3]));
    await w.advance(1);
    expect(tapped).toHaveLength(1);
  });

  it('counts runts, unknown types and echoes of our own frames; drops frames to a down interface', async () => {
    const { w, bus, nodes, ifps } = await setup(2);
    const b = nodes[1]!;
    /* A runt from the wire (e.g. a fuzzer): counted as an input error. */
    expect(bus.inject(new Uint8Array(10).fill(0xff))).toBe(0);
    /* A type nobody registered. */
    send(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE2, [1]));
    /* A frame claiming to come from b itself. */
    bus.inject(frame(BCAST, ifps[1]!.if_sadl, ETYPE, [2]));
    await w.advance(1);
    expect(await ifdata(b, 'shmif0')).toMatchObject({ ifi_ipackets: 3, ifi_ierrors: 1, ifi_noproto: 1 });
    expect(b.got).toHaveLength(0);

    /* Down: not RUNNING, so the driver ignores the wire. */
    const flags = ((await b.k.sys.ioctl(b.s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as Ifreq).ifr_flags!;
    await b.k.sys.ioctl(b.s, SIOCSIFFLAGS, { ifr_name: 'shmif0', ifr_flags: flags & ~IFF_UP });
    send(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE, [3]));
    await w.advance(1);
    expect(b.got).toHaveLength(0);
    expect((await ifdata(b, 'shmif0')).ifi_ipackets).toBe(3);
    /* And a down interface cannot send. */
    expect(kernel_run(b.k, () => ether_sendraw(ifps[1]!, frame(BCAST, ifps[1]!.if_sadl, ETYPE, [4])))).not.toBe(0);
  });

  it('ether_output asks the family resolver, or sends M_BCAST packets to broadcast', async () => {
    const { w, nodes, ifps } = await setup(2);
    const [a, b] = nodes;
    const ia = ifps[0]!;
    const gotIp: Uint8Array[] = [];
    ether_register_input(b!.k, 0x0800, (_ifp, m) => { gotIp.push(m_tobytes(m)); m_freem(m); });
    const held: Mbuf[] = [];
    ether_register_resolver(a!.k, AF_INET, (_ifp, m, dst, desten) => {
      if (dst === 1) {
        desten.set(ifps[1]!.if_sadl);
        return 0;
      }
      if (dst === 2) {
        held.push(m);
        return EJUSTRETURN;
      }
      m_freem(m);
      return EHOSTUNREACH;
    });
    const out = (dst: number, bytes: number[], flags = 0): number => kernel_run(a!.k, () => {
      const m = m_frombytes(net_of(a!.k).mb, new Uint8Array(bytes))!;
      m.m_flags |= flags;
      return ia.if_output(ia, m, AF_INET, dst);
    });
    expect(out(1, [0x45, 1])).toBe(0);
    expect(out(2, [0x45, 2])).toBe(0);
    expect(out(3, [0x45, 3])).toBe(EHOSTUNREACH);
    expect(out(99, [0x45, 4], M_BCAST)).toBe(0);
    expect(kernel_run(a!.k, () => {
      const m = m_frombytes(net_of(a!.k).mb, new Uint8Array(4))!;
      return ia.if_output(ia, m, 12345, 1);
    })).toBe(EAFNOSUPPORT);
    await w.advance(1);
    expect(gotIp.map((d) => Array.from(d))).toEqual([[0x45, 1], [0x45, 4]]);
    /* The held packet is the resolver's; send it as ARP would once resolved. */
    expect(held).toHaveLength(1);
    kernel_run(a!.k, () => { m_freem(held.pop()!); });

    /* A packet sharing a cluster (a TCP retransmission copy): the header must not go into the shared storage. */
    const orig = kernel_run(a!.k, () => {
      const m = m_getcl(net_of(a!.k).mb, M_DONTWAIT, MT_DATA, M_PKTHDR)!;
      m.m_data = 100;
      m.m_len = m.m_pkthdr.len = 4;
      m.m_buf.fill(0x5a, 0, 100);
      m.m_buf.set([0x45, 5, 5, 5], 100);
      const copy = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      expect(ia.if_output(ia, copy, AF_INET, 1)).toBe(0);
      return m;
    });
    expect(Array.from(orig.m_buf.subarray(0, 100)).every((x) => x === 0x5a)).toBe(true);
    kernel_run(a!.k, () => { m_freem(orig); });
    await w.advance(1);
    expect(Array.from(gotIp[2]!)).toEqual([0x45, 5, 5, 5]);
    expect(mbufsOut(a!.k)).toBe(0);
    expect(mbufsOut(b!.k)).toBe(0);
  });

  it('a full send queue refuses frames with ENOBUFS and counts them', async () => {
    const { w, nodes, ifps } = await setup(2);
    const ia = ifps[0]!;
    /* A driver that stalls (as one with a full ring would). */
    const start = ia.if_start;
    ia.if_start = () => undefined;
    ia.if_snd.ifq_maxlen = 2;
    const errs = kernel_run(nodes[0]!.k, () => [1, 2, 3].map((i) => {
      const m = m_frombytes(net_of(ia.if_kernel).mb, frame(BCAST, ia.if_sadl, ETYPE, [i]))!;
      return ether_output_frame(ia, m);
    }));
    expect(errs).toEqual([0, 0, ENOBUFS]);
    expect(ia.if_snd.ifq_drops).toBe(1);
    expect(ia.if_oerrors).toBe(1);
    ia.if_start = start;
    kernel_run(nodes[0]!.k, () => { ia.if_start(ia); });
    await w.advance(1);
    expect(nodes[1]!.got.map((r) => r.data[0])).toEqual([1, 2]);
  });

  it('carries jumbo frames when both ends raise the MTU', async () => {
    const { w, nodes, ifps } = await setup(2);
    for (const nd of nodes) await nd.k.sys.ioctl(nd.s, SIOCSIFMTU, { ifr_name: 'shmif0', ifr_mtu: 9000 });
    const payload = new Uint8Array(9000).map((_, i) => i * 7);
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE, payload));
    await w.advance(1);
    expect(nodes[1]!.got).toHaveLength(1);
    expect(nodes[1]!.got[0]!.data).toEqual(payload);
    /* Over the MTU: refused at the sender. */
    expect(kernel_run(nodes[0]!.k, () => ether_sendraw(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE, new Uint8Array(9001))))).toBe(EINVAL);
  });

  it('leaves no mbufs behind after heavy traffic, and halted kernels fall off the bus', async () => {
    const { w, bus, nodes, ifps } = await setup(3);
    for (let i = 0; i < 300; i++) {
      const from = ifps[i % 3]!;
      const to = i % 2 === 0 ? BCAST : ifps[(i + 1) % 3]!.if_sadl;
      send(from, frame(to, from.if_sadl, ETYPE, new Uint8Array(i * 5)));
      if (i % 50 === 0) await w.advance(1);
    }
    await w.advance(1);
    const total = nodes.reduce((n, nd) => n + nd.got.length, 0);
    expect(total).toBe(150 * 2 + 150);
    for (const nd of nodes) expect(mbufsOut(nd.k)).toBe(0);
    await nodes[2]!.k.halt();
    send(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE, [1]));
    await w.advance(1);
    expect(bus.attached()).toHaveLength(2);
  });

  it('checksum offload, when the bus offers it, is advertised and marked on received packets', async () => {
    const { w, bus, nodes, ifps } = await setup(2);
    expect(ifps[0]!.if_csum_flags_tx).toBe(0);
    bus.setChecksumOffload(true);
    expect(ifps[0]!.if_csum_flags_tx & M_CSUM_IPv4).toBe(M_CSUM_IPv4);
    let csum = -1;
    ether_register_input(nodes[1]!.k, 0x0800, (ifp, m) => { csum = m.m_pkthdr.csum_flags; m_freem(m); });
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, 0x0800, new Uint8Array(20)));
    await w.advance(1);
    expect(csum).toBe(ifps[1]!.if_csum_flags_rx);
    bus.setChecksumOffload(false);
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, 0x0800, new Uint8Array(20)));
    await w.advance(1);
    expect(csum).toBe(0);
    expect(ifps[1]!.if_csum_flags_rx).toBe(0);
  });

  it('also runs on a real (node) host, delivering from the event loop', async () => {
    const net = new ShmifNet();
    const comps = [rumpnet_component, rumplocal_component, rumpnet_net_component, rumpnet_shmif_component(net)];
    const ks: Kernel[] = [];
    try {
      for (let i = 0; i < 2; i++) ks.push(await rump_init({ host: new NodeHost({ console: () => undefined }), components: comps, name: `n${i}` }));
      const ifps = ks.map((k) => {
        const r = kernel_run(k, () => rump_shmif_create(k, 'realwire'));
        expect(r.error).toBe(0);
        const ifp = ifunit(k, 'shmif0')!;
        kernel_run(k, () => { ifp.if_flags |= IFF_UP; ifp.if_init(ifp); });
        return ifp;
      });
      const got = new Promise<Uint8Array>((resolve) => {
        ether_register_input(ks[1]!, ETYPE, (_ifp, m) => { resolve(m_tobytes(m)); m_freem(m); });
      });
      net.bus('realwire').setLatency(2_000_000);
      const t0 = performance.now();
      send(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE, [42]));
      expect(Array.from(await got)).toEqual([42]);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(1.5);
    } finally {
      for (const k of ks) await k.halt();
    }
  });
});

describe('bus faults and latency', () => {
  async function traffic(seed: number, faults: Parameters<ShmifBus['setFaults']>[0], n = 20): Promise<{ got: number[][]; bus: ShmifBus; w: SimWorld }> {
    const { w, bus, nodes, ifps } = await setup(2, seed);
    bus.setFaults(faults);
    for (let i = 0; i < n; i++) send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE, [i, 0, 0, 0, 0, 0, 0, 0]));
    await w.advance(50);
    return { got: nodes[1]!.got.map((r) => Array.from(r.data)), bus, w };
  }

  it('drop everything: nothing arrives, every frame counted', async () => {
    const { got, bus } = await traffic(1, { seed: 9, drop: 1 });
    expect(got).toEqual([]);
    expect(bus.stats).toMatchObject({ frames: 20, dropped: 20, delivered: 0 });
  });

  it('drop some: the same frames for the same seed, different ones for another', async () => {
    const seen = async (seed: number): Promise<number[]> => (await traffic(1, { seed, drop: 0.3 }, 60)).got.map((d) => d[0]!);
    const a = await seen(5);
    expect(a.length).toBeGreaterThan(25);
    expect(a.length).toBeLessThan(55);
    expect(await seen(5)).toEqual(a);
    expect(await seen(6)).not.toEqual(a);
  });

  it('duplicate: every frame twice', async () => {
    const { got, bus } = await traffic(1, { seed: 1, duplicate: 1 }, 5);
    expect(got.map((d) => d[0])).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect(bus.stats.duplicated).toBe(5);
  });

  it('corrupt: one bit of the payload differs, the header is intact', async () => {
    const { got, bus } = await traffic(1, { seed: 3, corrupt: 1 }, 10);
    expect(got).toHaveLength(10);
    expect(bus.stats.corrupted).toBe(10);
    got.forEach((d, i) => {
      const orig = [i, 0, 0, 0, 0, 0, 0, 0];
      let bits = 0;
      for (let j = 0; j < 8; j++) for (let x = d[j]! ^ orig[j]!; x !== 0; x &= x - 1) bits++;
      expect(bits).toBe(1);
    });
  });

  it('reorder: everything arrives, not in order, the same way for the same seed', async () => {
    const run = async (): Promise<number[]> => (await traffic(1, { seed: 11, reorder: 0.3 }, 30)).got.map((d) => d[0]!);
    const a = await run();
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(await run()).toEqual(a);
  });

  it('delay and latency: frames arrive when due in virtual time, no earlier', async () => {
    const { w, bus, nodes, ifps } = await setup(2);
    bus.setLatency(3_000_000);
    bus.setFaults({ seed: 1, delay: 1, delayNs: 5_000_000, filter: (buf) => buf[14] === 2 });
    const t0 = w.nowNs();
    const when: number[] = [];
    ether_register_input(nodes[1]!.k, ETYPE2, (_ifp, m) => { when.push(w.nowNs() - t0); m_freem(m); });
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE2, [1]));
    send(ifps[0]!, frame(ifps[1]!.if_sadl, ifps[0]!.if_sadl, ETYPE2, [2]));
    await w.advance(2);
    expect(when).toEqual([]);
    await w.advance(2);
    expect(when).toEqual([3_000_000]);
    await w.advance(10);
    expect(when).toEqual([3_000_000, 8_000_000]);
    expect(bus.stats.delayed).toBe(1);
  });

  it('the capture hook sees each frame as sent and as delivered, with bus time', async () => {
    const { w, bus, ifps } = await setup(2);
    bus.setLatency(1_000_000);
    bus.setFaults({ seed: 2, corrupt: 1 });
    const seen: { stage: string; t: number; bytes: number[] }[] = [];
    bus.addCapture((buf, len, t, stage) => { seen.push({ stage, t, bytes: Array.from(buf.subarray(14, len)) }); });
    const t0 = w.nowNs();
    send(ifps[0]!, frame(BCAST, ifps[0]!.if_sadl, ETYPE, [0, 0]));
    await w.advance(5);
    expect(seen.map((s) => [s.stage, s.t - t0])).toEqual([['send', 0], ['deliver', 1_000_000]]);
    expect(seen[0]!.bytes).toEqual([0, 0]);
    expect(seen[1]!.bytes).not.toEqual([0, 0]);
  });

  it('bad fault settings are refused', async () => {
    const bus = new ShmifNet().bus('x');
    expect(() => { bus.setFaults({ seed: 1, drop: 1.5 }); }).toThrow(RangeError);
    expect(() => { bus.setFaults({ seed: 1.5 }); }).toThrow(RangeError);
    expect(() => { bus.setLatency(-1); }).toThrow(RangeError);
  });
});
