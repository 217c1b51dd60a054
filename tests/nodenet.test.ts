/*
 * Node-compatible sockets (lib/nodenet) on the in-kernel TCP/IP stack:
 * two kernels on a shmif bus under the sim host, kernel.net on each.
 * Echo and its events, addresses and counters; backpressure both ways
 * with a consumer that stops; half-close; errors shaped like Node's
 * (ECONNREFUSED, EADDRINUSE, bad arguments); idle timeouts; destroy in
 * the middle of a transfer and while blocked; server close and limits;
 * socket options as the kernel sees them; ref/unref; local sockets.
 * After every scenario no syscall may be left sleeping in a kernel.
 */

import { describe, it, expect } from 'vitest';
import '../lib/nodenet/net.ts';
import { createNet, NetError, type NetServer, type NetSocket } from '../lib/nodenet/net.ts';
import { pair, pcbs, pattern, expectBytes, type Pair } from './tcp_helpers.ts';
import { bootSim, simWorld } from './kernel.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumplocal_component } from '../net/lib/liblocal/local_component.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { TCP_KEEPIDLE, TCP_NODELAY } from '../net/lib/libnetinet/tcp_var.ts';
import { SO_KEEPALIVE, SOL_SOCKET } from '../include/socket.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init } from '../librump/rumpkern/rump.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { ifconfig } from './inet_helpers.ts';

/** Resolve with the arguments of an event's next emission. */
function event<T extends unknown[] = unknown[]>(em: NodeJS.EventEmitter, name: string): Promise<T> {
  return new Promise((resolve) => { em.once(name, (...args: unknown[]) => { resolve(args as T); }); });
}

/** The error a socket or server emits. */
function errorOf(em: NodeJS.EventEmitter): Promise<NetError & { code: string }> {
  return new Promise((resolve) => { em.once('error', resolve); });
}

/** Every chunk a socket delivers, joined, at 'end'. */
function collect(s: NetSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => { chunks.push(d); });
  return new Promise((resolve, reject) => {
    s.once('end', () => { resolve(Buffer.concat(chunks)); });
    s.once('error', reject);
  });
}

async function listen(srv: NetServer, port: number, host?: string): Promise<void> {
  const p = event(srv, 'listening');
  if (host === undefined) srv.listen(port);
  else srv.listen(port, host);
  await p;
}

/** A server on b:port whose connections are handed to onconn; resolves once listening. */
async function server(p: Pair, port: number, onconn: (s: NetSocket) => void, opts: { allowHalfOpen?: boolean } = {}): Promise<NetServer> {
  const srv = p.b.net.createServer(opts, onconn);
  await listen(srv, port);
  return srv;
}

async function closeServer(srv: NetServer): Promise<void> {
  await new Promise<void>((resolve, reject) => { srv.close((e) => { if (e) reject(e); else resolve(); }); });
}

/** No LWP of k is left in the kernel (every syscall the sockets made has returned). */
async function expectNoSleepers(p: Pair, ...ks: Kernel[]): Promise<void> {
  await p.L.w.advance(10);
  for (const k of ks) expect([...k.alllwp].map((l) => `${k.name}: ${l.l_name} "${l.l_wmesg}"`)).toEqual([]);
}

describe('kernel.net', () => {
  it('is one Net per kernel, made on first use, with Node-shaped classes', async () => {
    const p = await pair();
    expect(p.a.net).toBe(p.a.net);
    expect(p.a.net).not.toBe(p.b.net);
    expect(p.a.net.sys).toBe(p.a.sys);
    const s = new p.a.net.Socket();
    expect(s).toBeInstanceOf(p.a.net.Socket);
    expect(s.pending).toBe(true);
    /* As Node's: a socket that was never connected reads as open. */
    expect(s.readyState).toBe('open');
    expect(s.address()).toEqual({});
    expect(p.a.net.createServer()).toBeInstanceOf(p.a.net.Server);
    expect(p.a.net.isIP('10.0.0.1')).toBe(4);
    expect(p.a.net.isIPv4('10.0.0.256')).toBe(false);
    expect(p.a.net.isIPv6('::1')).toBe(true);
    /* createNet on any SysApi: another process of the same kernel. */
    expect(createNet(p.a.sys)).not.toBe(p.a.net);
  });
});

describe('echo', () => {
  it('connects, echoes, ends and closes with Node\'s events, addresses and counters', async () => {
    const p = await pair();
    const events: string[] = [];
    let accepted: NetSocket | null = null;
    const srv = p.b.net.createServer((s) => {
      accepted = s;
      events.push(`connection ${s.remoteAddress}:${s.remotePort! > 0 ? 'port' : '?'} -> ${s.localAddress}:${s.localPort}`);
      s.pipe(s);
    });
    srv.on('listening', () => { events.push('listening'); });
    await listen(srv, 7);
    expect(srv.listening).toBe(true);
    expect(srv.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7 });

    const c = p.a.net.connect(7, '10.0.0.2');
    expect(c.connecting).toBe(true);
    expect(c.readyState).toBe('opening');
    c.on('connect', () => { events.push('connect'); });
    c.on('ready', () => { events.push('ready'); });
    c.on('end', () => { events.push('end'); });
    c.on('finish', () => { events.push('finish'); });
    const closed = event<[boolean]>(c, 'close');
    const got = collect(c);
    await event(c, 'connect');
    expect(c.connecting).toBe(false);
    expect(c.readyState).toBe('open');
    expect(c.remoteAddress).toBe('10.0.0.2');
    expect(c.remotePort).toBe(7);
    expect(c.remoteFamily).toBe('IPv4');
    expect(c.localAddress).toBe('10.0.0.1');
    expect(c.localPort).toBeGreaterThanOrEqual(49152);
    expect(c.address()).toEqual({ address: '10.0.0.1', family: 'IPv4', port: c.localPort });

    c.write('hello, ');
    c.end('kernel');
    expect(await got).toEqual(Buffer.from('hello, kernel'));
    const [hadError] = await closed;
    expect(hadError).toBe(false);
    expect(c.bytesWritten).toBe(13);
    expect(c.bytesRead).toBe(13);
    expect(accepted!.remotePort).toBe(c.localPort);
    expect(accepted!.bytesRead).toBe(13);
    /* The client's end() reaches 'finish' before the server's accept loop hands the connection over. */
    expect(events).toEqual(['listening', 'connect', 'ready', 'finish', 'connection 10.0.0.1:port -> 10.0.0.2:7', 'end']);
    await closeServer(srv);
    expect(srv.listening).toBe(false);
    expect(srv.address()).toBeNull();
    expect(pcbs(p.b, (x) => x.state === 'LISTEN')).toEqual([]);
    await expectNoSleepers(p, p.a, p.b);
    expect(p.a.net.handles + p.b.net.handles).toBe(0);
  });

  it('carries 4 MiB both ways intact; every chunk delivered stays as it was', async () => {
    const p = await pair();
    const srv = await server(p, 7, (s) => { s.pipe(s); });
    const data = pattern(4 << 20, 3);
    const c = p.a.net.createConnection({ port: 7, host: '10.0.0.2' });
    /* collect keeps references to every chunk: a reused read buffer would corrupt earlier ones. */
    const got = collect(c);
    for (let off = 0; off < data.length; off += 100_000) c.write(data.subarray(off, Math.min(data.length, off + 100_000)));
    c.end();
    expectBytes(await got, data);
    expect(c.bytesRead).toBe(data.length);
    expect(c.bytesWritten).toBe(data.length);
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('takes the connect listener and the (options) form, and connect() on a connected socket is EISCONN', async () => {
    const p = await pair();
    const srv = await server(p, 9, (s) => { s.resume(); });
    let called = 0;
    const c = p.a.net.connect({ port: '9', host: '10.0.0.2', localPort: 4444 }, () => { called++; });
    await event(c, 'connect');
    expect(called).toBe(1);
    expect(c.localPort).toBe(4444);
    expect(() => c.connect(9, '10.0.0.2')).toThrow(/EISCONN/);
    c.destroy();
    await event(c, 'close');
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });
});

describe('backpressure', () => {
  it('a reader that stops stops the writer: kernel buffers fill, write() says wait, memory stays bounded', async () => {
    const p = await pair();
    let ss: NetSocket | null = null;
    const srv = await server(p, 80, (s) => { ss = s.resume(); });
    const c = p.a.net.connect(80, '10.0.0.2');
    await event(c, 'connect');
    await p.L.w.advance(10);
    /* The client reads nothing: no 'data' listener, paused. */
    c.pause();
    const TOTAL = 8 << 20;
    const chunk = new Uint8Array(16 * 1024).fill(0x5a);
    let sent = 0;
    let stalls = 0;
    let drains = 0;
    const s = ss!;
    s.on('drain', () => { drains++; });
    const pump = (): void => {
      while (sent < TOTAL) {
        sent += chunk.length;
        if (!s.write(chunk)) {
          stalls++;
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    pump();
    await p.L.w.advance(5000);
    const sent1 = sent;
    const read1 = c.bytesRead;
    await p.L.w.advance(30_000);
    /* Stalled: nothing more read or written however long we wait. */
    expect(sent).toBe(sent1);
    expect(c.bytesRead).toBe(read1);
    expect(sent).toBeLessThan(TOTAL);
    /* What is in flight is bounded by the buffers: the kernel's two socket buffers and the streams' high-water marks. */
    expect(sent).toBeLessThan(512 * 1024);
    expect(c.readableLength).toBeLessThanOrEqual(c.readableHighWaterMark + 64 * 1024);
    expect(s.writableLength).toBeLessThanOrEqual(s.writableHighWaterMark + chunk.length);
    expect(s.writableNeedDrain).toBe(true);
    const [cpcb] = pcbs(p.a, (x) => x.fport === 80);
    const [spcb] = pcbs(p.b, (x) => x.lport === 80 && x.state === 'ESTABLISHED');
    expect(cpcb!.recvq).toBeGreaterThan(0);
    expect(spcb!.sendq).toBeGreaterThan(0);

    /* The reader comes back: everything arrives and the writer drains. */
    let got = c.readableLength;
    let bad = 0;
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (d.some((b) => b !== 0x5a)) bad++;
    });
    const end = event(c, 'end');
    c.resume();
    got = 0;
    await end;
    expect(got).toBe(TOTAL);
    expect(bad).toBe(0);
    expect(stalls).toBeGreaterThan(0);
    expect(drains).toBe(stalls);
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });
});

describe('half-close', () => {
  it('allowHalfOpen: the side that got a FIN can still send, then both close', async () => {
    const p = await pair();
    const srv = await server(p, 7, (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => { chunks.push(d); });
      s.on('end', () => {
        /* The client has shut its side (the server's PCB is in CLOSE_WAIT); the reply still goes out. */
        expect(pcbs(p.b, (x) => x.lport === 7 && x.fport !== 0).map((x) => x.state)).toEqual(['CLOSE_WAIT']);
        s.end(`got ${Buffer.concat(chunks).toString()}`);
      });
    }, { allowHalfOpen: true });
    const c = p.a.net.connect({ port: 7, host: '10.0.0.2', allowHalfOpen: true });
    const got = collect(c);
    c.end('question');
    await event(c, 'finish');
    expect(c.writable).toBe(false);
    expect((await got).toString()).toBe('got question');
    await event(c, 'close');
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('without allowHalfOpen, a FIN ends the writable side too', async () => {
    const p = await pair();
    const ended: boolean[] = [];
    const srv = await server(p, 7, (s) => {
      s.resume();
      s.on('end', () => { setImmediate(() => { ended.push(s.writableEnded); }); });
    });
    const c = p.a.net.connect(7, '10.0.0.2');
    c.resume();
    c.end();
    await event(c, 'close');
    await p.L.w.advance(10);
    expect(ended).toEqual([true]);
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });
});

describe('errors', () => {
  it('ECONNREFUSED: an error shaped like Node\'s, then close(hadError)', async () => {
    const p = await pair();
    const c = p.a.net.connect(81, '10.0.0.2');
    const closed = event<[boolean]>(c, 'close');
    const e = await errorOf(c);
    expect(e).toBeInstanceOf(NetError);
    expect(e.message).toBe('connect ECONNREFUSED 10.0.0.2:81');
    expect(e).toMatchObject({ code: 'ECONNREFUSED', errno: 61, syscall: 'connect', address: '10.0.0.2', port: 81 });
    expect((await closed)[0]).toBe(true);
    expect(c.destroyed).toBe(true);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('EADDRINUSE on a second listen, as an error event of the server', async () => {
    const p = await pair();
    const one = await server(p, 80, () => {});
    const two = p.b.net.createServer();
    two.listen(80, '0.0.0.0');
    const e = await errorOf(two);
    expect(e).toMatchObject({ code: 'EADDRINUSE', errno: 48, syscall: 'listen', address: '0.0.0.0', port: 80 });
    expect(e.message).toBe('listen EADDRINUSE: Address already in use 0.0.0.0:80');
    expect(two.listening).toBe(false);
    /* The failed server holds nothing; close() on it reports that it is not running. */
    const ce = await new Promise<Error | undefined>((r) => { two.close(r); });
    expect(ce).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
    await closeServer(one);
    await expectNoSleepers(p, p.a, p.b);
    expect(p.b.net.handles).toBe(0);
  });

  it('bad arguments throw Node\'s errors; names need a lookup', async () => {
    const p = await pair();
    const net = p.a.net;
    expect(() => net.connect(70000, '10.0.0.2')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => net.connect({ host: '10.0.0.2' } as never)).toThrow(expect.objectContaining({ code: 'ERR_MISSING_ARGS' }));
    const srv = await server(p, 80, (s) => { s.resume().end('hi'); });
    expect(() => srv.listen(81)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
    expect(() => net.createServer().listen(80, 'example.org')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));

    const nf = net.connect(80, 'www.example');
    expect(await errorOf(nf)).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'www.example' });
    const looked: string[] = [];
    const c = net.connect({
      port: 80, host: 'web.lab', lookup: (h, o, cb) => { looked.push(`${h}/${o.family}`); cb(null, '10.0.0.2', 4); },
    });
    const lookupEv = event(c, 'lookup');
    expect((await collect(c)).toString()).toBe('hi');
    expect(await lookupEv).toEqual([null, '10.0.0.2', 4, 'web.lab']);
    expect(looked).toEqual(['web.lab/4']);
    expect(c.remoteAddress).toBe('10.0.0.2');
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('a reset from the peer is ECONNRESET on read', async () => {
    const p = await pair();
    const srv = await server(p, 80, (s) => { s.resetAndDestroy(); });
    const c = p.a.net.connect(80, '10.0.0.2');
    c.resume();
    const closed = event<[boolean]>(c, 'close');
    const e = await errorOf(c);
    expect(e).toMatchObject({ code: 'ECONNRESET', syscall: 'read', message: 'read ECONNRESET' });
    expect((await closed)[0]).toBe(true);
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });
});

describe('timeouts', () => {
  it('setTimeout: \'timeout\' after idle time only, the socket stays open, 0 disarms', async () => {
    const p = await pair();
    const srv = await server(p, 7, (s) => { s.pipe(s); });
    const c = p.a.net.connect(7, '10.0.0.2');
    c.resume();
    await event(c, 'connect');
    let timeouts = 0;
    c.setTimeout(500, () => { timeouts++; });
    expect(c.timeout).toBe(500);
    /* Activity every 25 ms (real time: the idle timer runs on the host's clock) keeps it quiet. */
    for (let i = 0; i < 12; i++) {
      c.write('x');
      await new Promise((r) => { setTimeout(r, 25); });
    }
    expect(timeouts).toBe(0);
    await event(c, 'timeout');
    expect(timeouts).toBe(1);
    expect(c.destroyed).toBe(false);
    c.setTimeout(0);
    expect(c.timeout).toBeUndefined();
    c.end();
    await event(c, 'close');
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });
});

describe('destroy', () => {
  it('destroy() right after connect(): the socket that was being made is closed, nothing hangs', async () => {
    const p = await pair();
    const c = p.a.net.connect(80, '10.0.0.2');
    const closed = event<[boolean]>(c, 'close');
    c.destroy();
    expect((await closed)[0]).toBe(false);
    expect(c.connecting).toBe(false);
    await expectNoSleepers(p, p.a, p.b);
    expect(pcbs(p.a)).toEqual([]);
  });

  it('in the middle of a transfer: the writer gets EPIPE or ECONNRESET, nothing hangs', async () => {
    const p = await pair();
    let received = 0;
    const srv = await server(p, 80, (s) => {
      s.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= 64 * 1024 && !s.destroyed) s.destroy();
      });
    });
    const c = p.a.net.connect(80, '10.0.0.2');
    const data = new Uint8Array(8 << 20);
    const closed = event<[boolean]>(c, 'close');
    const e = new Promise<NetError>((r) => { c.on('error', r); });
    c.write(data);
    const err = await e;
    expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
    expect(['write', 'read']).toContain(err.syscall);
    expect((await closed)[0]).toBe(true);
    expect(received).toBeLessThan(data.length);
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('while a read is blocked in the kernel: the read returns and close follows', async () => {
    const p = await pair();
    const srv = await server(p, 80, (s) => { s.resume(); });
    const c = p.a.net.connect(80, '10.0.0.2');
    c.resume();
    await event(c, 'connect');
    await p.L.w.advance(10);
    expect([...p.a.alllwp].map((l) => l.l_name)).toEqual(['read']);
    c.destroy();
    expect(c.destroyed).toBe(true);
    expect((await event<[boolean]>(c, 'close'))[0]).toBe(false);
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('a kernel that halts under open sockets and a server closes them all, with no error', async () => {
    const p = await pair();
    const errors: Error[] = [];
    const accepted: NetSocket[] = [];
    const srv = await server(p, 80, (s) => { accepted.push(s.resume()); s.on('error', (e) => { errors.push(e); }); });
    srv.on('error', (e) => { errors.push(e); });
    const c = p.a.net.connect(80, '10.0.0.2');
    c.resume();
    c.on('error', (e) => { errors.push(e); });
    await event(srv, 'connection');
    const closes = Promise.all([event(srv, 'close'), event(accepted[0]!, 'close')]);
    await p.b.halt();
    await closes;
    expect(accepted[0]!.destroyed).toBe(true);
    expect(errors).toEqual([]);
    c.destroy();
    await event(c, 'close');
    expect(p.b.net.handles).toBe(0);
  });
});

describe('server', () => {
  it('close() stops accepting at once, and \'close\' waits for the open connections', async () => {
    const p = await pair();
    const conns: NetSocket[] = [];
    const srv = await server(p, 80, (s) => { conns.push(s); s.resume(); });
    const c1 = p.a.net.connect(80, '10.0.0.2');
    c1.resume();
    await event(srv, 'connection');
    let closed = false;
    srv.close(() => { closed = true; });
    await p.L.w.advance(10);
    expect(srv.listening).toBe(false);
    expect(pcbs(p.b, (x) => x.state === 'LISTEN')).toEqual([]);
    const n = await new Promise<number>((r) => { srv.getConnections((_e, k) => { r(k); }); });
    expect(n).toBe(1);
    const refused = p.a.net.connect(80, '10.0.0.2');
    expect(await errorOf(refused)).toMatchObject({ code: 'ECONNREFUSED' });
    expect(closed).toBe(false);
    c1.end();
    await event(c1, 'close');
    await p.L.w.advance(10);
    expect(closed).toBe(true);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('maxConnections: connections beyond it are dropped with a \'drop\' event', async () => {
    const p = await pair();
    const srv = await server(p, 80, (s) => { s.resume(); });
    srv.maxConnections = 1;
    const drops: unknown[] = [];
    srv.on('drop', (d) => { drops.push(d); });
    const c1 = p.a.net.connect(80, '10.0.0.2');
    await event(srv, 'connection');
    const c2 = p.a.net.connect(80, '10.0.0.2');
    c2.resume();
    await event(c2, 'close');
    expect(drops).toEqual([expect.objectContaining({ localPort: 80, remoteAddress: '10.0.0.1', remotePort: c2.localPort })]);
    c1.destroy();
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('listen on one address: accepted sockets name it without asking the kernel', async () => {
    const p = await pair();
    const srv = p.b.net.createServer();
    await listen(srv, 8080, '10.0.0.2');
    const got = event<[NetSocket]>(srv, 'connection');
    const c = p.a.net.connect(8080, '10.0.0.2');
    const [s] = await got;
    expect(s.localAddress).toBe('10.0.0.2');
    expect(s.localPort).toBe(8080);
    expect(s.server).toBe(srv);
    c.destroy();
    s.destroy();
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });
});

describe('options', () => {
  it('setNoDelay and setKeepAlive set TCP_NODELAY, SO_KEEPALIVE and TCP_KEEPIDLE in the kernel', async () => {
    const p = await pair();
    let accepted: NetSocket | null = null;
    const srv = p.b.net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 }, (s) => { accepted = s; });
    await listen(srv, 80);
    const c = p.a.net.connect(80, '10.0.0.2');
    await event(c, 'connect');
    expect(await p.a.sys.getsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY)).toBe(0);
    c.setNoDelay();
    c.setKeepAlive(true, 7_000);
    await p.L.w.advance(10);
    expect(await p.a.sys.getsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY)).not.toBe(0);
    expect(await p.a.sys.getsockopt(c.fd, SOL_SOCKET, SO_KEEPALIVE)).not.toBe(0);
    expect(await p.a.sys.getsockopt(c.fd, IPPROTO_TCP, TCP_KEEPIDLE)).toBe(7);
    const s = accepted!;
    expect(await p.b.sys.getsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY)).not.toBe(0);
    expect(await p.b.sys.getsockopt(s.fd, SOL_SOCKET, SO_KEEPALIVE)).not.toBe(0);
    expect(await p.b.sys.getsockopt(s.fd, IPPROTO_TCP, TCP_KEEPIDLE)).toBe(30);
    c.setNoDelay(false);
    await p.L.w.advance(10);
    expect(await p.a.sys.getsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY)).toBe(0);
    c.destroy();
    s.destroy();
    await closeServer(srv);
    await expectNoSleepers(p, p.a, p.b);
  });

  it('ref/unref: open sockets and servers count as handles until unref\'d or closed', async () => {
    const p = await pair();
    const srv = await server(p, 80, (s) => { s.resume(); });
    expect(p.b.net.handles).toBe(1);
    srv.unref();
    expect(p.b.net.handles).toBe(0);
    srv.ref();
    const c = p.a.net.connect(80, '10.0.0.2');
    c.resume();
    expect(p.a.net.handles).toBe(1);
    await event(c, 'connect');
    c.unref();
    expect(p.a.net.handles).toBe(0);
    c.ref();
    expect(p.a.net.handles).toBe(1);
    c.end();
    await event(c, 'close');
    expect(p.a.net.handles).toBe(0);
    await closeServer(srv);
    expect(p.b.net.handles).toBe(0);
  });
});

describe('local sockets', () => {
  it('connect(path) and listen(path) use PF_LOCAL', async () => {
    const w = simWorld();
    const k = await bootSim(w, { name: 'local', components: [rumpnet_component, rumplocal_component] });
    const srv = k.net.createServer((s) => { s.pipe(s); });
    await new Promise<void>((r) => { srv.listen('/tmp/echo.sock', r); });
    expect(srv.address()).toBe('/tmp/echo.sock');
    const c = k.net.connect('/tmp/echo.sock');
    const got = collect(c);
    c.end('over PF_LOCAL');
    expect((await got).toString()).toBe('over PF_LOCAL');
    expect(c.address()).toBe('/tmp/echo.sock');
    await event(c, 'close');
    await closeServer(srv);
    await w.advance(10);
    expect(k.alllwp.size).toBe(0);
  });
});

describe('on the Node host (real time)', () => {
  it('the timeout option applies while connecting; destroy() then ends the attempt', async () => {
    /*
     * On the sim host an unanswered connect gives up at once (virtual time
     * races to TCP's connection timer), so this one runs in real time: a
     * kernel alone on its bus asks ARP for 10.0.0.9, nobody answers, and
     * connect waits long past the 50 ms idle timeout.
     */
    const comps = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(new ShmifNet())];
    const k = await rump_init({ host: new NodeHost({ console: () => {} }), name: 'alone', components: comps, lockdebug: 'panic' });
    try {
      await ifconfig(k, 'shmif0', 'bus0', '10.0.0.1');
      const c = k.net.connect({ port: 80, host: '10.0.0.9', timeout: 50 });
      const t0 = performance.now();
      await event(c, 'timeout');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
      expect(c.connecting).toBe(true);
      expect([...k.alllwp].map((l) => l.l_name)).toEqual(['connect']);
      const closed = event<[boolean]>(c, 'close');
      c.destroy();
      expect((await closed)[0]).toBe(false);
      expect(k.alllwp.size).toBe(0);
      expect(k.net.handles).toBe(0);
      expect(k.panicstr).toBeNull();
    } finally {
      await k.halt();
    }
  });
});
