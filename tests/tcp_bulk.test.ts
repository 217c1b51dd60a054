/*
 * Bulk TCP transfers between two kernels on a shmif bus, checked with
 * SHA-256: 100 MB on a clean wire (the figure), then a lossy,
 * reordering, duplicating and corrupting wire with SACK and without.
 */
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { tcpstat_read } from '../net/lib/libnetinet/tcp_usrreq.ts';
import { capture, connect, pair, pattern, sysctl, type Pair } from './tcp_helpers.ts';


/** Send `size` bytes of a repeating pattern from a to b; return the SHA-256 of both ends. */
async function transfer(p: Pair, size: number, chunk = 65536): Promise<{ sent: string; got: string; bytes: number }> {
  const { c, s } = await connect(p);
  const block = pattern(chunk, 7);
  const hs = createHash('sha256');
  const hr = createHash('sha256');
  const sender = (async () => {
    for (let off = 0; off < size;) {
      const n = Math.min(chunk, size - off);
      const piece = block.subarray(0, n);
      /* Vary the data so that a misplaced block changes the hash. */
      piece[0] = off & 0xff;
      piece[1] = (off >>> 8) & 0xff;
      piece[2] = (off >>> 16) & 0xff;
      hs.update(piece);
      let done = 0;
      while (done < n) done += await p.a.sys.send(c, piece.subarray(done));
      off += n;
    }
    await p.a.sys.shutdown(c, 1);
  })();
  const buf = new Uint8Array(chunk);
  let bytes = 0;
  for (;;) {
    const n = await p.b.sys.recv(s, buf);
    if (n === 0) break;
    hr.update(buf.subarray(0, n));
    bytes += n;
  }
  await sender;
  await p.a.sys.close(c);
  await p.b.sys.close(s);
  return { sent: hs.digest('hex'), got: hr.digest('hex'), bytes };
}

describe('TCP bulk transfer (SHA-256)', () => {
  it('100 MB on a clean wire', async () => {
    const p = await pair();
    const cap = capture(p.bus, false);
    const t0 = performance.now();
    const r = await transfer(p, 100_000_000);
    const ms = performance.now() - t0;
    expect(r.bytes).toBe(100_000_000);
    expect(r.got).toBe(r.sent);
    expect(cap.bad).toBe(0);
    const sa = tcpstat_read(p.a);
    expect(sa.tcps_sndrexmitpack).toBe(0);
    expect(sa.tcps_sndbyte).toBe(100_000_000);
    /* The figure, for the record (not an assertion: benchmarks live in bench/). */
    console.log(`100 MB in ${ms.toFixed(0)} ms: ${(800 / ms).toFixed(2)} Gbit/s`);
  }, 120_000);

  for (const sack of [1, 0]) {
    it(`8 MB over a wire that drops, reorders, duplicates and corrupts frames (sack.enable ${sack})`, async () => {
      const p = await pair(3, async (a, b) => {
        await sysctl(a, 'net.inet.tcp.sack.enable', sack);
        await sysctl(b, 'net.inet.tcp.sack.enable', sack);
      });
      p.bus.setLatency(1e6);
      p.bus.setFaults({ seed: 11, drop: 0.01, reorder: 0.02, duplicate: 0.01, corrupt: 0.002 });
      const r = await transfer(p, 8_000_000);
      expect(r.bytes).toBe(8_000_000);
      expect(r.got).toBe(r.sent);
      const sa = tcpstat_read(p.a);
      const sb = tcpstat_read(p.b);
      expect(sa.tcps_sndrexmitpack).toBeGreaterThan(0);
      expect(sb.tcps_rcvduppack + sb.tcps_rcvpartduppack).toBeGreaterThan(0);
      expect(sb.tcps_rcvoopack).toBeGreaterThan(0);
      expect(sa.tcps_rcvbadsum + sb.tcps_rcvbadsum).toBeGreaterThan(0);
      if (sack === 1) expect(sa.tcps_sack_recovery_episode).toBeGreaterThan(0);
      else expect(sa.tcps_sack_recovery_episode).toBe(0);
    }, 120_000);
  }

  it('1 MB under heavy faults (5% loss, 5% reordering, 2% duplicates, 1% corruption), 8 seeds, SACK on and off', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      for (const sack of [1, 0]) {
        const p = await pair(seed, async (a, b) => {
          await sysctl(a, 'net.inet.tcp.sack.enable', sack);
          await sysctl(b, 'net.inet.tcp.sack.enable', sack);
        });
        p.bus.setLatency(2e6);
        p.bus.setFaults({ seed: seed * 7, drop: 0.05, reorder: 0.05, duplicate: 0.02, corrupt: 0.01 });
        const r = await transfer(p, 1_000_000, 32768);
        expect(r.bytes).toBe(1_000_000);
        expect(r.got).toBe(r.sent);
      }
    }
  }, 120_000);
});
