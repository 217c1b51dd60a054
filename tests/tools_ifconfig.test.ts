/*
 * rump.ifconfig against embedded kernels: creating and configuring a
 * shmif interface with ioctls only, NetBSD's listing, counters, and the
 * errors and exit codes of bad requests.
 */

import { describe, expect, it } from 'vitest';
import { main as ifconfig } from '../bin/rump.ifconfig.ts';
import { ether_ntoa } from '../net/lib/libnet/if_ether.ts';
import { IFF_UP } from '../include/if.ts';
import { lab } from './inet_helpers.ts';
import { pair, tool } from './tools_helpers.ts';
import { main as ping } from '../bin/rump.ping.ts';

describe('rump.ifconfig', () => {
  it('create, linkstr and an address bring shmif0 up; the listing is NetBSD\'s', async () => {
    const k = await lab().boot('k');
    expect(await tool(ifconfig, k.sys, '-a')).toEqual({
      code: 0, err: '', out: 'lo0: flags=0x8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33624\n\tinet 127.0.0.1/8 flags 0x0\n',
    });
    for (const args of [['shmif0', 'create'], ['shmif0', 'linkstr', 'bus0'], ['shmif0', 'inet', '10.0.0.1/24']]) {
      expect(await tool(ifconfig, k.sys, ...args)).toEqual({ code: 0, out: '', err: '' });
    }
    const mac = ether_ntoa(k.ifnet!.byname.get('shmif0')!.if_sadl);
    expect((await tool(ifconfig, k.sys, 'shmif0')).out).toBe(
      'shmif0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n' +
      `\taddress: ${mac}\n\tlinkstr: bus0\n\tinet 10.0.0.1/24 broadcast 10.0.0.255 flags 0x0\n`);
    expect(k.rt!.rt_get(0x0a000000, 24)).not.toBeNull();

    /* An alias with a netmask, then its removal. */
    expect((await tool(ifconfig, k.sys, 'shmif0', '10.0.1.1', 'netmask', '0xffff0000', 'alias')).code).toBe(0);
    expect((await tool(ifconfig, k.sys, 'shmif0')).out).toContain('\tinet 10.0.0.1/24 broadcast 10.0.0.255 flags 0x0\n' +
      '\tinet 10.0.1.1/16 broadcast 10.0.255.255 flags 0x0\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'inet', '10.0.1.1', '-alias')).code).toBe(0);
    expect((await tool(ifconfig, k.sys, 'shmif0')).out).not.toContain('10.0.1.1');

    /* down, up, mtu. */
    expect((await tool(ifconfig, k.sys, 'shmif0', 'down')).code).toBe(0);
    expect(k.ifnet!.byname.get('shmif0')!.if_flags & IFF_UP).toBe(0);
    expect((await tool(ifconfig, k.sys, 'shmif0')).out).toMatch(/^shmif0: flags=0x8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n/);
    expect((await tool(ifconfig, k.sys, '-l', '-d')).out).toBe('shmif0\n');
    expect((await tool(ifconfig, k.sys, '-l', '-u')).out).toBe('lo0\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'up', 'mtu', '1400')).code).toBe(0);
    expect((await tool(ifconfig, k.sys, 'shmif0')).out).toMatch(/^shmif0: flags=0x8843<UP,.*> mtu 1400\n/);
    expect((await tool(ifconfig, k.sys, '-l')).out).toBe('lo0 shmif0\n');
    expect((await tool(ifconfig, k.sys, '-C')).out).toBe('shmif\n');

    expect((await tool(ifconfig, k.sys, 'shmif0', 'destroy')).code).toBe(0);
    expect(k.ifnet!.byname.has('shmif0')).toBe(false);
    expect((await tool(ifconfig, k.sys, '-l')).out).toBe('lo0\n');
  });

  it('-v shows the counters of traffic that went through', async () => {
    const { a } = await pair();
    expect((await tool(ping, a.sys, '-c', '2', '-i', '0.1', '10.0.0.2')).code).toBe(0);
    const r = await tool(ifconfig, a.sys, '-v', 'shmif0');
    const ifp = a.ifnet!.byname.get('shmif0')!;
    expect(ifp.if_ipackets).toBeGreaterThanOrEqual(3);
    expect(r.out).toContain(`\tinput: ${ifp.if_ipackets} packets, ${ifp.if_ibytes} bytes`);
    expect(r.out).toContain(`\toutput: ${ifp.if_opackets} packets, ${ifp.if_obytes} bytes, ${ifp.if_omcasts} multicasts\n`);
    /* -a -v lists lo0 too. */
    expect((await tool(ifconfig, a.sys, '-a', '-v')).out).toMatch(/^lo0: .*\n\tinput: \d+ packets/);
  });

  it('errors name the ioctl and the interface; exit status 1', async () => {
    const k = await lab().boot('k');
    expect(await tool(ifconfig, k.sys, 'shmif9')).toEqual({ code: 1, out: '', err: 'ifconfig: SIOCGIFFLAGS shmif9: Device not configured\n' });
    expect((await tool(ifconfig, k.sys, 'shmif9', 'up')).err).toBe('ifconfig: SIOCGIFFLAGS shmif9: Device not configured\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'create')).code).toBe(0);
    expect(await tool(ifconfig, k.sys, 'shmif0', 'create')).toEqual({ code: 1, out: '', err: 'ifconfig: SIOCIFCREATE: File exists\n' });
    expect((await tool(ifconfig, k.sys, 'bogus0', 'create')).err).toBe('ifconfig: SIOCIFCREATE: Invalid argument\n');
    expect((await tool(ifconfig, k.sys, 'lo0', 'destroy')).err).toBe('ifconfig: SIOCIFDESTROY: Operation not supported\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'mtu', '20')).err).toBe('ifconfig: SIOCSIFMTU: Invalid argument\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'inet', '10.0.0.300')).err).toBe('ifconfig: 10.0.0.300: bad value\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', '10.0.0.1/33')).err).toBe('ifconfig: 10.0.0.1/33: bad value\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', '10.0.0.1', 'netmask', '255.0.255.0')).err).toBe('ifconfig: 255.0.255.0: bad value\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'mtu', 'big')).err).toBe('ifconfig: big: bad value\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', 'inet6', '::1')).err).toBe('ifconfig: inet6: address family not supported\n');
    /* The address another interface holds. */
    expect((await tool(ifconfig, k.sys, 'shmif0', '127.0.0.1')).err).toBe('ifconfig: SIOCAIFADDR: File exists\n');
    expect((await tool(ifconfig, k.sys, 'shmif0', '10.9.9.9', 'delete')).err).toBe('ifconfig: SIOCDIFADDR: Can\'t assign requested address\n');
    for (const argv of [[], ['-a', 'lo0'], ['-a', '-l'], ['-z'], ['-u', '-d', '-a']]) {
      const r = await tool(ifconfig, k.sys, ...argv);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/usage: rump\.ifconfig/);
    }
  });
});
