/*
 * node:http, unchanged, on kernel sockets: Node's HTTP server runs on one
 * kernel and its client on another, joined by a shmif bus under the sim
 * host (deterministic: Node's HTTP machinery runs on ticks and promise
 * jobs between the sim world's events, and uses no timer on these paths).
 * Requests and bodies both ways, keep-alive pooling over one connection,
 * Connection: close leaving the TIME_WAIT on the server (it closes
 * first), a client without an agent, a large streamed response with
 * backpressure, and a refused connection as the request's error.
 */

import { describe, it, expect } from 'vitest';
import * as http from 'node:http';
import { Readable } from 'node:stream';
import '../lib/nodenet/net.ts';
import { createHttpAgent, serveHttp } from '../lib/nodenet/http.ts';
import type { NetServer } from '../lib/nodenet/net.ts';
import { capture, pair, pcbs, pattern, expectBytes, segstr, type Pair } from './tcp_helpers.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  localPort: number;
}

function request(opts: http.RequestOptions, body?: Uint8Array | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      const chunks: Buffer[] = [];
      /* A keep-alive agent takes the socket back at the end: note its port now. */
      const localPort = res.socket.localPort!;
      res.on('data', (d: Buffer) => { chunks.push(d); });
      res.on('end', () => {
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), localPort });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An HTTP server on b:80 (GET: "hello PATH from ADDR", POST: the body back, /big: 2 MiB streamed). */
async function httpServer(p: Pair, big: Uint8Array = new Uint8Array(0)): Promise<{ hs: http.Server; srv: NetServer; connections: () => number }> {
  const hs = http.createServer((req, res) => {
    if (req.method === 'POST') {
      res.setHeader('content-type', 'application/octet-stream');
      req.pipe(res);
    } else if (req.url === '/big') {
      res.setHeader('content-length', big.length);
      Readable.from(chunksOf(big, 16 * 1024)).pipe(res);
    } else {
      res.end(`hello ${req.url} from ${req.socket.remoteAddress}`);
    }
  });
  let n = 0;
  const srv = serveHttp(p.b.net, hs);
  srv.on('connection', () => { n++; });
  await new Promise<void>((r) => { srv.listen(80, r); });
  return { hs, srv, connections: () => n };
}

function* chunksOf(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, Math.min(data.length, off + size));
}

async function close(srv: NetServer): Promise<void> {
  await new Promise<void>((r) => { srv.close(() => { r(); }); });
}

/** Every syscall made for the sockets has returned. */
async function expectIdle(p: Pair): Promise<void> {
  await p.L.w.advance(10);
  expect([...p.a.alllwp, ...p.b.alllwp].map((l) => l.l_name)).toEqual([]);
}

describe('node:http on kernel sockets', () => {
  it('GET and POST through an agent: status, headers, bodies, the peer\'s address', async () => {
    const p = await pair();
    const { srv } = await httpServer(p);
    const agent = createHttpAgent(p.a.net);
    const r = await request({ host: '10.0.0.2', port: 80, path: '/index.html', agent });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('hello /index.html from 10.0.0.1');
    expect(r.headers['content-length']).toBe('31');
    const payload = pattern(100_000, 5);
    const e = await request({ host: '10.0.0.2', port: 80, path: '/echo', method: 'POST', agent }, payload);
    expect(e.headers['content-type']).toBe('application/octet-stream');
    expectBytes(e.body, payload);
    agent.destroy();
    await close(srv);
    await expectIdle(p);
  });

  it('keep-alive: five requests share one connection', async () => {
    const p = await pair();
    const { srv, connections } = await httpServer(p);
    const agent = createHttpAgent(p.a.net, { keepAlive: true });
    const ports = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const r = await request({ host: '10.0.0.2', port: 80, path: `/${i}`, agent });
      expect(r.body.toString()).toBe(`hello /${i} from 10.0.0.1`);
      expect(r.headers.connection).toBe('keep-alive');
      ports.add(r.localPort);
    }
    expect(ports.size).toBe(1);
    expect(connections()).toBe(1);
    expect(pcbs(p.b, (x) => x.lport === 80).map((x) => x.state).sort()).toEqual(['ESTABLISHED', 'LISTEN']);
    agent.destroy();
    await close(srv);
    await expectIdle(p);
  });

  it('Connection: close: a connection per request, the server closes first and keeps the TIME_WAITs', async () => {
    const p = await pair();
    const { srv, connections } = await httpServer(p);
    const agent = createHttpAgent(p.a.net);
    for (let i = 0; i < 20; i++) {
      const r = await request({ host: '10.0.0.2', port: 80, path: '/', agent });
      expect(r.headers.connection).toBe('close');
    }
    await p.L.w.advance(100);
    expect(connections()).toBe(20);
    const server = pcbs(p.b, (x) => x.lport === 80 && x.fport !== 0);
    expect(server.map((x) => x.state)).toEqual(new Array(20).fill('TIME_WAIT'));
    expect(pcbs(p.a)).toEqual([]);
    /* 10.0.0.1 is on the server's own subnet: MSLT's local class, 2 x 5 s. */
    expect(server.every((x) => x.msl_class === 'local' && x.tw_remaining_ms > 0 && x.tw_remaining_ms <= 10_000)).toBe(true);
    await close(srv);
    await expectIdle(p);
  });

  it('a client without an agent, through the createConnection option', async () => {
    const p = await pair();
    const { srv } = await httpServer(p);
    const r = await request({ host: '10.0.0.2', port: 80, path: '/direct', createConnection: () => p.a.net.createConnection(80, '10.0.0.2') });
    expect(r.body.toString()).toBe('hello /direct from 10.0.0.1');
    await close(srv);
    await expectIdle(p);
  });

  it('a 2 MiB response streams through with backpressure and arrives intact', async () => {
    const p = await pair();
    const big = pattern(2 << 20, 11);
    const { srv } = await httpServer(p, big);
    const agent = createHttpAgent(p.a.net);
    const r = await request({ host: '10.0.0.2', port: 80, path: '/big', agent });
    expect(r.headers['content-length']).toBe(String(big.length));
    expectBytes(r.body, big);
    await close(srv);
    await expectIdle(p);
  });

  it('is deterministic: the same seed puts the same segments on the wire', async () => {
    const run = async (): Promise<string[]> => {
      const p = await pair(7);
      const cap = capture(p.bus);
      const { srv } = await httpServer(p);
      const agent = createHttpAgent(p.a.net);
      for (let i = 0; i < 5; i++) await request({ host: '10.0.0.2', port: 80, path: `/${i}`, method: 'POST', agent }, `body ${i}`);
      await close(srv);
      await expectIdle(p);
      cap.stop();
      return cap.segs.map((g) => `${g.t} ${segstr(g)}`);
    };
    const one = await run();
    expect(one.length).toBeGreaterThan(40);
    expect(await run()).toEqual(one);
  });

  it('nobody listening: the request fails with ECONNREFUSED', async () => {
    const p = await pair();
    const agent = createHttpAgent(p.a.net);
    await expect(request({ host: '10.0.0.2', port: 8080, path: '/', agent }))
      .rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '10.0.0.2', port: 8080 });
    await expectIdle(p);
  });
});
