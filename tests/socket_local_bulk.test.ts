/*
 * Bulk data through local-domain sockets: a 4 MB stream transfer with a
 * concurrent reader and writer (SHA-256 checked), several connections
 * through one listener at once, and a stream of seqpacket records; each
 * ends with no socket and no mbuf left.  The writer is held back by the
 * flow control of uipc_usrreq.ts (the sender's limits mirror the
 * receiver's room), so the transfer runs in PIPSIZ-sized rounds.
 */

import { describe, it, expect, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { simWorld, bootSim } from './kernel.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { m_outstanding, MINCLSIZE } from '../librump/rumpnet/uipc_mbuf.ts';
import { rumplocal_component } from '../net/lib/liblocal/local_component.ts';
import { PIPSIZ } from '../net/lib/liblocal/uipc_usrreq.ts';
import { AF_LOCAL, MSG_TRUNC, PF_LOCAL, SHUT_WR, SOCK_SEQPACKET, SOCK_STREAM } from '../include/socket.ts';

/* A lost wakeup shows as a transfer that never ends: fail it well before vitest's minute. */
vi.setConfig({ testTimeout: 20_000 });

async function boot(): Promise<{ w: ReturnType<typeof simWorld>; k: Kernel }> {
  const w = simWorld({ seed: 1 });
  const k = await bootSim(w, { components: [rumpnet_component, rumplocal_component] });
  return { w, k };
}

/** Deterministic pseudo-random bytes (xorshift32). */
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Write all of data in writes of varying size (each may block and return short). */
async function writeAll(k: Kernel, fd: number, data: Uint8Array, sizes: readonly number[]): Promise<number> {
  let off = 0;
  let i = 0;
  let calls = 0;
  while (off < data.length) {
    const len = Math.min(sizes[i++ % sizes.length]!, data.length - off);
    const n = await k.sys.write(fd, data.subarray(off, off + len));
    expect(n).toBeGreaterThan(0);
    off += n;
    calls++;
  }
  return calls;
}

/** Read to EOF in reads of varying size; the data and the number of reads. */
async function readAll(k: Kernel, fd: number, sizes: readonly number[]): Promise<{ data: Uint8Array; reads: number }> {
  const parts: Uint8Array[] = [];
  let total = 0;
  let i = 0;
  let reads = 0;
  for (;;) {
    const buf = new Uint8Array(sizes[i++ % sizes.length]!);
    const n = await k.sys.read(fd, buf);
    reads++;
    if (n === 0) break;
    /* Flow control keeps the receive buffer near PIPSIZ: no read can get more. */
    expect(n).toBeLessThanOrEqual(PIPSIZ + 2048);
    parts.push(buf.subarray(0, n));
    total += n;
  }
  const data = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { data, reads };
}

function checkClean(k: Kernel): void {
  const net = net_of(k);
  expect(net.nsockets).toBe(0);
  expect(m_outstanding(net.mb)).toEqual({ mbufs: 0, clusters: 0 });
}

describe('bulk transfers', () => {
  it('4 MB through a stream socketpair with a concurrent reader and writer arrive intact (SHA-256)', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    const data = bytes(4 * 1024 * 1024, 0xC0FFEE);
    const t0 = w.nowMs();
    const writer = (async (): Promise<number> => {
      const calls = await writeAll(k, x, data, [65536, 1, 3000, 100000, 777, 4096]);
      await k.sys.shutdown(x, SHUT_WR);
      return calls;
    })();
    const reader = readAll(k, y, [1000, 65536, 4096, 13, 8192]);
    const [calls, got] = await Promise.all([writer, reader]);
    expect(got.data.length).toBe(data.length);
    expect(sha256(got.data)).toBe(sha256(data));
    /* The writer really was held back: it took many rounds, not one buffer's worth. */
    expect(got.reads).toBeGreaterThan(data.length / (PIPSIZ + 2048));
    expect(calls).toBeGreaterThan(0);
    /* Nothing in the transfer waits on a clock. */
    expect(w.nowMs()).toBe(t0);
    await k.sys.close(x);
    await k.sys.close(y);
    checkClean(k);
  });

  it('both directions at once through one connection made by name', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, { sun_family: AF_LOCAL, sun_path: '/bulk' });
    await k.sys.listen(s, 1);
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.connect(c, { sun_family: AF_LOCAL, sun_path: '/bulk' });
    const { fd: a } = await k.sys.accept(s);
    const up = bytes(700_000, 1);
    const down = bytes(900_001, 2);
    /* Each end writes `out` and returns what it read from the other. */
    const side = async (fd: number, out: Uint8Array, sizes: number[]): Promise<Uint8Array> => {
      const wr = (async () => {
        await writeAll(k, fd, out, sizes);
        await k.sys.shutdown(fd, SHUT_WR);
      })();
      const [, got] = await Promise.all([wr, readAll(k, fd, [5000, 333])]);
      return got.data;
    };
    const [atClient, atServer] = await Promise.all([side(c, up, [9000, 17]), side(a, down, [2048, 12345])]);
    expect(sha256(atServer)).toBe(sha256(up));
    expect(sha256(atClient)).toBe(sha256(down));
    for (const fd of [c, a, s]) await k.sys.close(fd);
    checkClean(k);
  });

  it('eight clients of one listener transfer concurrently without mixing their streams', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, { sun_family: AF_LOCAL, sun_path: 'many' });
    await k.sys.listen(s, 8);
    const N = 8;
    const clients: number[] = [];
    for (let i = 0; i < N; i++) {
      const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
      await k.sys.connect(c, { sun_family: AF_LOCAL, sun_path: 'many' });
      clients.push(c);
    }
    const accepted: number[] = [];
    for (let i = 0; i < N; i++) accepted.push((await k.sys.accept(s)).fd);
    const payloads = clients.map((_, i) => bytes(50_000 + i * 1000, 100 + i));
    const results = await Promise.all(clients.map(async (c, i) => {
      const wr = (async () => {
        await writeAll(k, c, payloads[i]!, [1500 + i]);
        await k.sys.shutdown(c, SHUT_WR);
      })();
      const [, got] = await Promise.all([wr, readAll(k, accepted[i]!, [2500])]);
      return got.data;
    }));
    results.forEach((r, i) => { expect(sha256(r)).toBe(sha256(payloads[i]!)); });
    for (const fd of [...clients, ...accepted, s]) await k.sys.close(fd);
    checkClean(k);
  });

  it('a thousand seqpacket records keep their order and boundaries under back pressure', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_SEQPACKET);
    const N = 1000;
    /*
     * Records of MINCLSIZE..1000 bytes, one cluster each: the storage limit
     * (sb_mbmax) holds the writer back while at most three are queued, so
     * its mirrored sb_hiwat never falls below a record.  With smaller
     * records the byte limit binds first, and sosend then refuses a record
     * larger than the shrunken sb_hiwat with EMSGSIZE instead of waiting:
     * NetBSD's accounting does the same (see uipc_usrreq.ts).
     */
    const rec = (i: number): Uint8Array => bytes(MINCLSIZE + (i * 37) % (1001 - MINCLSIZE), i + 1);
    const writer = (async () => {
      for (let i = 0; i < N; i++) expect(await k.sys.write(x, rec(i))).toBe(rec(i).length);
      await k.sys.close(x);
    })();
    const reader = (async () => {
      const buf = new Uint8Array(1100);
      for (let i = 0; i < N; i++) {
        const r = await k.sys.recvfrom(y, buf);
        expect(r.flags & MSG_TRUNC).toBe(0);
        expect(r.n).toBe(rec(i).length);
        expect(Buffer.from(buf.subarray(0, r.n)).equals(Buffer.from(rec(i)))).toBe(true);
      }
      expect(await k.sys.read(y, buf)).toBe(0);
    })();
    await Promise.all([writer, reader]);
    await k.sys.close(y);
    checkClean(k);
  });
});
