/*
 * rump.netstat against two kernels on a bus: the connection list (TCP and
 * UDP PCBs, TIME_WAIT and vestigial TIME_WAIT entries), statistics in
 * NetBSD's words, the interface table and the routing statistics.
 */

import { describe, expect, it } from 'vitest';
import { main as netstat } from '../bin/rump.netstat.ts';
import { main as ping } from '../bin/rump.ping.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { sin } from './inet_helpers.ts';
import { pair, tool } from './tools_helpers.ts';

const HDR = 'Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n';

/** a listens on 80 and accepts b's connection; resolves to the descriptors and b's port. */
async function connection(a: Kernel, b: Kernel): Promise<{ ls: number; as: number; bs: number; bport: number }> {
  const ls = await a.sys.socket(AF_INET, SOCK_STREAM);
  await a.sys.bind(ls, sin('0.0.0.0', 80));
  await a.sys.listen(ls, 5);
  const bs = await b.sys.socket(AF_INET, SOCK_STREAM);
  await b.sys.connect(bs, sin('10.0.0.1', 80));
  const { fd: as } = await a.sys.accept(ls);
  const bport = ((await b.sys.getsockname(bs)) as { sin_port: number }).sin_port;
  return { ls, as, bs, bport };
}

describe('rump.netstat', () => {
  it('-an lists every TCP and UDP socket; without -a the listeners are left out', async () => {
    const { a, b } = await pair();
    const { bport, bs } = await connection(a, b);
    const us = await a.sys.socket(AF_INET, SOCK_DGRAM);
    await a.sys.bind(us, sin('0.0.0.0', 53));
    await b.sys.send(bs, 'hello');
    /* The data has arrived once a poll of a's socket says so. */
    await ping(a.sys, ['-c', '1', '10.0.0.2'], { out: () => undefined, err: () => undefined });
    const est = `tcp        5      0  ${'10.0.0.1.80'.padEnd(22)} ${`10.0.0.2.${bport}`.padEnd(22)} ESTABLISHED\n`;
    expect(await tool(netstat, a.sys, '-an')).toEqual({
      code: 0, err: '',
      out: 'Active Internet connections (including servers)\n' + HDR +
        'tcp        0      0  *.80                   *.*                    LISTEN\n' + est +
        'udp        0      0  *.53                   *.*\n',
    });
    expect((await tool(netstat, a.sys)).out).toBe(`Active Internet connections\n${HDR}${est}`);
    expect((await tool(netstat, a.sys, '-an', '-p', 'udp')).out).toBe('Active Internet connections (including servers)\n' + HDR +
      'udp        0      0  *.53                   *.*\n');
    /* A connected UDP socket with a datagram waiting (Recv-Q counts its address too, as NetBSD's sb_cc). */
    const bu = await b.sys.socket(AF_INET, SOCK_DGRAM);
    await b.sys.connect(bu, sin('10.0.0.1', 53));
    await b.sys.send(bu, 'x');
    expect((await tool(netstat, b.sys, '-n', '-p', 'udp')).out).toMatch(/^udp        0      0  10\.0\.0\.2\.\d+ +10\.0\.0\.1\.53\n$/m);
  });

  it('TIME_WAIT, full and vestigial; -V shows the time left and the MSL class', async () => {
    const { a, b } = await pair();
    for (const vtw of [0, 1]) {
      await a.sys.sysctl('net.inet.tcp.vtw.enable', vtw);
      const { ls, as, bs, bport } = await connection(a, b);
      /* a closes first and ends in TIME_WAIT. */
      await a.sys.close(as);
      await a.sys.close(ls);
      await b.sys.close(bs);
      await tool(ping, a.sys, '-c', '1', '10.0.0.2');
      const r = await tool(netstat, a.sys, '-an');
      const tw = new RegExp(`^tcp        0      0  10\\.0\\.0\\.1\\.80 +10\\.0\\.0\\.2\\.${bport} +TIME_WAIT${vtw === 1 ? ' \\(vestigial\\)' : ''}$`, 'm');
      expect(r.out).toMatch(tw);
      const v = await tool(netstat, a.sys, '-anV');
      expect(v.out).toContain(`${HDR.slice(0, -6)}State         Expires\n`);
      expect(v.out).toMatch(new RegExp(`10\\.0\\.0\\.2\\.${bport} +TIME_WAIT +\\d+\\.\\d{3}ms local${vtw === 1 ? ' \\(vestigial\\)' : ''}$`, 'm'));
      /* Let it expire. */
      await tool(ping, a.sys, '-c', '1', '-w', '120', '10.0.0.99');
      expect((await tool(netstat, a.sys, '-an')).out).not.toContain('TIME_WAIT');
    }
  });

  it('-s: NetBSD\'s wording, counts that match the kernel, -ss without zeros, -p one protocol', async () => {
    const { a } = await pair();
    await tool(ping, a.sys, '-c', '2', '-i', '0.1', '10.0.0.2');
    const s = await tool(netstat, a.sys, '-s');
    expect(s.code).toBe(0);
    expect(s.out.split('\n').filter((l) => /^\w+:$/.test(l))).toEqual(['tcp:', 'udp:', 'ip:', 'icmp:', 'arp:']);
    const ip = a.inet!.ipstat;
    expect(s.out).toContain(`ip:\n\t${ip.ips_total} total packets received\n\t0 bad header checksums\n\t0 with size smaller than minimum\n`);
    expect(s.out).toContain('\t0 packets forwarded (0 packets fast forwarded)\n');
    expect(s.out).toContain('tcp:\n\t0 packets sent\n\t\t0 data packets (0 bytes)\n\t\t0 data packets (0 bytes) retransmitted\n\t\t0 ack-only packets (0 delayed)\n');
    expect(s.out).toContain('\t0 PCB hash misses\n');
    expect(s.out).toContain('\tInput histogram:\n\t\techo reply: 2\n');
    const ss = await tool(netstat, a.sys, '-ss', '-p', 'icmp');
    expect(ss.out).toBe('icmp:\n\tInput histogram:\n\t\techo reply: 2\n');
    const arp = await tool(netstat, a.sys, '-ss', '-p', 'arp');
    const st = a.inet!.arpstat;
    expect(arp.out).toBe(`arp:\n\t${st.arps_sndtotal} packets sent\n\t\t${st.arps_sndrequest} request packets\n` +
      `\t${st.arps_rcvtotal} packets received\n\t\t1 reply packet\n\t\t1 valid request packet\n\t\t1 broadcast/multicast packet\n` +
      '\t1 packet deferred pending ARP resolution\n\t\t1 sent\n');
    const udp = await tool(netstat, a.sys, '-s', '-p', 'udp');
    expect(udp.out).toBe('udp:\n\t0 datagrams received\n\t0 with incomplete header\n\t0 with bad data length field\n' +
      '\t0 with bad checksum\n\t0 dropped due to no socket\n\t0 broadcast/multicast datagrams dropped due to no socket\n' +
      '\t0 dropped due to full socket buffers\n\t0 delivered\n\t0 PCB hash misses\n\t0 datagrams output\n');
    expect(await tool(netstat, a.sys, '-s', '-p', 'sctp')).toEqual({ code: 1, out: '', err: 'netstat: sctp: unknown or uninstrumented protocol\n' });
  });

  it('-i: a <Link> row and a row per address, with the counters; -b bytes; -I one interface', async () => {
    const { a } = await pair();
    await tool(ping, a.sys, '-c', '1', '10.0.0.2');
    const ifp = a.ifnet!.byname.get('shmif0')!;
    const mac = (await tool(netstat, a.sys, '-i')).out.match(/<Link> +([0-9a-f:]{17})/)![1];
    const c = `${String(ifp.if_ipackets).padStart(8)}     0 ${String(ifp.if_opackets).padStart(8)}     0     0`;
    expect(await tool(netstat, a.sys, '-i')).toEqual({
      code: 0, err: '',
      out: 'Name   Mtu   Network       Address              Ipkts Ierrs    Opkts Oerrs Colls\n' +
        'lo0    33624 <Link>                                 0     0        0     0     0\n' +
        'lo0    33624 127/8         127.0.0.1                0     0        0     0     0\n' +
        `shmif0 1500  <Link>        ${mac} ${c}\n` +
        `shmif0 1500  10.0.0/24     ${'10.0.0.1'.padEnd(17)} ${c}\n`,
    });
    expect((await tool(netstat, a.sys, '-i', '-b', '-I', 'shmif0')).out).toBe(
      'Name   Mtu   Network       Address               Ibytes     Obytes\n' +
      `shmif0 1500  <Link>        ${mac} ${String(ifp.if_ibytes).padStart(10)} ${String(ifp.if_obytes).padStart(10)}\n` +
      `shmif0 1500  10.0.0/24     ${'10.0.0.1'.padEnd(17)} ${String(ifp.if_ibytes).padStart(10)} ${String(ifp.if_obytes).padStart(10)}\n`);
    /* A down interface is starred. */
    ifp.if_flags &= ~1;
    expect((await tool(netstat, a.sys, '-I', 'shmif0')).out).toMatch(/\nshmif0\* 1500  <Link>/);
  });

  it('-rs: routing statistics; bad flags', async () => {
    const { a } = await pair();
    await tool(ping, a.sys, '-c', '1', '-w', '1', '192.168.7.7');
    expect((await tool(netstat, a.sys, '-rs')).out).toBe('routing:\n\t0 bad routing redirects\n\t0 dynamically created routes\n' +
      `\t0 new gateways due to redirects\n\t${a.rt!.rtstat.rts_unreach} destination${a.rt!.rtstat.rts_unreach === 1 ? '' : 's'} found unreachable\n` +
      '\t0 uses of a wildcard route\n');
    expect(a.rt!.rtstat.rts_unreach).toBeGreaterThan(0);
    expect(await tool(netstat, a.sys, '-f', 'inet6')).toEqual({ code: 1, out: '', err: 'netstat: inet6: unknown address family\n' });
    expect((await tool(netstat, a.sys, 'extra')).err).toMatch(/^usage: rump\.netstat/);
    expect((await tool(netstat, a.sys, '-Q')).err).toMatch(/^netstat: illegal option -- Q\nusage:/);
  });
});
