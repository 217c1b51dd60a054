/*
 * Unit tests for pipes (sys_pipe.ts) through the syscall surface: data in
 * order through the 16 KiB ring, blocking and waking of readers and
 * writers, EOF and EPIPE when one end goes, non-blocking EAGAIN, PIPE_BUF
 * atomicity, FIONREAD/FIONWRITE/FIONSPACE.
 */

import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import type { Kernel } from './rump.ts';
import { PIPE_BUF, PIPE_SIZE } from './sys_pipe.ts';
import { FIONREAD, FIONSPACE, FIONWRITE, O_NONBLOCK, F_SETFL } from '../../include/syscall.ts';

const dec = new TextDecoder();

async function boot(): Promise<{ w: ReturnType<typeof simWorld>; k: Kernel }> {
  const w = simWorld({ seed: 1 });
  const k = await bootSim(w);
  return { w, k };
}

/** Deterministic pseudo-random bytes (xorshift32), different for each seed. */
function bytes(n: number, seed = 12345): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Byte-for-byte equality (vitest's deep equality is slow on big typed arrays). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function sha256(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Read until EOF in reads of `chunk` bytes; returns everything and the number of reads. */
async function readAll(k: Kernel, fd: number, chunk: number): Promise<{ data: Uint8Array; reads: number }> {
  const parts: Uint8Array[] = [];
  let total = 0;
  let reads = 0;
  for (;;) {
    const buf = new Uint8Array(chunk);
    const n = await k.sys.read(fd, buf);
    reads++;
    if (n === 0) break;
    expect(n).toBeLessThanOrEqual(Math.min(chunk, PIPE_SIZE));
    parts.push(buf.subarray(0, n));
    total += n;
  }
  const data = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { data, reads };
}

async function nread(k: Kernel, fd: number): Promise<number> {
  return (await k.sys.ioctl(fd, FIONREAD)) as number;
}

/** Track whether a promise has settled, and how. */
function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown; p: Promise<void> } {
  const st: { done: boolean; value?: T; error?: unknown; p: Promise<void> } = { done: false, p: Promise.resolve() };
  st.p = p.then((v) => { st.done = true; st.value = v; }, (e: unknown) => { st.done = true; st.error = e; });
  return st;
}

/** Let every runnable LWP run until it blocks (a syscall behind them all on the one CPU). */
async function settle(k: Kernel): Promise<void> {
  await k.sys.getpid();
  await k.sys.getpid();
}

describe('data through a pipe', () => {
  it('bytes come out as they went in, in order, across writes', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    expect(await k.sys.write(wr, 'hello ')).toBe(6);
    expect(await k.sys.write(wr, 'world')).toBe(5);
    const buf = new Uint8Array(100);
    /* A read returns what is there without waiting to fill its buffer. */
    expect(await k.sys.read(r, buf)).toBe(11);
    expect(dec.decode(buf.subarray(0, 11))).toBe('hello world');
  });

  it('a short read leaves the rest for the next one', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, 'abcdefgh');
    const b = new Uint8Array(3);
    expect(await k.sys.read(r, b)).toBe(3);
    expect(dec.decode(b)).toBe('abc');
    expect(await nread(k, r)).toBe(5);
    expect(await k.sys.read(r, b)).toBe(3);
    expect(dec.decode(b)).toBe('def');
    expect(await k.sys.read(r, b)).toBe(2);
    expect(dec.decode(b.subarray(0, 2))).toBe('gh');
    expect(await nread(k, r)).toBe(0);
  });

  it('a zero-length read or write transfers nothing and does not block', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    expect(await k.sys.read(r, new Uint8Array(0))).toBe(0);
    expect(await k.sys.write(wr, new Uint8Array(0))).toBe(0);
    expect(await nread(k, r)).toBe(0);
  });

  it('data stays intact when the ring buffer wraps around', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const a = bytes(10000, 1);
    const b = bytes(PIPE_SIZE, 2);
    expect(await k.sys.write(wr, a)).toBe(10000);
    const got = new Uint8Array(PIPE_SIZE);
    expect(await k.sys.read(r, got)).toBe(10000);
    expect(same(got.subarray(0, 10000), a)).toBe(true);
    /* A full buffer's worth starting at offset 10000 wraps. */
    expect(await k.sys.write(wr, b)).toBe(PIPE_SIZE);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    const got2 = new Uint8Array(PIPE_SIZE + 10);
    let n = 0;
    while (n < PIPE_SIZE) n += await k.sys.read(r, got2.subarray(n));
    expect(n).toBe(PIPE_SIZE);
    expect(same(got2.subarray(0, PIPE_SIZE), b)).toBe(true);
  });

  it('a reader blocks on an empty pipe until data is written', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const buf = new Uint8Array(16);
    const rd = track(k.sys.read(r, buf));
    await settle(k);
    expect(rd.done).toBe(false);
    await k.sys.write(wr, 'wake');
    await rd.p;
    expect(rd.value).toBe(4);
    expect(dec.decode(buf.subarray(0, 4))).toBe('wake');
  });

  it('1 MiB in one write passes through while the writer blocks on the full buffer (SHA-256 checked)', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const data = bytes(1 << 20);
    const wrt = track(k.sys.write(wr, data));
    await settle(k);
    /* The writer filled the buffer and sleeps: nothing drains it. */
    expect(wrt.done).toBe(false);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    expect(await k.sys.ioctl(wr, FIONSPACE)).toBe(0);
    /* Read concurrently, in odd-sized pieces, then close the writer when its write returns. */
    const closer = wrt.p.then(() => k.sys.close(wr));
    const { data: out, reads } = await readAll(k, r, 5003);
    await closer;
    expect(wrt.error).toBeUndefined();
    expect(wrt.value).toBe(1 << 20);
    expect(out.length).toBe(1 << 20);
    expect(sha256(out)).toBe(sha256(data));
    /* At least one read per 5003 bytes, plus the EOF read. */
    expect(reads).toBeGreaterThanOrEqual(Math.ceil((1 << 20) / 5003) + 1);
  });

  it('many writes of mixed sizes and a reader with a big buffer move 1 MB intact', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const total = 1_000_000;
    const data = bytes(total, 99);
    const sizes = bytes(4096, 7);
    const writer = (async () => {
      let off = 0;
      let i = 0;
      while (off < total) {
        /* 1..512 bytes (atomic writes) and up to ~40 KB (bigger than the buffer). */
        const s = sizes[i % sizes.length]!;
        const len = Math.min(total - off, i % 3 === 0 ? s * 157 + 1 : (s << 1) + 1);
        i++;
        const n = await k.sys.write(wr, data.subarray(off, off + len));
        expect(n).toBe(len);
        off += n;
      }
      await k.sys.close(wr);
      return i;
    })();
    const { data: out } = await readAll(k, r, 65536);
    const writes = await writer;
    expect(writes).toBeGreaterThan(100);
    expect(out.length).toBe(total);
    expect(sha256(out)).toBe(sha256(data));
  });

  it('writes from two descriptors of the write end arrive in order', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const wr2 = await k.sys.dup(wr);
    await k.sys.write(wr, '1');
    await k.sys.write(wr2, '2');
    await k.sys.write(wr, '3');
    const b = new Uint8Array(8);
    expect(dec.decode(b.subarray(0, await k.sys.read(r, b)))).toBe('123');
  });
});

describe('end of file and EPIPE', () => {
  it('after the writer closes the reader drains what is left, then reads EOF', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, 'last words');
    await k.sys.close(wr);
    const b = new Uint8Array(64);
    expect(dec.decode(b.subarray(0, await k.sys.read(r, b)))).toBe('last words');
    expect(await k.sys.read(r, b)).toBe(0);
    expect(await k.sys.read(r, b)).toBe(0);
  });

  it('a reader blocked on an empty pipe reads EOF when the writer closes', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const rd = track(k.sys.read(r, new Uint8Array(8)));
    await settle(k);
    expect(rd.done).toBe(false);
    await k.sys.close(wr);
    await rd.p;
    expect(rd.error).toBeUndefined();
    expect(rd.value).toBe(0);
  });

  it('writing with the reader gone is EPIPE', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, 'unread');
    await k.sys.close(r);
    await expect(k.sys.write(wr, 'x')).rejects.toMatchObject({ code: 'EPIPE', errno: 32 });
    await expect(k.sys.write(wr, new Uint8Array(PIPE_SIZE * 2))).rejects.toMatchObject({ code: 'EPIPE' });
    /* Non-blocking makes no difference. */
    await k.sys.fcntl(wr, F_SETFL, O_NONBLOCK);
    await expect(k.sys.write(wr, 'x')).rejects.toMatchObject({ code: 'EPIPE' });
  });

  it('the reader is gone only when its last descriptor closes', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const r2 = await k.sys.dup(r);
    await k.sys.close(r);
    expect(await k.sys.write(wr, 'ok')).toBe(2);
    await k.sys.close(r2);
    await expect(k.sys.write(wr, 'x')).rejects.toMatchObject({ code: 'EPIPE' });
  });

  it('a writer blocked on a full pipe gets EPIPE when the reader closes', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    expect(await k.sys.write(wr, new Uint8Array(PIPE_SIZE))).toBe(PIPE_SIZE);
    const small = track(k.sys.write(wr, new Uint8Array(100)));
    const big = track(k.sys.write(wr, new Uint8Array(3000)));
    await settle(k);
    expect(small.done).toBe(false);
    expect(big.done).toBe(false);
    await k.sys.close(r);
    await small.p;
    await big.p;
    expect(small.error).toMatchObject({ code: 'EPIPE' });
    expect(big.error).toMatchObject({ code: 'EPIPE' });
  });

  it('a writer that wrote part of its data and then blocked gets EPIPE when the reader closes', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    /* 16 KiB go in, the rest waits for space that never comes (NetBSD's dofilewrite returns EPIPE). */
    const wrt = track(k.sys.write(wr, new Uint8Array(PIPE_SIZE + 5000)));
    await settle(k);
    expect(wrt.done).toBe(false);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    await k.sys.close(r);
    await wrt.p;
    expect(wrt.error).toMatchObject({ code: 'EPIPE' });
  });
});

describe('blocking writers', () => {
  it('a writer blocked on a full pipe resumes when the reader drains, and all its data arrives', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const data = bytes(PIPE_SIZE + 1000, 5);
    const wrt = track(k.sys.write(wr, data));
    await settle(k);
    expect(wrt.done).toBe(false);
    const got = new Uint8Array(PIPE_SIZE + 1000);
    expect(await k.sys.read(r, got.subarray(0, 4000))).toBe(4000);
    await wrt.p;
    expect(wrt.value).toBe(PIPE_SIZE + 1000);
    expect(await nread(k, r)).toBe(PIPE_SIZE - 3000);
    let n = 4000;
    while (n < got.length) n += await k.sys.read(r, got.subarray(n));
    expect(same(got, data)).toBe(true);
  });

  it('a blocked write of at most PIPE_BUF bytes waits until all of it fits', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, new Uint8Array(PIPE_SIZE).fill(1));
    const wrt = track(k.sys.write(wr, new Uint8Array(100).fill(2)));
    await settle(k);
    expect(wrt.done).toBe(false);
    /* 50 bytes of space: not enough for the atomic write, nothing of it goes in. */
    expect(await k.sys.read(r, new Uint8Array(50))).toBe(50);
    await settle(k);
    expect(wrt.done).toBe(false);
    expect(await nread(k, r)).toBe(PIPE_SIZE - 50);
    expect(await k.sys.read(r, new Uint8Array(50))).toBe(50);
    await wrt.p;
    expect(wrt.value).toBe(100);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    /* The 100 bytes are contiguous at the end. */
    const tail = new Uint8Array(PIPE_SIZE);
    let n = 0;
    while (n < PIPE_SIZE) n += await k.sys.read(r, tail.subarray(n));
    expect(tail.subarray(0, PIPE_SIZE - 100).every((b) => b === 1)).toBe(true);
    expect(tail.subarray(PIPE_SIZE - 100).every((b) => b === 2)).toBe(true);
  });
});

describe('non-blocking pipes', () => {
  it('read of an empty pipe is EAGAIN, but EOF once the writer is gone', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe(O_NONBLOCK);
    await expect(k.sys.read(r, new Uint8Array(8))).rejects.toMatchObject({ code: 'EAGAIN', errno: 35 });
    await k.sys.write(wr, 'x');
    expect(await k.sys.read(r, new Uint8Array(8))).toBe(1);
    await expect(k.sys.read(r, new Uint8Array(8))).rejects.toMatchObject({ code: 'EAGAIN' });
    await k.sys.close(wr);
    expect(await k.sys.read(r, new Uint8Array(8))).toBe(0);
  });

  it('write into a full pipe is EAGAIN; a big write into a nearly full one is partial', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe(O_NONBLOCK);
    /* A write bigger than the buffer into an empty pipe writes what fits. */
    expect(await k.sys.write(wr, new Uint8Array(PIPE_SIZE + 100))).toBe(PIPE_SIZE);
    await expect(k.sys.write(wr, new Uint8Array(1))).rejects.toMatchObject({ code: 'EAGAIN' });
    await expect(k.sys.write(wr, new Uint8Array(2000))).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    expect(await k.sys.read(r, new Uint8Array(1000))).toBe(1000);
    /* 1000 bytes of space; a 1500-byte write (> PIPE_BUF) writes 1000 of them. */
    expect(await k.sys.write(wr, new Uint8Array(1500))).toBe(1000);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
  });

  it('a write of at most PIPE_BUF bytes goes in whole or fails whole with EAGAIN', async () => {
    const { k } = await boot();
    expect(PIPE_BUF).toBe(512);
    const [r, wr] = await k.sys.pipe(O_NONBLOCK);
    /* Leave 300 bytes of space. */
    expect(await k.sys.write(wr, new Uint8Array(PIPE_SIZE - 300))).toBe(PIPE_SIZE - 300);
    await expect(k.sys.write(wr, new Uint8Array(512))).rejects.toMatchObject({ code: 'EAGAIN' });
    await expect(k.sys.write(wr, new Uint8Array(301))).rejects.toMatchObject({ code: 'EAGAIN' });
    /* Nothing of the failed writes went in. */
    expect(await nread(k, r)).toBe(PIPE_SIZE - 300);
    /* 513 bytes is no longer atomic: it writes the 300 that fit. */
    expect(await k.sys.write(wr, new Uint8Array(513))).toBe(300);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    /* Exactly 512 of space takes exactly 512 bytes. */
    expect(await k.sys.read(r, new Uint8Array(512))).toBe(512);
    expect(await k.sys.write(wr, new Uint8Array(512))).toBe(512);
    expect(await nread(k, r)).toBe(PIPE_SIZE);
    /* And 300 of space takes a 300-byte write whole. */
    expect(await k.sys.read(r, new Uint8Array(300))).toBe(300);
    expect(await k.sys.write(wr, new Uint8Array(300))).toBe(300);
  });
});

describe('pipe ioctls', () => {
  it('FIONREAD counts the unread bytes on the read end', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    expect(await nread(k, r)).toBe(0);
    await k.sys.write(wr, new Uint8Array(700));
    await k.sys.write(wr, new Uint8Array(300));
    expect(await nread(k, r)).toBe(1000);
    await k.sys.read(r, new Uint8Array(999));
    expect(await nread(k, r)).toBe(1);
    /* The write end's own buffer is unused. */
    expect(await nread(k, wr)).toBe(0);
    /* A dup'ed read end sees the same count. */
    expect(await nread(k, await k.sys.dup(r))).toBe(1);
  });

  it('FIONWRITE and FIONSPACE on the write end tell what is queued and what fits', async () => {
    const { k } = await boot();
    const [, wr] = await k.sys.pipe();
    expect(await k.sys.ioctl(wr, FIONWRITE)).toBe(0);
    expect(await k.sys.ioctl(wr, FIONSPACE)).toBe(PIPE_SIZE);
    await k.sys.write(wr, new Uint8Array(1234));
    expect(await k.sys.ioctl(wr, FIONWRITE)).toBe(1234);
    expect(await k.sys.ioctl(wr, FIONSPACE)).toBe(PIPE_SIZE - 1234);
  });

  it('pipe2 refuses unknown flags with EINVAL and allocates nothing', async () => {
    const { k } = await boot();
    await expect(k.sys.pipe(0x10000000)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await k.sys.pipe()).toEqual([3, 4]);
  });
});
