/*
 * Tests for if_arp_hdr.ts: golden bytes of a who-has request in both
 * directions, arp_hdr_check() reasons, truncation, and ArpRepr.
 */
import { describe, expect, it } from 'vitest';
import {
  ARPHRD_ETHER,
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ARP_ETHER_IP_LEN,
  ArpRepr,
  ar_hln,
  ar_hrd,
  ar_op,
  ar_op_set,
  ar_pln,
  ar_pro,
  ar_sha,
  ar_sha_set,
  ar_spa,
  ar_spa_set,
  ar_tha,
  ar_tha_set,
  ar_tpa,
  ar_tpa_set,
  arp_hdr_check,
  arp_hdr_write,
} from './if_arp_hdr.ts';
import { ETHERTYPE_IP } from './if_ether.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const SHA = hex('b2a0 0102 0304');
const ZERO = new Uint8Array(6);
/* who-has 10.0.0.2 tell 10.0.0.1, after one byte of leading space. */
const GOLDEN = hex('a5 0001 0800 06 04 0001 b2a001020304 0a000001 000000000000 0a000002 a5');

describe('ARP accessors', () => {
  it('arp_hdr_write() emits golden bytes and touches nothing else', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(arp_hdr_write(b, 1, ARPOP_REQUEST, SHA, 0x0a000001, ZERO, 0x0a000002)).toBe(ARP_ETHER_IP_LEN);
    expect(b).toEqual(GOLDEN);
  });

  it('setters rewrite a request into a reply in place', () => {
    const b = GOLDEN.slice();
    const them = hex('b2a0 0102 0305');
    ar_op_set(b, 1, ARPOP_REPLY);
    ar_tha_set(b, 1, SHA);
    ar_tpa_set(b, 1, 0x0a000001);
    ar_sha_set(b, 1, them);
    ar_spa_set(b, 1, 0x0a000002);
    expect(b).toEqual(hex('a5 0001 0800 06 04 0002 b2a001020305 0a000002 b2a001020304 0a000001 a5'));
  });

  it('readers decode golden bytes; hardware addresses are copies', () => {
    expect([ar_hrd(GOLDEN, 1), ar_pro(GOLDEN, 1), ar_hln(GOLDEN, 1), ar_pln(GOLDEN, 1), ar_op(GOLDEN, 1)]).toEqual([
      ARPHRD_ETHER,
      ETHERTYPE_IP,
      6,
      4,
      ARPOP_REQUEST,
    ]);
    expect([ar_spa(GOLDEN, 1), ar_tpa(GOLDEN, 1)]).toEqual([0x0a000001, 0x0a000002]);
    expect(ar_sha(GOLDEN, 1)).toEqual(SHA);
    const out = new Uint8Array(6).fill(7);
    expect(ar_tha(GOLDEN, 1, out)).toBe(out);
    expect(out).toEqual(ZERO);
  });
});

describe('arp_hdr_check()', () => {
  it('accepts Ethernet/IPv4, with padding after it', () => {
    expect(arp_hdr_check(GOLDEN, 1, 28)).toBeNull();
    const padded = new Uint8Array(60);
    padded.set(GOLDEN.subarray(1, 29));
    expect(arp_hdr_check(padded, 0, 60)).toBeNull();
  });

  it('arps_rcvbadlen: short fixed part or short addresses', () => {
    expect(arp_hdr_check(GOLDEN, 1, 7)).toBe('arps_rcvbadlen');
    expect(arp_hdr_check(GOLDEN, 1, 27)).toBe('arps_rcvbadlen');
    expect(arp_hdr_check(GOLDEN.subarray(0, 28), 1, 28)).toBe('arps_rcvbadlen'); /* avail clipped to buf */
    expect(arp_hdr_check(GOLDEN, 100, 28)).toBe('arps_rcvbadlen');
  });

  it.each([
    ['ar_hrd', 2, 0x20],
    ['ar_pro', 3, 0x86],
    ['ar_hln', 5, 8],
    ['ar_pln', 6, 16],
  ])('arps_rcvbadproto: %s', (_f, at, v) => {
    const b = GOLDEN.slice();
    b[at] = v;
    expect(arp_hdr_check(b, 1, 28)).toBe('arps_rcvbadproto');
  });
});

describe('ArpRepr', () => {
  const R: ArpRepr = { op: ARPOP_REQUEST, sha: SHA, spa: 0x0a000001, tha: ZERO, tpa: 0x0a000002 };

  it('parses and emits golden bytes', () => {
    expect(ArpRepr.parse(GOLDEN, 1, 28)).toEqual(R);
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(ArpRepr.emit(R, b, 1)).toBe(ArpRepr.bufferLen(R));
    expect(b).toEqual(GOLDEN);
  });

  it('returns null when truncated, throws when emitting past the buffer', () => {
    expect(ArpRepr.parse(GOLDEN, 1, 27)).toBeNull();
    expect(() => ArpRepr.emit(R, new Uint8Array(27), 0)).toThrow(RangeError);
  });
});
