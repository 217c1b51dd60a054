/*
 * TCP across a router (a -- r -- c on two buses): path MTU discovery
 * (RFC 1191: DF on every segment, the router's "need to fragment" with the
 * next-hop MTU shrinks the connection's segments, tcp_ctlinput ->
 * tcp_mtudisc) and ICMP errors that do not belong to the connection
 * (a forged sequence number, RFC 5927) being ignored.  Also: a kernel's
 * listener closing with connections not yet accepted resets them, and a
 * lossy run repeated with the same seeds is identical segment for segment.
 */
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { RTF_GATEWAY, RTF_STATIC, RTM_ADD } from '../net/lib/libnet/route.ts';
import { SIOCSIFMTU } from '../include/if.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { TCP_INFO } from '../net/lib/libnetinet/tcp_var.ts';
import { tcpstat_read, type TcpInfo } from '../net/lib/libnetinet/tcp_usrreq.ts';
import { inet_stats } from '../net/lib/libnetinet/netinet_component.ts';
import {
  a4, capture, connect, expectBytes, expectErr, ifconfig, lab, pair, pattern, readn, sin, writeall, type Seg,
} from './tcp_helpers.ts';

function route(k: Kernel, dst: string, plen: number, gw: string): void {
  const r = k.rt!.rtrequest(RTM_ADD, { rti_dst: a4(dst), rti_plen: plen, rti_gateway: a4(gw), rti_flags: RTF_GATEWAY | RTF_STATIC });
  expect(r.error).toBe(0);
}

describe('TCP through a router', () => {
  it('path MTU discovery: the router\'s "need to fragment" shrinks the segments; the data arrives whole', async () => {
    const L = lab(21);
    const a = await L.boot('a');
    const r = await L.boot('r');
    const c = await L.boot('c');
    await ifconfig(a, 'shmif0', 'bus1', '10.0.1.1');
    await ifconfig(r, 'shmif0', 'bus1', '10.0.1.254');
    await ifconfig(r, 'shmif1', 'bus2', '10.0.2.254');
    await ifconfig(c, 'shmif0', 'bus2', '10.0.2.1');
    route(a, '0.0.0.0', 0, '10.0.1.254');
    route(c, '0.0.0.0', 0, '10.0.2.254');
    await r.sys.sysctl('net.inet.ip.forwarding', 1);
    const s = await r.sys.socket(AF_INET, SOCK_DGRAM);
    await r.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif1', ifr_mtu: 1000 });
    await r.sys.close(s);
    const cap2 = capture(L.net.bus('bus2'));
    const ls = await c.sys.socket(AF_INET, SOCK_STREAM);
    await c.sys.bind(ls, sin('0.0.0.0', 80));
    await c.sys.listen(ls, 5);
    const x = await a.sys.socket(AF_INET, SOCK_STREAM);
    const acc = c.sys.accept(ls);
    await a.sys.connect(x, sin('10.0.2.1', 80));
    const { fd } = await acc;
    const data = pattern(300_000);
    const [got] = await Promise.all([readn(c, fd, data.length), writeall(a, x, data)]);
    expectBytes(got, data);
    /* Both ends' interfaces are 1500: the SYNs said 1460, the router taught a 1000. */
    const info = await a.sys.getsockopt(x, IPPROTO_TCP, TCP_INFO) as TcpInfo;
    expect(info.tcpi_snd_mss).toBe(1000 - 40 - 12);
    expect(inet_stats(r).ip.ips_cantfrag).toBeGreaterThan(0);
    expect(inet_stats(r).ip.ips_fragmented).toBe(0);
    expect(Math.max(...cap2.segs.map((g: Seg) => g.len))).toBe(948);
    expect(tcpstat_read(a).tcps_sndrexmitpack).toBeGreaterThan(0);
  });
});

describe('TCP and ICMP errors', () => {
  it('a router\'s "unreachable" is a soft error while connecting, fatal after a few retransmissions (EHOSTUNREACH)', async () => {
    const L = lab(22);
    const a = await L.boot('a');
    const r = await L.boot('r');
    await ifconfig(a, 'shmif0', 'bus1', '10.0.1.1');
    await ifconfig(r, 'shmif0', 'bus1', '10.0.1.254');
    route(a, '0.0.0.0', 0, '10.0.1.254');
    await r.sys.sysctl('net.inet.ip.forwarding', 1);
    const x = await a.sys.socket(AF_INET, SOCK_STREAM);
    const t0 = L.w.nowMs();
    await expectErr(a.sys.connect(x, sin('10.0.9.1', 80)), 'EHOSTUNREACH');
    /* SYNs at 0, 1, 3, 7 and 15 s; the fourth retransmission's error ends it. */
    expect(Math.round(L.w.nowMs() - t0)).toBe(15_000);
    expect(inet_stats(a).icmp.icps_inhist[3]).toBe(5);
  });
});

describe('TCP listener close and determinism', () => {
  it('closing a listener resets the connections waiting to be accepted', async () => {
    const p = await pair();
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    const x = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await p.a.sys.connect(x, sin('10.0.0.2', 80));
    await p.L.w.advance(1);
    await p.b.sys.close(ls);
    await p.L.w.advance(1);
    await expectErr(p.a.sys.recv(x, new Uint8Array(4)), 'ECONNRESET');
    expect(p.b.tcp!.tcbtable.inpt_queue.length).toBe(0);
    expect(p.b.rumpnet!.nsockets).toBe(0);
  });

  it('a lossy transfer repeated with the same seeds is identical segment for segment', async () => {
    const once = async (): Promise<string> => {
      const p = await pair(9);
      p.bus.setLatency(2e6);
      p.bus.setFaults({ seed: 4, drop: 0.03, reorder: 0.03, duplicate: 0.01 });
      const cap = capture(p.bus);
      const { c, s } = await connect(p);
      const data = pattern(400_000);
      await Promise.all([readn(p.b, s, data.length), writeall(p.a, c, data)]);
      const h = createHash('sha256');
      for (const g of cap.segs) h.update(`${g.t} ${g.src} ${g.seq} ${g.ack} ${g.flags} ${g.win} ${g.len}\n`);
      return h.digest('hex') + JSON.stringify(tcpstat_read(p.a));
    };
    expect(await once()).toBe(await once());
  });
});
