/*
 * Tests for udp.ts: golden bytes of a known datagram (checksum computed
 * independently: 0xd954) in both directions, the 0 -> 0xffff rule of
 * RFC 768, and UdpRepr's length and checksum checks.
 */
import { describe, expect, it } from 'vitest';
import { IPPROTO_UDP } from './in.ts';
import { in4_cksum_phdr, in_cksum_add } from './in_cksum.ts';
import {
  UDP_HDR_LEN,
  UdpRepr,
  udp4_cksum,
  udp4_cksum_fill,
  udp_hdr_write,
  uh_dport,
  uh_dport_set,
  uh_sport,
  uh_sport_set,
  uh_sum,
  uh_sum_set,
  uh_ulen,
  uh_ulen_set,
} from './udp.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const SRC = 0xc0a80001; /* 192.168.0.1 */
const DST = 0xc0a800c7; /* 192.168.0.199 */
const PAYLOAD = new TextEncoder().encode('hello world!');
/* 4660 -> 53, ulen 20, checksum 0xd954, "hello world!"; leading and trailing 0xa5. */
const GOLDEN = hex('a5a5 1234 0035 0014 d954 68656c6c6f20776f726c6421 a5');

describe('UDP accessors', () => {
  it('udp_hdr_write() + udp4_cksum_fill() emit golden bytes', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    udp_hdr_write(b, 2, 4660, 53, 20);
    b.set(PAYLOAD, 2 + UDP_HDR_LEN);
    udp4_cksum_fill(b, 2, 20, SRC, DST);
    expect(b).toEqual(GOLDEN);
  });

  it('setters emit the same header', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    uh_sport_set(b, 2, 4660);
    uh_dport_set(b, 2, 53);
    uh_ulen_set(b, 2, 20);
    uh_sum_set(b, 2, 0xd954);
    b.set(PAYLOAD, 10);
    expect(b).toEqual(GOLDEN);
  });

  it('readers decode golden bytes and the checksum verifies', () => {
    expect([uh_sport(GOLDEN, 2), uh_dport(GOLDEN, 2), uh_ulen(GOLDEN, 2), uh_sum(GOLDEN, 2)]).toEqual([
      4660, 53, 20, 0xd954,
    ]);
    expect(udp4_cksum(GOLDEN, 2, 20, SRC, DST)).toBe(0);
    expect(udp4_cksum(GOLDEN, 2, 20, SRC, DST + 1)).not.toBe(0);
  });

  it('sends a computed checksum of 0 as 0xffff', () => {
    /* Choose the last data word so that the full sum is 0xffff, i.e. checksum 0. */
    const b = new Uint8Array(10);
    udp_hdr_write(b, 0, 1, 2, 10);
    const partial = in_cksum_add(in4_cksum_phdr(SRC, DST, 10, IPPROTO_UDP), b, 0, 10);
    const w = ~partial & 0xffff;
    b[8] = w >>> 8;
    b[9] = w & 0xff;
    udp4_cksum_fill(b, 0, 10, SRC, DST);
    expect(uh_sum(b, 0)).toBe(0xffff);
    /* 0xffff verifies like the 0x0000 it stands for. */
    expect(udp4_cksum(b, 0, 10, SRC, DST)).toBe(0);
    expect(UdpRepr.parse(b, 0, 10, SRC, DST)).not.toBeNull();
  });
});

describe('UdpRepr', () => {
  const R: UdpRepr = { sport: 4660, dport: 53, payload: PAYLOAD };

  it('parses and emits golden bytes', () => {
    expect(UdpRepr.parse(GOLDEN, 2, 20, SRC, DST)).toEqual(R);
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(UdpRepr.emit(R, b, 2, SRC, DST)).toBe(20);
    expect(UdpRepr.bufferLen(R)).toBe(20);
    expect(b).toEqual(GOLDEN);
  });

  it('ignores bytes past uh_ulen', () => {
    expect(UdpRepr.parse(GOLDEN, 2, 21, SRC, DST)).toEqual(R);
  });

  it('accepts uh_sum 0 (not computed) without verifying', () => {
    const b = GOLDEN.slice();
    uh_sum_set(b, 2, 0);
    expect(UdpRepr.parse(b, 2, 20, SRC, DST)).toEqual(R);
  });

  it('returns null for truncation, impossible uh_ulen, or a bad checksum', () => {
    expect(UdpRepr.parse(GOLDEN, 2, 7)).toBeNull();
    expect(UdpRepr.parse(GOLDEN, 2, 19)).toBeNull(); /* uh_ulen 20 > 19 delivered */
    const short = GOLDEN.slice();
    uh_ulen_set(short, 2, 7);
    expect(UdpRepr.parse(short, 2, 20)).toBeNull();
    const bad = GOLDEN.slice();
    bad[12] ^= 0x20;
    expect(UdpRepr.parse(bad, 2, 20, SRC, DST)).toBeNull();
    /* Without the pseudo-header addresses the checksum is not checked. */
    expect(UdpRepr.parse(bad, 2, 20)).not.toBeNull();
    expect(() => UdpRepr.emit(R, new Uint8Array(19), 0, SRC, DST)).toThrow(RangeError);
  });
});
