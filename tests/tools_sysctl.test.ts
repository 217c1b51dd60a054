/*
 * rump.sysctl against an embedded kernel: reading, writing, walking the
 * tree with CTL_QUERY, and sysctl(8)'s messages and exit codes.
 */

import { describe, expect, it } from 'vitest';
import { main as sysctl } from '../bin/rump.sysctl.ts';
import { lab } from './inet_helpers.ts';
import { tool } from './tools_helpers.ts';
import { CTL_KERN, CTL_NET, CTL_QUERY, CTLTYPE_NODE, CTLTYPE_STRING, type SysctlQueryNode } from '../include/sysctl.ts';

async function kernel() {
  return lab().boot('k');
}

describe('rump.sysctl', () => {
  it('prints a variable, -n its value alone, a directory every leaf below it', async () => {
    const k = await kernel();
    expect(await tool(sysctl, k.sys, 'kern.ostype')).toEqual({ code: 0, out: 'kern.ostype = NetBSD\n', err: '' });
    expect(await tool(sysctl, k.sys, '-n', 'kern.ostype', 'net.inet.ip.ttl')).toEqual({ code: 0, out: 'NetBSD\n64\n', err: '' });
    expect((await tool(sysctl, k.sys, '-e', 'kern.osrelease')).out).toBe('kern.osrelease=10.0\n');
    /* Numbers work as names too, and '/' as the separator. */
    expect((await tool(sysctl, k.sys, '1.1')).out).toBe('kern.ostype = NetBSD\n');
    expect((await tool(sysctl, k.sys, '/net/inet/ip/ttl')).out).toBe('net.inet.ip.ttl = 64\n');
    const ip = await tool(sysctl, k.sys, 'net.inet.ip');
    expect(ip.code).toBe(0);
    expect(ip.out).toMatch(/^net\.inet\.ip\.forwarding = 0\n/);
    expect(ip.out).toContain('net.inet.ip.ttl = 64\n');
    expect(ip.out).toContain('net.inet.ip.ifq.maxlen = ');
    /* Statistics are netstat's, and silently left out of a listing. */
    expect(ip.out).not.toContain('stats');
  });

  it('-w sets a value and prints old -> new; the kernel sees it', async () => {
    const k = await kernel();
    expect(await tool(sysctl, k.sys, '-w', 'net.inet.ip.ttl=32')).toEqual({ code: 0, out: 'net.inet.ip.ttl: 64 -> 32\n', err: '' });
    expect(k.inet!.ip_defttl).toBe(32);
    expect((await tool(sysctl, k.sys, '-w', 'kern.hostname=alpha')).out).toMatch(/^kern\.hostname: .* -> alpha\n$/);
    expect(k.hostname).toBe('alpha');
    expect((await tool(sysctl, k.sys, '-n', '-w', 'net.inet.ip.ttl=0x40')).out).toBe('64\n');
    /* -q: quiet. */
    expect(await tool(sysctl, k.sys, '-q', '-w', 'net.inet.ip.ttl=65')).toEqual({ code: 0, out: '', err: '' });
    expect(k.inet!.ip_defttl).toBe(65);
  });

  it("names a bad level as sysctl(8) does; exit status 1", async () => {
    const k = await kernel();
    expect(await tool(sysctl, k.sys, 'net.inet.foo')).toEqual({
      code: 1, out: '', err: "sysctl: third level name 'foo' in 'net.inet.foo' is invalid\n",
    });
    expect((await tool(sysctl, k.sys, 'bogus')).err).toBe("sysctl: top level name 'bogus' in 'bogus' is invalid\n");
    /* Below a leaf. */
    expect((await tool(sysctl, k.sys, 'kern.ostype.x')).err).toBe("sysctl: third level name 'x' in 'kern.ostype.x' is invalid\n");
    /* The good names still print. */
    const r = await tool(sysctl, k.sys, 'net.inet.foo', 'kern.ostype');
    expect(r).toMatchObject({ code: 1, out: 'kern.ostype = NetBSD\n' });
  });

  it('refuses writes as NetBSD does', async () => {
    const k = await kernel();
    expect(await tool(sysctl, k.sys, 'kern.hostname=x')).toEqual({ code: 1, out: '', err: 'sysctl: Must specify -w to set variables\n' });
    expect(await tool(sysctl, k.sys, '-w', 'net.inet.tcp.stats=1')).toEqual({
      code: 1, out: '', err: 'sysctl: net.inet.tcp.stats: Operation not permitted\n',
    });
    expect((await tool(sysctl, k.sys, '-w', 'kern.ostype=Linux')).err).toBe('sysctl: kern.ostype: Operation not permitted\n');
    expect((await tool(sysctl, k.sys, '-w', 'net.inet.ip.ttl=abc')).err).toBe('sysctl: abc: not a number\n');
    expect((await tool(sysctl, k.sys, '-w', 'net.inet.ip.ttl=0')).err).toBe('sysctl: net.inet.ip.ttl: Invalid argument\n');
    expect((await tool(sysctl, k.sys, '-w', 'net.inet.ip.ttl=99999999999')).err).toBe('sysctl: 99999999999: Result too large or too small\n');
    expect(k.inet!.ip_defttl).toBe(64);
  });

  it('structures: netstat\'s are pointed at netstat, others printed', async () => {
    const k = await kernel();
    expect(await tool(sysctl, k.sys, 'net.inet.tcp.stats')).toEqual({
      code: 1, out: '', err: "sysctl: net.inet.tcp.stats: use 'netstat' to view this information\n",
    });
    expect((await tool(sysctl, k.sys, 'net.inet.udp.pcblist')).err).toContain("use 'netstat' or 'sockstat'");
    expect((await tool(sysctl, k.sys, 'kern.clockrate')).out).toBe('kern.clockrate: tick = 10000, tickadj = 0, hz = 100, profhz = 1, stathz = 1\n');
    expect((await tool(sysctl, k.sys, 'kern.boottime')).out).toMatch(/^kern\.boottime = \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n$/);
    expect((await tool(sysctl, k.sys, 'kern.uptime')).out).toMatch(/^kern\.uptime = tv_sec = \d+, tv_nsec = \d+\n$/);
  });

  it('-a lists every leaf once, in MIB order, and nothing that only netstat shows', async () => {
    const k = await kernel();
    const r = await tool(sysctl, k.sys, '-a');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const names = r.out.trimEnd().split('\n').map((l) => l.replace(/( = |: ).*$/, ''));
    expect(new Set(names).size).toBe(names.length);
    expect(names.indexOf('kern.ostype')).toBeLessThan(names.indexOf('net.inet.ip.ttl'));
    expect(names).toContain('net.inet.tcp.mslt.enable');
    const netstats = /^net\.[^.]+\.[^.]+\.pcblist$|^net\.inet\.[^.]+\.stats$|^net\.route\./;
    expect(names.filter((n) => netstats.test(n))).toEqual([]);
    /* The same leaves the kernel's own walk finds, less netstat's structures. */
    const kernelNames = [...k.sysctl.walk()].map((e) => e.name).filter((n) => !netstats.test(n));
    expect(names).toEqual(kernelNames);
    /* -d: descriptions. */
    expect((await tool(sysctl, k.sys, '-d', 'net.inet.ip.ttl')).out).toBe('net.inet.ip.ttl: Default TTL for an INET datagram\n');
  });

  it('usage errors', async () => {
    const k = await kernel();
    const r = await tool(sysctl, k.sys);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^usage:/);
    expect((await tool(sysctl, k.sys, '-z')).err).toMatch(/^sysctl: illegal option -- z\nusage:/);
  });

  it('CTL_QUERY lists children with their types; a leaf is ENOTDIR, a write EPERM', async () => {
    const k = await kernel();
    const top = (await k.sys.sysctl([CTL_QUERY])) as SysctlQueryNode[];
    expect(top.slice(0, 1)).toEqual([{ sysctl_name: 'kern', sysctl_num: CTL_KERN, sysctl_type: CTLTYPE_NODE, sysctl_flags: expect.any(Number), sysctl_desc: 'High kernel' }]);
    expect(top.map((n) => n.sysctl_name)).toContain('net');
    const kern = (await k.sys.sysctl([CTL_KERN, CTL_QUERY])) as SysctlQueryNode[];
    expect(kern.find((n) => n.sysctl_name === 'ostype')).toMatchObject({ sysctl_num: 1, sysctl_type: CTLTYPE_STRING });
    const route = (await k.sys.sysctl([CTL_NET, 34, CTL_QUERY])) as SysctlQueryNode[];
    expect(route.map((n) => n.sysctl_name)).toEqual(['rtable', 'stats']);
    await expect(k.sys.sysctl([CTL_KERN, 1, CTL_QUERY])).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(k.sys.sysctl([CTL_KERN, CTL_QUERY], 1)).rejects.toMatchObject({ code: 'EPERM' });
    await expect(k.sys.sysctl([CTL_KERN, 9999, CTL_QUERY])).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
