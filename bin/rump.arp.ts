/*
 * rump.arp: show and change a rump kernel's ARP cache (NetBSD's arp(8)).
 *
 *   rump.arp [-n] host             one entry, or "host (addr) -- no entry"
 *   rump.arp [-nv] -a              every entry
 *   rump.arp [-v] -d host | -a     delete one entry, or all of them
 *   rump.arp -s host ether_addr    a permanent entry
 *
 * The cache is read with the net.route.rtable.inet.flags.llinfo sysctl
 * (NET_RT_FLAGS with RTF_LLDATA) and changed with RTM_ADD and RTM_DELETE
 * messages carrying RTF_LLDATA on a routing socket, as NetBSD's arp does.
 * Lines as NetBSD's: "? (10.0.0.2) at b2:a0:00:00:00:02 on shmif0", with
 * "permanent" for static entries; -v adds the seconds an entry has left
 * ("expires in 1200 seconds", FreeBSD's wording).  Hosts are numeric (no
 * name service), so the name is always "?".  Deleting an entry that is
 * not there says "not in table" and exits 1.
 */

import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import { PF_ROUTE, AF_INET, SOCK_RAW } from '../include/socket.ts';
import { IFT_ETHER } from '../include/if.ts';
import {
  RTAX_DST, RTAX_GATEWAY, RTAX_MAX, RTF_HOST, RTF_LLDATA, RTF_STATIC, RTM_ADD, RTM_DELETE, rt_msg_build, rtm_blank,
  sa_dl, sa_in, type LlinfoEntry,
} from '../include/route.ts';
import { ether_aton } from '../net/lib/libnet/if_ether.ts';
import { errnoOf, errstr, getopt, inet_aton, inet_ntoa } from './lib/toolutil.ts';
import { rt_llinfo } from './lib/rtutil.ts';
import { ESRCH, strerror } from '../include/errno.ts';

const USAGE = 'usage: rump.arp [-n] hostname\n' +
  '       rump.arp [-nv] -a\n' +
  '       rump.arp [-v] -d [-a|hostname]\n' +
  '       rump.arp -s hostname ether_addr\n';

function entry(e: LlinfoEntry, vflag: boolean): string {
  let s = `? (${e.addr}) at ${e.lladdr !== '' ? e.lladdr : '(incomplete)'}`;
  if (e.ifname !== '') s += ` on ${e.ifname}`;
  if (e.permanent) s += ' permanent';
  else if (vflag && e.expire >= 0) s += ` expires in ${e.expire} seconds`;
  return `${s}\n`;
}

/** Send one RTF_LLDATA request; resolve to its errno. */
async function rtmsg(sys: SysApi, type: number, addr: number, mac: Uint8Array | null): Promise<number> {
  const s = await sys.socket(PF_ROUTE, SOCK_RAW, AF_INET);
  try {
    const hdr = rtm_blank(type);
    hdr.rtm_flags = RTF_LLDATA | RTF_HOST | (type === RTM_ADD ? RTF_STATIC : 0);
    const addrs: (Uint8Array | null)[] = new Array<Uint8Array | null>(RTAX_MAX).fill(null);
    addrs[RTAX_DST] = sa_in(addr);
    if (mac !== null) addrs[RTAX_GATEWAY] = sa_dl({ sdl_index: 0, sdl_type: IFT_ETHER, sdl_name: '', sdl_addr: mac });
    await sys.write(s, rt_msg_build(hdr, addrs));
    return 0;
  } catch (e) {
    return errnoOf(e) !== 0 ? errnoOf(e) : -1;
  } finally {
    await sys.close(s).catch(() => undefined);
  }
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const g = getopt(argv, 'adnsv');
  const has = (c: string): boolean => g.opts.some((o) => o.opt === c);
  const [aflag, dflag, sflag, vflag] = ['a', 'd', 's', 'v'].map(has);
  const usage = (): number => {
    io.err(`${g.error !== null ? `arp: ${g.error}\n` : ''}${USAGE}`);
    return 1;
  };
  if (g.error !== null || (dflag && sflag)) return usage();
  const host = (s: string): number | null => {
    const a = inet_aton(s);
    if (a === null) io.err(`arp: ${s}: Unknown host\n`);
    return a;
  };
  try {
    if (sflag) {
      if (g.rest.length < 2 || g.rest.length > 3 || (g.rest.length === 3 && g.rest[2] !== 'temp')) return usage();
      const a = host(g.rest[0]!);
      if (a === null) return 1;
      const mac = ether_aton(g.rest[1]!);
      if (mac === null) {
        io.err(`arp: invalid Ethernet address '${g.rest[1]}'\n`);
        return 1;
      }
      const e = await rtmsg(sys, RTM_ADD, a, mac);
      if (e !== 0) {
        io.err(`arp: writing to routing socket: ${strerror(e)}\n`);
        return 1;
      }
      return 0;
    }
    if (dflag) {
      if (aflag ? g.rest.length !== 0 : g.rest.length !== 1) return usage();
      const want = aflag ? null : host(g.rest[0]!);
      if (!aflag && want === null) return 1;
      const victims = (await rt_llinfo(sys)).filter((e) => want === null || inet_aton(e.addr) === want);
      if (want !== null && victims.length === 0) {
        io.err(`arp: ${g.rest[0]}: not in table\n`);
        return 1;
      }
      let rc = 0;
      for (const v of victims) {
        const e = await rtmsg(sys, RTM_DELETE, inet_aton(v.addr)!, null);
        if (e !== 0 && e !== ESRCH) {
          io.err(`arp: writing to routing socket: ${strerror(e)}\n`);
          rc = 1;
        } else if (vflag) {
          io.out(`${aflag ? '?' : g.rest[0]} (${v.addr}) deleted\n`);
        }
      }
      return rc;
    }
    if (aflag) {
      if (g.rest.length !== 0) return usage();
      for (const e of await rt_llinfo(sys)) io.out(entry(e, vflag));
      return 0;
    }
    if (g.rest.length !== 1) return usage();
    const a = host(g.rest[0]!);
    if (a === null) return 1;
    const e = (await rt_llinfo(sys)).find((x) => inet_aton(x.addr) === a);
    if (e === undefined) {
      io.out(`${g.rest[0]} (${inet_ntoa(a)}) -- no entry\n`);
      return 1;
    }
    io.out(entry(e, vflag));
    return 0;
  } catch (e) {
    io.err(`arp: ${errstr(e)}\n`);
    return 1;
  }
}
