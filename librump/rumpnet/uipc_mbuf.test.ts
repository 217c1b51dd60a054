/*
 * Tests for uipc_mbuf.ts on booted sim kernels: every mbuf operation at its
 * edges (offset 0, length 0, mbuf boundaries, long chains of small mbufs,
 * clusters, shared clusters), copy-on-write after m_copym, m_pullup's
 * successes and failures, m_copyback's extension, m_split at every offset
 * and seeded random operation sequences checked against a plain byte array,
 * exhaustion and recovery, the kern.mbuf sysctl nodes, sleeping
 * allocation, panics on kernel bugs, and two kernels' contexts staying
 * apart.  Every test ends by checking that no mbuf or cluster leaked.
 */
import { describe, expect, it } from 'vitest';
import { bootSim, expectPanics, simWorld } from '../../tests/kernel.ts';
import { kernel_run, kthread_create, kthread_join, type Kernel } from '../rumpkern/rump.ts';
import { kpause } from '../rumpkern/ltsleep.ts';
import { LSSLEEP } from '../rumpkern/lwproc.ts';
import { KernelPanic } from '../rumpkern/subr_prf.ts';
import { EINVAL, ENOBUFS } from '../../include/errno.ts';
import type { SimWorld } from '../rumpuser/sim.ts';
import {
  KERN_MBUF, M_ALIGN, M_BCAST, M_BUFSIZE, M_CLUSTER, M_COPYALL, M_CSUM_IPv4, M_CSUM_TCPv4, M_DONTWAIT,
  M_EOR, M_EXT, M_EXT_RW, M_LEADINGSPACE, M_LOOP, M_MCAST, M_PKTHDR, M_PREPEND, M_READONLY,
  M_TRAILINGSPACE, M_WAIT, MBUF_MCLBYTES, MBUF_MSIZE, MBUF_NMBCLUSTERS, MBUF_STATS, MCLBYTES, MCLGET,
  MH_ALIGN, MHLEN, MINCLSIZE, MLEN, MSIZE, MT_CONTROL, MT_DATA, MT_FREE, MT_HEADER, MT_NTYPES, MT_SONAME,
  max_hdr_raise, Mbuf, mbfini, mbinit, mbstat_read, m_adj, m_align, m_cat, m_clget, m_copy_pkthdr,
  m_copyback, m_copyback_cow, m_copydata, m_copym, m_devget, m_dup, m_free, m_freem, m_frombytes,
  m_get, m_get_wait, m_getcl, m_getcl_wait, m_gethdr, m_getptr, m_length, m_makewritable,
  m_move_pkthdr, m_outstanding, m_prepend, m_pullup, m_reclaim, m_reclaim_register, m_remove_pkthdr,
  m_reserve, m_split, m_tobytes, m_verify_packet, NMBCLUSTERS, NMBUFS, type MbinitOptions, type Mbstat,
  type MbufCtx, type MbufOff,
} from './uipc_mbuf.ts';

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* A small seeded PRNG (mulberry32): the random tests replay exactly. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

interface Env {
  w: SimWorld;
  k: Kernel;
  ctx: MbufCtx;
}

async function setup(opts: MbinitOptions = {}, name?: string): Promise<Env> {
  const w = simWorld({ seed: 1 });
  const k = await bootSim(w, name === undefined ? {} : { name });
  const ctx = kernel_run(k, () => mbinit(k, opts));
  return { w, k, ctx };
}

/** Bytes 0, 1, 2, ... offset by `base`, so that any misplaced byte shows. */
function pat(n: number, base = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (base + i * 7 + (i >> 8)) & 0xff;
  return b;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** One mbuf of a hand-built chain: len bytes, in a cluster or not, after `lead` bytes of leading space. */
interface Seg {
  len: number;
  cl?: boolean;
  lead?: number;
}

/** Build a chain holding `bytes` laid out as `segs` (a packet header on the first unless hdr is false). */
function mkchain(ctx: MbufCtx, bytes: Uint8Array, segs: Seg[], hdr = true): Mbuf {
  let top: Mbuf | null = null;
  let tail: Mbuf | null = null;
  let pos = 0;
  segs.forEach((s, i) => {
    const m = i === 0 && hdr ? m_gethdr(ctx, M_DONTWAIT, MT_DATA) : m_get(ctx, M_DONTWAIT, MT_DATA);
    if (m === null) throw new Error('mkchain: out of mbufs');
    if (s.cl === true && !m_clget(m, M_DONTWAIT)) throw new Error('mkchain: out of clusters');
    m.m_data = s.lead ?? 0;
    m.m_buf.set(bytes.subarray(pos, pos + s.len), m.m_data);
    m.m_len = s.len;
    pos += s.len;
    if (tail === null) top = m;
    else tail.m_next = m;
    tail = m;
  });
  if (pos !== bytes.length) throw new Error(`mkchain: segments hold ${pos} of ${bytes.length} bytes`);
  const t = top as Mbuf | null;
  if (t === null) throw new Error('mkchain: no segments');
  if (hdr) t.m_pkthdr.len = pos;
  m_verify_packet(t);
  return t;
}

/** A random layout of `total` bytes: small and cluster mbufs, empty ones, random leading space. */
function randSegs(r: Rng, total: number, hdr = true): Seg[] {
  const segs: Seg[] = [];
  let left = total;
  do {
    const first = segs.length === 0;
    const cl = r.chance(0.3);
    const size = cl ? MCLBYTES : first && hdr ? MHLEN : MLEN;
    const lead = r.chance(0.5) ? r.int(0, Math.min(40, size)) : 0;
    const len = r.chance(0.1) ? 0 : Math.min(left, r.int(1, size - lead));
    segs.push({ len, cl, lead });
    left -= len;
  } while (left > 0);
  return segs;
}

/** A chain holding bytes, in a random layout. */
function randChain(ctx: MbufCtx, r: Rng, bytes: Uint8Array, hdr = true): Mbuf {
  return mkchain(ctx, bytes, randSegs(r, bytes.length, hdr), hdr);
}

function mbufs(m: Mbuf | null): Mbuf[] {
  const out: Mbuf[] = [];
  for (; m !== null; m = m.m_next) out.push(m);
  return out;
}

/** Index of the first byte where a and b differ; -1 if they are equal. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** The chain is well formed and holds exactly `want`. */
function expectBytes(m: Mbuf, want: Uint8Array): void {
  m_verify_packet(m);
  expect(m_length(m)).toBe(want.length);
  expect(firstDiff(m_tobytes(m), want)).toBe(-1);
}

function noLeaks(ctx: MbufCtx): void {
  expect(m_outstanding(ctx)).toEqual({ mbufs: 0, clusters: 0 });
  expect(ctx.mbstat.m_mtypes).toEqual(new Array<number>(MT_NTYPES).fill(0));
}

/** Leave dirty (0xa5) storage on the free lists, so that code which forgets to clear shows it. */
function dirtyPools(ctx: MbufCtx, n = 16): void {
  const held: Mbuf[] = [];
  for (let i = 0; i < n; i++) {
    const a = m_get(ctx, M_DONTWAIT, MT_DATA)!;
    a.m_dat.fill(0xa5);
    const b = m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!;
    b.m_buf.fill(0xa5);
    held.push(a, b);
  }
  for (const m of held) m_free(m);
}

/* ------------------------------------------------------------------ */

describe('mbinit', () => {
  it('makes per-kernel pools with the default limits and documented sizes', async () => {
    const { k, ctx } = await setup();
    expect(MSIZE).toBe(256);
    expect(MLEN).toBe(256);
    expect(MHLEN).toBeLessThan(MLEN);
    expect(MHLEN).toBe(208);
    expect(MCLBYTES).toBe(2048);
    expect(MINCLSIZE).toBe(MHLEN + 1);
    expect(k.pools).toContain(ctx.mb_pool);
    expect(k.pools).toContain(ctx.mcl_pool);
    expect(ctx.mb_pool.pr_wchan).toBe('mbpl');
    expect(ctx.mcl_pool.pr_wchan).toBe('mclpl');
    expect(ctx.nmbclusters).toBe(NMBCLUSTERS);
    expect(NMBCLUSTERS).toBeGreaterThanOrEqual(1024);
    expect(ctx.mcl_pool.pr_hardlimit).toBe(NMBCLUSTERS);
    expect(ctx.mb_pool.pr_hardlimit).toBe(NMBUFS);
    /* Pools are filled lazily: nothing is made before the first packet. */
    expect(ctx.mb_pool.pr_npages).toBe(0);
    expect(ctx.max_linkhdr).toBe(16);
    expect(ctx.max_hdr).toBe(16);
    expect(ctx.max_datalen).toBe(MHLEN - 16);
    noLeaks(ctx);
  });

  it('panics when called twice on one kernel', async () => {
    expectPanics();
    const { w, k } = await setup();
    expect(() => kernel_run(k, () => mbinit(k))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/mbinit: kern\.mbuf/);
  });

  it('mbfini removes the sysctl nodes and the pools', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      m_freem(m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR));
      mbfini(ctx);
    });
    expect(k.pools).not.toContain(ctx.mb_pool);
    expect(k.pools).not.toContain(ctx.mcl_pool);
    expect(k.sysctl.sysctl_dispatch('kern.mbuf.msize').error).not.toBe(0);
    /* And the kernel can have mbufs again. */
    const ctx2 = kernel_run(k, () => mbinit(k));
    expect(k.sysctl.get('kern.mbuf.msize')).toBe(MSIZE);
    noLeaks(ctx2);
  });
});

describe('m_get / m_gethdr / m_clget / m_getcl / m_free', () => {
  it('m_get gives a reset mbuf over its own storage, with a DataView on the same bytes', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      expect(m).toBeInstanceOf(Mbuf);
      expect(m.m_type).toBe(MT_DATA);
      expect(m.m_flags).toBe(0);
      expect(m.m_data).toBe(0);
      expect(m.m_len).toBe(0);
      expect(m.m_next).toBeNull();
      expect(m.m_nextpkt).toBeNull();
      expect(m.m_ext).toBeNull();
      expect(m.m_buf).toBe(m.m_dat);
      expect(m.m_buf.length).toBe(MLEN);
      expect(m.m_ctx).toBe(ctx);
      expect(M_BUFSIZE(m)).toBe(MLEN);
      m.m_data = 10;
      m.m_buf[12] = 0x12;
      m.m_buf[13] = 0x34;
      expect(m.m_view.getUint16(m.m_data + 2)).toBe(0x1234);
      m.m_view.setUint32(m.m_data + 4, 0xdeadbeef);
      expect([...m.m_buf.subarray(14, 18)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
      expect(ctx.mbstat.m_mtypes[MT_DATA]).toBe(1);
      expect(m_outstanding(ctx)).toEqual({ mbufs: 1, clusters: 0 });
      expect(m_free(m)).toBeNull();
      expect(m.m_type).toBe(MT_FREE);
    });
    noLeaks(ctx);
  });

  it('recycles mbufs with every field reset, and m_gethdr zeroes the packet header', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const a = m_gethdr(ctx, M_DONTWAIT, MT_HEADER)!;
      const b = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      a.m_next = b;
      a.m_nextpkt = b;
      a.m_data = 7;
      a.m_len = 9;
      a.m_flags |= M_BCAST | M_EOR;
      Object.assign(a.m_pkthdr, { len: 99, rcvif_index: 3, csum_flags: M_CSUM_TCPv4, csum_data: 5, segsz: 1460 });
      expect(m_free(a)).toBe(b);
      m_free(b);
      /* The pool is LIFO: the next two gets return b, then a. */
      const b2 = m_get(ctx, M_DONTWAIT, MT_SONAME)!;
      const a2 = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
      expect(b2).toBe(b);
      expect(a2).toBe(a);
      expect(a2.m_flags).toBe(M_PKTHDR);
      expect(a2.m_next).toBeNull();
      expect(a2.m_nextpkt).toBeNull();
      expect(a2.m_data).toBe(0);
      expect(a2.m_len).toBe(0);
      expect({ ...a2.m_pkthdr }).toEqual({ len: 0, rcvif_index: 0, csum_flags: 0, csum_data: 0, segsz: 0 });
      expect(M_BUFSIZE(a2)).toBe(MHLEN);
      expect(ctx.mbstat.m_mtypes[MT_SONAME]).toBe(1);
      expect(ctx.mbstat.m_mtypes[MT_HEADER]).toBe(0);
      m_freem(a2);
      m_freem(b2);
    });
    noLeaks(ctx);
  });

  it('m_clget/MCLGET attach a writable cluster; m_getcl does both; the cluster returns on free', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      expect(MCLGET(m, M_WAIT)).toBe(true);
      expect(m.m_flags & (M_EXT | M_CLUSTER | M_EXT_RW)).toBe(M_EXT | M_CLUSTER | M_EXT_RW);
      expect(m.m_buf).toBe(m.m_ext!.ext_buf);
      expect(m.m_view).toBe(m.m_ext!.ext_view);
      expect(m.m_buf.length).toBe(MCLBYTES);
      expect(m.m_view.byteLength).toBe(MCLBYTES);
      expect(m.m_ext!.ext_refcnt).toBe(1);
      expect(M_READONLY(m)).toBe(false);
      expect(M_TRAILINGSPACE(m)).toBe(MCLBYTES);
      expect(m_outstanding(ctx)).toEqual({ mbufs: 1, clusters: 1 });
      const ext = m.m_ext!;
      m_free(m);
      expect(ext.ext_refcnt).toBe(0);
      expect(m_outstanding(ctx)).toEqual({ mbufs: 0, clusters: 0 });
      const h = m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)!;
      expect(h.m_flags & (M_PKTHDR | M_EXT)).toBe(M_PKTHDR | M_EXT);
      expect(M_BUFSIZE(h)).toBe(MCLBYTES);
      /* After a free the mbuf is back on its own storage. */
      m_free(h);
      expect(h.m_buf).toBe(h.m_dat);
      expect(h.m_ext).toBeNull();
    });
    noLeaks(ctx);
  });

  it('m_freem frees a chain of many small mbufs and accepts null', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(300), Array.from({ length: 300 }, () => ({ len: 1 })));
      expect(mbufs(m)).toHaveLength(300);
      expect(m_outstanding(ctx).mbufs).toBe(300);
      m_freem(m);
      m_freem(null);
    });
    noLeaks(ctx);
  });
});

describe('leading and trailing space, alignment', () => {
  it('reports the room in plain, header, cluster and shared mbufs', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      m.m_data = 10;
      m.m_len = 20;
      expect(M_LEADINGSPACE(m)).toBe(10);
      expect(M_TRAILINGSPACE(m)).toBe(MLEN - 30);
      const h = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
      h.m_data = 4;
      h.m_len = 4;
      expect(M_LEADINGSPACE(h)).toBe(4);
      expect(M_TRAILINGSPACE(h)).toBe(MHLEN - 8);
      const c = m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)!;
      c.m_data = 100;
      c.m_len = 1000;
      c.m_pkthdr.len = 1000;
      expect(M_LEADINGSPACE(c)).toBe(100);
      expect(M_TRAILINGSPACE(c)).toBe(MCLBYTES - 1100);
      const copy = m_copym(c, 0, M_COPYALL, M_DONTWAIT)!;
      expect(copy.m_ext).toBe(c.m_ext);
      /* Shared: no room on either side, for either holder. */
      for (const x of [c, copy]) {
        expect(M_READONLY(x)).toBe(true);
        expect(M_LEADINGSPACE(x)).toBe(0);
        expect(M_TRAILINGSPACE(x)).toBe(0);
      }
      m_freem(copy);
      expect(M_READONLY(c)).toBe(false);
      expect(M_LEADINGSPACE(c)).toBe(100);
      for (const x of [m, h, c]) m_freem(x);
    });
    noLeaks(ctx);
  });

  it('M_ALIGN, MH_ALIGN and m_align put len bytes at the aligned end; m_reserve makes leading space', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      M_ALIGN(m, 20);
      expect(m.m_data).toBe((MLEN - 20) & ~7);
      expect(m.m_data + 20).toBeLessThanOrEqual(MLEN);
      const h = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
      MH_ALIGN(h, 13);
      expect(h.m_data).toBe((MHLEN - 13) & ~7);
      expect(h.m_data % 8).toBe(0);
      const c = m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!;
      m_align(c, 1500);
      expect(c.m_data).toBe((MCLBYTES - 1500) & ~7);
      const z = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
      m_align(z, MHLEN);
      expect(z.m_data).toBe(0);
      const r = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
      m_reserve(r, ctx.max_linkhdr);
      expect(M_LEADINGSPACE(r)).toBe(16);
      expect(M_TRAILINGSPACE(r)).toBe(MHLEN - 16);
      for (const x of [m, h, c, z, r]) m_free(x);
    });
    noLeaks(ctx);
  });

  it('max_hdr_raise only raises, recomputes max_hdr and max_datalen, and refuses headers bigger than MHLEN', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    kernel_run(k, () => {
      max_hdr_raise(ctx, 14, 40);
      expect(ctx.max_linkhdr).toBe(16);
      expect(ctx.max_protohdr).toBe(40);
      expect(ctx.max_hdr).toBe(56);
      expect(ctx.max_datalen).toBe(MHLEN - 56);
      max_hdr_raise(ctx, 24, 20);
      expect(ctx.max_linkhdr).toBe(24);
      expect(ctx.max_protohdr).toBe(40);
      expect(ctx.max_datalen).toBe(MHLEN - 64);
    });
    expect(() => kernel_run(k, () => max_hdr_raise(ctx, 16, MHLEN))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/max_hdr .* > MHLEN/);
  });
});

describe('M_PREPEND / m_prepend', () => {
  it('uses the leading space when there is room', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      let m: Mbuf | null = mkchain(ctx, pat(100), [{ len: 100, lead: 40 }]);
      const head = m;
      m = M_PREPEND(m, 14, M_DONTWAIT)!;
      expect(m).toBe(head);
      expect(m.m_data).toBe(26);
      expect(m.m_len).toBe(114);
      expect(m.m_pkthdr.len).toBe(114);
      expect(m_copyback(m, 0, 14, pat(14, 200))).toBe(0);
      expectBytes(m, concat(pat(14, 200), pat(100)));
      /* Exactly the leading space left. */
      m = M_PREPEND(m, 26, M_DONTWAIT)!;
      expect(m).toBe(head);
      expect(M_LEADINGSPACE(m)).toBe(0);
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('prepends a new mbuf, moving the packet header, when there is no room or the storage is shared', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const old = mkchain(ctx, pat(50), [{ len: 50 }]);
      old.m_flags |= M_MCAST;
      old.m_pkthdr.rcvif_index = 2;
      old.m_pkthdr.csum_flags = M_CSUM_IPv4;
      const m = M_PREPEND(old, 20, M_DONTWAIT)!;
      expect(m).not.toBe(old);
      expect(m.m_next).toBe(old);
      expect(m.m_flags & (M_PKTHDR | M_MCAST)).toBe(M_PKTHDR | M_MCAST);
      expect(old.m_flags & M_PKTHDR).toBe(0);
      expect(m.m_pkthdr.len).toBe(70);
      expect(m.m_pkthdr.rcvif_index).toBe(2);
      expect(m.m_pkthdr.csum_flags).toBe(M_CSUM_IPv4);
      expect(m.m_len).toBe(20);
      /* The new bytes sit at the end of the new mbuf: more headers can follow. */
      expect(m.m_data).toBe((MHLEN - 20) & ~7);
      expect(M_LEADINGSPACE(m)).toBeGreaterThanOrEqual(MHLEN - 28);
      m_copyback(m, 0, 20, pat(20, 99));
      expectBytes(m, concat(pat(20, 99), pat(50)));

      /* A shared cluster with leading space still gets a new mbuf: its space is not ours to write. */
      const c = mkchain(ctx, pat(300), [{ len: 300, cl: true, lead: 64 }]);
      const copy = m_copym(c, 0, M_COPYALL, M_DONTWAIT)!;
      const c2 = M_PREPEND(c, 8, M_DONTWAIT)!;
      expect(c2).not.toBe(c);
      expect(c2.m_next).toBe(c);
      expect(c.m_data).toBe(64);
      m_copyback(c2, 0, 8, pat(8, 1));
      expectBytes(c2, concat(pat(8, 1), pat(300)));
      expectBytes(copy, pat(300));

      /* m_prepend itself leaves m_pkthdr.len alone (M_PREPEND fixes it). */
      const p = mkchain(ctx, pat(10), [{ len: 10 }]);
      const p2 = m_prepend(p, 4, M_DONTWAIT)!;
      expect(p2.m_pkthdr.len).toBe(10);
      expect(m_length(p2)).toBe(14);
      for (const x of [m, c2, copy, p2]) m_freem(x);
    });
    noLeaks(ctx);
  });

  it('frees the chain and returns null when no mbuf is left', async () => {
    const { k, ctx } = await setup({ nmbufs: 2 });
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(20), [{ len: 10 }, { len: 10 }]);
      expect(M_PREPEND(m, 16, M_DONTWAIT)).toBeNull();
      expect(ctx.mbstat.m_drops).toBe(1);
    });
    noLeaks(ctx);
  });
});

describe('m_adj', () => {
  const segs: Seg[] = [{ len: 10 }, { len: 0 }, { len: 20, lead: 5 }, { len: 30, cl: true }];
  const total = 60;
  const cases: number[] = [0, 1, 9, 10, 11, 29, 30, 31, 59, 60, 61, 1000, -1, -29, -30, -31, -49, -50, -51, -59, -60, -61, -1000];
  for (const n of cases) {
    it(`m_adj(m, ${n}) trims ${n >= 0 ? 'the front' : 'the end'} and fixes m_pkthdr.len`, async () => {
      const { k, ctx } = await setup();
      kernel_run(k, () => {
        const bytes = pat(total);
        const m = mkchain(ctx, bytes, segs);
        const nm = mbufs(m).length;
        m_adj(m, n);
        const want = n >= 0 ? bytes.subarray(Math.min(n, total)) : bytes.subarray(0, Math.max(total + n, 0));
        expectBytes(m, want);
        expect(m.m_pkthdr.len).toBe(want.length);
        /* The chain keeps its mbufs (emptied ones stay, as in NetBSD). */
        expect(mbufs(m)).toHaveLength(nm);
        m_freem(m);
      });
      noLeaks(ctx);
    });
  }

  it('works on a chain without a packet header', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(30), [{ len: 15 }, { len: 15 }], false);
      m_adj(m, 20);
      expect(m_tobytes(m)).toEqual(pat(30).subarray(20));
      m_adj(m, -5);
      expect(m_tobytes(m)).toEqual(pat(30).subarray(20, 25));
      m_freem(m);
    });
    noLeaks(ctx);
  });
});

describe('m_pullup', () => {
  it('returns the chain untouched when the first mbuf already holds len bytes', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(1500), [{ len: 1000, cl: true }, { len: 500, cl: true }]);
      const copy = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      expect(m_pullup(m, 20)).toBe(m);
      expect(m_pullup(m, 1000)).toBe(m);
      expect(m_pullup(m, 0)).toBe(m);
      expect(mbufs(m)).toHaveLength(2);
      m_freem(m);
      m_freem(copy);
    });
    noLeaks(ctx);
  });

  it('pulls bytes from several following mbufs into the first one when it has room', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(60);
      const m = mkchain(ctx, bytes, [{ len: 4, lead: 8 }, { len: 3 }, { len: 0 }, { len: 5, cl: true }, { len: 8 }, { len: 40 }]);
      const r = m_pullup(m, 20)!;
      expect(r).toBe(m);
      expect(r.m_data).toBe(8);
      expect(r.m_len).toBeGreaterThanOrEqual(20);
      expect(r.m_buf.subarray(r.m_data, r.m_data + 20)).toEqual(bytes.subarray(0, 20));
      expectBytes(r, bytes);
      m_freem(r);
    });
    noLeaks(ctx);
  });

  it('pulls up to max_protohdr extra bytes so the next header is contiguous too', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      max_hdr_raise(ctx, 16, 40);
      const bytes = pat(200);
      const m = mkchain(ctx, bytes, [{ len: 10 }, { len: 190 }]);
      const r = m_pullup(m, 20)!;
      expect(r.m_len).toBe(50);
      expectBytes(r, bytes);
      m_freem(r);
    });
    noLeaks(ctx);
  });

  it('puts a new header mbuf in front when the first mbuf is a shared cluster or too full, moving the packet header', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(100);
      const m = mkchain(ctx, bytes, [{ len: 10, cl: true, lead: 2000 }, { len: 90, cl: true }]);
      m.m_pkthdr.rcvif_index = 7;
      m.m_flags |= M_LOOP;
      const r = m_pullup(m, 60)!;
      expect(r).not.toBe(m);
      expect(r.m_flags & (M_PKTHDR | M_LOOP | M_EXT)).toBe(M_PKTHDR | M_LOOP);
      expect(r.m_pkthdr.rcvif_index).toBe(7);
      expect(r.m_len).toBeGreaterThanOrEqual(60);
      expectBytes(r, bytes);

      /* A shared head is never written: a new mbuf takes the bytes. */
      const s = mkchain(ctx, bytes, [{ len: 10, cl: true }, { len: 90 }]);
      const copy = m_copym(s, 0, 10, M_DONTWAIT)!;
      const rs = m_pullup(s, 30)!;
      expect(rs).not.toBe(s);
      expectBytes(rs, bytes);
      expectBytes(copy, bytes.subarray(0, 10));
      for (const x of [r, rs, copy]) m_freem(x);
    });
    noLeaks(ctx);
  });

  it('pulls exactly MHLEN into a small mbuf, and more into a cluster, up to MCLBYTES', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(3000);
      const segs: Seg[] = Array.from({ length: 30 }, () => ({ len: 100 }));
      const a = m_pullup(mkchain(ctx, bytes, segs), MHLEN)!;
      expect(a.m_flags & M_EXT).toBe(0);
      expect(a.m_len).toBe(MHLEN);
      expectBytes(a, bytes);
      const b = m_pullup(mkchain(ctx, bytes, segs), MHLEN + 1)!;
      expect(b.m_flags & M_EXT).toBe(M_EXT);
      expect(b.m_len).toBeGreaterThanOrEqual(MHLEN + 1);
      expectBytes(b, bytes);
      const c = m_pullup(mkchain(ctx, bytes, segs), MCLBYTES)!;
      expect(c.m_len).toBe(MCLBYTES);
      expectBytes(c, bytes);
      for (const x of [a, b, c]) m_freem(x);
    });
    noLeaks(ctx);
  });

  it('frees the chain and returns null when it is shorter than len, len exceeds MCLBYTES, or memory runs out', async () => {
    const { k, ctx } = await setup({ nmbclusters: 2 });
    kernel_run(k, () => {
      expect(m_pullup(mkchain(ctx, pat(30), [{ len: 10 }, { len: 10 }, { len: 10 }]), 31)).toBeNull();
      expect(ctx.mbstat.m_mpfail).toBe(1);
      noLeaks(ctx);
      expect(m_pullup(mkchain(ctx, pat(3000), [{ len: 1500, cl: true }, { len: 1500, cl: true }]), MCLBYTES + 1)).toBeNull();
      expect(ctx.mbstat.m_mpfail).toBe(2);
      noLeaks(ctx);
      /* Both clusters in use by the chain: a pullup that needs a third fails. */
      const m = mkchain(ctx, pat(1000), [{ len: 100, cl: true, lead: 1900 }, { len: 900, cl: true }]);
      expect(m_pullup(m, 500)).toBeNull();
      expect(ctx.mbstat.m_mpfail).toBe(3);
      expect(ctx.mbstat.m_drops).toBe(1);
      noLeaks(ctx);
    });
  });
});

describe('m_copydata / m_getptr / m_length / m_tobytes', () => {
  it('copies any range, at and across mbuf boundaries, into dst at an offset', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(100);
      const m = mkchain(ctx, bytes, [{ len: 10 }, { len: 0 }, { len: 25, cl: true, lead: 3 }, { len: 1 }, { len: 64 }]);
      for (const [off, len] of [[0, 0], [0, 100], [10, 25], [9, 2], [35, 1], [36, 64], [100, 0], [99, 1], [0, 10], [34, 3]] as const) {
        const dst = new Uint8Array(len + 5).fill(0xee);
        m_copydata(m, off, len, dst, 5);
        expect(dst.subarray(0, 5)).toEqual(new Uint8Array(5).fill(0xee));
        expect(dst.subarray(5)).toEqual(bytes.subarray(off, off + len));
      }
      expect(m_length(m)).toBe(100);
      expect(m_length(null)).toBe(0);
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('m_getptr finds the mbuf and offset of a byte, writing into the caller\'s object', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(30), [{ len: 10 }, { len: 0 }, { len: 20 }]);
      const [a, , c] = mbufs(m);
      const res: MbufOff = { off: -1 };
      expect(m_getptr(m, 0, res)).toBe(a);
      expect(res.off).toBe(0);
      expect(m_getptr(m, 9, res)).toBe(a);
      expect(res.off).toBe(9);
      expect(m_getptr(m, 10, res)).toBe(c);
      expect(res.off).toBe(0);
      expect(m_getptr(m, 29, res)).toBe(c);
      expect(res.off).toBe(19);
      /* The end of the packet: the last mbuf, at its m_len. */
      expect(m_getptr(m, 30, res)).toBe(c);
      expect(res.off).toBe(20);
      expect(m_getptr(m, 31, res)).toBeNull();
      expect(m_getptr(m, -1, res)).toBeNull();
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('m_frombytes and m_tobytes round-trip (copies, not views)', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      for (const n of [0, 1, MHLEN, MHLEN + 1, MCLBYTES, 5000]) {
        const src = pat(n, n);
        const m = m_frombytes(ctx, src)!;
        const out = m_tobytes(m);
        expect(out).toEqual(src);
        out.fill(0);
        expectBytes(m, src);
        m_freem(m);
      }
    });
    noLeaks(ctx);
  });
});

describe('m_copyback', () => {
  it('overwrites a range across mbufs in place', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(100);
      const m = mkchain(ctx, bytes, [{ len: 10 }, { len: 40, cl: true }, { len: 50 }]);
      const n = mbufs(m).length;
      expect(m_copyback(m, 5, 50, pat(60, 77), 10)).toBe(0);
      const want = bytes.slice();
      want.set(pat(60, 77).subarray(10), 5);
      expectBytes(m, want);
      expect(mbufs(m)).toHaveLength(n);
      expect(m_copyback(m, 0, 0, new Uint8Array(0))).toBe(0);
      expectBytes(m, want);
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('extends the chain: into trailing space, then new mbufs and clusters, zero-filling a gap', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      dirtyPools(ctx);
      const bytes = pat(20);
      const m = mkchain(ctx, bytes, [{ len: 20 }]);
      /* Into the trailing space of a header mbuf: no new mbuf. */
      expect(m_copyback(m, 20, MHLEN - 20, pat(MHLEN - 20, 5))).toBe(0);
      expect(mbufs(m)).toHaveLength(1);
      let want = concat(bytes, pat(MHLEN - 20, 5));
      expectBytes(m, want);
      expect(m.m_pkthdr.len).toBe(MHLEN);
      /* Straddling the end, with a gap after it: 100 zero bytes, then 3000 bytes. */
      const data = pat(3000, 9);
      expect(m_copyback(m, MHLEN + 100, 3000, data)).toBe(0);
      want = concat(concat(want, new Uint8Array(100)), data);
      expectBytes(m, want);
      expect(m.m_pkthdr.len).toBe(want.length);
      expect(mbufs(m).some((x) => (x.m_flags & M_EXT) !== 0)).toBe(true);
      /* Overlapping the end. */
      expect(m_copyback(m, want.length - 10, 30, pat(30, 1))).toBe(0);
      want = concat(want.subarray(0, want.length - 10), pat(30, 1));
      expectBytes(m, want);
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('has memmove semantics when src or dst is a view of the chain\'s own storage', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(40);
      const m = mkchain(ctx, bytes, [{ len: 40, cl: true, lead: 10 }]);
      /* Shift bytes 0..19 up by one, through a view that overlaps the destination. */
      const view = m.m_buf.subarray(m.m_data, m.m_data + 20);
      expect(m_copyback(m, 1, 20, view)).toBe(0);
      const want = bytes.slice();
      want.set(bytes.subarray(0, 20), 1);
      expectBytes(m, want);
      /* And down by one, copying out into a view that overlaps the source. */
      m_copydata(m, 1, 20, m.m_buf.subarray(m.m_data, m.m_data + 20), 0);
      want.set(want.slice(1, 21), 0);
      expectBytes(m, want);
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('returns ENOBUFS and leaves the chain as it was when it cannot extend', async () => {
    const { k, ctx } = await setup({ nmbufs: 3, nmbclusters: 1 });
    kernel_run(k, () => {
      const bytes = pat(50);
      const m = mkchain(ctx, bytes, [{ len: 50 }]);
      expect(m_copyback(m, 40, 5000, pat(5000))).toBe(ENOBUFS);
      expectBytes(m, bytes);
      expect(mbufs(m)).toHaveLength(1);
      expect(m_outstanding(ctx)).toEqual({ mbufs: 1, clusters: 0 });
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('panics on shared storage; m_copyback_cow writes a private copy instead', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    const keep = kernel_run(k, () => {
      const bytes = pat(1000);
      const m = mkchain(ctx, bytes, [{ len: 1000, cl: true }]);
      const copy = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      const m2 = m_copyback_cow(m, 10, 20, pat(20, 3), 0, M_DONTWAIT)!;
      expect(m2).toBe(m);
      const want = bytes.slice();
      want.set(pat(20, 3), 10);
      expectBytes(m2, want);
      expectBytes(copy, bytes);
      expect(M_READONLY(copy)).toBe(false);
      /* Extending through a cow write works too. */
      const c2 = m_copyback_cow(copy, 990, 20, pat(20, 4), 0, M_DONTWAIT)!;
      expectBytes(c2, concat(bytes.subarray(0, 990), pat(20, 4)));
      m_freem(m2);
      const again = m_copym(c2, 0, M_COPYALL, M_DONTWAIT)!;
      return { c2, again };
    });
    expect(() => kernel_run(k, () => m_copyback(keep.c2, 0, 4, pat(4)))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/m_copyback: write into shared storage/);
  });
});

describe('m_copym and copy-on-write', () => {
  it('shares clusters (refcounted) and copies small mbufs, packed', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(2100);
      const segs: Seg[] = [...Array.from({ length: 20 }, () => ({ len: 5 })), { len: 1500, cl: true }, { len: 500, cl: true, lead: 100 }];
      const m = mkchain(ctx, bytes, segs);
      m.m_flags |= M_BCAST;
      m.m_pkthdr.csum_flags = M_CSUM_TCPv4;
      const clustersBefore = m_outstanding(ctx).clusters;
      const c = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      expectBytes(c, bytes);
      expect(m_outstanding(ctx).clusters).toBe(clustersBefore);
      const cm = mbufs(c);
      /* The 100 bytes of twenty small mbufs fit in one header mbuf; each cluster is shared. */
      expect(cm).toHaveLength(3);
      expect(cm[0]!.m_len).toBe(100);
      const src = mbufs(m);
      expect(cm[1]!.m_ext).toBe(src[20]!.m_ext);
      expect(cm[2]!.m_ext).toBe(src[21]!.m_ext);
      expect(src[20]!.m_ext!.ext_refcnt).toBe(2);
      expect(c.m_flags & (M_PKTHDR | M_BCAST)).toBe(M_PKTHDR | M_BCAST);
      expect(c.m_pkthdr.len).toBe(2100);
      expect(c.m_pkthdr.csum_flags).toBe(M_CSUM_TCPv4);
      /* Freeing the original leaves the copy intact; the clusters go when the copy goes. */
      m_freem(m);
      expect(m_outstanding(ctx).clusters).toBe(2);
      expect(cm[1]!.m_ext!.ext_refcnt).toBe(1);
      expectBytes(c, bytes);
      m_freem(c);
    });
    noLeaks(ctx);
  });

  it('copies sub-ranges at and across boundaries; only an offset-0 copy gets the packet header', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(700);
      const m = mkchain(ctx, bytes, [{ len: 100 }, { len: 0 }, { len: 300, cl: true }, { len: 50 }, { len: 250, cl: true }]);
      for (const [off, len] of [[0, 0], [0, 1], [0, 100], [100, 300], [99, 2], [400, 50], [450, 250], [700, 0], [0, 700], [1, 699], [399, 52]] as const) {
        const c = m_copym(m, off, len, M_DONTWAIT)!;
        expect(c).not.toBeNull();
        expectBytes(c, bytes.subarray(off, off + len));
        expect((c.m_flags & M_PKTHDR) !== 0).toBe(off === 0);
        if (off === 0) expect(c.m_pkthdr.len).toBe(len);
        m_freem(c);
      }
      for (const off of [0, 100, 400, 699, 700]) {
        const c = m_copym(m, off, M_COPYALL, M_DONTWAIT)!;
        expectBytes(c, bytes.subarray(off));
        m_freem(c);
      }
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('a write through m_makewritable changes the copy only, and the other way round', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(1600);
      const m = mkchain(ctx, bytes, [{ len: 60, lead: 40 }, { len: 1500, cl: true, lead: 64 }, { len: 40, cl: true }]);
      const c = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      expect(mbufs(m).filter((x) => M_READONLY(x))).toHaveLength(2);
      /* Rewrite bytes 100..110 of the copy (inside the shared 1500-byte cluster). */
      const c2 = m_makewritable(c, 100, 10, M_DONTWAIT)!;
      expect(c2).toBe(c);
      const res: MbufOff = { off: 0 };
      const seg = m_getptr(c2, 100, res)!;
      expect(M_READONLY(seg)).toBe(false);
      for (let i = 0; i < 10; i++) seg.m_buf[seg.m_data + res.off + i] = 0xff;
      const want = bytes.slice();
      want.fill(0xff, 100, 110);
      expectBytes(c2, want);
      expectBytes(m, bytes);
      /* The rewritten mbuf got its own cluster (1500 bytes do not fit in MLEN), with its offset kept. */
      expect(seg.m_ext).not.toBe(mbufs(m)[1]!.m_ext);
      expect(seg.m_data).toBe(64);
      /* The last 40 bytes are still shared; making them writable moves them into the mbuf itself. */
      const last = mbufs(m)[2]!;
      expect(M_READONLY(last)).toBe(true);
      expect(m_makewritable(m, 1560, 40, M_DONTWAIT)).toBe(m);
      expect(M_READONLY(last)).toBe(false);
      expect(last.m_flags & M_EXT).toBe(0);
      last.m_buf[last.m_data] = 0;
      expectBytes(m, (() => { const b = bytes.slice(); b[1560] = 0; return b; })());
      expectBytes(c2, want);
      /* Whole-chain and empty ranges. */
      expect(m_makewritable(c2, 0, M_COPYALL, M_DONTWAIT)).toBe(c2);
      expect(mbufs(c2).every((x) => !M_READONLY(x))).toBe(true);
      expect(m_makewritable(m, 0, 0, M_DONTWAIT)).toBe(m);
      expect(mbufs(m).every((x) => !M_READONLY(x))).toBe(true);
      m_freem(m);
      m_freem(c2);
    });
    noLeaks(ctx);
  });

  it('returns null (m_mcfail) and frees the partial copy when mbufs run out', async () => {
    const { k, ctx } = await setup({ nmbufs: 5 });
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(4000), [{ len: 2000, cl: true }, { len: 2000, cl: true }]);
      const a = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      expect(mbufs(a)).toHaveLength(2);
      expect(m_copym(m, 0, M_COPYALL, M_DONTWAIT)).toBeNull();
      expect(ctx.mbstat.m_mcfail).toBe(1);
      expect(m_outstanding(ctx).mbufs).toBe(4);
      expect(m.m_ext!.ext_refcnt).toBe(2);
      m_freem(a);
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('m_makewritable frees the chain and returns null when no cluster is left for a private copy', async () => {
    const { k, ctx } = await setup({ nmbclusters: 1 });
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(1000), [{ len: 1000, cl: true }]);
      const c = m_copym(m, 0, M_COPYALL, M_DONTWAIT)!;
      expect(m_makewritable(c, 0, 1, M_DONTWAIT)).toBeNull();
      expect(ctx.mbstat.m_drops).toBe(1);
      expect(m.m_ext!.ext_refcnt).toBe(1);
      expectBytes(m, pat(1000));
      m_freem(m);
    });
    noLeaks(ctx);
  });
});

describe('m_dup', () => {
  it('makes a deep, writable copy of any range', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const bytes = pat(5000);
      const m = mkchain(ctx, bytes, [{ len: 7 }, { len: 2000, cl: true }, { len: 0 }, { len: 200 }, { len: 2000, cl: true }, { len: 793, cl: true }]);
      m.m_pkthdr.rcvif_index = 4;
      for (const [off, len] of [[0, M_COPYALL], [0, 0], [7, 2000], [6, 3], [4999, 1], [100, 4900], [5000, 0]] as const) {
        const d = m_dup(m, off, len, M_DONTWAIT)!;
        const want = bytes.subarray(off, len === M_COPYALL ? undefined : off + len);
        expectBytes(d, want);
        expect(mbufs(d).every((x) => !M_READONLY(x))).toBe(true);
        expect(mbufs(d).some((x) => mbufs(m).some((y) => y.m_ext !== null && y.m_ext === x.m_ext))).toBe(false);
        if (off === 0) {
          expect(d.m_pkthdr.rcvif_index).toBe(4);
          expect(d.m_pkthdr.len).toBe(want.length);
        } else {
          expect(d.m_flags & M_PKTHDR).toBe(0);
        }
        m_freem(d);
      }
      m_freem(m);
    });
    noLeaks(ctx);
  });

  it('returns null without leaking when clusters run out', async () => {
    const { k, ctx } = await setup({ nmbclusters: 3 });
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(4000), [{ len: 2000, cl: true }, { len: 2000, cl: true }]);
      expect(m_dup(m, 0, M_COPYALL, M_DONTWAIT)).toBeNull();
      expect(m_outstanding(ctx)).toEqual({ mbufs: 2, clusters: 2 });
      m_freem(m);
    });
    noLeaks(ctx);
  });
});

describe('m_cat', () => {
  it('copies into trailing space while it fits, then links the rest and drops its packet header', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const a = mkchain(ctx, pat(10), [{ len: 10 }]);
      const b = mkchain(ctx, pat(30, 50), [{ len: 20 }, { len: 10 }]);
      m_cat(a, b);
      expect(mbufs(a)).toHaveLength(1);
      a.m_pkthdr.len = 40;
      expectBytes(a, concat(pat(10), pat(30, 50)));
      const big = mkchain(ctx, pat(1000, 3), [{ len: 1000, cl: true }]);
      m_cat(a, big);
      expect(mbufs(a)).toHaveLength(2);
      expect(big.m_flags & M_PKTHDR).toBe(0);
      /* Like NetBSD, m_cat leaves the header length to the caller. */
      expect(a.m_pkthdr.len).toBe(40);
      a.m_pkthdr.len = 1040;
      expectBytes(a, concat(concat(pat(10), pat(30, 50)), pat(1000, 3)));
      m_cat(a, null);
      m_freem(a);
    });
    noLeaks(ctx);
  });

  it('never writes into a shared cluster at the end of m', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const a = mkchain(ctx, pat(100), [{ len: 100, cl: true }]);
      const c = m_copym(a, 0, M_COPYALL, M_DONTWAIT)!;
      m_cat(a, mkchain(ctx, pat(5, 1), [{ len: 5 }], false));
      expect(mbufs(a)).toHaveLength(2);
      a.m_pkthdr.len = 105;
      expectBytes(a, concat(pat(100), pat(5, 1)));
      expectBytes(c, pat(100));
      m_freem(a);
      m_freem(c);
    });
    noLeaks(ctx);
  });
});

describe('m_split', () => {
  function splitEverywhere(ctx: MbufCtx, seed: number, hdr: boolean, share: boolean): void {
    const r = new Rng(seed);
    const bytes = r.bytes(2500);
    const segs = randSegs(r, bytes.length, hdr);
    for (let off = 0; off <= bytes.length; off++) {
      const m = mkchain(ctx, bytes, segs, hdr);
      const held = share ? m_copym(m, 0, M_COPYALL, M_DONTWAIT)! : null;
      if (hdr) m.m_pkthdr.rcvif_index = 5;
      const n = m_split(m, off, M_DONTWAIT);
      if (n === null) throw new Error(`m_split(${off}) failed`);
      expectBytes(m, bytes.subarray(0, off));
      expectBytes(n, bytes.subarray(off));
      expect(mbufs(m).includes(n)).toBe(false);
      if (hdr) {
        expect(m.m_pkthdr.len).toBe(off);
        expect(n.m_flags & M_PKTHDR).toBe(M_PKTHDR);
        expect(n.m_pkthdr.len).toBe(bytes.length - off);
        expect(n.m_pkthdr.rcvif_index).toBe(5);
      }
      if (held !== null) {
        expectBytes(held, bytes);
        m_freem(held);
      }
      m_freem(m);
      m_freem(n);
    }
  }

  it('splits a random packet at every offset, matching a byte-array model', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      splitEverywhere(ctx, 11, true, false);
    });
    noLeaks(ctx);
  });

  it('splits a chain without a packet header at every offset', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      splitEverywhere(ctx, 12, false, false);
    });
    noLeaks(ctx);
  });

  it('splits a packet whose clusters are shared at every offset, leaving the other holder intact', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      splitEverywhere(ctx, 13, true, true);
    });
    noLeaks(ctx);
  });

  it('shares a cluster it splits inside, and takes more than MHLEN of a small mbuf into a plain mbuf', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const m = mkchain(ctx, pat(1500), [{ len: 1500, cl: true }]);
      const n = m_split(m, 600, M_DONTWAIT)!;
      expect(n.m_ext).toBe(m.m_ext);
      expect(m.m_ext!.ext_refcnt).toBe(2);
      expect(n.m_data).toBe(600);
      m_freem(m);
      m_freem(n);
      const p = mkchain(ctx, pat(MLEN), [{ len: MLEN }], false);
      const h = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
      h.m_next = p;
      h.m_pkthdr.len = MLEN;
      const t = m_split(h, 10, M_DONTWAIT)!;
      /* 246 bytes remain: more than a header mbuf holds, so an empty header leads a plain mbuf. */
      expect(t.m_len).toBe(0);
      expect(t.m_next!.m_len).toBe(MLEN - 10);
      expectBytes(t, pat(MLEN).subarray(10));
      expectBytes(h, pat(MLEN).subarray(0, 10));
      m_freem(h);
      m_freem(t);
    });
    noLeaks(ctx);
  });

  it('returns null with the chain untouched when no mbuf is left', async () => {
    const { k, ctx } = await setup({ nmbufs: 2 });
    kernel_run(k, () => {
      const bytes = pat(40);
      const m = mkchain(ctx, bytes, [{ len: 20 }, { len: 20 }]);
      expect(m_split(m, 10, M_DONTWAIT)).toBeNull();
      expectBytes(m, bytes);
      expect(m_split(m, 40, M_DONTWAIT)).toBeNull();
      expectBytes(m, bytes);
      m_freem(m);
    });
    noLeaks(ctx);
  });
});

describe('m_devget: the driver receive path', () => {
  it('copies a frame into one header mbuf, one cluster, or a chain of them', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const frame = pat(6000, 1);
      for (const [off, len, nm, ncl] of [[0, 0, 1, 0], [0, 60, 1, 0], [2, MHLEN, 1, 0], [0, MHLEN + 1, 1, 1], [14, 1514, 1, 1], [0, MCLBYTES, 1, 1], [0, MCLBYTES + 1, 2, 1], [0, 2 * MCLBYTES + MLEN, 3, 2], [0, 5000, 3, 3]] as const) {
        const m = m_devget(ctx, frame, off, len, 3)!;
        expectBytes(m, frame.subarray(off, off + len));
        expect(m.m_pkthdr.len).toBe(len);
        expect(m.m_pkthdr.rcvif_index).toBe(3);
        expect(mbufs(m)).toHaveLength(nm);
        expect(m_outstanding(ctx).clusters).toBe(ncl);
        m_freem(m);
      }
    });
    noLeaks(ctx);
  });

  it('returns null and counts the drop when clusters are exhausted, and works again after frees', async () => {
    const { k, ctx } = await setup({ nmbclusters: 2 });
    kernel_run(k, () => {
      const frame = pat(1514);
      const a = m_devget(ctx, frame, 0, 1514, 1)!;
      const b = m_devget(ctx, frame, 0, 1514, 1)!;
      expect(m_devget(ctx, frame, 0, 1514, 1)).toBeNull();
      expect(ctx.mbstat.m_drops).toBe(1);
      expect(m_outstanding(ctx)).toEqual({ mbufs: 2, clusters: 2 });
      /* A small frame needs no cluster and still gets through. */
      const s = m_devget(ctx, frame, 0, 60, 1)!;
      expect(s).not.toBeNull();
      m_freem(a);
      const c = m_devget(ctx, frame, 0, 1514, 1)!;
      expectBytes(c, frame);
      for (const x of [b, c, s]) m_freem(x);
    });
    noLeaks(ctx);
  });
});

describe('packet headers', () => {
  it('m_copy_pkthdr / m_move_pkthdr / m_remove_pkthdr carry the header and its flags, not the storage flags', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const a = m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)!;
      a.m_flags |= M_BCAST | M_LOOP;
      Object.assign(a.m_pkthdr, { len: 0, rcvif_index: 9, csum_flags: M_CSUM_IPv4, csum_data: 0x1234, segsz: 536 });
      const b = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      m_copy_pkthdr(b, a);
      expect(b.m_flags).toBe(M_PKTHDR | M_BCAST | M_LOOP);
      expect({ ...b.m_pkthdr }).toEqual({ ...a.m_pkthdr });
      expect(b.m_pkthdr).not.toBe(a.m_pkthdr);
      const c = m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!;
      m_move_pkthdr(c, a);
      expect(c.m_flags & (M_EXT | M_PKTHDR | M_BCAST)).toBe(M_EXT | M_PKTHDR | M_BCAST);
      expect(a.m_flags & M_PKTHDR).toBe(0);
      expect(a.m_flags & M_EXT).toBe(M_EXT);
      m_remove_pkthdr(c);
      expect(c.m_flags & M_PKTHDR).toBe(0);
      for (const x of [a, b, c]) m_free(x);
    });
    noLeaks(ctx);
  });
});

describe('random operation sequences against a byte-array model', () => {
  interface Held {
    m: Mbuf;
    bytes: Uint8Array;
  }

  function runSequence(ctx: MbufCtx, seed: number, steps: number): void {
    const r = new Rng(seed);
    let model = r.bytes(r.int(0, 3000));
    let m: Mbuf = randChain(ctx, r, model);
    /* Copies made along the way: whatever happens to m, they must keep their bytes. */
    const held: Held[] = [];
    const check = (): void => {
      expectBytes(m, model);
      expect(m.m_pkthdr.len).toBe(model.length);
      for (const h of held) expectBytes(h.m, h.bytes);
    };
    const rebuild = (): void => {
      m = randChain(ctx, r, model);
    };
    for (let step = 0; step < steps; step++) {
      const len = model.length;
      const op = r.int(0, 10);
      switch (op) {
        case 0: { /* prepend a header */
          const n = r.int(0, 64);
          const hdr = r.bytes(n);
          const h = M_PREPEND(m, n, M_DONTWAIT);
          if (h === null) throw new Error('M_PREPEND failed');
          m = h;
          expect(m_copyback(m, 0, n, hdr)).toBe(0);
          model = concat(hdr, model);
          break;
        }
        case 1: { /* trim the front or the end */
          const n = r.int(0, Math.min(len, 200) + 10);
          if (r.chance(0.5)) {
            m_adj(m, n);
            model = model.slice(Math.min(n, len));
          } else {
            m_adj(m, -n);
            model = model.slice(0, Math.max(len - n, 0));
          }
          break;
        }
        case 2: { /* pull up a header */
          const n = r.chance(0.1) ? len + r.int(1, 10) : r.int(0, Math.min(len, MCLBYTES));
          const p = m_pullup(m, n);
          if (n > len) {
            expect(p).toBeNull();
            rebuild();
          } else {
            if (p === null) throw new Error('m_pullup failed');
            m = p;
            expect(m.m_len).toBeGreaterThanOrEqual(n);
          }
          break;
        }
        case 3: { /* rewrite (maybe extend) with copy-on-write */
          const off = r.int(0, len + 20);
          const data = r.bytes(r.int(0, 300));
          const p = m_copyback_cow(m, off, data.length, data, 0, M_DONTWAIT);
          if (p === null) throw new Error('m_copyback_cow failed');
          m = p;
          const nlen = Math.max(len, off + data.length);
          const next = new Uint8Array(nlen);
          next.set(model, 0);
          next.set(data, off);
          model = next;
          break;
        }
        case 4: { /* keep a shared copy of a range */
          const off = r.int(0, len);
          const n = r.chance(0.3) ? M_COPYALL : r.int(0, len - off);
          const c = m_copym(m, off, n, M_DONTWAIT);
          if (c === null) throw new Error('m_copym failed');
          const bytes = model.slice(off, n === M_COPYALL ? len : off + n);
          if (off !== 0) {
            /* Give it a header so expectBytes can check its length too. */
            const h = m_gethdr(ctx, M_DONTWAIT, MT_DATA)!;
            h.m_next = c;
            h.m_pkthdr.len = bytes.length;
            held.push({ m: h, bytes });
          } else {
            held.push({ m: c, bytes });
          }
          break;
        }
        case 5: { /* drop a kept copy */
          if (held.length > 0) m_freem(held.splice(r.int(0, held.length - 1), 1)[0]!.m);
          break;
        }
        case 6: { /* split, check both halves, put back together */
          const off = r.int(0, len);
          const t = m_split(m, off, M_DONTWAIT);
          if (t === null) throw new Error('m_split failed');
          expectBytes(m, model.subarray(0, off));
          expectBytes(t, model.subarray(off));
          m_cat(m, t);
          m.m_pkthdr.len = len;
          break;
        }
        case 7: { /* deep copy */
          const d = m_dup(m, 0, M_COPYALL, M_DONTWAIT);
          if (d === null) throw new Error('m_dup failed');
          expectBytes(d, model);
          if (r.chance(0.5)) {
            m_freem(m);
            m = d;
          } else {
            m_freem(d);
          }
          break;
        }
        case 8: { /* poke bytes directly after m_makewritable */
          if (len === 0) break;
          const off = r.int(0, len - 1);
          const n = r.int(1, Math.min(len - off, 8));
          const p = m_makewritable(m, off, n, M_DONTWAIT);
          if (p === null) throw new Error('m_makewritable failed');
          m = p;
          const res: MbufOff = { off: 0 };
          for (let i = 0; i < n; i++) {
            const x = m_getptr(m, off + i, res)!;
            expect(M_READONLY(x)).toBe(false);
            const v = r.int(0, 255);
            x.m_buf[x.m_data + res.off] = v;
            model[off + i] = v;
          }
          break;
        }
        case 9: { /* read a range */
          const off = r.int(0, len);
          const n = r.int(0, len - off);
          const dst = new Uint8Array(n);
          m_copydata(m, off, n, dst, 0);
          expect(dst).toEqual(model.subarray(off, off + n));
          break;
        }
        case 10: { /* receive it afresh from a "wire" */
          if (r.chance(0.3)) {
            m_freem(m);
            m = m_devget(ctx, model, 0, model.length, 1)!;
          }
          break;
        }
      }
      check();
    }
    m_freem(m);
    for (const h of held) m_freem(h.m);
  }

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: 400 operations keep the chain, and every copy of it, equal to the model`, async () => {
      const { k, ctx } = await setup();
      kernel_run(k, () => {
        dirtyPools(ctx);
        runSequence(ctx, seed, 400);
      });
      noLeaks(ctx);
    });
  }
});

describe('exhaustion', () => {
  it('returns null at the cluster limit, counts m_drops, and recovers after frees', async () => {
    const { k, ctx } = await setup({ nmbclusters: 4 });
    kernel_run(k, () => {
      const got: Mbuf[] = [];
      for (let i = 0; i < 4; i++) got.push(m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)!);
      expect(got.every((m) => m !== null)).toBe(true);
      expect(m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)).toBeNull();
      /* M_WAIT does not sleep in the synchronous calls: it fails the same way. */
      expect(m_getcl(ctx, M_WAIT, MT_DATA, 0)).toBeNull();
      const m = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      expect(m_clget(m, M_DONTWAIT)).toBe(false);
      expect(m.m_flags & M_EXT).toBe(0);
      expect(ctx.mbstat.m_drops).toBe(3);
      expect(ctx.mcl_pool.pr_nfail).toBe(3);
      /* The failed m_getcl calls gave their mbufs back. */
      expect(m_outstanding(ctx)).toEqual({ mbufs: 5, clusters: 4 });
      m_freem(got.pop()!);
      expect(m_clget(m, M_DONTWAIT)).toBe(true);
      m_freem(m);
      for (const x of got) m_freem(x);
    });
    expect(k.dmesg()).toMatch(/mclpool limit reached; increase kern\.mbuf\.nmbclusters/);
    noLeaks(ctx);
  });

  it('returns null at the mbuf limit and recovers', async () => {
    const { k, ctx } = await setup({ nmbufs: 3 });
    kernel_run(k, () => {
      const a = [m_get(ctx, M_DONTWAIT, MT_DATA)!, m_gethdr(ctx, M_DONTWAIT, MT_DATA)!, m_get(ctx, M_DONTWAIT, MT_CONTROL)!];
      expect(m_get(ctx, M_DONTWAIT, MT_DATA)).toBeNull();
      expect(m_gethdr(ctx, M_DONTWAIT, MT_DATA)).toBeNull();
      expect(m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)).toBeNull();
      expect(m_frombytes(ctx, pat(10))).toBeNull();
      expect(ctx.mbstat.m_drops).toBe(4);
      expect(m_outstanding(ctx).clusters).toBe(0);
      m_free(a[2]!);
      const b = m_get(ctx, M_DONTWAIT, MT_DATA)!;
      expect(b).not.toBeNull();
      m_free(a[0]!);
      m_free(a[1]!);
      m_free(b);
    });
    noLeaks(ctx);
  });

  it('asks the registered drain routines to free memory before failing (m_reclaim, m_drain)', async () => {
    const { k, ctx } = await setup({ nmbclusters: 2 });
    kernel_run(k, () => {
      /* A "reassembly queue" that holds clusters and gives them up when drained. */
      let queue: Mbuf | null = m_getcl(ctx, M_DONTWAIT, MT_DATA, 0);
      queue!.m_next = m_getcl(ctx, M_DONTWAIT, MT_DATA, 0);
      let drains = 0;
      m_reclaim_register(ctx, () => {
        drains++;
        m_freem(queue);
        queue = null;
      });
      const m = m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)!;
      expect(m).not.toBeNull();
      expect(drains).toBe(1);
      expect(ctx.mbstat.m_drain).toBe(1);
      expect(ctx.mbstat.m_drops).toBe(0);
      m_freem(m);
      m_reclaim(ctx);
      expect(ctx.mbstat.m_drain).toBe(2);
    });
    noLeaks(ctx);
  });
});

describe('leaks and kernel bugs', () => {
  it('counts outstanding mbufs and clusters by type', async () => {
    const { k, ctx } = await setup();
    kernel_run(k, () => {
      const a = m_getcl(ctx, M_DONTWAIT, MT_HEADER, M_PKTHDR)!;
      const b = m_get(ctx, M_DONTWAIT, MT_SONAME)!;
      const c = m_copym(a, 0, M_COPYALL, M_DONTWAIT)!;
      expect(m_outstanding(ctx)).toEqual({ mbufs: 3, clusters: 1 });
      expect(ctx.mbstat.m_mtypes[MT_HEADER]).toBe(2);
      expect(ctx.mbstat.m_mtypes[MT_SONAME]).toBe(1);
      expect(ctx.mbstat.m_mbufs).toBe(3);
      expect(ctx.mbstat.m_clusters).toBe(1);
      for (const x of [a, b, c]) m_free(x);
    });
    noLeaks(ctx);
  });

  it('a double free panics (the pool\'s double-put check) before any counter moves', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    const m = kernel_run(k, () => m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!);
    kernel_run(k, () => { m_free(m); });
    expect(() => kernel_run(k, () => { m_free(m); })).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/pool_put: mbpl: .*double free/);
    expect(ctx.mbstat.m_mtypes[MT_DATA]).toBe(0);
    expect(m_outstanding(ctx)).toEqual({ mbufs: 0, clusters: 0 });
  });

  it('panics on offsets past the end of the chain', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    const m = kernel_run(k, () => mkchain(ctx, pat(10), [{ len: 10 }]));
    expect(() => kernel_run(k, () => m_copydata(m, 5, 6, new Uint8Array(6)))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/m_copydata: chain ends with 1 bytes left/);
  });

  it('m_copym past the end of the chain panics', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    const m = kernel_run(k, () => mkchain(ctx, pat(10), [{ len: 10 }]));
    expect(() => kernel_run(k, () => m_copym(m, 11, 1, M_DONTWAIT))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/m_copym: off 1 beyond the chain/);
  });

  it('m_split past the end of the chain panics', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    const m = kernel_run(k, () => mkchain(ctx, pat(10), [{ len: 10 }]));
    expect(() => kernel_run(k, () => m_split(m, 11, M_DONTWAIT))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/m_split: len0 11 beyond the chain/);
  });

  it('m_verify_packet catches a wrong m_pkthdr.len and a header in the middle', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    const m = kernel_run(k, () => mkchain(ctx, pat(20), [{ len: 10 }, { len: 10 }]));
    m.m_pkthdr.len = 19;
    expect(() => kernel_run(k, () => m_verify_packet(m))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/m_pkthdr\.len 19 != 20/);
    const e2 = await setup();
    const m2 = kernel_run(e2.k, () => mkchain(e2.ctx, pat(20), [{ len: 10 }, { len: 10 }]));
    m2.m_next!.m_flags |= M_PKTHDR;
    expect(() => kernel_run(e2.k, () => m_verify_packet(m2))).toThrow(KernelPanic);
    expect(e2.w.panics[0]!.message).toMatch(/mbuf at byte 10: M_PKTHDR not at the head/);
  });

  it('bad arguments panic: unknown type, bad how', async () => {
    expectPanics();
    const { w, k, ctx } = await setup();
    expect(() => kernel_run(k, () => m_get(ctx, M_DONTWAIT, MT_FREE))).toThrow(KernelPanic);
    expect(w.panics[0]!.message).toMatch(/mbuf: bad type 0/);
    const { w: w2, k: k2, ctx: ctx2 } = await setup();
    expect(() => kernel_run(k2, () => m_get(ctx2, 0, MT_DATA))).toThrow(KernelPanic);
    expect(w2.panics[0]!.message).toMatch(/mbuf: bad how 0/);
  });
});

describe('kern.mbuf sysctl', () => {
  it('publishes msize, mclbytes, nmbclusters and stats under NetBSD\'s MIB numbers', async () => {
    const { k, ctx } = await setup();
    const sc = k.sysctl;
    expect(sc.get('kern.mbuf.msize')).toBe(MSIZE);
    expect(sc.get('kern.mbuf.mclbytes')).toBe(MCLBYTES);
    expect(sc.get('kern.mbuf.nmbclusters')).toBe(NMBCLUSTERS);
    expect(sc.get([1, KERN_MBUF, MBUF_MSIZE])).toBe(MSIZE);
    expect(sc.get([1, KERN_MBUF, MBUF_MCLBYTES])).toBe(MCLBYTES);
    expect(sc.get([1, KERN_MBUF, MBUF_NMBCLUSTERS])).toBe(NMBCLUSTERS);
    expect(sc.sysctl_name2mib('kern.mbuf.stats').mib).toEqual([1, 39, MBUF_STATS]);
    /* msize and mclbytes are read-only. */
    expect(sc.sysctl_dispatch('kern.mbuf.msize', 512).error).not.toBe(0);
    kernel_run(k, () => {
      const a = m_getcl(ctx, M_DONTWAIT, MT_DATA, M_PKTHDR)!;
      const st = sc.get('kern.mbuf.stats') as Mbstat;
      expect(st.m_mbufs).toBe(1);
      expect(st.m_clusters).toBe(1);
      expect(st.m_mtypes[MT_DATA]).toBe(1);
      expect(st).toEqual(mbstat_read(ctx));
      /* A snapshot: later changes do not show in it. */
      m_free(a);
      expect(st.m_mbufs).toBe(1);
      expect((sc.get('kern.mbuf.stats') as Mbstat).m_mbufs).toBe(0);
    });
    const lines = [...sc.walk('kern.mbuf')].map((e) => sc.format(e));
    expect(lines).toContain(`kern.mbuf.msize = ${MSIZE}`);
    expect(lines.some((l) => l.startsWith('kern.mbuf.stats = ') && l.includes('m_drops = 0'))).toBe(true);
    noLeaks(ctx);
  });

  it('kern.mbuf.nmbclusters changes the cluster limit, refusing values below the clusters in use', async () => {
    const { k, ctx } = await setup();
    const sc = k.sysctl;
    const held = kernel_run(k, () => [1, 2, 3].map(() => m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!));
    expect(sc.sysctl_dispatch('kern.mbuf.nmbclusters', 2).error).toBe(EINVAL);
    expect(sc.sysctl_dispatch('kern.mbuf.nmbclusters', -1).error).toBe(EINVAL);
    expect(sc.get('kern.mbuf.nmbclusters')).toBe(NMBCLUSTERS);
    expect(sc.set('kern.mbuf.nmbclusters', 3)).toBe(NMBCLUSTERS);
    expect(ctx.nmbclusters).toBe(3);
    expect(ctx.mcl_pool.pr_hardlimit).toBe(3);
    kernel_run(k, () => {
      expect(m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)).toBeNull();
      expect(ctx.mbstat.m_drops).toBe(1);
    });
    sc.set('kern.mbuf.nmbclusters', 5);
    expect(ctx.mcl_pool.pr_hardlimit).toBe(5);
    kernel_run(k, () => {
      const m = m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!;
      expect(m).not.toBeNull();
      held.push(m);
      for (const x of held) m_freem(x);
    });
    /* With nothing out, even 0 is accepted: every cluster allocation then fails (fault injection). */
    sc.set('kern.mbuf.nmbclusters', 0);
    kernel_run(k, () => { expect(m_devget(ctx, pat(1500), 0, 1500, 1)).toBeNull(); });
    noLeaks(ctx);
  });

  it('kern.mbuf.nmbufs changes the mbuf limit the same way', async () => {
    const { k, ctx } = await setup();
    const sc = k.sysctl;
    expect(sc.get('kern.mbuf.nmbufs')).toBe(NMBUFS);
    const m = kernel_run(k, () => m_frombytes(ctx, pat(600))!);
    expect(sc.sysctl_dispatch('kern.mbuf.nmbufs', 0).error).toBe(EINVAL);
    sc.set('kern.mbuf.nmbufs', 1);
    kernel_run(k, () => {
      expect(m_get(ctx, M_DONTWAIT, MT_DATA)).toBeNull();
      m_freem(m);
    });
    noLeaks(ctx);
  });
});

describe('sleeping allocation (M_WAIT from an LWP)', () => {
  it('m_get_wait and m_getcl_wait sleep until memory is freed and count m_wait', async () => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w);
    const ctx = kernel_run(k, () => mbinit(k, { nmbufs: 1, nmbclusters: 1 }));
    const held = kernel_run(k, () => m_getcl(ctx, M_DONTWAIT, MT_DATA, 0)!);
    let got: Mbuf | null = null;
    let gotAt = -1;
    const waiter = kthread_create(k, 'sender', async (l) => {
      got = await m_getcl_wait(ctx, l, MT_DATA, M_PKTHDR);
      gotAt = w.nowMs();
    });
    const freer = kthread_create(k, 'freer', async (l) => {
      await kpause(l, 'delay', false, 50, null);
      m_freem(held);
    });
    await w.advance(100);
    expect(got).toBeNull();
    expect(waiter.l_stat).toBe(LSSLEEP);
    expect(waiter.l_wmesg).toBe('mbpl');
    expect(ctx.mbstat.m_wait).toBe(1);
    await w.advance(1000);
    await Promise.all([kthread_join(waiter), kthread_join(freer)]);
    const m = got as Mbuf | null;
    expect(m).not.toBeNull();
    expect(gotAt).toBeGreaterThanOrEqual(500);
    expect(m!.m_flags & (M_PKTHDR | M_EXT)).toBe(M_PKTHDR | M_EXT);
    /* The mbuf freed first let the sender through; the cluster had come back with it. */
    expect(ctx.mbstat.m_wait).toBe(1);
    expect(ctx.mbstat.m_drops).toBe(0);
    kernel_run(k, () => { m_freem(m); });
    let flags = -1;
    const quick = kthread_create(k, 'quick', async (l) => {
      const x = await m_get_wait(ctx, l, MT_DATA);
      flags = x.m_flags;
      m_free(x);
    });
    await kthread_join(quick);
    expect(flags).toBe(0);
    expect(ctx.mbstat.m_wait).toBe(1);
    noLeaks(ctx);
  });
});

describe('two kernels', () => {
  it('have independent mbuf contexts: pools, limits, statistics and sysctl', async () => {
    /* Two kernels on one simulated world, as multi-kernel tests run them. */
    const w = simWorld({ seed: 1 });
    const ka = await bootSim(w, { name: 'a' });
    const kb = await bootSim(w, { name: 'b' });
    const a = { k: ka, ctx: kernel_run(ka, () => mbinit(ka, { nmbclusters: 2 })) };
    const b = { k: kb, ctx: kernel_run(kb, () => mbinit(kb)) };
    expect(a.ctx.mb_pool).not.toBe(b.ctx.mb_pool);
    const ma = kernel_run(a.k, () => [m_getcl(a.ctx, M_DONTWAIT, MT_DATA, 0)!, m_getcl(a.ctx, M_DONTWAIT, MT_DATA, 0)!]);
    kernel_run(a.k, () => { expect(m_getcl(a.ctx, M_DONTWAIT, MT_DATA, 0)).toBeNull(); });
    /* Kernel b is not affected by a's exhaustion. */
    const mb = kernel_run(b.k, () => m_getcl(b.ctx, M_DONTWAIT, MT_DATA, 0)!);
    expect(mb).not.toBeNull();
    expect(a.ctx.mbstat.m_drops).toBe(1);
    expect(b.ctx.mbstat.m_drops).toBe(0);
    expect(m_outstanding(a.ctx)).toEqual({ mbufs: 2, clusters: 2 });
    expect(m_outstanding(b.ctx)).toEqual({ mbufs: 1, clusters: 1 });
    b.k.sysctl.set('kern.mbuf.nmbclusters', 7);
    expect(a.k.sysctl.get('kern.mbuf.nmbclusters')).toBe(2);
    expect(a.ctx.mcl_pool.pr_hardlimit).toBe(2);
    /* A copy made from b's packet comes from b, and frees go back to each owner. */
    const cb = kernel_run(b.k, () => m_copym(mb, 0, M_COPYALL, M_DONTWAIT)!);
    expect(cb.m_ctx).toBe(b.ctx);
    kernel_run(b.k, () => { m_freem(cb); m_freem(mb); });
    kernel_run(a.k, () => { for (const x of ma) m_freem(x); });
    noLeaks(a.ctx);
    noLeaks(b.ctx);
  });
});
