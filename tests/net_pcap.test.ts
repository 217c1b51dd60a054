/*
 * Packet capture of shmif traffic between two kernels: the pcap files a
 * PcapHandle and shmif_bus_pcap write are parsed back (magic, link type,
 * records, lengths, virtual-time time stamps) and decoded by tshark, which
 * must find every frame, no malformed packet and no bad checksum.
 *
 * tshark is required (Debian: apt-get install tshark); the test fails,
 * not skips, without it.
 */
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simWorld, bootSim } from './kernel.ts';
import { kernel_run, type Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { m_freem } from '../librump/rumpnet/uipc_mbuf.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { IFF_UP } from '../include/if.ts';
import { ifunit, type Ifnet } from '../net/lib/libnet/if.ts';
import { ether_register_input, ether_sendraw } from '../net/lib/libnet/if_ethersubr.ts';
import {
  LINKTYPE_ETHERNET, NSEC_TCPDUMP_MAGIC, pcap_attach, pcap_detach, pcap_parse, TCPDUMP_MAGIC, type PcapFile,
} from '../net/lib/libnet/pcap.ts';
import { rumpnet_shmif_component, rump_shmif_create, shmif_bus_pcap, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';

const LATENCY = 1_500_000;

function tshark(): string {
  try {
    return execFileSync('which', ['tshark'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('tshark is not installed: apt-get install -y tshark (Debian) to run the capture tests');
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/* RFC 1071 checksum of buf[off, off+len), with an initial sum. */
function cksum(buf: Uint8Array, off: number, len: number, sum = 0): number {
  for (let i = 0; i + 1 < len; i += 2) sum += (buf[off + i]! << 8) | buf[off + i + 1]!;
  if (len & 1) sum += buf[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ether(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** An IPv4/UDP datagram 10.0.0.1:5000 -> 10.0.0.2:7 with correct checksums. */
function udp(payload: Uint8Array): Uint8Array {
  const ip = new Uint8Array(20 + 8 + payload.length);
  const v = new DataView(ip.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, ip.length);
  v.setUint16(4, 0x1234);
  v.setUint8(8, 64);
  v.setUint8(9, 17);
  ip.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  v.setUint16(10, cksum(ip, 0, 20));
  v.setUint16(20, 5000);
  v.setUint16(22, 7);
  v.setUint16(24, 8 + payload.length);
  ip.set(payload, 28);
  /* Pseudo header: addresses, protocol, UDP length. */
  let ph = 17 + 8 + payload.length;
  for (let i = 12; i < 20; i += 2) ph += (ip[i]! << 8) | ip[i + 1]!;
  v.setUint16(26, cksum(ip, 20, 8 + payload.length, ph) || 0xffff);
  return ip;
}

/** An ARP request: who has 10.0.0.2, tell 10.0.0.1. */
function arp(sha: Uint8Array): Uint8Array {
  const a = new Uint8Array(28);
  a.set([0, 1, 8, 0, 6, 4, 0, 1], 0);
  a.set(sha, 8);
  a.set([10, 0, 0, 1], 14);
  a.set([10, 0, 0, 2], 24);
  return a;
}

/** Kernel time at world time now (boottime + uptime = the world's wall start + now), in ns as a bigint. */
function kernelTimeNs(w: SimWorld): bigint {
  return BigInt(w.wallStartMs) * 1_000_000n + BigInt(w.nowNs());
}

async function twoKernels(): Promise<{ w: SimWorld; net: ShmifNet; ks: Kernel[]; ifps: Ifnet[] }> {
  const w = simWorld({ seed: 21 });
  const net = new ShmifNet({ bus: { latencyNs: LATENCY } });
  const comps = [rumpnet_component, rumpnet_net_component, rumpnet_shmif_component(net)];
  const ks = [await bootSim(w, { name: 'a', components: comps }), await bootSim(w, { name: 'b', components: comps })];
  const ifps = ks.map((k) => {
    expect(kernel_run(k, () => rump_shmif_create(k, 'wire')).error).toBe(0);
    const ifp = ifunit(k, 'shmif0')!;
    kernel_run(k, () => {
      ifp.if_flags |= IFF_UP;
      expect(ifp.if_init(ifp)).toBe(0);
    });
    /* Sink for the test types, so nothing is counted as noproto. */
    for (const t of [0x0800, 0x0806, 0x88b5]) ether_register_input(k, t, (_ifp, m) => { m_freem(m); });
    return ifp;
  });
  return { w, net, ks, ifps };
}

function withFile<T>(bytes: Uint8Array, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'rumpts-pcap-'));
  try {
    const p = join(dir, 'capture.pcap');
    writeFileSync(p, bytes);
    return fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tsharkFields(path: string, fields: string[], filter?: string): string[][] {
  const args = ['-r', path, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields'];
  for (const f of fields) args.push('-e', f);
  if (filter !== undefined) args.push('-Y', filter);
  const out = execFileSync(tshark(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

describe('pcap capture', () => {
  it('writes both directions with kernel time stamps; tshark reads every frame, none malformed', async () => {
    tshark();
    const { w, net, ks, ifps } = await twoKernels();
    const [ia, ib] = ifps as [Ifnet, Ifnet];
    const capA: Uint8Array[] = [];
    const capB: Uint8Array[] = [];
    const capShort: Uint8Array[] = [];
    const capBus: Uint8Array[] = [];
    const ha = pcap_attach(ia, (c) => { capA.push(c); });
    pcap_attach(ib, (c) => { capB.push(c); }, { nanosecond: true });
    pcap_attach(ib, (c) => { capShort.push(c); }, { snaplen: 40 });
    shmif_bus_pcap(net.bus('wire'), (c) => { capBus.push(c); }, { nanosecond: true });

    const sent: { from: Ifnet; frame: Uint8Array; t: bigint }[] = [];
    const tx = (from: Ifnet, frame: Uint8Array): void => {
      sent.push({ from, frame, t: kernelTimeNs(w) });
      expect(kernel_run(from.if_kernel, () => ether_sendraw(from, frame))).toBe(0);
    };
    const bcast = new Uint8Array(6).fill(0xff);
    tx(ia, ether(bcast, ia.if_sadl, 0x0806, arp(ia.if_sadl)));
    await w.advance(3.25);
    tx(ib, ether(ia.if_sadl, ib.if_sadl, 0x0800, udp(new Uint8Array(100).fill(0x61))));
    await w.advance(7);
    tx(ia, ether(ib.if_sadl, ia.if_sadl, 0x0800, udp(new Uint8Array(1472).map((_, i) => i))));
    tx(ia, ether(ib.if_sadl, ia.if_sadl, 0x88b5, new Uint8Array(1)));
    await w.advance(2);
    pcap_detach(ha);
    tx(ia, ether(ib.if_sadl, ia.if_sadl, 0x88b5, new Uint8Array(2)));
    await w.advance(2);

    const a = pcap_parse(concat(capA));
    const b = pcap_parse(concat(capB));
    const s = pcap_parse(concat(capShort));
    expect(a).toMatchObject({ nanosecond: false, littleEndian: true, versionMajor: 2, versionMinor: 4, linktype: LINKTYPE_ETHERNET, snaplen: 262144 });
    expect(new DataView(concat(capA).buffer).getUint32(0, true)).toBe(TCPDUMP_MAGIC);
    expect(new DataView(concat(capB).buffer).getUint32(0, true)).toBe(NSEC_TCPDUMP_MAGIC);
    expect(b.nanosecond).toBe(true);

    /* a saw its three sends (until detached) and the one frame b sent. */
    const expectRecords = (f: PcapFile, ifp: Ifnet, upto: number): void => {
      const want: { len: number; t: bigint; data: Uint8Array }[] = [];
      for (const x of sent.slice(0, upto)) {
        /* Own frames are stamped when sent, others when they arrive (after the bus latency). */
        want.push({ len: x.frame.length, t: x.from === ifp ? x.t : x.t + BigInt(LATENCY), data: x.frame });
      }
      want.sort((p, q) => (p.t < q.t ? -1 : p.t > q.t ? 1 : 0));
      expect(f.records.map((r) => r.len)).toEqual(want.map((x) => x.len));
      f.records.forEach((r, i) => {
        const t = want[i]!.t;
        expect(r.sec).toBe(Number(t / 1_000_000_000n));
        expect(r.frac).toBe(f.nanosecond ? Number(t % 1_000_000_000n) : Number((t % 1_000_000_000n) / 1000n));
        expect(r.data).toEqual(want[i]!.data.subarray(0, f.snaplen));
      });
    };
    expectRecords(a, ia, 4);
    expectRecords(b, ib, 5);
    expect(s.records.map((r) => [r.data.length, r.len])).toEqual(b.records.map((r) => [Math.min(40, r.len), r.len]));

    withFile(concat(capB), (p) => {
      const rows = tsharkFields(p, ['frame.len', 'frame.time_epoch', 'eth.type']);
      expect(rows.map((r) => Number(r[0]))).toEqual(b.records.map((r) => r.len));
      /* Nanosecond stamps survive the round trip exactly. */
      expect(rows.map((r) => r[1])).toEqual(b.records.map((r) => `${r.sec}.${String(r.frac).padStart(9, '0')}`));
      expect(rows.map((r) => r[2])).toEqual(['0x0806', '0x0800', '0x0800', '0x88b5', '0x88b5']);
      expect(tsharkFields(p, ['frame.number'], '_ws.malformed || _ws.expert.severity >= "warning" || ip.checksum.status == "Bad" || udp.checksum.status == "Bad"')).toEqual([]);
      expect(tsharkFields(p, ['udp.checksum.status'], 'udp')).toEqual([['1'], ['1']]);
    });
    withFile(concat(capA), (p) => {
      expect(tsharkFields(p, ['frame.len']).map((r) => Number(r[0]))).toEqual(a.records.map((r) => r.len));
    });
    withFile(concat(capShort), (p) => {
      expect(tsharkFields(p, ['frame.cap_len', 'frame.len'])).toEqual(s.records.map((r) => [String(r.data.length), String(r.len)]));
    });
    /* The bus capture has every frame once, as delivered. */
    withFile(concat(capBus), (p) => {
      expect(tsharkFields(p, ['frame.len']).map((r) => Number(r[0]))).toEqual(sent.map((x) => x.frame.length));
    });
    void ks;
  });
});
