/*
 * The syscall proxy's wire format, shared by the server's host half
 * (rumpuser_sp.ts) and the client library (lib/librumpclient), as NetBSD
 * shares sp_common.c between rumpuser_sp.c and rumpclient.c.  No host
 * access here: framing, the value encoding and the protocol constants.
 * sysproxy.md beside this file describes the protocol.
 *
 * A frame is u32 length (of what follows), u8 type, u32 tag, body; all
 * integers little-endian.  Bodies are values in a tagged binary encoding
 * whose byte strings travel as raw bytes: a bulk write is one memcpy on
 * each side, and a large payload is handed to the socket by reference
 * instead of being copied into the frame.
 */

export const SP_VERSION = 1;
/** First bytes of the HELLO and HANDSHAKE bodies. */
export const SP_MAGIC = 'RUMPTSSP';

/** Largest frame (the u32 length field), 16 MiB. */
export const SP_MAXFRAME = 16 * 1024 * 1024;
/** Largest byte count one read or write carries: the frame less room for the rest. */
export const SP_MAXIO = SP_MAXFRAME - 64 * 1024;
/** Most calls one connection may have in progress at once. */
export const SP_MAXINFLIGHT = 128;
/** Most iovecs or messages in one recvmsg/recvmmsg/sendmmsg (IOV_MAX). */
export const SP_MAXIOV = 1024;
/** Bytes of the length field, and of the whole frame header. */
export const SP_LENSIZE = 4;
export const SP_HDRSIZE = 9;

/* Frame types. */
export const SP_HELLO = 1;
export const SP_HANDSHAKE = 2;
export const SP_WELCOME = 3;
export const SP_CALL = 4;
export const SP_REPLY = 5;
export const SP_ERROR = 6;

/* Value tags. */
const T_UNDEF = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_U8 = 4;
const T_I32 = 5;
const T_F64 = 6;
const T_BIGINT = 7;
const T_STR = 8;
const T_BYTES = 9;
const T_ARRAY = 10;
const T_OBJECT = 11;

/** Deepest nesting of arrays and objects either side accepts. */
export const SP_MAXDEPTH = 32;
/** Byte strings at least this long go to the socket by reference. */
const SP_ZEROCOPY = 16 * 1024;

/** What the proxy carries. */
export type SpValue =
  | undefined | null | boolean | number | bigint | string | Uint8Array
  | readonly SpValue[]
  | { readonly [key: string]: SpValue };

/** A value that cannot be encoded, or a body that cannot be decoded. */
export class SpFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpFormatError';
  }
}

const utf8enc = new TextEncoder();
const utf8dec = new TextDecoder('utf-8', { fatal: true });

/**
 * Builds one frame.  The header is reserved at the start and filled in by
 * finish(); large byte strings become segments of their own.
 */
export class SpWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private pos = SP_HDRSIZE;
  private readonly segs: Uint8Array[] = [];
  private size = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Bytes written so far, header included. */
  get length(): number {
    return this.size + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.dv.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  /** Raw bytes (no length). */
  raw(b: Uint8Array): void {
    if (b.length >= SP_ZEROCOPY) {
      this.segs.push(this.buf.subarray(0, this.pos), b);
      this.size += this.pos + b.length;
      this.buf = new Uint8Array(256);
      this.dv = new DataView(this.buf.buffer);
      this.pos = 0;
      return;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A u32 length and UTF-8 text. */
  str(s: string): void {
    if (s.length < 64) {
      this.ensure(4 + s.length * 3);
      const r = utf8enc.encodeInto(s, this.buf.subarray(this.pos + 4));
      this.dv.setUint32(this.pos, r.written, true);
      this.pos += 4 + r.written;
      return;
    }
    const b = utf8enc.encode(s);
    this.u32(b.length);
    this.raw(b);
  }

  value(v: unknown, depth = 0): void {
    switch (typeof v) {
      case 'undefined':
        this.u8(T_UNDEF);
        return;
      case 'boolean':
        this.u8(v ? T_TRUE : T_FALSE);
        return;
      case 'number':
        if ((v & 0xff) === v && !Object.is(v, -0)) {
          this.ensure(2);
          this.buf[this.pos++] = T_U8;
          this.buf[this.pos++] = v;
        } else if ((v | 0) === v && !Object.is(v, -0)) {
          this.u8(T_I32);
          this.ensure(4);
          this.dv.setInt32(this.pos, v, true);
          this.pos += 4;
        } else {
          this.u8(T_F64);
          this.ensure(8);
          this.dv.setFloat64(this.pos, v, true);
          this.pos += 8;
        }
        return;
      case 'bigint':
        this.u8(T_BIGINT);
        this.str(v.toString());
        return;
      case 'string':
        this.u8(T_STR);
        this.str(v);
        return;
      case 'object':
        break;
      default:
        throw new SpFormatError(`a ${typeof v} cannot be carried`);
    }
    if (v === null) {
      this.u8(T_NULL);
      return;
    }
    if (depth >= SP_MAXDEPTH) throw new SpFormatError(`values nest deeper than ${SP_MAXDEPTH} (a cycle?)`);
    if (v instanceof Uint8Array) {
      this.u8(T_BYTES);
      this.u32(v.length);
      this.raw(v);
      return;
    }
    if (Array.isArray(v)) {
      this.u8(T_ARRAY);
      this.u32(v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
      return;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Map || v instanceof Set || v instanceof Date || v instanceof Promise) {
      throw new SpFormatError(`a ${v.constructor.name} cannot be carried (only Uint8Array, arrays and plain objects)`);
    }
    const keys = Object.keys(v);
    this.u8(T_OBJECT);
    this.u32(keys.length);
    for (const key of keys) {
      this.str(key);
      this.value((v as Record<string, unknown>)[key], depth + 1);
    }
  }

  /** Fill in the header; the frame's pieces, in order. */
  finish(type: number, tag: number): Uint8Array[] {
    const total = this.length;
    if (total - SP_LENSIZE > SP_MAXFRAME) {
      throw new SpFormatError(`a frame of ${total - SP_LENSIZE} bytes exceeds the proxy's ${SP_MAXFRAME}-byte limit`);
    }
    this.segs.push(this.buf.subarray(0, this.pos));
    const first = this.segs[0]!;
    const dv = new DataView(first.buffer, first.byteOffset, SP_HDRSIZE);
    dv.setUint32(0, total - SP_LENSIZE, true);
    dv.setUint8(4, type);
    dv.setUint32(5, tag >>> 0, true);
    return this.segs;
  }
}

/** A whole frame holding one value. */
export function sp_frame(type: number, tag: number, v: unknown): Uint8Array[] {
  const w = new SpWriter();
  w.value(v);
  return w.finish(type, tag);
}

/** Reads one frame body; every overrun is an SpFormatError. */
export class SpReader {
  private pos: number;
  private readonly dv: DataView;

  constructor(private readonly b: Uint8Array, pos = 0) {
    this.pos = pos;
    this.dv = new DataView(b.buffer, b.byteOffset, b.length);
  }

  get remaining(): number {
    return this.b.length - this.pos;
  }

  private need(n: number): void {
    if (this.b.length - this.pos < n) throw new SpFormatError(`body ends early (need ${n} bytes at offset ${this.pos}, have ${this.b.length - this.pos})`);
  }

  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** n raw bytes, as a view into the frame. */
  raw(n: number): Uint8Array {
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  str(): string {
    const n = this.u32();
    try {
      return utf8dec.decode(this.raw(n));
    } catch (e) {
      if (e instanceof SpFormatError) throw e;
      throw new SpFormatError('a string is not valid UTF-8');
    }
  }

  value(depth = 0): SpValue {
    const t = this.u8();
    switch (t) {
      case T_UNDEF: return undefined;
      case T_NULL: return null;
      case T_FALSE: return false;
      case T_TRUE: return true;
      case T_U8: return this.u8();
      case T_I32: {
        this.need(4);
        const v = this.dv.getInt32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case T_F64: {
        this.need(8);
        const v = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case T_BIGINT: {
        const s = this.str();
        if (!/^-?[0-9]{1,400}$/.test(s)) throw new SpFormatError('a bigint is not a decimal number');
        return BigInt(s);
      }
      case T_STR: return this.str();
      case T_BYTES: return this.raw(this.u32());
      default: break;
    }
    if (t !== T_ARRAY && t !== T_OBJECT) throw new SpFormatError(`unknown value tag ${t}`);
    if (depth >= SP_MAXDEPTH) throw new SpFormatError(`values nest deeper than ${SP_MAXDEPTH}`);
    const n = this.u32();
    /* Every element takes at least one byte: a count larger than what is left is a lie. */
    if (n > this.remaining) throw new SpFormatError(`a count of ${n} exceeds the ${this.remaining} bytes left`);
    if (t === T_ARRAY) {
      const a: SpValue[] = new Array<SpValue>(n);
      for (let i = 0; i < n; i++) a[i] = this.value(depth + 1);
      return a;
    }
    const o: Record<string, SpValue> = {};
    for (let i = 0; i < n; i++) {
      const key = this.str();
      if (key === '__proto__') throw new SpFormatError('an object key is __proto__');
      o[key] = this.value(depth + 1);
    }
    return o;
  }

  /** The body holds nothing after what was read. */
  end(): void {
    if (this.pos !== this.b.length) throw new SpFormatError(`${this.b.length - this.pos} stray bytes after the body`);
  }
}

/** The whole body as one value. */
export function sp_decode(body: Uint8Array): SpValue {
  const r = new SpReader(body);
  const v = r.value();
  r.end();
  return v;
}

/** The magic and version that open HELLO and HANDSHAKE bodies. */
export function sp_write_preamble(w: SpWriter, version = SP_VERSION): void {
  w.raw(utf8enc.encode(SP_MAGIC));
  w.u16(version);
}

/** Check a HELLO/HANDSHAKE preamble: the peer's version, or an SpFormatError for something else. */
export function sp_read_preamble(r: SpReader): number {
  const m = r.raw(SP_MAGIC.length);
  for (let i = 0; i < SP_MAGIC.length; i++) {
    if (m[i] !== SP_MAGIC.charCodeAt(i)) throw new SpFormatError('not a rumpts syscall proxy (bad magic)');
  }
  return r.u16();
}

/** What the frame reader found wrong with the stream; it stops reading. */
export type SpStreamError = { kind: 'oversize'; len: number } | { kind: 'runt'; len: number };

/**
 * Splits a byte stream into frames.  A frame that fits in one chunk is
 * handed on as a view of it; only frames spanning chunks are copied, once.
 * A length above SP_MAXFRAME is reported before its body is buffered.
 */
export class SpFramer {
  private chunks: Uint8Array[] = [];
  private have = 0;
  private dead = false;

  constructor(
    private onframe: (type: number, tag: number, body: Uint8Array) => void,
    private onerror: (e: SpStreamError) => void,
    private readonly max = SP_MAXFRAME,
  ) {}

  /** Deliver the frames from here on elsewhere (a handshake is over). */
  retarget(onframe: (type: number, tag: number, body: Uint8Array) => void, onerror: (e: SpStreamError) => void): void {
    this.onframe = onframe;
    this.onerror = onerror;
  }

  /** Stop delivering frames (the connection is going away). */
  stop(): void {
    this.dead = true;
    this.chunks = [];
    this.have = 0;
  }

  push(chunk: Uint8Array): void {
    if (this.dead) return;
    if (this.have === 0) {
      this.scan(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < SP_LENSIZE) return;
    if (this.chunks[0]!.length < SP_LENSIZE) this.join();
    const first = this.chunks[0]!;
    const len = (first[0]! | (first[1]! << 8) | (first[2]! << 16) | (first[3]! << 24)) >>> 0;
    if (this.bad(len)) return;
    if (this.have < SP_LENSIZE + len) return;
    this.join();
    const all = this.chunks[0]!;
    this.chunks = [];
    this.have = 0;
    this.scan(all);
  }

  private join(): void {
    const all = new Uint8Array(this.have);
    let o = 0;
    for (const c of this.chunks) {
      all.set(c, o);
      o += c.length;
    }
    this.chunks = [all];
  }

  private bad(len: number): boolean {
    if (len > this.max) this.onerror({ kind: 'oversize', len });
    else if (len < SP_HDRSIZE - SP_LENSIZE) this.onerror({ kind: 'runt', len });
    else return false;
    this.stop();
    return true;
  }

  private scan(b: Uint8Array): void {
    let off = 0;
    while (b.length - off >= SP_LENSIZE) {
      const len = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
      if (this.bad(len)) return;
      if (b.length - off - SP_LENSIZE < len) break;
      const type = b[off + 4]!;
      const tag = (b[off + 5]! | (b[off + 6]! << 8) | (b[off + 7]! << 16) | (b[off + 8]! << 24)) >>> 0;
      const body = b.subarray(off + SP_HDRSIZE, off + SP_LENSIZE + len);
      off += SP_LENSIZE + len;
      this.onframe(type, tag, body);
      if (this.dead) return;
    }
    if (off < b.length) {
      this.chunks = [b.subarray(off)];
      this.have = b.length - off;
    }
  }
}

/**
 * What the host half of the server calls in the kernel (NetBSD's
 * rumpuser_sp upcalls, spops): one process per client connection.
 */
export interface SpHyperup<P> {
  /** Text for the HELLO banner: "NetBSD 10.0 ...". */
  readonly sp_banner: string;
  /** A process for a new client, named comm; throws if the kernel cannot make one. */
  hyp_lwproc_rfork(comm: string): P;
  hyp_getpid(p: P): number;
  /** Run a call; resolves to the reply value, rejects with a SyscallError. */
  hyp_syscall(p: P, sysnum: number, args: readonly SpValue[]): Promise<unknown>;
  /** The client went away: its calls are interrupted and its descriptors closed. */
  hyp_lwpexit(p: P): Promise<void>;
}
