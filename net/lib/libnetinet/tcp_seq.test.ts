import { describe, it, expect } from 'vitest';
import { SEQ_ADD, SEQ_GEQ, SEQ_GT, SEQ_LEQ, SEQ_LT, SEQ_MAX, SEQ_MIN, SEQ_SUB, TCP_ISN_TICK_NS, TcpIss } from './tcp_seq.ts';

describe('tcp_seq', () => {
  it('SEQ_LT() and friends compare across the 2^32 wrap', () => {
    const top = 0xffffff00;
    const wrapped = SEQ_ADD(top, 0x200);
    expect(wrapped).toBe(0x100);
    expect(SEQ_LT(top, wrapped)).toBe(true);
    expect(SEQ_GT(wrapped, top)).toBe(true);
    expect(SEQ_LEQ(top, top)).toBe(true);
    expect(SEQ_GEQ(wrapped, wrapped)).toBe(true);
    expect(SEQ_LT(wrapped, top)).toBe(false);
    expect(SEQ_MAX(top, wrapped)).toBe(wrapped);
    expect(SEQ_MIN(top, wrapped)).toBe(top);
    expect(SEQ_SUB(wrapped, top)).toBe(0x200);
    expect(SEQ_SUB(top, wrapped)).toBe(-0x200);
    /* Half the space ahead is "greater"; further is "less". */
    expect(SEQ_GT(0x7fffffff, 0)).toBe(true);
    expect(SEQ_GT(0x80000001, 0)).toBe(false);
    expect(SEQ_ADD(0xffffffff, 1)).toBe(0);
    expect(SEQ_ADD(0, -1)).toBe(0xffffffff);
  });

  it('TcpIss: M + F(4-tuple) with a secret key (RFC 6528)', () => {
    const key = new Uint8Array(32).map((_, i) => i * 7);
    const g = new TcpIss(key);
    const h = new TcpIss(key);
    const other = new TcpIss(new Uint8Array(32).fill(1));
    const f = g.hash(0x0a000001, 1234, 0x0a000002, 80);
    /* Deterministic for a key, different across tuples and keys. */
    expect(h.hash(0x0a000001, 1234, 0x0a000002, 80)).toBe(f);
    expect(g.hash(0x0a000001, 1235, 0x0a000002, 80)).not.toBe(f);
    expect(other.hash(0x0a000001, 1234, 0x0a000002, 80)).not.toBe(f);
    /* M ticks every 4 us. */
    const i0 = g.iss(0x0a000001, 1234, 0x0a000002, 80, 0);
    const i1 = g.iss(0x0a000001, 1234, 0x0a000002, 80, 1e9);
    expect(i0).toBe(f);
    expect((i1 - i0) >>> 0).toBe(1e9 / TCP_ISN_TICK_NS);
  });
});
