/*
 * route.ts: a kernel's IPv4 routing table (NetBSD's sys/net/route.c and
 * route.h).  Every kernel owns one RouteTable; nothing here is shared.
 *
 * Call chains:
 *   ip_output -> rtalloc1(dst) -> rn_match          (packet path, no allocation)
 *   route(8) / routing socket -> rtrequest(RTM_ADD | RTM_DELETE | RTM_CHANGE)
 *   ifconfig addr -> in_control -> rt_ifa_add / rt_ifa_remove
 *   if_detach -> rt_if_detach
 *   netstat -rn -> rt_walk / rt_format_table
 *
 * What is kept from NetBSD: the names (Rtentry's rt_* fields, RTF_* and RTM_*
 * with NetBSD's values, rtrequest, rtalloc1, rt_walktree, rtstat), the
 * rtentry's contents (gateway, flags, refcnt, use, ifp, ifa, metrics), the
 * errors rtrequest returns, how a gateway route finds its interface (the
 * gateway must be reachable through a non-gateway route, else ENETUNREACH),
 * connected routes flagged RTF_CONNECTED and local-address routes flagged
 * RTF_LOCAL that go through lo0 (NetBSD's useloopback), and clearing RTF_UP
 * on a deleted entry so anyone still holding it can tell.
 *
 * What differs, and why:
 *   - Keys are a uint32 address (host byte order) and a prefix length, not
 *     sockaddrs and masks: this table is IPv4 only and radix.ts is
 *     specialised for it.  RTF_HOST is exactly "plen is 32".
 *   - Memory is the garbage collector's, so there is no psref or rt_free.
 *     rt_refcnt counts holders that cache an entry (a PCB's route), taken
 *     with rt_ref and dropped with rt_unref, so `netstat -rn` Refs shows
 *     them; rtalloc1 takes no reference, so the packet path has nothing to
 *     release.  rt_use is bumped by the caller that sends through the route.
 *   - Instead of NetBSD's rtcache machinery, the table has a generation
 *     number, rt_gen, bumped on every change.  A cache keeps the entry and
 *     the rt_gen it saw, and looks up again when they differ.
 *   - No locks: one virtual CPU runs kernel code and every operation here is
 *     synchronous, so no other context can see a half-made change.
 *   - The table records the interface addresses it made routes for
 *     (RtIfaddr, NetBSD's ifaddr reduced to what routing needs), so that
 *     removing an address can find the routes that use it as their source.
 *   - rt_expire is stored for the timers that will use it (redirects,
 *     rt_timer); the table itself never reads the clock.
 *
 * Errors are errno numbers (0 is success), as inside NetBSD; nothing here
 * throws except the panic hook for a broken invariant.
 */

import { EADDRNOTAVAIL, EEXIST, EINVAL, ENETUNREACH, EOPNOTSUPP, ESRCH } from '../../../include/errno.ts';
import { RadixNodeHead, RN_MAXPLEN, rn_plen2mask, rn_valid_prefix } from './radix.ts';

/*
 * rt_flags and the rtrequest requests are the routing socket's (NetBSD's
 * values), defined with its wire format in include/route.ts.
 */
import {
  RTF_BLACKHOLE, RTF_CONNECTED, RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_REJECT, RTF_UP, RTM_ADD, RTM_CHANGE,
  RTM_DELETE, rt_flagstr, rt_netname, rt_ntoa,
} from '../../../include/route.ts';
export {
  RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_BROADCAST, RTF_CONNECTED, RTF_DONE, RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST,
  RTF_LLDATA, RTF_LOCAL, RTF_MASK, RTF_MODIFIED, RTF_PROTO1, RTF_PROTO2, RTF_REJECT, RTF_SRC, RTF_STATIC,
  RTF_UP, RTF_UPDATING, RTM_ADD, RTM_CHANGE, RTM_DELETE, RTM_GET, rt_flagstr, rt_netname, rt_ntoa,
} from '../../../include/route.ts';

/**
 * What routing needs of an interface.  A structural type, so this module
 * does not depend on the ifnet code; a real ifnet satisfies it.
 */
export interface RtIfnet {
  readonly if_index: number;
  readonly if_xname: string;
  readonly if_mtu: number;
}

/**
 * An interface address as routing sees it (NetBSD's ifaddr, reduced): the
 * source address for packets sent through routes made from it.
 */
export interface RtIfaddr {
  readonly ifa_addr: number;
  /** Prefix length of the address's network. */
  readonly ifa_plen: number;
  /** The interface the address belongs to. */
  readonly ifa_ifp: RtIfnet;
}

/** Route metrics (struct rt_metrics, the parts used). */
export interface RtMetrics {
  /** Path MTU; 0 means "the interface's MTU". */
  rmx_mtu: number;
  /** When the route expires (kernel seconds); 0 means never. */
  rmx_expire: number;
}

/** A routing table entry (struct rtentry). */
export class Rtentry {
  /** Destination prefix (host bits zero), uint32 host order. */
  readonly rt_dst: number;
  /** Prefix length, 0..32. */
  readonly rt_plen: number;
  /** Next hop for RTF_GATEWAY routes, else 0 (the destination is on-link). */
  rt_gateway = 0;
  rt_flags = 0;
  /** Holders that cache this entry (rt_ref / rt_unref). */
  rt_refcnt = 0;
  /** Packets sent through this route (bumped by the sender). */
  rt_use = 0;
  /** The answer: the interface to send through. */
  rt_ifp: RtIfnet;
  /** The interface address to use as source (and whose removal removes the route). */
  rt_ifa: RtIfaddr;
  readonly rt_rmx: RtMetrics = { rmx_mtu: 0, rmx_expire: 0 };

  constructor(dst: number, plen: number, ifp: RtIfnet, ifa: RtIfaddr) {
    this.rt_dst = dst;
    this.rt_plen = plen;
    this.rt_ifp = ifp;
    this.rt_ifa = ifa;
  }

  /** The netmask, as a uint32. */
  get rt_mask(): number {
    return rn_plen2mask(this.rt_plen);
  }

  get rt_ifindex(): number {
    return this.rt_ifp.if_index;
  }

  /** Source address for packets sent through this route (0 if unknown). */
  get rt_ifa_addr(): number {
    return this.rt_ifa.ifa_addr;
  }

  get rt_expire(): number {
    return this.rt_rmx.rmx_expire;
  }

  set rt_expire(t: number) {
    this.rt_rmx.rmx_expire = t;
  }
}

/**
 * A route request (NetBSD's rt_addrinfo, with the sockaddrs unpacked).
 *
 * For RTM_ADD: rti_dst/rti_plen name the route; with RTF_GATEWAY in
 * rti_flags, rti_gateway is required and the interface is found through the
 * gateway (rti_ifp, if given, must be that interface); without it the route
 * is direct and rti_ifp is required, rti_ifa_addr picking the source
 * address (default: the interface's first address known to the table).
 * For RTM_CHANGE: fields left out keep their current values.
 * For RTM_DELETE: only rti_dst/rti_plen are used.
 */
export interface RtAddrinfo {
  rti_dst: number;
  rti_plen: number;
  rti_gateway?: number;
  rti_flags?: number;
  rti_ifp?: RtIfnet;
  rti_ifa_addr?: number;
  rti_mtu?: number;
  rti_expire?: number;
}

/** rtrequest's answer: an errno (0 on success) and the entry concerned. */
export interface RtRequestResult {
  error: number;
  rt: Rtentry | null;
}

/** Routing statistics (struct rtstat). */
export interface RtStat {
  /** Bogus redirect calls. */
  rts_badredirect: number;
  /** Routes created by redirects. */
  rts_dynamic: number;
  /** Routes modified by redirects. */
  rts_newgateway: number;
  /** Lookups which failed. */
  rts_unreach: number;
  /** Lookups satisfied by the default route. */
  rts_wildcard: number;
}

export interface RouteTableOptions {
  /**
   * Called for a broken invariant (rt_unref below zero); the kernel passes
   * its panic().  The default throws.
   */
  panic?: (msg: string) => never;
}

function is_uint32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

/* Flags a route may carry: a non-negative int (RTF_* fit in 31 bits). */
function is_flags(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0x7fffffff;
}

/* A gateway must be reached without another gateway and without a discard. */
const RTF_NOTDIRECT = RTF_GATEWAY | RTF_REJECT | RTF_BLACKHOLE;

function fail(error: number): RtRequestResult {
  return { error, rt: null };
}

/** The IPv4 routing table of one kernel. */
export class RouteTable {
  private readonly rt_tree = new RadixNodeHead<Rtentry>();
  /* Interface addresses that rt_ifa_add made routes for. */
  private readonly rt_ifaddrs: RtIfaddr[] = [];
  private rt_generation = 0;
  private readonly rt_panic: (msg: string) => never;

  /*
   * rt_getifa's answer, in fields rather than a fresh object, and the entry
   * its gateway search must not use (the route being changed, which could
   * otherwise be found as the way to its own gateway).
   */
  private gi_ifp: RtIfnet | null = null;
  private gi_ifa: RtIfaddr | null = null;
  private gi_self: Rtentry | null = null;
  private readonly gi_accept = (rt: Rtentry): boolean =>
    rt !== this.gi_self && (rt.rt_flags & RTF_NOTDIRECT) === 0;

  readonly rtstat: RtStat = { rts_badredirect: 0, rts_dynamic: 0, rts_newgateway: 0, rts_unreach: 0, rts_wildcard: 0 };

  /**
   * The loopback interface (lo0) once attached.  Routes to this host's own
   * addresses (RTF_LOCAL) made after it is set go through it, as NetBSD's do
   * with net.inet.ip.useloopback; before, they go through the address's own
   * interface.
   */
  lo0ifp: RtIfnet | null = null;

  constructor(opts: RouteTableOptions = {}) {
    this.rt_panic = opts.panic ?? ((msg: string): never => { throw new Error(`panic: ${msg}`); });
  }

  /**
   * Generation number, bumped on every change to the table.  A cached route
   * is still the answer rtalloc1 would give while rt_gen is unchanged.
   */
  get rt_gen(): number {
    return this.rt_generation;
  }

  /** Number of routes in the table. */
  get rt_count(): number {
    return this.rt_tree.rn_count;
  }

  /**
   * Add, delete or change a route.  Errors: EINVAL (malformed prefix or
   * host bits set, RTF_HOST on a network, gateway route without gateway,
   * gateway on a direct route, direct route without interface, bad metric),
   * EEXIST (RTM_ADD of a stored dst/plen), ESRCH (RTM_DELETE or RTM_CHANGE
   * of a missing one), ENETUNREACH (no interface route reaches the gateway),
   * EOPNOTSUPP (another request).  RTM_DELETE's rt is the removed entry,
   * with RTF_UP cleared.
   */
  rtrequest(req: number, info: RtAddrinfo): RtRequestResult {
    switch (req) {
      case RTM_ADD: return this.rtrequest_add(info);
      case RTM_DELETE: return this.rtrequest_delete(info);
      case RTM_CHANGE: return this.rtrequest_change(info);
      default: return fail(EOPNOTSUPP);
    }
  }

  /**
   * The route for dst: the longest matching prefix, or null (the caller
   * turns that into ENETUNREACH or EHOSTUNREACH).  RTF_REJECT and
   * RTF_BLACKHOLE routes are returned like any other; acting on them is the
   * caller's job, as in ip_output.  Takes no reference; allocates nothing.
   */
  rtalloc1(dst: number): Rtentry | null {
    const rt = this.rt_tree.rn_match(dst);
    if (rt === null) {
      this.rtstat.rts_unreach++;
      return null;
    }
    if (rt.rt_plen === 0) this.rtstat.rts_wildcard++;
    return rt;
  }

  /** The route stored under exactly (dst, plen), or null. */
  rt_get(dst: number, plen: number): Rtentry | null {
    return this.rt_tree.rn_lookup(dst, plen);
  }

  /**
   * Call fn for every route in `netstat -rn` order (destination, then
   * prefix length).  fn may add and delete routes; returning nonzero stops
   * the walk with that value.
   */
  rt_walktree(fn: (rt: Rtentry) => number): number {
    return this.rt_tree.rn_walktree((rt) => fn(rt));
  }

  /** Every route, in `netstat -rn` order. */
  rt_walk(): Rtentry[] {
    const out: Rtentry[] = [];
    this.rt_tree.rn_walktree((rt) => { out.push(rt); return 0; });
    return out;
  }

  /** Take a reference for a cached entry (shown as Refs). */
  rt_ref(rt: Rtentry): void {
    rt.rt_refcnt++;
  }

  /** Drop a reference taken with rt_ref. */
  rt_unref(rt: Rtentry): void {
    if (rt.rt_refcnt <= 0) this.rt_panic(`rt_unref: ${rt_netname(rt.rt_dst, rt.rt_plen)}: refcnt ${rt.rt_refcnt}`);
    rt.rt_refcnt--;
  }

  /**
   * The routes for a new interface address addr/plen on ifp (rtinit and
   * rt_ifa_addlocal in NetBSD): the connected route to its network
   * (RTF_CONNECTED, through ifp) and a host route to the address itself
   * (RTF_HOST | RTF_LOCAL, through lo0 if set, else ifp).  A /32 address has
   * no network beyond itself, so only the local route is made.  If another
   * address already has the connected route for the same network, that
   * route is shared, as NetBSD's in_addprefix does.
   * Errors: EINVAL (bad addr or plen), EEXIST (the address is already known
   * on ifp, a non-connected route holds the network's place, or a route to
   * the address exists); on error nothing changes.
   */
  rt_ifa_add(ifp: RtIfnet, addr: number, plen: number): number {
    if (!is_uint32(addr) || !Number.isInteger(plen) || plen < 0 || plen > RN_MAXPLEN) return EINVAL;
    if (this.rt_ifa_find(ifp, addr) !== null) return EEXIST;
    const net = (addr & rn_plen2mask(plen)) >>> 0;
    const netrt = plen < RN_MAXPLEN ? this.rt_tree.rn_lookup(net, plen) : null;
    if (netrt !== null && (netrt.rt_flags & RTF_CONNECTED) === 0) return EEXIST;
    if (this.rt_tree.rn_lookup(addr, RN_MAXPLEN) !== null) return EEXIST;

    const ifa: RtIfaddr = { ifa_addr: addr, ifa_plen: plen, ifa_ifp: ifp };
    this.rt_ifaddrs.push(ifa);
    if (plen < RN_MAXPLEN && netrt === null) this.rt_insert(net, plen, RTF_UP | RTF_CONNECTED, 0, ifp, ifa);
    this.rt_insert(addr, RN_MAXPLEN, RTF_UP | RTF_HOST | RTF_LOCAL, 0, this.lo0ifp ?? ifp, ifa);
    return 0;
  }

  /**
   * Remove the address addr from ifp and the routes that use it as their
   * source (NetBSD's in_scrubprefix and rt_ifa_remlocal):
   *   - its local route goes;
   *   - its connected route passes to another address on the same network
   *     if one is left (one on the same interface first), else goes;
   *   - gateway routes that went through it look for their gateway again,
   *     as RTM_ADD would, and follow the answer or go (ENETUNREACH);
   *   - direct routes that named it as their source go.
   * Returns 0, or EADDRNOTAVAIL if the table made no routes for addr on ifp.
   */
  rt_ifa_remove(ifp: RtIfnet, addr: number): number {
    const ifa = this.rt_ifa_find(ifp, addr);
    if (ifa === null) return EADDRNOTAVAIL;
    this.rt_ifaddrs.splice(this.rt_ifaddrs.indexOf(ifa), 1);

    const mask = rn_plen2mask(ifa.ifa_plen);
    let heir: RtIfaddr | null = null;
    for (const a of this.rt_ifaddrs) {
      if (a.ifa_plen !== ifa.ifa_plen || ((a.ifa_addr ^ ifa.ifa_addr) & mask) !== 0) continue;
      if (heir === null || (a.ifa_ifp === ifp && heir.ifa_ifp !== ifp)) heir = a;
    }

    const users = this.rt_walk().filter((rt) => rt.rt_ifa === ifa);
    /* Non-gateway routes first, so gateways are looked up in the final table. */
    for (const rt of users) {
      if ((rt.rt_flags & RTF_GATEWAY) !== 0) continue;
      if ((rt.rt_flags & RTF_CONNECTED) !== 0 && heir !== null) {
        rt.rt_ifa = heir;
        rt.rt_ifp = heir.ifa_ifp;
        this.rt_generation++;
      } else {
        this.rt_unlink(rt);
      }
    }
    for (const rt of users) {
      if ((rt.rt_flags & RTF_GATEWAY) !== 0) this.rt_regateway(rt);
    }
    return 0;
  }

  /**
   * The interface ifp is going away: remove its addresses (as
   * rt_ifa_remove does) and then every route still through it or sourced
   * from it, which includes every gateway route whose gateway was reached
   * through it.  If ifp is lo0, local routes lose their way out and go too.
   * Returns how many routes were removed.
   */
  rt_if_detach(ifp: RtIfnet): number {
    const before = this.rt_tree.rn_count;
    for (const a of this.rt_ifaddrs.filter((x) => x.ifa_ifp === ifp)) this.rt_ifa_remove(ifp, a.ifa_addr);
    this.rt_tree.rn_walktree((rt) => {
      if (rt.rt_ifp === ifp || rt.rt_ifa.ifa_ifp === ifp) this.rt_unlink(rt);
      return 0;
    });
    if (this.lo0ifp === ifp) this.lo0ifp = null;
    return before - this.rt_tree.rn_count;
  }

  /**
   * The table as `netstat -rn` shows it: a header line, then one line per
   * route in walk order, each ending in a newline.
   */
  rt_format_table(): string {
    let s = `${'Destination'.padEnd(18)} ${'Gateway'.padEnd(18)} ${'Flags'.padEnd(6)} ` +
      `${'Refs'.padStart(6)} ${'Use'.padStart(8)} ${'Mtu'.padStart(6)} Interface\n`;
    this.rt_tree.rn_walktree((rt) => { s += rt_format_entry(rt) + '\n'; return 0; });
    return s;
  }

  private rtrequest_add(info: RtAddrinfo): RtRequestResult {
    const dst = info.rti_dst;
    const plen = info.rti_plen;
    if (!rn_valid_prefix(dst, plen)) return fail(EINVAL);
    let flags = info.rti_flags ?? 0;
    const gateway = info.rti_gateway ?? 0;
    const mtu = info.rti_mtu ?? 0;
    const expire = info.rti_expire ?? 0;
    if (!is_flags(flags) || !is_uint32(gateway) || !is_uint32(mtu) || !(expire >= 0)) return fail(EINVAL);
    if ((flags & RTF_HOST) !== 0 && plen !== RN_MAXPLEN) return fail(EINVAL);
    if (plen === RN_MAXPLEN) flags |= RTF_HOST;
    flags |= RTF_UP;
    /* As NetBSD: the interface is settled (ENETUNREACH) before the slot (EEXIST). */
    const e = this.rt_getifa(flags, gateway, info.rti_ifp, info.rti_ifa_addr, null);
    if (e !== 0) return fail(e);
    if (this.rt_tree.rn_lookup(dst, plen) !== null) return fail(EEXIST);
    const rt = this.rt_insert(dst, plen, flags, gateway, this.gi_ifp!, this.gi_ifa!);
    rt.rt_rmx.rmx_mtu = mtu;
    rt.rt_rmx.rmx_expire = expire;
    return { error: 0, rt };
  }

  private rtrequest_delete(info: RtAddrinfo): RtRequestResult {
    if (!rn_valid_prefix(info.rti_dst, info.rti_plen)) return fail(EINVAL);
    const rt = this.rt_tree.rn_lookup(info.rti_dst, info.rti_plen);
    if (rt === null) return fail(ESRCH);
    this.rt_unlink(rt);
    return { error: 0, rt };
  }

  /*
   * Change in place, so holders of the entry see the new values; validated
   * exactly as an add of the merged request would be.
   */
  private rtrequest_change(info: RtAddrinfo): RtRequestResult {
    const dst = info.rti_dst;
    const plen = info.rti_plen;
    if (!rn_valid_prefix(dst, plen)) return fail(EINVAL);
    const rt = this.rt_tree.rn_lookup(dst, plen);
    if (rt === null) return fail(ESRCH);
    let flags = info.rti_flags ?? rt.rt_flags;
    /* Naming a new gateway without new flags means "go through it". */
    if (info.rti_flags === undefined && info.rti_gateway !== undefined && info.rti_gateway !== 0) flags |= RTF_GATEWAY;
    const gateway = info.rti_gateway ?? ((flags & RTF_GATEWAY) !== 0 ? rt.rt_gateway : 0);
    const mtu = info.rti_mtu ?? rt.rt_rmx.rmx_mtu;
    const expire = info.rti_expire ?? rt.rt_rmx.rmx_expire;
    if (!is_flags(flags) || !is_uint32(gateway) || !is_uint32(mtu) || !(expire >= 0)) return fail(EINVAL);
    if ((flags & RTF_HOST) !== 0 && plen !== RN_MAXPLEN) return fail(EINVAL);
    if (plen === RN_MAXPLEN) flags |= RTF_HOST;
    flags |= RTF_UP;

    let ifp = rt.rt_ifp;
    let ifa = rt.rt_ifa;
    const keep = (flags & RTF_GATEWAY) === 0 && (rt.rt_flags & RTF_GATEWAY) === 0 &&
      info.rti_ifp === undefined && info.rti_ifa_addr === undefined;
    if (!keep) {
      const direct = (flags & RTF_GATEWAY) === 0;
      const e = this.rt_getifa(flags, gateway, info.rti_ifp ?? (direct ? rt.rt_ifp : undefined), info.rti_ifa_addr, rt);
      if (e !== 0) return fail(e);
      ifp = this.gi_ifp!;
      ifa = this.gi_ifa!;
    }
    rt.rt_flags = flags;
    rt.rt_gateway = gateway;
    rt.rt_ifp = ifp;
    rt.rt_ifa = ifa;
    rt.rt_rmx.rmx_mtu = mtu;
    rt.rt_rmx.rmx_expire = expire;
    this.rt_generation++;
    return { error: 0, rt };
  }

  /*
   * Find the interface and source address for a route (NetBSD's rt_getifa
   * and ifa_ifwithroute).  A gateway route takes them from the longest
   * route to the gateway that reaches it directly: not itself, not through
   * another gateway, not a reject or blackhole route.  The answer is left in
   * gi_ifp / gi_ifa.
   */
  private rt_getifa(flags: number, gateway: number, ifp: RtIfnet | undefined,
    ifa_addr: number | undefined, self: Rtentry | null): number {
    if ((flags & RTF_GATEWAY) !== 0) {
      if (gateway === 0) return EINVAL;
      this.gi_self = self;
      const g = this.rt_tree.rn_match_filter(gateway, this.gi_accept);
      this.gi_self = null;
      if (g === null) return ENETUNREACH;
      /* A gateway that is one of our own addresses is on that address's interface, not lo0. */
      const gifp = (g.rt_flags & RTF_LOCAL) !== 0 ? g.rt_ifa.ifa_ifp : g.rt_ifp;
      if (ifp !== undefined && ifp !== gifp) return ENETUNREACH;
      this.gi_ifp = gifp;
      this.gi_ifa = g.rt_ifa;
      return 0;
    }
    if (gateway !== 0 || ifp === undefined) return EINVAL;
    if (ifa_addr !== undefined && !is_uint32(ifa_addr)) return EINVAL;
    this.gi_ifp = ifp;
    this.gi_ifa = this.rt_ifa_find(ifp, ifa_addr) ?? { ifa_addr: ifa_addr ?? 0, ifa_plen: RN_MAXPLEN, ifa_ifp: ifp };
    return 0;
  }

  /* A known address on ifp: addr itself, or the first one if addr is undefined. */
  private rt_ifa_find(ifp: RtIfnet, addr: number | undefined): RtIfaddr | null {
    for (const a of this.rt_ifaddrs) {
      if (a.ifa_ifp === ifp && (addr === undefined || a.ifa_addr === addr)) return a;
    }
    return null;
  }

  /* Look a gateway route's gateway up again; keep the route if it is still reachable. */
  private rt_regateway(rt: Rtentry): void {
    if (this.rt_getifa(rt.rt_flags, rt.rt_gateway, undefined, undefined, rt) !== 0) {
      this.rt_unlink(rt);
      return;
    }
    rt.rt_ifp = this.gi_ifp!;
    rt.rt_ifa = this.gi_ifa!;
    this.rt_generation++;
  }

  private rt_insert(dst: number, plen: number, flags: number, gateway: number, ifp: RtIfnet, ifa: RtIfaddr): Rtentry {
    const rt = new Rtentry(dst, plen, ifp, ifa);
    rt.rt_flags = flags;
    rt.rt_gateway = gateway;
    const e = this.rt_tree.rn_addroute(dst, plen, rt);
    if (e !== 0) this.rt_panic(`rt_insert: ${rt_netname(dst, plen)}: error ${e}`);
    this.rt_generation++;
    return rt;
  }

  private rt_unlink(rt: Rtentry): void {
    if (this.rt_tree.rn_delete(rt.rt_dst, rt.rt_plen) !== rt) {
      this.rt_panic(`rt_unlink: ${rt_netname(rt.rt_dst, rt.rt_plen)} not in the table`);
    }
    rt.rt_flags &= ~RTF_UP;
    this.rt_generation++;
  }
}

/** The MTU to use for a route: its own if set, else its interface's. */
export function rt_getmtu(rt: Rtentry): number {
  return rt.rt_rmx.rmx_mtu !== 0 ? rt.rt_rmx.rmx_mtu : rt.rt_ifp.if_mtu;
}

/**
 * One `netstat -rn` line.  A route with no gateway shows its link as
 * "link#N", N being the index of the interface its address belongs to (for
 * a local route through lo0, the address's own interface, as NetBSD shows).
 * An Mtu of 0 (use the interface's) shows as "-".  NetBSD prints a one-
 * letter MTU-lock mark after Mtu; nothing is locked here, so it is a blank,
 * which is why rows have two spaces before the interface and the header one.
 */
export function rt_format_entry(rt: Rtentry): string {
  const gw = (rt.rt_flags & RTF_GATEWAY) !== 0 ? rt_ntoa(rt.rt_gateway) : `link#${rt.rt_ifa.ifa_ifp.if_index}`;
  const mtu = rt.rt_rmx.rmx_mtu !== 0 ? String(rt.rt_rmx.rmx_mtu) : '-';
  return `${rt_netname(rt.rt_dst, rt.rt_plen).padEnd(18)} ${gw.padEnd(18)} ${rt_flagstr(rt.rt_flags).padEnd(6)} ` +
    `${String(rt.rt_refcnt).padStart(6)} ${String(rt.rt_use).padStart(8)} ${mtu.padStart(6)}  ${rt.rt_ifp.if_xname}`;
}
