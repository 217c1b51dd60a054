/*
 * One application, unchanged, on sockin (host sockets, Node host) and on
 * the in-kernel stack (rumpnet_net + rumpnet_netinet over lo0 at
 * 127.0.0.1, sim host): an echo server and client written only against
 * the syscall surface (k.sys.socket/bind/listen/accept/connect/...).
 * UDP runs on both.  TCP runs on sockin, and on netinet once the kernel
 * has a PF_INET SOCK_STREAM protocol; until then the test checks that
 * netinet refuses the socket (so it cannot pass by accident either way).
 */
import { describe, it, expect } from 'vitest';
import { bootSockin, sin } from './sockin_helpers.ts';
import { simWorld, bootSim } from './kernel.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { PF_INET, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, type SockaddrIn } from '../include/socket.ts';

/* ------------------------------------------------ the application */

const MSGS = ['one', 'two', 'three'];

/** UDP echo: the server answers each datagram to its sender; the client sends and collects replies. */
async function udpEchoApp(k: Kernel): Promise<string[]> {
  const srv = await k.sys.socket(PF_INET, SOCK_DGRAM);
  await k.sys.bind(srv, sin('127.0.0.1', 0));
  const port = ((await k.sys.getsockname(srv)) as SockaddrIn).sin_port;
  const server = (async () => {
    const buf = new Uint8Array(1500);
    for (let i = 0; i < MSGS.length; i++) {
      const r = await k.sys.recvfrom(srv, buf);
      await k.sys.sendto(srv, buf.subarray(0, r.n), 0, r.from!);
    }
  })();
  const cli = await k.sys.socket(PF_INET, SOCK_DGRAM);
  await k.sys.connect(cli, sin('127.0.0.1', port));
  const replies: string[] = [];
  const buf = new Uint8Array(1500);
  for (const m of MSGS) {
    await k.sys.send(cli, m);
    const n = await k.sys.recv(cli, buf);
    replies.push(new TextDecoder().decode(buf.subarray(0, n)));
  }
  await server;
  await k.sys.close(cli);
  await k.sys.close(srv);
  return replies;
}

/** TCP echo: the server echoes one connection until EOF; the client half-closes and reads it all back. */
async function tcpEchoApp(k: Kernel, size: number): Promise<{ sent: Uint8Array; got: Uint8Array }> {
  const ls = await k.sys.socket(PF_INET, SOCK_STREAM);
  await k.sys.bind(ls, sin('127.0.0.1', 0));
  await k.sys.listen(ls, 4);
  const port = ((await k.sys.getsockname(ls)) as SockaddrIn).sin_port;
  const server = (async () => {
    const { fd } = await k.sys.accept(ls);
    const buf = new Uint8Array(8192);
    for (;;) {
      const n = await k.sys.read(fd, buf);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += await k.sys.write(fd, buf.subarray(off, n));
    }
    await k.sys.close(fd);
  })();
  const sent = new Uint8Array(size);
  for (let i = 0; i < size; i++) sent[i] = (i * 31 + 7) & 0xff;
  const cli = await k.sys.socket(PF_INET, SOCK_STREAM);
  await k.sys.connect(cli, sin('127.0.0.1', port));
  const reader = (async () => {
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(8192);
    for (;;) {
      const n = await k.sys.read(cli, buf);
      if (n === 0) break;
      parts.push(buf.slice(0, n));
    }
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  })();
  let off = 0;
  while (off < size) off += await k.sys.write(cli, sent.subarray(off));
  await k.sys.shutdown(cli, SHUT_WR);
  const got = await reader;
  await server;
  await k.sys.close(cli);
  await k.sys.close(ls);
  return { sent, got };
}

/** Byte equality without a deep-equality walk (slow on 300 kB in the test runner). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/* -------------------------------------------------- the two stacks */

function bootNetinet(): Promise<Kernel> {
  return bootSim(simWorld({ seed: 6 }), {
    name: 'netinet', components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component],
  });
}

describe('one application on sockin and on netinet', () => {
  it('UDP echo on sockin', async () => {
    expect(await udpEchoApp(await bootSockin())).toEqual(MSGS);
  });

  it('UDP echo on netinet (lo0)', async () => {
    expect(await udpEchoApp(await bootNetinet())).toEqual(MSGS);
  });

  it('TCP echo on sockin', async () => {
    const { sent, got } = await tcpEchoApp(await bootSockin(), 300_000);
    expect(got.length).toBe(sent.length);
    expect(same(got, sent)).toBe(true);
  });

  it('TCP echo on netinet (lo0), or a clear refusal while netinet has no TCP', async () => {
    const k = await bootNetinet();
    if (net_of(k).domains.pffindtype(PF_INET, SOCK_STREAM) === null) {
      await expect(k.sys.socket(PF_INET, SOCK_STREAM)).rejects.toMatchObject({ code: expect.stringMatching(/^EPROTO(TYPE|NOSUPPORT)$/) });
      return;
    }
    const { sent, got } = await tcpEchoApp(k, 300_000);
    expect(got.length).toBe(sent.length);
    expect(same(got, sent)).toBe(true);
  });
});
