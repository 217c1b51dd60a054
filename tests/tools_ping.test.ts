/*
 * rump.ping between two kernels on a shmif bus (sim host): replies,
 * statistics, exit codes, and a schedule that follows the kernel's
 * (virtual) clock, so seconds of pinging take milliseconds.
 */

import { describe, expect, it } from 'vitest';
import { main as ping } from '../bin/rump.ping.ts';
import { main as sysctl } from '../bin/rump.sysctl.ts';
import { main as route } from '../bin/rump.route.ts';
import { pair, tool } from './tools_helpers.ts';

const REPLY = /^64 bytes from 10\.0\.0\.2: icmp_seq=(\d+) ttl=255 time=\d+\.\d{3} ms$/;

describe('rump.ping', () => {
  it('-c 3: three replies, NetBSD\'s summary, exit 0, two seconds of kernel time', async () => {
    const { a } = await pair();
    const t0 = a.uptimeNs();
    const r = await tool(ping, a.sys, '-c', '3', '10.0.0.2');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('PING 10.0.0.2 (10.0.0.2): 56 data bytes');
    expect(lines.slice(1, 4).map((l) => REPLY.exec(l)?.[1])).toEqual(['0', '1', '2']);
    expect(lines[4]).toBe('');
    expect(lines[5]).toBe('----10.0.0.2 PING Statistics----');
    expect(lines[6]).toBe('3 packets transmitted, 3 packets received, 0.0% packet loss');
    expect(lines[7]).toMatch(/^round-trip min\/avg\/max\/stddev = (\d+\.\d{3}\/){3}\d+\.\d{3} ms$/);
    expect(lines.slice(8)).toEqual(['']);
    /* One request a second, and done at the third reply. */
    expect(Math.round((a.uptimeNs() - t0) / 1e6)).toBe(2000);
    expect(a.inet!.icmpstat.icps_inhist[0]).toBe(3);
  });

  it('-i sets the interval; -s the size (with fragments); -s 0 has no times; -q only the summary', async () => {
    const { a } = await pair();
    const t0 = a.uptimeNs();
    expect((await tool(ping, a.sys, '-c', '5', '-i', '0.2', '10.0.0.2')).code).toBe(0);
    expect(Math.round((a.uptimeNs() - t0) / 1e6)).toBe(800);
    const big = await tool(ping, a.sys, '-c', '1', '-s', '3000', '10.0.0.2');
    expect(big.out).toMatch(/^PING 10\.0\.0\.2 \(10\.0\.0\.2\): 3000 data bytes\n3008 bytes from 10\.0\.0\.2: icmp_seq=0 ttl=255 time=/);
    expect(a.inet!.ipstat.ips_reassembled).toBeGreaterThanOrEqual(1);
    const tiny = await tool(ping, a.sys, '-c', '2', '-i', '0.5', '-s', '0', '10.0.0.2');
    expect(tiny.out).toBe('PING 10.0.0.2 (10.0.0.2): 0 data bytes\n8 bytes from 10.0.0.2: icmp_seq=0 ttl=255\n' +
      '8 bytes from 10.0.0.2: icmp_seq=1 ttl=255\n\n----10.0.0.2 PING Statistics----\n' +
      '2 packets transmitted, 2 packets received, 0.0% packet loss\n');
    const q = await tool(ping, a.sys, '-q', '-c', '2', '10.0.0.2');
    expect(q.out).toMatch(/^PING .*\n\n----10\.0\.0\.2 PING Statistics----\n2 packets transmitted, 2 packets received, 0\.0% packet loss\nround-trip .* ms\n$/);
  });

  it('no answer: exit 2 after waiting for the last reply; -t and -w stop it in time', async () => {
    const { a } = await pair();
    let t0 = a.uptimeNs();
    const r = await tool(ping, a.sys, '-c', '2', '10.0.0.99');
    expect(r).toEqual({
      code: 2, err: '',
      out: 'PING 10.0.0.99 (10.0.0.99): 56 data bytes\n\n----10.0.0.99 PING Statistics----\n' +
        '2 packets transmitted, 0 packets received, 100.0% packet loss\n',
    });
    /* The last request at 1 s, then ten intervals for its reply. */
    expect(Math.round((a.uptimeNs() - t0) / 1e6)).toBe(11000);
    for (const flag of ['-t', '-w']) {
      t0 = a.uptimeNs();
      const t = await tool(ping, a.sys, flag, '3', '10.0.0.98');
      expect(t.code).toBe(2);
      expect(t.out).toContain('3 packets transmitted, 0 packets received, 100.0% packet loss\n');
      expect(Math.round((a.uptimeNs() - t0) / 1e6)).toBe(3000);
    }
  });

  it('an ICMP error about our request is shown; a send error is warned about', async () => {
    const { a, b } = await pair();
    /* b forwards but has no way on to 10.1/16: it answers "net unreachable". */
    expect((await tool(sysctl, b.sys, '-w', 'net.inet.ip.forwarding=1')).code).toBe(0);
    expect((await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2')).code).toBe(0);
    const r = await tool(ping, a.sys, '-c', '1', '-w', '2', '10.1.2.3');
    expect(r.code).toBe(2);
    expect(r.out).toContain('\n36 bytes from 10.0.0.2: Destination Net Unreachable\n');
    const s = await tool(ping, a.sys, '-c', '1', '-w', '1', '192.168.5.5');
    expect(s.err).toBe('ping: sendto: No route to host\n');
    expect(s.code).toBe(2);
  });

  it('bad arguments: a message and exit 1', async () => {
    const { a } = await pair();
    const cases: [string[], string][] = [
      [['-c', '0', '10.0.0.2'], 'ping: Bad/invalid number of packets: 0\n'],
      [['-i', 'x', '10.0.0.2'], 'ping: Bad/invalid interval: x\n'],
      [['-s', '-1', '10.0.0.2'], 'ping: Bad/invalid packet size: -1\n'],
      [['-s', '70000', '10.0.0.2'], 'ping: packet size is too large\n'],
      [['-t', '0', '10.0.0.2'], 'ping: Bad/invalid maxwait time: 0\n'],
      [['nosuchhost'], 'ping: Cannot resolve "nosuchhost" (Unknown host)\n'],
    ];
    for (const [argv, err] of cases) expect(await tool(ping, a.sys, ...argv)).toEqual({ code: 1, out: '', err });
    for (const argv of [[], ['10.0.0.1', '10.0.0.2'], ['-x', '10.0.0.2']]) {
      const r = await tool(ping, a.sys, ...argv);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/usage: rump\.ping/);
    }
  });
});
