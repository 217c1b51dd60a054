/*
 * RSTs: when TCP sends one (closed port, ACK to a listener, data after
 * close, zero SO_LINGER, a bad ACK in SYN_SENT / SYN_RECEIVED), when it
 * accepts one (RFC 5961 3.2: only at exactly rcv_nxt; an in-window one
 * earns a challenge ACK, one outside the window nothing), SYNs in a
 * synchronized state (RFC 5961 4.2: challenge ACK, never a RST), and the
 * two rate limits (rstppslimit for closed ports, ackdropppslimit for
 * challenge ACKs).  Most cases are driven by a hand-made peer (RawPeer)
 * so each segment is exactly what the case needs.
 */
import { describe, it, expect } from 'vitest';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { AF_INET, SO_LINGER, SOCK_STREAM, SOL_SOCKET } from '../include/socket.ts';
import { tcpstat_read } from '../net/lib/libnetinet/tcp_usrreq.ts';
import {
  RawPeer, TH_ACK, TH_FIN, TH_PUSH, TH_RST, TH_SYN, capture, connect, expectErr, pair, pcbState, pcbs, sin, sysctl,
  type Pair, type Seg,
} from './tcp_helpers.ts';

const enc = new TextEncoder();

interface RawConn {
  p: Pair;
  peer: RawPeer;
  /** b's listener and the accepted socket. */
  ls: number;
  fd: number;
  /** Our next sequence number and b's (rcv_nxt of b == mySeq). */
  mySeq: number;
  itsSeq: number;
  sport: number;
}

/** b listens on 80; the raw peer 10.0.0.3 completes a handshake with it (no options). */
async function rawConnect(sport = 40000, iss = 1000): Promise<RawConn> {
  const p = await pair();
  const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
  const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
  await p.b.sys.bind(ls, sin('0.0.0.0', 80));
  await p.b.sys.listen(ls, 5);
  peer.send({ sport, dport: 80, seq: iss, flags: TH_SYN, win: 8192 });
  await p.L.w.advance(1);
  const synack = peer.got.find((g) => g.flags === (TH_SYN | TH_ACK))!;
  expect(synack.ack).toBe(iss + 1);
  peer.send({ sport, dport: 80, seq: iss + 1, ack: synack.seq + 1, flags: TH_ACK, win: 8192 });
  await p.L.w.advance(1);
  const { fd } = await p.b.sys.accept(ls);
  return { p, peer, ls, fd, mySeq: iss + 1, itsSeq: (synack.seq + 1) >>> 0, sport };
}

function last(peer: RawPeer, from: number): Seg[] {
  return peer.since(from);
}

describe('TCP sends RSTs', () => {
  it('a SYN to a closed port: RST|ACK (seq 0, ack SEG.SEQ+1), connect gets ECONNREFUSED', async () => {
    const p = await pair();
    const cap = capture(p.bus);
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await expectErr(p.a.sys.connect(c, sin('10.0.0.2', 81)), 'ECONNREFUSED');
    const syn = cap.segs.find((g) => g.flags === TH_SYN)!;
    const rst = cap.segs.find((g) => (g.flags & TH_RST) !== 0)!;
    expect(rst.flags).toBe(TH_RST | TH_ACK);
    expect(rst.seq).toBe(0);
    expect(rst.ack).toBe((syn.seq + 1) >>> 0);
    expect(tcpstat_read(p.b).tcps_noport).toBe(1);
    /* net.inet.tcp.log_refused logs the attempt. */
    await sysctl(p.b, 'net.inet.tcp.log_refused', 1);
    const d = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await expectErr(p.a.sys.connect(d, sin('10.0.0.2', 82)), 'ECONNREFUSED');
    expect(p.b.dmesg()).toMatch(/Connection attempt to TCP 10\.0\.0\.2:82 from 10\.0\.0\.1:\d+/);
  });

  it('an ACK to a closed port: RST with seq = SEG.ACK; a RST to a closed port: nothing', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    peer.send({ sport: 1234, dport: 99, seq: 5, ack: 777777, flags: TH_ACK });
    peer.send({ sport: 1234, dport: 99, seq: 5, ack: 777777, flags: TH_RST | TH_ACK });
    peer.send({ sport: 1234, dport: 99, seq: 5, flags: TH_RST });
    await p.L.w.advance(1);
    expect(peer.got.length).toBe(1);
    expect(peer.got[0]).toMatchObject({ flags: TH_RST, seq: 777777, ack: 0 });
  });

  it('a bound socket that is not listening answers with a RST', async () => {
    const p = await pair();
    const x = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(x, sin('0.0.0.0', 82));
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await expectErr(p.a.sys.connect(c, sin('10.0.0.2', 82)), 'ECONNREFUSED');
  });

  it('RSTs to closed ports are limited to net.inet.tcp.rstppslimit per second', async () => {
    const p = await pair();
    await sysctl(p.b, 'net.inet.tcp.rstppslimit', 10);
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    for (let i = 0; i < 25; i++) peer.send({ sport: 2000 + i, dport: 99, seq: 1, flags: TH_SYN });
    await p.L.w.advance(1);
    expect(peer.got.length).toBe(10);
    expect(tcpstat_read(p.b).tcps_ratelimited).toBe(15);
    await p.L.w.advance(1000);
    peer.send({ sport: 3000, dport: 99, seq: 1, flags: TH_SYN });
    await p.L.w.advance(1);
    expect(peer.got.length).toBe(11);
  });

  it('an ACK to a listener with no connection: RST (tcps_badsyn)', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    peer.send({ sport: 1234, dport: 80, seq: 10, ack: 4242, flags: TH_ACK });
    await p.L.w.advance(1);
    expect(peer.got).toMatchObject([{ flags: TH_RST, seq: 4242 }]);
    expect(tcpstat_read(p.b).tcps_badsyn).toBe(1);
  });

  it('close with SO_LINGER {on, 0} aborts with a RST; the peer reads ECONNRESET', async () => {
    const p = await pair();
    const cap = capture(p.bus);
    const { c, s } = await connect(p);
    const lport = pcbs(p.a)[0]!.lport;
    await p.a.sys.setsockopt(c, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 });
    await p.a.sys.send(c, enc.encode('unsent?'));
    await p.a.sys.close(c);
    await p.L.w.advance(1);
    const rst = cap.segs.filter((g) => g.src === '10.0.0.1' && (g.flags & TH_RST) !== 0);
    expect(rst.length).toBe(1);
    expect(cap.segs.some((g) => g.src === '10.0.0.1' && (g.flags & TH_FIN) !== 0)).toBe(false);
    expect(pcbs(p.a).length).toBe(0);
    const buf = new Uint8Array(16);
    /* The data that arrived before the RST is still read, then the error. */
    expect(await p.b.sys.recv(s, buf)).toBe(7);
    await expectErr(p.b.sys.recv(s, buf), 'ECONNRESET');
    expect(pcbState(p.b, 80, lport)).toBe(null);
  });

  it('data arriving after the user closed (state > CLOSE_WAIT, no descriptor): RST, tcps_rcvafterclose', async () => {
    const r = await rawConnect();
    const { p, peer } = r;
    await p.b.sys.close(r.fd);
    await p.L.w.advance(1);
    const fin = peer.got.find((g) => (g.flags & TH_FIN) !== 0)!;
    expect(fin).toBeDefined();
    expect(pcbState(p.b, 80, r.sport)).toBe('FIN_WAIT_1');
    const n = peer.got.length;
    peer.send({ sport: r.sport, dport: 80, seq: r.mySeq, ack: fin.seq + 1, flags: TH_ACK | TH_PUSH, payload: enc.encode('late') });
    await p.L.w.advance(1);
    expect(last(peer, n)).toMatchObject([{ flags: TH_RST }]);
    expect(tcpstat_read(p.b).tcps_rcvafterclose).toBe(1);
    expect(pcbState(p.b, 80, r.sport)).toBe(null);
  });

  it('SYN_SENT: an ACK outside (ISS, SND.NXT] draws a RST and is otherwise ignored', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.a, '10.0.0.3', '10.0.0.1');
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    const conn = p.a.sys.connect(c, sin('10.0.0.3', 80));
    await p.L.w.advance(1);
    const syn = peer.got.find((g) => g.flags === TH_SYN)!;
    peer.send({ sport: 80, dport: syn.sport, seq: 500, ack: syn.seq + 7, flags: TH_SYN | TH_ACK });
    /* A RST whose ACK is not acceptable is ignored (RFC 9293 3.10.7.3). */
    peer.send({ sport: 80, dport: syn.sport, seq: 0, ack: syn.seq + 9, flags: TH_RST | TH_ACK });
    await p.L.w.advance(1);
    expect(peer.got.filter((g) => (g.flags & TH_RST) !== 0)).toMatchObject([{ flags: TH_RST, seq: (syn.seq + 7) >>> 0 }]);
    expect(pcbs(p.a)[0]!.state).toBe('SYN_SENT');
    /* The right answer completes it. */
    peer.send({ sport: 80, dport: syn.sport, seq: 500, ack: syn.seq + 1, flags: TH_SYN | TH_ACK });
    await conn;
    expect(pcbs(p.a)[0]!.state).toBe('ESTABLISHED');
  });

  it('SYN_SENT: a RST with an acceptable ACK refuses the connection', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.a, '10.0.0.3', '10.0.0.1');
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    const conn = p.a.sys.connect(c, sin('10.0.0.3', 80));
    await p.L.w.advance(1);
    const syn = peer.got.find((g) => g.flags === TH_SYN)!;
    peer.send({ sport: 80, dport: syn.sport, seq: 0, ack: syn.seq + 1, flags: TH_RST | TH_ACK });
    await expectErr(conn, 'ECONNREFUSED');
  });

  it('a half-open connection lives in the SYN cache: an unacceptable ACK gets the SYN,ACK again; an in-window RST drops it', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    peer.send({ sport: 555, dport: 80, seq: 100, flags: TH_SYN });
    await p.L.w.advance(1);
    const sa = peer.got[0]!;
    expect(sa).toMatchObject({ flags: TH_SYN | TH_ACK, ack: 101 });
    /* No socket or PCB yet (NetBSD's syn_cache): only an entry. */
    expect(pcbState(p.b, 80, 555)).toBe(null);
    expect(await p.b.sys.sysctl('net.inet.tcp.syn_cache_count')).toBe(1);
    peer.send({ sport: 555, dport: 80, seq: 101, ack: sa.seq + 99, flags: TH_ACK });
    await p.L.w.advance(1);
    expect(peer.got[1]).toMatchObject({ flags: TH_SYN | TH_ACK, seq: sa.seq, ack: 101 });
    /* A RST outside the window the SYN,ACK offered is ignored; one inside drops the entry. */
    peer.send({ sport: 555, dport: 80, seq: 100, flags: TH_RST });
    await p.L.w.advance(1);
    expect(await p.b.sys.sysctl('net.inet.tcp.syn_cache_count')).toBe(1);
    peer.send({ sport: 555, dport: 80, seq: 101, flags: TH_RST });
    await p.L.w.advance(1);
    expect(await p.b.sys.sysctl('net.inet.tcp.syn_cache_count')).toBe(0);
    expect(tcpstat_read(p.b).tcps_sc_reset).toBe(1);
    /* The handshake's ACK now finds nothing: a RST. */
    peer.send({ sport: 555, dport: 80, seq: 101, ack: sa.seq + 1, flags: TH_ACK });
    await p.L.w.advance(1);
    expect(peer.got[2]).toMatchObject({ flags: TH_RST, seq: (sa.seq + 1) >>> 0 });
    expect(pcbState(p.b, 80, 555)).toBe(null);
  });
});

describe('TCP accepts RSTs only at rcv_nxt (RFC 5961)', () => {
  it('an exact RST resets the connection: reads get ECONNRESET, writes EPIPE', async () => {
    const r = await rawConnect();
    r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq, flags: TH_RST });
    await r.p.L.w.advance(1);
    expect(pcbState(r.p.b, 80, r.sport)).toBe(null);
    const buf = new Uint8Array(4);
    await expectErr(r.p.b.sys.recv(r.fd, buf), 'ECONNRESET');
    await expectErr(r.p.b.sys.send(r.fd, buf), 'EPIPE');
    expect(tcpstat_read(r.p.b).tcps_drops).toBe(1);
  });

  it('an in-window RST off rcv_nxt gets a challenge ACK (seq SND.NXT, ack RCV.NXT); the connection survives', async () => {
    const r = await rawConnect();
    const n = r.peer.got.length;
    r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq + 100, flags: TH_RST });
    await r.p.L.w.advance(1);
    expect(last(r.peer, n)).toMatchObject([{ flags: TH_ACK, seq: r.itsSeq, ack: r.mySeq }]);
    expect(pcbState(r.p.b, 80, r.sport)).toBe('ESTABLISHED');
    expect(tcpstat_read(r.p.b).tcps_chalacks).toBe(1);
  });

  it('a RST outside the window is dropped silently', async () => {
    const r = await rawConnect();
    const n = r.peer.got.length;
    r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq + 10_000_000, flags: TH_RST });
    r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq - 5000, flags: TH_RST });
    await r.p.L.w.advance(1);
    expect(last(r.peer, n)).toEqual([]);
    expect(pcbState(r.p.b, 80, r.sport)).toBe('ESTABLISHED');
  });

  it('a SYN on an established connection gets a challenge ACK, never a RST (RFC 5961 4.2)', async () => {
    const r = await rawConnect();
    const n = r.peer.got.length;
    r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq, flags: TH_SYN });
    r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq + 50, flags: TH_SYN });
    await r.p.L.w.advance(1);
    const got = last(r.peer, n);
    expect(got.length).toBe(2);
    for (const g of got) expect(g).toMatchObject({ flags: TH_ACK, seq: r.itsSeq, ack: r.mySeq });
    expect(pcbState(r.p.b, 80, r.sport)).toBe('ESTABLISHED');
  });

  it('challenge ACKs are limited to net.inet.tcp.ackdropppslimit per second', async () => {
    const r = await rawConnect();
    await sysctl(r.p.b, 'net.inet.tcp.ackdropppslimit', 3);
    const n = r.peer.got.length;
    for (let i = 0; i < 8; i++) r.peer.send({ sport: r.sport, dport: 80, seq: r.mySeq + 1 + i, flags: TH_RST });
    await r.p.L.w.advance(1);
    expect(last(r.peer, n).length).toBe(3);
    expect(tcpstat_read(r.p.b)).toMatchObject({ tcps_chalacks: 3, tcps_ratelimited: 5 });
  });

  it('a RST at rcv_nxt ends TIME_WAIT (RFC 793 behaviour; RFC 1337 is not implemented, as NetBSD)', async () => {
    const r = await rawConnect();
    const { p, peer } = r;
    /* b closes first and ends in TIME_WAIT. */
    await p.b.sys.close(r.fd);
    await p.L.w.advance(1);
    const fin = peer.got.find((g) => (g.flags & TH_FIN) !== 0)!;
    peer.send({ sport: r.sport, dport: 80, seq: r.mySeq, ack: fin.seq + 1, flags: TH_FIN | TH_ACK });
    await p.L.w.advance(1);
    expect(pcbState(p.b, 80, r.sport)).toBe('TIME_WAIT');
    peer.send({ sport: r.sport, dport: 80, seq: r.mySeq + 1, flags: TH_RST });
    await p.L.w.advance(1);
    expect(pcbState(p.b, 80, r.sport)).toBe(null);
  });
});

export type { Kernel };
