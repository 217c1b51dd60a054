/*
 * Tests for radix.ts: the IPv4 longest-prefix-match tree against a brute
 * force model (seeded random inserts, deletes and lookups over prefixes
 * that nest and collide on purpose), edge lengths /0 and /32, the walk
 * order, deletion during a walk, and the tree's structural invariants.
 */
import { describe, expect, it } from 'vitest';
import { EEXIST, EINVAL } from '../../../include/errno.ts';
import { RadixNodeHead, rn_plen2mask, rn_valid_prefix } from './radix.ts';

/* A small seeded generator (xorshift32), so every failure replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const ip = (s: string): number => s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);

/* The model: a list of prefixes, searched exhaustively. */
class Model {
  readonly m = new Map<string, { key: number; plen: number; val: number }>();
  add(key: number, plen: number, val: number): number {
    const k = `${key}/${plen}`;
    if (this.m.has(k)) return EEXIST;
    this.m.set(k, { key, plen, val });
    return 0;
  }
  del(key: number, plen: number): number | null {
    const k = `${key}/${plen}`;
    const e = this.m.get(k);
    if (e === undefined) return null;
    this.m.delete(k);
    return e.val;
  }
  get(key: number, plen: number): number | null {
    return this.m.get(`${key}/${plen}`)?.val ?? null;
  }
  match(addr: number): number | null {
    let best: { plen: number; val: number } | null = null;
    for (const e of this.m.values()) {
      if (((addr ^ e.key) & rn_plen2mask(e.plen)) === 0 && (best === null || e.plen > best.plen)) best = e;
    }
    return best === null ? null : best.val;
  }
  sorted(): string[] {
    return [...this.m.values()].sort((a, b) => a.key - b.key || a.plen - b.plen).map((e) => `${e.key}/${e.plen}=${e.val}`);
  }
}

function walkList(t: RadixNodeHead<number>): string[] {
  const out: string[] = [];
  t.rn_walktree((v, k, p) => { out.push(`${k}/${p}=${v}`); return 0; });
  return out;
}

describe('rn_plen2mask()', () => {
  it('gives plen leading ones for every length', () => {
    expect(rn_plen2mask(0)).toBe(0);
    expect(rn_plen2mask(1)).toBe(0x80000000);
    expect(rn_plen2mask(8)).toBe(0xff000000);
    expect(rn_plen2mask(31)).toBe(0xfffffffe);
    expect(rn_plen2mask(32)).toBe(0xffffffff);
    for (let p = 0; p <= 32; p++) {
      const m = rn_plen2mask(p);
      expect(m).toBeGreaterThanOrEqual(0);
      expect(Math.clz32(~m)).toBe(p);
    }
  });

  it('rn_valid_prefix() refuses host bits and bad lengths', () => {
    expect(rn_valid_prefix(ip('10.0.0.0'), 8)).toBe(true);
    expect(rn_valid_prefix(ip('10.0.0.1'), 8)).toBe(false);
    expect(rn_valid_prefix(0, 0)).toBe(true);
    expect(rn_valid_prefix(0xffffffff, 32)).toBe(true);
    expect(rn_valid_prefix(0, 33)).toBe(false);
    expect(rn_valid_prefix(0, -1)).toBe(false);
    expect(rn_valid_prefix(0, 1.5)).toBe(false);
    expect(rn_valid_prefix(-1, 32)).toBe(false);
    expect(rn_valid_prefix(2 ** 32, 32)).toBe(false);
  });
});

describe('RadixNodeHead', () => {
  it('an empty tree matches nothing', () => {
    const t = new RadixNodeHead<number>();
    expect(t.rn_match(0)).toBeNull();
    expect(t.rn_match(0xffffffff)).toBeNull();
    expect(t.rn_lookup(0, 0)).toBeNull();
    expect(t.rn_delete(0, 0)).toBeNull();
    expect(t.rn_count).toBe(0);
    expect(walkList(t)).toEqual([]);
  });

  it('rn_addroute() refuses malformed prefixes with EINVAL and duplicates with EEXIST', () => {
    const t = new RadixNodeHead<number>();
    expect(t.rn_addroute(ip('10.0.0.1'), 8, 1)).toBe(EINVAL);
    expect(t.rn_addroute(0, 33, 1)).toBe(EINVAL);
    expect(t.rn_addroute(0, -1, 1)).toBe(EINVAL);
    expect(t.rn_addroute(-5, 32, 1)).toBe(EINVAL);
    expect(t.rn_addroute(ip('10.0.0.0'), 8, 1)).toBe(0);
    expect(t.rn_addroute(ip('10.0.0.0'), 8, 2)).toBe(EEXIST);
    expect(t.rn_lookup(ip('10.0.0.0'), 8)).toBe(1);
    expect(t.rn_count).toBe(1);
  });

  it('/0 is the default: it matches every address, and longer prefixes win', () => {
    const t = new RadixNodeHead<number>();
    expect(t.rn_addroute(0, 0, 100)).toBe(0);
    expect(t.rn_match(0)).toBe(100);
    expect(t.rn_match(0xffffffff)).toBe(100);
    t.rn_addroute(ip('10.0.0.0'), 8, 8);
    t.rn_addroute(ip('10.1.0.0'), 16, 16);
    t.rn_addroute(ip('10.1.2.3'), 32, 32);
    expect(t.rn_match(ip('10.1.2.3'))).toBe(32);
    expect(t.rn_match(ip('10.1.2.4'))).toBe(16);
    expect(t.rn_match(ip('10.2.0.1'))).toBe(8);
    expect(t.rn_match(ip('11.0.0.1'))).toBe(100);
    expect(t.rn_check()).toBeNull();
    /* Taking out the middle leaves the others answering. */
    expect(t.rn_delete(ip('10.1.0.0'), 16)).toBe(16);
    expect(t.rn_match(ip('10.1.2.4'))).toBe(8);
    expect(t.rn_match(ip('10.1.2.3'))).toBe(32);
    expect(t.rn_delete(0, 0)).toBe(100);
    expect(t.rn_match(ip('11.0.0.1'))).toBeNull();
    expect(t.rn_check()).toBeNull();
  });

  it('/32 host routes at both ends of the address space', () => {
    const t = new RadixNodeHead<number>();
    t.rn_addroute(0, 32, 1);
    t.rn_addroute(0xffffffff, 32, 2);
    t.rn_addroute(0x80000000, 1, 3);
    expect(t.rn_match(0)).toBe(1);
    expect(t.rn_match(1)).toBeNull();
    expect(t.rn_match(0xffffffff)).toBe(2);
    expect(t.rn_match(0xfffffffe)).toBe(3);
    expect(t.rn_match(-1)).toBe(2); /* a signed int32 from bit arithmetic is the same address */
    expect(walkList(t)).toEqual(['0/32=1', '2147483648/1=3', '4294967295/32=2']);
    expect(t.rn_check()).toBeNull();
  });

  it('rn_lookup() is exact: a covering prefix is not a hit', () => {
    const t = new RadixNodeHead<number>();
    t.rn_addroute(ip('192.168.0.0'), 16, 1);
    expect(t.rn_lookup(ip('192.168.0.0'), 16)).toBe(1);
    expect(t.rn_lookup(ip('192.168.0.0'), 24)).toBeNull();
    expect(t.rn_lookup(ip('192.168.0.0'), 15)).toBeNull();
    expect(t.rn_lookup(ip('192.168.0.0'), 99)).toBeNull();
  });

  it('a glue node becomes a route when its prefix is added, and glue again when deleted', () => {
    const t = new RadixNodeHead<number>();
    t.rn_addroute(ip('10.0.0.0'), 16, 1);
    t.rn_addroute(ip('10.128.0.0'), 16, 2); /* glue at 10.0.0.0/8 */
    expect(t.rn_match(ip('10.64.0.0'))).toBeNull();
    expect(t.rn_addroute(ip('10.0.0.0'), 8, 3)).toBe(0);
    expect(t.rn_match(ip('10.64.0.0'))).toBe(3);
    expect(t.rn_check()).toBeNull();
    expect(t.rn_delete(ip('10.0.0.0'), 8)).toBe(3);
    expect(t.rn_match(ip('10.64.0.0'))).toBeNull();
    expect(t.rn_check()).toBeNull();
    expect(t.rn_delete(ip('10.0.0.0'), 16)).toBe(1);
    expect(t.rn_check()).toBeNull(); /* glue with one child was spliced out */
    expect(walkList(t)).toEqual([`${ip('10.128.0.0')}/16=2`]);
  });

  it('walks in order of key, then prefix length', () => {
    const t = new RadixNodeHead<number>();
    const add = (s: string, p: number): void => { expect(t.rn_addroute(ip(s), p, p)).toBe(0); };
    add('192.168.1.0', 24); add('10.0.0.0', 8); add('0.0.0.0', 0); add('10.0.0.0', 16);
    add('10.0.0.0', 24); add('10.0.0.1', 32); add('127.0.0.0', 8); add('10.255.0.0', 16);
    expect(walkList(t).map((s) => s.split('=')[0])).toEqual([
      '0/0', `${ip('10.0.0.0')}/8`, `${ip('10.0.0.0')}/16`, `${ip('10.0.0.0')}/24`, `${ip('10.0.0.1')}/32`,
      `${ip('10.255.0.0')}/16`, `${ip('127.0.0.0')}/8`, `${ip('192.168.1.0')}/24`,
    ]);
  });

  it('rn_walktree() stops on a nonzero return and tolerates deletes during the walk', () => {
    const t = new RadixNodeHead<number>();
    for (let i = 0; i < 10; i++) t.rn_addroute((i << 24) >>> 0, 8, i);
    const seen: number[] = [];
    expect(t.rn_walktree((v) => { seen.push(v); return v === 3 ? 42 : 0; })).toBe(42);
    expect(seen).toEqual([0, 1, 2, 3]);
    /* Delete the current and the next entry on every even step. */
    seen.length = 0;
    expect(t.rn_walktree((v, k, p) => {
      seen.push(v);
      if (v % 2 === 0) {
        t.rn_delete(k, p);
        t.rn_delete((((v + 1) << 24) >>> 0), 8);
      }
      return 0;
    })).toBe(0);
    expect(seen).toEqual([0, 2, 4, 6, 8]);
    expect(t.rn_count).toBe(0);
    expect(t.rn_check()).toBeNull();
  });

  it('rn_match_filter() finds the longest accepted prefix under a refused one', () => {
    const t = new RadixNodeHead<number>();
    t.rn_addroute(ip('10.0.0.0'), 8, 8);
    t.rn_addroute(ip('10.0.0.0'), 24, 24);
    t.rn_addroute(ip('10.0.0.5'), 32, 32);
    expect(t.rn_match_filter(ip('10.0.0.5'), (v) => v !== 32)).toBe(24);
    expect(t.rn_match_filter(ip('10.0.0.5'), (v) => v === 8)).toBe(8);
    expect(t.rn_match_filter(ip('10.0.0.5'), () => false)).toBeNull();
  });

  for (const seed of [1, 2, 3, 0xdeadbeef, 20240601]) {
    it(`agrees with a brute-force model over random inserts, deletes and lookups (seed ${seed})`, () => {
      const r = rng(seed);
      const t = new RadixNodeHead<number>();
      const model = new Model();
      /* A few base addresses make prefixes nest and share long paths. */
      const bases = Array.from({ length: 6 }, () => r());
      const randPrefix = (): [number, number] => {
        const plen = r() % 40 < 33 ? r() % 33 : [0, 32, 31, 1][r() % 4]!;
        let a = r() % 4 === 0 ? r() : bases[r() % bases.length]!;
        if (r() % 2 === 0) a ^= 1 << (r() % 32); /* a near neighbour */
        return [(a & rn_plen2mask(plen)) >>> 0, plen];
      };
      const stored: Array<[number, number]> = [];
      const randAddr = (): number => {
        const k = r() % 4;
        if (k === 0 || stored.length === 0) return r();
        if (k === 1) return (bases[r() % bases.length]! ^ (1 << (r() % 32))) >>> 0;
        const [key, plen] = stored[r() % stored.length]!;
        return (key | (r() & ~rn_plen2mask(plen))) >>> 0; /* inside a stored prefix */
      };
      let val = 0;
      for (let op = 0; op < 6000; op++) {
        const what = r() % 100;
        if (what < 50) {
          const [key, plen] = randPrefix();
          const v = val++;
          const e = model.add(key, plen, v);
          expect(t.rn_addroute(key, plen, v)).toBe(e);
          if (e === 0) stored.push([key, plen]);
        } else if (what < 80) {
          /* Mostly delete something stored; sometimes something that is not. */
          let key: number; let plen: number;
          if (stored.length > 0 && r() % 4 !== 0) {
            const i = r() % stored.length;
            [key, plen] = stored[i]!;
            stored[i] = stored[stored.length - 1]!;
            stored.pop();
          } else {
            [key, plen] = randPrefix();
            if (model.get(key, plen) !== null) {
              const i = stored.findIndex(([k, p]) => k === key && p === plen);
              stored.splice(i, 1);
            }
          }
          expect(t.rn_delete(key, plen)).toBe(model.del(key, plen));
        } else if (what < 90) {
          const [key, plen] = r() % 2 === 0 && stored.length > 0 ? stored[r() % stored.length]! : randPrefix();
          expect(t.rn_lookup(key, plen)).toBe(model.get(key, plen));
        } else {
          for (let i = 0; i < 20; i++) {
            const a = randAddr();
            expect(t.rn_match(a), `match ${a}`).toBe(model.match(a));
          }
        }
        if (op % 250 === 0) {
          expect(t.rn_check()).toBeNull();
          expect(t.rn_count).toBe(model.m.size);
          expect(walkList(t)).toEqual(model.sorted());
        }
      }
      expect(t.rn_check()).toBeNull();
      expect(walkList(t)).toEqual(model.sorted());
      for (let i = 0; i < 3000; i++) {
        const a = randAddr();
        expect(t.rn_match(a)).toBe(model.match(a));
      }
      /* Drain it: the tree ends empty and consistent. */
      for (const [key, plen] of stored) expect(t.rn_delete(key, plen)).not.toBeNull();
      expect(t.rn_count).toBe(0);
      expect(t.rn_check()).toBeNull();
      expect(t.rn_match(r())).toBeNull();
    });
  }

  it('every prefix length from /0 to /32 on one address, added and removed in random order', () => {
    const r = rng(99);
    const addr = ip('172.16.254.1');
    const t = new RadixNodeHead<number>();
    const model = new Model();
    const order = Array.from({ length: 33 }, (_, i) => i).sort(() => (r() % 3) - 1);
    for (const p of order) {
      const key = (addr & rn_plen2mask(p)) >>> 0;
      expect(t.rn_addroute(key, p, p)).toBe(0);
      model.add(key, p, p);
      for (let i = 0; i < 50; i++) {
        const a = (addr ^ (r() >>> (r() % 33))) >>> 0;
        expect(t.rn_match(a)).toBe(model.match(a));
      }
    }
    expect(t.rn_check()).toBeNull();
    for (const p of order.reverse()) {
      const key = (addr & rn_plen2mask(p)) >>> 0;
      expect(t.rn_delete(key, p)).toBe(p);
      model.del(key, p);
      expect(t.rn_check()).toBeNull();
      for (let i = 0; i < 50; i++) {
        const a = (addr ^ (r() >>> (r() % 33))) >>> 0;
        expect(t.rn_match(a)).toBe(model.match(a));
      }
    }
    expect(t.rn_count).toBe(0);
  });
});
