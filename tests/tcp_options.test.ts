/*
 * TCP options and windows: the MSS (clamped to the interface MTU, and
 * TCP_MAXSEG), window scaling with buffers over 64 KB, timestamps with
 * PAWS dropping an old segment (RFC 7323), Nagle and TCP_NODELAY, sender
 * and receiver silly-window avoidance with window updates, and send and
 * receive buffer auto-sizing.
 */
import { describe, it, expect } from 'vitest';
import { SIOCSIFMTU } from '../include/if.ts';
import { AF_INET, SO_RCVBUF, SO_SNDBUF, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET } from '../include/socket.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { TCP_INFO, TCP_MAXSEG, TCP_NODELAY } from '../net/lib/libnetinet/tcp_var.ts';
import { tcpstat_read, type TcpInfo } from '../net/lib/libnetinet/tcp_usrreq.ts';
import {
  RawPeer, TH_ACK, TH_PUSH, TH_SYN, capture, connect, expectBytes, pair, pattern, readn, sin, sysctl, until,
  writeall, type Pair,
} from './tcp_helpers.ts';

const enc = new TextEncoder();

async function setmtu(p: Pair, which: 'a' | 'b', mtu: number): Promise<void> {
  const k = which === 'a' ? p.a : p.b;
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif0', ifr_mtu: mtu });
  await k.sys.close(s);
}

describe('TCP MSS', () => {
  it('each side advertises its interface MTU less 40 and sends no more than the peer allows', async () => {
    const p = await pair();
    await setmtu(p, 'b', 1000);
    const cap = capture(p.bus);
    const { c, s } = await connect(p);
    const syn = cap.segs.find((g) => g.flags === TH_SYN)!;
    const synack = cap.segs.find((g) => g.flags === (TH_SYN | TH_ACK))!;
    expect(syn.options.find((o) => o.kind === 'mss')).toEqual({ kind: 'mss', mss: 1460 });
    expect(synack.options.find((o) => o.kind === 'mss')).toEqual({ kind: 'mss', mss: 960 });
    const up = pattern(50_000);
    const down = pattern(50_000, 3);
    await Promise.all([writeall(p.a, c, up), writeall(p.b, s, down), readn(p.b, s, up.length), readn(p.a, c, down.length)]);
    const fromA = cap.segs.filter((g) => g.src === '10.0.0.1' && g.len > 0);
    const fromB = cap.segs.filter((g) => g.src === '10.0.0.2' && g.len > 0);
    /* Full segments: the MSS less the 12 bytes of timestamp option. */
    expect(Math.max(...fromA.map((g) => g.len))).toBe(960 - 12);
    expect(Math.max(...fromB.map((g) => g.len))).toBe(960 - 12);
    /* Every segment carries DF (path MTU discovery). */
    expect(cap.segs.every((g) => g.df)).toBe(true);
    const info = await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_INFO) as TcpInfo;
    expect(info.tcpi_snd_mss).toBe(948);
  });

  it('a 9000-byte MTU gives an 8960 MSS; TCP_MAXSEG lowers what we advertise and send', async () => {
    const p = await pair();
    await setmtu(p, 'a', 9000);
    await setmtu(p, 'b', 9000);
    const cap = capture(p.bus);
    const { c, s } = await connect(p, 80, { setup: async (fd) => { await p.a.sys.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 700); } });
    const syn = cap.segs.find((g) => g.flags === TH_SYN)!;
    const synack = cap.segs.find((g) => g.flags === (TH_SYN | TH_ACK))!;
    expect(syn.options.find((o) => o.kind === 'mss')).toEqual({ kind: 'mss', mss: 700 });
    expect(synack.options.find((o) => o.kind === 'mss')).toEqual({ kind: 'mss', mss: 8960 });
    const data = pattern(100_000);
    await Promise.all([writeall(p.a, c, data), writeall(p.b, s, data), readn(p.b, s, data.length), readn(p.a, c, data.length)]);
    expect(Math.max(...cap.segs.filter((g) => g.src === '10.0.0.1').map((g) => g.len))).toBe(700 - 12);
    expect(Math.max(...cap.segs.filter((g) => g.src === '10.0.0.2').map((g) => g.len))).toBe(700 - 12);
    expect(await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_MAXSEG)).toBe(700);
  });
});

describe('TCP window scaling (RFC 7323)', () => {
  it('buffers over 64 KB: the scaled window exceeds 65535 and more than 64 KB is in flight', async () => {
    const p = await pair();
    p.bus.setLatency(5e6);
    const cap = capture(p.bus);
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.setsockopt(ls, SOL_SOCKET, SO_RCVBUF, 200_000);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await p.a.sys.setsockopt(c, SOL_SOCKET, SO_SNDBUF, 200_000);
    const acc = p.b.sys.accept(ls);
    await p.a.sys.connect(c, sin('10.0.0.2', 80));
    const { fd } = await acc;
    const syn = cap.segs.find((g) => g.flags === TH_SYN)!;
    const synack = cap.segs.find((g) => g.flags === (TH_SYN | TH_ACK))!;
    /* Shift 3 lets 256 KB (kern.sbmax, the auto-sizing limit) be advertised. */
    expect(syn.options.find((o) => o.kind === 'wscale')).toEqual({ kind: 'wscale', shift: 3 });
    expect(synack.options.find((o) => o.kind === 'wscale')).toEqual({ kind: 'wscale', shift: 3 });
    /* A SYN's own window is never scaled. */
    expect(synack.win).toBe(65535);
    const data = pattern(2_000_000);
    const [got] = await Promise.all([readn(p.b, fd, data.length), writeall(p.a, c, data)]);
    expectBytes(got, data);
    const wins = cap.segs.filter((g) => g.src === '10.0.0.2' && (g.flags & TH_SYN) === 0).map((g) => g.win << 3);
    expect(Math.max(...wins)).toBeGreaterThan(150_000);
    /* Bytes in flight: the highest byte sent less the highest ACK seen so far. */
    let maxack = 0;
    let inflight = 0;
    const base = syn.seq;
    for (const g of cap.segs) {
      if (g.src === '10.0.0.2') maxack = Math.max(maxack, (g.ack - base) >>> 0);
      else if (g.len > 0) inflight = Math.max(inflight, ((g.seq + g.len - base) >>> 0) - maxack);
    }
    expect(inflight).toBeGreaterThan(65535);
    expect(await p.b.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)).toBe(200_000);
  });

  it('win_scale 0 on one side: neither side scales', async () => {
    const p = await pair(1, async (a) => { await sysctl(a, 'net.inet.tcp.win_scale', 0); });
    const cap = capture(p.bus);
    const { c, s } = await connect(p);
    const syn = cap.segs.find((g) => g.flags === TH_SYN)!;
    const synack = cap.segs.find((g) => g.flags === (TH_SYN | TH_ACK))!;
    expect(syn.options.some((o) => o.kind === 'wscale')).toBe(false);
    expect(synack.options.some((o) => o.kind === 'wscale')).toBe(false);
    const data = pattern(300_000);
    const [got] = await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
    expectBytes(got, data);
    const info = await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_INFO) as TcpInfo;
    expect([info.tcpi_snd_wscale, info.tcpi_rcv_wscale]).toEqual([0, 0]);
  });
});

describe('TCP timestamps and PAWS (RFC 7323)', () => {
  it('timestamps are echoed, and a segment with an older timestamp is dropped and ACKed (tcps_pawsdrop)', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    const ts = (val: number, ecr: number) => [{ kind: 'nop' as const }, { kind: 'nop' as const }, { kind: 'ts' as const, val, ecr }];
    peer.send({ sport: 999, dport: 80, seq: 5000, flags: TH_SYN, options: [{ kind: 'mss', mss: 1460 }, ...ts(100, 0)] });
    await p.L.w.advance(1);
    const sa = peer.got[0]!;
    const sats = sa.options.find((o) => o.kind === 'ts') as { kind: 'ts'; val: number; ecr: number };
    expect(sats.ecr).toBe(100);
    const mine = sats.val;
    peer.send({ sport: 999, dport: 80, seq: 5001, ack: sa.seq + 1, flags: TH_ACK, options: ts(101, mine) });
    await p.L.w.advance(1);
    const { fd } = await p.b.sys.accept(ls);
    peer.send({ sport: 999, dport: 80, seq: 5001, ack: sa.seq + 1, flags: TH_ACK | TH_PUSH, options: ts(200, mine), payload: enc.encode('new') });
    await p.L.w.advance(300);
    expect(new TextDecoder().decode(await readn(p.b, fd, 3))).toBe('new');
    const n = peer.got.length;
    /* seq is right but the timestamp is older than ts_recent (200): an old duplicate. */
    peer.send({ sport: 999, dport: 80, seq: 5004, ack: sa.seq + 1, flags: TH_ACK | TH_PUSH, options: ts(150, mine), payload: enc.encode('old') });
    await p.L.w.advance(1);
    const acks = peer.since(n);
    expect(acks.length).toBe(1);
    expect(acks[0]).toMatchObject({ flags: TH_ACK, ack: 5004 });
    const echo = acks[0]!.options.find((o) => o.kind === 'ts') as { kind: 'ts'; val: number; ecr: number };
    expect(echo.ecr).toBe(200);
    expect(tcpstat_read(p.b).tcps_pawsdrop).toBe(1);
    /* Nothing was delivered; the next good segment is. */
    peer.send({ sport: 999, dport: 80, seq: 5004, ack: sa.seq + 1, flags: TH_ACK | TH_PUSH, options: ts(201, mine), payload: enc.encode('ok!') });
    expect(new TextDecoder().decode(await readn(p.b, fd, 3))).toBe('ok!');
  });

  it('without a timestamp in the peer\'s SYN, none are sent', async () => {
    const p = await pair(1, async (a) => { await sysctl(a, 'net.inet.tcp.timestamps', 0); });
    const cap = capture(p.bus);
    const { c, s } = await connect(p);
    await p.a.sys.send(c, enc.encode('x'));
    await readn(p.b, s, 1);
    expect(cap.segs.every((g) => !g.options.some((o) => o.kind === 'ts'))).toBe(true);
  });
});

describe('TCP Nagle, silly windows and window updates', () => {
  it('Nagle holds a small segment while one is unacknowledged; TCP_NODELAY sends at once', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    const cap = capture(p.bus);
    await p.a.sys.send(c, enc.encode('one'));
    await p.a.sys.send(c, enc.encode('two'));
    await readn(p.b, s, 6);
    const d = cap.segs.filter((g) => g.src === '10.0.0.1' && g.len > 0);
    expect(d.map((g) => g.len)).toEqual([3, 3]);
    /* The second waited for the (delayed, 200 ms) ACK of the first. */
    expect(Math.round((d[1]!.t - d[0]!.t) / 1e6)).toBe(200);
    await p.a.sys.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, 1);
    expect(await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    const n = cap.segs.length;
    await p.a.sys.send(c, enc.encode('three'));
    await p.a.sys.send(c, enc.encode('four'));
    await readn(p.b, s, 9);
    const e = cap.segs.slice(n).filter((g) => g.src === '10.0.0.1' && g.len > 0);
    expect(e.map((g) => g.len)).toEqual([5, 4]);
    expect(e[1]!.t).toBe(e[0]!.t);
  });

  it('receiver SWS avoidance: a small read opens no window; a big one sends a window update', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    await p.b.sys.setsockopt(s, SOL_SOCKET, SO_RCVBUF, 16384);
    const data = pattern(60_000);
    const cap = capture(p.bus);
    const writer = writeall(p.a, c, data);
    await until(p.L.w, () => cap.segs.some((g) => g.src === '10.0.0.2' && g.win === 0 && g.len === 0), 20_000);
    await p.L.w.advance(1);
    const n = cap.segs.length;
    const first = await readn(p.b, s, 100);
    await p.L.w.advance(100);
    expect(cap.segs.slice(n).filter((g) => g.src === '10.0.0.2')).toEqual([]);
    const upd0 = tcpstat_read(p.b).tcps_sndwinup;
    const rest = await readn(p.b, s, data.length - 100);
    await writer;
    expectBytes(new Uint8Array([...first, ...rest]), data);
    expect(tcpstat_read(p.b).tcps_sndwinup).toBeGreaterThan(upd0);
    /* The sender never sent a runt into a half-open window (sender SWS): only full segments, the last one, and persist probes. */
    const lens = cap.segs.filter((g) => g.src === '10.0.0.1' && g.len > 0).map((g) => g.len);
    const runts = lens.filter((l) => l < 1448 && l !== 1);
    expect(runts.length).toBeLessThanOrEqual(3);
  });
});

describe('TCP buffer auto-sizing', () => {
  it('a bulk transfer grows so_snd and so_rcv (sendbuf_*, recvbuf_*) up to 256 KB', async () => {
    const p = await pair();
    p.bus.setLatency(2e6);
    const { c, s } = await connect(p);
    expect(await p.a.sys.getsockopt(c, SOL_SOCKET, SO_SNDBUF)).toBe(32768);
    expect(await p.b.sys.getsockopt(s, SOL_SOCKET, SO_RCVBUF)).toBe(32768);
    const data = pattern(4_000_000);
    const [got] = await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
    expectBytes(got, data);
    const snd = await p.a.sys.getsockopt(c, SOL_SOCKET, SO_SNDBUF) as number;
    const rcv = await p.b.sys.getsockopt(s, SOL_SOCKET, SO_RCVBUF) as number;
    expect(snd).toBeGreaterThan(32768);
    expect(rcv).toBeGreaterThan(32768);
    expect(snd).toBeLessThanOrEqual(256 * 1024);
    expect(rcv).toBeLessThanOrEqual(256 * 1024);
    expect((rcv - 32768) % 16384).toBe(0);
    expect((snd - 32768) % 8192).toBe(0);
  });

  it('no auto-sizing once the user sets the size, or with the sysctls off', async () => {
    const p = await pair(1, async (a, b) => {
      await sysctl(a, 'net.inet.tcp.sendbuf_auto', 0);
      await sysctl(b, 'net.inet.tcp.recvbuf_auto', 0);
    });
    p.bus.setLatency(2e6);
    const { c, s } = await connect(p);
    const data = pattern(2_000_000);
    await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
    expect(await p.a.sys.getsockopt(c, SOL_SOCKET, SO_SNDBUF)).toBe(32768);
    expect(await p.b.sys.getsockopt(s, SOL_SOCKET, SO_RCVBUF)).toBe(32768);
  });
});
