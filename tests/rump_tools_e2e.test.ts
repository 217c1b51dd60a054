/*
 * The user's path end to end: rump_server as a process, configured and
 * inspected only with the rump.* tools through their npm bin shims
 * (bin/cli/*.mjs), as a user would type them: ifconfig on a shmif bus and
 * lo0, sysctl reads and writes with NetBSD's messages, ping, netstat with
 * a TIME_WAIT made by a proxied application, tcpdump through /dev/bpf,
 * and halt.
 */

import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { rumpclient_init } from '../lib/librumpclient/rumpclient.ts';
import { AF_INET, SOCK_STREAM } from '../include/socket.ts';
import { exitOf, runChild, tempdir, waitFor } from './sysproxy_helpers.ts';

async function tool(url: string, name: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const c = runChild(`bin/cli/${name}.mjs`, args, { RUMP_SERVER: url });
  const { code } = await exitOf(c, 30_000);
  return { code, out: c.out, err: c.err };
}

describe('rump_server configured with the rump.* tools', { timeout: 120_000 }, () => {
  it('ifconfig, sysctl, ping, netstat, tcpdump and halt against a live server', async () => {
    const path = join(tempdir(), 'sock');
    const url = `unix://${path}`;
    const srv = runChild('bin/rump_server.ts',
      ['-s', '-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_shmif', '-lrumpdev_bpf', url]);
    await waitFor(() => existsSync(path), 'the server socket', srv);

    expect((await tool(url, 'rump.ifconfig', 'shmif0', 'create')).code).toBe(0);
    expect((await tool(url, 'rump.ifconfig', 'shmif0', 'linkstr', 'bus0')).code).toBe(0);
    expect((await tool(url, 'rump.ifconfig', 'shmif0', 'inet', '10.0.0.1', 'netmask', '255.255.255.0', 'up')).code).toBe(0);
    const all = await tool(url, 'rump.ifconfig', '-a');
    expect(all.code).toBe(0);
    expect(all.out).toMatch(/^lo0: flags=0x8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33624$/m);
    expect(all.out).toMatch(/^shmif0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500$/m);
    expect(all.out).toMatch(/^\tinet 10\.0\.0\.1\/24 broadcast 10\.0\.0\.255/m);
    const bad = await tool(url, 'rump.ifconfig', 'shmif7');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/shmif7/);

    expect((await tool(url, 'rump.sysctl', 'net.inet.tcp.mslt.loopback')).out).toBe('net.inet.tcp.mslt.loopback = 2\n');
    expect((await tool(url, 'rump.sysctl', '-w', 'net.inet.tcp.vtw.enable=1')).out).toBe('net.inet.tcp.vtw.enable: 0 -> 1\n');
    /* A loopback TIME_WAIT of 60 s instead of 2, so the netstat below cannot miss it on a slow machine. */
    expect((await tool(url, 'rump.sysctl', '-w', 'net.inet.tcp.mslt.loopback=30')).out).toBe('net.inet.tcp.mslt.loopback: 2 -> 30\n');
    const nope = await tool(url, 'rump.sysctl', 'net.inet.foo');
    expect(nope.code).not.toBe(0);
    expect(nope.err).toMatch(/third level name 'foo' in 'net\.inet\.foo' is invalid/);

    /* tcpdump on lo0 while ping runs: two echo requests and two replies. */
    const dump = runChild('bin/cli/rump.tcpdump.mjs', ['-i', 'lo0', '-c', '4', '-n', '-l'], { RUMP_SERVER: url });
    await waitFor(() => dump.err.includes('listening on lo0'), 'tcpdump to start', dump, 20_000);
    const ping = await tool(url, 'rump.ping', '-c', '2', '-i', '0.2', '127.0.0.1');
    expect(ping.code).toBe(0);
    expect(ping.out).toMatch(/^64 bytes from 127\.0\.0\.1: icmp_seq=0 ttl=255 time=[\d.]+ ms$/m);
    expect(ping.out).toMatch(/2 packets transmitted, 2 packets received, 0\.0% packet loss/);
    expect((await exitOf(dump, 20_000)).code).toBe(0);
    expect(dump.out.split('\n').filter((l) => /ICMP echo (request|reply)/.test(l)).length).toBe(4);

    /* A proxied application's connection over lo0, server side closed first: a vestigial TIME_WAIT. */
    const c = await rumpclient_init(url);
    const ls = await c.socket(AF_INET, SOCK_STREAM);
    await c.bind(ls, { sin_family: AF_INET, sin_port: 8080, sin_addr: '127.0.0.1' });
    await c.listen(ls, 5);
    const s = await c.socket(AF_INET, SOCK_STREAM);
    const acc = c.accept(ls);
    await c.connect(s, { sin_family: AF_INET, sin_port: 8080, sin_addr: '127.0.0.1' });
    const { fd } = await acc;
    await c.close(fd);
    await c.read(s, new Uint8Array(1));
    await c.close(s);
    const ns = await tool(url, 'rump.netstat', '-an');
    expect(ns.code).toBe(0);
    expect(ns.out).toMatch(/^tcp\s+0\s+0\s+127\.0\.0\.1\.8080\s+127\.0\.0\.1\.\d+\s+TIME_WAIT/m);
    expect(ns.out).toMatch(/^tcp\s+0\s+0\s+127\.0\.0\.1\.8080\s+\*\.\*\s+LISTEN/m);
    const st = await tool(url, 'rump.netstat', '-s', '-p', 'tcp');
    expect(st.out).toMatch(/^tcp:$/m);
    expect(st.out).toMatch(/connections established/);
    await c.close();

    const halt = await tool(url, 'rump.halt');
    expect(halt.code).toBe(0);
    expect((await exitOf(srv)).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});
