/*
 * in_cksum.ts: the Internet checksum of RFC 1071, as NetBSD's in_cksum(9),
 * in4_cksum() and in_cksum_phdr() compute it, plus RFC 1624 incremental
 * update.
 *
 * The checksum is the 16-bit ones' complement of the ones' complement sum
 * of the data taken as big-endian 16-bit words (an odd final byte is padded
 * with a zero low-order byte). The sum has three properties this module
 * leans on (RFC 1071 section 2):
 *  - it is associative and commutative, so pieces can be summed apart and
 *    added afterwards, and carries can be folded back in at any moment;
 *  - it is byte-order independent: summing a byte-swapped stream gives the
 *    byte-swapped sum. A piece that starts at an odd position of the
 *    logical stream is therefore summed as if it started even and its
 *    16-bit sum swapped. That is what `oddStart` does, and why callers can
 *    sum across an mbuf chain without copying the pieces together;
 *  - the sum of big-endian words equals 256 * (sum of the bytes at even
 *    positions) + (sum of the bytes at odd positions). The inner loop keeps
 *    just those two byte sums, so it does only loads and small-integer adds
 *    (no shifts, no DataView, no allocation) and V8 keeps it in int32.
 *
 * Partial sums: in_cksum_add() and in4_cksum_phdr() return a partial sum, a
 * folded value in 0..0xffff that is NOT complemented. in_cksum_fold() turns
 * a partial sum into the checksum that goes on the wire. A region whose
 * stored checksum is right sums (with the checksum field included) to
 * 0xffff, so in_cksum()/in4_cksum() over it return 0.
 *
 * Offsets and lengths are a programming contract, not network input: a
 * range outside the buffer throws RangeError (it would otherwise read
 * `undefined` and return garbage silently).
 */

/*
 * Bytes summed between folds. The even-byte and odd-byte accumulators reach
 * at most 255 * CHUNK / 2, which keeps them small integers, and
 * 256 * hi + lo stays below 2^32 so one `>>> 16` fold is exact. Even, so a
 * chunk boundary never changes which bytes are high-order.
 */
const CHUNK = 1 << 16;

function check_range(buf: Uint8Array, off: number, len: number): void {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
    throw new RangeError(
      `Cannot checksum bytes ${off}..${off + len}: buffer has ${buf.length}`,
    );
  }
}

/* Fold any non-negative integer below 2^53 to 0..0xffff, end-around carry. */
function fold(s: number): number {
  while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
  return s;
}

/**
 * in_cksum_add adds bytes buf[off .. off+len) to the partial sum `sum` and
 * returns the new partial sum (0..0xffff, not complemented).
 *
 * `oddStart` says the piece begins at an odd position of the logical
 * stream, i.e. an odd number of bytes was summed before it: its first byte
 * is then the low-order byte of a word. Callers summing a chain pass
 * `(done & 1) === 1`. Allocates nothing.
 */
export function in_cksum_add(
  sum: number,
  buf: Uint8Array,
  off: number,
  len: number,
  oddStart = false,
): number {
  check_range(buf, off, len);
  const end = off + len;
  let s = 0;
  let i = off;
  while (i < end) {
    const stop = end - i > CHUNK ? i + CHUNK : end;
    const stop8 = i + ((stop - i) & ~7);
    let hi = 0;
    let lo = 0;
    /* Eight bytes a step: four high-order, four low-order. */
    while (i < stop8) {
      hi += buf[i] + buf[i + 2] + buf[i + 4] + buf[i + 6];
      lo += buf[i + 1] + buf[i + 3] + buf[i + 5] + buf[i + 7];
      i += 8;
    }
    while (i + 1 < stop) {
      hi += buf[i];
      lo += buf[i + 1];
      i += 2;
    }
    /* An odd last byte is the high half of a word padded with zero. */
    if (i < stop) hi += buf[i++];
    s += hi * 256 + lo;
    s = (s & 0xffff) + (s >>> 16);
  }
  s = (s & 0xffff) + (s >>> 16);
  if (oddStart) s = ((s & 0xff) << 8) | (s >>> 8);
  return fold(s + sum);
}

/**
 * in_cksum_fold turns a partial sum into the checksum to store: carries
 * folded in, then complemented (Linux calls this csum_fold). Returns
 * 0..0xffff.
 */
export function in_cksum_fold(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/**
 * in_cksum is the checksum of one contiguous range, NetBSD's in_cksum()
 * over a flat buffer. Over a header that includes a correct checksum field
 * it returns 0.
 */
export function in_cksum(buf: Uint8Array, off: number, len: number): number {
  return in_cksum_fold(in_cksum_add(0, buf, off, len));
}

/**
 * in4_cksum_phdr is the partial sum of the IPv4 pseudo-header of RFC 793
 * section 3.1 / RFC 768: source, destination, zero, protocol and the
 * transport length (host-order numbers). Add the segment to it with
 * in_cksum_add() and finish with in_cksum_fold(). Like NetBSD's
 * in_cksum_phdr(), the result is also what goes into th_sum/uh_sum when
 * the rest of the sum is offloaded.
 */
export function in4_cksum_phdr(src: number, dst: number, len: number, proto: number): number {
  return fold(
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (len >>> 0) + (proto & 0xff),
  );
}

/**
 * in4_cksum is the complete TCP/UDP-style checksum of a contiguous segment
 * buf[off .. off+len) under the IPv4 pseudo-header (NetBSD's in4_cksum()
 * for a flat buffer). Returns 0 when verifying a segment whose checksum
 * field is right; when emitting, zero the field first and store the result
 * (UDP stores 0xffff for a computed 0, RFC 768).
 */
export function in4_cksum(
  buf: Uint8Array,
  off: number,
  len: number,
  src: number,
  dst: number,
  proto: number,
): number {
  return in_cksum_fold(in_cksum_add(in4_cksum_phdr(src, dst, len, proto), buf, off, len));
}

/**
 * in_cksum_update returns the checksum after one 16-bit word it covers
 * changed from `oldw` to `neww`, without summing the data again:
 * RFC 1624 equation 3, HC' = ~(~HC + ~m + m'). Equation 3 (not 2) is the
 * one that never produces 0x0000 where a full recomputation gives 0xffff.
 * ip_forward()'s TTL decrement is the classic use: the word is
 * (ip_ttl << 8) | ip_p.
 */
export function in_cksum_update(cksum: number, oldw: number, neww: number): number {
  const s = (~cksum & 0xffff) + (~oldw & 0xffff) + (neww & 0xffff);
  return ~fold(s) & 0xffff;
}

/**
 * in_cksum_update32 is in_cksum_update() for an aligned 32-bit field (an
 * address rewritten by NAT, a sequence number): both halves at once.
 */
export function in_cksum_update32(cksum: number, old32: number, new32: number): number {
  const s =
    (~cksum & 0xffff) +
    (~(old32 >>> 16) & 0xffff) +
    (~old32 & 0xffff) +
    ((new32 >>> 16) & 0xffff) +
    (new32 & 0xffff);
  return ~fold(s) & 0xffff;
}
