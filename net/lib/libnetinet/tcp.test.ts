/*
 * Tests for tcp.ts: golden bytes of a SYN with the usual options (checksum
 * computed independently: 0x2af3) in both directions, the option walker on
 * malformed options, and TcpRepr round trips and rejections.
 */
import { describe, expect, it } from 'vitest';
import {
  TCPOPT_EOL,
  TCPOPT_MAXSEG,
  TCPOPT_NOP,
  TCPOPT_SACK,
  TCPOPT_TIMESTAMP,
  TCPOPT_TSTAMP_HDR,
  TCP_HDR_LEN,
  TH_ACK,
  TH_FIN,
  TH_PUSH,
  TH_SYN,
  TcpRepr,
  tcp4_cksum,
  tcp4_cksum_fill,
  tcp_hdr_write,
  tcp_opt_len,
  tcp_opts_check,
  th_ack,
  th_ack_set,
  th_dport,
  th_dport_set,
  th_flags,
  th_flags_set,
  th_off,
  th_off_set,
  th_seq,
  th_seq_set,
  th_sport,
  th_sport_set,
  th_sum,
  th_urp,
  th_urp_set,
  th_win,
  th_win_set,
} from './tcp.ts';

function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const SRC = 0x0a000001; /* 10.0.0.1 */
const DST = 0x0a000002; /* 10.0.0.2 */
/* 1234 -> 80 SYN, seq 1000, win 65535: mss 1460, nop, wscale 7, sackOK, TS val 1 ecr 0. */
const OPTS = hex('020405b4 01 030307 0402 080a0000000100000000');
const GOLDEN = hex('a5a5 04d2 0050 000003e8 00000000 a002 ffff 2af3 0000' + '020405b4010303070402080a0000000100000000' + 'a5');

describe('TCP accessors', () => {
  it('tcp_hdr_write() + options + tcp4_cksum_fill() emit golden bytes', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    tcp_hdr_write(b, 2, 1234, 80, 1000, 0, 40, TH_SYN, 65535, 0);
    b.set(OPTS, 2 + TCP_HDR_LEN);
    tcp4_cksum_fill(b, 2, 40, SRC, DST);
    expect(b).toEqual(GOLDEN);
  });

  it('setters emit the same header', () => {
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    th_sport_set(b, 2, 1234);
    th_dport_set(b, 2, 80);
    th_seq_set(b, 2, 1000);
    th_ack_set(b, 2, 0);
    th_off_set(b, 2, 10);
    th_flags_set(b, 2, TH_SYN);
    th_win_set(b, 2, 65535);
    th_urp_set(b, 2, 0);
    b.set(OPTS, 22);
    tcp4_cksum_fill(b, 2, 40, SRC, DST);
    expect(b).toEqual(GOLDEN);
  });

  it('readers decode golden bytes and the checksum verifies', () => {
    const o = 2;
    expect([th_sport(GOLDEN, o), th_dport(GOLDEN, o), th_seq(GOLDEN, o), th_ack(GOLDEN, o)]).toEqual([
      1234, 80, 1000, 0,
    ]);
    expect([th_off(GOLDEN, o), th_flags(GOLDEN, o), th_win(GOLDEN, o), th_sum(GOLDEN, o), th_urp(GOLDEN, o)]).toEqual(
      [10, TH_SYN, 65535, 0x2af3, 0],
    );
    expect(tcp4_cksum(GOLDEN, 2, 40, SRC, DST)).toBe(0);
  });

  it('reads 32-bit sequence numbers with the high bit set as non-negative', () => {
    const b = new Uint8Array(20);
    th_seq_set(b, 0, 0xfffffff0);
    th_ack_set(b, 0, 0x80000000);
    expect(th_seq(b, 0)).toBe(0xfffffff0);
    expect(th_ack(b, 0)).toBe(0x80000000);
  });

  it('tcp_hdr_write() throws for a bad header length', () => {
    for (const hlen of [16, 22, 64]) {
      expect(() => tcp_hdr_write(new Uint8Array(64), 0, 1, 2, 3, 4, hlen, 0, 0, 0)).toThrow(RangeError);
    }
  });

  it('TCPOPT_TSTAMP_HDR is NOP, NOP, TIMESTAMP, 10', () => {
    expect(TCPOPT_TSTAMP_HDR).toBe(0x0101080a);
  });
});

describe('tcp_opt_len() / tcp_opts_check()', () => {
  function hdr(opts: number[]): Uint8Array {
    const b = new Uint8Array(20 + opts.length);
    b.set(opts, 20);
    return b;
  }

  it('walks the golden options', () => {
    const lens: number[] = [];
    for (let p = 22; p < 42; ) {
      const n = tcp_opt_len(GOLDEN, p, 42);
      lens.push(n);
      if (n <= 0) break;
      p += n;
    }
    expect(lens).toEqual([4, 1, 3, 2, 10]);
    expect(tcp_opts_check(GOLDEN, 2, 40)).toBe(true);
  });

  it('stops at EOL and ignores what follows', () => {
    const b = hdr([TCPOPT_NOP, TCPOPT_EOL, 0xff, 0xff]);
    expect(tcp_opt_len(b, 21, 24)).toBe(0);
    expect(tcp_opts_check(b, 0, 24)).toBe(true);
  });

  it.each([
    ['length 0', [TCPOPT_MAXSEG, 0, 0, 0]],
    ['length 1', [TCPOPT_MAXSEG, 1, 0, 0]],
    ['length past the header', [TCPOPT_NOP, TCPOPT_MAXSEG, 4, 0]],
    ['length byte missing', [TCPOPT_NOP, TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK]],
    ['unknown kind, bad length', [TCPOPT_NOP, 99, 200, 0]],
  ])('rejects %s', (_name, opts) => {
    const b = hdr(opts);
    expect(tcp_opts_check(b, 0, 24)).toBe(false);
  });

  it('leaves a known kind with the wrong length to the caller (NetBSD ignores it)', () => {
    const b = hdr([TCPOPT_MAXSEG, 3, 0, TCPOPT_EOL]);
    expect(tcp_opt_len(b, 20, 24)).toBe(3);
    expect(tcp_opts_check(b, 0, 24)).toBe(true);
  });
});

describe('TcpRepr', () => {
  const SYN: TcpRepr = {
    sport: 1234,
    dport: 80,
    seq: 1000,
    ack: 0,
    flags: TH_SYN,
    win: 65535,
    urp: 0,
    options: [
      { kind: 'mss', mss: 1460 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
      { kind: 'sackOK' },
      { kind: 'ts', val: 1, ecr: 0 },
    ],
    payload: new Uint8Array(0),
  };

  it('parses and emits golden bytes', () => {
    expect(TcpRepr.parse(GOLDEN, 2, 40, SRC, DST)).toEqual(SYN);
    const b = new Uint8Array(GOLDEN.length).fill(0xa5);
    expect(TcpRepr.emit(SYN, b, 2, SRC, DST)).toBe(40);
    expect(TcpRepr.headerLen(SYN)).toBe(40);
    expect(b).toEqual(GOLDEN);
  });

  it('pads options with EOL and round-trips SACK, unknown options and data', () => {
    const r: TcpRepr = {
      sport: 80,
      dport: 1234,
      seq: 0xfffffffe,
      ack: 1001,
      flags: TH_ACK | TH_PUSH | TH_FIN,
      win: 512,
      urp: 0,
      options: [
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'sack', blocks: [[1, 2], [0xfffffff0, 0x10]] },
        { kind: 'unknown', opt: 30, data: hex('abcd') },
      ],
      payload: new TextEncoder().encode('hello'),
    };
    /* 2 + 18 + 4 = 24 option bytes: already a multiple of 4, no padding. */
    const len = TcpRepr.bufferLen(r);
    expect(len).toBe(20 + 24 + 5);
    const b = new Uint8Array(len + 1).fill(0xa5);
    expect(TcpRepr.emit(r, b, 0, SRC, DST)).toBe(len);
    expect(b[len]).toBe(0xa5);
    expect(TcpRepr.parse(b, 0, len, SRC, DST)).toEqual(r);

    const padded: TcpRepr = { ...r, options: [{ kind: 'wscale', shift: 3 }], payload: new Uint8Array(0) };
    const p = new Uint8Array(24).fill(0xa5);
    TcpRepr.emit(padded, p, 0, SRC, DST);
    expect(Array.from(p.subarray(20))).toEqual([3, 3, 3, TCPOPT_EOL]);
    expect(TcpRepr.parse(p, 0, 24)!.options).toEqual([{ kind: 'wscale', shift: 3 }, { kind: 'eol' }]);
  });

  it('decodes a known kind with the wrong length as unknown', () => {
    const b = new Uint8Array(24);
    tcp_hdr_write(b, 0, 1, 2, 3, 4, 24, TH_ACK, 100, 0);
    b.set([TCPOPT_TIMESTAMP, 4, 9, 9], 20);
    expect(TcpRepr.parse(b, 0, 24)!.options).toEqual([{ kind: 'unknown', opt: TCPOPT_TIMESTAMP, data: hex('0909') }]);
  });

  it('returns null for truncation, a bad th_off, malformed options or a bad checksum', () => {
    expect(TcpRepr.parse(GOLDEN, 2, 19)).toBeNull();
    expect(TcpRepr.parse(GOLDEN, 2, 39)).toBeNull(); /* th_off says 40 */
    const low = GOLDEN.slice();
    th_off_set(low, 2, 4);
    expect(TcpRepr.parse(low, 2, 40)).toBeNull();
    const badopt = GOLDEN.slice();
    badopt[23] = 1; /* mss length 1 */
    expect(TcpRepr.parse(badopt, 2, 40)).toBeNull();
    const badsum = GOLDEN.slice();
    badsum[10] ^= 1;
    expect(TcpRepr.parse(badsum, 2, 40, SRC, DST)).toBeNull();
    expect(TcpRepr.parse(badsum, 2, 40)).not.toBeNull();
  });

  it('refuses to emit more than 40 option bytes', () => {
    const r: TcpRepr = { ...SYN, options: [{ kind: 'unknown', opt: 99, data: new Uint8Array(40) }] };
    expect(() => TcpRepr.emit(r, new Uint8Array(100), 0, SRC, DST)).toThrow(RangeError);
  });
});
