/*
 * TCP's state machine between two kernels on a shmif bus (sim host):
 * handshake variants (active/passive, simultaneous open), data both ways,
 * half-close, every close (active, passive, simultaneous), FIN_WAIT_2's
 * idle limit, TIME_WAIT lasting exactly 2*MSL and answering (and
 * restarting on) a retransmitted FIN, the listen backlog, non-blocking
 * connect, sequence numbers across the 2^32 wrap, RFC 6528 ISNs, random
 * ephemeral ports, and the EADDRINUSE / SO_REUSEADDR / SO_REUSEPORT rules.
 */
import { afterEach, beforeEach, describe, it, expect } from 'vitest';
import { EADDRINUSE, ECONNRESET } from '../include/errno.ts';
import {
  AF_INET, SHUT_WR, SO_DEBUG, SO_ERROR, SO_REUSEADDR, SO_REUSEPORT, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
} from '../include/socket.ts';
import { POLLOUT } from '../include/syscall.ts';
import { tcp_debug_read } from '../net/lib/libnetinet/tcp_debug.ts';
import { tcpstates } from '../net/lib/libnetinet/tcp_fsm.ts';
import { tcpstat_read } from '../net/lib/libnetinet/tcp_usrreq.ts';
import {
  TH_ACK, TH_FIN, TH_SYN, arpWarm, capture, connect, dropFirst, expectBytes, expectErr, pair, pattern, pcbState, pcbs,
  readn, setPairVtw, sin, sysctl, until, writeall,
} from './tcp_helpers.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/* The suite runs with full-PCB TIME_WAIT and again with Vestigial Time-Wait on. */
for (const vtw of [false, true]) {
  describe(vtw ? 'with Vestigial Time-Wait' : 'with full-PCB TIME_WAIT', () => {
    beforeEach(() => setPairVtw(vtw));
    afterEach(() => setPairVtw(false));

    describe('TCP handshake and data', () => {
      it('three-way handshake: SYN with MSS, window scale, SACK-permitted, timestamps; then data both ways', async () => {
        const p = await pair();
        const cap = capture(p.bus);
        const { c, s } = await connect(p);
        expect(pcbState(p.a, pcbs(p.a)[0]!.lport)).toBe('ESTABLISHED');
        const syn = cap.segs.filter((g) => (g.flags & TH_SYN) !== 0);
        expect(syn.length).toBe(2);
        const [s1, s2] = syn;
        expect(s1!.flags).toBe(TH_SYN);
        expect(s2!.flags).toBe(TH_SYN | TH_ACK);
        expect(s2!.ack).toBe((s1!.seq + 1) >>> 0);
        const kinds = (g: typeof s1) => g!.options.filter((o) => o.kind !== 'nop').map((o) => o.kind);
        expect(kinds(s1)).toEqual(['mss', 'wscale', 'sackOK', 'ts']);
        expect(kinds(s2)).toEqual(['mss', 'wscale', 'sackOK', 'ts']);
        expect(s1!.options.find((o) => o.kind === 'mss')).toEqual({ kind: 'mss', mss: 1460 });
        const third = cap.segs[2]!;
        expect(third.flags).toBe(TH_ACK);
        expect(third.seq).toBe((s1!.seq + 1) >>> 0);
        expect(third.ack).toBe((s2!.seq + 1) >>> 0);
        await p.a.sys.send(c, enc.encode('hello'));
        const buf = new Uint8Array(64);
        expect(dec.decode(buf.subarray(0, await p.b.sys.recv(s, buf)))).toBe('hello');
        await p.b.sys.send(s, enc.encode('world'));
        expect(dec.decode(buf.subarray(0, await p.a.sys.recv(c, buf)))).toBe('world');
        expect(tcpstat_read(p.a)).toMatchObject({ tcps_connattempt: 1, tcps_connects: 1 });
        expect(tcpstat_read(p.b)).toMatchObject({ tcps_accepts: 1, tcps_connects: 1 });
        expect(await p.a.sys.getpeername(c)).toEqual(sin('10.0.0.2', 80));
        expect(cap.bad).toBe(0);
      });

      it('active close: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT; passive close: CLOSE_WAIT, LAST_ACK, gone', async () => {
        const p = await pair();
        const { c, s } = await connect(p);
        const lport = pcbs(p.a)[0]!.lport;
        await p.a.sys.close(c);
        await p.L.w.advance(1);
        expect(pcbState(p.a, lport)).toBe('FIN_WAIT_2');
        expect(pcbState(p.b, 80, lport)).toBe('CLOSE_WAIT');
        const buf = new Uint8Array(8);
        expect(await p.b.sys.recv(s, buf)).toBe(0);
        await p.b.sys.close(s);
        await p.L.w.advance(1);
        expect(pcbState(p.a, lport)).toBe('TIME_WAIT');
        expect(pcbState(p.b, 80, lport)).toBe(null);
      });

      it('half-close: after shutdown(SHUT_WR) the other side reads EOF and may still send', async () => {
        const p = await pair();
        const { c, s } = await connect(p);
        await p.a.sys.send(c, enc.encode('request'));
        await p.a.sys.shutdown(c, SHUT_WR);
        const req = await readn(p.b, s, 100);
        expect(dec.decode(req)).toBe('request');
        const big = pattern(200_000);
        const [got] = await Promise.all([readn(p.a, c, 300_000), (async () => {
          await writeall(p.b, s, big);
          await p.b.sys.close(s);
        })()]);
        expectBytes(got, big);
        await expectErr(p.a.sys.send(c, enc.encode('x')), 'EPIPE');
        await p.a.sys.close(c);
      });

      it('simultaneous open: both SYN_SENT -> SYN_RCVD -> ESTABLISHED, and data flows', async () => {
        const p = await pair();
        const x = await p.a.sys.socket(AF_INET, SOCK_STREAM);
        const y = await p.b.sys.socket(AF_INET, SOCK_STREAM);
        await p.a.sys.setsockopt(x, SOL_SOCKET, SO_DEBUG, 1);
        await p.b.sys.setsockopt(y, SOL_SOCKET, SO_DEBUG, 1);
        await p.a.sys.bind(x, sin('10.0.0.1', 5001));
        await p.b.sys.bind(y, sin('10.0.0.2', 5002));
        /* Resolve ARP first, so both SYNs leave at once and cross on the wire. */
        await arpWarm(p);
        const cap = capture(p.bus);
        await Promise.all([p.a.sys.connect(x, sin('10.0.0.2', 5002)), p.b.sys.connect(y, sin('10.0.0.1', 5001))]);
        const path = (k: typeof p.a) => tcp_debug_read(k).map((t) => tcpstates[t.td_nstate]).filter((v, i, arr) => i === 0 || v !== arr[i - 1]);
        expect(path(p.a)).toEqual(['SYN_SENT', 'SYN_RCVD', 'ESTABLISHED']);
        expect(path(p.b)).toEqual(['SYN_SENT', 'SYN_RCVD', 'ESTABLISHED']);
        /* Each side sent a bare SYN, then SYN|ACK repeating its ISS (RFC 9293 3.10.7.3). */
        const fromA = cap.segs.filter((g) => g.src === '10.0.0.1');
        expect(fromA[0]!.flags).toBe(TH_SYN);
        expect(fromA[1]!.flags).toBe(TH_SYN | TH_ACK);
        expect(fromA[1]!.seq).toBe(fromA[0]!.seq);
        await p.a.sys.send(x, enc.encode('ping'));
        expect(dec.decode(await readn(p.b, y, 4))).toBe('ping');
        await p.b.sys.send(y, enc.encode('pong'));
        expect(dec.decode(await readn(p.a, x, 4))).toBe('pong');
      });

      it('simultaneous close: both FIN_WAIT_1 -> CLOSING -> TIME_WAIT', async () => {
        const p = await pair();
        const { c, s } = await connect(p);
        await p.a.sys.setsockopt(c, SOL_SOCKET, SO_DEBUG, 1);
        await p.b.sys.setsockopt(s, SOL_SOCKET, SO_DEBUG, 1);
        const lport = pcbs(p.a)[0]!.lport;
        await Promise.all([p.a.sys.close(c), p.b.sys.close(s)]);
        await p.L.w.advance(5);
        expect(pcbState(p.a, lport)).toBe('TIME_WAIT');
        expect(pcbState(p.b, 80, lport)).toBe('TIME_WAIT');
        for (const k of [p.a, p.b]) {
          const states = tcp_debug_read(k).map((t) => tcpstates[t.td_nstate]);
          expect(states).toContain('FIN_WAIT_1');
          expect(states).toContain('CLOSING');
          expect(states).not.toContain('FIN_WAIT_2');
        }
        /* Both TIME_WAITs end after 2*MSL (a local peer: 10 s). */
        await p.L.w.advance(10_100);
        expect(pcbs(p.a).length).toBe(0);
        expect(pcbs(p.b).filter((x) => x.state !== 'LISTEN').length).toBe(0);
      });
    });

    describe('TCP within one kernel', () => {
      it('over lo0 (127.0.0.1), and a socket connected to itself (simultaneous open with itself)', async () => {
        const p = await pair();
        const k = p.a;
        const ls = await k.sys.socket(AF_INET, SOCK_STREAM);
        await k.sys.bind(ls, sin('127.0.0.1', 80));
        await k.sys.listen(ls, 5);
        const c = await k.sys.socket(AF_INET, SOCK_STREAM);
        const acc = k.sys.accept(ls);
        await k.sys.connect(c, sin('127.0.0.1', 80));
        const { fd } = await acc;
        const data = pattern(2_000_000);
        const [got] = await Promise.all([readn(k, fd, data.length), writeall(k, c, data)]);
        expectBytes(got, data);
        const x = await k.sys.socket(AF_INET, SOCK_STREAM);
        await k.sys.bind(x, sin('127.0.0.1', 5555));
        await k.sys.connect(x, sin('127.0.0.1', 5555));
        await k.sys.send(x, enc.encode('echo'));
        expect(dec.decode(await readn(k, x, 4))).toBe('echo');
        expect(pcbs(k).filter((r) => r.lport === 5555).map((r) => r.state)).toEqual(['ESTABLISHED']);
      });
    });

    describe('TCP closing timers', () => {
      it('FIN_WAIT_2 after close is limited to keepcnt * keepintvl (600 s) of silence', async () => {
        const p = await pair();
        const { c } = await connect(p);
        const lport = pcbs(p.a)[0]!.lport;
        await p.a.sys.close(c);
        await p.L.w.advance(1);
        const t0 = p.L.w.nowMs();
        expect(pcbState(p.a, lport)).toBe('FIN_WAIT_2');
        await p.L.w.advance(599_000);
        expect(pcbState(p.a, lport)).toBe('FIN_WAIT_2');
        await until(p.L.w, () => pcbState(p.a, lport) === null, 10_000, 100);
        expect(p.L.w.nowMs() - t0).toBeGreaterThanOrEqual(600_000);
        expect(p.L.w.nowMs() - t0).toBeLessThan(601_000);
        /* The peer still thinks it is open: its CLOSE_WAIT is its own business. */
        expect(pcbState(p.b, 80, lport)).toBe('CLOSE_WAIT');
      });

      it('TIME_WAIT lasts exactly 2*MSL (a local peer under MSLT: 10 s)', async () => {
        const p = await pair();
        const { c, s } = await connect(p);
        const lport = pcbs(p.a)[0]!.lport;
        const cap = capture(p.bus);
        await p.a.sys.close(c);
        await p.L.w.advance(1);
        await p.b.sys.close(s);
        await p.L.w.advance(1);
        const fin = cap.segs.find((g) => g.src === '10.0.0.2' && (g.flags & TH_FIN) !== 0)!;
        const tfin = fin.t / 1e6;
        expect(pcbState(p.a, lport)).toBe('TIME_WAIT');
        await p.L.w.advance(tfin + 10_000 - 20 - p.L.w.nowMs());
        expect(pcbState(p.a, lport)).toBe('TIME_WAIT');
        await p.L.w.advance(30);
        expect(pcbState(p.a, lport)).toBe(null);
      });

      it('TIME_WAIT answers a retransmitted FIN with an ACK and restarts 2*MSL (RFC 9293)', async () => {
        const p = await pair();
        const { c, s } = await connect(p);
        const lport = pcbs(p.a)[0]!.lport;
        await p.a.sys.close(c);
        await p.L.w.advance(1);
        const cap = capture(p.bus);
        /* Lose a's ACK of b's FIN: b sends its FIN again after the RTO. */
        let sawFin = false;
        p.bus.setFaults({
          seed: 1, drop: 1,
          filter: dropFirst(1, (g) => {
            if (g.src === '10.0.0.2' && (g.flags & TH_FIN) !== 0) sawFin = true;
            return sawFin && g.src === '10.0.0.1' && g.flags === TH_ACK;
          }),
        });
        await p.b.sys.close(s);
        await until(p.L.w, () => pcbState(p.b, 80, lport) === null, 10_000);
        const fins = cap.segs.filter((g) => g.src === '10.0.0.2' && (g.flags & TH_FIN) !== 0);
        expect(fins.length).toBe(2);
        const acks = cap.sent.filter((g) => g.src === '10.0.0.1' && g.flags === TH_ACK && g.ack === ((fins[0]!.seq + 1) >>> 0));
        expect(acks.length).toBe(2);
        expect(acks[1]!.t).toBeGreaterThan(fins[1]!.t - 1);
        const t2 = fins[1]!.t / 1e6;
        await p.L.w.advance(t2 + 10_000 - 20 - p.L.w.nowMs());
        expect(pcbState(p.a, lport)).toBe('TIME_WAIT');
        await p.L.w.advance(30);
        expect(pcbState(p.a, lport)).toBe(null);
      });
    });

    describe('TCP listen backlog and non-blocking connect', () => {
      it('a full backlog: handshakes beyond 3/2 of it are reset (sc_aborted), SYNs are dropped (tcps_listendrop); kern.somaxconn clips listen(2); the SYN retransmit gets in later', async () => {
        const p = await pair();
        await sysctl(p.b, 'kern.somaxconn', 1);
        const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
        await p.b.sys.bind(ls, sin('0.0.0.0', 80));
        await p.b.sys.listen(ls, 100);
        await arpWarm(p);
        const cs: number[] = [];
        for (let i = 0; i < 3; i++) cs.push(await p.a.sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK));
        for (const c of cs) await expectErr(p.a.sys.connect(c, sin('10.0.0.2', 80)), 'EINPROGRESS');
        await p.L.w.advance(50);
        /* All three SYNs enter the SYN cache; qlimit 1 lets sonewconn take two (q0 + q <= 3/2); the third, established on the client side, is reset. */
        expect(pcbs(p.a).map((x) => x.state).sort()).toEqual(['ESTABLISHED', 'ESTABLISHED']);
        expect(tcpstat_read(p.b).tcps_sc_aborted).toBe(1);
        const errs = await Promise.all(cs.map((c) => p.a.sys.getsockopt(c, SOL_SOCKET, SO_ERROR)));
        expect(errs.filter((e) => e === ECONNRESET).length).toBe(1);
        /* Two connections wait in the queue (over the limit of 1): a new SYN is dropped... */
        const d = await p.a.sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
        await expectErr(p.a.sys.connect(d, sin('10.0.0.2', 80)), 'EINPROGRESS');
        await p.L.w.advance(50);
        expect(tcpstat_read(p.b).tcps_listendrop).toBe(1);
        expect(pcbs(p.a).map((x) => x.state).sort()).toEqual(['ESTABLISHED', 'ESTABLISHED', 'SYN_SENT']);
        /* ...and its retransmission gets in once accept(2) makes room. */
        await p.b.sys.accept(ls);
        await until(p.L.w, () => pcbs(p.a).every((x) => x.state === 'ESTABLISHED') && pcbs(p.a).length === 3, 5000);
      });

      it('non-blocking connect: EINPROGRESS, then POLLOUT with SO_ERROR 0, or ECONNREFUSED from a closed port', async () => {
        const p = await pair();
        const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
        await p.b.sys.bind(ls, sin('0.0.0.0', 80));
        await p.b.sys.listen(ls, 5);
        const c = await p.a.sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
        await expectErr(p.a.sys.connect(c, sin('10.0.0.2', 80)), 'EINPROGRESS');
        await expectErr(p.a.sys.connect(c, sin('10.0.0.2', 80)), 'EALREADY');
        const pf = [{ fd: c, events: POLLOUT, revents: 0 }];
        expect(await p.a.sys.poll(pf, 1000)).toBe(1);
        expect(await p.a.sys.getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(0);
        const d = await p.a.sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
        await expectErr(p.a.sys.connect(d, sin('10.0.0.2', 81)), 'EINPROGRESS');
        const pd = [{ fd: d, events: POLLOUT, revents: 0 }];
        expect(await p.a.sys.poll(pd, 1000)).toBe(1);
        expect(await p.a.sys.getsockopt(d, SOL_SOCKET, SO_ERROR)).toBe(61 /* ECONNREFUSED */);
      });
    });

    describe('TCP sequence numbers, ISNs and ports', () => {
      it('sequence numbers wrap past 2^32 in both directions (ISS forced near the top)', async () => {
        const p = await pair();
        await sysctl(p.a, 'net.inet.tcp.iss_force', 0xffffff00n);
        await sysctl(p.b, 'net.inet.tcp.iss_force', 0xfffff000n);
        const cap = capture(p.bus);
        const { c, s } = await connect(p);
        const up = pattern(1_000_000, 1);
        const down = pattern(700_000, 2);
        const [gotUp, gotDown] = await Promise.all([
          readn(p.b, s, up.length),
          readn(p.a, c, down.length),
          writeall(p.a, c, up),
          writeall(p.b, s, down),
        ]);
        expectBytes(gotUp, up);
        expectBytes(gotDown, down);
        expect(cap.segs[0]!.seq).toBe(0xffffff00);
        /* Segments on both sides of the wrap were seen. */
        expect(cap.segs.some((g) => g.src === '10.0.0.1' && g.seq < 0x1000000 && g.len > 0)).toBe(true);
        expect(cap.segs.some((g) => g.src === '10.0.0.2' && g.seq < 0x1000000 && g.len > 0)).toBe(true);
        await p.a.sys.close(c);
        await p.b.sys.close(s);
        await p.L.w.advance(10);
        expect(pcbs(p.a)[0]!.state).toBe('TIME_WAIT');
      });

      it('ISNs follow RFC 6528: M + F(4-tuple, secret), deterministic under a seed, distinct across kernels', async () => {
        const isns = async (seed: number): Promise<number[]> => {
          const p = await pair(seed);
          const cap = capture(p.bus);
          const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
          await p.b.sys.bind(ls, sin('0.0.0.0', 80));
          await p.b.sys.listen(ls, 5);
          for (let i = 0; i < 2; i++) {
            const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
            await p.a.sys.setsockopt(c, SOL_SOCKET, SO_REUSEADDR, 1);
            await p.a.sys.bind(c, sin('10.0.0.1', 40000));
            const acc = p.b.sys.accept(ls);
            await p.a.sys.connect(c, sin('10.0.0.2', 80));
            await p.a.sys.close(c);
            await p.b.sys.close((await acc).fd);
            await p.L.w.advance(100_000);
          }
          return cap.segs.filter((g) => g.flags === TH_SYN).map((g) => g.seq);
        };
        const one = await isns(7);
        const again = await isns(7);
        const other = await isns(8);
        expect(again).toEqual(one);
        expect(other[0]).not.toBe(one[0]);
        /* The same 4-tuple 100 s later: F is the same, M advanced by 100 s / 4 us (mod 2^32). */
        const dt = (one[1]! - one[0]!) >>> 0;
        const expected = (Math.round(100_000e3 / 4) + 0) >>> 0;
        expect(Math.abs(dt - expected)).toBeLessThan(2_000_000 / 4);
      });

      it('ephemeral ports are random within anonportmin..anonportmax and deterministic under a seed', async () => {
        const ports = async (seed: number): Promise<number[]> => {
          const p = await pair(seed);
          const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
          await p.b.sys.bind(ls, sin('0.0.0.0', 80));
          await p.b.sys.listen(ls, 20);
          const out: number[] = [];
          for (let i = 0; i < 8; i++) {
            const c = await p.a.sys.socket(AF_INET, SOCK_STREAM);
            await p.a.sys.connect(c, sin('10.0.0.2', 80));
            out.push((await p.a.sys.getsockname(c) as { sin_port: number }).sin_port);
          }
          return out;
        };
        const x = await ports(3);
        expect(await ports(3)).toEqual(x);
        for (const port of x) {
          expect(port).toBeGreaterThanOrEqual(49152);
          expect(port).toBeLessThanOrEqual(65535);
        }
        /* Not a sequence: consecutive ports would differ by 1. */
        const steps = x.slice(1).map((v, i) => v - x[i]!);
        expect(steps.filter((d) => d === 1).length).toBeLessThan(3);
        expect(new Set(x).size).toBe(8);
      });

      it('EADDRINUSE, SO_REUSEADDR and SO_REUSEPORT as NetBSD', async () => {
        const p = await pair();
        const { a } = p;
        const l1 = await a.sys.socket(AF_INET, SOCK_STREAM);
        await a.sys.bind(l1, sin('0.0.0.0', 7000));
        await a.sys.listen(l1, 5);
        const l2 = await a.sys.socket(AF_INET, SOCK_STREAM);
        await expectErr(a.sys.bind(l2, sin('0.0.0.0', 7000)), 'EADDRINUSE');
        await expectErr(a.sys.bind(l2, sin('10.0.0.1', 7000)), 'EADDRINUSE');
        /* SO_REUSEADDR: a specific address beside the wildcard listener is fine, the same address is not. */
        await a.sys.setsockopt(l2, SOL_SOCKET, SO_REUSEADDR, 1);
        await expectErr(a.sys.bind(l2, sin('0.0.0.0', 7000)), 'EADDRINUSE');
        await a.sys.bind(l2, sin('10.0.0.1', 7000));
        /* SO_REUSEPORT on both: the same address and port twice. */
        const r1 = await a.sys.socket(AF_INET, SOCK_STREAM);
        const r2 = await a.sys.socket(AF_INET, SOCK_STREAM);
        await a.sys.setsockopt(r1, SOL_SOCKET, SO_REUSEPORT, 1);
        await a.sys.setsockopt(r2, SOL_SOCKET, SO_REUSEPORT, 1);
        await a.sys.bind(r1, sin('0.0.0.0', 7100));
        await a.sys.bind(r2, sin('0.0.0.0', 7100));
        const r3 = await a.sys.socket(AF_INET, SOCK_STREAM);
        await expectErr(a.sys.bind(r3, sin('0.0.0.0', 7100)), 'EADDRINUSE');
        /* A port held by a TIME_WAIT connection: EADDRINUSE without SO_REUSEADDR, fine with it. */
        const { c, s } = await connect(p, 80, { setup: async (fd) => { await a.sys.bind(fd, sin('10.0.0.1', 7200)); } });
        await a.sys.close(c);
        await p.L.w.advance(1);
        await p.b.sys.close(s);
        await p.L.w.advance(1);
        expect(pcbState(a, 7200)).toBe('TIME_WAIT');
        const t1 = await a.sys.socket(AF_INET, SOCK_STREAM);
        await expectErr(a.sys.bind(t1, sin('10.0.0.1', 7200)), 'EADDRINUSE');
        await a.sys.setsockopt(t1, SOL_SOCKET, SO_REUSEADDR, 1);
        await a.sys.bind(t1, sin('10.0.0.1', 7200));
        /* ...but connecting to the same peer (the same 4-tuple) is EADDRINUSE, whatever the options. */
        try {
          await a.sys.connect(t1, sin('10.0.0.2', 80));
          expect.unreachable();
        } catch (e) {
          expect((e as { errno: number }).errno).toBe(EADDRINUSE);
        }
      });
    });
  });
}
