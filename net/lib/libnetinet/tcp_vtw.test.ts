import { describe, it, expect } from 'vitest';
import {
  FATP_NTAGS, VTW_REUSEADDR, VTW_REUSEPORT, VtwPortIter, VtwTable, vtw_port_tag, vtw_tag_v4,
} from './tcp_vtw.ts';

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const SERVER = ip(10, 0, 0, 1);
const CLIENT = ip(10, 1, 0, 1);

/* A vestige of a server connection: server SERVER:80, client CLIENT+k:port. */
function addc(t: VtwTable, cls: number, expire: number, client: number, port: number, lport = 80): number {
  return t.add(cls, expire, SERVER, lport, client, port, port * 3, port * 5, 1000, 0);
}
const lookc = (t: VtwTable, client: number, port: number, lport = 80): number =>
  t.lookup_connect(client, port, SERVER, lport);

/* n tuples (faddr, fport) towards laddr:lport that share one full-hash tag. */
function sameTag(n: number, laddr: number, lport: number): Array<[number, number]> {
  const fa0 = ip(10, 9, 0, 1);
  const tag = vtw_tag_v4(fa0, 30000, laddr, lport);
  const out: Array<[number, number]> = [[fa0, 30000]];
  for (let fa = ip(11, 0, 0, 0); out.length < n; fa++) {
    const fport = (tag - vtw_tag_v4(fa, 0, laddr, lport)) | 0;
    if (fport >= 0 && fport <= 0xffff) out.push([fa, fport]);
  }
  return out;
}

/* Every index port iteration yields for lport, with the given cursor. */
function portSet(t: VtwTable, lport: number, it?: VtwPortIter): number[] {
  const out: number[] = [];
  for (let i = t.port_first(lport, it); i >= 0; i = t.port_next(it)) out.push(i);
  return out.sort((a, b) => a - b);
}

describe('VtwTable: shape', () => {
  it('takes a power of two in 16..2^21 and sizes its hashes and pool from it', () => {
    for (const bad of [0, 8, 15, 17, 24, 1.5, 1 << 22, NaN]) {
      expect(() => new VtwTable(bad)).toThrow(RangeError);
    }
    expect(() => new VtwTable(16, 1)).toThrow(/pool/);
    const t = new VtwTable(16);
    expect(t.nentries).toBe(16);
    expect(t.idx_bits).toBe(4);
    expect(t.nbuckets).toBe(16);
    expect(t.nportbuckets).toBe(16);
    expect(t.nlines).toBe(16 + 16 + 2 * 1);
    const big = new VtwTable(1 << 20);
    expect(big.nbuckets).toBe(1 << 17);
    expect(big.nportbuckets).toBe(16384);
    expect(big.nlines).toBe((1 << 17) + 16384 + 2 * Math.floor(11 * Math.floor((1 << 20) / FATP_NTAGS) / 10));
    expect(big.linesFree()).toBe(big.nlines);
  });

  it('holds at most 64 bytes per entry at N = 2^20, fat pointers and anchors included', () => {
    const t = new VtwTable(1 << 20);
    const per = t.bytes() / t.nentries;
    console.log(`vtw: N=2^20 ${t.bytes()} bytes, ${per.toFixed(2)} per entry, ${t.nlines} lines`);
    expect(per).toBeLessThanOrEqual(64);
  });

  it('rejects bad arguments with RangeError', () => {
    const t = new VtwTable(16);
    expect(() => t.add(4, 100, SERVER, 80, CLIENT, 1, 0, 0, 0, 0)).toThrow(RangeError);
    expect(() => t.add(-1, 100, SERVER, 80, CLIENT, 1, 0, 0, 0, 0)).toThrow(RangeError);
    expect(() => t.add(0, 0, SERVER, 80, CLIENT, 1, 0, 0, 0, 0)).toThrow(/expiry/);
    expect(() => t.add(0, NaN, SERVER, 80, CLIENT, 1, 0, 0, 0, 0)).toThrow(/expiry/);
    expect(() => t.del(16)).toThrow(/index 16/);
    expect(() => t.del(-1)).toThrow(RangeError);
    expect(() => t.restart(0.5, 100)).toThrow(RangeError);
    expect(() => t.age(4, 100)).toThrow(/class 4/);
    expect(() => t.allocated(-1)).toThrow(RangeError);
    const i = addc(t, 0, 100, CLIENT, 1);
    expect(() => t.restart(i, -5)).toThrow(/expiry/);
  });
});

describe('VtwTable: entries', () => {
  it('adds, finds and deletes an entry with all its fields', () => {
    const t = new VtwTable(16);
    const laddr = ip(192, 168, 7, 1);
    const faddr = ip(203, 0, 113, 9);
    const i = t.add(1, 60_000, laddr, 443, faddr, 65535, 0xfffffff0, 0x80000001, 0xfffffffe,
      VTW_REUSEADDR | VTW_REUSEPORT | 0x40);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(t.count()).toBe(1);
    expect(t.lookup_connect(faddr, 65535, laddr, 443)).toBe(i);
    expect(t.alive(i)).toBe(true);
    expect(t.laddr(i)).toBe(laddr);
    expect(t.lport(i)).toBe(443);
    expect(t.faddr(i)).toBe(faddr);
    expect(t.fport(i)).toBe(65535);
    expect(t.rcv_nxt(i)).toBe(0xfffffff0);
    expect(t.snd_nxt(i)).toBe(0x80000001);
    expect(t.ts_recent(i)).toBe(0xfffffffe);
    expect(t.flags(i)).toBe(VTW_REUSEADDR | VTW_REUSEPORT);
    expect(t.msl_class(i)).toBe(1);
    expect(t.expire(i)).toBe(60_000);
    /* Any field off by one misses. */
    expect(t.lookup_connect(faddr + 1, 65535, laddr, 443)).toBe(-1);
    expect(t.lookup_connect(faddr, 65534, laddr, 443)).toBe(-1);
    expect(t.lookup_connect(faddr, 65535, laddr + 1, 443)).toBe(-1);
    expect(t.lookup_connect(faddr, 65535, laddr, 444)).toBe(-1);
    expect(t.port_first(443)).toBe(i);
    expect(t.port_next()).toBe(-1);
    expect(t.stats.ins).toBe(1);
    expect(t.stats.hit[0]).toBe(1);
    expect(t.stats.miss[0]).toBe(4);
    expect(t.stats.look[0]).toBe(5);

    t.del(i);
    expect(t.alive(i)).toBe(false);
    expect(t.count()).toBe(0);
    expect(t.stats.del).toBe(1);
    expect(t.lookup_connect(faddr, 65535, laddr, 443)).toBe(-1);
    expect(t.port_first(443)).toBe(-1);
    /* It was the ring's oldest: the slot is free again, and so are the lines. */
    expect(t.allocated(1)).toBe(0);
    expect(t.expire(i)).toBe(0);
    expect(t.linesFree()).toBe(t.nlines);
    /* A second del is harmless. */
    t.del(i);
    expect(t.stats.del).toBe(1);
  });

  it('evicts the oldest when a class ring is full, counting a kill', () => {
    const t = new VtwTable(16);
    /* N = 16: classes 1..3 get 5 slots each. */
    const idx = [0, 1, 2, 3, 4].map((k) => addc(t, 1, 100 + k, CLIENT, 1000 + k));
    expect(idx).toEqual([0, 1, 2, 3, 4]);
    expect(t.stats.kill).toBe(0);
    const n = addc(t, 1, 200, CLIENT, 2000);
    /* The clock hand wrapped onto the oldest slot. */
    expect(n).toBe(0);
    expect(t.stats.kill).toBe(1);
    expect(lookc(t, CLIENT, 1000)).toBe(-1);
    expect(lookc(t, CLIENT, 2000)).toBe(0);
    for (let k = 1; k < 5; k++) expect(lookc(t, CLIENT, 1000 + k)).toBe(k);
    /* Then the next oldest, in age order. */
    expect(addc(t, 1, 201, CLIENT, 2001)).toBe(1);
    expect(lookc(t, CLIENT, 1001)).toBe(-1);
    expect(t.stats.kill).toBe(2);
    expect(t.count()).toBe(5);
  });

  it('evicts every entry that expires with the oldest (vtw_age latches its expiry)', () => {
    const t = new VtwTable(16);
    for (const [k, e] of [100, 100, 100, 101, 102].entries()) addc(t, 2, e, CLIENT, 1000 + k);
    addc(t, 2, 300, CLIENT, 2000);
    expect(t.stats.kill).toBe(3);
    expect(t.count()).toBe(3);
    expect(t.allocated(2)).toBe(3);
    expect([0, 1, 2].map((k) => lookc(t, CLIENT, 1000 + k))).toEqual([-1, -1, -1]);
    expect(lookc(t, CLIENT, 1003)).toBeGreaterThanOrEqual(0);
  });

  it('keeps class rings independent', () => {
    const t = new VtwTable(16);
    for (let c = 1; c <= 3; c++) {
      for (let k = 0; k < 5; k++) {
        const i = addc(t, c, 100 * c + k, CLIENT + c, k);
        /* Class c owns slots 5(c-1) .. 5c-1. */
        expect(i).toBe(5 * (c - 1) + k);
        expect(t.msl_class(i)).toBe(c);
      }
    }
    expect(t.count()).toBe(15);
    /* Overflowing class 2 evicts only class 2. */
    expect(addc(t, 2, 999, CLIENT + 2, 100)).toBe(5);
    expect(t.stats.kill).toBe(1);
    expect(lookc(t, CLIENT + 2, 0)).toBe(-1);
    for (let k = 0; k < 5; k++) {
      expect(lookc(t, CLIENT + 1, k)).toBe(k);
      expect(lookc(t, CLIENT + 3, k)).toBe(10 + k);
    }
    /* Aging one class leaves the others alone. */
    expect(t.age(1, 1e9)).toBe(5);
    expect(t.count()).toBe(10);
    expect(t.allocated(1)).toBe(0);
    expect(t.allocated(3)).toBe(5);
  });

  it('keeps an out-of-order deleted slot until the tail reaches it', () => {
    const t = new VtwTable(16);
    for (let k = 0; k < 5; k++) addc(t, 1, 100 + k, CLIENT, 1000 + k);
    t.del(2);
    expect(t.alive(2)).toBe(false);
    expect(lookc(t, CLIENT, 1002)).toBe(-1);
    expect(t.count()).toBe(4);
    /* Invisible, yet the slot is held. */
    expect(t.allocated(1)).toBe(5);
    expect(t.expire(2)).toBe(102);
    /* Ring full: the oldest (slot 0) goes, the dead slot 2 stays. */
    expect(addc(t, 1, 200, CLIENT, 2000)).toBe(0);
    expect(t.stats.kill).toBe(1);
    expect(addc(t, 1, 201, CLIENT, 2001)).toBe(1);
    expect(t.stats.kill).toBe(2);
    /* Now the dead slot is the oldest: freeing it kills nothing. */
    expect(addc(t, 1, 202, CLIENT, 2002)).toBe(2);
    expect(t.stats.kill).toBe(2);
    expect(t.count()).toBe(5);
    /* Deleting the oldest frees at once. */
    t.del(3);
    expect(t.allocated(1)).toBe(4);
    expect(t.expire(3)).toBe(0);
    /* Aging frees dead slots when their time comes, counting only alive ones. */
    t.del(0);
    t.del(1);
    expect(t.allocated(1)).toBe(4);
    expect(t.age(1, 200)).toBe(1);
    expect(t.allocated(1)).toBe(2);
  });

  it('ages oldest first, stops at the first entry still to live, and counts what it removed', () => {
    const t = new VtwTable(16);
    for (let k = 0; k < 5; k++) addc(t, 1, 100 + 10 * k, CLIENT, k);
    for (let k = 0; k < 3; k++) addc(t, 2, 105 + 10 * k, CLIENT, 100 + k);
    expect(t.age(1, 99)).toBe(0);
    expect(t.age(1, 100)).toBe(1);
    expect(t.age(1, 125)).toBe(2);
    expect(t.count()).toBe(5);
    expect(t.ageAll(130)).toBe(1 + 3);
    expect(lookc(t, CLIENT, 3)).toBe(-1);
    expect(lookc(t, CLIENT, 4)).toBe(4);
    expect(lookc(t, CLIENT, 102)).toBe(-1);
    expect(t.ageAll(1e9)).toBe(1);
    expect(t.count()).toBe(0);
    expect(t.linesFree()).toBe(t.nlines);
    /* Not kills: they lived their time. */
    expect(t.stats.kill).toBe(0);
    expect(t.stats.del).toBe(8);
  });

  it('restarts an entry: a fresh expiry in a new slot of its class, the old slot held', () => {
    const t = new VtwTable(16);
    const b = addc(t, 3, 100, CLIENT, 5001);
    const a = t.add(3, 101, SERVER, 80, CLIENT, 5000, 111, 222, 7, VTW_REUSEPORT);
    const n = t.restart(a, 200);
    expect(n).not.toBe(a);
    expect(t.alive(a)).toBe(false);
    expect(lookc(t, CLIENT, 5000)).toBe(n);
    expect([t.laddr(n), t.lport(n), t.faddr(n), t.fport(n)]).toEqual([SERVER, 80, CLIENT, 5000]);
    expect([t.rcv_nxt(n), t.snd_nxt(n), t.ts_recent(n), t.flags(n), t.msl_class(n)]).toEqual([111, 222, 7, VTW_REUSEPORT, 3]);
    expect(t.expire(n)).toBe(200);
    expect(t.count()).toBe(2);
    expect(t.allocated(3)).toBe(3);
    expect(t.stats.ins).toBe(3);
    expect(t.stats.del).toBe(1);
    expect(t.restart(a, 300)).toBe(-1);
    /* b and the held slot expire; the restarted entry lives on. */
    expect(t.age(3, 150)).toBe(1);
    expect(t.alive(b)).toBe(false);
    expect(t.allocated(3)).toBe(1);
    expect(lookc(t, CLIENT, 5000)).toBe(n);
    /* Restarting the oldest frees its slot at once. */
    const m = t.restart(n, 400);
    expect(t.allocated(3)).toBe(1);
    expect(t.expire(m)).toBe(400);
    expect(t.expire(n)).toBe(0);
  });

  it('restarts the oldest entry of a full ring into its own recycled slot', () => {
    const t = new VtwTable(16);
    for (let k = 0; k < 5; k++) addc(t, 1, 100 + k, CLIENT, k);
    const n = t.restart(0, 500);
    expect(n).toBe(0);
    expect(t.expire(0)).toBe(500);
    expect(lookc(t, CLIENT, 0)).toBe(0);
    expect(t.rcv_nxt(0)).toBe(0);
    expect(t.count()).toBe(5);
    /* Making room took the entry itself, so the ring counts a kill. */
    expect(t.stats.kill).toBe(1);
    /* Now slot 1 is the oldest. */
    expect(addc(t, 1, 600, CLIENT, 99)).toBe(1);
    expect(lookc(t, CLIENT, 1)).toBe(-1);
  });

  it('switches between classless and classes: usurps free slots, fails on held ones', () => {
    const t = new VtwTable(16);
    for (let k = 0; k < 5; k++) expect(addc(t, 1, 100 + k, CLIENT, k)).toBe(k);
    /* Ring 0's hand is on slot 0, still held by class 1. */
    expect(addc(t, 0, 300, CLIENT, 100)).toBe(-1);
    expect(t.count()).toBe(5);
    expect(t.age(1, 1e9)).toBe(5);
    const z = addc(t, 0, 300, CLIENT, 100);
    expect(z).toBe(0);
    expect(t.msl_class(0)).toBe(0);
    /* Ring 1's hand wrapped to slot 0, which class 0 now holds. */
    expect(addc(t, 1, 400, CLIENT, 200)).toBe(-1);
    t.del(z);
    expect(addc(t, 1, 400, CLIENT, 200)).toBe(0);
    expect(t.msl_class(0)).toBe(1);
    /* Ring 0 moved on to slot 1, free: usurped from class 1. */
    expect(addc(t, 0, 500, CLIENT, 300)).toBe(1);
    expect(t.msl_class(1)).toBe(0);
    /* The leftover slot 15 belongs to class 0 only. */
    expect(t.msl_class(15)).toBe(0);
  });

  it('restart keeps the old entry when no slot can be had', () => {
    const t = new VtwTable(16);
    for (let k = 0; k < 16; k++) expect(addc(t, 0, 100 + k, CLIENT, k)).toBe(k);
    t.del(0);
    /* Class 1 takes the freed slot 0, just under ring 0's hand. */
    expect(addc(t, 1, 150, CLIENT, 1000)).toBe(0);
    expect(t.restart(5, 300)).toBe(5);
    expect(t.expire(5)).toBe(105);
    expect(lookc(t, CLIENT, 5)).toBe(5);
    expect(addc(t, 0, 300, CLIENT, 99)).toBe(-1);
  });
});

describe('VtwTable: fat-pointer hashes', () => {
  it('screens colliding tags at the entry and spans chains over lines; unlinks emptied lines', () => {
    const t = new VtwTable(64);
    const tuples = sameTag(30, SERVER, 80);
    const tag = vtw_tag_v4(tuples[0]![0], tuples[0]![1], SERVER, 80);
    for (const [fa, fp] of tuples) expect(vtw_tag_v4(fa, fp, SERVER, 80)).toBe(tag);
    const idx = tuples.map(([fa, fp], k) => t.add(0, 100 + k, SERVER, 80, fa, fp, k, 0, 0, 0));
    expect(idx).toEqual([...Array(30).keys()]);
    /* 13 + 13 + 4 in both the full and the port hash. */
    expect(t.linesFree()).toBe(t.nlines - 6);
    const found = (): number[] => tuples.map(([fa, fp]) => t.lookup_connect(fa, fp, SERVER, 80));
    expect(found()).toEqual(idx);
    /* Equal tags pass the screen, so wrong entries were dereferenced. */
    expect(t.stats.losing[0]).toBeGreaterThan(0);
    expect(t.stats.max_chain[0]).toBe(3);
    expect(t.stats.max_probe[0]).toBe(30);
    expect(t.stats.max_loss[0]).toBe(29);
    expect(portSet(t, 80)).toEqual(idx);

    /* Empty the middle line (entries 13..25): it is unlinked in both hashes. */
    for (let k = 13; k < 26; k++) t.del(k);
    expect(t.linesFree()).toBe(t.nlines - 4);
    const alive = (ks: number[]): number[] => ks.map((k) => (t.alive(k) ? k : -1));
    const want1 = alive(idx);
    expect(found()).toEqual(want1);
    expect(portSet(t, 80)).toEqual(want1.filter((k) => k >= 0));

    /* Part of the head line, then all of it: the old tail becomes the head. */
    t.del(27);
    expect(t.linesFree()).toBe(t.nlines - 4);
    for (const k of [26, 28, 29]) t.del(k);
    expect(t.linesFree()).toBe(t.nlines - 2);
    expect(found()).toEqual(alive(idx));
    /* A new entry goes into a fresh head line (the old line is full). */
    const [fa, fp] = sameTag(31, SERVER, 80)[30]!;
    const z = t.add(0, 500, SERVER, 80, fa, fp, 0, 0, 0, 0);
    expect(t.lookup_connect(fa, fp, SERVER, 80)).toBe(z);
    expect(t.linesFree()).toBe(t.nlines - 4);
    /* Deleting from the now-tail line, out of order, leaves the rest. */
    for (const k of [5, 0, 12]) t.del(k);
    expect(found()).toEqual(alive(idx));
    expect(portSet(t, 80)).toEqual([...alive(idx).filter((k) => k >= 0), z].sort((a, b) => a - b));
    /* Everything gone: every line is back in the pool. */
    expect(t.ageAll(1e9)).toBe(11);
    expect(t.count()).toBe(0);
    expect(t.linesFree()).toBe(t.nlines);
  });

  it('screens different tags in one bucket without dereferencing them', () => {
    const t = new VtwTable(64);
    /* 16 buckets: find 25 tuples with distinct tags in bucket 5. */
    const mine: Array<[number, number]> = [];
    for (let p = 1; mine.length < 25; p++) {
      if ((vtw_tag_v4(CLIENT, p, SERVER, 80) & 15) === 5) mine.push([CLIENT, p]);
    }
    for (const [fa, fp] of mine) t.add(0, 100, SERVER, 80, fa, fp, 0, 0, 0, 0);
    for (const [fa, fp] of mine) expect(t.lookup_connect(fa, fp, SERVER, 80)).toBeGreaterThanOrEqual(0);
    expect(t.stats.max_chain[0]).toBe(2);
    expect(t.stats.losing[0]).toBe(0);
    expect(t.lookup_connect(CLIENT, 0, SERVER, 80)).toBe(-1);
  });

  it('iterates the entries of a port, across ports sharing a bucket and chains of lines', () => {
    const t = new VtwTable(256);
    const b = vtw_port_tag(80) & (t.nportbuckets - 1);
    const ports = [80];
    for (let p = 81; ports.length < 6; p++) if ((vtw_port_tag(p) & (t.nportbuckets - 1)) === b) ports.push(p);
    ports.push(443);
    const want = new Map<number, Set<number>>(ports.map((p) => [p, new Set()]));
    for (let k = 0; k < 200; k++) {
      const lport = ports[k % ports.length]!;
      const i = t.add(0, 100 + k, SERVER, lport, CLIENT + (k % 7), 2000 + k, 0, 0, 0, 0);
      want.get(lport)!.add(i);
    }
    for (let k = 0; k < 200; k += 3) {
      want.get(t.lport(k))!.delete(k);
      t.del(k);
    }
    for (const p of ports) expect(portSet(t, p)).toEqual([...want.get(p)!].sort((x, y) => x - y));
    /* A port sharing the bucket but without entries. */
    let empty = ports[5]! + 1;
    while ((vtw_port_tag(empty) & (t.nportbuckets - 1)) !== b) empty++;
    expect(t.port_first(empty)).toBe(-1);
    /* Cursors nest. */
    const outer = new VtwPortIter();
    const inner = new VtwPortIter();
    let pairs = 0;
    for (let i = t.port_first(80, outer); i >= 0; i = t.port_next(outer)) {
      expect(t.lport(i)).toBe(80);
      pairs += portSet(t, ports[1]!, inner).length;
    }
    expect(pairs).toBe(want.get(80)!.size * want.get(ports[1]!)!.size);
  });

  it('finds a busy server port at the first probe', () => {
    const t = new VtwTable(1 << 16);
    for (let k = 0; k < 60000; k++) addc(t, 0, 100 + k, CLIENT + (k >>> 14), 49152 + (k & 16383));
    const st = t.stats;
    const p0 = st.probe[1]!;
    const v0 = st.visits[1]!;
    const i = t.port_first(80);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(st.probe[1]! - p0).toBe(1);
    expect(st.visits[1]! - v0).toBe(1);
    /* The whole chain: every entry once. */
    let n = 1;
    while (t.port_next() >= 0) n++;
    expect(n).toBe(60000);
    /* Expiry of the oldest half frees the chain's tail lines without walking it. */
    expect(t.age(0, 100 + 29999)).toBe(30000);
    expect(portSet(t, 80).length).toBe(30000);
  });

  it('evicts from the adding class when the pool is empty, and fails if that class has nothing', () => {
    /* A five-line pool; every entry on port 80 (one port line), each in its own full bucket. */
    const t = new VtwTable(64, 5);
    const ports: number[] = [];
    const seen = new Set<number>();
    for (let p = 1; ports.length < 8; p++) {
      const b = vtw_tag_v4(CLIENT, p, SERVER, 80) & (t.nbuckets - 1);
      if (!seen.has(b)) {
        seen.add(b);
        ports.push(p);
      }
    }
    for (let k = 0; k < 4; k++) expect(addc(t, 1, 100 + k, CLIENT, ports[k]!)).toBeGreaterThanOrEqual(0);
    expect(t.linesFree()).toBe(0);
    /* Class 1 pays with its oldest entry. */
    expect(addc(t, 1, 200, CLIENT, ports[4]!)).toBeGreaterThanOrEqual(0);
    expect(t.stats.kill).toBe(1);
    expect(lookc(t, CLIENT, ports[0]!)).toBe(-1);
    /* Class 2 owns nothing to evict. */
    expect(addc(t, 2, 300, CLIENT, ports[5]!)).toBe(-1);
    expect(t.count()).toBe(4);
    /* ... unless its entry fits lines already there: same full bucket as a live one. */
    const live = ports[1]!;
    const lb = vtw_tag_v4(CLIENT, live, SERVER, 80) & (t.nbuckets - 1);
    let q = 1;
    while ((vtw_tag_v4(CLIENT + 1, q, SERVER, 80) & (t.nbuckets - 1)) !== lb) q++;
    const j = addc(t, 2, 300, CLIENT + 1, q);
    expect(j).toBeGreaterThanOrEqual(0);
    expect(lookc(t, CLIENT + 1, q)).toBe(j);
    expect(t.count()).toBe(5);
    expect(t.stats.kill).toBe(1);
  });
});

describe('VtwTable: scale (N = 2^20)', () => {
  it('inserts, finds, misses and expires a million entries', () => {
    const N = 1 << 20;
    const M = 1_000_000;
    const t = new VtwTable(N);
    const t0 = performance.now();
    /* 62 clients x 16384 ephemeral ports towards one server port. */
    for (let k = 0; k < M; k++) {
      const i = t.add(0, 1000 + (k >>> 10), SERVER, 80, CLIENT + (k >>> 14), 49152 + (k & 16383), k, ~k, k & 0xffff, 0);
      if (i !== k) throw new Error(`add ${k} gave ${i}`);
    }
    const t1 = performance.now();
    expect(t.count()).toBe(M);
    expect(t.stats.kill).toBe(0);
    let bad = 0;
    for (let k = 0; k < M; k++) {
      const i = t.lookup_connect(CLIENT + (k >>> 14), 49152 + (k & 16383), SERVER, 80);
      if (i !== k || t.rcv_nxt(i) !== k) bad++;
    }
    for (let k = 0; k < M; k++) {
      if (t.lookup_connect(CLIENT + (k >>> 14), 49152 + (k & 16383), SERVER, 8080) !== -1) bad++;
    }
    const t2 = performance.now();
    expect(bad).toBe(0);
    expect(t.stats.hit[0]).toBe(M);
    expect(t.stats.miss[0]).toBe(M);
    /* Expire the first 488 ms worth: 488 * 1024 entries. */
    expect(t.age(0, 1000 + 487)).toBe(488 * 1024);
    expect(t.count()).toBe(M - 488 * 1024);
    expect(lookc(t, CLIENT, 49152)).toBe(-1);
    expect(lookc(t, CLIENT + (999_999 >>> 14), 49152 + (999_999 & 16383))).toBe(999_999);
    expect(t.ageAll(1e12)).toBe(M - 488 * 1024);
    const t3 = performance.now();
    expect(t.count()).toBe(0);
    expect(t.linesFree()).toBe(t.nlines);
    for (let k = 0; k < M; k += 997) expect(lookc(t, CLIENT + (k >>> 14), 49152 + (k & 16383))).toBe(-1);
    console.log(`vtw: 1e6 entries: add ${(t1 - t0).toFixed(0)} ms, 2e6 lookups ${(t2 - t1).toFixed(0)} ms, ` +
      `expire ${(t3 - t2).toFixed(0)} ms`);
  });

  /*
   * Average lines visited per full-hash lookup at full load after churn
   * (the ring has wrapped, evicting), for hits and misses.
   */
  function churn(label: string, N: number, total: number, tuple: (k: number, miss: boolean) => [number, number, number, number]): void {
    const t = new VtwTable(N);
    for (let k = 0; k < total; k++) {
      const [fa, fp, la, lp] = tuple(k, false);
      t.add(0, 1000 + k, la, lp, fa, fp, 0, 0, 0, 0);
    }
    expect(t.count()).toBe(N);
    const st = t.stats;
    let v = st.visits[0]!;
    let l = st.look[0]!;
    for (let k = total - N; k < total; k++) {
      const [fa, fp, la, lp] = tuple(k, false);
      if (t.lookup_connect(fa, fp, la, lp) < 0) throw new Error(`${label}: lost ${k}`);
    }
    const hit = (st.visits[0]! - v) / (st.look[0]! - l);
    v = st.visits[0]!;
    l = st.look[0]!;
    const lose = st.losing[0]!;
    for (let k = 0; k < N; k++) {
      const [fa, fp, la, lp] = tuple(k, true);
      if (t.lookup_connect(fa, fp, la, lp) >= 0) throw new Error(`${label}: false hit ${k}`);
    }
    const miss = (st.visits[0]! - v) / (st.look[0]! - l);
    console.log(`vtw: ${label}: lines per lookup ${hit.toFixed(3)} (hit) ${miss.toFixed(3)} (miss), ` +
      `losing per miss ${((st.losing[0]! - lose) / N).toFixed(4)}, max chain ${st.max_chain[0]}, ` +
      `lines free ${t.linesFree()}/${t.nlines}`);
    expect(hit).toBeLessThanOrEqual(1.2);
    expect(miss).toBeLessThanOrEqual(1.2);
  }

  it('visits at most 1.2 lines per lookup at full load: one client, many ports, one server port', () => {
    churn('one client, N=2^16', 1 << 16, 3 << 16, (k, miss) => [CLIENT, 1024 + (k % 64512), SERVER, miss ? 81 : 80]);
  });

  it('visits at most 1.2 lines per lookup at full load: many clients', () => {
    /* 64 consecutive client addresses x 16384 ephemeral ports, server side and client side. */
    const N = 1 << 20;
    churn('64 clients, server side, N=2^20', N, N + (N >>> 2), (k, miss) => {
      const c = k & (N - 1);
      return [CLIENT + (c >>> 14), 49152 + (c & 16383), SERVER, miss ? 8080 : 80];
    });
    churn('64 servers, client side, N=2^20', N, N + (N >>> 2), (k, miss) => {
      const c = k & (N - 1);
      return [SERVER + (c >>> 14), miss ? 443 : 80, CLIENT, 49152 + (c & 16383)];
    });
  });

  it('visits at most 1.2 lines per lookup at full load: random clients', () => {
    const N = 1 << 18;
    const total = N + (N >>> 1);
    let seed = 1;
    const rnd = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 15), z | 1);
      z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
      return (z ^ (z >>> 14)) >>> 0;
    };
    const fa = new Uint32Array(total);
    const fp = new Uint16Array(total);
    for (let k = 0; k < total; k++) {
      fa[k] = rnd();
      fp[k] = rnd();
    }
    churn('random clients, N=2^18', N, total, (k, miss) => [fa[k]!, fp[k]!, SERVER, miss ? 81 : 80]);
  });
});
