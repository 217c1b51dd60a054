/*
 * Tests for ip_icmp.ts: golden echo-request bytes in both directions,
 * the icmp_hun views (id/seq, pptr, gateway, next-hop MTU), error versus
 * info types, ICMP_ADVLEN, and IcmpRepr truncation and checksum checks.
 */
import { describe, expect, it } from 'vitest';
import { in_cksum } from './in_cksum.ts';
import {
  ICMP_ADVLEN,
  ICMP_ADVLENMIN,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  ICMP_INFOTYPE,
  ICMP_MASKREPLY,
  ICMP_MINLEN,
  ICMP_PARAMPROB,
  ICMP_REDIRECT,
  ICMP_ROUTERADVERT,
  ICMP_SOURCEQUENCH,
  ICMP_TIMXCEED,
  ICMP_TSTAMP,
  ICMP_UNREACH,
  ICMP_UNREACH_NEEDFRAG,
  IcmpRepr,
  icmp_cksum,
  icmp_cksum_fill,
  icmp_code,
  icmp_code_set,
  icmp_gwaddr,
  icmp_gwaddr_set,
  icmp_hun,
  icmp_id,
  icmp_id_set,
  icmp_is_error,
  icmp_nextmtu,
  icmp_nextmtu_set,
  icmp_pptr,
  icmp_pptr_set,
  icmp_seq,
  icmp_seq_set,
  icmp_type,
  icmp_type_set,
} from './ip_icmp.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/* Echo request, id 1, seq 2, data "abcd", checksum 0x3336; one byte of leading space. */
const GOLDEN = hex('a5 0800 3336 0001 0002 61626364 a5');

describe('ICMP accessors', () => {
  it('setters and icmp_cksum_fill() emit golden bytes, touching nothing else', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    icmp_type_set(b, 1, ICMP_ECHO);
    icmp_code_set(b, 1, 0);
    icmp_id_set(b, 1, 1);
    icmp_seq_set(b, 1, 2);
    b.set([0x61, 0x62, 0x63, 0x64], 9);
    icmp_cksum_fill(b, 1, 12);
    expect(b).toEqual(GOLDEN);
  });

  it('readers decode golden bytes', () => {
    expect([icmp_type(GOLDEN, 1), icmp_code(GOLDEN, 1), icmp_cksum(GOLDEN, 1)]).toEqual([ICMP_ECHO, 0, 0x3336]);
    expect([icmp_id(GOLDEN, 1), icmp_seq(GOLDEN, 1), icmp_hun(GOLDEN, 1)]).toEqual([1, 2, 0x00010002]);
    expect(in_cksum(GOLDEN, 1, 12)).toBe(0);
  });

  it('reads the other views of icmp_hun', () => {
    const b = new Uint8Array(8).fill(0xa5);
    icmp_pptr_set(b, 0, 20);
    expect(icmp_pptr(b, 0)).toBe(20);
    icmp_gwaddr_set(b, 0, 0x0a0000fe);
    expect(icmp_gwaddr(b, 0)).toBe(0x0a0000fe);
    icmp_nextmtu_set(b, 0, 1400);
    expect(icmp_nextmtu(b, 0)).toBe(1400);
    expect(Array.from(b.subarray(4))).toEqual([0x0a, 0x00, 0x05, 0x78]);
  });

  it('ICMP_ADVLEN() counts the quoted header with its options', () => {
    const b = new Uint8Array(ICMP_ADVLENMIN);
    b[8] = 0x45;
    expect(ICMP_ADVLEN(b, 0)).toBe(ICMP_ADVLENMIN);
    b[8] = 0x46;
    expect(ICMP_ADVLEN(b, 0)).toBe(40);
  });
});

describe('icmp_is_error() / ICMP_INFOTYPE()', () => {
  it('separates errors from queries', () => {
    for (const t of [ICMP_UNREACH, ICMP_SOURCEQUENCH, ICMP_REDIRECT, ICMP_TIMXCEED, ICMP_PARAMPROB]) {
      expect(icmp_is_error(t)).toBe(true);
      expect(ICMP_INFOTYPE(t)).toBe(false);
    }
    for (const t of [ICMP_ECHO, ICMP_ECHOREPLY, ICMP_TSTAMP, ICMP_MASKREPLY, ICMP_ROUTERADVERT]) {
      expect(icmp_is_error(t)).toBe(false);
      expect(ICMP_INFOTYPE(t)).toBe(true);
    }
    /* An unknown type is neither; icmp_error() treats it as an error. */
    expect(icmp_is_error(42)).toBe(false);
    expect(ICMP_INFOTYPE(42)).toBe(false);
  });
});

describe('IcmpRepr', () => {
  const ECHO: IcmpRepr = { type: ICMP_ECHO, code: 0, hun: 0x00010002, data: hex('61626364') };

  it('parses and emits golden bytes', () => {
    expect(IcmpRepr.parse(GOLDEN, 1, 12)).toEqual(ECHO);
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(IcmpRepr.emit(ECHO, b, 1)).toBe(12);
    expect(b).toEqual(GOLDEN);
    expect(IcmpRepr.bufferLen(ECHO)).toBe(12);
  });

  it('emits a need-to-fragment error quoting a datagram', () => {
    const quoted = new Uint8Array(28);
    quoted[0] = 0x45;
    const r: IcmpRepr = { type: ICMP_UNREACH, code: ICMP_UNREACH_NEEDFRAG, hun: 1400, data: quoted };
    const b = new Uint8Array(36).fill(0xa5);
    IcmpRepr.emit(r, b, 0);
    expect(icmp_nextmtu(b, 0)).toBe(1400);
    expect(Array.from(b.subarray(4, 9))).toEqual([0, 0, 0x05, 0x78, 0x45]);
    expect(IcmpRepr.parse(b, 0, 36)).toEqual(r);
  });

  it('returns null when truncated or when the checksum is bad (unless not verifying)', () => {
    expect(IcmpRepr.parse(GOLDEN, 1, ICMP_MINLEN - 1)).toBeNull();
    expect(IcmpRepr.parse(GOLDEN, 1, 13)).toBeNull(); /* runs past the end of buf */
    const b = GOLDEN.slice();
    b[12] ^= 1;
    expect(IcmpRepr.parse(b, 1, 12)).toBeNull();
    expect(IcmpRepr.parse(b, 1, 12, false)).not.toBeNull();
    expect(() => IcmpRepr.emit(ECHO, new Uint8Array(11), 0)).toThrow(RangeError);
  });

  it('checksums an odd-length message', () => {
    const r: IcmpRepr = { type: ICMP_ECHO, code: 0, hun: 0x00010002, data: hex('616263') };
    const b = new Uint8Array(11);
    IcmpRepr.emit(r, b, 0);
    expect(icmp_cksum(b, 0)).toBe(0x339a);
    expect(IcmpRepr.parse(b, 0, 11)).toEqual(r);
  });
});
