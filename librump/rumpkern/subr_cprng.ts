/*
 * subr_cprng.ts: the kernel's random number generator, NetBSD's cprng(9).
 *
 * NetBSD offers two kinds of generator. cprng_strong is for secrets (keys,
 * syncookie secrets) and erases its key as it goes. cprng_fast is for cheap
 * unpredictable numbers on hot paths: TCP initial sequence numbers,
 * ephemeral ports, IP ids, jitter. Both are built here on the ChaCha20 block
 * function of RFC 8439. It is written out in full because the kernel may not
 * touch the host (no `crypto`, no `node:`, no Buffer) and has to bundle for a
 * browser.
 *
 * Why it is built this way:
 *  - A generator is an object (class Cprng) and this module holds no mutable
 *    state. Several kernels run in one process and each one owns its
 *    generator, so one kernel's draws can never change another's sequence.
 *  - Everything is a function of the 32-byte seed (and of any entropy passed
 *    to reseed), bit for bit. The sim host seeds from the run's seed, so a
 *    run replays packet for packet.
 *  - cprng_fast32 allocates nothing. It keeps one 64-byte keystream block and
 *    a byte position, and refills by running the block function into typed
 *    arrays that were allocated with the generator.
 *  - Words become bytes little-endian through shifts, never through a
 *    Uint8Array view over a Uint32Array. A view would follow the host's byte
 *    order, and the output has to be the same on every host.
 */

/*
 * Domain separation. Each use of the block function puts its own constant in
 * nonce word 0, so keystream for one purpose can never be the same bytes as
 * keystream for another, even under the same key.
 */
const DOMAIN_STRONG = 0x676e7473; /* "stng" */
const DOMAIN_FAST = 0x74736166; /* "fast" */
const DOMAIN_RESEED = 0x64656573; /* "seed" */
const DOMAIN_RESEED_FINAL = 0x6c6e6966; /* "finl" */

/*
 * The fast stream replaces its own key after this many blocks (16 KiB of
 * output). This is fast-key-erasure in batches: if the state leaks, at most
 * the last batch of earlier output can be rebuilt. The cost is one extra
 * block per batch.
 */
const FAST_REKEY_BLOCKS = 256;

const TWO_POW_32 = 4294967296;

/*
 * ChaCha20 block function, RFC 8439 section 2.3.
 *
 * Runs 20 rounds over the state (constants, key, counter, nonce) and adds the
 * input state back in, writing the 16 little-endian keystream words to
 * `out`. The key is 8 words and the nonce 3, as read little-endian from their
 * byte forms. `out` is also the working state, so the function allocates
 * nothing. `out` therefore must not be `key` or `nonce`.
 */
export function chacha20_block(
  key: Uint32Array,
  counter: number,
  nonce: Uint32Array,
  out: Uint32Array,
): void {
  const ctr = counter >>> 0;
  out[0] = 0x61707865; /* "expa" */
  out[1] = 0x3320646e; /* "nd 3" */
  out[2] = 0x79622d32; /* "2-by" */
  out[3] = 0x6b206574; /* "te k" */
  for (let i = 0; i < 8; i++) out[4 + i] = key[i]!;
  out[12] = ctr;
  out[13] = nonce[0]!;
  out[14] = nonce[1]!;
  out[15] = nonce[2]!;

  /* 10 double rounds: a column round, then a diagonal round (2.3). */
  for (let i = 0; i < 10; i++) {
    quarterround(out, 0, 4, 8, 12);
    quarterround(out, 1, 5, 9, 13);
    quarterround(out, 2, 6, 10, 14);
    quarterround(out, 3, 7, 11, 15);
    quarterround(out, 0, 5, 10, 15);
    quarterround(out, 1, 6, 11, 12);
    quarterround(out, 2, 7, 8, 13);
    quarterround(out, 3, 4, 9, 14);
  }

  /*
   * Add the input state back in. Without this step the rounds could be run
   * backwards to recover the key. Storing into a Uint32Array reduces each
   * sum modulo 2^32.
   */
  out[0] = out[0]! + 0x61707865;
  out[1] = out[1]! + 0x3320646e;
  out[2] = out[2]! + 0x79622d32;
  out[3] = out[3]! + 0x6b206574;
  for (let i = 0; i < 8; i++) out[4 + i] = out[4 + i]! + key[i]!;
  out[12] = out[12]! + ctr;
  out[13] = out[13]! + nonce[0]!;
  out[14] = out[14]! + nonce[1]!;
  out[15] = out[15]! + nonce[2]!;
}

/*
 * The quarter round of RFC 8439 section 2.1, done in place on x. The typed
 * array keeps every value a uint32. The rotations are written as shift-or,
 * and the store wraps the result.
 */
function quarterround(x: Uint32Array, a: number, b: number, c: number, d: number): void {
  let v: number;
  x[a] = x[a]! + x[b]!;
  v = x[d]! ^ x[a]!;
  x[d] = (v << 16) | (v >>> 16);
  x[c] = x[c]! + x[d]!;
  v = x[b]! ^ x[c]!;
  x[b] = (v << 12) | (v >>> 20);
  x[a] = x[a]! + x[b]!;
  v = x[d]! ^ x[a]!;
  x[d] = (v << 8) | (v >>> 24);
  x[c] = x[c]! + x[d]!;
  v = x[b]! ^ x[c]!;
  x[b] = (v << 7) | (v >>> 25);
}

/* Little-endian 32-bit word at `off` in `b`. Bytes past the end count as 0. */
function le32(b: Uint8Array, off: number): number {
  const n = b.length;
  const b0 = off < n ? b[off]! : 0;
  const b1 = off + 1 < n ? b[off + 1]! : 0;
  const b2 = off + 2 < n ? b[off + 2]! : 0;
  const b3 = off + 3 < n ? b[off + 3]! : 0;
  return (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
}

/*
 * Copy `n` keystream bytes from `words`, starting at byte `from`, into `buf`
 * at `off`. Byte k of the block is byte (k & 3) of word (k >> 2),
 * little-endian as in RFC 8439's serialization.
 */
function copyBytes(words: Uint32Array, from: number, buf: Uint8Array, off: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const k = from + i;
    buf[off + i] = words[k >> 2]! >>> ((k & 3) << 3);
  }
}

export class Cprng {
  /* For diagnostics only (as cprng_strong_create's name). It does not change the output. */
  readonly name: string;

  /* Strong generator: the current key. It is replaced after every request. */
  private readonly key = new Uint32Array(8);
  /* Holds the next strong key until the request that made it is done. */
  private readonly nextKey = new Uint32Array(8);
  /* Scratch block for strong requests and reseeding, wiped after use. */
  private readonly sblk = new Uint32Array(16);
  private readonly strongNonce = new Uint32Array([DOMAIN_STRONG, 0, 0]);
  /* Reseed nonce: the domain, then the entropy length as two words. */
  private readonly reseedNonce = new Uint32Array(3);

  /* Fast generator: its own ChaCha20 stream. */
  private readonly fkey = new Uint32Array(8);
  private readonly fastNonce = new Uint32Array([DOMAIN_FAST, 0, 0]);
  /* The current keystream block and the byte position in it (64 = used up). */
  private readonly fblk = new Uint32Array(16);
  private fpos = 64;
  /* Next block counter, and so the number of blocks made under fkey. */
  private fctr = 0;

  constructor(seed: Uint8Array, name: string) {
    this.name = name;
    if (seed.length !== 32) {
      throw new RangeError(`cprng ${name}: seed must be 32 bytes, got ${seed.length}`);
    }
    /*
     * The seed is the first strong key. Keying the fast stream right away is
     * a strong request, so the seed words are replaced before the
     * constructor returns. The caller's seed bytes are copied, never kept.
     */
    for (let i = 0; i < 8; i++) this.key[i] = le32(seed, 4 * i);
    this.fastRekeyFromStrong();
  }

  /*
   * Strong generator: fast-key-erasure (Bernstein). A request runs block 0
   * under the current key. Its first 32 bytes become the next key and are
   * never output. Its last 32 bytes, then blocks 1, 2, ..., are the output.
   * When the request ends the old key is overwritten. Someone who later reads
   * the state therefore learns nothing about earlier output (backtracking
   * resistance), which cprng_strong promises its callers. A request that
   * draws one word still costs a whole block. That is acceptable because
   * strong requests are rare.
   */
  private strongBegin(): void {
    chacha20_block(this.key, 0, this.strongNonce, this.sblk);
    for (let i = 0; i < 8; i++) this.nextKey[i] = this.sblk[i]!;
  }

  private strongEnd(): void {
    for (let i = 0; i < 8; i++) {
      this.key[i] = this.nextKey[i]!;
      this.nextKey[i] = 0;
    }
    this.sblk.fill(0);
  }

  cprng_strong32(): number {
    this.strongBegin();
    const v = this.sblk[8]!;
    this.strongEnd();
    return v;
  }

  cprng_strong64(): bigint {
    this.strongBegin();
    const lo = this.sblk[8]!;
    const hi = this.sblk[9]!;
    this.strongEnd();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /*
   * Fill `buf` with one strong request. The first 4 bytes equal what
   * cprng_strong32 would have returned from the same state. A shorter fill
   * gives a prefix of a longer one.
   */
  cprng_strong(buf: Uint8Array): void {
    const len = buf.length;
    this.strongBegin();
    let off = Math.min(32, len);
    copyBytes(this.sblk, 32, buf, 0, off);
    /*
     * The counter is 32 bits and block 0 is the key block, so one request
     * could give up to about 256 GiB. Typed arrays are far smaller than that.
     */
    for (let ctr = 1; off < len; ctr++) {
      chacha20_block(this.key, ctr, this.strongNonce, this.sblk);
      const n = Math.min(64, len - off);
      copyBytes(this.sblk, 0, buf, off, n);
      off += n;
    }
    this.strongEnd();
  }

  /*
   * Fast generator: ChaCha20 keystream under fkey, read as a byte stream. The
   * word, 64-bit and fill calls all take their bytes from the same stream in
   * order, so fast32 returns the next 4 stream bytes, little-endian.
   */
  private fastRefill(): void {
    if (this.fctr >= FAST_REKEY_BLOCKS) {
      /*
       * The next block becomes the next key, and the old key is overwritten.
       * Reading the state later then cannot reproduce output from before
       * this point.
       */
      chacha20_block(this.fkey, this.fctr, this.fastNonce, this.fblk);
      for (let i = 0; i < 8; i++) this.fkey[i] = this.fblk[i]!;
      this.fctr = 0;
    }
    chacha20_block(this.fkey, this.fctr, this.fastNonce, this.fblk);
    this.fctr++;
    this.fpos = 0;
  }

  /*
   * Key the fast stream from a strong request and throw away any buffered
   * keystream. This runs at construction and after reseed, so new entropy
   * reaches the fast stream at once. Between those two points the fast
   * stream re-keys only from itself. How much fast output is used therefore
   * never shifts the strong sequence.
   */
  private fastRekeyFromStrong(): void {
    this.strongBegin();
    for (let i = 0; i < 8; i++) this.fkey[i] = this.sblk[8 + i]!;
    this.strongEnd();
    this.fblk.fill(0);
    this.fpos = 64;
    this.fctr = 0;
  }

  private fastByte(): number {
    if (this.fpos === 64) this.fastRefill();
    const p = this.fpos++;
    return (this.fblk[p >> 2]! >>> ((p & 3) << 3)) & 0xff;
  }

  /* The hot path. It allocates nothing. */
  cprng_fast32(): number {
    const p = this.fpos;
    if ((p & 3) === 0) {
      /* Aligned (the usual case): the next word is a whole block word. */
      if (p === 64) {
        this.fastRefill();
        this.fpos = 4;
        return this.fblk[0]!;
      }
      this.fpos = p + 4;
      return this.fblk[p >> 2]!;
    }
    /* Only after an odd-length cprng_fast fill: build the word from bytes. */
    const b0 = this.fastByte();
    const b1 = this.fastByte();
    const b2 = this.fastByte();
    const b3 = this.fastByte();
    return (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
  }

  cprng_fast64(): bigint {
    const lo = this.cprng_fast32();
    const hi = this.cprng_fast32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  cprng_fast(buf: Uint8Array): void {
    const len = buf.length;
    let off = 0;
    while (off < len) {
      if (this.fpos === 64) this.fastRefill();
      const n = Math.min(64 - this.fpos, len - off);
      copyBytes(this.fblk, this.fpos, buf, off, n);
      this.fpos += n;
      off += n;
    }
  }

  /*
   * Uniform in [0, bound) for bound in 1..2^32, with no modulo bias. Plain
   * `r % bound` would favour small results whenever bound does not divide
   * 2^32. The draws below min = 2^32 mod bound are rejected instead, which
   * leaves a multiple of bound equally likely values. At most half of all
   * draws are rejected (the worst case is bound = 2^31 + 1), so on average
   * fewer than two draws are needed. It uses the fast stream, as libkern's
   * arc4random_uniform does.
   */
  cprng_uniform32(bound: number): number {
    if (!(Number.isInteger(bound) && bound >= 1 && bound <= TWO_POW_32)) {
      throw new RangeError(`cprng ${this.name}: uniform bound ${bound} not in 1..2^32`);
    }
    if (bound === 1) return 0;
    if (bound === TWO_POW_32) return this.cprng_fast32();
    /* Doubles hold 2^32 exactly, so this remainder is exact. */
    const min = TWO_POW_32 % bound;
    for (;;) {
      const r = this.cprng_fast32();
      if (r >= min) return r % bound;
    }
  }

  /*
   * Mix entropy into the strong key, then re-key the fast stream from it.
   *
   * The entropy is absorbed 32 bytes at a time, with the last chunk padded
   * with zeros. The chaining value starts as the current key K:
   *
   *     K <- ChaCha20(key = K xor chunk_i, counter = i,
   *                   nonce = (RESEED, len_lo, len_hi)) words 0..7
   *
   * A final block under K (counter = number of chunks, FINAL domain) gives
   * the new key. The total length is in every nonce, so "ab" and "ab\0"
   * differ. The final block means an empty reseed still moves the key.
   * Soundness: if the old K is secret, then K xor chunk is a secret uniform
   * key whatever the entropy is, so each output is PRF output and the new key
   * is no weaker than the old one. If the state was compromised, enough
   * unpredictable input gives an unpredictable new key. The old key is not
   * kept.
   */
  reseed(entropy: Uint8Array): void {
    const len = entropy.length;
    const k = this.nextKey;
    const blk = this.sblk;
    const nonce = this.reseedNonce;
    nonce[0] = DOMAIN_RESEED;
    nonce[1] = len >>> 0;
    nonce[2] = Math.floor(len / TWO_POW_32) >>> 0;
    const nchunks = Math.ceil(len / 32);
    for (let c = 0; c < nchunks; c++) {
      for (let i = 0; i < 8; i++) k[i] = this.key[i]! ^ le32(entropy, 32 * c + 4 * i);
      chacha20_block(k, c, nonce, blk);
      for (let i = 0; i < 8; i++) this.key[i] = blk[i]!;
    }
    nonce[0] = DOMAIN_RESEED_FINAL;
    chacha20_block(this.key, nchunks, nonce, blk);
    for (let i = 0; i < 8; i++) this.key[i] = blk[i]!;
    k.fill(0);
    blk.fill(0);
    nonce.fill(0);
    this.fastRekeyFromStrong();
  }
}
