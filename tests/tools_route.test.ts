/*
 * rump.route against embedded kernels: adding, changing, getting,
 * deleting and flushing routes through the routing socket, the table they
 * make (and the traffic it carries), route(8)'s messages and exit codes,
 * and route monitor hearing the kernel's announcements.
 */

import { describe, expect, it } from 'vitest';
import { main as route } from '../bin/rump.route.ts';
import { main as ping } from '../bin/rump.ping.ts';
import { main as ifconfig } from '../bin/rump.ifconfig.ts';
import { main as netstat } from '../bin/rump.netstat.ts';
import { RTF_BLACKHOLE, RTF_GATEWAY, RTF_HOST, RTF_REJECT, RTF_STATIC, RTF_UP } from '../include/route.ts';
import { a4, ifconfig as ifcfg, lab } from './inet_helpers.ts';
import { pair, tool } from './tools_helpers.ts';

describe('rump.route', () => {
  it('add -net, add default, add -host with -mtu: messages, table, show', async () => {
    const { a } = await pair();
    expect(await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2')).toEqual({ code: 0, out: 'add net 10.1.0.0/16: gateway 10.0.0.2\n', err: '' });
    expect(await tool(route, a.sys, 'add', 'default', '10.0.0.2')).toEqual({ code: 0, out: 'add net default: gateway 10.0.0.2\n', err: '' });
    expect((await tool(route, a.sys, 'add', '-host', '10.2.3.4', '10.0.0.2', '-mtu', '1280')).out).toBe('add host 10.2.3.4: gateway 10.0.0.2\n');
    /* A network number and -netmask, as route(8) reads them. */
    expect((await tool(route, a.sys, 'add', '-net', '172.16', '10.0.0.2')).out).toBe('add net 172.16: gateway 10.0.0.2\n');
    expect((await tool(route, a.sys, 'add', '-net', '192.168.4.0', '10.0.0.2', '-netmask', '255.255.254.0')).out)
      .toBe('add net 192.168.4.0: gateway 10.0.0.2\n');
    const rt = a.rt!;
    expect(rt.rt_get(a4('10.1.0.0'), 16)).toMatchObject({ rt_flags: RTF_UP | RTF_GATEWAY | RTF_STATIC, rt_gateway: a4('10.0.0.2') });
    expect(rt.rt_get(0, 0)).not.toBeNull();
    expect(rt.rt_get(a4('10.2.3.4'), 32)).toMatchObject({ rt_flags: RTF_UP | RTF_GATEWAY | RTF_STATIC | RTF_HOST });
    expect(rt.rt_get(a4('10.2.3.4'), 32)!.rt_rmx.rmx_mtu).toBe(1280);
    expect(rt.rt_get(a4('172.16.0.0'), 16)).not.toBeNull();
    expect(rt.rt_get(a4('192.168.4.0'), 23)).not.toBeNull();

    const show = await tool(route, a.sys, '-n', 'show');
    expect(show.out).toBe(
      'Routing tables\n\nInternet:\n' +
      'Destination        Gateway            Flags    Refs      Use    Mtu Interface\n' +
      'default            10.0.0.2           UGS         0        0      -  shmif0\n' +
      '10.0.0/24          link#2             UC          0        0      -  shmif0\n' +
      '10.0.0.1           link#2             UHl         0        0      -  lo0\n' +
      '10.1/16            10.0.0.2           UGS         0        0      -  shmif0\n' +
      '10.2.3.4           10.0.0.2           UGHS        0        0   1280  shmif0\n' +
      '127/8              link#1             UC          0        0      -  lo0\n' +
      '127.0.0.1          link#1             UHl         0        0      -  lo0\n' +
      '172.16/16          10.0.0.2           UGS         0        0      -  shmif0\n' +
      '192.168.4/23       10.0.0.2           UGS         0        0      -  shmif0\n');
    /* netstat -rn prints the same table. */
    expect((await tool(netstat, a.sys, '-rn')).out).toBe(show.out);
  });

  it('errors: route(8)\'s words on stderr and stdout, exit 1', async () => {
    const { a } = await pair();
    expect((await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2')).code).toBe(0);
    expect(await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2')).toEqual({
      code: 1, out: 'add net 10.1.0.0/16: gateway 10.0.0.2: File exists\n', err: 'route: writing to routing socket: File exists\n',
    });
    expect(await tool(route, a.sys, 'delete', '-net', '10.9.0.0/16', '10.0.0.2')).toEqual({
      code: 1, out: 'delete net 10.9.0.0/16: gateway 10.0.0.2: not in table\n', err: 'route: writing to routing socket: not in table\n',
    });
    expect((await tool(route, a.sys, 'add', '-net', '10.3.0.0/16', '192.168.1.1')).err).toBe('route: writing to routing socket: Network is unreachable\n');
    expect(await tool(route, a.sys, 'get', '192.168.1.1')).toEqual({ code: 1, out: '', err: 'route: writing to routing socket: not in table\n' });
    const bad: [string[], string][] = [
      [['add', '10.1.0.0/16'], 'route: missing gateway specification\n'],
      [['add'], 'route: missing destination specification\n'],
      [['add', '10.1.0.0/40', '10.0.0.2'], 'route: 10.1.0.0/40: bad value\n'],
      [['add', '10.1.0.0/16', 'gw.example'], 'route: gw.example: bad value\n'],
      [['add', '-host', '-net', '10.1.1.1', '10.0.0.2'], 'route: -host and -net conflict\n'],
      [['add', '10.1.0.0', '10.0.0.2', '-netmask', '255.0.255.0'], 'route: 255.0.255.0: bad value\n'],
      [['add', '-bogus', '10.1.0.0', '10.0.0.2'], 'route: -bogus: unknown modifier\n'],
    ];
    for (const [argv, err] of bad) expect(await tool(route, a.sys, ...argv)).toEqual({ code: 1, out: '', err });
    expect((await tool(route, a.sys, 'frobnicate')).err).toMatch(/^route: frobnicate: unknown command\nusage:/);
    expect((await tool(route, a.sys)).err).toMatch(/^usage: rump\.route/);
    /* -q: errors only. */
    expect(await tool(route, a.sys, '-q', 'add', '-net', '10.1.0.0/16', '10.0.0.2')).toEqual({
      code: 1, out: '', err: 'route: writing to routing socket: File exists\n',
    });
  });

  it('get shows the route a destination takes', async () => {
    const { a } = await pair();
    await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2');
    const head = ' recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n' +
      '       0         0         0         0         0         0         0         0 \n';
    expect(await tool(route, a.sys, 'get', '10.1.2.3')).toEqual({
      code: 0, err: '',
      out: '   route to: 10.1.2.3\ndestination: 10.1.0.0\n       mask: 255.255.0.0\n    gateway: 10.0.0.2\n' +
        ' local addr: 10.0.0.1\n  interface: shmif0\n      flags: <UP,GATEWAY,DONE,STATIC>\n' + head,
    });
    expect((await tool(route, a.sys, 'get', '10.0.0.1')).out).toBe(
      '   route to: 10.0.0.1\ndestination: 10.0.0.1\n local addr: 10.0.0.1\n  interface: lo0\n      flags: <UP,HOST,DONE,LOCAL>\n' + head);
    expect((await tool(route, a.sys, 'get', '10.0.0.77')).out).toContain('destination: 10.0.0.0\n       mask: 255.255.255.0\n');
    await tool(route, a.sys, 'add', 'default', '10.0.0.2');
    expect((await tool(route, a.sys, 'get', '8.8.8.8')).out).toMatch(/^   route to: 8\.8\.8\.8\ndestination: default\n       mask: default\n    gateway: 10\.0\.0\.2\n/);
  });

  it('routes carry traffic: a route through b reaches c behind it; delete and -reject cut it', async () => {
    /* a -- bus0 -- b -- bus1 -- c: b forwards. */
    const L = lab(3);
    const a = await L.boot('a');
    const b = await L.boot('b');
    const c = await L.boot('c');
    await ifcfg(a, 'shmif0', 'bus0', '10.0.0.1');
    await ifcfg(b, 'shmif0', 'bus0', '10.0.0.2');
    await ifcfg(b, 'shmif1', 'bus1', '10.0.1.2');
    await ifcfg(c, 'shmif0', 'bus1', '10.0.1.3');
    b.inet!.ip_forwarding = 1;
    expect((await tool(ping, a.sys, '-c', '1', '-w', '2', '10.0.1.3')).code).toBe(2);
    expect((await tool(route, a.sys, 'add', '-net', '10.0.1.0/24', '10.0.0.2')).code).toBe(0);
    expect((await tool(route, c.sys, 'add', 'default', '10.0.1.2')).code).toBe(0);
    expect((await tool(ping, a.sys, '-c', '2', '-i', '0.2', '10.0.1.3')).out).toMatch(/64 bytes from 10\.0\.1\.3: icmp_seq=1 ttl=254 /);
    /* change to a reject route: sends fail at once. */
    expect((await tool(route, a.sys, 'change', '-net', '10.0.1.0/24', '10.0.0.2', '-reject')).out).toBe('change net 10.0.1.0/24: gateway 10.0.0.2\n');
    expect(a.rt!.rt_get(a4('10.0.1.0'), 24)!.rt_flags & RTF_REJECT).toBe(RTF_REJECT);
    expect((await tool(ping, a.sys, '-c', '1', '-w', '1', '10.0.1.3')).err).toMatch(/^ping: sendto: /);
    expect((await tool(route, a.sys, 'delete', '-net', '10.0.1.0/24')).out).toBe('delete net 10.0.1.0/24\n');
    expect(a.rt!.rt_get(a4('10.0.1.0'), 24)).toBeNull();
    /* -interface: a direct route through the interface holding 10.0.0.1; -blackhole. */
    expect((await tool(route, a.sys, 'add', '-net', '10.5.0.0/16', '10.0.0.1', '-interface')).code).toBe(0);
    expect(a.rt!.rt_get(a4('10.5.0.0'), 16)).toMatchObject({ rt_flags: RTF_UP | RTF_STATIC, rt_gateway: 0 });
    expect((await tool(route, a.sys, 'add', '-net', '10.6.0.0/16', '10.0.0.2', '-blackhole')).code).toBe(0);
    expect(a.rt!.rt_get(a4('10.6.0.0'), 16)!.rt_flags & RTF_BLACKHOLE).toBe(RTF_BLACKHOLE);
  });

  it('flush deletes the gateway and static routes and keeps the kernel\'s', async () => {
    const { a } = await pair();
    await tool(route, a.sys, 'add', 'default', '10.0.0.2');
    await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2');
    expect(await tool(route, a.sys, 'flush')).toEqual({
      code: 0, err: '',
      out: `${'default'.padEnd(20)} ${'10.0.0.2'.padEnd(20)} done\n${'10.1/16'.padEnd(20)} ${'10.0.0.2'.padEnd(20)} done\n`,
    });
    expect(a.rt!.rt_walk().map((r) => r.rt_plen)).toEqual([24, 32, 8, 32]);
  });

  it('monitor prints what the routing socket hears', async () => {
    const { a } = await pair();
    const mon = tool(route, a.sys, 'monitor', '-c', '3');
    await tool(route, a.sys, 'add', '-net', '10.1.0.0/16', '10.0.0.2');
    await tool(ifconfig, a.sys, 'shmif0', 'inet', '10.0.9.1/24', 'alias');
    await tool(ifconfig, a.sys, 'shmif1', 'create');
    const r = await mon;
    expect(r.code).toBe(0);
    const blocks = r.out.split(/^got message of size \d+ on .*\n/m).slice(1);
    expect(blocks).toHaveLength(3);
    expect(blocks[0]).toMatch(/^RTM_ADD: Add Route: len \d+, pid \d+, seq 1, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\nlocks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK,IFP,IFA>\n 10\.1\.0\.0 10\.0\.0\.2 255\.255\.0\.0 shmif0 10\.0\.0\.1\n$/);
    expect(blocks[1]).toBe('RTM_NEWADDR: address being added to iface: len 112, metric 0, flags: none\n' +
      'sockaddrs: <NETMASK,IFP,IFA,BRD>\n 255.255.255.0 shmif0 10.0.9.1 10.0.9.255\n');
    expect(blocks[2]).toBe('RTM_IFANNOUNCE: iface arrival/departure: len 24, if# 3, what: arrival\n');
  });
});
