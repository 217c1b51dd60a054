/*
 * sockin, TCP over host sockets on 127.0.0.1: a kernel server and a Node
 * client, a kernel client and a Node server, 1 MB each way checked with
 * SHA-256 and closed with half-closes, blocking and non-blocking connect,
 * ECONNREFUSED, EADDRINUSE, addresses, poll, SO_RCVTIMEO, non-blocking
 * reads, and the options and ioctls that do not map (ENOPROTOOPT, ENOTTY).
 */
import { describe, it, expect } from 'vitest';
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { bootSockin, closedPort, onCleanup, sin } from './sockin_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import {
  PF_INET, SHUT_WR, SO_ERROR, SO_KEEPALIVE, SO_RCVTIMEO, SO_REUSEADDR, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
  type SockaddrIn,
} from '../include/socket.ts';
import { POLLIN, POLLOUT } from '../include/syscall.ts';
import { SIOCGIFCONF, SIOCGIFFLAGS } from '../include/if.ts';
import { IPPROTO_IP, IPPROTO_TCP, IP_TOS } from '../net/lib/libnetinet/in.ts';
import { TCP_NODELAY } from '../net/lib/libsockin/sockin.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function nodeServer(onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, onConn);
  onCleanup(() => { srv.close(); });
  await new Promise<void>((r) => { srv.listen(0, '127.0.0.1', r); });
  return (srv.address() as net.AddressInfo).port;
}

function nodeConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => { resolve(c); });
    c.once('error', reject);
    onCleanup(() => { c.destroy(); });
  });
}

/** Everything a Node socket receives until its peer's FIN. */
function nodeReadAll(c: net.Socket): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  return new Promise((r) => {
    c.on('data', (b: Buffer) => { parts.push(b); });
    c.on('end', () => { r(Buffer.concat(parts)); });
  });
}

/** Read until EOF from a kernel socket. */
async function kernelReadAll(k: Kernel, fd: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(32768);
  for (;;) {
    const n = await k.sys.read(fd, buf);
    if (n === 0) break;
    parts.push(buf.slice(0, n));
  }
  return Buffer.concat(parts);
}

async function kernelWriteAll(k: Kernel, fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await k.sys.write(fd, data.subarray(off));
}

async function kernelListener(k: Kernel): Promise<{ fd: number; port: number }> {
  const fd = await k.sys.socket(PF_INET, SOCK_STREAM);
  await k.sys.bind(fd, sin('127.0.0.1', 0));
  await k.sys.listen(fd, 8);
  const port = ((await k.sys.getsockname(fd)) as SockaddrIn).sin_port;
  return { fd, port };
}

describe('sockin TCP', () => {
  it('a kernel server accepts a Node client: echo, addresses, half-close', async () => {
    const k = await bootSockin();
    const { fd: ls, port } = await kernelListener(k);
    expect(port).toBeGreaterThan(0);
    const accepted = k.sys.accept(ls);
    const c = await nodeConnect(port);
    const { fd: s, addr } = await accepted;
    expect(addr).toEqual(sin('127.0.0.1', c.localPort!));
    expect(await k.sys.getpeername(s)).toEqual(sin('127.0.0.1', c.localPort!));
    expect(await k.sys.getsockname(s)).toEqual(sin('127.0.0.1', port));
    c.write('hello kernel');
    const buf = new Uint8Array(100);
    const n = await k.sys.read(s, buf);
    expect(new TextDecoder().decode(buf.subarray(0, n))).toBe('hello kernel');
    /* Half-close from Node: the kernel reads EOF and can still answer. */
    const got = nodeReadAll(c);
    c.end();
    expect(await k.sys.read(s, buf)).toBe(0);
    await k.sys.write(s, 'still here');
    await k.sys.shutdown(s, SHUT_WR);
    expect(Buffer.from(await got).toString()).toBe('still here');
    await k.sys.close(s);
    await k.sys.close(ls);
  });

  it('a kernel client connects to a Node server; 1 MB each way with SHA-256', async () => {
    const k = await bootSockin();
    const up = new Uint8Array(randomBytes(1 << 20));
    const down = new Uint8Array(randomBytes(1 << 20));
    let serverGot: Promise<Uint8Array> | null = null;
    const port = await nodeServer((sock) => {
      serverGot = nodeReadAll(sock);
      /* Node sends its megabyte and ends; it still reads ours (half-open). */
      sock.end(down);
    });
    const s = await k.sys.socket(PF_INET, SOCK_STREAM);
    await k.sys.connect(s, sin('127.0.0.1', port));
    const me = (await k.sys.getsockname(s)) as SockaddrIn;
    expect(me.sin_addr).toBe('127.0.0.1');
    expect(await k.sys.getpeername(s)).toEqual(sin('127.0.0.1', port));
    const [rd] = await Promise.all([kernelReadAll(k, s), (async () => {
      await kernelWriteAll(k, s, up);
      await k.sys.shutdown(s, SHUT_WR);
    })()]);
    expect(sha(rd)).toBe(sha(down));
    expect(sha(await serverGot!)).toBe(sha(up));
    await k.sys.close(s);
  });

  it('1 MB from a Node client into a slow kernel reader (receive flow control)', async () => {
    const k = await bootSockin();
    const { fd: ls, port } = await kernelListener(k);
    const data = new Uint8Array(randomBytes(1 << 20));
    const accepted = k.sys.accept(ls);
    const c = await nodeConnect(port);
    c.end(data);
    const { fd: s } = await accepted;
    /* Let the host push until so_rcv fills and the host socket is paused. */
    await new Promise((r) => setTimeout(r, 100));
    const pcbs = [...k.sockin!.pcbs];
    expect(pcbs.some((p) => p.sp_rcvpaused)).toBe(true);
    expect(sha(await kernelReadAll(k, s))).toBe(sha(data));
    await k.sys.close(s);
  });

  it('send flow control: a peer that does not read stops the writer, which resumes on drain', async () => {
    const k = await bootSockin();
    const data = new Uint8Array(randomBytes(16 << 20));
    let peer: net.Socket | null = null;
    let got: Promise<Uint8Array> | null = null;
    const port = await nodeServer((sock) => {
      peer = sock;
      sock.pause();
    });
    const s = await k.sys.socket(PF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    await expect(k.sys.connect(s, sin('127.0.0.1', port))).rejects.toMatchObject({ code: 'EINPROGRESS' });
    expect(await k.sys.poll([{ fd: s, events: POLLOUT, revents: 0 }], 5000)).toBe(1);
    /* Write until the host's buffers and then so_snd are full: EWOULDBLOCK. */
    let off = 0;
    for (;;) {
      try {
        off += await k.sys.write(s, data.subarray(off, off + 65536));
      } catch (e) {
        expect(e).toMatchObject({ errno: 35 });
        break;
      }
      if (off >= data.length) throw new Error('16 MB went out without back pressure');
    }
    expect(off).toBeGreaterThan(0);
    expect(await k.sys.poll([{ fd: s, events: POLLOUT, revents: 0 }], 50)).toBe(0);
    /* The peer reads: the drain makes the socket writable again, and the rest goes. */
    got = nodeReadAll(peer!);
    peer!.resume();
    while (off < data.length) {
      const p = [{ fd: s, events: POLLOUT, revents: 0 }];
      await k.sys.poll(p, 5000);
      try {
        off += await k.sys.write(s, data.subarray(off, off + 65536));
      } catch (e) {
        expect(e).toMatchObject({ errno: 35 });
      }
    }
    await k.sys.shutdown(s, SHUT_WR);
    expect(sha(await got)).toBe(sha(data));
    expect(k.sockin!.ndrains).toBeGreaterThan(0);
    await k.sys.close(s);
  });

  it('connect to a closed port fails with ECONNREFUSED', async () => {
    const k = await bootSockin();
    const port = await closedPort();
    const s = await k.sys.socket(PF_INET, SOCK_STREAM);
    await expect(k.sys.connect(s, sin('127.0.0.1', port))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('non-blocking connect: EINPROGRESS, then POLLOUT and SO_ERROR', async () => {
    const k = await bootSockin();
    const port = await nodeServer((sock) => { sock.end(); });
    const s = await k.sys.socket(PF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    await expect(k.sys.connect(s, sin('127.0.0.1', port))).rejects.toMatchObject({ code: 'EINPROGRESS' });
    const fds = [{ fd: s, events: POLLOUT, revents: 0 }];
    expect(await k.sys.poll(fds, 5000)).toBe(1);
    expect(fds[0]!.revents & POLLOUT).toBe(POLLOUT);
    expect(await k.sys.getsockopt(s, SOL_SOCKET, SO_ERROR)).toBe(0);
    expect(await k.sys.getpeername(s)).toEqual(sin('127.0.0.1', port));
    /* A closed port: the error comes through SO_ERROR. */
    const s2 = await k.sys.socket(PF_INET, SOCK_STREAM | SOCK_NONBLOCK);
    const closed = await closedPort();
    await expect(k.sys.connect(s2, sin('127.0.0.1', closed))).rejects.toMatchObject({ code: 'EINPROGRESS' });
    const fds2 = [{ fd: s2, events: POLLOUT, revents: 0 }];
    expect(await k.sys.poll(fds2, 5000)).toBe(1);
    expect(await k.sys.getsockopt(s2, SOL_SOCKET, SO_ERROR)).toBe(61 /* ECONNREFUSED */);
  });

  it('EADDRINUSE on a busy port, for bind and for a kernel listener; bind before connect', async () => {
    const k = await bootSockin();
    const port = await nodeServer(() => {});
    const s = await k.sys.socket(PF_INET, SOCK_STREAM);
    await expect(k.sys.bind(s, sin('127.0.0.1', port))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    /* The failed bind left the socket unbound: it binds elsewhere, and connects from there. */
    await k.sys.bind(s, sin('127.0.0.1', 0));
    const bound = ((await k.sys.getsockname(s)) as SockaddrIn).sin_port;
    expect(bound).toBeGreaterThan(0);
    let from = -1;
    const port2 = await nodeServer((sock) => { from = sock.remotePort!; sock.end(); });
    await k.sys.connect(s, sin('127.0.0.1', port2));
    expect(await k.sys.read(s, new Uint8Array(4))).toBe(0);
    expect(from).toBe(bound);
    expect(await k.sys.getsockname(s)).toEqual(sin('127.0.0.1', bound));
    const { port: kport } = await kernelListener(k);
    const s2 = await k.sys.socket(PF_INET, SOCK_STREAM);
    await k.sys.setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, 1);
    await expect(k.sys.bind(s2, sin('127.0.0.1', kport))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    /* Node sees the kernel's port as taken too. */
    const srv = net.createServer();
    onCleanup(() => { srv.close(); });
    const err = await new Promise<NodeJS.ErrnoException>((r) => { srv.once('error', r); srv.listen(kport, '127.0.0.1'); });
    expect(err.code).toBe('EADDRINUSE');
  });

  it('poll readiness on a listener and a connection; SO_RCVTIMEO; non-blocking reads', async () => {
    const k = await bootSockin();
    const { fd: ls, port } = await kernelListener(k);
    const pl = [{ fd: ls, events: POLLIN, revents: 0 }];
    expect(await k.sys.poll(pl, 0)).toBe(0);
    const c = await nodeConnect(port);
    expect(await k.sys.poll(pl, 5000)).toBe(1);
    const { fd: s } = await k.sys.accept(ls);
    const ps = [{ fd: s, events: POLLIN | POLLOUT, revents: 0 }];
    expect(await k.sys.poll(ps, 0)).toBe(1);
    expect(ps[0]!.revents).toBe(POLLOUT);
    /* SO_RCVTIMEO: nothing comes, the read times out. */
    await k.sys.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: 0, tv_usec: 200000 });
    const t0 = performance.now();
    await expect(k.sys.read(s, new Uint8Array(10))).rejects.toMatchObject({ errno: 35 /* EWOULDBLOCK */ });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    c.write('x');
    ps[0]!.events = POLLIN;
    expect(await k.sys.poll(ps, 5000)).toBe(1);
    expect(ps[0]!.revents).toBe(POLLIN);
    const nb = await k.sys.socket(PF_INET, SOCK_STREAM);
    await k.sys.close(nb);
    const { fd: s2 } = await (async () => {
      const a = k.sys.accept(ls, SOCK_NONBLOCK);
      await nodeConnect(port);
      return a;
    })();
    await expect(k.sys.read(s2, new Uint8Array(10))).rejects.toMatchObject({ errno: 35 });
  });

  it('options: mapped ones work, others are ENOPROTOOPT; interface ioctls are ENOTTY', async () => {
    const k = await bootSockin();
    const s = await k.sys.socket(PF_INET, SOCK_STREAM);
    await k.sys.setsockopt(s, IPPROTO_TCP, TCP_NODELAY, 1);
    expect(await k.sys.getsockopt(s, IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    await k.sys.setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, 1);
    expect(await k.sys.getsockopt(s, SOL_SOCKET, SO_KEEPALIVE)).toBe(1);
    await expect(k.sys.setsockopt(s, IPPROTO_TCP, 2 /* TCP_MAXSEG */, 536)).rejects.toMatchObject({ code: 'ENOPROTOOPT' });
    await expect(k.sys.setsockopt(s, IPPROTO_IP, IP_TOS, 0x10)).rejects.toMatchObject({ code: 'ENOPROTOOPT' });
    await expect(k.sys.getsockopt(s, IPPROTO_IP, IP_TOS)).rejects.toMatchObject({ code: 'ENOPROTOOPT' });
    await expect(k.sys.ioctl(s, SIOCGIFCONF, {})).rejects.toMatchObject({ code: 'ENOTTY' });
    await expect(k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'lo0' })).rejects.toMatchObject({ code: 'ENOTTY' });
    /* The options reach the host socket once it connects. */
    let seen: net.Socket | null = null;
    const port = await nodeServer((sock) => { seen = sock; });
    await k.sys.connect(s, sin('127.0.0.1', port));
    await k.sys.write(s, 'ok');
    expect(seen).not.toBeNull();
  });
});
