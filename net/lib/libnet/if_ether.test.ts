/*
 * Tests for if_ether.ts: header golden bytes in both directions (construct
 * buffers pre-filled with 0xa5 so an unwritten field shows), truncation,
 * MAC parsing and formatting edge cases, and the in-place address tests.
 */
import { describe, expect, it } from 'vitest';
import {
  ETHERMIN,
  ETHERMTU,
  ETHERTYPE_ARP,
  ETHERTYPE_IP,
  ETHER_ADDR_LEN,
  ETHER_HDR_LEN,
  ETHER_IS_BROADCAST,
  ETHER_IS_MULTICAST,
  ETHER_MAX_LEN,
  ETHER_MIN_LEN,
  EVL_CFIOFTAG,
  EVL_PRIOFTAG,
  EVL_VLANOFTAG,
  EtherRepr,
  ether_addr_copy,
  ether_addr_eq,
  ether_aton,
  ether_dhost,
  ether_dhost_set,
  ether_hdr_write,
  ether_ntoa,
  ether_shost,
  ether_shost_set,
  ether_type,
  ether_type_set,
  etherbroadcastaddr,
} from './if_ether.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const SRC = hex('b2a0 0102 0304');
const BCAST = hex('ffff ffff ffff');
/* Broadcast from b2:a0:01:02:03:04, type ARP, after two bytes of leading space. */
const GOLDEN = hex('a5a5 ffffffffffff b2a001020304 0806 a5');

describe('constants', () => {
  it('match net/if_ether.h', () => {
    expect(ETHER_ADDR_LEN).toBe(6);
    expect(ETHER_HDR_LEN).toBe(14);
    expect(ETHER_MIN_LEN).toBe(64);
    expect(ETHER_MAX_LEN).toBe(1518);
    expect(ETHERMTU).toBe(1500);
    expect(ETHERMIN).toBe(46);
  });
});

describe('Ethernet header accessors', () => {
  it('ether_hdr_write() emits golden bytes and touches nothing else', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(ether_hdr_write(b, 2, BCAST, SRC, ETHERTYPE_ARP)).toBe(ETHER_HDR_LEN);
    expect(b).toEqual(GOLDEN);
  });

  it('setters emit the same bytes field by field', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    ether_dhost_set(b, 2, BCAST);
    ether_shost_set(b, 2, hex('0000 b2a0 0102 0304'), 2);
    ether_type_set(b, 2, ETHERTYPE_ARP);
    expect(b).toEqual(GOLDEN);
  });

  it('readers decode golden bytes; address readers return copies', () => {
    expect(ether_type(GOLDEN, 2)).toBe(ETHERTYPE_ARP);
    const d = ether_dhost(GOLDEN, 2);
    expect(d).toEqual(BCAST);
    expect(d.buffer).not.toBe(GOLDEN.buffer);
    const out = new Uint8Array(6);
    expect(ether_shost(GOLDEN, 2, out)).toBe(out);
    expect(out).toEqual(SRC);
  });
});

describe('EtherRepr', () => {
  it('parses and emits golden bytes', () => {
    const r = EtherRepr.parse(GOLDEN, 2, GOLDEN.length - 2)!;
    expect(r).toEqual({ dhost: BCAST, shost: SRC, type: ETHERTYPE_ARP });
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(EtherRepr.emit(r, b, 2)).toBe(EtherRepr.bufferLen(r));
    expect(b).toEqual(GOLDEN);
  });

  it('returns null for a truncated header and throws when emitting past the buffer', () => {
    expect(EtherRepr.parse(GOLDEN, 2, 13)).toBeNull();
    expect(EtherRepr.parse(GOLDEN, 4, 14)).toBeNull(); /* only 13 bytes left in buf */
    expect(() => EtherRepr.emit({ dhost: BCAST, shost: SRC, type: ETHERTYPE_IP }, new Uint8Array(13), 0)).toThrow(
      RangeError,
    );
  });
});

describe('ether_aton() / ether_ntoa()', () => {
  it('round-trips and normalises to lower case, two digits', () => {
    expect(ether_aton('b2:a0:01:02:03:04')).toEqual(SRC);
    expect(ether_aton('B2:A0:1:2:3:4')).toEqual(SRC);
    expect(ether_ntoa(SRC)).toBe('b2:a0:01:02:03:04');
    expect(ether_ntoa(GOLDEN, 8)).toBe('b2:a0:01:02:03:04');
    expect(ether_ntoa(ether_aton('ff:ff:ff:ff:ff:ff')!)).toBe('ff:ff:ff:ff:ff:ff');
    expect(ether_aton('00:00:00:00:00:00')).toEqual(new Uint8Array(6));
  });

  it.each([
    '',
    'b2:a0:01:02:03',
    'b2:a0:01:02:03:04:05',
    'b2:a0:01:02:03:',
    ':b2:a0:01:02:03:04',
    'b2::01:02:03:04',
    'b2:a0:01:02:03:004',
    'b2:a0:01:02:03:0g',
    'b2-a0-01-02-03-04',
    'b2a0.0102.0304',
    ' b2:a0:01:02:03:04',
    'b2:a0:01:02:03:04 ',
  ])('ether_aton() rejects %j', (s) => {
    expect(ether_aton(s)).toBeNull();
  });
});

describe('address tests', () => {
  it('ETHER_IS_MULTICAST() looks at the I/G bit, broadcast included', () => {
    expect(ETHER_IS_MULTICAST(hex('0100 5e00 0001'))).toBe(true);
    expect(ETHER_IS_MULTICAST(BCAST)).toBe(true);
    expect(ETHER_IS_MULTICAST(SRC)).toBe(false);
    expect(ETHER_IS_MULTICAST(GOLDEN, 2)).toBe(true);
    expect(ETHER_IS_MULTICAST(GOLDEN, 8)).toBe(false);
  });

  it('ETHER_IS_BROADCAST() wants all ones', () => {
    expect(ETHER_IS_BROADCAST(BCAST)).toBe(true);
    expect(ETHER_IS_BROADCAST(hex('ffff ffff fffe'))).toBe(false);
    expect(ETHER_IS_BROADCAST(hex('7fff ffff ffff'))).toBe(false);
    expect(ETHER_IS_BROADCAST(GOLDEN, 2)).toBe(true);
  });

  it('ether_addr_eq() and ether_addr_copy() work in place at offsets', () => {
    expect(ether_addr_eq(GOLDEN, 8, SRC, 0)).toBe(true);
    expect(ether_addr_eq(GOLDEN, 2, SRC, 0)).toBe(false);
    for (let i = 0; i < 6; i++) {
      const x = SRC.slice();
      x[i] ^= 1;
      expect(ether_addr_eq(x, 0, SRC, 0)).toBe(false);
    }
    const b = new Uint8Array(10).fill(0xa5);
    ether_addr_copy(b, 2, SRC, 0);
    expect(b).toEqual(hex('a5a5 b2a001020304 a5a5'));
  });

  it('etherbroadcastaddr is frozen and fills a buffer', () => {
    expect(Object.isFrozen(etherbroadcastaddr)).toBe(true);
    const b = new Uint8Array(6);
    b.set(etherbroadcastaddr);
    expect(b).toEqual(BCAST);
  });

  it('decodes an 802.1Q tag', () => {
    const tci = (5 << 13) | (1 << 12) | 100;
    expect([EVL_PRIOFTAG(tci), EVL_CFIOFTAG(tci), EVL_VLANOFTAG(tci)]).toEqual([5, 1, 100]);
  });
});
