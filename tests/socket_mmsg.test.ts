/*
 * sendmmsg(2)/recvmmsg(2): several datagrams per call, over PF_LOCAL and
 * over UDP on lo0, with NetBSD's partial-success and MSG_WAITFORONE rules.
 */

import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumplocal_component } from '../net/lib/liblocal/local_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import {
  AF_INET, AF_LOCAL, MSG_DONTWAIT, MSG_WAITFORONE, SOCK_DGRAM, type RecvMmsghdr,
} from '../include/socket.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function msgs(n: number, size = 64): RecvMmsghdr[] {
  return Array.from({ length: n }, () => ({ buf: new Uint8Array(size), n: 0, from: null, flags: 0 }));
}

describe('sendmmsg/recvmmsg', () => {
  it('moves a batch of datagrams each way over a local socketpair, keeping boundaries and order', async () => {
    const w = simWorld();
    const k = await bootSim(w, { components: [rumpnet_component, rumplocal_component] });
    const [a, b] = await k.sys.socketpair(AF_LOCAL, SOCK_DGRAM);
    const sent = await k.sys.sendmmsg(a, ['one', 'two!', 'three', ''].map((t) => ({ buf: enc.encode(t) })));
    expect(sent).toBe(4);
    const r = msgs(8);
    const got = await k.sys.recvmmsg(b, r, MSG_DONTWAIT);
    expect(got).toBe(4);
    expect(r.slice(0, 4).map((m) => dec.decode(m.buf.subarray(0, m.n)))).toEqual(['one', 'two!', 'three', '']);
    expect(r[4]!.n).toBe(0);
  });

  it('MSG_WAITFORONE blocks for the first datagram only, then returns what is queued', async () => {
    const w = simWorld();
    const k = await bootSim(w, { components: [rumpnet_component, rumplocal_component] });
    const [a, b] = await k.sys.socketpair(AF_LOCAL, SOCK_DGRAM);
    const r = msgs(16);
    let done = -1;
    const p = k.sys.recvmmsg(b, r, MSG_WAITFORONE).then((n) => { done = n; });
    await w.advance(100);
    expect(done).toBe(-1);
    await k.sys.sendmmsg(a, [{ buf: enc.encode('x') }, { buf: enc.encode('y') }]);
    await p;
    expect(done).toBe(2);
    /* Without MSG_WAITFORONE or DONTWAIT an empty queue would block: nothing queued now. */
    await expect(k.sys.recvmmsg(b, r, MSG_DONTWAIT)).rejects.toMatchObject({ code: 'EAGAIN' });
  });

  it('an error after the first message ends the call with the count sent (NetBSD)', async () => {
    const w = simWorld();
    const k = await bootSim(w, { components: [rumpnet_component, rumplocal_component] });
    const [a] = await k.sys.socketpair(AF_LOCAL, SOCK_DGRAM);
    /* The second message is larger than the send buffer: EMSGSIZE, after one was sent. */
    const n = await k.sys.sendmmsg(a, [{ buf: enc.encode('ok') }, { buf: new Uint8Array(1 << 20) }, { buf: enc.encode('never') }]);
    expect(n).toBe(1);
    await expect(k.sys.sendmmsg(a, [{ buf: new Uint8Array(1 << 20) }])).rejects.toMatchObject({ code: 'EMSGSIZE' });
    await expect(k.sys.sendmmsg(99, [{ buf: enc.encode('x') }])).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('UDP on lo0: per-message destinations and senders', async () => {
    const w = simWorld();
    const k = await bootSim(w, { components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component] });
    const rx1 = await k.sys.socket(AF_INET, SOCK_DGRAM);
    const rx2 = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.bind(rx1, { sin_family: AF_INET, sin_port: 7001, sin_addr: '127.0.0.1' });
    await k.sys.bind(rx2, { sin_family: AF_INET, sin_port: 7002, sin_addr: '127.0.0.1' });
    const tx = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.bind(tx, { sin_family: AF_INET, sin_port: 7000, sin_addr: '127.0.0.1' });
    const to1 = { sin_family: AF_INET, sin_port: 7001, sin_addr: '127.0.0.1' } as const;
    const to2 = { sin_family: AF_INET, sin_port: 7002, sin_addr: '127.0.0.1' } as const;
    expect(await k.sys.sendmmsg(tx, [
      { buf: enc.encode('a1'), to: to1 }, { buf: enc.encode('b1'), to: to2 }, { buf: enc.encode('a2'), to: to1 },
    ])).toBe(3);
    const r = msgs(4);
    expect(await k.sys.recvmmsg(rx1, r, MSG_WAITFORONE)).toBe(2);
    expect(r.slice(0, 2).map((m) => dec.decode(m.buf.subarray(0, m.n)))).toEqual(['a1', 'a2']);
    expect(r[0]!.from).toEqual({ sin_family: AF_INET, sin_port: 7000, sin_addr: '127.0.0.1' });
    expect(await k.sys.recvmmsg(rx2, r, MSG_WAITFORONE)).toBe(1);
    expect(dec.decode(r[0]!.buf.subarray(0, r[0]!.n))).toBe('b1');
  });
});
