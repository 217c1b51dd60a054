/*
 * rump.ifconfig: configure a rump kernel's network interfaces (NetBSD's
 * ifconfig(8)), with socket ioctls only.
 *
 *   rump.ifconfig [-v] -a [-u|-d]        every interface
 *   rump.ifconfig -l [-u|-d]             interface names
 *   rump.ifconfig -C                     interface cloners
 *   rump.ifconfig [-v] IF                one interface
 *   rump.ifconfig IF create | destroy
 *   rump.ifconfig IF [inet] ADDR[/LEN] [netmask M] [broadcast B] [alias | -alias | delete]
 *                    [up | down] [mtu N] [linkstr STR | -linkstr]
 *
 * The listing follows NetBSD's: "flags=0x8843<UP,...> mtu 1500", the
 * link address, the shmif link string, "inet 10.0.0.1/24 broadcast
 * 10.0.0.255 flags 0x0" per address, and with -v the counters
 * ("input: 12 packets, 1008 bytes, ..."; SIOCGIFDATA).  A failed request
 * is reported with the ioctl's name, e.g. "ifconfig: SIOCGIFFLAGS shmif9:
 * Device not configured", and exit status 1.
 */

import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import {
  IFF_UP, SIOCAIFADDR, SIOCDIFADDR, SIOCGIFALIAS, SIOCGIFCONF, SIOCGIFDATA, SIOCGIFFLAGS, SIOCGIFMTU,
  SIOCGLINKSTR, SIOCIFCREATE, SIOCIFDESTROY, SIOCIFGCLONERS, SIOCSIFFLAGS, SIOCSIFMTU, SIOCSLINKSTR,
  type IfAliasreq, type IfconfEntry, type IfData, type Ifdrv, type Ifreq,
} from '../include/if.ts';
import { AF_INET, AF_LINK, SOCK_DGRAM, type SockaddrIn } from '../include/socket.ts';
import { bitnames, errstr, getopt, inet_aton, inet_ntoa, mask2plen, plen2mask } from './lib/toolutil.ts';
import { IFNETFLAGS } from './lib/rtutil.ts';

const USAGE = 'usage: rump.ifconfig [-h] [-v] [-z] interface\n' +
  '\t[ af [ address [ dest_addr ] ] [ netmask mask ] [ broadcast addr ] [ alias | -alias | delete ] ]\n' +
  '\t[ up ] [ down ] [ mtu n ] [ linkstr str | -linkstr ] [ create | destroy ]\n' +
  '       rump.ifconfig -a [-v] [-u|-d]\n' +
  '       rump.ifconfig -l [-u|-d]\n' +
  '       rump.ifconfig -C\n';

/** A failed ioctl, with the name ifconfig reports it by. */
class IoctlError extends Error {
  constructor(readonly what: string, readonly failure: unknown) {
    super(what);
  }
}

function sin(a: number): SockaddrIn {
  return { sin_family: AF_INET, sin_port: 0, sin_addr: inet_ntoa(a) };
}

class Ifconfig {
  constructor(readonly sys: SysApi, readonly s: number, readonly io: ToolIO) {}

  async ioctl(what: string, cmd: number, arg: unknown): Promise<unknown> {
    try {
      return await this.sys.ioctl(this.s, cmd, arg);
    } catch (e) {
      throw new IoctlError(what, e);
    }
  }

  async flags(ifname: string): Promise<number> {
    const r = (await this.ioctl(`SIOCGIFFLAGS ${ifname}`, SIOCGIFFLAGS, { ifr_name: ifname })) as Ifreq;
    return r.ifr_flags ?? 0;
  }

  async conf(): Promise<IfconfEntry[]> {
    return (await this.ioctl('SIOCGIFCONF', SIOCGIFCONF, {})) as IfconfEntry[];
  }

  /** The status block of one interface (NetBSD's status()). */
  async status(ifname: string, entries: readonly IfconfEntry[], verbose: boolean): Promise<string> {
    const flags = await this.flags(ifname);
    const mtu = ((await this.ioctl(`SIOCGIFMTU ${ifname}`, SIOCGIFMTU, { ifr_name: ifname })) as Ifreq).ifr_mtu ?? 0;
    let s = `${ifname}: flags=0x${flags.toString(16)}${bitnames(flags, IFNETFLAGS)} mtu ${mtu}\n`;
    const mine = entries.filter((e) => e.ifr_name === ifname);
    for (const e of mine) {
      const a = e.ifr_addr as { sdl_family?: number; sdl_data?: string };
      if (a.sdl_family === AF_LINK && a.sdl_data !== undefined && a.sdl_data !== '') s += `\taddress: ${a.sdl_data}\n`;
    }
    try {
      const ls = (await this.sys.ioctl(this.s, SIOCGLINKSTR, { ifd_name: ifname, ifd_data: null })) as Ifdrv;
      if (typeof ls.ifd_data === 'string') s += `\tlinkstr: ${ls.ifd_data}\n`;
    } catch {
      /* Most interfaces have no link string (EOPNOTSUPP). */
    }
    if (verbose) {
      const d = ((await this.ioctl(`SIOCGIFDATA ${ifname}`, SIOCGIFDATA, { ifr_name: ifname })) as { ifr_data: IfData }).ifr_data;
      s += counters(d);
    }
    for (const e of mine) {
      const a = e.ifr_addr as Partial<SockaddrIn>;
      if (a.sin_family !== AF_INET || typeof a.sin_addr !== 'string') continue;
      const al = (await this.ioctl(`SIOCGIFALIAS ${ifname}`, SIOCGIFALIAS, { ifra_name: ifname, ifra_addr: a })) as IfAliasreq;
      const mask = inet_aton((al.ifra_mask as SockaddrIn | undefined)?.sin_addr ?? '') ?? 0xffffffff;
      s += `\tinet ${a.sin_addr}/${mask2plen(mask)}`;
      const b = al.ifra_broadaddr as SockaddrIn | undefined;
      if (b !== undefined) s += ` broadcast ${b.sin_addr}`;
      s += ' flags 0x0\n';
    }
    return s;
  }
}

/* "input: 12 packets, 1008 bytes, ..." as ifconfig -v prints if_data. */
function counters(d: IfData): string {
  let s = `\tinput: ${d.ifi_ipackets} packets, ${d.ifi_ibytes} bytes`;
  if (d.ifi_imcasts !== 0) s += `, ${d.ifi_imcasts} multicasts`;
  if (d.ifi_ierrors !== 0) s += `, ${d.ifi_ierrors} errors`;
  if (d.ifi_iqdrops !== 0) s += `, ${d.ifi_iqdrops} queue drops`;
  if (d.ifi_noproto !== 0) s += `, ${d.ifi_noproto} unknown protocol`;
  s += `\n\toutput: ${d.ifi_opackets} packets, ${d.ifi_obytes} bytes`;
  if (d.ifi_omcasts !== 0) s += `, ${d.ifi_omcasts} multicasts`;
  if (d.ifi_oerrors !== 0) s += `, ${d.ifi_oerrors} errors`;
  if (d.ifi_collisions !== 0) s += `, ${d.ifi_collisions} collisions`;
  return s + '\n';
}

/* A netmask: dotted quad or 0xffffff00. */
function parseMask(t: string): number | null {
  if (/^0x[0-9a-f]{1,8}$/i.test(t)) return parseInt(t.slice(2), 16) >>> 0;
  return inet_aton(t);
}

/** What the words after the interface name ask for. */
interface Settings {
  create: boolean;
  destroy: boolean;
  addr: number | null;
  plen: number | null;
  mask: number | null;
  broadcast: number | null;
  remove: boolean;
  up: boolean | null;
  mtu: number | null;
  linkstr: string | null | undefined;
}

function parseSettings(words: readonly string[]): Settings | string {
  const st: Settings = {
    create: false, destroy: false, addr: null, plen: null, mask: null, broadcast: null, remove: false, up: null,
    mtu: null, linkstr: undefined,
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const arg = (): string | null => (i + 1 < words.length ? words[++i]! : null);
    switch (w) {
      case 'create': st.create = true; break;
      case 'destroy': st.destroy = true; break;
      case 'up': st.up = true; break;
      case 'down': st.up = false; break;
      case 'inet': break;
      case 'alias': break;
      case '-alias':
      case 'delete': st.remove = true; break;
      case '-linkstr': st.linkstr = null; break;
      case 'linkstr': {
        const v = arg();
        if (v === null) return 'linkstr: missing argument';
        st.linkstr = v;
        break;
      }
      case 'mtu': {
        const v = arg();
        if (v === null || !/^\d+$/.test(v)) return `${v ?? 'mtu'}: bad value`;
        st.mtu = Number(v);
        break;
      }
      case 'netmask': {
        const v = arg();
        const m = v === null ? null : parseMask(v);
        if (m === null || mask2plen(m) < 0) return `${v ?? 'netmask'}: bad value`;
        st.mask = m;
        break;
      }
      case 'broadcast': {
        const v = arg();
        const b = v === null ? null : inet_aton(v);
        if (b === null) return `${v ?? 'broadcast'}: bad value`;
        st.broadcast = b;
        break;
      }
      case 'inet6':
      case 'link':
      case 'atalk':
        return `${w}: address family not supported`;
      default: {
        if (st.addr !== null) return `${w}: bad value`;
        const slash = w.indexOf('/');
        const a = inet_aton(slash < 0 ? w : w.slice(0, slash));
        if (a === null) return `${w}: bad value`;
        if (slash >= 0) {
          const p = w.slice(slash + 1);
          if (!/^\d{1,2}$/.test(p) || Number(p) > 32) return `${w}: bad value`;
          st.plen = Number(p);
        }
        st.addr = a;
      }
    }
  }
  return st;
}

async function configure(c: Ifconfig, ifname: string, st: Settings): Promise<void> {
  if (st.create) await c.ioctl('SIOCIFCREATE', SIOCIFCREATE, { ifr_name: ifname });
  if (st.destroy) {
    await c.ioctl('SIOCIFDESTROY', SIOCIFDESTROY, { ifr_name: ifname });
    return;
  }
  const flags = await c.flags(ifname);
  if (st.linkstr !== undefined) await c.ioctl('SIOCSLINKSTR', SIOCSLINKSTR, { ifd_name: ifname, ifd_data: st.linkstr });
  if (st.mtu !== null) await c.ioctl('SIOCSIFMTU', SIOCSIFMTU, { ifr_name: ifname, ifr_mtu: st.mtu });
  if (st.addr !== null) {
    if (st.remove) {
      await c.ioctl('SIOCDIFADDR', SIOCDIFADDR, { ifr_name: ifname, ifr_addr: sin(st.addr) });
    } else {
      const req: IfAliasreq = { ifra_name: ifname, ifra_addr: sin(st.addr) };
      const mask = st.plen !== null ? plen2mask(st.plen) : st.mask;
      if (mask !== null) req.ifra_mask = sin(mask);
      if (st.broadcast !== null) req.ifra_broadaddr = sin(st.broadcast);
      await c.ioctl('SIOCAIFADDR', SIOCAIFADDR, req);
    }
  }
  if (st.up !== null) {
    /* The address may have brought it up: ask again. */
    const now = st.addr !== null ? await c.flags(ifname) : flags;
    const want = st.up ? now | IFF_UP : now & ~IFF_UP;
    if (want !== now) await c.ioctl('SIOCSIFFLAGS', SIOCSIFFLAGS, { ifr_name: ifname, ifr_flags: want });
  }
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const g = getopt(argv, 'aCdhluvz');
  if (g.error !== null) {
    io.err(`ifconfig: ${g.error}\n${USAGE}`);
    return 1;
  }
  const has = (c: string): boolean => g.opts.some((o) => o.opt === c);
  const [aflag, lflag, Cflag, uflag, dflag, vflag] = ['a', 'l', 'C', 'u', 'd', 'v'].map(has);
  if (has('h') || (uflag && dflag) || ((aflag || lflag || Cflag) && g.rest.length !== 0) ||
      (!aflag && !lflag && !Cflag && g.rest.length === 0) || [aflag, lflag, Cflag].filter(Boolean).length > 1) {
    io.err(USAGE);
    return 1;
  }
  let s: number;
  try {
    s = await sys.socket(AF_INET, SOCK_DGRAM);
  } catch (e) {
    io.err(`ifconfig: socket: ${errstr(e)}\n`);
    return 1;
  }
  const c = new Ifconfig(sys, s, io);
  try {
    if (Cflag) {
      const cl = (await c.ioctl('SIOCIFGCLONERS', SIOCIFGCLONERS, {})) as string[];
      io.out(`${cl.join(' ')}\n`);
      return 0;
    }
    if (aflag || lflag) {
      const conf = await c.conf();
      const names = [...new Set(conf.map((e) => e.ifr_name))];
      const picked: string[] = [];
      for (const n of names) {
        const up = ((await c.flags(n)) & IFF_UP) !== 0;
        if ((uflag && !up) || (dflag && up)) continue;
        picked.push(n);
      }
      if (lflag) {
        io.out(`${picked.join(' ')}\n`);
        return 0;
      }
      for (const n of picked) io.out(await c.status(n, conf, vflag));
      return 0;
    }
    const ifname = g.rest[0]!;
    const words = g.rest.slice(1);
    if (words.length === 0) {
      await c.flags(ifname);
      io.out(await c.status(ifname, await c.conf(), vflag));
      return 0;
    }
    const st = parseSettings(words);
    if (typeof st === 'string') {
      io.err(`ifconfig: ${st}\n`);
      return 1;
    }
    await configure(c, ifname, st);
    return 0;
  } catch (e) {
    if (e instanceof IoctlError) io.err(`ifconfig: ${e.what}: ${errstr(e.failure)}\n`);
    else io.err(`ifconfig: ${errstr(e)}\n`);
    return 1;
  } finally {
    await sys.close(s).catch(() => undefined);
  }
}
