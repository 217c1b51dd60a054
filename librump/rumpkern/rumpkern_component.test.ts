import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import { CTL_KERN, KERN_HOSTNAME, KERN_OSTYPE } from '../../include/sysctl.ts';
import { sysctl_format } from './kern_sysctl.ts';

describe('kern.* sysctls through __sysctl(2)', () => {
  it('reads the kernel identity by name and by MIB', async () => {
    const w = simWorld();
    const k = await bootSim(w, { hz: 250 });
    expect(await k.sys.sysctl('kern.ostype')).toBe('NetBSD');
    expect(await k.sys.sysctl([CTL_KERN, KERN_OSTYPE])).toBe('NetBSD');
    expect(await k.sys.sysctl('kern.osrelease')).toBe('10.0');
    expect(await k.sys.sysctl('kern.hz')).toBe(250);
    expect(await k.sys.sysctl('kern.clockrate')).toEqual({ hz: 250, tick: 4000, tickadj: 0, stathz: 1, profhz: 1 });
    expect(await k.sys.sysctl('kern.boottime')).toEqual({ tv_sec: Date.UTC(2026, 0, 1) / 1000, tv_nsec: 0 });
    await w.advance(1500);
    expect(await k.sys.sysctl('kern.uptime')).toEqual({ tv_sec: 1, tv_nsec: 500_000_000 });
    expect(await k.sys.sysctl('kern.hardclock_ticks')).toBe(375);
  });

  it('writes kern.hostname and sees it by MIB and in the kernel', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    expect(await k.sys.sysctl('kern.hostname', 'bar.example')).toBe('rump-1.sim');
    expect(await k.sys.sysctl([CTL_KERN, KERN_HOSTNAME])).toBe('bar.example');
    expect(k.hostname).toBe('bar.example');
  });

  it('fails with EPERM, ENOENT, EINVAL, ENOTDIR and EISDIR, changing nothing', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    await expect(k.sys.sysctl('kern.ostype', 'Linux')).rejects.toMatchObject({ errno: 1, code: 'EPERM', syscall: 'sysctl' });
    await expect(k.sys.sysctl('kern.nosuchthing')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(k.sys.sysctl([CTL_KERN, 999])).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(k.sys.sysctl('kern.hostname', 42)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.sysctl('kern.hostname', 'x'.repeat(256))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.sysctl('kern.maxfiles', 3)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(k.sys.sysctl('kern.hz.deeper')).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(k.sys.sysctl('kern')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await k.sys.sysctl('kern.ostype')).toBe('NetBSD');
    expect(await k.sys.sysctl('kern.hostname')).toBe('rump-1.sim');
    expect(await k.sys.sysctl('kern.maxfiles')).toBe(3404);
  });

  it('walks kern.* as sysctl -a prints it', async () => {
    const w = simWorld();
    const k = await bootSim(w);
    const lines = [...k.sysctl.walk('kern')].map(sysctl_format);
    expect(lines).toContain('kern.ostype = NetBSD');
    expect(lines).toContain('kern.hz = 100');
    expect(lines).toContain('kern.clockrate = tick = 10000, tickadj = 0, hz = 100, profhz = 1, stathz = 1');
    expect(lines).toContain('kern.softint.mode = inline');
    expect(lines.find((l) => l.startsWith('kern.boottime = '))).toBe('kern.boottime = Thu, 01 Jan 2026 00:00:00 GMT');
  });
});
