/*
 * Unit tests for the kernel sysctl tree (kern_sysctl.ts): node types and
 * their checks, errno rules of create/lookup/write/destroy, MIB numbering,
 * hooks, walk order and the `sysctl -a` text, and per-kernel isolation.
 */

import { describe, it, expect } from 'vitest';
import {
  EEXIST, EINVAL, EIO, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY, EPERM, ERANGE, SyscallError,
} from '../../include/errno.ts';
import {
  CREATE_BASE, CTL_CREATE, CTL_KERN, CTL_MAXNAME, CTL_NET, CTLFLAG_HEX, CTLFLAG_PERMANENT,
  CTLFLAG_READWRITE, CTLTYPE_BOOL, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_QUAD, CTLTYPE_STRING,
  CTLTYPE_STRUCT, KERN_HOSTNAME, SYSCTL_NAMELEN,
} from '../../include/sysctl.ts';
import { Sysctl, SYSCTL_DEFAULT_MAXLEN, sysctl_format, sysctl_parse, type SysctlNode } from './kern_sysctl.ts';

const RW = CTLFLAG_READWRITE;

function mustCreate<N>(r: { error: number; node?: N }): N {
  expect(r.error).toBe(0);
  expect(r.node).toBeDefined();
  return r.node!;
}

function errnoOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SyscallError);
    return (e as SyscallError).errno;
  }
  throw new Error('expected a SyscallError');
}

/* A kernel-like tree: kern.hostname and a few net.inet.tcp tunables. */
function sample(): Sysctl {
  const s = new Sysctl();
  mustCreate(s.sysctl_createv('kern', { name: 'hostname', num: KERN_HOSTNAME, type: CTLTYPE_STRING, flags: RW, value: 'rump-1.sim', maxlen: 255 }));
  mustCreate(s.sysctl_createv('net', { name: 'inet', num: 2, type: CTLTYPE_NODE }));
  mustCreate(s.sysctl_createv('net.inet', { name: 'tcp', num: 6, type: CTLTYPE_NODE }));
  mustCreate(s.sysctl_createv('net.inet.tcp', { name: 'mss_ifmtu', num: 8, type: CTLTYPE_INT, flags: RW, value: 0 }));
  mustCreate(s.sysctl_createv('net.inet.tcp', { name: 'mssdflt', num: 4, type: CTLTYPE_INT, flags: RW, value: 536 }));
  return s;
}

describe('top level', () => {
  it('has NetBSD\'s top-level nodes with their CTL_* numbers, permanent', () => {
    const s = new Sysctl();
    expect(s.sysctl_name2mib('kern')).toEqual({ error: 0, mib: [CTL_KERN] });
    expect(s.sysctl_name2mib('net')).toEqual({ error: 0, mib: [CTL_NET] });
    expect(s.sysctl_mib2name([13])).toEqual({ error: 0, name: 'security' });
    expect(s.root.children.map((n) => n.num)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(s.sysctl_destroyv('kern')).toBe(EPERM);
    expect(s.sysctl_destroyv('')).toBe(EPERM);
  });

  it('a bare tree has only the root', () => {
    const s = new Sysctl({ bare: true });
    expect(s.root.children).toEqual([]);
    expect(s.sysctl_locate('kern').error).toBe(ENOENT);
    mustCreate(s.sysctl_createv('', { name: 'kern', num: CTL_KERN, type: CTLTYPE_NODE }));
    expect(s.sysctl_name2mib('kern').mib).toEqual([1]);
  });
});

describe('node types', () => {
  it('int: stores int32, refuses non-integers and out-of-range with EINVAL', () => {
    const s = new Sysctl();
    const n = mustCreate(s.sysctl_createv('kern', { name: 'maxproc', num: 6, type: CTLTYPE_INT, flags: RW, value: 100 }));
    expect(n.value).toBe(100);
    expect(s.set('kern.maxproc', 2147483647)).toBe(100);
    expect(s.get('kern.maxproc')).toBe(2147483647);
    expect(s.set('kern.maxproc', -2147483648)).toBe(2147483647);
    for (const bad of [2147483648, -2147483649, 1.5, NaN, Infinity, '5', 5n, true, null, {}]) {
      expect(s.sysctl_dispatch('kern.maxproc', bad).error).toBe(EINVAL);
    }
    expect(n.value).toBe(-2147483648);
  });

  it('int defaults to 0 and refuses a bad initial value', () => {
    const s = new Sysctl();
    expect(mustCreate(s.sysctl_createv('kern', { name: 'zero', type: CTLTYPE_INT })).value).toBe(0);
    expect(s.sysctl_createv('kern', { name: 'big', type: CTLTYPE_INT, value: 2 ** 31 }).error).toBe(EINVAL);
    expect(s.sysctl_locate('kern.big').error).toBe(ENOENT);
  });

  it('bool: booleans only', () => {
    const s = new Sysctl();
    const n = mustCreate(s.sysctl_createv('kern', { name: 'flag', type: CTLTYPE_BOOL, flags: RW }));
    expect(n.value).toBe(false);
    expect(s.set('kern.flag', true)).toBe(false);
    expect(n.value).toBe(true);
    expect(s.sysctl_dispatch('kern.flag', 0).error).toBe(EINVAL);
    expect(s.sysctl_dispatch('kern.flag', 'true').error).toBe(EINVAL);
    expect(n.value).toBe(true);
  });

  it('string: bounded by maxlen (default 1024)', () => {
    const s = sample();
    expect(s.get('kern.hostname')).toBe('rump-1.sim');
    expect(s.set('kern.hostname', 'x'.repeat(255))).toBe('rump-1.sim');
    expect(s.sysctl_dispatch('kern.hostname', 'x'.repeat(256)).error).toBe(EINVAL);
    expect(s.get('kern.hostname')).toBe('x'.repeat(255));
    expect(s.sysctl_dispatch('kern.hostname', 42).error).toBe(EINVAL);

    const d = mustCreate(s.sysctl_createv('kern', { name: 'version', type: CTLTYPE_STRING, flags: RW }));
    expect(d.value).toBe('');
    expect(d.maxlen).toBe(SYSCTL_DEFAULT_MAXLEN);
    expect(s.sysctl_dispatch('kern.version', 'v'.repeat(1024)).error).toBe(0);
    expect(s.sysctl_dispatch('kern.version', 'v'.repeat(1025)).error).toBe(EINVAL);
    expect(s.sysctl_createv('kern', { name: 'short', type: CTLTYPE_STRING, maxlen: 3, value: 'toolong' }).error).toBe(EINVAL);
  });

  it('quad: bigint within int64', () => {
    const s = new Sysctl();
    const n = mustCreate(s.sysctl_createv('kern', { name: 'q', type: CTLTYPE_QUAD, flags: RW, value: 5n }));
    expect(s.set('kern.q', (1n << 63n) - 1n)).toBe(5n);
    expect(s.set('kern.q', -(1n << 63n))).toBe((1n << 63n) - 1n);
    expect(s.sysctl_dispatch('kern.q', 1n << 63n).error).toBe(EINVAL);
    expect(s.sysctl_dispatch('kern.q', -(1n << 63n) - 1n).error).toBe(EINVAL);
    expect(s.sysctl_dispatch('kern.q', 7).error).toBe(EINVAL);
    expect(n.value).toBe(-(1n << 63n));
  });

  it('struct: read-only without a hook even when READWRITE; writable with validate', () => {
    const s = new Sysctl();
    const boot = { sec: 1000, usec: 5 };
    const n = mustCreate(s.sysctl_createv('kern', { name: 'boottime', num: 83, type: CTLTYPE_STRUCT, flags: RW, value: boot }));
    expect(n.value.sec).toBe(1000); /* typed as the struct */
    expect(s.get('kern.boottime')).toBe(boot);
    expect(s.sysctl_dispatch('kern.boottime', { sec: 1, usec: 0 }).error).toBe(EPERM);
    expect(n.value).toBe(boot);

    const w = mustCreate(s.sysctl_createv('kern', {
      name: 'window', type: CTLTYPE_STRUCT, flags: RW, value: { lo: 1, hi: 2 },
      validate: (v) => (v.lo <= v.hi ? 0 : EINVAL),
    }));
    expect(s.set('kern.window', { lo: 3, hi: 4 })).toEqual({ lo: 1, hi: 2 });
    expect(s.sysctl_dispatch('kern.window', { lo: 9, hi: 4 }).error).toBe(EINVAL);
    expect(s.sysctl_dispatch('kern.window', 'lo=1').error).toBe(EINVAL);
    expect(s.sysctl_dispatch('kern.window', null).error).toBe(EINVAL);
    expect(w.value).toEqual({ lo: 3, hi: 4 });
  });

  it('struct needs a value or a get', () => {
    const s = new Sysctl();
    expect(s.sysctl_createv('kern', { name: 's', type: CTLTYPE_STRUCT }).error).toBe(EINVAL);
  });

  it('node: reading a directory is EISDIR, writing too', () => {
    const s = sample();
    expect(s.sysctl_dispatch('net.inet').error).toBe(EISDIR);
    expect(s.sysctl_dispatch('net.inet', 1).error).toBe(EISDIR);
    expect(s.sysctl_dispatch('').error).toBe(EISDIR);
    expect(errnoOf(() => s.get('kern'))).toBe(EISDIR);
  });
});

describe('lookup and write errors', () => {
  it('EPERM on a read-only node, which keeps its value', () => {
    const s = new Sysctl();
    const n = mustCreate(s.sysctl_createv('kern', { name: 'ostype', num: 1, type: CTLTYPE_STRING, value: 'NetBSD' }));
    expect(s.sysctl_dispatch('kern.ostype', 'Linux')).toEqual({ error: EPERM });
    expect(n.value).toBe('NetBSD');
    expect(n.write('Linux')).toBe(EPERM);
    expect(n.value).toBe('NetBSD');
    const e = (() => { try { s.set('kern.ostype', 'Linux'); } catch (x) { return x; } return undefined; })();
    expect(e).toBeInstanceOf(SyscallError);
    expect((e as SyscallError).errno).toBe(EPERM);
    expect((e as SyscallError).code).toBe('EPERM');
    expect((e as SyscallError).syscall).toBe('sysctl');
    expect((e as SyscallError).message).toContain('kern.ostype');
  });

  it('ENOENT for unknown names and MIBs', () => {
    const s = sample();
    expect(s.sysctl_dispatch('kern.nosuch').error).toBe(ENOENT);
    expect(s.sysctl_dispatch('nosuch.thing').error).toBe(ENOENT);
    expect(s.sysctl_dispatch('kern..hostname').error).toBe(ENOENT);
    expect(s.sysctl_dispatch([CTL_KERN, 9999]).error).toBe(ENOENT);
    expect(errnoOf(() => s.get('net.inet.udp'))).toBe(ENOENT);
  });

  it('ENOTDIR when a name descends through a leaf', () => {
    const s = sample();
    expect(s.sysctl_dispatch('kern.hostname.x').error).toBe(ENOTDIR);
    expect(s.sysctl_dispatch([CTL_KERN, KERN_HOSTNAME, 1]).error).toBe(ENOTDIR);
  });

  it('EINVAL for malformed MIBs', () => {
    const s = sample();
    expect(s.sysctl_dispatch([1, 1.5]).error).toBe(EINVAL);
    expect(s.sysctl_dispatch(new Array<number>(CTL_MAXNAME + 1).fill(1)).error).toBe(EINVAL);
  });

  it('a read returns the value and writes nothing', () => {
    const s = sample();
    expect(s.sysctl_dispatch('net.inet.tcp.mssdflt')).toEqual({ error: 0, oldValue: 536 });
    expect(s.sysctl_dispatch([4, 2, 6, 4])).toEqual({ error: 0, oldValue: 536 });
    expect(s.sysctl_dispatch([4, 2, 6, 4], 1460)).toEqual({ error: 0, oldValue: 536 });
    expect(s.get('net.inet.tcp.mssdflt')).toBe(1460);
  });

  it('set(name, undefined) is refused rather than read', () => {
    const s = sample();
    expect(errnoOf(() => s.set('net.inet.tcp.mssdflt', undefined as unknown as number))).toBe(EINVAL);
  });
});

describe('validate and hooks', () => {
  it('validate refuses with its errno and the old value stays', () => {
    const s = new Sysctl();
    const seen: number[] = [];
    const n = mustCreate(s.sysctl_createv('kern', {
      name: 'msl', type: CTLTYPE_INT, flags: RW, value: 30,
      validate: (v) => { seen.push(v); return v >= 0 && v <= 120 ? 0 : EINVAL; },
    }));
    expect(s.sysctl_dispatch('kern.msl', 500)).toEqual({ error: EINVAL });
    expect(n.value).toBe(30);
    expect(s.sysctl_dispatch('kern.msl', 60)).toEqual({ error: 0, oldValue: 30 });
    expect(n.value).toBe(60);
    /* validate is not consulted for a value of the wrong type */
    expect(s.sysctl_dispatch('kern.msl', 'x').error).toBe(EINVAL);
    expect(seen).toEqual([500, 60]);
  });

  it('validate may refuse with any errno', () => {
    const s = new Sysctl();
    mustCreate(s.sysctl_createv('kern', { name: 'r', type: CTLTYPE_INT, flags: RW, validate: () => ERANGE }));
    expect(errnoOf(() => s.set('kern.r', 1))).toBe(ERANGE);
    expect(s.get('kern.r')).toBe(0);
  });

  it('get/set hooks back a node with kernel state', () => {
    const s = new Sysctl();
    const state = { hz: 100 };
    const n = mustCreate(s.sysctl_createv('kern', {
      name: 'hz', type: CTLTYPE_INT, flags: RW,
      get: () => state.hz,
      set: (v) => { if (v === 0) return EINVAL; state.hz = v; return 0; },
    }));
    expect(n.value).toBe(100);
    state.hz = 250;
    expect(s.get('kern.hz')).toBe(250);
    expect(s.set('kern.hz', 1000)).toBe(250);
    expect(state.hz).toBe(1000);
    expect(s.sysctl_dispatch('kern.hz', 0).error).toBe(EINVAL);
    expect(state.hz).toBe(1000);
  });

  it('set without get is told of the write and the value is stored', () => {
    const s = new Sysctl();
    const applied: boolean[] = [];
    const n = mustCreate(s.sysctl_createv('kern', {
      name: 'enable', type: CTLTYPE_BOOL, flags: RW,
      set: (v) => { applied.push(v); return 0; },
    }));
    s.set('kern.enable', true);
    expect(applied).toEqual([true]);
    expect(n.value).toBe(true);
  });

  it('a set hook that refuses leaves a stored value unchanged', () => {
    const s = new Sysctl();
    const n = mustCreate(s.sysctl_createv('kern', { name: 'x', type: CTLTYPE_INT, flags: RW, value: 7, set: () => EPERM }));
    expect(s.sysctl_dispatch('kern.x', 8).error).toBe(EPERM);
    expect(n.value).toBe(7);
  });

  it('a read-only get-backed node refuses writes before calling anything', () => {
    const s = new Sysctl();
    let gets = 0;
    mustCreate(s.sysctl_createv('kern', { name: 'ticks', type: CTLTYPE_QUAD, get: () => { gets++; return 42n; } }));
    expect(s.sysctl_dispatch('kern.ticks', 1n).error).toBe(EPERM);
    expect(gets).toBe(0);
    expect(s.get('kern.ticks')).toBe(42n);
    expect(gets).toBe(1);
  });

  it('refuses inconsistent hook sets at creation', () => {
    const s = new Sysctl();
    /* writable, read through get, nowhere for the write to go */
    expect(s.sysctl_createv('kern', { name: 'a', type: CTLTYPE_INT, flags: RW, get: () => 1 }).error).toBe(EINVAL);
    /* two sources for the value */
    expect(s.sysctl_createv('kern', { name: 'b', type: CTLTYPE_INT, value: 1, get: () => 1 }).error).toBe(EINVAL);
    expect(s.sysctl_locate('kern.a').error).toBe(ENOENT);
    expect(s.sysctl_locate('kern.b').error).toBe(ENOENT);
  });

  it('a throwing get fails the read with its SyscallError errno, or EIO', () => {
    const s = new Sysctl();
    mustCreate(s.sysctl_createv('kern', { name: 'gone', type: CTLTYPE_INT, get: () => { throw new SyscallError(ENOENT, 'x'); } }));
    mustCreate(s.sysctl_createv('kern', { name: 'bug', type: CTLTYPE_INT, get: () => { throw new TypeError('oops'); } }));
    expect(s.sysctl_dispatch('kern.gone').error).toBe(ENOENT);
    expect(s.sysctl_dispatch('kern.bug').error).toBe(EIO);
  });
});

describe('creation rules', () => {
  it('EEXIST for a duplicate name or number under one parent', () => {
    const s = sample();
    expect(s.sysctl_createv('kern', { name: 'hostname', type: CTLTYPE_INT }).error).toBe(EEXIST);
    expect(s.sysctl_createv('kern', { name: 'other', num: KERN_HOSTNAME, type: CTLTYPE_INT }).error).toBe(EEXIST);
    expect(s.sysctl_createv('', { name: 'net', type: CTLTYPE_NODE }).error).toBe(EEXIST);
    /* the same name and number under another parent is fine */
    mustCreate(s.sysctl_createv('net', { name: 'hostname', num: KERN_HOSTNAME, type: CTLTYPE_INT }));
    expect(s.get('kern.hostname')).toBe('rump-1.sim');
  });

  it('auto numbers start at CREATE_BASE per parent and only increase', () => {
    const s = new Sysctl();
    const a = mustCreate(s.sysctl_createv('kern', { name: 'a', type: CTLTYPE_INT }));
    const b = mustCreate(s.sysctl_createv('kern', { name: 'b', num: CTL_CREATE, type: CTLTYPE_INT }));
    const c = mustCreate(s.sysctl_createv('net', { name: 'c', type: CTLTYPE_INT }));
    expect([a.num, b.num, c.num]).toEqual([CREATE_BASE, CREATE_BASE + 1, CREATE_BASE]);
    /* an explicit number in the auto range is skipped over */
    mustCreate(s.sysctl_createv('kern', { name: 'x', num: CREATE_BASE + 2, type: CTLTYPE_INT }));
    const d = mustCreate(s.sysctl_createv('kern', { name: 'd', type: CTLTYPE_INT }));
    expect(d.num).toBe(CREATE_BASE + 3);
    /* a destroyed number is not handed out again */
    expect(s.sysctl_destroyv('kern.d')).toBe(0);
    const e = mustCreate(s.sysctl_createv('kern', { name: 'e', type: CTLTYPE_INT }));
    expect(e.num).toBe(CREATE_BASE + 4);
    expect(s.sysctl_name2mib('kern.e').mib).toEqual([CTL_KERN, CREATE_BASE + 4]);
  });

  it('ENOENT for a missing parent, ENOTDIR for a leaf parent', () => {
    const s = sample();
    expect(s.sysctl_createv('net.inet6', { name: 'x', type: CTLTYPE_INT }).error).toBe(ENOENT);
    expect(s.sysctl_createv('kern.hostname', { name: 'x', type: CTLTYPE_INT }).error).toBe(ENOTDIR);
    expect(s.sysctl_createv([CTL_KERN, KERN_HOSTNAME], { name: 'x', type: CTLTYPE_INT }).error).toBe(ENOTDIR);
  });

  it('a parent can be given as a MIB', () => {
    const s = sample();
    const n = mustCreate(s.sysctl_createv([4, 2, 6], { name: 'mslt', type: CTLTYPE_NODE }));
    expect(n.path).toBe('net.inet.tcp.mslt');
  });

  it('names: [A-Za-z0-9_]+, shorter than SYSCTL_NAMELEN', () => {
    const s = new Sysctl();
    for (const bad of ['', 'a.b', 'a-b', 'a b', 'é', 'x'.repeat(SYSCTL_NAMELEN)]) {
      expect(s.sysctl_createv('kern', { name: bad, type: CTLTYPE_INT }).error).toBe(EINVAL);
    }
    mustCreate(s.sysctl_createv('kern', { name: 'x'.repeat(SYSCTL_NAMELEN - 1), type: CTLTYPE_INT }));
    mustCreate(s.sysctl_createv('kern', { name: 'Ab_09', type: CTLTYPE_INT }));
  });

  it('numbers must be non-negative integers (or CTL_CREATE)', () => {
    const s = new Sysctl();
    for (const bad of [-2, 1.5, NaN]) {
      expect(s.sysctl_createv('kern', { name: 'n', num: bad, type: CTLTYPE_INT }).error).toBe(EINVAL);
    }
    expect(mustCreate(s.sysctl_createv('kern', { name: 'n', num: 0, type: CTLTYPE_INT })).num).toBe(0);
  });

  it('depth is limited to CTL_MAXNAME', () => {
    const s = new Sysctl();
    let path = 'kern';
    for (let depth = 2; depth <= CTL_MAXNAME; depth++) {
      mustCreate(s.sysctl_createv(path, { name: `d${depth}`, type: CTLTYPE_NODE }));
      path += `.d${depth}`;
    }
    expect(s.sysctl_name2mib(path).mib).toHaveLength(CTL_MAXNAME);
    expect(s.sysctl_createv(path, { name: 'deeper', type: CTLTYPE_INT }).error).toBe(EINVAL);
  });

  it('mkpath creates missing directories, auto-numbered', () => {
    const s = new Sysctl();
    const n = mustCreate(s.sysctl_createv('net.inet.tcp.vtw', { name: 'enable', type: CTLTYPE_INT, flags: RW }, { mkpath: true }));
    expect(n.path).toBe('net.inet.tcp.vtw.enable');
    expect(n.mib).toEqual([CTL_NET, CREATE_BASE, CREATE_BASE, CREATE_BASE, CREATE_BASE]);
    /* existing directories are reused */
    const m = mustCreate(s.sysctl_createv('net.inet.tcp.vtw', { name: 'fat', type: CTLTYPE_INT }, { mkpath: true }));
    expect(m.parent).toBe(n.parent);
    expect(s.sysctl_createv('net.inet.tcp.vtw.enable.x', { name: 'y', type: CTLTYPE_INT }, { mkpath: true }).error).toBe(ENOTDIR);
    expect(s.sysctl_createv('net.a-b', { name: 'y', type: CTLTYPE_INT }, { mkpath: true }).error).toBe(EINVAL);
  });
});

describe('names and MIBs', () => {
  it('translate both ways', () => {
    const s = sample();
    expect(s.sysctl_name2mib('kern.hostname')).toEqual({ error: 0, mib: [CTL_KERN, KERN_HOSTNAME] });
    expect(s.sysctl_mib2name([4, 2, 6, 8])).toEqual({ error: 0, name: 'net.inet.tcp.mss_ifmtu' });
    expect(s.sysctl_name2mib('kern.nosuch')).toEqual({ error: ENOENT });
    expect(s.sysctl_mib2name([4, 2, 99])).toEqual({ error: ENOENT });
    expect(s.sysctl_name2mib('')).toEqual({ error: 0, mib: [] });
    const n = s.sysctl_locate([4, 2, 6, 8]).node!;
    expect(n).toBe(s.sysctl_locate('net.inet.tcp.mss_ifmtu').node);
    expect(n.path).toBe('net.inet.tcp.mss_ifmtu');
    expect(n.mib).toEqual([4, 2, 6, 8]);
  });
});

describe('node references', () => {
  it('node.value follows writes through the tree without lookups', () => {
    const s = sample();
    const n = s.sysctl_locate('net.inet.tcp.mss_ifmtu').node as SysctlNode<number>;
    expect(n.value).toBe(0);
    s.set('net.inet.tcp.mss_ifmtu', 1);
    expect(n.value).toBe(1);
    expect(s.sysctl_lookup(n, 2)).toEqual({ error: 0, oldValue: 1 });
    expect(n.write(3)).toBe(0);
    expect(n.write(1.5)).toBe(EINVAL);
    expect(s.get([4, 2, 6, 8])).toBe(3);
  });
});

describe('destroy', () => {
  it('ENOENT, EPERM for permanent, ENOTEMPTY for a directory with children', () => {
    const s = sample();
    mustCreate(s.sysctl_createv('kern', { name: 'perm', type: CTLTYPE_INT, flags: CTLFLAG_PERMANENT }));
    expect(s.sysctl_destroyv('kern.nosuch')).toBe(ENOENT);
    expect(s.sysctl_destroyv('kern.perm')).toBe(EPERM);
    expect(s.get('kern.perm')).toBe(0);
    expect(s.sysctl_destroyv('net.inet.tcp')).toBe(ENOTEMPTY);
    expect(s.sysctl_destroyv('net.inet.tcp.mss_ifmtu')).toBe(0);
    expect(s.sysctl_destroyv([4, 2, 6, 4])).toBe(0);
    expect(s.sysctl_destroyv('net.inet.tcp')).toBe(0);
    expect(s.sysctl_locate('net.inet.tcp').error).toBe(ENOENT);
    expect(s.sysctl_locate([4, 2, 6]).error).toBe(ENOENT);
    /* name and number are free again */
    mustCreate(s.sysctl_createv('net.inet', { name: 'tcp', num: 6, type: CTLTYPE_NODE }));
  });

  it('a kernel reference to a destroyed node still reads', () => {
    const s = sample();
    const n = s.sysctl_locate('net.inet.tcp.mssdflt').node!;
    expect(s.sysctl_destroyv('net.inet.tcp.mssdflt')).toBe(0);
    expect(n.value).toBe(536);
    expect(n.parent).toBeNull();
  });
});

describe('walk and format', () => {
  function tree(): Sysctl {
    const s = new Sysctl();
    /* created out of MIB order on purpose */
    mustCreate(s.sysctl_createv('kern', { name: 'hostname', num: 10, type: CTLTYPE_STRING, value: 'rump-1.sim' }));
    mustCreate(s.sysctl_createv('kern', { name: 'ostype', num: 1, type: CTLTYPE_STRING, value: 'NetBSD' }));
    mustCreate(s.sysctl_createv('kern', { name: 'flags', num: 5, type: CTLTYPE_INT, flags: CTLFLAG_HEX, value: 255 }));
    mustCreate(s.sysctl_createv('kern', { name: 'mask', num: 4, type: CTLTYPE_INT, flags: CTLFLAG_HEX, value: -1 }));
    mustCreate(s.sysctl_createv('net', { name: 'inet', num: 2, type: CTLTYPE_NODE }));
    mustCreate(s.sysctl_createv('net.inet', { name: 'tcp', num: 6, type: CTLTYPE_NODE }));
    mustCreate(s.sysctl_createv('net.inet.tcp', { name: 'sack', num: 11, type: CTLTYPE_BOOL, value: true }));
    mustCreate(s.sysctl_createv('net.inet.tcp', { name: 'rfc1323', num: 1, type: CTLTYPE_BOOL, value: false }));
    mustCreate(s.sysctl_createv('net.inet', { name: 'ip', num: 0, type: CTLTYPE_NODE }));
    mustCreate(s.sysctl_createv('net.inet.ip', { name: 'bytes', num: 3, type: CTLTYPE_QUAD, value: 12345678901234n }));
    mustCreate(s.sysctl_createv('kern', { name: 'boottime', num: 83, type: CTLTYPE_STRUCT, value: { sec: 1700000000, usec: 250 } }));
    mustCreate(s.sysctl_createv('kern', {
      name: 'clockrate', num: 12, type: CTLTYPE_STRUCT, value: { hz: 100, tick: 10000 },
      format: (v) => `{ hz = ${v.hz}, tick = ${v.tick} }`,
    }));
    return s;
  }

  it('walks every leaf depth first in MIB order', () => {
    const s = tree();
    const all = [...s.walk()];
    expect(all.map((e) => e.name)).toEqual([
      'kern.ostype', 'kern.mask', 'kern.flags', 'kern.hostname', 'kern.clockrate', 'kern.boottime',
      'net.inet.ip.bytes', 'net.inet.tcp.rfc1323', 'net.inet.tcp.sack',
    ]);
    expect(all.map((e) => e.mib)).toEqual([
      [1, 1], [1, 4], [1, 5], [1, 10], [1, 12], [1, 83], [4, 2, 0, 3], [4, 2, 6, 1], [4, 2, 6, 11],
    ]);
    expect(all[0]!.type).toBe(CTLTYPE_STRING);
    expect(all.every((e) => e.error === 0)).toBe(true);
  });

  it('walks from a prefix, or a single leaf', () => {
    const s = tree();
    expect([...s.walk('net.inet.tcp')].map((e) => e.name)).toEqual(['net.inet.tcp.rfc1323', 'net.inet.tcp.sack']);
    expect([...s.walk([4, 2, 0])].map((e) => e.name)).toEqual(['net.inet.ip.bytes']);
    expect([...s.walk('kern.hostname')].map((e) => e.value)).toEqual(['rump-1.sim']);
    expect(errnoOf(() => [...s.walk('nosuch')])).toBe(ENOENT);
    expect(errnoOf(() => [...s.walk('kern.hostname.x')])).toBe(ENOTDIR);
  });

  it('formats as sysctl -a does', () => {
    const s = tree();
    expect([...s.walk()].map((e) => s.format(e))).toEqual([
      'kern.ostype = NetBSD',
      'kern.mask = 0xffffffff',
      'kern.flags = 0xff',
      'kern.hostname = rump-1.sim',
      'kern.clockrate = { hz = 100, tick = 10000 }',
      'kern.boottime = sec = 1700000000, usec = 250',
      'net.inet.ip.bytes = 12345678901234',
      'net.inet.tcp.rfc1323 = 0',
      'net.inet.tcp.sack = 1',
    ]);
  });

  it('formats hex quads and nested structs', () => {
    const s = new Sysctl();
    mustCreate(s.sysctl_createv('kern', { name: 'q', type: CTLTYPE_QUAD, flags: CTLFLAG_HEX, value: -1n }));
    mustCreate(s.sysctl_createv('kern', { name: 's', type: CTLTYPE_STRUCT, value: { a: { b: 1n }, c: [1, 2], d: 'x' } }));
    expect([...s.walk('kern')].map(sysctl_format)).toEqual([
      'kern.q = 0xffffffffffffffff',
      'kern.s = a = {b = 1}, c = [1, 2], d = x',
    ]);
  });

  it('a failing hook does not break the walk', () => {
    const s = new Sysctl();
    mustCreate(s.sysctl_createv('kern', { name: 'a', num: 1, type: CTLTYPE_INT, value: 1 }));
    mustCreate(s.sysctl_createv('kern', { name: 'broken', num: 2, type: CTLTYPE_INT, get: () => { throw new Error('bug'); } }));
    mustCreate(s.sysctl_createv('kern', { name: 'c', num: 3, type: CTLTYPE_INT, value: 3 }));
    mustCreate(s.sysctl_createv('kern', {
      name: 'd', num: 4, type: CTLTYPE_STRUCT, value: { x: 1 }, format: () => { throw new Error('bug'); },
    }));
    const all = [...s.walk('kern')];
    expect(all.map((e) => [e.name, e.error, e.value])).toEqual([
      ['kern.a', 0, 1], ['kern.broken', EIO, undefined], ['kern.c', 0, 3], ['kern.d', 0, { x: 1 }],
    ]);
    expect(all.map(sysctl_format)).toEqual([
      'kern.a = 1', 'kern.broken: Input/output error', 'kern.c = 3', 'kern.d = x = 1',
    ]);
  });

  it('tolerates the tree changing while walking', () => {
    const s = tree();
    const names: string[] = [];
    for (const e of s.walk('kern')) {
      names.push(e.name);
      if (e.name === 'kern.ostype') {
        s.sysctl_destroyv('kern.hostname');
        s.sysctl_createv('kern', { name: 'late', type: CTLTYPE_INT });
      }
    }
    expect(names).toContain('kern.hostname'); /* from the snapshot */
    expect(names).not.toContain('kern.late');
    expect(s.sysctl_locate('kern.late').error).toBe(0);
  });
});

describe('sysctl_parse', () => {
  it('reads the text sysctl -w takes, the inverse of format for scalars', () => {
    const s = tree2();
    const node = (n: string): SysctlNode => s.sysctl_locate(n).node!;
    expect(sysctl_parse(node('kern.i'), '42')).toEqual({ error: 0, value: 42 });
    expect(sysctl_parse(node('kern.i'), '-7')).toEqual({ error: 0, value: -7 });
    expect(sysctl_parse(node('kern.i'), '0xffffffff')).toEqual({ error: 0, value: -1 });
    expect(sysctl_parse(node('kern.i'), '4x').error).toBe(EINVAL);
    expect(sysctl_parse(node('kern.b'), '1')).toEqual({ error: 0, value: true });
    expect(sysctl_parse(node('kern.b'), 'false')).toEqual({ error: 0, value: false });
    expect(sysctl_parse(node('kern.b'), 'yes').error).toBe(EINVAL);
    expect(sysctl_parse(node('kern.q'), '0xffffffffffffffff')).toEqual({ error: 0, value: -1n });
    expect(sysctl_parse(node('kern.q'), '123456789012345678')).toEqual({ error: 0, value: 123456789012345678n });
    expect(sysctl_parse(node('kern.s'), ' a b ')).toEqual({ error: 0, value: ' a b ' });
    expect(sysctl_parse(node('kern'), '1').error).toBe(EISDIR);
    /* round trip through format for a hex int */
    s.set('kern.i', -1);
    const e = [...s.walk('kern.i')][0]!;
    expect(sysctl_parse(node('kern.i'), s.format(e).split(' = ')[1]!)).toEqual({ error: 0, value: -1 });
  });

  function tree2(): Sysctl {
    const s = new Sysctl();
    mustCreate(s.sysctl_createv('kern', { name: 'i', type: CTLTYPE_INT, flags: RW | CTLFLAG_HEX }));
    mustCreate(s.sysctl_createv('kern', { name: 'b', type: CTLTYPE_BOOL }));
    mustCreate(s.sysctl_createv('kern', { name: 'q', type: CTLTYPE_QUAD }));
    mustCreate(s.sysctl_createv('kern', { name: 's', type: CTLTYPE_STRING }));
    return s;
  }
});

describe('isolation', () => {
  it('two kernels share no nodes, values or numbering', () => {
    const a = sample();
    const b = sample();
    a.set('kern.hostname', 'a');
    expect(b.get('kern.hostname')).toBe('rump-1.sim');
    expect(a.sysctl_locate('kern.hostname').node).not.toBe(b.sysctl_locate('kern.hostname').node);
    mustCreate(a.sysctl_createv('kern', { name: 'onlya', type: CTLTYPE_INT }));
    expect(b.sysctl_locate('kern.onlya').error).toBe(ENOENT);
    mustCreate(a.sysctl_createv('kern', { name: 'x2', type: CTLTYPE_INT }));
    expect(mustCreate(b.sysctl_createv('kern', { name: 'x', type: CTLTYPE_INT })).num).toBe(CREATE_BASE);
    expect(a.sysctl_destroyv('net.inet.tcp.mssdflt')).toBe(0);
    expect(b.get('net.inet.tcp.mssdflt')).toBe(536);
    expect(a.root).not.toBe(b.root);
  });
});
