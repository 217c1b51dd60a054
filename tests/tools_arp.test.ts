/*
 * rump.arp against two kernels on a bus: the cache after traffic, static
 * entries, deletion, single lookups, and the messages of bad requests.
 */

import { describe, expect, it } from 'vitest';
import { main as arp } from '../bin/rump.arp.ts';
import { main as ping } from '../bin/rump.ping.ts';
import { ether_ntoa } from '../net/lib/libnet/if_ether.ts';
import { a4 } from './inet_helpers.ts';
import { pair, tool } from './tools_helpers.ts';

describe('rump.arp', () => {
  it('-a lists what traffic taught; a host alone, or "-- no entry"', async () => {
    const { a, b } = await pair();
    expect(await tool(arp, a.sys, '-a')).toEqual({ code: 0, out: '', err: '' });
    expect((await tool(ping, a.sys, '-c', '1', '10.0.0.2')).code).toBe(0);
    const bmac = ether_ntoa(b.ifnet!.byname.get('shmif0')!.if_sadl);
    expect(await tool(arp, a.sys, '-a')).toEqual({ code: 0, out: `? (10.0.0.2) at ${bmac} on shmif0\n`, err: '' });
    expect((await tool(arp, a.sys, '-an')).out).toBe(`? (10.0.0.2) at ${bmac} on shmif0\n`);
    expect((await tool(arp, a.sys, '-av')).out).toBe(`? (10.0.0.2) at ${bmac} on shmif0 expires in 1200 seconds\n`);
    expect(await tool(arp, a.sys, '10.0.0.2')).toEqual({ code: 0, out: `? (10.0.0.2) at ${bmac} on shmif0\n`, err: '' });
    expect(await tool(arp, a.sys, '10.0.0.8')).toEqual({ code: 1, out: '10.0.0.8 (10.0.0.8) -- no entry\n', err: '' });
    /* An unanswered request leaves an incomplete entry. */
    await tool(ping, a.sys, '-c', '1', '-w', '1', '10.0.0.9');
    expect((await tool(arp, a.sys, '-a')).out).toContain('? (10.0.0.9) at (incomplete) on shmif0\n');
  });

  it('-s adds a permanent entry that traffic uses; -d deletes; -d -a deletes all', async () => {
    const { a } = await pair();
    expect(await tool(arp, a.sys, '-s', '10.0.0.7', '02:00:00:00:00:07')).toEqual({ code: 0, out: '', err: '' });
    expect((await tool(arp, a.sys, '-a')).out).toBe('? (10.0.0.7) at 02:00:00:00:00:07 on shmif0 permanent\n');
    expect(a.inet!.arp.entries.get(a4('10.0.0.7'))?.la_static).toBe(true);
    expect(await tool(arp, a.sys, '-v', '-d', '10.0.0.7')).toEqual({ code: 0, out: '10.0.0.7 (10.0.0.7) deleted\n', err: '' });
    expect(a.inet!.arp.entries.has(a4('10.0.0.7'))).toBe(false);
    expect(await tool(arp, a.sys, '-d', '10.0.0.7')).toEqual({ code: 1, out: '', err: 'arp: 10.0.0.7: not in table\n' });
    await tool(arp, a.sys, '-s', '10.0.0.5', '02:00:00:00:00:05');
    await tool(ping, a.sys, '-c', '1', '10.0.0.2');
    expect(a.inet!.arp.entries.size).toBe(2);
    expect(await tool(arp, a.sys, '-d', '-a')).toEqual({ code: 0, out: '', err: '' });
    expect(a.inet!.arp.entries.size).toBe(0);
  });

  it('bad requests', async () => {
    const { a } = await pair();
    expect(await tool(arp, a.sys, '-s', '10.0.0.7', '02:00:00')).toEqual({ code: 1, out: '', err: "arp: invalid Ethernet address '02:00:00'\n" });
    expect(await tool(arp, a.sys, '-s', 'nohost', '02:00:00:00:00:07')).toEqual({ code: 1, out: '', err: 'arp: nohost: Unknown host\n' });
    expect(await tool(arp, a.sys, '-s', '172.16.0.1', '02:00:00:00:00:07')).toEqual({
      code: 1, out: '', err: 'arp: writing to routing socket: Network is unreachable\n',
    });
    for (const argv of [[], ['-d'], ['-s', '10.0.0.7'], ['-a', 'x'], ['-z'], ['-d', '-s', 'a', 'b']]) {
      const r = await tool(arp, a.sys, ...argv);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/usage: rump\.arp/);
    }
  });
});
