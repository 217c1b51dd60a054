/*
 * kernel.net on libsockin (PF_INET over the host's sockets, Node host,
 * 127.0.0.1 only): the same sockets, unchanged, over a different stack.
 * An echo between two sockets of the kernel, Node's own net talking to a
 * kernel server and a kernel client talking to Node's server, a refused
 * connection, and keepalive options where sockin lacks TCP_KEEPIDLE.
 */

import { describe, it, expect } from 'vitest';
import * as net from 'node:net';
import '../lib/nodenet/net.ts';
import type { AddressInfo, NetServer, NetSocket } from '../lib/nodenet/net.ts';
import { bootSockin, closedPort, onCleanup } from './sockin_helpers.ts';
import { SO_KEEPALIVE, SOL_SOCKET } from '../include/socket.ts';

function collect(s: net.Socket | NetSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => { chunks.push(d); });
  return new Promise((resolve, reject) => {
    s.once('end', () => { resolve(Buffer.concat(chunks)); });
    s.once('error', reject);
  });
}

async function listen(srv: NetServer | net.Server): Promise<number> {
  await new Promise<void>((r) => { (srv as NetServer).listen(0, '127.0.0.1', () => { r(); }); });
  return (srv.address() as AddressInfo).port;
}

function closed(s: net.Socket | NetSocket): Promise<void> {
  return new Promise((r) => { s.once('close', () => { r(); }); });
}

describe('kernel.net on libsockin', () => {
  it('echo between a kernel server and a kernel client, 1 MiB', async () => {
    const k = await bootSockin();
    const srv = k.net.createServer((s) => { s.pipe(s); });
    onCleanup(() => { srv.close(); });
    const port = await listen(srv);
    expect(srv.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
    const c = k.net.connect(port, '127.0.0.1');
    const got = collect(c);
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    c.end(data);
    const back = await got;
    expect(back.length).toBe(data.length);
    expect(back.equals(data)).toBe(true);
    expect(c.remoteAddress).toBe('127.0.0.1');
    expect(c.remotePort).toBe(port);
    expect(c.localAddress).toBe('127.0.0.1');
    await closed(c);
    await new Promise<void>((r) => { srv.close(() => { r(); }); });
  });

  it('Node\'s net client talks to a kernel server', async () => {
    const k = await bootSockin();
    let peer = '';
    const srv = k.net.createServer((s) => {
      peer = `${s.remoteAddress}`;
      s.pipe(s);
    });
    onCleanup(() => { srv.close(); });
    const port = await listen(srv);
    const c = net.connect(port, '127.0.0.1');
    onCleanup(() => { c.destroy(); });
    const got = collect(c);
    c.end('from the host');
    expect((await got).toString()).toBe('from the host');
    expect(peer).toBe('127.0.0.1');
    await closed(c);
  });

  it('a kernel client talks to Node\'s net server', async () => {
    const k = await bootSockin();
    const hs = net.createServer((s) => { s.end(`host says hi to ${s.remotePort}`); s.resume(); });
    onCleanup(() => { hs.close(); });
    const port = await listen(hs);
    const c = k.net.connect({ port, host: 'localhost' });
    const got = collect(c);
    await new Promise<void>((r) => { c.once('connect', r); });
    expect((await got).toString()).toBe(`host says hi to ${c.localPort}`);
    await closed(c);
  });

  it('a closed port is ECONNREFUSED; keepalive works without TCP_KEEPIDLE', async () => {
    const k = await bootSockin();
    const port = await closedPort();
    const c = k.net.connect(port, '127.0.0.1');
    await expect(new Promise((_r, reject) => { c.once('error', reject); }))
      .rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port });

    const srv = k.net.createServer((s) => { s.resume(); });
    onCleanup(() => { srv.close(); });
    const p2 = await listen(srv);
    const c2 = k.net.connect(p2, '127.0.0.1');
    await new Promise<void>((r) => { c2.once('connect', r); });
    /* sockin answers ENOPROTOOPT to TCP_KEEPIDLE: SO_KEEPALIVE is still set, and no error surfaces. */
    c2.setKeepAlive(true, 5000);
    c2.setNoDelay(true);
    await new Promise((r) => { setTimeout(r, 20); });
    expect(await k.sys.getsockopt(c2.fd, SOL_SOCKET, SO_KEEPALIVE)).not.toBe(0);
    expect(c2.destroyed).toBe(false);
    c2.destroy();
    await closed(c2);
  });
});
