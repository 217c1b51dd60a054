import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../../tests/kernel.ts';
import { kernel_run, type Kernel } from '../../../librump/rumpkern/rump.ts';
import { cpu_softintr_p } from '../../../librump/rumpkern/intr.ts';
import { rumpnet_component } from '../../../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_freem, m_frombytes, m_outstanding, m_tobytes } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { EAFNOSUPPORT, ENETDOWN, ENOBUFS } from '../../../include/errno.ts';
import { IFF_LOOPBACK, IFF_MULTICAST, IFF_RUNNING, IFF_UP, IFT_LOOP } from '../../../include/if.ts';
import { if_down, if_up, ifunit, type Ifnet } from './if.ts';
import { LOMTU, loop_register_input } from './if_loop.ts';
import { rumpnet_net_component } from './net_component.ts';
import { LINKTYPE_NULL, pcap_attach, pcap_parse } from './pcap.ts';

const AF_TEST = 99;

async function boot(): Promise<{ k: Kernel; lo0: Ifnet }> {
  const k = await bootSim(simWorld(), { components: [rumpnet_component, rumpnet_net_component] });
  return { k, lo0: ifunit(k, 'lo0')! };
}

function out(k: Kernel, ifp: Ifnet, bytes: number[], family = AF_TEST): number {
  return kernel_run(k, () => ifp.if_output(ifp, m_frombytes(net_of(k).mb, new Uint8Array(bytes))!, family, 0));
}

describe('lo0', () => {
  it('is attached at boot, down, and known to the routing table', async () => {
    const { k, lo0 } = await boot();
    expect(lo0).toMatchObject({ if_type: IFT_LOOP, if_mtu: LOMTU, if_flags: IFF_LOOPBACK | IFF_MULTICAST, if_index: 1 });
    expect(k.rt!.lo0ifp).toBe(lo0);
    expect(out(k, lo0, [1])).toBe(ENETDOWN);
    expect(m_outstanding(net_of(k).mb).mbufs).toBe(0);
  });

  it('loops a packet back to its family in softint context, counting both ways', async () => {
    const { k, lo0 } = await boot();
    const got: { ifp: string; bytes: number[]; soft: boolean }[] = [];
    loop_register_input(k, AF_TEST, (ifp, m) => {
      got.push({ ifp: ifp.if_xname, bytes: Array.from(m_tobytes(m)), soft: cpu_softintr_p(k) });
      m_freem(m);
    });
    kernel_run(k, () => { expect(if_up(lo0)).toBe(0); });
    expect(lo0.if_flags & (IFF_UP | IFF_RUNNING)).toBe(IFF_UP | IFF_RUNNING);
    kernel_run(k, () => {
      expect(lo0.if_output(lo0, m_frombytes(net_of(k).mb, new Uint8Array([1, 2, 3]))!, AF_TEST, 0)).toBe(0);
      /* Not inside the sender's output path. */
      expect(got).toEqual([]);
    });
    expect(got).toEqual([{ ifp: 'lo0', bytes: [1, 2, 3], soft: true }]);
    expect(lo0).toMatchObject({ if_opackets: 1, if_obytes: 3, if_ipackets: 1, if_ibytes: 3 });

    expect(out(k, lo0, [4], 77)).toBe(EAFNOSUPPORT);
    expect(lo0.if_noproto).toBe(1);
    kernel_run(k, () => { if_down(lo0); });
    expect(out(k, lo0, [5])).toBe(ENETDOWN);
    expect(got).toHaveLength(1);
    expect(m_outstanding(net_of(k).mb).mbufs).toBe(0);
  });

  it('refuses packets beyond the family queue limit with ENOBUFS', async () => {
    const { k, lo0 } = await boot();
    let n = 0;
    const pq = loop_register_input(k, AF_TEST, (_ifp, m) => { n++; m_freem(m); });
    pq.pq_maxlen = 2;
    kernel_run(k, () => { if_up(lo0); });
    const errs = kernel_run(k, () => [1, 2, 3].map((i) => lo0.if_output(lo0, m_frombytes(net_of(k).mb, new Uint8Array([i]))!, AF_TEST, 0)));
    expect(errs).toEqual([0, 0, ENOBUFS]);
    expect(n).toBe(2);
    expect(pq.pq_drops).toBe(1);
    expect(lo0).toMatchObject({ if_iqdrops: 1, if_ipackets: 2, if_opackets: 3 });
    expect(m_outstanding(net_of(k).mb).mbufs).toBe(0);
  });

  it('is captured as LINKTYPE_NULL with the family in front of each packet, once per packet', async () => {
    const { k, lo0 } = await boot();
    loop_register_input(k, AF_TEST, (_ifp, m) => { m_freem(m); });
    const chunks: Uint8Array[] = [];
    pcap_attach(lo0, (c) => { chunks.push(c); });
    kernel_run(k, () => { if_up(lo0); });
    expect(out(k, lo0, [9, 8, 7])).toBe(0);
    const file = pcap_parse(concat(chunks));
    expect(file.linktype).toBe(LINKTYPE_NULL);
    expect(file.records).toHaveLength(1);
    expect(Array.from(file.records[0]!.data)).toEqual([AF_TEST, 0, 0, 0, 9, 8, 7]);
    expect(file.records[0]!.len).toBe(7);
  });
});

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
