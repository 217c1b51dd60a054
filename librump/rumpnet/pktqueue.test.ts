import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import { kernel_run, type Kernel } from '../rumpkern/rump.ts';
import { cpu_softintr_p } from '../rumpkern/intr.ts';
import { rumpnet_component } from './rumpnet_component.ts';
import { net_of } from './net.ts';
import { m_freem, m_frombytes, m_outstanding, type Mbuf } from './uipc_mbuf.ts';
import { pktq_create, pktq_destroy, pktq_enqueue, pktq_sysctl_setup } from './pktqueue.ts';

async function boot(): Promise<Kernel> {
  return bootSim(simWorld(), { components: [rumpnet_component] });
}

function pkt(k: Kernel, tag: number): Mbuf {
  const m = m_frombytes(net_of(k).mb, new Uint8Array([tag]));
  if (m === null) throw new Error('no mbufs');
  return m;
}

describe('pktqueue', () => {
  it('hands packets to the handler in order, from a NET softint, after the enqueuer gives up the CPU', async () => {
    const k = await boot();
    const got: number[] = [];
    let inSoftint = true;
    const pq = pktq_create(k, 'test', 16, (m) => {
      inSoftint &&= cpu_softintr_p(k);
      got.push(m.m_buf[m.m_data]!);
      m_freem(m);
    });
    kernel_run(k, () => {
      for (let i = 0; i < 5; i++) expect(pktq_enqueue(pq, pkt(k, i))).toBe(true);
      /* Deferred: nothing ran yet. */
      expect(got).toEqual([]);
      expect(pq.pq_len).toBe(5);
    });
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(inSoftint).toBe(true);
    expect(pq).toMatchObject({ pq_len: 0, pq_enqueued: 5, pq_handled: 5, pq_drops: 0 });
    expect(m_outstanding(net_of(k).mb).mbufs).toBe(0);
  });

  it('refuses packets over the limit, counts the drops and leaves them to the caller', async () => {
    const k = await boot();
    const pq = pktq_create(k, 'small', 3, (m) => { m_freem(m); });
    let refused = 0;
    kernel_run(k, () => {
      for (let i = 0; i < 5; i++) {
        const m = pkt(k, i);
        if (!pktq_enqueue(pq, m)) {
          refused++;
          /* Still ours: the pool would panic on a double free if the queue had freed it. */
          m_freem(m);
        }
      }
    });
    expect(refused).toBe(2);
    expect(pq).toMatchObject({ pq_drops: 2, pq_enqueued: 3, pq_handled: 3, pq_len: 0 });
    /* The limit is settable. */
    pq.pq_maxlen = 5;
    kernel_run(k, () => {
      for (let i = 0; i < 5; i++) expect(pktq_enqueue(pq, pkt(k, i))).toBe(true);
    });
    expect(pq.pq_drops).toBe(2);
    expect(m_outstanding(net_of(k).mb).mbufs).toBe(0);
  });

  it('drains in batches, letting other NET softints run between them', async () => {
    const k = await boot();
    const order: string[] = [];
    const a = pktq_create(k, 'a', 16, (m) => { order.push(`a${m.m_buf[m.m_data]!}`); m_freem(m); });
    const b = pktq_create(k, 'b', 16, (m) => { order.push(`b${m.m_buf[m.m_data]!}`); m_freem(m); });
    a.pq_batch = 2;
    kernel_run(k, () => {
      for (let i = 0; i < 5; i++) pktq_enqueue(a, pkt(k, i));
      pktq_enqueue(b, pkt(k, 0));
    });
    expect(order).toEqual(['a0', 'a1', 'b0', 'a2', 'a3', 'a4']);
  });

  it('destroy frees what is queued and refuses later packets', async () => {
    const k = await boot();
    let handled = 0;
    const pq = pktq_create(k, 'gone', 8, (m) => { handled++; m_freem(m); });
    kernel_run(k, () => {
      pktq_enqueue(pq, pkt(k, 1));
      pktq_enqueue(pq, pkt(k, 2));
      pktq_destroy(pq);
      const m = pkt(k, 3);
      expect(pktq_enqueue(pq, m)).toBe(false);
      m_freem(m);
    });
    expect(handled).toBe(0);
    expect(pq.pq_len).toBe(0);
    expect(m_outstanding(net_of(k).mb).mbufs).toBe(0);
  });

  it('publishes len, maxlen and drops under <parent>.ifq', async () => {
    const k = await boot();
    const pq = pktq_create(k, 'ip', 4, (m) => { m_freem(m); });
    expect(pktq_sysctl_setup(pq, 'net.test')).toBe(0);
    expect(await k.sys.sysctl('net.test.ifq.maxlen')).toBe(4);
    await k.sys.sysctl('net.test.ifq.maxlen', 1);
    expect(pq.pq_maxlen).toBe(1);
    await expect(k.sys.sysctl('net.test.ifq.maxlen', 0)).rejects.toMatchObject({ code: 'EINVAL' });
    kernel_run(k, () => {
      pktq_enqueue(pq, pkt(k, 1));
      const m = pkt(k, 2);
      if (!pktq_enqueue(pq, m)) m_freem(m);
    });
    expect(await k.sys.sysctl('net.test.ifq.drops')).toBe(1);
    expect(await k.sys.sysctl('net.test.ifq.len')).toBe(0);
  });
});
