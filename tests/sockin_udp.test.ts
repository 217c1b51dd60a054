/*
 * sockin, UDP: a kernel socket and a Node dgram socket on 127.0.0.1 echo
 * datagrams both ways, with the sender's address; connected sockets hear
 * only their peer; EADDRINUSE; getsockname after an implicit bind.
 */
import { describe, it, expect } from 'vitest';
import * as dgram from 'node:dgram';
import { bootSockin, onCleanup, sin } from './sockin_helpers.ts';
import { PF_INET, SOCK_DGRAM, type SockaddrIn } from '../include/socket.ts';

function nodeUdp(): Promise<dgram.Socket> {
  const u = dgram.createSocket('udp4');
  onCleanup(() => { u.close(); });
  return new Promise((r) => { u.bind(0, '127.0.0.1', () => { r(u); }); });
}

describe('sockin UDP', () => {
  it('echoes between a kernel socket and a Node dgram socket', async () => {
    const k = await bootSockin();
    const s = await k.sys.socket(PF_INET, SOCK_DGRAM);
    await k.sys.bind(s, sin('127.0.0.1', 0));
    const me = (await k.sys.getsockname(s)) as SockaddrIn;
    expect(me.sin_addr).toBe('127.0.0.1');
    expect(me.sin_port).toBeGreaterThan(0);
    const peer = await nodeUdp();
    const pport = peer.address().port;
    /* Node echoes what it receives. */
    peer.on('message', (msg, rinfo) => { peer.send(msg, rinfo.port, rinfo.address); });
    for (let i = 0; i < 5; i++) {
      const payload = new TextEncoder().encode(`ping ${i}`);
      expect(await k.sys.sendto(s, payload, 0, sin('127.0.0.1', pport))).toBe(payload.length);
      const buf = new Uint8Array(100);
      const r = await k.sys.recvfrom(s, buf);
      expect(new TextDecoder().decode(buf.subarray(0, r.n))).toBe(`ping ${i}`);
      expect(r.from).toEqual(sin('127.0.0.1', pport));
    }
    await k.sys.close(s);
  });

  it('binds implicitly on connect, filters other senders, refuses a busy port', async () => {
    const k = await bootSockin();
    const a = await nodeUdp();
    const b = await nodeUdp();
    const s = await k.sys.socket(PF_INET, SOCK_DGRAM);
    await k.sys.connect(s, sin('127.0.0.1', a.address().port));
    const me = (await k.sys.getsockname(s)) as SockaddrIn;
    expect(me.sin_port).toBeGreaterThan(0);
    expect(await k.sys.getpeername(s)).toEqual(sin('127.0.0.1', a.address().port));
    /* b is not the peer: dropped; a's datagram arrives. */
    b.send('from b', me.sin_port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    a.send('from a', me.sin_port, '127.0.0.1');
    const buf = new Uint8Array(100);
    const n = await k.sys.recv(s, buf);
    expect(new TextDecoder().decode(buf.subarray(0, n))).toBe('from a');
    /* The port is busy for a second socket. */
    const s2 = await k.sys.socket(PF_INET, SOCK_DGRAM);
    await expect(k.sys.bind(s2, sin('127.0.0.1', me.sin_port))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(k.sys.bind(s2, sin('127.0.0.1', a.address().port))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    /* An address the host does not have. */
    await expect(k.sys.bind(s2, sin('192.0.2.1', 0))).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
  });
});
