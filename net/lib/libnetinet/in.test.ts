/*
 * Tests for in.ts: strict dotted-quad parsing and formatting, address
 * bytes in both directions, prefix length <-> mask, the class and scope
 * tests, and broadcast detection for an interface address and mask.
 */
import { describe, expect, it } from 'vitest';
import {
  INADDR_ANY,
  INADDR_BROADCAST,
  INADDR_LOOPBACK,
  IN_CLASSA,
  IN_CLASSB,
  IN_CLASSC,
  IN_CLASSD,
  IN_EXPERIMENTAL,
  IN_LINKLOCAL,
  IN_LOCAL_GROUP,
  IN_LOOPBACK,
  IN_MULTICAST,
  IN_PRIVATE,
  IPPROTO_ICMP,
  IPPROTO_IGMP,
  IPPROTO_RAW,
  IPPROTO_TCP,
  IPPROTO_UDP,
  in_addr_read,
  in_addr_write,
  in_broadaddr,
  in_canforward,
  in_is_broadcast,
  in_len2mask,
  in_mask2len,
  inet_ntop4,
  inet_pton4,
} from './in.ts';

describe('inet_pton4()', () => {
  it('parses dotted quads to host-order uint32', () => {
    expect(inet_pton4('10.0.0.1')).toBe(0x0a000001);
    expect(inet_pton4('0.0.0.0')).toBe(0);
    expect(inet_pton4('255.255.255.255')).toBe(0xffffffff);
    expect(inet_pton4('192.168.0.199')).toBe(0xc0a800c7);
    expect(inet_pton4('127.0.0.1')).toBe(INADDR_LOOPBACK);
  });

  it.each([
    '',
    '1.2.3',
    '10.1',
    '1',
    '1.2.3.4.5',
    '256.1.1.1',
    '1.2.3.256',
    '1.2.3.999',
    '01.2.3.4',
    '1.2.3.04',
    '00.0.0.0',
    '1..3.4',
    '.1.2.3.4',
    '1.2.3.4.',
    ' 1.2.3.4',
    '1.2.3.4 ',
    'x1.2.3.4',
    '1.2.3.4x',
    '+1.2.3.4',
    '-1.2.3.4',
    '0x1.2.3.4',
    '1.2.3.4/24',
    '1.2.3.1000',
    '１.2.3.4',
  ])('rejects %j', (s) => {
    expect(inet_pton4(s)).toBeNull();
  });
});

describe('inet_ntop4()', () => {
  it('formats and round-trips', () => {
    expect(inet_ntop4(0x0a000001)).toBe('10.0.0.1');
    expect(inet_ntop4(0xffffffff)).toBe('255.255.255.255');
    expect(inet_ntop4(0)).toBe('0.0.0.0');
    for (const s of ['1.2.3.4', '192.168.255.0', '224.0.0.251', '0.0.0.255']) {
      expect(inet_ntop4(inet_pton4(s)!)).toBe(s);
    }
  });
});

describe('in_addr_read() / in_addr_write()', () => {
  it('reads and writes network byte order, leaving neighbours alone', () => {
    const b = new Uint8Array(8).fill(0xa5);
    in_addr_write(b, 2, 0xc0a80001);
    expect(Array.from(b)).toEqual([0xa5, 0xa5, 0xc0, 0xa8, 0x00, 0x01, 0xa5, 0xa5]);
    expect(in_addr_read(b, 2)).toBe(0xc0a80001);
    /* High bit set still reads as a non-negative number. */
    expect(in_addr_read(new Uint8Array([0xff, 0, 0, 1]), 0)).toBe(0xff000001);
  });
});

describe('in_len2mask() / in_mask2len()', () => {
  it('maps every prefix length to its mask and back', () => {
    expect(in_len2mask(0)).toBe(0);
    expect(in_len2mask(8)).toBe(0xff000000);
    expect(in_len2mask(24)).toBe(0xffffff00);
    expect(in_len2mask(31)).toBe(0xfffffffe);
    expect(in_len2mask(32)).toBe(0xffffffff);
    for (let n = 0; n <= 32; n++) expect(in_mask2len(in_len2mask(n))).toBe(n);
  });

  it('rejects lengths outside 0..32 and non-contiguous masks', () => {
    expect(() => in_len2mask(33)).toThrow(RangeError);
    expect(() => in_len2mask(-1)).toThrow(RangeError);
    expect(() => in_len2mask(1.5)).toThrow(RangeError);
    expect(in_mask2len(0xff00ff00)).toBe(-1);
    expect(in_mask2len(0x00ffffff)).toBe(-1);
    expect(in_mask2len(0xfffffffd)).toBe(-1);
    expect(in_mask2len(1)).toBe(-1);
  });
});

describe('address classes and scopes', () => {
  const a = (s: string) => inet_pton4(s)!;

  it('classifies', () => {
    expect(IN_CLASSA(a('10.1.2.3'))).toBe(true);
    expect(IN_CLASSB(a('172.16.0.1'))).toBe(true);
    expect(IN_CLASSC(a('192.168.1.1'))).toBe(true);
    expect(IN_CLASSD(a('224.0.0.1'))).toBe(true);
    expect(IN_CLASSD(a('239.255.255.255'))).toBe(true);
    expect(IN_CLASSD(a('240.0.0.1'))).toBe(false);
    expect(IN_MULTICAST(a('223.255.255.255'))).toBe(false);
    expect(IN_EXPERIMENTAL(a('240.0.0.1'))).toBe(true);
    expect(IN_EXPERIMENTAL(INADDR_BROADCAST)).toBe(true);
    expect(IN_LOOPBACK(a('127.255.0.1'))).toBe(true);
    expect(IN_LOOPBACK(a('128.0.0.1'))).toBe(false);
    expect(IN_LINKLOCAL(a('169.254.1.1'))).toBe(true);
    expect(IN_PRIVATE(a('172.31.255.255'))).toBe(true);
    expect(IN_PRIVATE(a('172.32.0.0'))).toBe(false);
    expect(IN_LOCAL_GROUP(a('224.0.0.251'))).toBe(true);
    expect(IN_LOCAL_GROUP(a('224.0.1.1'))).toBe(false);
  });

  it('in_canforward() refuses multicast, class E, net 0 and loopback', () => {
    expect(in_canforward(a('8.8.8.8'))).toBe(true);
    expect(in_canforward(a('224.0.0.1'))).toBe(false);
    expect(in_canforward(a('240.0.0.1'))).toBe(false);
    expect(in_canforward(a('0.1.2.3'))).toBe(false);
    expect(in_canforward(a('127.0.0.1'))).toBe(false);
  });

  it('has the protocol numbers of the IANA registry', () => {
    expect([IPPROTO_ICMP, IPPROTO_IGMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW]).toEqual([1, 2, 6, 17, 255]);
  });
});

describe('in_is_broadcast() / in_broadaddr()', () => {
  const a = (s: string) => inet_pton4(s)!;
  const IF = a('10.0.0.1');
  const M24 = in_len2mask(24);

  it('recognises limited, zero and directed broadcast', () => {
    expect(in_broadaddr(IF, M24)).toBe(a('10.0.0.255'));
    expect(in_is_broadcast(INADDR_BROADCAST, IF, M24)).toBe(true);
    expect(in_is_broadcast(INADDR_ANY, IF, M24)).toBe(true);
    expect(in_is_broadcast(a('10.0.0.255'), IF, M24)).toBe(true);
    expect(in_is_broadcast(a('10.0.0.2'), IF, M24)).toBe(false);
    expect(in_is_broadcast(a('10.0.1.255'), IF, M24)).toBe(false);
    expect(in_is_broadcast(IF, IF, M24)).toBe(false);
  });

  it('treats host zero as broadcast only when asked (4.2BSD style)', () => {
    expect(in_is_broadcast(a('10.0.0.0'), IF, M24)).toBe(false);
    expect(in_is_broadcast(a('10.0.0.0'), IF, M24, true)).toBe(true);
  });

  it('gives /31 and /32 no directed broadcast', () => {
    const m31 = in_len2mask(31);
    expect(in_broadaddr(a('10.0.0.0'), m31)).toBe(INADDR_BROADCAST);
    /* On a /31 the all-ones host is the peer (RFC 3021). */
    expect(in_is_broadcast(a('10.0.0.1'), a('10.0.0.0'), m31)).toBe(false);
    expect(in_is_broadcast(a('10.0.0.1'), a('10.0.0.1'), in_len2mask(32))).toBe(false);
  });
});
