/*
 * libvirtif on real Linux TAP devices (root): virtN opens tunN, the
 * failures a user meets come back as the right errno with a message that
 * says what to do (no privilege, no /dev/net/tun, a TAP held by another
 * process or by another interface of the same kernel, a name that is not
 * a TAP, the addon missing), a TAP deleted under us is reported and can be
 * reopened, and a process whose virtif is destroyed, or whose kernel is
 * halted, exits by itself (the fd and its poll are gone).
 *
 * Privilege and /dev are varied in child processes (tests/fixtures/
 * virtif_child.ts): setpriv drops CAP_NET_ADMIN, unshare -m hides
 * /dev/net behind an empty tmpfs.  Every TAP gets a name unique to this
 * process; the ones moved into a namespace go away with it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { requireHost, run, sh, start, tapPeer, uniqueName, type TapPeer } from './netns.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { rumpnet_virtif_component, virtif_component_create } from '../net/lib/libvirtif/virtif_component.ts';
import { AF_INET, SOCK_DGRAM } from '../include/socket.ts';
import { IFF_RUNNING, IFF_UP, SIOCGIFFLAGS, SIOCGLINKSTR, SIOCIFCREATE, SIOCIFDESTROY, SIOCSIFFLAGS, SIOCSLINKSTR } from '../include/if.ts';

const FIXTURE = 'tests/fixtures/virtif_child.ts';
const kernels: Kernel[] = [];
const peers: TapPeer[] = [];

requireHost(['ip', 'ping', 'setpriv', 'unshare']);

afterAll(async () => {
  for (const k of kernels) if (!k.dead) await k.halt();
  for (const p of peers) {
    if (!p.k.dead) await p.k.halt();
    p.ns.destroy();
  }
});

async function boot(linkstr: boolean, cons?: string[]): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: (s) => { cons?.push(s); } }),
    name: 'tap',
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, linkstr ? virtif_component_create({ linkstr: true }) : rumpnet_virtif_component],
  });
  kernels.push(k);
  return k;
}

function linkExists(dev: string): boolean {
  try {
    sh('ip', ['link', 'show', dev]);
    return true;
  } catch {
    return false;
  }
}

interface ChildReport {
  ok: boolean;
  code?: string;
  message?: string;
  console: string;
}

/* Run the fixture under a wrapper (setpriv, unshare...); it must exit by itself within ms. */
async function child(wrapper: string[], args: string[], env: Record<string, string> = {}, ms = 20_000): Promise<{ report: ChildReport; ms: number }> {
  const t0 = Date.now();
  const cmd = [...wrapper, process.execPath, '--import', 'tsx', FIXTURE, ...args];
  const c = start('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cmd], ms);
  const d = await c.done;
  const took = Date.now() - t0;
  if (d.code !== 0) throw new Error(`child ${args.join(' ')} ended with ${d.code ?? d.signal} after ${took} ms:\n${d.stdout}${d.stderr}`);
  const last = d.stdout.trim().split('\n').pop()!;
  return { report: JSON.parse(last) as ChildReport, ms: took };
}

describe('virtif on Linux TAP devices', () => {
  it('virtN opens TAP tunN; SIOCGLINKSTR names it; destroy closes it and the TAP disappears', async () => {
    const k = await boot(false);
    const unit = 20000 + (process.pid % 10000);
    const dev = `tun${unit}`;
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: `virt${unit}` });
    expect(sh('ip', ['-d', 'link', 'show', dev])).toMatch(/tun type tap pi off vnet_hdr off persist off/);
    expect(await k.sys.ioctl(s, SIOCGLINKSTR, { ifd_name: `virt${unit}`, ifd_data: null })).toMatchObject({ ifd_data: dev });
    /* Up while it exists: destroy is refused (EBUSY), as NetBSD's. */
    await k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: `virt${unit}`, ifr_flags: IFF_UP });
    await expect(k.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: `virt${unit}` })).rejects.toMatchObject({ code: 'EBUSY' });
    await k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: `virt${unit}`, ifr_flags: 0 });
    await k.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: `virt${unit}` });
    expect(linkExists(dev)).toBe(false);
    await k.sys.close(s);
  });

  it('a TAP attached by another process, or by another interface of this kernel, is EBUSY; a name that is not a TAP is EINVAL; each with the reason', async () => {
    const cons: string[] = [];
    const k = await boot(true, cons);
    const dev = uniqueName('rvb');
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'virt0' });
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'virt1' });
    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: dev });
    const { report } = await child([], ['linkstr', dev]);
    expect(report).toMatchObject({ ok: false, code: 'EBUSY' });
    expect(report.console).toContain(`virt0: cannot attach to host device ${dev}: ioctl TUNSETIFF: Device or resource busy: TAP device ${dev} is already attached to another process`);
    await expect(k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'virt1', ifd_data: dev })).rejects.toMatchObject({ code: 'EBUSY' });
    expect(cons.join('')).toContain(`virt1: cannot attach to host device ${dev}: TAP device ${dev} is already attached to another interface of this kernel`);
    await expect(k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'virt1', ifd_data: 'lo' })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(cons.join('')).toContain('lo exists on the host and is not a TAP device');
    /* The failed attempts left virt0 attached and virt1 without a device: up is ENXIO. */
    await expect(k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'virt1', ifr_flags: IFF_UP })).rejects.toMatchObject({ code: 'ENXIO' });
    expect(linkExists(dev)).toBe(true);
    /* Unset: the device is closed and the (non-persistent) TAP goes away. */
    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: null });
    expect(linkExists(dev)).toBe(false);
    await k.sys.close(s);
  });

  it('without CAP_NET_ADMIN: EPERM, and the message says what is needed', async () => {
    const dev = uniqueName('rvp');
    const { report } = await child(['setpriv', '--inh-caps=-all', '--bounding-set=-net_admin', '--'], ['linkstr', dev]);
    expect(report.ok).toBe(false);
    expect(report.code).toBe('EPERM');
    expect(report.console).toContain(`creating TAP device ${dev} needs CAP_NET_ADMIN`);
    expect(linkExists(dev)).toBe(false);
  });

  it('without /dev/net/tun: ENOENT, and the message says how to get it', async () => {
    const { report } = await child(['unshare', '-m', '--', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$@"', 'sh'], ['create', 'virt7']);
    expect(report.ok).toBe(false);
    expect(report.code).toBe('ENOENT');
    expect(report.console).toContain('/dev/net/tun is missing: load the tun module');
  });

  it('without the native addon: creating one fails with ENXIO saying it is not built and how to build it', async () => {
    const { report } = await child([], ['create', 'virt7'], { RUMPTS_VIRTIF_ADDON: '/nonexistent/virtif.node' });
    expect(report.ok).toBe(false);
    expect(report.code).toBe('ENXIO');
    expect(report.console).toContain('the virtif native addon is not built');
    expect(report.console).toContain('npm run build:virtif');
  });

  it('a process whose virtif is destroyed, or whose kernel halts with it attached, exits by itself', async () => {
    for (const mode of ['destroy', 'halt']) {
      const dev = uniqueName('rvx');
      const { report, ms } = await child([], [mode, dev], {}, 15_000);
      expect(report, mode).toMatchObject({ ok: true });
      expect(ms).toBeLessThan(15_000);
      expect(linkExists(dev)).toBe(false);
    }
  });

  it('a TAP deleted on the Linux side: the interface says so, loses RUNNING, and "up" reopens the name', async () => {
    const cons: string[] = [];
    const P = await tapPeer('10.98.62.2', '10.98.62.1', { console: (s) => { cons.push(s); } });
    peers.push(P);
    await P.ns.run('ping', ['-c', '1', '-W', '2', P.ours], 10_000);
    sh('ip', ['-n', P.ns.name, 'link', 'del', P.tap]);
    const ifp = ifunit(P.k, 'virt0')!;
    for (let i = 0; i < 100 && (ifp.if_flags & IFF_RUNNING) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(ifp.if_flags & IFF_RUNNING).toBe(0);
    expect(cons.join('')).toMatch(new RegExp(`virt0: lost host device ${P.tap}: reading ${P.tap} failed: .*\\n`));
    const s = await P.k.sys.socket(AF_INET, SOCK_DGRAM);
    await P.k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'virt0', ifr_flags: 0 });
    await P.k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'virt0', ifr_flags: IFF_UP });
    const f = await P.k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'virt0' }) as { ifr_flags: number };
    expect(f.ifr_flags & IFF_RUNNING).toBe(IFF_RUNNING);
    /* A new TAP of the same name, in our namespace now: take it back in and ping again. */
    P.ns.adopt(P.tap, `${P.theirs}/24`);
    await run('ip', ['netns', 'exec', P.ns.name, 'ping', '-c', '1', '-W', '2', P.ours], 10_000);
    await P.k.sys.close(s);
  });
});
