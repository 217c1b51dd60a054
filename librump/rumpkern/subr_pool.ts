/*
 * pool(9): fixed-type object pools (NetBSD's subr_pool.c, for objects that
 * the garbage collector owns).
 *
 * Why pools in a garbage-collected kernel: hot paths (mbufs, PCBs, timers)
 * would otherwise make an object per packet and leave the cost to the GC at
 * unpredictable moments.  A pool recycles objects of one kind, so pool_get
 * and pool_put allocate nothing once the pool is warm, and it bounds and
 * counts them, so `vmstat -m` shows what the kernel holds and a hard limit
 * turns a leak or a flood into counted failures instead of an ever-growing
 * heap.
 *
 * What is kept from NetBSD:
 *   - the accounting is in pages: a "page" is pr_itemsperpage objects made
 *     together by the constructor when the free list runs dry (npages++,
 *     npagealloc++), and released together when too many sit idle
 *     (npagefree++).  Pages are always whole, as in NetBSD, so the pool
 *     holds exactly pr_npages * pr_itemsperpage objects;
 *   - pr_hardlimit bounds the items out; at the limit pool_get(PR_NOWAIT)
 *     fails (pr_nfail) and logs pr_hardlimit_warning at most once per
 *     pr_hardlimit_ratecap seconds (ratecheck(9) on the kernel's clock),
 *     while a PR_WAITOK get (pool_get_wait) sleeps until an item comes back;
 *   - pool_sethardlimit refuses a limit below the items out (EINVAL) and
 *     sets pr_maxpages to the pages the limit needs;
 *   - the statistics keep NetBSD's names (pr_nget, pr_nfail, pr_nput,
 *     pr_npagealloc, pr_npagefree, pr_hiwat = most pages ever held).
 *
 * What differs, and why:
 *   - objects do not live at addresses inside pages, so a page is only an
 *     accounting unit: the free list is one LIFO stack of items (the most
 *     recently freed, cache-warm object is reused first), and "releasing a
 *     page" drops pr_itemsperpage free items for the GC to collect;
 *   - there is no pagedaemon to call pool_reclaim under memory pressure, so
 *     pool_put itself releases a page once more than pr_maxidle pages' worth
 *     of items sit free (NetBSD keeps idle pages up to pr_maxpages);
 *   - there is no pr_lock.  One virtual CPU runs kernel code, and pool_get
 *     and pool_put are synchronous, so nothing (not even an interrupt, which
 *     enters between host events) can run in the middle of them; the check
 *     and the sleep in pool_get_wait are likewise one synchronous step, so
 *     no wakeup can be lost between them;
 *   - the item size is unknown to the pool, so vmstat -m shows items per
 *     page in the place of Size; and pr_maxout (most items ever out) is
 *     added, because "how close did we come to the hard limit" is the
 *     question a GC'd pool's statistics must answer;
 *   - a double put is detected exactly (NetBSD checks it under DIAGNOSTIC
 *     only): each item's state lives in a per-pool WeakMap whose small-
 *     integer values are overwritten in place, which costs no allocation.
 *
 * A pool registers itself in its kernel's k.pools (NetBSD's pool_head), so
 * pools of different kernels never share objects or counters.
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import { mtsleep, wakeup, wakeup_one } from './ltsleep.ts';
import { KASSERT, log, LOG_ERR, panic } from './subr_prf.ts';
import { EINVAL } from '../../include/errno.ts';

/* pool_get flags (sys/pool.h). */
/** May sleep: only pool_get_wait() takes this. */
export const PR_WAITOK = 0x01;
/** Must not sleep: fail (null) at the hard limit. */
export const PR_NOWAIT = 0x02;

/** Defaults: items per page, idle pages kept, warning rate cap (seconds). */
export const POOL_DEFAULT_ITEMSPERPAGE = 64;
export const POOL_DEFAULT_MAXIDLEPAGES = 4;
export const POOL_DEFAULT_RATECAP = 60;

/* Item states in pr_itemstate.  An item the map does not know is foreign. */
const ITEM_FREE = 0;
const ITEM_OUT = 1;
/** Dropped with a released page (or at pool_destroy): a put is a use after free. */
const ITEM_RELEASED = 2;

/*
 * The reset hook's type.  Written as a method signature, whose parameter is
 * checked bivariantly, so that a Pool<T> is still a Pool<object> and can sit
 * in the kernel's k.pools list beside pools of other types.
 */
type PoolReset<T> = { reset(item: T): void }['reset'];

export interface PoolInitOptions<T> {
  /** Items made per page; default 64. */
  itemsperpage?: number;
  /** Most items out at once; default unlimited (Infinity). */
  hardlimit?: number;
  /** Logged (LOG_ERR) when a get fails at the hard limit; default "<name>: hard limit reached". */
  warnmsg?: string;
  /** Called on pool_put to scrub the item before it is reused. */
  reset?: PoolReset<T>;
  /** Pages made at pool_init and never released (NetBSD's pr_minpages); default 0. */
  minpages?: number;
  /** Free pages' worth of items kept before pool_put releases a page; default 4. */
  maxidlepages?: number;
}

/** One row of `vmstat -m`. */
export interface PoolStats {
  name: string;
  /** Items per page (the item size is unknown to a GC'd pool). */
  itemsperpage: number;
  /** Successful gets (pr_nget). */
  requests: number;
  /** Gets that failed at the hard limit (pr_nfail). */
  fails: number;
  /** Puts (pr_nput). */
  releases: number;
  /** Pages made (pr_npagealloc). */
  pagesalloc: number;
  /** Pages released (pr_npagefree). */
  pagesfree: number;
  /** Pages held now (pr_npages). */
  pages: number;
  /** Most pages ever held (pr_hiwat). */
  hiwat: number;
  minpages: number;
  /** Page limit implied by the hard limit (pr_maxpages); Infinity if none. */
  maxpages: number;
  /** Free pages' worth of items: floor(free items / items per page). */
  idle: number;
  /** Items out now (pr_nout). */
  out: number;
  /** Most items ever out at once (pr_maxout). */
  maxout: number;
  hardlimit: number;
}

export class Pool<T extends object> {
  /* Configuration. */
  /** The pool's name; also the wmesg of LWPs waiting for an item. */
  readonly pr_wchan: string;
  readonly pr_itemsperpage: number;
  /** Most items out at once. */
  pr_hardlimit = Infinity;
  pr_hardlimit_warning: string;
  /** Seconds between two hard-limit warnings. */
  pr_hardlimit_ratecap = POOL_DEFAULT_RATECAP;
  /** Kernel uptime (ns) of the last warning; -Infinity before the first. */
  pr_hardlimit_warning_last = -Infinity;
  /** Pages never released. */
  pr_minpages = 0;
  /** Pages the hard limit needs, ceil(hardlimit / itemsperpage); pages above it are released as they empty. */
  pr_maxpages = Infinity;
  /** Free pages' worth of items kept before pool_put releases a page. */
  pr_maxidle = POOL_DEFAULT_MAXIDLEPAGES;

  /* State. */
  /** Pages held: the pool holds pr_npages * pr_itemsperpage items, out or free. */
  pr_npages = 0;
  /** Free items (NetBSD's name; the top of the free stack). */
  pr_nitems = 0;
  /** Items out now. */
  pr_nout = 0;
  /** LWPs sleeping in pool_get_wait. */
  pr_nwaiters = 0;
  pr_destroyed = false;

  /* Statistics (vmstat -m). */
  pr_nget = 0;
  pr_nfail = 0;
  pr_nput = 0;
  pr_npagealloc = 0;
  pr_npagefree = 0;
  /** Most pages ever held (NetBSD's pr_hiwat). */
  pr_hiwat = 0;
  /** Most items ever out at once (not in NetBSD; see the header). */
  pr_maxout = 0;

  /**
   * The free stack: slots [0, pr_nitems) hold free items, the rest null.
   * Its length only grows (by a page at a time), so push/pop never
   * reallocate on the get/put path.
   */
  readonly pr_freelist: (T | null)[] = [];
  /** ITEM_FREE / ITEM_OUT / ITEM_RELEASED for every item ever made here. */
  readonly pr_itemstate = new WeakMap<T, number>();

  /** Use pool_init(). */
  constructor(
    readonly pr_kernel: Kernel,
    name: string,
    readonly pr_ctor: () => T,
    readonly pr_reset: PoolReset<T> | null,
    itemsperpage: number,
  ) {
    this.pr_wchan = name;
    this.pr_itemsperpage = itemsperpage;
    this.pr_hardlimit_warning = `${name}: hard limit reached`;
  }
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 0;
}

function isLimit(n: number): boolean {
  return n === Infinity || isCount(n);
}

/**
 * pool_init(9): make a pool of objects built by ctor and register it in
 * k.pools.  A bad option is a kernel bug and panics.
 */
export function pool_init<T extends object>(
  k: Kernel, name: string, ctor: () => T, opts: PoolInitOptions<T> = {},
): Pool<T> {
  const ipp = opts.itemsperpage ?? POOL_DEFAULT_ITEMSPERPAGE;
  const hardlimit = opts.hardlimit ?? Infinity;
  const minpages = opts.minpages ?? 0;
  const maxidle = opts.maxidlepages ?? POOL_DEFAULT_MAXIDLEPAGES;
  if (!Number.isInteger(ipp) || ipp < 1) panic(k, `pool_init: ${name}: bad itemsperpage ${ipp}`);
  if (!isLimit(hardlimit)) panic(k, `pool_init: ${name}: bad hardlimit ${hardlimit}`);
  if (!isCount(minpages)) panic(k, `pool_init: ${name}: bad minpages ${minpages}`);
  if (!isLimit(maxidle)) panic(k, `pool_init: ${name}: bad maxidlepages ${maxidle}`);
  const pp = new Pool<T>(k, name, ctor, opts.reset ?? null, ipp);
  pp.pr_minpages = minpages;
  pp.pr_maxidle = maxidle;
  pp.pr_hardlimit = hardlimit;
  pp.pr_maxpages = Math.ceil(hardlimit / ipp);
  if (opts.warnmsg !== undefined) pp.pr_hardlimit_warning = opts.warnmsg;
  /* pool_prime: the minimum is made up front, so gets never wait on the constructor for it. */
  while (pp.pr_npages < minpages) pool_page_alloc(pp);
  k.pools.push(pp);
  return pp;
}

/**
 * pool_destroy(9): unregister the pool and drop its items.  Items still
 * out would be orphaned (and their puts would hit a dead pool): panic.
 */
export function pool_destroy<T extends object>(pp: Pool<T>): void {
  const k = pp.pr_kernel;
  KASSERT(k, !pp.pr_destroyed, `pool_destroy: ${pp.pr_wchan}: pool not destroyed yet`);
  if (pp.pr_nout !== 0) panic(k, `pool_destroy: ${pp.pr_wchan}: pool busy: still out: ${pp.pr_nout}`);
  /* With nothing out, only a hard limit of 0 can have sleepers; they would sleep forever. */
  KASSERT(k, pp.pr_nwaiters === 0, `pool_destroy: ${pp.pr_wchan}: no LWP waiting for an item`);
  const fl = pp.pr_freelist;
  for (let i = 0; i < pp.pr_nitems; i++) {
    pp.pr_itemstate.set(fl[i]!, ITEM_RELEASED);
    fl[i] = null;
  }
  pp.pr_npagefree += pp.pr_npages;
  pp.pr_npages = 0;
  pp.pr_nitems = 0;
  pp.pr_destroyed = true;
  const i = k.pools.indexOf(pp);
  if (i >= 0) k.pools.splice(i, 1);
}

/**
 * Make a page: pr_itemsperpage new items onto the free stack.  If the
 * constructor throws, the items made so far are simply not counted.
 */
function pool_page_alloc<T extends object>(pp: Pool<T>): void {
  const ipp = pp.pr_itemsperpage;
  const fl = pp.pr_freelist;
  const base = pp.pr_nitems;
  for (let i = 0; i < ipp; i++) {
    const item = pp.pr_ctor();
    pp.pr_itemstate.set(item, ITEM_FREE);
    fl[base + i] = item;
  }
  pp.pr_nitems = base + ipp;
  pp.pr_npages++;
  pp.pr_npagealloc++;
  if (pp.pr_npages > pp.pr_hiwat) pp.pr_hiwat = pp.pr_npages;
}

/** Release a page: drop pr_itemsperpage items from the top of the free stack. */
function pool_page_release<T extends object>(pp: Pool<T>): void {
  const fl = pp.pr_freelist;
  const top = pp.pr_nitems;
  const bottom = top - pp.pr_itemsperpage;
  for (let i = bottom; i < top; i++) {
    pp.pr_itemstate.set(fl[i]!, ITEM_RELEASED);
    fl[i] = null;
  }
  pp.pr_nitems = bottom;
  pp.pr_npages--;
  pp.pr_npagefree++;
}

/** Is there a whole free page the pool should give back? */
function pool_page_excess<T extends object>(pp: Pool<T>): boolean {
  const ipp = pp.pr_itemsperpage;
  return pp.pr_nitems >= ipp && pp.pr_npages > pp.pr_minpages &&
    (pp.pr_npages > pp.pr_maxpages || pp.pr_nitems >= (pp.pr_maxidle + 1) * ipp);
}

/** Take an item if the hard limit allows, making a page if needed; no failure accounting. */
function pool_tryget<T extends object>(pp: Pool<T>): T | null {
  if (pp.pr_destroyed) panic(pp.pr_kernel, `pool_get: ${pp.pr_wchan}: pool destroyed`);
  if (pp.pr_nout >= pp.pr_hardlimit) return null;
  if (pp.pr_nitems === 0) pool_page_alloc(pp);
  const n = --pp.pr_nitems;
  const item = pp.pr_freelist[n]!;
  pp.pr_freelist[n] = null;
  pp.pr_itemstate.set(item, ITEM_OUT);
  pp.pr_nget++;
  if (++pp.pr_nout > pp.pr_maxout) pp.pr_maxout = pp.pr_nout;
  return item;
}

/**
 * pool_get(9) with PR_NOWAIT: an item, or null at the hard limit (counted
 * in pr_nfail, with a rate-limited warning).  Callable from any context.
 * Sleeping gets go through pool_get_wait(), since a sleep must be awaited.
 */
export function pool_get<T extends object>(pp: Pool<T>, flags: number): T | null {
  if ((flags & PR_WAITOK) !== 0) panic(pp.pr_kernel, `pool_get: ${pp.pr_wchan}: PR_WAITOK needs pool_get_wait()`);
  const item = pool_tryget(pp);
  if (item !== null) return item;
  pp.pr_nfail++;
  pool_hardlimit_warn(pp);
  return null;
}

/* ratecheck(9) on the kernel's (virtual) clock: the first failure warns, then one per ratecap. */
function pool_hardlimit_warn<T extends object>(pp: Pool<T>): void {
  const k = pp.pr_kernel;
  const now = k.uptimeNs();
  if (now - pp.pr_hardlimit_warning_last < pp.pr_hardlimit_ratecap * 1e9) return;
  pp.pr_hardlimit_warning_last = now;
  log(k, LOG_ERR, `${pp.pr_hardlimit_warning}\n`);
}

/**
 * pool_get(9) with PR_WAITOK: an item, sleeping (wmesg = the pool's name)
 * until one is put back when the pool is at its hard limit.  It never
 * fails; if the kernel halts while it sleeps, mtsleep's KernelHalted
 * propagates.  Sleeping is illegal in interrupt and softint context, so
 * calling it there panics even when an item is free (ASSERT_SLEEPABLE).
 * The fast path still returns a promise: hot paths use pool_get(PR_NOWAIT).
 */
export async function pool_get_wait<T extends object>(pp: Pool<T>, l: Lwp): Promise<T> {
  const k = pp.pr_kernel;
  const ci = k.cpu;
  KASSERT(k, ci.ci_idepth === 0 && ci.ci_softlevel < 0, `pool_get_wait: ${pp.pr_wchan}: sleepable context`);
  for (;;) {
    const item = pool_tryget(pp);
    if (item !== null) return item;
    /* The failed check and the sleep are one synchronous step: no put can come between them. */
    pp.pr_nwaiters++;
    try {
      await mtsleep(l, pp, 0, pp.pr_wchan, 0, null);
    } finally {
      pp.pr_nwaiters--;
    }
  }
}

/**
 * pool_put(9): give an item back.  It is scrubbed with the pool's reset
 * hook, pushed on the free stack, and one waiting LWP is woken (each put
 * frees exactly one item, so waking one is enough and keeps the waiters
 * in FIFO order; a waiter that loses the item to a PR_NOWAIT get sleeps
 * again, and then no item is free for anyone).  Then, if too many items
 * sit idle, a page is released.  Putting an item that is not out from
 * this pool (put twice, or never got here) is a kernel bug: panic.
 */
export function pool_put<T extends object>(pp: Pool<T>, item: T): void {
  const st = pp.pr_itemstate.get(item);
  if (st !== ITEM_OUT) {
    panic(pp.pr_kernel, st === undefined
      ? `pool_put: ${pp.pr_wchan}: item is not from this pool`
      : `pool_put: ${pp.pr_wchan}: item is not out (put twice: double free)`);
  }
  if (pp.pr_reset !== null) pp.pr_reset(item);
  pp.pr_itemstate.set(item, ITEM_FREE);
  pp.pr_freelist[pp.pr_nitems++] = item;
  pp.pr_nout--;
  pp.pr_nput++;
  if (pp.pr_nwaiters > 0) wakeup_one(pp.pr_kernel, pp);
  if (pool_page_excess(pp)) pool_page_release(pp);
}

/**
 * pool_sethardlimit(9): at most n items out (Infinity: no limit).  As in
 * NetBSD, a limit below the items out now is EINVAL (the pool cannot take
 * them back), and pr_maxpages becomes the pages the limit needs; pages
 * beyond it that are free now are released at once.  Raising the limit
 * wakes every waiter, since several may now succeed.  warnmsg and ratecap
 * (seconds) set the warning logged when a get fails at the limit.
 * Returns 0 or an errno.
 */
export function pool_sethardlimit<T extends object>(
  pp: Pool<T>, n: number, warnmsg?: string, ratecap?: number,
): number {
  if (!isLimit(n) || n < pp.pr_nout) return EINVAL;
  if (ratecap !== undefined && !(ratecap >= 0)) return EINVAL;
  const raised = n > pp.pr_hardlimit;
  pp.pr_hardlimit = n;
  pp.pr_maxpages = Math.ceil(n / pp.pr_itemsperpage);
  if (warnmsg !== undefined) pp.pr_hardlimit_warning = warnmsg;
  if (ratecap !== undefined) pp.pr_hardlimit_ratecap = ratecap;
  pp.pr_hardlimit_warning_last = -Infinity;
  while (pool_page_excess(pp)) pool_page_release(pp);
  if (raised && pp.pr_nwaiters > 0) wakeup(pp.pr_kernel, pp);
  return 0;
}

/**
 * pool_reclaim(9): give back every whole free page above pr_minpages
 * (what NetBSD's pagedaemon asks of pools under memory pressure).
 * Returns the pages released.
 */
export function pool_reclaim<T extends object>(pp: Pool<T>): number {
  let n = 0;
  while (pp.pr_nitems >= pp.pr_itemsperpage && pp.pr_npages > pp.pr_minpages) {
    pool_page_release(pp);
    n++;
  }
  return n;
}

/** One pool's `vmstat -m` row. */
export function pool_stat<T extends object>(pp: Pool<T>): PoolStats {
  return {
    name: pp.pr_wchan,
    itemsperpage: pp.pr_itemsperpage,
    requests: pp.pr_nget,
    fails: pp.pr_nfail,
    releases: pp.pr_nput,
    pagesalloc: pp.pr_npagealloc,
    pagesfree: pp.pr_npagefree,
    pages: pp.pr_npages,
    hiwat: pp.pr_hiwat,
    minpages: pp.pr_minpages,
    maxpages: pp.pr_maxpages,
    idle: Math.floor(pp.pr_nitems / pp.pr_itemsperpage),
    out: pp.pr_nout,
    maxout: pp.pr_maxout,
    hardlimit: pp.pr_hardlimit,
  };
}

/** Every pool of the kernel, in the order they were made (vmstat -m's rows). */
export function pool_stats(k: Kernel): PoolStats[] {
  return k.pools.map((pp) => pool_stat(pp));
}

/** The table `vmstat -m` prints for this kernel's pools. */
export function pool_print_stats(k: Kernel): string {
  const head = ['Name', 'Perpg', 'Requests', 'Fail', 'Releases', 'Pgreq', 'Pgrel', 'Npage', 'Hiwat', 'Minpg', 'Maxpg', 'Idle', 'Out', 'Maxout'];
  const num = (n: number): string => (n === Infinity ? 'inf' : String(n));
  const rows = pool_stats(k).map((s) => [
    s.name, num(s.itemsperpage), num(s.requests), num(s.fails), num(s.releases), num(s.pagesalloc),
    num(s.pagesfree), num(s.pages), num(s.hiwat), num(s.minpages), num(s.maxpages), num(s.idle),
    num(s.out), num(s.maxout),
  ]);
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  /* The name column is left-aligned, the numbers right-aligned, as vmstat does. */
  const line = (r: string[]): string => r.map((v, c) => (c === 0 ? v.padEnd(width[c]!) : v.padStart(width[c]!))).join(' ');
  return ['Memory resource pool statistics', line(head), ...rows.map(line)].join('\n') + '\n';
}
