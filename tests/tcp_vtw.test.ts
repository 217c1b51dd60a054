/*
 * Vestigial Time-Wait end to end (two kernels on a bus): the closed
 * server's TIME_WAIT becomes a vestige (socket, inpcb and tcpcb freed),
 * which answers what a TIME_WAIT answers, lets a newer SYN reuse the
 * 4-tuple (NetBSD's vestige refuses it), keeps bind()/connect() honest,
 * evicts the oldest when its class is full, and is configured and
 * observed through sysctl, including at boot.
 */

import { describe, expect, it } from 'vitest';
import { AF_INET, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET } from '../include/socket.ts';
import { rump_init } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { tcpstat_read } from '../net/lib/libnetinet/tcp_usrreq.ts';
import { simWorld } from './kernel.ts';
import {
  TH_ACK, TH_FIN, TH_RST, TH_SYN, capture, expectErr, pair, pcbs, RawPeer, readn, sin, until, type Pair, type Seg,
} from './tcp_helpers.ts';

const enc = new TextEncoder();

async function vtwPair(seed = 1): Promise<Pair> {
  const p = await pair(seed);
  await p.b.sys.sysctl('net.inet.tcp.vtw.enable', 1);
  return p;
}

async function stats(p: Pair): Promise<Record<string, number>> {
  return await p.b.sys.sysctl('net.inet.tcp.vtw.stats') as Record<string, number>;
}

/* b serves on port; a connects (from cport if given), gets a reply, and b closes first: b holds TIME_WAIT. */
async function serveOnce(p: Pair, ls: number, cport = 0): Promise<number> {
  const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
  if (cport !== 0) {
    await p.a.sys.setsockopt(c, SOL_SOCKET, SO_REUSEADDR, 1);
    await p.a.sys.bind(c, sin('10.0.0.1', cport));
  }
  const acc = p.b.sys.accept(ls);
  await p.a.sys.connect(c, sin('10.0.0.2', 80));
  const { fd } = await acc;
  await p.a.sys.write(c, enc.encode('req'));
  await readn(p.b, fd, 3);
  await p.b.sys.write(fd, enc.encode('rep'));
  await p.b.sys.close(fd);
  await readn(p.a, c, 3);
  const port = (await p.a.sys.getsockname(c) as { sin_port: number }).sin_port;
  await p.a.sys.close(c);
  await p.L.w.advance(2);
  return port;
}

async function listen80(p: Pair): Promise<number> {
  const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
  await p.b.sys.bind(ls, sin('0.0.0.0', 80));
  await p.b.sys.listen(ls, 64);
  return ls;
}

/*
 * A raw peer at 10.0.0.3:sport connects to b:80 (ISN 1000), b closes
 * first, the peer's FIN completes it: b holds a vestige with rcv_nxt
 * 1002.  Returns the peer and b's FIN.
 */
async function rawVestige(p: Pair, sport: number): Promise<{ peer: RawPeer; fin: Seg }> {
  const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
  const ls = await listen80(p);
  peer.send({ sport, dport: 80, seq: 1000, flags: TH_SYN });
  await p.L.w.advance(1);
  const sa = peer.got[0]!;
  peer.send({ sport, dport: 80, seq: 1001, ack: sa.seq + 1, flags: TH_ACK });
  const { fd } = await p.b.sys.accept(ls);
  await p.b.sys.close(fd);
  await p.L.w.advance(1);
  const fin = peer.got.find((g) => (g.flags & TH_FIN) !== 0)!;
  peer.send({ sport, dport: 80, seq: 1001, ack: fin.seq + 1, flags: TH_FIN | TH_ACK });
  await p.L.w.advance(1);
  expect(pcbs(p.b, (x) => x.fport === sport)[0]).toMatchObject({ vestigial: true });
  return { peer, fin };
}

describe('Vestigial Time-Wait', () => {
  it('a closed TIME_WAIT connection becomes a vestige: socket, inpcb and tcpcb are freed; the listing still shows it', async () => {
    const p = await vtwPair();
    const ls = await listen80(p);
    const sockets0 = p.b.rumpnet!.nsockets;
    const cport = await serveOnce(p, ls);
    const tw = pcbs(p.b, (x) => x.fport === cport);
    expect(tw).toEqual([expect.objectContaining({ state: 'TIME_WAIT', vestigial: true, msl_class: 'local' })]);
    expect(tw[0]!.tw_remaining_ms).toBeGreaterThan(9_900);
    expect(p.b.tcp!.tcbtable.inpt_queue.length).toBe(1);
    expect(p.b.rumpnet!.nsockets).toBe(sockets0);
    const s = await stats(p);
    expect(s['inserts']).toBe(1);
    expect(s['alive']).toBe(1);
    /* It ends after 2*MSL, then the sweep reclaims it. */
    await p.L.w.advance(10_300);
    expect(pcbs(p.b, (x) => x.fport === cport)).toEqual([]);
    expect((await stats(p))['expired']).toBe(1);
  });

  it('answers a retransmitted FIN with an ACK of rcv_nxt and restarts 2*MSL; ignores a duplicate pure ACK', async () => {
    const p = await vtwPair();
    const { peer, fin } = await rawVestige(p, 5000);
    await p.L.w.advance(4_000);
    const n = peer.got.length;
    peer.send({ sport: 5000, dport: 80, seq: 1001, ack: fin.seq + 1, flags: TH_FIN | TH_ACK });
    await p.L.w.advance(1);
    expect(peer.since(n)).toEqual([expect.objectContaining({ flags: TH_ACK, seq: fin.seq + 1, ack: 1002 })]);
    expect(pcbs(p.b, (x) => x.fport === 5000)[0]!.tw_remaining_ms).toBeGreaterThan(9_900);
    peer.send({ sport: 5000, dport: 80, seq: 1002, ack: fin.seq + 1, flags: TH_ACK });
    await p.L.w.advance(1);
    expect(peer.since(n).length).toBe(1);
  });

  it('a SYN with a newer sequence number reuses the 4-tuple: a client reopening the same port is never refused', async () => {
    const p = await vtwPair();
    const ls = await listen80(p);
    const cap = capture(p.bus);
    for (let i = 0; i < 20; i++) await serveOnce(p, ls, 40000);
    expect(cap.segs.filter((g) => (g.flags & TH_RST) !== 0)).toEqual([]);
    const s = await stats(p);
    expect(s['reused']).toBe(19);
    expect(tcpstat_read(p.a).tcps_connects).toBe(20);
    expect(pcbs(p.b, (x) => x.fport === 40000)).toEqual([expect.objectContaining({ vestigial: true })]);
  });

  it('a SYN that is not newer gets an ACK, never a RST; only an exact RST ends the vestige', async () => {
    const p = await vtwPair();
    const { peer } = await rawVestige(p, 5001);
    let n = peer.got.length;
    peer.send({ sport: 5001, dport: 80, seq: 500, flags: TH_SYN });
    await p.L.w.advance(1);
    expect(peer.since(n).map((g) => g.flags)).toEqual([TH_ACK]);
    expect(pcbs(p.b, (x) => x.fport === 5001)[0]).toMatchObject({ vestigial: true });
    /* A vestige's window is 0: a RST beyond rcv_nxt is dropped, as NetBSD's vestige does. */
    n = peer.got.length;
    peer.send({ sport: 5001, dport: 80, seq: 1010, flags: TH_RST });
    await p.L.w.advance(1);
    expect(peer.since(n)).toEqual([]);
    expect(pcbs(p.b, (x) => x.fport === 5001)[0]).toMatchObject({ vestigial: true });
    peer.send({ sport: 5001, dport: 80, seq: 1002, flags: TH_RST });
    await p.L.w.advance(1);
    expect(pcbs(p.b, (x) => x.fport === 5001)).toEqual([]);
  });

  it('keeps the peer\'s timestamp: an old one is a PAWS duplicate (ACK), a newer one lets a SYN reuse the 4-tuple even with an older sequence number', async () => {
    const p = await vtwPair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    const ls = await listen80(p);
    const ts = (val: number, ecr: number) => [{ kind: 'nop' as const }, { kind: 'nop' as const }, { kind: 'ts' as const, val, ecr }];
    peer.send({ sport: 5003, dport: 80, seq: 1000, flags: TH_SYN, options: [{ kind: 'mss', mss: 1460 }, ...ts(100, 0)] });
    await p.L.w.advance(1);
    const sa = peer.got[0]!;
    const mine = (sa.options.find((o) => o.kind === 'ts') as { val: number }).val;
    peer.send({ sport: 5003, dport: 80, seq: 1001, ack: sa.seq + 1, flags: TH_ACK, options: ts(101, mine) });
    const { fd } = await p.b.sys.accept(ls);
    await p.b.sys.close(fd);
    await p.L.w.advance(1);
    const fin = peer.got.find((g) => (g.flags & TH_FIN) !== 0)!;
    peer.send({ sport: 5003, dport: 80, seq: 1001, ack: fin.seq + 1, flags: TH_FIN | TH_ACK, options: ts(102, mine) });
    await p.L.w.advance(1);
    expect(pcbs(p.b, (x) => x.fport === 5003)[0]).toMatchObject({ vestigial: true });
    /* An old timestamp: a duplicate, ACKed, counted as a PAWS drop. */
    let n = peer.got.length;
    peer.send({ sport: 5003, dport: 80, seq: 1002, ack: fin.seq + 1, flags: TH_ACK, options: ts(50, mine) });
    await p.L.w.advance(1);
    expect(peer.since(n).map((g) => g.flags)).toEqual([TH_ACK]);
    expect(tcpstat_read(p.b).tcps_pawsdrop).toBe(1);
    /* A SYN with an older sequence number but a newer timestamp reopens it (RFC 6191): the listener answers. */
    n = peer.got.length;
    peer.send({ sport: 5003, dport: 80, seq: 10, flags: TH_SYN, options: [{ kind: 'mss', mss: 1460 }, ...ts(500, 0)] });
    await p.L.w.advance(1);
    expect(peer.since(n).map((g) => g.flags)).toEqual([TH_SYN | TH_ACK]);
    expect((await stats(p))['reused']).toBe(1);
  });

  it('data for the closed socket draws a RST and ends the vestige', async () => {
    const p = await vtwPair();
    const { peer, fin } = await rawVestige(p, 5002);
    const n = peer.got.length;
    peer.send({ sport: 5002, dport: 80, seq: 1002, ack: fin.seq + 1, flags: TH_ACK, payload: enc.encode('late') });
    await p.L.w.advance(1);
    expect(peer.since(n)).toEqual([expect.objectContaining({ flags: TH_RST, seq: fin.seq + 1 })]);
    expect(pcbs(p.b, (x) => x.fport === 5002)).toEqual([]);
    expect(tcpstat_read(p.b).tcps_rcvafterclose).toBe(1);
  });

  it('bind() and connect() see vestiges: EADDRINUSE without SO_REUSEADDR, and for the exact 4-tuple whatever the options', async () => {
    const p = await vtwPair();
    const ls = await listen80(p);
    const cport = await serveOnce(p, ls);
    await p.b.sys.close(ls);
    expect(pcbs(p.b)).toEqual([expect.objectContaining({ lport: 80, vestigial: true })]);
    const x = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await expectErr(p.b.sys.bind(x, sin('10.0.0.2', 80)), 'EADDRINUSE');
    await expectErr(p.b.sys.bind(x, sin('0.0.0.0', 80)), 'EADDRINUSE');
    await p.b.sys.setsockopt(x, SOL_SOCKET, SO_REUSEADDR, 1);
    await p.b.sys.bind(x, sin('10.0.0.2', 80));
    await expectErr(p.b.sys.connect(x, sin('10.0.0.1', cport)), 'EADDRINUSE');
    expect((await stats(p))['lookups_port']).toBeGreaterThan(0);
    /* Once it has expired the port is free again. */
    await p.b.sys.close(x);
    await p.L.w.advance(10_300);
    const y = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(y, sin('0.0.0.0', 80));
  });

  it('a full class evicts its oldest (16 entries: 5 per class); the others keep their age', async () => {
    const p = await vtwPair();
    const ls = await listen80(p);
    const ports: number[] = [];
    for (let i = 0; i < 7; i++) {
      ports.push(await serveOnce(p, ls));
      await p.L.w.advance(100);
    }
    const left = pcbs(p.b, (x) => x.vestigial).map((x) => x.fport).sort((u, v) => u - v);
    expect(left).toEqual(ports.slice(2).sort((u, v) => u - v));
    expect((await stats(p))['evictions']).toBe(2);
  });

  it('sysctls: entries is a power of two settable until enabled (then EBUSY); enable can be set at boot; disabling keeps existing vestiges', async () => {
    const p = await pair();
    await expectErr(p.b.sys.sysctl('net.inet.tcp.vtw.entries', 1000), 'EINVAL');
    await expectErr(p.b.sys.sysctl('net.inet.tcp.vtw.entries', 1 << 22), 'EINVAL');
    await p.b.sys.sysctl('net.inet.tcp.vtw.entries', 1 << 20);
    expect(await p.b.sys.sysctl('net.inet.tcp.vtw.enable')).toBe(0);
    await p.b.sys.sysctl('net.inet.tcp.vtw.enable', 1);
    await expectErr(p.b.sys.sysctl('net.inet.tcp.vtw.entries', 64), 'EBUSY');
    expect((await stats(p))['bytes'] / (1 << 20)).toBeLessThanOrEqual(64);
    const ls = await listen80(p);
    const cport = await serveOnce(p, ls);
    await p.b.sys.sysctl('net.inet.tcp.vtw.enable', 0);
    expect(pcbs(p.b, (x) => x.fport === cport)[0]).toMatchObject({ vestigial: true });
    const c2 = await serveOnce(p, ls);
    expect(pcbs(p.b, (x) => x.fport === c2)[0]).toMatchObject({ vestigial: false, state: 'TIME_WAIT' });

    const w = simWorld({ seed: 5 });
    const k = await rump_init({
      host: w.host(), name: 'boot',
      components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component],
      sysctls: { 'net.inet.tcp.vtw.entries': 4096, 'net.inet.tcp.vtw.enable': 1 },
    });
    expect(await k.sys.sysctl('net.inet.tcp.vtw.enable')).toBe(1);
    expect(await k.sys.sysctl('net.inet.tcp.vtw.entries')).toBe(4096);
    await k.halt();
    await expect(rump_init({
      host: simWorld({ seed: 6 }).host(), name: 'bad',
      components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component],
      sysctls: { 'net.inet.tcp.vtw.entries': 100 },
    })).rejects.toThrow(/sysctl net\.inet\.tcp\.vtw\.entries=100/);
  });

  it('a fast client on a fixed port over many rounds: vestiges are reused, looked up in about one bucket line', async () => {
    const p = await vtwPair(9);
    const ls = await listen80(p);
    for (let i = 0; i < 60; i++) await serveOnce(p, ls);
    await until(p.L.w, () => true);
    const s = await stats(p);
    expect(s['lookups_connect']).toBeGreaterThan(0);
    expect(s['visits_connect'] / s['lookups_connect']).toBeLessThanOrEqual(1.2);
  });
});
