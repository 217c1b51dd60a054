/*
 * The syscall proxy in one process: the wire encoding, the frame reader,
 * and a kernel on the Node host served over a unix socket to clients of
 * lib/librumpclient and to raw connections that send what a broken or
 * hostile client would.  tests/rump_server.test.ts runs the real server
 * process.
 */

import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { statSync } from 'node:fs';
import {
  SP_CALL, SP_ERROR, SP_HELLO, SP_MAXFRAME, SP_REPLY, SP_VERSION, SP_WELCOME, SP_MAXIO,
  SpFormatError, SpFramer, SpWriter, sp_decode, sp_frame, sp_write_preamble, type SpValue,
} from '../librump/rumpuser/sp_common.ts';
import { rumpclient_init, type RumpClient } from '../lib/librumpclient/rumpclient.ts';
import {
  EADDRINUSE, EBADF, EINTR, EINVAL, EMSGSIZE, ENOSYS, ENOTCONN, EPERM, EPROGMISMATCH, SyscallError,
} from '../include/errno.ts';
import { AF_INET, AF_LOCAL, MSG_WAITFORONE, SOCK_DGRAM, SOCK_STREAM, type RecvMmsghdr } from '../include/socket.ts';
import { POLLIN, SYS_bind, SYS_getpid, SYS_read, SYS_write, SYS___socket30 } from '../include/syscall.ts';
import { bootNode, serve, tempdir, RawConn, prng } from './sysproxy_helpers.ts';

const sin = (port: number, addr = '127.0.0.1') => ({ sin_family: AF_INET, sin_port: port, sin_addr: addr }) as const;

function roundtrip(v: unknown): SpValue {
  const segs = sp_frame(SP_REPLY, 7, v);
  const all = new Uint8Array(segs.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of segs) {
    all.set(s, o);
    o += s.length;
  }
  let got: SpValue = null;
  new SpFramer((type, tag, body) => {
    expect([type, tag]).toEqual([SP_REPLY, 7]);
    got = sp_decode(body);
  }, (e) => { throw new Error(e.kind); }).push(all);
  return got;
}

function errOf(p: Promise<unknown>): Promise<SyscallError> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => {
    expect(e).toBeInstanceOf(SyscallError);
    return e as SyscallError;
  });
}

/** A kernel served on a fresh socket, and n clients. */
async function setup(n = 1): Promise<{ path: string; url: string; clients: RumpClient[] }> {
  const k = await bootNode();
  const path = join(tempdir(), 'sock');
  const url = `unix://${path}`;
  await serve(k, url);
  const clients: RumpClient[] = [];
  for (let i = 0; i < n; i++) clients.push(await rumpclient_init(url, { comm: `client${i}` }));
  return { path, url, clients };
}

/** A TCP connection on lo0 inside the server's kernel: [listener, client end, server end]. */
async function tcpPair(c: RumpClient, port: number): Promise<[number, number, number]> {
  const ls = await c.socket(AF_INET, SOCK_STREAM);
  await c.bind(ls, sin(port));
  await c.listen(ls, 5);
  const acc = c.accept(ls);
  const s = await c.socket(AF_INET, SOCK_STREAM);
  await c.connect(s, sin(port));
  const a = await acc;
  expect(a.addr).toMatchObject({ sin_family: AF_INET, sin_addr: '127.0.0.1' });
  return [ls, s, a.fd];
}

describe('the wire encoding', () => {
  it('carries every kind of value, exactly', () => {
    const bytes = new Uint8Array(100_000).map((_, i) => i * 7);
    const v = {
      u: undefined, n: null, t: true, f: false, small: 200, neg: -5, i32: 0x7fffffff, big: 2 ** 40, frac: 0.25, nz: -0,
      nan: NaN, inf: -Infinity, bi: -(2n ** 70n), s: 'héllo wörld ☃', long: 'x'.repeat(5000), empty: '',
      b: new Uint8Array([1, 2, 3]), bulk: bytes, list: [1, 'two', [3, { four: 4 }], null],
      pcbs: [{ laddr: '127.0.0.1', lport: 7, state: 'LISTEN' }, { laddr: '0.0.0.0', lport: 9, state: 'CLOSED' }],
    };
    const got = roundtrip(v) as Record<string, unknown>;
    expect(Buffer.compare(got['bulk'] as Uint8Array, bytes)).toBe(0);
    expect({ ...got, bulk: null }).toEqual({ ...v, bulk: null });
    expect(Object.is(got['nz'], -0)).toBe(true);
    expect(got['b']).toBeInstanceOf(Uint8Array);
  });

  it('hands a large payload to the socket by reference, not copied into the frame', () => {
    const payload = new Uint8Array(64 * 1024);
    const w = new SpWriter();
    w.u16(SYS_write);
    w.value([3, payload]);
    const segs = w.finish(SP_CALL, 1);
    expect(segs).toContain(payload);
  });

  it('refuses what it cannot carry, and frames over the limit', () => {
    expect(() => sp_frame(SP_REPLY, 1, { f: () => 1 })).toThrow(SpFormatError);
    expect(() => sp_frame(SP_REPLY, 1, new Map())).toThrow(/Map cannot be carried/);
    expect(() => sp_frame(SP_REPLY, 1, new Uint16Array(2))).toThrow(/Uint16Array cannot be carried/);
    const cyc: Record<string, unknown> = {};
    cyc['self'] = cyc;
    expect(() => sp_frame(SP_REPLY, 1, cyc)).toThrow(/deeper than 32/);
    expect(() => sp_frame(SP_REPLY, 1, new Uint8Array(SP_MAXFRAME))).toThrow(/exceeds the proxy's 16777216-byte limit/);
  });

  it('rejects malformed bodies with a reason', () => {
    const bad: [number[], RegExp][] = [
      [[], /ends early/],
      [[99], /unknown value tag 99/],
      [[8, 5, 0, 0, 0, 0x61], /ends early/],
      [[8, 1, 0, 0, 0, 0xff], /not valid UTF-8/],
      [[10, 0xff, 0xff, 0xff, 0x7f], /exceeds the/],
      [[11, 1, 0, 0, 0, 9, 0, 0, 0, ...Buffer.from('__proto__'), 1], /__proto__/],
      [[1, 1], /stray bytes/],
      [[7, 3, 0, 0, 0, 0x31, 0x2e, 0x35], /not a decimal/],
      [[...new Array<number>(40).fill(10).flatMap((t) => [t, 1, 0, 0, 0]), 1], /deeper than 32/],
    ];
    for (const [b, re] of bad) expect(() => sp_decode(new Uint8Array(b)), String(b)).toThrow(re);
  });

  it('reassembles frames split anywhere, and reports an oversized length before buffering its body', () => {
    const frames = [sp_frame(SP_REPLY, 1, 'a'), sp_frame(SP_REPLY, 2, new Uint8Array(40_000).fill(9)), sp_frame(SP_ERROR, 3, [1, 'x', null])];
    const stream = Buffer.concat(frames.flat());
    for (const step of [1, 2, 3, 7, 100, 4096, stream.length]) {
      const got: [number, number][] = [];
      const f = new SpFramer((type, tag, body) => { got.push([tag, body.length]); expect(type).toBeGreaterThan(0); }, () => { throw new Error('bad'); });
      for (let o = 0; o < stream.length; o += step) f.push(stream.subarray(o, o + step));
      expect(got.map((g) => g[0]), `step ${step}`).toEqual([1, 2, 3]);
      expect(got[1]![1]).toBe(40_005);
    }
    const errs: string[] = [];
    const f = new SpFramer(() => { throw new Error('no frame expected'); }, (e) => { errs.push(`${e.kind} ${e.len}`); });
    f.push(new Uint8Array([0xff, 0xff, 0xff]));
    f.push(new Uint8Array([0x7f]));
    expect(errs).toEqual([`oversize ${0x7fffffff}`]);
    const g = new SpFramer(() => {}, (e) => { errs.push(`${e.kind} ${e.len}`); });
    g.push(new Uint8Array([2, 0, 0, 0, 1, 1]));
    expect(errs.at(-1)).toBe('runt 2');
  });
});

describe('syscalls through the proxy', () => {
  it('TCP on lo0 in the server kernel: connect, write, read into the caller\'s own buffer', async () => {
    const { path, clients: [c] } = await setup();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(c!.banner).toMatch(/^NetBSD 10\.0 rumpts/);
    expect(await c!.getpid()).toBe(c!.pid);
    const [, s, a] = await tcpPair(c!, 7001);
    expect(await c!.write(s, 'hello, kernel')).toBe(13);
    const buf = new Uint8Array(64).fill(0xee);
    const view = buf.subarray(4, 40);
    const n = await c!.read(a, view);
    expect(n).toBe(13);
    expect(Buffer.from(buf.subarray(4, 17)).toString()).toBe('hello, kernel');
    expect(buf[3]).toBe(0xee);
    expect(buf[17]).toBe(0xee);
    /* A bulk transfer both ways, checked byte for byte. */
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    const writing = (async () => {
      let o = 0;
      while (o < big.length) o += await c!.write(a, big.subarray(o));
      await c!.shutdown(a, 1);
    })();
    const got = new Uint8Array(big.length);
    let o = 0;
    for (;;) {
      const k = await c!.read(s, got.subarray(o, Math.min(got.length, o + 100_000)));
      if (k === 0) break;
      o += k;
    }
    await writing;
    expect(o).toBe(big.length);
    expect(Buffer.compare(got, big)).toBe(0);
    const st = await c!.fstat(s);
    expect(st.st_mode & 0o170000).toBe(0o140000);
  });

  it('recvfrom, recvmsg and recvmmsg fill the caller\'s buffers; sendmmsg and poll', async () => {
    const { clients: [c] } = await setup();
    const r = await c!.socket(AF_INET, SOCK_DGRAM);
    await c!.bind(r, sin(7002));
    const w = await c!.socket(AF_INET, SOCK_DGRAM);
    await c!.bind(w, sin(7003));
    expect(await c!.sendto(w, 'one', 0, sin(7002))).toBe(3);
    const fds = [{ fd: r, events: POLLIN, revents: 0 }, { fd: w, events: POLLIN, revents: 0 }];
    expect(await c!.poll(fds, 1000)).toBe(1);
    expect(fds.map((f) => f.revents)).toEqual([POLLIN, 0]);
    const buf = new Uint8Array(16);
    const rf = await c!.recvfrom(r, buf);
    expect(rf).toEqual({ n: 3, from: sin(7003), flags: 0 });
    expect(Buffer.from(buf.subarray(0, 3)).toString()).toBe('one');

    await c!.sendmsg(w, [new Uint8Array([1, 2]), new Uint8Array([3, 4, 5])], sin(7002));
    const iov = [new Uint8Array(1), new Uint8Array(3), new Uint8Array(8)];
    const rm = await c!.recvmsg(r, iov);
    expect(rm.n).toBe(5);
    expect(iov.map((b) => [...b])).toEqual([[1], [2, 3, 4], [5, 0, 0, 0, 0, 0, 0, 0]]);

    expect(await c!.sendmmsg(w, [{ buf: new Uint8Array([10]), to: sin(7002) }, { buf: new Uint8Array([20, 21]), to: sin(7002) }])).toBe(2);
    const msgs: RecvMmsghdr[] = [0, 1, 2].map(() => ({ buf: new Uint8Array(4), n: 0, from: null, flags: 0 }));
    expect(await c!.recvmmsg(r, msgs, MSG_WAITFORONE)).toBe(2);
    expect(msgs.map((m) => [m.n, [...m.buf], m.from])).toEqual([[1, [10, 0, 0, 0], sin(7003)], [2, [20, 21, 0, 0], sin(7003)], [0, [0, 0, 0, 0], null]]);
  });

  it('sysctl values and ioctls come back as plain data; failures are SyscallErrors with NetBSD errnos', async () => {
    const { clients: [c] } = await setup();
    const [ls] = await tcpPair(c!, 7004);
    expect(await c!.sysctl('kern.ostype')).toBe('NetBSD');
    const pcbs = await c!.sysctl('net.inet.tcp.pcblist') as Record<string, unknown>[];
    expect(Array.isArray(pcbs)).toBe(true);
    expect(pcbs.length).toBeGreaterThanOrEqual(3);
    expect(await c!.getsockname(ls)).toEqual(sin(7004));

    const e = await errOf(c!.read(999, new Uint8Array(1)));
    expect([e.errno, e.code, e.syscall]).toEqual([EBADF, 'EBADF', 'read']);
    const b = await errOf(c!.bind(ls, sin(7004)));
    expect(b.errno).toBe(EINVAL);
    const s2 = await c!.socket(AF_INET, SOCK_STREAM);
    expect((await errOf(c!.bind(s2, sin(7004)))).code).toBe('EADDRINUSE');
    expect((await errOf(c!.bind(s2, { sin_family: AF_INET, sin_port: 1, sin_addr: 'not.an.address' }))).errno).toBe(EINVAL);
    expect((await errOf(c!.ioctl(s2, 0x12345678, {}))).code).toMatch(/^E/);
    /* What cannot be carried fails on the client side, before anything is sent. */
    expect((await errOf(c!.ioctl(s2, 1, { f: () => 0 }))).errno).toBe(EINVAL);
    expect((await errOf(c!.sendto(s2, new Uint8Array(SP_MAXIO + 1)))).errno).toBe(EMSGSIZE);
    /* PF_LOCAL works too, and a pipe. */
    const [x, y] = await c!.socketpair(AF_LOCAL, SOCK_STREAM);
    await c!.write(x!, 'pair');
    expect(await c!.read(y!, new Uint8Array(8))).toBe(4);
    const [pr, pw] = await c!.pipe();
    await c!.write(pw, new Uint8Array([1, 2, 3]));
    expect(await c!.read(pr, new Uint8Array(3))).toBe(3);
  });

  it('client.net: Node-style sockets in the server\'s kernel, through the proxy', async () => {
    const { clients: [c] } = await setup();
    const srv = c!.net.createServer((sock) => { sock.pipe(sock); });
    await new Promise<void>((resolve) => { srv.listen(7008, '127.0.0.1', resolve); });
    const conn = c!.net.connect(7008, '127.0.0.1');
    const chunks: Buffer[] = [];
    conn.on('data', (d: Buffer) => {
      chunks.push(d);
      if (Buffer.concat(chunks).length === 11) conn.end();
    });
    conn.write('echo, echo.');
    await new Promise((resolve) => { conn.on('close', resolve); });
    expect(Buffer.concat(chunks).toString()).toBe('echo, echo.');
    expect(c!.net).toBe(c!.net);
    await new Promise((resolve) => { srv.close(resolve); });
  });

  it('each client is its own process with its own descriptors', async () => {
    const { clients: [a, b] } = await setup(2);
    expect(a!.pid).not.toBe(b!.pid);
    const fa = await a!.socket(AF_INET, SOCK_DGRAM);
    const fb = await b!.socket(AF_INET, SOCK_DGRAM);
    expect(fa).toBe(fb);
    await a!.close(fa);
    expect((await errOf(a!.close(fa))).errno).toBe(EBADF);
    await b!.close(fb);
  });

  it('a client blocked in accept and read holds up neither its own other calls nor other clients', async () => {
    const { clients: [a, b] } = await setup(2);
    const ls = await a!.socket(AF_INET, SOCK_STREAM);
    await a!.bind(ls, sin(7005));
    await a!.listen(ls, 5);
    let accepted = false;
    const acc = a!.accept(ls).then((r) => { accepted = true; return r; });
    /* The same client, concurrently. */
    const [p0, p1] = await a!.pipe();
    const reading = a!.read(p0, new Uint8Array(8));
    expect(await a!.getpid()).toBe(a!.pid);
    /* Another client does real work meanwhile. */
    for (let i = 0; i < 20; i++) expect(await b!.getpid()).toBe(b!.pid);
    const s = await b!.socket(AF_INET, SOCK_STREAM);
    expect(accepted).toBe(false);
    await b!.connect(s, sin(7005));
    const r = await acc;
    await b!.write(s, 'x');
    expect(await a!.read(r.fd, new Uint8Array(4))).toBe(1);
    await a!.write(p1, 'late');
    expect(await reading).toBe(4);
  });

  it('a client that goes away mid-call: its process exits, its ports are freed, the server keeps serving', async () => {
    const { url, clients: [a, b] } = await setup(2);
    const ls = await a!.socket(AF_INET, SOCK_STREAM);
    await a!.bind(ls, sin(7006));
    await a!.listen(ls, 5);
    const acc = errOf(a!.accept(ls));
    const s = await b!.socket(AF_INET, SOCK_STREAM);
    expect((await errOf(b!.bind(s, sin(7006)))).errno).toBe(EADDRINUSE);
    await a!.close();
    expect((await acc).errno).toBe(ENOTCONN);
    expect((await errOf(a!.getpid())).errno).toBe(ENOTCONN);
    /* The server closed the dead client's listener: the port is free. */
    for (let i = 0; ; i++) {
      try {
        await b!.bind(s, sin(7006));
        break;
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => { setTimeout(r, 10); });
      }
    }
    const c = await rumpclient_init(url);
    expect(await c.getpid()).toBe(c.pid);
    await c.close();
  });

  it('when the server stops, a blocked call fails and later calls fail with ENOTCONN, never hang', async () => {
    const k = await bootNode();
    const url = `unix://${join(tempdir(), 'sock')}`;
    const srv = await serve(k, url);
    const c = await rumpclient_init(url);
    const ls = await c.socket(AF_INET, SOCK_STREAM);
    await c.bind(ls, sin(7007));
    await c.listen(ls, 5);
    const acc = errOf(c.accept(ls));
    const closing = srv.close();
    await k.halt();
    await closing;
    expect([EINTR, ENOTCONN]).toContain((await acc).errno);
    const later = await errOf(c.getpid());
    expect(later.errno).toBe(ENOTCONN);
    expect(later.message).toMatch(/closed/);
  });

  it('a client reboot halts the kernel; the reply comes before the connection closes', async () => {
    const k = await bootNode();
    const url = `unix://${join(tempdir(), 'sock')}`;
    const halts: number[] = [];
    let srvClose: (() => Promise<void>) | null = null;
    const srv = await serve(k, url, (howto) => { halts.push(howto); void srvClose!(); });
    srvClose = () => srv.close();
    const c = await rumpclient_init(url);
    await c.reboot(0);
    expect(halts).toEqual([0]);
    expect(k.state).toBe('halted');
    expect((await errOf(c.getpid())).errno).toBe(ENOTCONN);
  });
});

describe('what a bad client gets', () => {
  it('a client of another protocol version is refused with EPROGMISMATCH, both ways', async () => {
    const { path } = await setup(0);
    const raw = await RawConn.open(path);
    const f = await raw.handshake(SP_VERSION + 1);
    expect(f.type).toBe(SP_ERROR);
    expect(sp_decode(f.body)).toEqual([EPROGMISMATCH, 'handshake', `protocol version mismatch: the server speaks version ${SP_VERSION}, the client ${SP_VERSION + 1}`]);
    await raw.until(() => raw.closed);

    /* A server of another version: the client says so. */
    const fake = join(tempdir(), 'fake');
    const srv = createServer((s) => {
      const w = new SpWriter();
      sp_write_preamble(w, 99);
      w.value({ banner: 'future' });
      for (const seg of w.finish(SP_HELLO, 0)) s.write(seg);
      s.on('error', () => {});
    }).listen(fake);
    try {
      const e = await errOf(rumpclient_init(`unix://${fake}`));
      expect(e.errno).toBe(EPROGMISMATCH);
      expect(e.message).toMatch(/server speaks version 99, this client 1/);
    } finally {
      srv.close();
    }
    /* Nothing listening, and no URL at all. */
    expect((await errOf(rumpclient_init(`unix://${fake}`))).code).toBe('ENOENT');
    expect((await errOf(rumpclient_init(''))).message).toMatch(/RUMP_SERVER is not set/);
    expect((await errOf(rumpclient_init('http://x'))).message).toMatch(/unknown scheme http/);
  });

  it('a call before the handshake is refused (EPERM) and the connection closed', async () => {
    const { path } = await setup(0);
    const raw = await RawConn.open(path);
    expect((await raw.next()).type).toBe(SP_HELLO);
    const w = new SpWriter();
    w.u16(SYS_getpid);
    w.value([]);
    raw.send(w.finish(SP_CALL, 1));
    const f = await raw.next();
    expect(f.type).toBe(SP_ERROR);
    expect((sp_decode(f.body) as SpValue[])[0]).toBe(EPERM);
    await raw.until(() => raw.closed);
  });

  it('malformed calls get error replies and the connection stays usable', async () => {
    const { path } = await setup(0);
    const raw = await RawConn.open(path);
    expect((await raw.handshake()).type).toBe(SP_WELCOME);
    const call = (tag: number, sysnum: number, args: unknown): void => {
      const w = new SpWriter();
      w.u16(sysnum);
      w.value(args);
      raw.send(w.finish(SP_CALL, tag));
    };
    const answer = async (tag: number): Promise<SpValue[]> => {
      await raw.until(() => raw.frames.some((f) => f.tag === tag));
      const f = raw.frames.splice(raw.frames.findIndex((x) => x.tag === tag), 1)[0]!;
      return [f.type, sp_decode(f.body)];
    };
    call(1, SYS_read, ['zero', 10]);
    expect(await answer(1)).toEqual([SP_ERROR, [EINVAL, 'read', 'argument 1: expected an integer']]);
    call(2, SYS_read, [0, -1]);
    expect((await answer(2))[1]).toEqual([EINVAL, 'read', `argument 2: expected a length of 0..${SP_MAXIO}`]);
    call(3, 9999, []);
    expect((await answer(3))[1]).toEqual([ENOSYS, 'syscall 9999', 'not offered by the syscall proxy']);
    call(4, SYS_bind, [0, { sin_family: 'x' }]);
    expect(((await answer(4))[1] as SpValue[])[0]).toBe(EINVAL);
    call(5, SYS___socket30, 'not an array');
    expect(((await answer(5))[1] as SpValue[])[2]).toMatch(/malformed call: the arguments are not an array/);
    raw.write(new Uint8Array([9, 0, 0, 0, SP_CALL, 6, 0, 0, 0, 0x42, 0x42, 0xff, 0xee]));
    expect(((await answer(6))[1] as SpValue[])[2]).toMatch(/malformed call/);
    raw.send(sp_frame(77, 7, null));
    expect((await answer(7))[1]).toEqual([EINVAL, 'sysproxy', 'unexpected frame type 77']);
    call(8, SYS_getpid, []);
    const [t, pid] = await answer(8);
    expect(t).toBe(SP_REPLY);
    expect(typeof pid).toBe('number');
    raw.destroy();
  });

  it('an oversized frame is refused (EMSGSIZE) and closed; the server keeps serving', async () => {
    const { path, url } = await setup(0);
    const raw = await RawConn.open(path);
    await raw.handshake();
    raw.write(new Uint8Array([0x01, 0x00, 0x00, 0x08, SP_CALL, 1, 0, 0, 0]));
    const f = await raw.next();
    expect(f.type).toBe(SP_ERROR);
    expect(sp_decode(f.body)).toEqual([EMSGSIZE, 'sysproxy', `a frame of ${0x08000001} bytes exceeds the ${SP_MAXFRAME}-byte limit`]);
    await raw.until(() => raw.closed);
    const c = await rumpclient_init(url);
    expect(await c.getpid()).toBe(c.pid);
    await c.close();
  });

  it('fuzz: 400 connections of seeded random frames; whole frames are all answered, the server keeps serving, the kernel never panics', async () => {
    const { path, url } = await setup(0);
    const good = await rumpclient_init(url, { comm: 'bystander' });
    const rnd = prng(20240607);
    const int = (n: number): number => Math.floor(rnd() * n);
    const value = (depth: number): unknown => {
      switch (int(depth > 2 ? 8 : 11)) {
        case 0: return undefined;
        case 1: return null;
        case 2: return rnd() < 0.5;
        case 3: return int(300) - 20;
        case 4: return rnd() * 1e12 - 5e11;
        case 5: return ['', 'kern.hostname', 'net.inet.tcp.pcblist', 'x'.repeat(int(300)), '127.0.0.1'][int(5)];
        case 6: return new Uint8Array(int(600)).map(() => int(256));
        case 7: return BigInt(int(1e9)) * 1_000_000_007n;
        case 8: return Array.from({ length: int(5) }, () => value(depth + 1));
        case 9: return { sin_family: int(3), sin_port: int(70000), sin_addr: ['127.0.0.1', '1.2.3', 7][int(3)] };
        default: return Object.fromEntries(Array.from({ length: int(4) }, (_, i) => [`k${i}`, value(depth + 1)]));
      }
    };
    /* Calls that cannot wait for ever: no accept or recv, read and poll get a bad descriptor, no reboot. */
    const sysnums = [3, 4, 6, 20, 41, 54, 90, 92, 202, 209, 440, 453, 394, 135, 104, 106, 98, 133, 134, 105, 118, 32, 31, 28, 476, 999];
    const tally = { calls: 0, framed: 0, garbage: 0, refusedAtOnce: 0 };
    for (let i = 0; i < 400; i++) {
      const raw = await RawConn.open(path);
      const mode = int(4);
      const sent: number[] = [];
      if (mode === 0) {
        /* Garbage from the first byte: refused at once, unless its length field asks for more bytes. */
        raw.write(new Uint8Array(int(64) + 1).map(() => int(256)));
        tally.garbage++;
      } else {
        expect((await raw.handshake()).type).toBe(SP_WELCOME);
        const n = 1 + int(6);
        for (let j = 1; j <= n; j++) {
          if (mode === 1) {
            const w = new SpWriter();
            const sysnum = sysnums[int(sysnums.length)]!;
            w.u16(sysnum);
            const args = Array.from({ length: int(5) }, () => value(0));
            if (sysnum === 3 || sysnum === 209) args[0] = 999;
            w.value(args);
            raw.send(w.finish(SP_CALL, j));
            sent.push(j);
            tally.calls++;
          } else if (mode === 2) {
            /* A whole frame of any type over a random body. */
            const body = new Uint8Array(int(40)).map(() => int(256));
            const hdr = new Uint8Array(9);
            new DataView(hdr.buffer).setUint32(0, body.length + 5, true);
            hdr[4] = int(8);
            hdr[5] = j;
            raw.write(hdr);
            raw.write(body);
            sent.push(j);
            tally.framed++;
          } else {
            raw.write(new Uint8Array(int(30) + 1).map(() => int(256)));
            tally.garbage++;
          }
        }
      }
      if (sent.length > 0) {
        /* Every whole frame gets exactly one answer with its tag. */
        await raw.until(() => raw.closed || raw.frames.length >= sent.length);
        expect(raw.frames.map((f) => f.tag).sort((a, b) => a - b)).toEqual(sent);
        expect(raw.frames.every((f) => f.type === SP_REPLY || f.type === SP_ERROR)).toBe(true);
      } else if (mode === 0) {
        await raw.until(() => raw.closed, 200).then(() => { tally.refusedAtOnce++; }, () => {});
      }
      raw.destroy();
      expect(await good.getpid()).toBe(good.pid);
    }
    expect(tally.calls).toBeGreaterThan(200);
    expect(tally.framed).toBeGreaterThan(200);
    expect(tally.refusedAtOnce).toBeGreaterThan(50);
    expect(await good.sysctl('kern.ostype')).toBe('NetBSD');
    await good.close();
  });
});
