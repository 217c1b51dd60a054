/*
 * Tests for in_cksum.ts: the RFC 1071 example, odd lengths, split sums
 * equal to one-shot sums at every split point and parity, the pseudo-header
 * of a known UDP datagram, RFC 1624 incremental update against
 * recomputation, and an informal throughput figure.
 */
import { describe, expect, it } from 'vitest';
import {
  in4_cksum,
  in4_cksum_phdr,
  in_cksum,
  in_cksum_add,
  in_cksum_fold,
  in_cksum_update,
  in_cksum_update32,
} from './in_cksum.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/* A seeded generator for the tests (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(n: number, r: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/* The textbook definition, written as plainly as possible, to compare against. */
function naive(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) {
    const hi = b[off + i];
    const lo = i + 1 < len ? b[off + i + 1] : 0;
    s += (hi << 8) | lo;
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

describe('in_cksum_add() / in_cksum()', () => {
  it('matches the RFC 1071 section 3 example', () => {
    /* 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2, checksum 220d. */
    const b = hex('00 01 f2 03 f4 f5 f6 f7');
    expect(in_cksum_add(0, b, 0, 8)).toBe(0xddf2);
    expect(in_cksum(b, 0, 8)).toBe(0x220d);
    /* The RFC's byte-swapped sum is the swap of the sum. */
    const swapped = hex('01 00 03 f2 f5 f4 f7 f6');
    expect(in_cksum_add(0, swapped, 0, 8)).toBe(0xf2dd);
  });

  it('pads an odd last byte with a zero low-order byte', () => {
    expect(in_cksum(hex('01'), 0, 1)).toBe(0xfeff);
    /* abcd + ef00 = 19acd -> 9ace -> 6531 */
    expect(in_cksum(hex('ab cd ef'), 0, 3)).toBe(0x6531);
    expect(in_cksum(new Uint8Array(0), 0, 0)).toBe(0xffff);
  });

  it('agrees with the naive definition for every length and start 0..300', () => {
    const r = rng(1);
    const b = randomBytes(310, r);
    for (let off = 0; off < 8; off++) {
      for (let len = 0; len <= 300; len++) {
        expect(in_cksum(b, off, len)).toBe(naive(b, off, len));
      }
    }
  });

  it('agrees with the naive definition past the internal fold chunk', () => {
    const r = rng(2);
    for (const n of [65535, 65536, 65537, 200_001]) {
      const b = randomBytes(n + 3, r);
      expect(in_cksum(b, 3, n)).toBe(naive(b, 3, n));
    }
    const ones = new Uint8Array(300_000).fill(0xff);
    expect(in_cksum(ones, 0, ones.length)).toBe(naive(ones, 0, ones.length));
  });

  it('split sums equal the one-shot sum at every split point (odd and even totals)', () => {
    const r = rng(3);
    for (const n of [100, 101]) {
      const b = randomBytes(n, r);
      const whole = in_cksum(b, 0, n);
      for (let k = 0; k <= n; k++) {
        const s1 = in_cksum_add(0, b, 0, k);
        const s2 = in_cksum_add(s1, b, k, n - k, (k & 1) === 1);
        expect(in_cksum_fold(s2)).toBe(whole);
      }
    }
  });

  it('sums pieces held in separate buffers, as across an mbuf chain', () => {
    const r = rng(4);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(r() * 200);
      const whole = randomBytes(n, r);
      let sum = 0;
      let done = 0;
      while (done < n) {
        const k = Math.min(n - done, 1 + Math.floor(r() * 17));
        /* Copy into a fresh buffer at an arbitrary offset, as an mbuf would hold it. */
        const lead = Math.floor(r() * 5);
        const piece = new Uint8Array(lead + k).fill(0xa5);
        piece.set(whole.subarray(done, done + k), lead);
        sum = in_cksum_add(sum, piece, lead, k, (done & 1) === 1);
        done += k;
      }
      expect(in_cksum_fold(sum)).toBe(in_cksum(whole, 0, n));
    }
  });

  it('returns 0 over data that includes its own correct checksum', () => {
    const b = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    const c = in_cksum(b, 0, 20);
    expect(c).toBe(0xb861);
    b[10] = c >>> 8;
    b[11] = c & 0xff;
    expect(in_cksum(b, 0, 20)).toBe(0);
  });

  it('throws RangeError for a range outside the buffer', () => {
    const b = new Uint8Array(10);
    expect(() => in_cksum_add(0, b, 8, 4)).toThrow(RangeError);
    expect(() => in_cksum_add(0, b, -1, 2)).toThrow(RangeError);
    expect(() => in_cksum_add(0, b, 0, -1)).toThrow(RangeError);
  });
});

describe('in4_cksum_phdr() / in4_cksum()', () => {
  /* 192.168.0.1:4660 -> 192.168.0.199:53, "hello world!", checksum 0xd954. */
  const SRC = 0xc0a80001;
  const DST = 0xc0a800c7;
  const udp = hex('1234 0035 0014 0000 68656c6c6f20776f726c6421');

  it('computes the checksum of a known UDP datagram', () => {
    expect(in4_cksum(udp, 0, udp.length, SRC, DST, 17)).toBe(0xd954);
    const phdr = in4_cksum_phdr(SRC, DST, udp.length, 17);
    /* c0a8 + 0001 + c0a8 + 00c7 + 0011 + 0014 = 1823d -> 823e */
    expect(phdr).toBe(0x823e);
    expect(in_cksum_fold(in_cksum_add(phdr, udp, 0, udp.length))).toBe(0xd954);
  });

  it('verifies to 0 once the checksum is stored, and with an odd length', () => {
    const b = udp.slice();
    b[6] = 0xd9;
    b[7] = 0x54;
    expect(in4_cksum(b, 0, b.length, SRC, DST, 17)).toBe(0);
    const odd = hex('1234 0035 0013 0000 68656c6c6f20776f726c64');
    expect(in4_cksum(odd, 0, odd.length, SRC, DST, 17)).toBe(0xd977);
  });
});

describe('in_cksum_update() / in_cksum_update32()', () => {
  it('gives 0x0000 in the RFC 1624 section 3 example (equation 3)', () => {
    expect(in_cksum_update(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('matches recomputation after a TTL decrement and after any word change', () => {
    const r = rng(5);
    for (let trial = 0; trial < 2000; trial++) {
      const h = randomBytes(20, r);
      h[10] = 0;
      h[11] = 0;
      const c = in_cksum(h, 0, 20);
      h[10] = c >>> 8;
      h[11] = c & 0xff;
      /* Change one 16-bit word other than the checksum itself. */
      let w = Math.floor(r() * 10);
      if (w === 5) w = 4;
      const oldw = (h[2 * w] << 8) | h[2 * w + 1];
      const neww = trial % 2 === 0 ? ((oldw - 0x100) & 0xffff) : Math.floor(r() * 65536);
      h[2 * w] = neww >>> 8;
      h[2 * w + 1] = neww & 0xff;
      const inc = in_cksum_update(c, oldw, neww);
      h[10] = 0;
      h[11] = 0;
      expect(inc).toBe(in_cksum(h, 0, 20));
    }
  });

  it('matches recomputation after a 32-bit field change', () => {
    const r = rng(6);
    for (let trial = 0; trial < 1000; trial++) {
      const h = randomBytes(20, r);
      h[10] = 0;
      h[11] = 0;
      const c = in_cksum(h, 0, 20);
      const old32 = ((h[12] << 24) | (h[13] << 16) | (h[14] << 8) | h[15]) >>> 0;
      const new32 = Math.floor(r() * 4294967296) >>> 0;
      h[12] = new32 >>> 24;
      h[13] = (new32 >>> 16) & 0xff;
      h[14] = (new32 >>> 8) & 0xff;
      h[15] = new32 & 0xff;
      expect(in_cksum_update32(c, old32, new32)).toBe(in_cksum(h, 0, 20));
    }
  });
});

describe('in_cksum throughput (informal)', () => {
  it('prints a GB/s figure for 64 KiB and 1500-byte sums', () => {
    for (const size of [65536, 1500]) {
      const b = randomBytes(size, rng(7));
      const iters = Math.ceil((64 << 20) / size);
      let x = 0;
      for (let i = 0; i < 200; i++) x ^= in_cksum_add(0, b, 0, size);
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) x ^= in_cksum_add(0, b, 1, size - 1);
      const ms = performance.now() - t0;
      console.log(`in_cksum_add ${size} bytes: ${((iters * size) / ms / 1e6).toFixed(2)} GB/s (${x})`);
    }
  });
});
