/*
 * tcp.ts: the TCP header and its options, NetBSD's netinet/tcp.h (RFC 793,
 * RFC 7323 window scale and timestamps, RFC 2018 SACK), with the option
 * walk of tcp_dooptions().
 *
 * Accessors take (buf, off) with `off` the first byte of the TCP header;
 * check the length once (TCP_HDR_LEN, then th_off << 2 against the
 * segment, as tcp_input() does), then read unchecked. Sequence numbers are
 * uint32 numbers (`>>> 0`); compare them with ((a - b) | 0) < 0, never <.
 *
 * TcpRepr is a plain object with parse/emit for tests and tools.
 */

import { IPPROTO_TCP } from './in.ts';
import { in4_cksum } from './in_cksum.ts';

/** sizeof(struct tcphdr): the header without options. */
export const TCP_HDR_LEN = 20;
/** th_off is 4 bits of 32-bit words: at most 60 bytes, 40 of options. */
export const TCP_MAX_HDR_LEN = 60;
export const TCP_MAXOLEN = TCP_MAX_HDR_LEN - TCP_HDR_LEN;

/* th_flags. */
export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PUSH = 0x08;
export const TH_ACK = 0x10;
export const TH_URG = 0x20;
/** ECN-Echo, RFC 3168. */
export const TH_ECE = 0x40;
/** Congestion Window Reduced, RFC 3168. */
export const TH_CWR = 0x80;

/* Option kinds and their lengths. */
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MAXSEG = 2;
export const TCPOLEN_MAXSEG = 4;
export const TCPOPT_WINDOW = 3;
export const TCPOLEN_WINDOW = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOLEN_SACK_PERMITTED = 2;
export const TCPOPT_SACK = 5;
/** One SACK block: left and right edge. The option is 2 + n * 8 bytes. */
export const TCPOLEN_SACK = 8;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOLEN_TIMESTAMP = 10;
/** Timestamp with two NOPs in front, as tcp_output() aligns it. */
export const TCPOLEN_TSTAMP_APPA = TCPOLEN_TIMESTAMP + 2;
/** The first word of an appendix-A timestamp: NOP, NOP, kind, length. */
export const TCPOPT_TSTAMP_HDR =
  ((TCPOPT_NOP << 24) | (TCPOPT_NOP << 16) | (TCPOPT_TIMESTAMP << 8) | TCPOLEN_TIMESTAMP) >>> 0;
/** TCP MD5 signature, RFC 2385. */
export const TCPOPT_SIGNATURE = 19;
export const TCPOLEN_SIGNATURE = 18;

/** Default MSS when the peer sends none (RFC 1122 4.2.2.6). */
export const TCP_MSS = 536;
/** Largest unscaled window. */
export const TCP_MAXWIN = 65535;
/** Largest window shift (RFC 7323 2.3). */
export const TCP_MAX_WINSHIFT = 14;

/* Field offsets in struct tcphdr. */
export const TH_SPORT_OFF = 0;
export const TH_DPORT_OFF = 2;
export const TH_SEQ_OFF = 4;
export const TH_ACK_OFF = 8;
/** th_off (high nibble) and reserved bits. */
export const TH_OFF_OFF = 12;
export const TH_FLAGS_OFF = 13;
export const TH_WIN_OFF = 14;
export const TH_SUM_OFF = 16;
export const TH_URP_OFF = 18;

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}
function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}
function rd32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}
function wr32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

export function th_sport(buf: Uint8Array, off: number): number {
  return rd16(buf, off + TH_SPORT_OFF);
}
export function th_dport(buf: Uint8Array, off: number): number {
  return rd16(buf, off + TH_DPORT_OFF);
}
export function th_seq(buf: Uint8Array, off: number): number {
  return rd32(buf, off + TH_SEQ_OFF);
}
export function th_ack(buf: Uint8Array, off: number): number {
  return rd32(buf, off + TH_ACK_OFF);
}
/** th_off: header length in 32-bit words; bytes are th_off << 2. */
export function th_off(buf: Uint8Array, off: number): number {
  return buf[off + TH_OFF_OFF] >>> 4;
}
export function th_flags(buf: Uint8Array, off: number): number {
  return buf[off + TH_FLAGS_OFF];
}
export function th_win(buf: Uint8Array, off: number): number {
  return rd16(buf, off + TH_WIN_OFF);
}
export function th_sum(buf: Uint8Array, off: number): number {
  return rd16(buf, off + TH_SUM_OFF);
}
export function th_urp(buf: Uint8Array, off: number): number {
  return rd16(buf, off + TH_URP_OFF);
}

export function th_sport_set(buf: Uint8Array, off: number, port: number): void {
  wr16(buf, off + TH_SPORT_OFF, port);
}
export function th_dport_set(buf: Uint8Array, off: number, port: number): void {
  wr16(buf, off + TH_DPORT_OFF, port);
}
export function th_seq_set(buf: Uint8Array, off: number, seq: number): void {
  wr32(buf, off + TH_SEQ_OFF, seq);
}
export function th_ack_set(buf: Uint8Array, off: number, ack: number): void {
  wr32(buf, off + TH_ACK_OFF, ack);
}
/** Sets th_off (words) and clears the reserved bits beside it. */
export function th_off_set(buf: Uint8Array, off: number, words: number): void {
  buf[off + TH_OFF_OFF] = (words & 0x0f) << 4;
}
export function th_flags_set(buf: Uint8Array, off: number, flags: number): void {
  buf[off + TH_FLAGS_OFF] = flags;
}
export function th_win_set(buf: Uint8Array, off: number, win: number): void {
  wr16(buf, off + TH_WIN_OFF, win);
}
export function th_sum_set(buf: Uint8Array, off: number, sum: number): void {
  wr16(buf, off + TH_SUM_OFF, sum);
}
export function th_urp_set(buf: Uint8Array, off: number, urp: number): void {
  wr16(buf, off + TH_URP_OFF, urp);
}

/**
 * tcp_hdr_write emits the fixed header at buf[off .. off+20) with th_sum
 * 0. hlen is the header length in bytes (20..60, a multiple of 4); options
 * go at buf[off+20 ..] before or after this call. Fill the checksum with
 * tcp4_cksum_fill() once the segment is complete. A bad hlen throws
 * RangeError (the caller's bug).
 */
export function tcp_hdr_write(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  hlen: number,
  flags: number,
  win: number,
  urp: number,
): void {
  if ((hlen & 3) !== 0 || hlen < TCP_HDR_LEN || hlen > TCP_MAX_HDR_LEN) {
    throw new RangeError(`Cannot write TCP header of ${hlen} bytes: must be 20..60, a multiple of 4`);
  }
  wr16(buf, off + TH_SPORT_OFF, sport);
  wr16(buf, off + TH_DPORT_OFF, dport);
  wr32(buf, off + TH_SEQ_OFF, seq);
  wr32(buf, off + TH_ACK_OFF, ack);
  buf[off + TH_OFF_OFF] = (hlen >>> 2) << 4;
  buf[off + TH_FLAGS_OFF] = flags;
  wr16(buf, off + TH_WIN_OFF, win);
  wr16(buf, off + TH_SUM_OFF, 0);
  wr16(buf, off + TH_URP_OFF, urp);
}

/** tcp4_cksum sums the `len`-byte segment at buf[off ..] under the pseudo-header; 0 when it is good. */
export function tcp4_cksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  return in4_cksum(buf, off, len, src, dst, IPPROTO_TCP);
}

/** tcp4_cksum_fill computes and stores th_sum for the `len`-byte segment at buf[off ..]. */
export function tcp4_cksum_fill(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  wr16(buf, off + TH_SUM_OFF, 0);
  wr16(buf, off + TH_SUM_OFF, in4_cksum(buf, off, len, src, dst, IPPROTO_TCP));
}

/**
 * tcp_opt_len returns the length of the option at buf[pos], the options
 * ending at `end`: 1 for TCPOPT_NOP, 0 for TCPOPT_EOL (stop), -1 when
 * malformed: the length byte is missing, below 2, or runs past `end`.
 * (tcp_dooptions() drops a segment for a bad length but just stops at a
 * missing length byte; callers that want that choose by looking at
 * end - pos.) Whether the length suits the kind (TCPOLEN_*) is the
 * caller's check: NetBSD ignores an option whose length is wrong.
 *
 * Walk: for (p = off + 20; p < end; p += n) { n = tcp_opt_len(buf, p, end);
 * if (n <= 0) break-or-reject; switch (buf[p]) ... }
 */
export function tcp_opt_len(buf: Uint8Array, pos: number, end: number): number {
  const opt = buf[pos];
  if (opt === TCPOPT_EOL) return 0;
  if (opt === TCPOPT_NOP) return 1;
  if (end - pos < 2) return -1;
  const optlen = buf[pos + 1];
  if (optlen < 2 || optlen > end - pos) return -1;
  return optlen;
}

/**
 * tcp_opts_check walks the options of the header at buf[off ..] (hlen
 * bytes) and says whether they are well formed by tcp_opt_len().
 */
export function tcp_opts_check(buf: Uint8Array, off: number, hlen: number): boolean {
  const end = off + hlen;
  for (let p = off + TCP_HDR_LEN; p < end; ) {
    const n = tcp_opt_len(buf, p, end);
    if (n === 0) return true;
    if (n < 0) return false;
    p += n;
  }
  return true;
}

/** One option, decoded. An option of a known kind with the wrong length is 'unknown'. */
export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; mss: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sackOK' }
  | { kind: 'sack'; blocks: Array<[number, number]> }
  | { kind: 'ts'; val: number; ecr: number }
  | { kind: 'unknown'; opt: number; data: Uint8Array };

/** A TCP segment as a plain object, for tests and tools. */
export interface TcpRepr {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  urp: number;
  /** In wire order; an EOL ends the list (the bytes after it are padding). */
  options: TcpOption[];
  /** The data (a copy on parse). */
  payload: Uint8Array;
}

function opt_decode(buf: Uint8Array, p: number, n: number): TcpOption {
  const kind = buf[p];
  if (kind === TCPOPT_NOP) return { kind: 'nop' };
  if (kind === TCPOPT_MAXSEG && n === TCPOLEN_MAXSEG) return { kind: 'mss', mss: rd16(buf, p + 2) };
  if (kind === TCPOPT_WINDOW && n === TCPOLEN_WINDOW) return { kind: 'wscale', shift: buf[p + 2] };
  if (kind === TCPOPT_SACK_PERMITTED && n === TCPOLEN_SACK_PERMITTED) return { kind: 'sackOK' };
  if (kind === TCPOPT_TIMESTAMP && n === TCPOLEN_TIMESTAMP) {
    return { kind: 'ts', val: rd32(buf, p + 2), ecr: rd32(buf, p + 6) };
  }
  if (kind === TCPOPT_SACK && n > 2 && (n - 2) % TCPOLEN_SACK === 0) {
    const blocks: Array<[number, number]> = [];
    for (let q = p + 2; q < p + n; q += TCPOLEN_SACK) blocks.push([rd32(buf, q), rd32(buf, q + 4)]);
    return { kind: 'sack', blocks };
  }
  return { kind: 'unknown', opt: kind, data: buf.slice(p + 2, p + n) };
}

/** Bytes an option takes on the wire. */
function opt_size(o: TcpOption): number {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return 1;
    case 'mss':
      return TCPOLEN_MAXSEG;
    case 'wscale':
      return TCPOLEN_WINDOW;
    case 'sackOK':
      return TCPOLEN_SACK_PERMITTED;
    case 'sack':
      return 2 + TCPOLEN_SACK * o.blocks.length;
    case 'ts':
      return TCPOLEN_TIMESTAMP;
    case 'unknown':
      return 2 + o.data.length;
  }
}

/** Writes one option at buf[p ..]; returns its size. */
function opt_encode(o: TcpOption, buf: Uint8Array, p: number): number {
  const n = opt_size(o);
  switch (o.kind) {
    case 'eol':
      buf[p] = TCPOPT_EOL;
      break;
    case 'nop':
      buf[p] = TCPOPT_NOP;
      break;
    case 'mss':
      buf[p] = TCPOPT_MAXSEG;
      wr16(buf, p + 2, o.mss);
      break;
    case 'wscale':
      buf[p] = TCPOPT_WINDOW;
      buf[p + 2] = o.shift;
      break;
    case 'sackOK':
      buf[p] = TCPOPT_SACK_PERMITTED;
      break;
    case 'sack':
      buf[p] = TCPOPT_SACK;
      for (let i = 0; i < o.blocks.length; i++) {
        const b = o.blocks[i];
        wr32(buf, p + 2 + i * 8, b[0]);
        wr32(buf, p + 6 + i * 8, b[1]);
      }
      break;
    case 'ts':
      buf[p] = TCPOPT_TIMESTAMP;
      wr32(buf, p + 2, o.val);
      wr32(buf, p + 6, o.ecr);
      break;
    case 'unknown':
      buf[p] = o.opt;
      buf.set(o.data, p + 2);
      break;
  }
  if (n > 1) buf[p + 1] = n;
  return n;
}

export const TcpRepr = Object.freeze({
  /**
   * Decodes the `len`-byte segment at buf[off ..] (len = ip_len - hlen).
   * Returns null when shorter than 20 bytes, th_off is below 5 or past
   * `len`, an option is malformed, or, given the pseudo-header addresses,
   * the checksum is bad.
   */
  parse(buf: Uint8Array, off: number, len: number, src?: number, dst?: number): TcpRepr | null {
    if (!(off >= 0 && len >= TCP_HDR_LEN && off + len <= buf.length)) return null;
    const hlen = th_off(buf, off) << 2;
    if (hlen < TCP_HDR_LEN || hlen > len) return null;
    if (src !== undefined && dst !== undefined && tcp4_cksum(buf, off, len, src, dst) !== 0) return null;
    const options: TcpOption[] = [];
    const end = off + hlen;
    for (let p = off + TCP_HDR_LEN; p < end; ) {
      const n = tcp_opt_len(buf, p, end);
      if (n < 0) return null;
      if (n === 0) {
        options.push({ kind: 'eol' });
        break;
      }
      options.push(opt_decode(buf, p, n));
      p += n;
    }
    return {
      sport: th_sport(buf, off),
      dport: th_dport(buf, off),
      seq: th_seq(buf, off),
      ack: th_ack(buf, off),
      flags: th_flags(buf, off),
      win: th_win(buf, off),
      urp: th_urp(buf, off),
      options,
      payload: buf.slice(off + hlen, off + len),
    };
  },
  /** Header length emit() writes: the options padded to a multiple of 4. */
  headerLen(r: TcpRepr): number {
    let n = 0;
    for (const o of r.options) n += opt_size(o);
    return TCP_HDR_LEN + ((n + 3) & ~3);
  },
  /** Bytes emit() writes: header and payload. */
  bufferLen(r: TcpRepr): number {
    return TcpRepr.headerLen(r) + r.payload.length;
  },
  /**
   * Writes the segment at buf[off ..] with options (padded with EOL bytes)
   * and the checksum for the given pseudo-header addresses; returns the
   * bytes written. Options over 40 bytes throw RangeError.
   */
  emit(r: TcpRepr, buf: Uint8Array, off: number, src: number, dst: number): number {
    const hlen = TcpRepr.headerLen(r);
    const len = hlen + r.payload.length;
    if (hlen > TCP_MAX_HDR_LEN) {
      throw new RangeError(`Cannot emit ${hlen - TCP_HDR_LEN} bytes of TCP options: at most 40`);
    }
    if (!(off >= 0 && off + len <= buf.length)) {
      throw new RangeError(`Cannot write ${len}-byte TCP segment at ${off}: buffer has ${buf.length} bytes`);
    }
    tcp_hdr_write(buf, off, r.sport, r.dport, r.seq, r.ack, hlen, r.flags, r.win, r.urp);
    let p = off + TCP_HDR_LEN;
    for (const o of r.options) p += opt_encode(o, buf, p);
    buf.fill(TCPOPT_EOL, p, off + hlen);
    buf.set(r.payload, off + hlen);
    tcp4_cksum_fill(buf, off, len, src, dst);
    return len;
  },
});
