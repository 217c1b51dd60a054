/*
 * TCP's timers (sim host, virtual time): retransmission after the loss of
 * a SYN, a SYN-ACK, data and a FIN (RFC 6298: 1 s initial RTO, SRTT /
 * RTTVAR, exponential backoff, Karn), giving up with ETIMEDOUT after 12
 * retransmissions or keepinit; delayed ACKs (delack_ticks, every second
 * full segment at once); the persist timer probing a zero window; and
 * keepalive (SO_KEEPALIVE, the keep* sysctls and TCP_KEEP* options).
 */
import { describe, it, expect } from 'vitest';
import { AF_INET, SO_KEEPALIVE, SO_RCVBUF, SOCK_STREAM, SOL_SOCKET } from '../include/socket.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { TCP_INFO, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINIT, TCP_KEEPINTVL, TCP_NODELAY } from '../net/lib/libnetinet/tcp_var.ts';
import { tcpstat_read, type TcpInfo } from '../net/lib/libnetinet/tcp_usrreq.ts';
import {
  TH_ACK, TH_FIN, TH_SYN, arpWarm, capture, connect, dropFirst, expectBytes, expectErr, isTcp, pair, pattern,
  pcbState, pcbs, readn, sin, sysctl, until, writeall,
} from './tcp_helpers.ts';

const enc = new TextEncoder();

function gaps(ts: number[]): number[] {
  return ts.slice(1).map((t, i) => Math.round((t - ts[i]!) / 1e6));
}

describe('TCP retransmission (RFC 6298)', () => {
  it('a lost SYN is sent again after the 1 s initial RTO; the window then starts at one segment', async () => {
    const p = await pair();
    await arpWarm(p);
    const cap = capture(p.bus);
    p.bus.setFaults({ seed: 1, drop: 1, filter: dropFirst(1, (g) => g.flags === TH_SYN) });
    const t0 = p.L.w.nowMs();
    const { c } = await connect(p);
    const syns = cap.sent.filter((g) => g.flags === TH_SYN);
    expect(syns.length).toBe(2);
    expect(gaps(syns.map((g) => g.t))).toEqual([1000]);
    expect(syns[1]!.seq).toBe(syns[0]!.seq);
    expect(p.L.w.nowMs() - t0).toBeGreaterThanOrEqual(1000);
    const info = await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_INFO) as TcpInfo;
    expect(info.tcpi_snd_cwnd).toBe(info.tcpi_snd_mss);
    expect(tcpstat_read(p.a).tcps_rexmttimeo).toBe(1);
  });

  it('a lost SYN-ACK: the listener sends it again (RTO), or at once when the SYN is repeated', async () => {
    const p = await pair();
    await arpWarm(p);
    const cap = capture(p.bus);
    p.bus.setFaults({ seed: 1, drop: 1, filter: dropFirst(1, (g) => g.flags === (TH_SYN | TH_ACK)) });
    await connect(p);
    const sa = cap.sent.filter((g) => g.flags === (TH_SYN | TH_ACK));
    /* The RTO and the client's repeated SYN may both send it (1 s each). */
    expect(sa.length).toBeGreaterThanOrEqual(2);
    expect(sa.length).toBeLessThanOrEqual(3);
    expect(sa[1]!.seq).toBe(sa[0]!.seq);
    expect(gaps(sa.map((g) => g.t))[0]).toBeLessThanOrEqual(1000);
    expect(pcbs(p.a)[0]!.state).toBe('ESTABLISHED');
  });

  it('a lost data segment is resent after the RTO with backoff; tcps_rexmttimeo, tcps_sndrexmitpack', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    const cap = capture(p.bus);
    /* Lose the segment and its first retransmission: the second waits twice as long. */
    p.bus.setFaults({ seed: 1, drop: 1, filter: dropFirst(2, (g) => g.len > 0) });
    await p.a.sys.send(c, enc.encode('lost twice'));
    expect(new TextDecoder().decode(await readn(p.b, s, 10))).toBe('lost twice');
    const data = cap.sent.filter((g) => g.len > 0);
    expect(data.length).toBe(3);
    const [d1, d2] = gaps(data.map((g) => g.t));
    expect(d2).toBe(2 * d1!);
    expect(d1).toBeGreaterThanOrEqual(1000);
    expect(tcpstat_read(p.a)).toMatchObject({ tcps_rexmttimeo: 2, tcps_sndrexmitpack: 2, tcps_sndrexmitbyte: 20 });
  });

  it('a lost FIN is resent and the close completes', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    const cap = capture(p.bus);
    p.bus.setFaults({ seed: 1, drop: 1, filter: dropFirst(1, (g) => (g.flags & TH_FIN) !== 0) });
    await p.a.sys.close(c);
    const buf = new Uint8Array(4);
    expect(await p.b.sys.recv(s, buf)).toBe(0);
    const fins = cap.sent.filter((g) => g.src === '10.0.0.1' && (g.flags & TH_FIN) !== 0);
    expect(fins.length).toBe(2);
    expect(fins[1]!.seq).toBe(fins[0]!.seq);
    expect(gaps(fins.map((g) => g.t))[0]).toBeGreaterThanOrEqual(1000);
  });

  it('backoff doubles up to 64 s and the connection is dropped with ETIMEDOUT after 12 retransmissions', async () => {
    const p = await pair();
    const { c } = await connect(p);
    const cap = capture(p.bus);
    p.bus.setFaults({ seed: 1, drop: 1, filter: (buf, len) => isTcp(buf, len, (g) => g.src === '10.0.0.1' && g.len > 0) });
    await p.a.sys.send(c, enc.encode('into the void'));
    const buf = new Uint8Array(4);
    await expectErr(p.a.sys.recv(c, buf), 'ETIMEDOUT');
    const tx = cap.sent.filter((g) => g.src === '10.0.0.1' && g.len > 0).map((g) => g.t);
    expect(tx.length).toBe(13);
    const g = gaps(tx);
    /*
     * RTO 1.5 s from the handshake's sample, doubled each time, capped at
     * 64 s; after the fourth backoff SRTT is folded into RTTVAR (4.4BSD,
     * RFC 6298 5.7 allows it), which takes the sixth straight to the cap.
     */
    expect(g).toEqual([1500, 3000, 6000, 12000, 24000, 64000, 64000, 64000, 64000, 64000, 64000, 64000]);
    expect(tcpstat_read(p.a)).toMatchObject({ tcps_timeoutdrop: 1, tcps_rexmttimeo: 12, tcps_drops: 1 });
    expect(pcbs(p.a).length).toBe(0);
  });

  it('a connection attempt nobody answers fails with ETIMEDOUT after keepinit (75 s)', async () => {
    const p = await pair();
    p.bus.setFaults({ seed: 1, drop: 1, filter: (buf, len) => isTcp(buf, len, (g) => g.flags === TH_SYN) });
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    const t0 = p.L.w.nowMs();
    await expectErr(p.a.sys.connect(c, sin('10.0.0.2', 80)), 'ETIMEDOUT');
    expect(Math.round(p.L.w.nowMs() - t0)).toBeGreaterThanOrEqual(75_000);
    expect(Math.round(p.L.w.nowMs() - t0)).toBeLessThan(75_100);
    expect(tcpstat_read(p.a)).toMatchObject({ tcps_conndrops: 1, tcps_keepdrops: 1 });
    /* TCP_KEEPINIT shortens it per socket. */
    const d = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await p.a.sys.setsockopt(d, IPPROTO_TCP, TCP_KEEPINIT, 5);
    const t1 = p.L.w.nowMs();
    await expectErr(p.a.sys.connect(d, sin('10.0.0.2', 80)), 'ETIMEDOUT');
    expect(Math.round(p.L.w.nowMs() - t1)).toBe(5000);
  });

  it('SRTT follows the path delay (RTTVAR shrinks with steady samples) and the RTO stays above 1 s', async () => {
    const p = await pair();
    p.bus.setLatency(500e6);
    const { c, s } = await connect(p);
    const data = pattern(300_000);
    const [got] = await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
    expectBytes(got, data);
    const info = await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_INFO) as TcpInfo;
    /* RTT 1 s on a 2 Hz clock: samples of 2-3 ticks. */
    expect(info.tcpi_rtt).toBeGreaterThanOrEqual(1_000_000);
    expect(info.tcpi_rtt).toBeLessThanOrEqual(1_600_000);
    expect(info.tcpi_rto).toBeGreaterThanOrEqual(info.tcpi_rtt);
    expect(info.tcpi_rto).toBeLessThanOrEqual(info.tcpi_rtt + 4 * info.tcpi_rttvar + 500_000);
  });

  it('Karn: without timestamps a retransmitted segment yields no RTT sample', async () => {
    const p = await pair(1, async (a, b) => {
      await sysctl(a, 'net.inet.tcp.timestamps', 0);
      await sysctl(b, 'net.inet.tcp.timestamps', 0);
    });
    const { c, s } = await connect(p);
    const before = tcpstat_read(p.a).tcps_rttupdated;
    p.bus.setFaults({ seed: 1, drop: 1, filter: dropFirst(1, (g) => g.len > 0) });
    await p.a.sys.send(c, enc.encode('x'));
    await readn(p.b, s, 1);
    await p.L.w.advance(500);
    expect(tcpstat_read(p.a).tcps_rttupdated).toBe(before);
    /* A segment sent and acknowledged normally is timed again. */
    await p.a.sys.send(c, enc.encode('y'));
    await readn(p.b, s, 1);
    await p.L.w.advance(500);
    expect(tcpstat_read(p.a).tcps_rttupdated).toBe(before + 1);
  });
});

describe('TCP delayed ACK', () => {
  it('one small segment is ACKed after delack_ticks; every second full segment at once', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    await p.a.sys.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, 1);
    const cap = capture(p.bus);
    await p.a.sys.send(c, enc.encode('small'));
    await readn(p.b, s, 5);
    await p.L.w.advance(300);
    const data = cap.segs.find((g) => g.len > 0)!;
    const ack = cap.segs.find((g) => g.src === '10.0.0.2' && g.ack === ((data.seq + 5) >>> 0))!;
    expect(Math.round((ack.t - data.t) / 1e6)).toBe(200);
    expect(tcpstat_read(p.b).tcps_delack).toBe(1);
    /* net.inet.tcp.delack_ticks: 5 ticks = 50 ms. */
    await sysctl(p.b, 'net.inet.tcp.delack_ticks', 5);
    const n = cap.segs.length;
    await p.a.sys.send(c, enc.encode('again'));
    await readn(p.b, s, 5);
    await p.L.w.advance(100);
    const d2 = cap.segs.slice(n).find((g) => g.len > 0)!;
    const a2 = cap.segs.slice(n).find((g) => g.src === '10.0.0.2' && g.ack === ((d2.seq + 5) >>> 0))!;
    expect(Math.round((a2.t - d2.t) / 1e6)).toBe(50);
    /* Two full segments: the second is ACKed at once. */
    const m = cap.segs.length;
    await writeall(p.a, c, pattern(2 * 1448));
    await readn(p.b, s, 2 * 1448);
    await p.L.w.advance(100);
    const segs = cap.segs.slice(m);
    const second = segs.filter((g) => g.len > 0)[1]!;
    const a3 = segs.find((g) => g.src === '10.0.0.2' && g.ack === ((second.seq + second.len) >>> 0))!;
    expect(a3.t).toBe(second.t);
  });
});

describe('TCP persist timer', () => {
  it('a zero window is probed (5 s, backing off within 5-60 s) until the reader makes room', async () => {
    const p = await pair();
    const { c, s } = await connect(p, 80, {});
    await p.b.sys.setsockopt(s, SOL_SOCKET, SO_RCVBUF, 8192);
    const cap = capture(p.bus);
    const data = pattern(100_000);
    const writer = writeall(p.a, c, data);
    /* Nobody reads on b: the window closes. */
    await until(p.L.w, () => cap.segs.some((g) => g.src === '10.0.0.2' && g.win === 0 && (g.flags & TH_ACK) !== 0), 10_000);
    await p.L.w.advance(400_000);
    const probes = cap.sent.filter((g) => g.src === '10.0.0.1' && g.len === 1);
    expect(probes.length).toBeGreaterThanOrEqual(8);
    /* RTO-based intervals backed off 1, 2, 4, ... times, within 5 s .. 60 s. */
    const pg = gaps(probes.map((g) => g.t));
    expect(pg[0]).toBe(5000);
    expect(pg[pg.length - 1]).toBe(60000);
    for (let i = 0; i < pg.length; i++) {
      expect(pg[i]).toBeGreaterThanOrEqual(5000);
      expect(pg[i]).toBeLessThanOrEqual(60000);
      if (i > 0) expect(pg[i]).toBeGreaterThanOrEqual(pg[i - 1]!);
    }
    /* Every probe is answered with the window still 0. */
    for (const g of probes) {
      expect(cap.segs.some((r) => r.src === '10.0.0.2' && r.t === g.t && r.win === 0 && r.ack === g.seq)).toBe(true);
    }
    expect(tcpstat_read(p.a).tcps_persisttimeo).toBeGreaterThanOrEqual(4);
    expect(tcpstat_read(p.a).tcps_sndprobe).toBe(probes.length);
    expect(tcpstat_read(p.b).tcps_rcvwinprobe).toBeGreaterThanOrEqual(probes.length - 1);
    /* Reading opens the window (a window update), and the rest flows. */
    const got = await readn(p.b, s, data.length);
    await writer;
    expectBytes(got, data);
    expect(pcbState(p.a, pcbs(p.a)[0]!.lport)).toBe('ESTABLISHED');
  });
});

describe('TCP keepalive', () => {
  it('defaults come from the keep* sysctls (slow ticks) and show in TCP_KEEP* (seconds)', async () => {
    const p = await pair();
    const s = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    expect(await p.a.sys.getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE)).toBe(7200);
    expect(await p.a.sys.getsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL)).toBe(75);
    expect(await p.a.sys.getsockopt(s, IPPROTO_TCP, TCP_KEEPCNT)).toBe(8);
    expect(await p.a.sys.getsockopt(s, IPPROTO_TCP, TCP_KEEPINIT)).toBe(75);
    expect(await sysctl(p.a, 'net.inet.tcp.keepidle')).toBe(14400);
    await sysctl(p.a, 'net.inet.tcp.keepidle', 20);
    const t = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    expect(await p.a.sys.getsockopt(t, IPPROTO_TCP, TCP_KEEPIDLE)).toBe(10);
  });

  it('probes an idle peer (which answers), and drops a dead one after keepcnt probes: ETIMEDOUT', async () => {
    const p = await pair();
    const { c } = await connect(p, 80, {
      setup: async (fd) => {
        await p.a.sys.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        await p.a.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 10);
        await p.a.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 5);
        await p.a.sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
      },
    });
    const cap = capture(p.bus);
    const t0 = p.L.w.nowMs();
    await p.L.w.advance(25_000);
    /* An answered probe every 10 s of idleness; seq = snd_una - 1, no data. */
    const probes = cap.segs.filter((g) => g.src === '10.0.0.1' && g.flags === TH_ACK && g.len === 0);
    expect(probes.length).toBe(2);
    expect(probes.map((g) => Math.round(g.t / 1e6 - t0))).toEqual([10000, 20000]);
    expect(probes[0]!.seq).toBe((answers0(cap, p)[0]!.ack - 1) >>> 0);
    const answers = cap.segs.filter((g) => g.src === '10.0.0.2');
    expect(answers.length).toBe(2);
    expect(answers[0]!.ack).toBe((probes[0]!.seq + 1) >>> 0);
    /* Now the peer goes silent. */
    p.bus.setFaults({ seed: 1, drop: 1, filter: (buf, len) => isTcp(buf, len, (g) => g.src === '10.0.0.2') });
    const n = cap.sent.length;
    const t1 = p.L.w.nowMs();
    const buf = new Uint8Array(4);
    await expectErr(p.a.sys.recv(c, buf), 'ETIMEDOUT');
    const dead = cap.sent.slice(n).filter((g) => g.src === '10.0.0.1' && g.flags === TH_ACK);
    /* The probe at 30 s (10 s after the last answer), then every 5 s; dropped 15 s after the first unanswered one, with a RST. */
    expect(dead.map((g) => Math.round(g.t / 1e6 - t0))).toEqual([30000, 35000, 40000]);
    const rst = cap.sent.slice(n).filter((g) => g.src === '10.0.0.1' && (g.flags & 0x04) !== 0);
    expect(rst.map((g) => Math.round(g.t / 1e6 - t0))).toEqual([45000]);
    expect(Math.round(p.L.w.nowMs() - t0)).toBe(45000);
    expect(p.L.w.nowMs() - t1).toBeLessThan(25_000);
    expect(tcpstat_read(p.a)).toMatchObject({ tcps_keepprobe: 5, tcps_keepdrops: 1 });
  });

  it('without SO_KEEPALIVE an idle connection is left alone', async () => {
    const p = await pair();
    await connect(p);
    const cap = capture(p.bus);
    await p.L.w.advance(3 * 3600_000);
    expect(cap.segs.length).toBe(0);
    expect(pcbs(p.a)[0]!.state).toBe('ESTABLISHED');
  });
});

function answers0(cap: ReturnType<typeof capture>, _p: unknown): ReturnType<typeof capture>['segs'] {
  return cap.segs.filter((g) => g.src === '10.0.0.2');
}
