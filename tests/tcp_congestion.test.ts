/*
 * Congestion control, followed through the SO_DEBUG trace ring: the
 * initial window (init_win), slow start with Appropriate Byte Counting
 * (RFC 3465, L = 2 SMSS), fast retransmit after three duplicate ACKs and
 * the cut to half the flight (RFC 5681), congestion avoidance (one SMSS
 * per window of bytes), NewReno's partial ACKs against Reno with several
 * losses in one window (RFC 6582), CUBIC's beta 0.7 cut and its curve
 * back to W_max (RFC 9438), selection by sysctl and per socket, and SACK
 * recovery of several losses in one window with D-SACK.
 */
import { describe, it, expect } from 'vitest';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { SO_DEBUG, SOL_SOCKET } from '../include/socket.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { TA_INPUT, TCP_CONGCTL } from '../net/lib/libnetinet/tcp_var.ts';
import { tcp_debug_read, type TcpDebugRecord } from '../net/lib/libnetinet/tcp_debug.ts';
import { tcpstat_read } from '../net/lib/libnetinet/tcp_usrreq.ts';
import {
  TH_SYN, capture, connect, dropFirst, expectBytes, expectErr, pair, pattern, readn, sysctl, writeall, type Pair,
} from './tcp_helpers.ts';

const MSS = 1448;

interface Run {
  p: Pair;
  trace: TcpDebugRecord[];
  /** The trace entries for segments the sender received (ACKs), in order. */
  acks: TcpDebugRecord[];
  iss: number;
}

/**
 * Send `size` bytes from a to b with the sender traced, on a wire with
 * the given one-way latency; drop, once each, the data segments holding
 * the listed byte offsets (counted from the first data byte).
 */
async function run(opts: {
  size: number; latencyMs: number; drop?: number[]; congctl?: string; sack?: number; seed?: number;
}): Promise<Run> {
  const p = await pair(opts.seed ?? 1, async (a, b) => {
    await sysctl(a, 'net.inet.tcp.debug_size', 400_000);
    if (opts.sack !== undefined) {
      await sysctl(a, 'net.inet.tcp.sack.enable', opts.sack);
      await sysctl(b, 'net.inet.tcp.sack.enable', opts.sack);
    }
  });
  p.bus.setLatency(opts.latencyMs * 1e6);
  const cap = capture(p.bus);
  const drops = new Set(opts.drop ?? []);
  let iss = -1;
  p.bus.setFaults({
    seed: 1, drop: 1,
    filter: (buf, len) => {
      if (iss < 0) {
        const syn = cap.sent.find((g) => g.flags === TH_SYN);
        if (syn === undefined) return false;
        iss = syn.seq;
      }
      return dropFirst(1, (g) => {
        if (g.src !== '10.0.0.1' || g.len === 0) return false;
        const off = (g.seq - iss - 1) >>> 0;
        for (const d of drops) {
          if (off <= d && d < off + g.len) {
            drops.delete(d);
            return true;
          }
        }
        return false;
      })(buf, len);
    },
  });
  const { c, s } = await connect(p, 80, {
    setup: async (fd) => {
      await p.a.sys.setsockopt(fd, SOL_SOCKET, SO_DEBUG, 1);
      if (opts.congctl !== undefined) await p.a.sys.setsockopt(fd, IPPROTO_TCP, TCP_CONGCTL, opts.congctl);
    },
  });
  const data = pattern(opts.size, 5);
  const [got] = await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
  expectBytes(got, data);
  cap.stop();
  const trace = tcp_debug_read(p.a).filter((t) => t.td_lport !== 80);
  return { p, trace, acks: trace.filter((t) => t.td_act === TA_INPUT && t.td_ostate === 4), iss };
}

/** Entries where ssthresh went down (a congestion response). */
function cuts(tr: TcpDebugRecord[]): { before: TcpDebugRecord; at: TcpDebugRecord }[] {
  const out: { before: TcpDebugRecord; at: TcpDebugRecord }[] = [];
  for (let i = 1; i < tr.length; i++) if (tr[i]!.snd_ssthresh < tr[i - 1]!.snd_ssthresh) out.push({ before: tr[i - 1]!, at: tr[i]! });
  return out;
}

describe('TCP congestion control: selection', () => {
  it('congctl.available lists reno newreno cubic; newreno is the default; TCP_CONGCTL picks per socket', async () => {
    const p = await pair();
    expect(await sysctl(p.a, 'net.inet.tcp.congctl.available')).toBe('reno newreno cubic');
    expect(await sysctl(p.a, 'net.inet.tcp.congctl.selected')).toBe('newreno');
    await expectErr(sysctl(p.a, 'net.inet.tcp.congctl.selected', 'vegas'), 'EINVAL');
    const { c } = await connect(p);
    expect(await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_CONGCTL)).toBe('newreno');
    await p.a.sys.setsockopt(c, IPPROTO_TCP, TCP_CONGCTL, 'cubic');
    expect(await p.a.sys.getsockopt(c, IPPROTO_TCP, TCP_CONGCTL)).toBe('cubic');
    await expectErr(p.a.sys.setsockopt(c, IPPROTO_TCP, TCP_CONGCTL, 'bbr'), 'EINVAL');
    await sysctl(p.a, 'net.inet.tcp.congctl.selected', 'reno');
    const { c: d } = await connect(p, 81);
    expect(await p.a.sys.getsockopt(d, IPPROTO_TCP, TCP_CONGCTL)).toBe('reno');
  });
});

describe('TCP congestion control: growth', () => {
  it('initial window per init_win (4: 4380 bytes), then slow start by bytes acked, at most 2 SMSS per ACK', async () => {
    const r = await run({ size: 400_000, latencyMs: 10 });
    const first = r.trace.find((t) => t.td_act === 1 && t.th_len > 0)!;
    expect(first.snd_cwnd).toBe(4380);
    /* The first flight: as many full segments as fit in 4380 bytes. */
    const flight1 = r.trace.filter((t) => t.td_act === 1 && t.th_len > 0 && t.td_time === first.td_time);
    expect(flight1.length).toBe(3);
    let checked = 0;
    for (let i = 1; i < r.acks.length; i++) {
      const prev = r.acks[i - 1]!;
      const cur = r.acks[i]!;
      const acked = (cur.snd_una - prev.snd_una) >>> 0;
      if (acked === 0 || prev.snd_cwnd >= prev.snd_ssthresh) continue;
      expect(cur.snd_cwnd - prev.snd_cwnd).toBe(Math.min(acked, 2 * MSS));
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    /* Doubling per RTT: over the first rounds cwnd grows fast. */
    expect(r.acks[r.acks.length - 1]!.snd_cwnd).toBeGreaterThan(50 * MSS);
  });

  it('init_win 10 starts with 10 segments; abc.aggressive 0 grows by 1 SMSS per ACK', async () => {
    const p = await pair(1, async (a) => {
      await sysctl(a, 'net.inet.tcp.init_win', 10);
      await sysctl(a, 'net.inet.tcp.init_win_local', 10);
      await sysctl(a, 'net.inet.tcp.abc.aggressive', 0);
      await sysctl(a, 'net.inet.tcp.debug_size', 10000);
    });
    p.bus.setLatency(10e6);
    const { c, s } = await connect(p, 80, { setup: async (fd) => { await p.a.sys.setsockopt(fd, SOL_SOCKET, SO_DEBUG, 1); } });
    const data = pattern(200_000);
    await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
    const tr = tcp_debug_read(p.a).filter((t) => t.td_lport !== 80);
    const first = tr.find((t) => t.td_act === 1 && t.th_len > 0)!;
    expect(first.snd_cwnd).toBe(10 * MSS);
    const acks = tr.filter((t) => t.td_act === TA_INPUT && t.td_ostate === 4);
    for (let i = 1; i < acks.length; i++) {
      const acked = (acks[i]!.snd_una - acks[i - 1]!.snd_una) >>> 0;
      if (acked > 0) expect(acks[i]!.snd_cwnd - acks[i - 1]!.snd_cwnd).toBe(MSS);
    }
  });
});

describe('TCP congestion control: loss', () => {
  it('newreno: three duplicate ACKs -> fast retransmit, ssthresh = flight / 2, no timeout; then congestion avoidance', async () => {
    const r = await run({ size: 1_500_000, latencyMs: 10, drop: [300 * MSS], sack: 0 });
    const st = tcpstat_read(r.p.a);
    expect(st.tcps_rexmttimeo).toBe(0);
    expect(st.tcps_sndrexmitpack).toBe(1);
    expect(st.tcps_rcvdupack).toBeGreaterThanOrEqual(3);
    const c = cuts(r.trace);
    expect(c.length).toBe(1);
    const { before, at: rx } = c[0]!;
    /* The cut comes with the retransmission of the lost segment, sent with a one-segment window. */
    expect(rx.td_act).toBe(1);
    expect(rx.th_seq).toBe(before.snd_una);
    expect(rx.t_dupacks).toBe(3);
    const flight = (before.snd_max - before.snd_una) >>> 0;
    expect(rx.snd_ssthresh).toBe(Math.max(2, Math.floor(flight / 2 / MSS)) * MSS);
    /* Then cwnd = ssthresh + 3 SMSS, inflated by one SMSS per further duplicate (RFC 5681 3.2). */
    const third = r.trace[r.trace.indexOf(rx) + 1]!;
    expect(third.snd_cwnd).toBe(rx.snd_ssthresh + 3 * MSS);
    const at = third;
    /* After the full ACK: cwnd <= ssthresh, and then one SMSS per cwnd of bytes acked. */
    const after = r.acks.filter((t) => t.td_time > at.td_time && t.t_dupacks === 0);
    const exit = after.find((t) => t.snd_cwnd <= t.snd_ssthresh)!;
    expect(exit.snd_cwnd).toBeLessThanOrEqual(at.snd_ssthresh);
    let ca = 0;
    let bytes = 0;
    for (let i = after.indexOf(exit) + 1; i < after.length; i++) {
      const prev = after[i - 1]!;
      const cur = after[i]!;
      bytes += (cur.snd_una - prev.snd_una) >>> 0;
      const d = cur.snd_cwnd - prev.snd_cwnd;
      /* Below ssthresh (the flight was small when recovery ended) it is slow start again. */
      if (prev.snd_cwnd < prev.snd_ssthresh) {
        bytes = 0;
        continue;
      }
      if (d > 0) {
        expect(d).toBe(MSS);
        expect(bytes).toBeGreaterThanOrEqual(prev.snd_cwnd);
        /* RFC 3465 2.1: bytes_acked -= cwnd (the remainder counts toward the next one). */
        bytes -= prev.snd_cwnd;
        ca++;
      }
    }
    expect(ca).toBeGreaterThan(3);
  });

  it('several losses in one window: NewReno recovers with partial ACKs and one cut; Reno needs more', async () => {
    const drops = [200 * MSS, 203 * MSS, 207 * MSS];
    const nr = await run({ size: 1_000_000, latencyMs: 10, drop: drops, sack: 0, congctl: 'newreno' });
    const snr = tcpstat_read(nr.p.a);
    expect(snr.tcps_rexmttimeo).toBe(0);
    expect(cuts(nr.trace).length).toBe(1);
    expect(snr.tcps_sndrexmitpack).toBe(3);
    const re = await run({ size: 1_000_000, latencyMs: 10, drop: drops, sack: 0, congctl: 'reno' });
    const sre = tcpstat_read(re.p.a);
    /* Reno leaves recovery at the first partial ACK: the other holes cost another cut or a timeout. */
    expect(cuts(re.trace).length + sre.tcps_rexmttimeo).toBeGreaterThanOrEqual(2);
  });

  it('SACK recovers several losses in one window without a timeout, resending only the holes; D-SACK reports a duplicate', async () => {
    const drops = [200 * MSS, 203 * MSS, 207 * MSS, 210 * MSS];
    const r = await run({ size: 1_000_000, latencyMs: 10, drop: drops, sack: 1 });
    const sa = tcpstat_read(r.p.a);
    const sb = tcpstat_read(r.p.b);
    expect(sa.tcps_rexmttimeo).toBe(0);
    expect(sa.tcps_sack_recovery_episode).toBe(1);
    expect(sa.tcps_sack_rexmits).toBe(4);
    expect(sa.tcps_sndrexmitpack).toBe(4);
    expect(cuts(r.trace).length).toBe(1);
    expect(sb.tcps_rcvoopack).toBeGreaterThan(0);
    /* A duplicated segment is reported back as D-SACK (RFC 2883). */
    const p = await pair(2);
    const cap = capture(p.bus);
    const { c, s } = await connect(p);
    p.bus.setFaults({ seed: 3, duplicate: 1, filter: dropFirst(1, (g) => g.len > 0) });
    await writeall(p.a, c, pattern(5000));
    await readn(p.b, s, 5000);
    await p.L.w.advance(300);
    const dsack = cap.segs.find((g) => g.src === '10.0.0.2' && g.options.some((o) => o.kind === 'sack'));
    expect(dsack).toBeDefined();
    const blk = (dsack!.options.find((o) => o.kind === 'sack') as { kind: 'sack'; blocks: [number, number][] }).blocks[0]!;
    /* The D-SACK block lies below the cumulative ACK. */
    expect(((dsack!.ack - blk[1]) | 0) >= 0).toBe(true);
    expect(tcpstat_read(p.b).tcps_dsack_sent).toBe(1);
  });

  it('cubic: the cut is to 0.7 of the window, and the window climbs back to W_max along the cubic curve', async () => {
    const lat = 50;
    const rtt = 2 * lat;
    const cu = await run({ size: 6_000_000, latencyMs: lat, drop: [500 * MSS], sack: 0, congctl: 'cubic' });
    const c = cuts(cu.trace);
    expect(c.length).toBe(1);
    const wmax = c[0]!.before.snd_cwnd / MSS;
    expect(c[0]!.at.snd_ssthresh).toBe(Math.floor(wmax * 0.7) * MSS);
    const tcut = c[0]!.at.td_time;
    /* Congestion avoidance starts at the first ACK after recovery. */
    const ca = cu.acks.filter((t) => t.td_time > tcut && t.t_dupacks === 0 && t.snd_cwnd >= t.snd_ssthresh);
    const te = ca[0]!.td_time;
    const K = Math.cbrt((wmax * 0.3) / 0.4) * 1000;
    const at = (ms: number): number => {
      let w = ca[0]!.snd_cwnd;
      for (const t of ca) if (t.td_time <= te + ms) w = t.snd_cwnd;
      return w / MSS;
    };
    /* W(K) = W_max (RFC 9438 4.2), give or take the RTT the target looks ahead and the 2 Hz RTT clock. */
    expect(at(K)).toBeGreaterThan(0.9 * wmax);
    expect(at(K)).toBeLessThan(1.15 * wmax);
    /* Concave below W_max: the first half of K gains more than the second. */
    const g1 = at(K / 2) - at(0);
    const g2 = at(K) - at(K / 2);
    expect(g1).toBeGreaterThan(g2);
    /* NewReno on the same path gains about one segment per RTT instead. */
    const nr = await run({ size: 6_000_000, latencyMs: lat, drop: [500 * MSS], sack: 0, congctl: 'newreno' });
    const nc = cuts(nr.trace);
    expect(nc[0]!.at.snd_ssthresh).toBeLessThanOrEqual(Math.floor(nc[0]!.before.snd_cwnd / MSS / 2 + 1) * MSS);
    const nca = nr.acks.filter((t) => t.td_time > nc[0]!.at.td_time && t.t_dupacks === 0 && t.snd_cwnd >= t.snd_ssthresh);
    const nte = nca[0]!.td_time;
    let nw = nca[0]!.snd_cwnd;
    for (const t of nca) if (t.td_time <= nte + K) nw = t.snd_cwnd;
    const renoGain = (nw - nca[0]!.snd_cwnd) / MSS;
    expect(renoGain).toBeLessThanOrEqual(K / rtt + 2);
    expect(at(K) - at(0)).toBeGreaterThan(renoGain);
  });
});

export type { Kernel };
