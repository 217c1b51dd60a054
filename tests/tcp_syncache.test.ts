/*
 * The SYN cache (NetBSD's syn_cache): half-open connections are entries,
 * not sockets; SYN,ACKs are retransmitted with backoff until keepinit;
 * the cache and each bucket are bounded, evicting the oldest; and under a
 * flood of 100,000 SYNs from spoofed sources a real client still connects
 * while the cache never holds more than its limit.
 */

import { describe, expect, it } from 'vitest';
import { AF_INET, SOCK_STREAM } from '../include/socket.ts';
import { RTF_GATEWAY, RTF_STATIC, RTM_ADD } from '../net/lib/libnet/route.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { IpRepr } from '../net/lib/libnetinet/ip.ts';
import { TcpRepr, TH_ACK, TH_SYN } from '../net/lib/libnetinet/tcp.ts';
import { tcpstat_read } from '../net/lib/libnetinet/tcp_usrreq.ts';
import { a4, pair, RawPeer, readn, sin, writeall, type Pair } from './tcp_helpers.ts';

async function listener(p: Pair, port = 80, backlog = 128): Promise<number> {
  const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
  await p.b.sys.bind(ls, sin('0.0.0.0', port));
  await p.b.sys.listen(ls, backlog);
  return ls;
}

/* b routes everything off-link through the raw peer, so SYN,ACKs to spoofed sources leave without ARP. */
function routeViaPeer(p: Pair): void {
  const r = p.b.rt!.rtrequest(RTM_ADD, { rti_dst: 0, rti_plen: 0, rti_gateway: a4('10.0.0.3'), rti_flags: RTF_GATEWAY | RTF_STATIC });
  expect(r.error).toBe(0);
}

/* A frame factory for SYNs from arbitrary sources to b:80, as a flooder would send them. */
function synFrame(p: Pair, peerMac: Uint8Array): (src: number, sport: number, seq: number) => Uint8Array {
  const kmac = ifunit(p.b, 'shmif0')!.if_sadl;
  const dst = a4('10.0.0.2');
  return (src, sport, seq) => {
    const r: TcpRepr = {
      sport, dport: 80, seq, ack: 0, flags: TH_SYN, win: 65535, urp: 0,
      options: [{ kind: 'mss', mss: 1460 }], payload: new Uint8Array(0),
    };
    const tlen = TcpRepr.bufferLen(r);
    const f = new Uint8Array(14 + 20 + tlen);
    f.set(kmac, 0);
    f.set(peerMac, 6);
    f[12] = 0x08;
    IpRepr.emit({ tos: 0, len: 20 + tlen, id: 1, off: 0, ttl: 64, p: IPPROTO_TCP, src, dst, options: new Uint8Array(0) }, f, 14);
    TcpRepr.emit(r, f, 34, src, dst);
    return f;
  };
}

describe('SYN cache', () => {
  it('a SYN makes an entry, not a socket; the SYN,ACK is retransmitted at 3, 9, 21, 45 s and the entry dropped at keepinit', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    await listener(p);
    peer.send({ sport: 4000, dport: 80, seq: 1000, flags: TH_SYN, options: [{ kind: 'mss', mss: 1000 }] });
    const t0 = p.L.w.nowMs();
    await p.L.w.advance(200_000);
    const sas = peer.got.filter((g) => g.flags === (TH_SYN | TH_ACK));
    expect(sas.map((g) => Math.round((g.t / 1e6 - t0) / 1000))).toEqual([0, 3, 9, 21, 45]);
    expect(new Set(sas.map((g) => g.seq)).size).toBe(1);
    const st = tcpstat_read(p.b);
    expect(st.tcps_sc_added).toBe(1);
    expect(st.tcps_sc_retransmitted).toBe(4);
    expect(st.tcps_sc_timed_out).toBe(1);
    expect(await p.b.sys.sysctl('net.inet.tcp.syn_cache_count')).toBe(0);
  });

  it('a duplicate SYN gets the same SYN,ACK (sc_dupesyn); the ACK completes the handshake with the options of the SYN', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    const ls = await listener(p);
    const syn = { sport: 4001, dport: 80, seq: 7000, flags: TH_SYN, options: [{ kind: 'mss' as const, mss: 1000 }, { kind: 'sackOK' as const }] };
    peer.send(syn);
    await p.L.w.advance(1);
    peer.send(syn);
    await p.L.w.advance(1);
    expect(peer.got.length).toBe(2);
    expect(peer.got[1]!.seq).toBe(peer.got[0]!.seq);
    expect(tcpstat_read(p.b).tcps_sc_dupesyn).toBe(1);
    peer.send({ sport: 4001, dport: 80, seq: 7001, ack: peer.got[0]!.seq + 1, flags: TH_ACK, payload: new TextEncoder().encode('hi') });
    const { fd } = await p.b.sys.accept(ls);
    expect(new TextDecoder().decode(await readn(p.b, fd, 2))).toBe('hi');
    /* The SYN,ACK offered MSS and SACK (the SYN asked for SACK, not for timestamps or window scaling). */
    expect(peer.got[0]!.options.map((o) => o.kind).filter((k) => k !== 'nop').sort()).toEqual(['mss', 'sackOK']);
    expect(p.b.tcp!.tcbtable.inpt_queue.some((inp) => inp.inp_fport === 4001)).toBe(true);
    expect(tcpstat_read(p.b).tcps_sc_completed).toBe(1);
    expect(await p.b.sys.sysctl('net.inet.tcp.syn_cache_count')).toBe(0);
  });

  it('bounded: a full bucket loses its oldest (sc_bucketoverflow), a full cache the oldest of the next bucket (sc_overflowed)', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    routeViaPeer(p);
    await listener(p);
    await p.b.sys.sysctl('net.inet.tcp.syn_cache_limit', 40);
    await p.b.sys.sysctl('net.inet.tcp.syn_bucket_limit', 2);
    const mk = synFrame(p, peer.mac);
    /* In bursts the IP input queue (256) can hold. */
    for (let i = 0; i < 1000; i++) {
      p.bus.inject(mk((0xac100000 + i) >>> 0, 1024 + i, i * 7919));
      if (i % 200 === 199) await p.L.w.advance(1);
    }
    await p.L.w.advance(1);
    const st = tcpstat_read(p.b);
    expect(st.tcps_sc_added).toBe(1000);
    expect(await p.b.sys.sysctl('net.inet.tcp.syn_cache_count')).toBe(40);
    expect(st.tcps_sc_overflowed + st.tcps_sc_bucketoverflow).toBe(960);
    expect(st.tcps_sc_overflowed).toBeGreaterThan(0);
    expect(p.b.tcp!.syn_cache.made).toBeLessThanOrEqual(41);
  });

  it('under a flood of 100,000 SYNs from spoofed sources a real client still connects, and the cache stays within its limit', async () => {
    const p = await pair(3);
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    routeViaPeer(p);
    const ls = await listener(p);
    const limit = await p.b.sys.sysctl('net.inet.tcp.syn_cache_limit') as number;
    expect(limit).toBe(10255);
    const mk = synFrame(p, peer.mac);
    let n = 0;
    let seed = 12345;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const burst = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, n++) p.bus.inject(mk((0xac100000 | (rnd() & 0xfffff)) >>> 0, 1024 + (rnd() & 0x7fff), rnd()));
      await p.L.w.advance(1);
    };
    let maxCount = 0;
    for (let i = 0; i < 250; i++) {
      await burst(200);
      maxCount = Math.max(maxCount, p.b.tcp!.syn_cache.count);
    }
    /* The real client connects in the middle of the flood, which goes on meanwhile. */
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    const acc = p.b.sys.accept(ls);
    const conn = p.a.sys.connect(c, sin('10.0.0.2', 80));
    for (let i = 0; i < 250; i++) {
      await burst(200);
      maxCount = Math.max(maxCount, p.b.tcp!.syn_cache.count);
    }
    await conn;
    const { fd } = await acc;
    await writeall(p.a, c, new TextEncoder().encode('through the flood'));
    expect(new TextDecoder().decode(await readn(p.b, fd, 17))).toBe('through the flood');
    expect(n).toBe(100_000);
    const st = tcpstat_read(p.b);
    expect(st.tcps_sc_added).toBeGreaterThanOrEqual(100_000);
    expect(maxCount).toBeLessThanOrEqual(limit);
    /* Entries are recycled: never more objects than the limit (plus the one being replaced). */
    expect(p.b.tcp!.syn_cache.made).toBeLessThanOrEqual(limit + 1);
    expect(st.tcps_sc_completed).toBe(1);
  }, 60_000);
});
