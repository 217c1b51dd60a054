/*
 * Tests for ip.ts: golden header bytes in both directions (the well-known
 * 192.168.0.1 -> 192.168.0.199 header with checksum 0xb861), every
 * ip_hdr_check() reason in ip_input()'s order, the option walker on
 * malformed options, TTL decrement with incremental checksum, and IpRepr.
 */
import { describe, expect, it } from 'vitest';
import { IPPROTO_UDP } from './in.ts';
import { in_cksum } from './in_cksum.ts';
import {
  IPOPT_CHECK_OK,
  IPOPT_EOL,
  IPOPT_NOP,
  IPOPT_RR,
  IP_DF,
  IP_MF,
  IP_OFFMASK,
  IpRepr,
  ip_dst,
  ip_dst_set,
  ip_hdr_check,
  ip_hdr_write,
  ip_hl,
  ip_hl_set,
  ip_id,
  ip_id_set,
  ip_len,
  ip_len_set,
  ip_off,
  ip_off_set,
  ip_opt_len,
  ip_opts_check,
  ip_p,
  ip_p_set,
  ip_src,
  ip_src_set,
  ip_sum,
  ip_sum_set,
  ip_tos,
  ip_tos_set,
  ip_ttl,
  ip_ttl_dec,
  ip_ttl_set,
  ip_v,
  ip_v_set,
} from './ip.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const SRC = 0xc0a80001; /* 192.168.0.1 */
const DST = 0xc0a800c7; /* 192.168.0.199 */
/* Two bytes of leading space, the header, one trailing 0xa5. */
const GOLDEN = hex('a5a5 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 a5');

/* A whole 0x73-byte datagram with the golden header at offset 0. */
function datagram(): Uint8Array {
  const b = new Uint8Array(0x73);
  b.set(GOLDEN.subarray(2, 22));
  return b;
}

/* Recompute the header checksum after a test changes a field. */
function resum(b: Uint8Array, off = 0): void {
  ip_sum_set(b, off, 0);
  ip_sum_set(b, off, in_cksum(b, off, ip_hl(b, off) << 2));
}

describe('IP header accessors', () => {
  it('ip_hdr_write() emits golden bytes and touches nothing else', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    ip_hdr_write(b, 2, 20, 0, 0x73, 0, IP_DF, 64, IPPROTO_UDP, SRC, DST);
    expect(b).toEqual(GOLDEN);
  });

  it('setters emit the same bytes field by field', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    ip_v_set(b, 2, 4);
    ip_hl_set(b, 2, 5);
    ip_tos_set(b, 2, 0);
    ip_len_set(b, 2, 0x73);
    ip_id_set(b, 2, 0);
    ip_off_set(b, 2, IP_DF);
    ip_ttl_set(b, 2, 64);
    ip_p_set(b, 2, IPPROTO_UDP);
    ip_src_set(b, 2, SRC);
    ip_dst_set(b, 2, DST);
    ip_sum_set(b, 2, 0);
    ip_sum_set(b, 2, in_cksum(b, 2, 20));
    expect(b).toEqual(GOLDEN);
  });

  it('readers decode golden bytes', () => {
    const o = 2;
    expect([ip_v(GOLDEN, o), ip_hl(GOLDEN, o), ip_tos(GOLDEN, o), ip_len(GOLDEN, o)]).toEqual([4, 5, 0, 0x73]);
    expect([ip_id(GOLDEN, o), ip_off(GOLDEN, o), ip_ttl(GOLDEN, o), ip_p(GOLDEN, o)]).toEqual([0, IP_DF, 64, 17]);
    expect([ip_sum(GOLDEN, o), ip_src(GOLDEN, o), ip_dst(GOLDEN, o)]).toEqual([0xb861, SRC, DST]);
  });

  it('splits ip_off into flags and offset', () => {
    const b = new Uint8Array(20);
    ip_off_set(b, 0, IP_MF | 185);
    expect(ip_off(b, 0) & IP_MF).toBe(IP_MF);
    expect((ip_off(b, 0) & IP_OFFMASK) << 3).toBe(1480);
  });

  it('ip_hdr_write() throws for a bad hlen or a header past the buffer', () => {
    const b = new Uint8Array(64);
    for (const hlen of [16, 22, 64]) {
      expect(() => ip_hdr_write(b, 0, hlen, 0, 20, 0, 0, 64, 17, SRC, DST)).toThrow(RangeError);
    }
    expect(() => ip_hdr_write(b, 50, 20, 0, 20, 0, 0, 64, 17, SRC, DST)).toThrow(RangeError);
  });
});

describe('ip_hdr_check()', () => {
  it('accepts a good header, with Ethernet padding after ip_len', () => {
    const b = datagram();
    expect(ip_hdr_check(b, 0, b.length)).toBeNull();
    const padded = new Uint8Array(0x80);
    padded.set(b);
    expect(ip_hdr_check(padded, 0, padded.length)).toBeNull();
    expect(ip_hdr_check(GOLDEN, 2, 20, true)).toBe('ips_tooshort');
  });

  it('ips_toosmall: fewer than 20 bytes, or an offset outside the buffer', () => {
    const b = datagram();
    expect(ip_hdr_check(b, 0, 19)).toBe('ips_toosmall');
    expect(ip_hdr_check(b, 0, 0)).toBe('ips_toosmall');
    expect(ip_hdr_check(b, b.length - 10, 100)).toBe('ips_toosmall');
    expect(ip_hdr_check(b, 200, 100)).toBe('ips_toosmall');
    expect(ip_hdr_check(b, -1, 100)).toBe('ips_toosmall');
  });

  it('ips_badvers, checked before the checksum', () => {
    const b = datagram();
    ip_v_set(b, 0, 6);
    expect(ip_hdr_check(b, 0, b.length)).toBe('ips_badvers');
  });

  it('ips_badhlen: below 5 words, or options past the bytes present', () => {
    const b = datagram();
    ip_hl_set(b, 0, 4);
    resum(b);
    expect(ip_hdr_check(b, 0, b.length)).toBe('ips_badhlen');
    const c = datagram();
    ip_hl_set(c, 0, 6);
    expect(ip_hdr_check(c, 0, 23)).toBe('ips_badhlen');
  });

  it('ips_badsum, unless verification is off', () => {
    const b = datagram();
    b[8] ^= 1;
    expect(ip_hdr_check(b, 0, b.length)).toBe('ips_badsum');
    expect(ip_hdr_check(b, 0, b.length, false)).toBeNull();
  });

  it('ips_badlen: ip_len shorter than the header', () => {
    const b = datagram();
    ip_len_set(b, 0, 19);
    resum(b);
    expect(ip_hdr_check(b, 0, b.length)).toBe('ips_badlen');
  });

  it('ips_tooshort: ip_len longer than what is there (avail clipped to the buffer)', () => {
    const b = datagram();
    expect(ip_hdr_check(b, 0, b.length - 1)).toBe('ips_tooshort');
    expect(ip_hdr_check(b.subarray(0, 100), 0, 1000)).toBe('ips_tooshort');
  });
});

describe('IP options', () => {
  /* NOP, NOP, record route (len 7, ptr 4, one slot), EOL, padding. */
  const OPTS = [IPOPT_NOP, IPOPT_NOP, IPOPT_RR, 7, 4, 0, 0, 0, 0, IPOPT_EOL, 0, 0];

  function withOptions(opts: number[]): Uint8Array {
    const hlen = 20 + opts.length;
    const b = new Uint8Array(hlen + 8);
    b.set(opts, 20);
    ip_hdr_write(b, 0, hlen, 0, hlen + 8, 1, 0, 64, 17, SRC, DST);
    return b;
  }

  it('walks well-formed options', () => {
    const b = withOptions(OPTS);
    expect(ip_hdr_check(b, 0, b.length)).toBeNull();
    expect(ip_opts_check(b, 0, 32)).toBe(IPOPT_CHECK_OK);
    const lens: number[] = [];
    for (let p = 20; p < 32; ) {
      const n = ip_opt_len(b, p, 32);
      lens.push(n);
      if (n <= 0) break;
      p += n;
    }
    expect(lens).toEqual([1, 1, 7, 0]);
  });

  it('ignores what follows EOL', () => {
    expect(ip_opts_check(withOptions([IPOPT_EOL, 0xff, 0, 0]), 0, 24)).toBe(IPOPT_CHECK_OK);
  });

  it.each([
    ['length 0', [IPOPT_RR, 0, 0, 0], 21],
    ['length 1', [IPOPT_RR, 1, 0, 0], 21],
    ['length past the header', [IPOPT_NOP, IPOPT_RR, 7, 4], 22],
    ['length byte missing', [IPOPT_NOP, IPOPT_NOP, IPOPT_NOP, IPOPT_RR], 24],
    ['second option bad', [IPOPT_NOP, IPOPT_RR, 3, 4, 0x44, 0xff, 0, 0], 25],
  ])('rejects %s, pointing at the length byte', (_name, opts, pptr) => {
    const b = withOptions(opts);
    expect(ip_opts_check(b, 0, 20 + opts.length)).toBe(pptr);
    expect(IpRepr.parse(b, 0, b.length)).toBeNull();
  });
});

describe('ip_ttl_dec()', () => {
  it('decrements the TTL and patches the checksum like a recomputation', () => {
    const b = datagram();
    for (let ttl = 64; ttl > 1; ttl--) {
      expect(ip_ttl_dec(b, 0)).toBe(ttl - 1);
      expect(ip_ttl(b, 0)).toBe(ttl - 1);
      const inc = ip_sum(b, 0);
      resum(b);
      expect(inc).toBe(ip_sum(b, 0));
      expect(ip_hdr_check(b, 0, b.length)).toBeNull();
    }
  });
});

describe('IpRepr', () => {
  const REPR: IpRepr = {
    tos: 0,
    len: 0x73,
    id: 0,
    off: IP_DF,
    ttl: 64,
    p: IPPROTO_UDP,
    src: SRC,
    dst: DST,
    options: new Uint8Array(0),
  };

  it('parses and emits golden bytes', () => {
    const d = datagram();
    expect(IpRepr.parse(d, 0, d.length)).toEqual(REPR);
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(IpRepr.emit(REPR, b, 2)).toBe(20);
    expect(b).toEqual(GOLDEN);
    expect(IpRepr.bufferLen(REPR)).toBe(20);
  });

  it('round-trips options', () => {
    const r: IpRepr = { ...REPR, len: 32, options: hex('0101 0707 0400 0000 0000 0000') };
    const b = new Uint8Array(32).fill(0xa5);
    expect(IpRepr.emit(r, b, 0)).toBe(32);
    expect(ip_hl(b, 0)).toBe(8);
    expect(IpRepr.parse(b, 0, 32)).toEqual(r);
  });

  it('returns null for a bad checksum unless told not to verify, and for truncation', () => {
    const d = datagram();
    d[12] ^= 0x80;
    expect(IpRepr.parse(d, 0, d.length)).toBeNull();
    expect(IpRepr.parse(d, 0, d.length, false)).not.toBeNull();
    expect(IpRepr.parse(datagram(), 0, 0x72)).toBeNull();
    expect(IpRepr.parse(datagram(), 0, 10)).toBeNull();
  });

  it('refuses to emit options that are not a multiple of 4 or exceed 40 bytes', () => {
    const b = new Uint8Array(100);
    expect(() => IpRepr.emit({ ...REPR, options: new Uint8Array(3) }, b, 0)).toThrow(RangeError);
    expect(() => IpRepr.emit({ ...REPR, options: new Uint8Array(44) }, b, 0)).toThrow(RangeError);
    expect(() => IpRepr.emit(REPR, new Uint8Array(19), 0)).toThrow(RangeError);
  });
});
