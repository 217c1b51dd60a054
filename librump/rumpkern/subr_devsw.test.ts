/*
 * Unit tests for the device switch and open(2) (subr_devsw.ts): a toy
 * cloning driver (each open a private buffer) and a plain one (state by
 * minor) reached through open/read/write/ioctl/poll/fstat/close; lookup
 * errors (ENOENT, ENXIO, EROFS, EEXIST, EINVAL, ENAMETOOLONG), flags the
 * driver sees, dup sharing one open, and closing on process exit.
 */

import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import { kernel_run, rump_lwproc_rfork, rump_proc_exit, RUMP_RFCFDG, type Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import type { Uio } from './kern_descrip.ts';
import {
  cdevsw_lookup, devnode_create, devnode_list, devnode_remove, devsw_attach, devsw_detach, major, makedev, minor,
  type Cdevsw, type Devfile,
} from './subr_devsw.ts';
import { selnotify, selrecord, SelInfo } from './sys_select.ts';
import { EAGAIN, EEXIST, EINVAL, ENAMETOOLONG, ENOENT, ENOTTY, ENXIO, EROFS, SyscallError } from '../../include/errno.ts';
import {
  F_GETFD, F_GETFL, FIONBIO, FIONREAD, FNONBLOCK, FREAD, FWRITE, O_CLOEXEC, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY,
  O_RDWR, O_WRONLY, POLLIN, POLLOUT, S_IFCHR,
} from '../../include/syscall.ts';

/* A cloning driver: each open is a private byte queue. */
class Echo {
  data: number[] = [];
  readonly sel = new SelInfo();
}

interface Log {
  opens: { flag: number; dev: number }[];
  closes: number;
  flags: number[];
}

function echodev(log: Log, k: () => Kernel): Cdevsw {
  return {
    d_name: 'echo',
    d_open: (df: Devfile, flag: number) => {
      log.opens.push({ flag, dev: df.df_dev });
      df.df_private = new Echo();
      return 0;
    },
    d_close: () => {
      log.closes++;
      return 0;
    },
    d_read: (df: Devfile, uio: Uio, flag: number) => {
      log.flags.push(flag);
      const e = df.df_private as Echo;
      if (e.data.length === 0) return (flag & FNONBLOCK) !== 0 ? EAGAIN : 0;
      const n = Math.min(uio.uio_resid, e.data.length);
      uio.uio_buf.set(e.data.splice(0, n), uio.uio_offset);
      uio.uio_offset += n;
      uio.uio_resid -= n;
      return 0;
    },
    d_write: (df: Devfile, uio: Uio) => {
      const e = df.df_private as Echo;
      e.data.push(...uio.uio_buf.subarray(uio.uio_offset, uio.uio_offset + uio.uio_resid));
      uio.uio_offset += uio.uio_resid;
      uio.uio_resid = 0;
      selnotify(k(), e.sel);
      return 0;
    },
    d_ioctl: (df: Devfile, cmd: number, data: { value?: unknown }) => {
      if (cmd === FIONREAD) {
        data.value = (df.df_private as Echo).data.length;
        return 0;
      }
      return cmd === FIONBIO ? 0 : ENOTTY;
    },
    d_poll: (df: Devfile, events: number, l: Lwp) => {
      const e = df.df_private as Echo;
      let r = events & POLLOUT;
      if (e.data.length > 0) r |= events & POLLIN;
      if (r === 0) selrecord(l, e.sel);
      return r;
    },
  };
}

/* A plain driver: answers each read with its minor number. */
const minordev: Cdevsw = {
  d_name: 'minor',
  d_open: () => 0,
  d_close: () => 0,
  d_read: (df, uio) => {
    uio.uio_buf[uio.uio_offset] = minor(df.df_dev);
    uio.uio_offset++;
    uio.uio_resid--;
    return 0;
  },
  d_write: () => ENXIO,
  d_ioctl: () => ENOTTY,
  d_poll: (_df, events) => events & POLLIN,
};

async function setup(): Promise<{ k: Kernel; log: Log; emaj: number; mmaj: number; w: ReturnType<typeof simWorld> }> {
  const w = simWorld({ seed: 3 });
  const k = await bootSim(w);
  const log: Log = { opens: [], closes: 0, flags: [] };
  const { emaj, mmaj } = kernel_run(k, () => {
    const e = devsw_attach(k, echodev(log, () => k));
    const m = devsw_attach(k, minordev);
    expect(e.error).toBe(0);
    expect(m.error).toBe(0);
    expect(devnode_create(k, 'echo', makedev(e.major, 0))).toBe(0);
    expect(devnode_create(k, 'minor3', makedev(m.major, 3))).toBe(0);
    expect(devnode_create(k, 'minor300', makedev(m.major, 300))).toBe(0);
    return { emaj: e.major, mmaj: m.major };
  });
  return { k, log, emaj, mmaj, w };
}

async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SyscallError) return e.errno;
    throw e;
  }
  return 0;
}

describe('dev_t', () => {
  it('makedev/major/minor round-trip NetBSD encoding, 12-bit majors and 20-bit minors', () => {
    for (const [ma, mi] of [[0, 0], [1, 255], [23, 256], [4095, 0xfffff], [7, 0x12345]] as const) {
      const d = makedev(ma, mi);
      expect(d).toBeGreaterThanOrEqual(0);
      expect([major(d), minor(d)]).toEqual([ma, mi]);
    }
    expect(makedev(23, 5)).toBe(0x1705);
  });
});

describe('open(2) of device nodes', () => {
  it('each open of a cloning device is its own instance; reads, writes, ioctls reach the driver', async () => {
    const { k, log } = await setup();
    const a = await k.sys.open('/dev/echo', O_RDWR);
    const b = await k.sys.open('/dev/echo', O_RDWR);
    expect(a).not.toBe(b);
    expect(await k.sys.write(a, 'hello')).toBe(5);
    expect(await k.sys.ioctl(a, FIONREAD)).toBe(5);
    expect(await k.sys.ioctl(b, FIONREAD)).toBe(0);
    const buf = new Uint8Array(16);
    expect(await k.sys.read(a, buf)).toBe(5);
    expect(new TextDecoder().decode(buf.subarray(0, 5))).toBe('hello');
    expect(log.opens.map((o) => o.flag)).toEqual([FREAD | FWRITE, FREAD | FWRITE]);
    const st = await k.sys.fstat(a);
    expect(st.st_mode & S_IFCHR).toBe(S_IFCHR);
    expect(st.st_dev).toBe(log.opens[0]!.dev);
    /* Generic ioctls still work on a device descriptor; unknown ones are the driver's answer. */
    await expect(k.sys.ioctl(a, 0x2000_7a01)).rejects.toMatchObject({ code: 'ENOTTY' });
    await k.sys.close(a);
    await k.sys.close(b);
    expect(log.closes).toBe(2);
  });

  it('access modes map to FREAD/FWRITE; O_NONBLOCK and FIONBIO reach the driver as FNONBLOCK', async () => {
    const { k, log } = await setup();
    const r = await k.sys.open('/dev/echo', O_RDONLY);
    const wr = await k.sys.open('/dev/echo', O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    expect(log.opens.map((o) => o.flag)).toEqual([FREAD, FWRITE | FNONBLOCK]);
    expect(await k.sys.fcntl(wr, F_GETFD)).toBe(1);
    expect(await k.sys.fcntl(wr, F_GETFL) & (O_WRONLY | O_NONBLOCK)).toBe(O_WRONLY | O_NONBLOCK);
    /* Write on a read-only open, read on a write-only one: EBADF before the driver. */
    await expect(k.sys.write(r, 'x')).rejects.toMatchObject({ code: 'EBADF' });
    await expect(k.sys.read(wr, new Uint8Array(1))).rejects.toMatchObject({ code: 'EBADF' });
    expect(await k.sys.read(r, new Uint8Array(1))).toBe(0);
    await k.sys.ioctl(r, FIONBIO, 1);
    await expect(k.sys.read(r, new Uint8Array(1))).rejects.toMatchObject({ code: 'EAGAIN' });
    expect(log.flags).toEqual([FREAD, FREAD | FNONBLOCK]);
  });

  it('a plain driver sees the node minor; dup shares one open, closed with its last descriptor', async () => {
    const { k, log } = await setup();
    const b = new Uint8Array(1);
    const f3 = await k.sys.open('/dev/minor3');
    const f300 = await k.sys.open('//dev/./minor300');
    await k.sys.read(f3, b);
    expect(b[0]).toBe(3);
    await k.sys.read(f300, b);
    expect(b[0]).toBe(300 & 0xff);
    const e = await k.sys.open('/dev/../dev/echo', O_RDWR);
    const e2 = await k.sys.dup(e);
    await k.sys.write(e, 'ab');
    expect(await k.sys.ioctl(e2, FIONREAD)).toBe(2);
    await k.sys.close(e);
    expect(log.closes).toBe(0);
    await k.sys.close(e2);
    expect(log.closes).toBe(1);
  });

  it('poll waits for the driver to notify', async () => {
    const { k, w } = await setup();
    const a = await k.sys.open('/dev/echo', O_RDWR);
    const b = await k.sys.dup(a);
    const fds = [{ fd: a, events: POLLIN, revents: 0 }];
    expect(await k.sys.poll(fds, 0)).toBe(0);
    const p = k.sys.poll(fds, 5000);
    await w.advance(10);
    await k.sys.write(b, 'x');
    expect(await p).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN);
  });

  it('refuses bad paths and flags with the errno namei and open would give', async () => {
    const { k, mmaj } = await setup();
    expect(await errnoOf(k.sys.open('/dev/nonesuch'))).toBe(ENOENT);
    expect(await errnoOf(k.sys.open('/etc/passwd'))).toBe(ENOENT);
    expect(await errnoOf(k.sys.open('/dev'))).toBe(ENOENT);
    expect(await errnoOf(k.sys.open(''))).toBe(ENOENT);
    expect(await errnoOf(k.sys.open(`/dev/${'x'.repeat(1100)}`))).toBe(ENAMETOOLONG);
    expect(await errnoOf(k.sys.open('/dev/nonesuch', O_CREAT | O_RDWR))).toBe(EROFS);
    expect(await errnoOf(k.sys.open('/dev/echo', O_CREAT | O_EXCL | O_RDWR))).toBe(EEXIST);
    expect(await errnoOf(k.sys.open('/dev/echo', 3))).toBe(EINVAL);
    expect(await errnoOf(k.sys.open('/dev/echo', 0x10000000))).toBe(EINVAL);
    expect(await errnoOf(k.sys.open(42 as unknown as string))).toBe(EINVAL);
    /* O_CREAT on an existing node just opens it. */
    await k.sys.close(await k.sys.open('/dev/echo', O_CREAT | O_RDWR));
    /* A node whose driver went away: ENXIO. */
    kernel_run(k, () => {
      expect(devsw_detach(k, cdevsw_lookup(k, makedev(mmaj, 3))!)).toBe(0);
      expect(cdevsw_lookup(k, makedev(mmaj, 3))).toBeNull();
    });
    expect(await errnoOf(k.sys.open('/dev/minor3'))).toBe(ENXIO);
    /* Nothing leaked a descriptor. */
    expect(await k.sys.open('/dev/echo')).toBe(3);
  });

  it('a failing d_open leaves no descriptor behind', async () => {
    const { k } = await setup();
    const nfiles = k.nfiles;
    kernel_run(k, () => {
      const r = devsw_attach(k, { ...minordev, d_name: 'busy', d_open: () => 16 });
      expect(devnode_create(k, 'busy', makedev(r.major, 0))).toBe(0);
    });
    await expect(k.sys.open('/dev/busy')).rejects.toMatchObject({ code: 'EBUSY' });
    expect(k.nfiles).toBe(nfiles);
    expect(await k.sys.open('/dev/echo')).toBe(3);
  });

  it('node and switch bookkeeping: names, duplicates, removal, listing', async () => {
    const { k, emaj } = await setup();
    kernel_run(k, () => {
      expect(devsw_attach(k, { ...minordev, d_name: 'echo' }).error).toBe(EEXIST);
      expect(devnode_create(k, 'echo', makedev(emaj, 1))).toBe(EEXIST);
      for (const bad of ['', '.', '..', 'a/b']) expect(devnode_create(k, bad, 0)).toBe(EINVAL);
      expect(devnode_list(k).map((n) => n.name)).toEqual(['echo', 'minor3', 'minor300']);
      expect(devnode_remove(k, 'minor300')).toBe(0);
      expect(devnode_remove(k, 'minor300')).toBe(ENOENT);
    });
    expect(await errnoOf(k.sys.open('/dev/minor300'))).toBe(ENOENT);
  });

  it("a process's opens are closed when it exits", async () => {
    const { k, log } = await setup();
    const { proc, sys } = rump_lwproc_rfork(k, RUMP_RFCFDG, 'client');
    await sys.open('/dev/echo', O_RDWR);
    await sys.open('/dev/echo', O_RDWR);
    await rump_proc_exit(k, proc);
    expect(log.closes).toBe(2);
  });
});
