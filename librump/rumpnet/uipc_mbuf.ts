/*
 * mbuf(9): the packet buffers of the network stack (NetBSD's
 * sys/kern/uipc_mbuf.c and sys/sys/mbuf.h).
 *
 * Where it sits: every packet is an mbuf chain from the moment a driver
 * receives a frame (m_devget, in interrupt context) up through ether_input,
 * ip_input and tcp_input into a socket buffer, and on the way down from
 * sosend through tcp_output (which prepends headers into leading space and
 * shares the send buffer's clusters with m_copym) to the driver, which
 * copies the chain out (m_copydata) and frees it.
 *
 * Storage.  An Mbuf is a small object beside its storage.  Each one owns
 * an internal buffer of MLEN bytes (m_dat) and a DataView over it, made
 * once when the pool makes the mbuf; a cluster (MbufExt) is MCLBYTES of
 * storage with its own DataView and a reference count.  m_buf and m_view
 * always point at the storage in use (m_dat, or the cluster's ext_buf), so
 * protocol code reads a header with index arithmetic and never allocates:
 *
 *     const ip = m.m_data;                      // offset of the first byte
 *     const len = m.m_view.getUint16(ip + 2);   // ip_len, big-endian
 *     const p = m.m_buf[ip + 9];                // ip_p
 *
 * m_data is the offset of the first valid byte inside m_buf and m_len the
 * count of valid bytes, as in NetBSD; the bytes before m_data are leading
 * space, where lower layers prepend their headers (M_PREPEND).
 *
 * Sharing.  m_copym and m_split do not copy cluster data: the new mbuf
 * points at the same MbufExt and ext_refcnt counts the mbufs that do (a
 * TCP retransmission copies from the send buffer this way, so that a
 * segment in flight costs no copy).  Shared storage is read-only:
 * M_READONLY(m) is true, M_LEADINGSPACE/M_TRAILINGSPACE report no room,
 * and a write must first go through m_makewritable (or m_copyback_cow),
 * which gives the mbufs in the written range private storage.  m_copyback
 * panics on shared storage rather than corrupt another packet.
 *
 * Allocation.  Each kernel has its own MbufCtx (mbinit): a pool of mbufs
 * and a pool of clusters (subr_pool.ts) with hard limits, NetBSD's mbstat
 * counters and the kern.mbuf sysctl nodes.  Every mbuf and cluster
 * remembers its context, so m_free needs no other argument and two
 * kernels never share storage or counters.  At a hard limit an allocation
 * first asks the protocols to drain (m_reclaim), then fails with null and
 * counts mbstat.m_drops; callers turn null into ENOBUFS.  A double free is
 * caught by the pool's item-state check and panics before anything else
 * changes.
 *
 * M_WAIT.  The synchronous calls (m_get, m_getcl, m_copym, ...) take `how`
 * for source compatibility but never sleep: sleeping needs an LWP and an
 * await, and the packet path is synchronous (DESIGN.md, decision 3), so
 * M_WAIT behaves as M_DONTWAIT there.  Code that may sleep (sosend in a
 * syscall) uses m_get_wait/m_getcl_wait, which wait on the pools.
 *
 * Where the API differs from NetBSD, and why:
 *   - null always means "out of memory".  m_copym of zero bytes and
 *     m_split at the very end of a chain return an empty mbuf (NetBSD
 *     returns NULL for both, which callers cannot tell from a failure);
 *     offsets or lengths past the end of the chain are caller bugs and
 *     panic, as NetBSD's m_copym and m_copydata do.
 *   - m_pullup returns the chain at once when the first mbuf already holds
 *     len bytes, pulls into a writable cluster head as well as into an
 *     internal one, and goes up to MCLBYTES by taking a cluster for the
 *     new head (NetBSD stops at MHLEN).
 *   - m_copyback returns 0 or ENOBUFS, and on failure undoes its
 *     extension; m_makewritable returns the chain or null (having freed
 *     it), the shape of m_pullup, since there is no struct mbuf **.
 *   - m_cat clears M_PKTHDR on the chain it appends, so a packet header
 *     never sits in the middle of a chain; like NetBSD it does not update
 *     the head's m_pkthdr.len.
 *   - m_getptr writes the offset into a caller-supplied object.
 */

import type { Kernel } from '../rumpkern/rump.ts';
import type { Lwp } from '../rumpkern/lwproc.ts';
import {
  pool_destroy, pool_get, pool_get_wait, pool_init, pool_put, pool_sethardlimit, PR_NOWAIT, type Pool,
} from '../rumpkern/subr_pool.ts';
import { KASSERT, panic } from '../rumpkern/subr_prf.ts';
import { EINVAL, ENOBUFS } from '../../include/errno.ts';
import { CTLFLAG_READWRITE, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_STRUCT } from '../../include/sysctl.ts';
import {
  KERN_MBUF, M_COPYALL, M_COPYFLAGS, M_DONTWAIT, M_EXT, M_EXT_CLUSTER, M_EXT_RW,
  M_EXTCOPYFLAGS, M_PKTHDR, M_WAIT, MBUF_MCLBYTES, MBUF_MSIZE, MBUF_NMBCLUSTERS, MBUF_STATS, MCLBYTES,
  MHLEN, MINCLSIZE, MLEN, MSIZE, MT_DATA, MT_FREE, MT_NTYPES, NMBCLUSTERS, NMBCLUSTERS_LIMIT, NMBUFS, NMBUFS_LIMIT,
  type Mbstat,
} from '../../include/mbuf.ts';

export * from '../../include/mbuf.ts';

/** m_align rounds the data start down to this (sizeof(long) - 1 on LP64). */
const ALIGNBYTES = 7;
/** Copies this short are a byte loop: cheaper than making a subarray view for set(). */
const BCOPY_LOOP_MAX = 32;
/* Items per pool page: 64 mbufs is 16 KB of storage, 16 clusters 32 KB. */
const MB_ITEMSPERPAGE = 64;
/** Idle pages kept per pool (more than pool(9)'s default: mbufs churn by the thousand). */
const MB_MAXIDLEPAGES = 32;
const MCL_MAXIDLEPAGES = 32;
const MCL_ITEMSPERPAGE = 16;

/**
 * The packet header (struct pkthdr), valid when M_PKTHDR is set.  One per
 * mbuf, made with it and reset by m_gethdr, so a packet costs no object.
 */
export class Pkthdr {
  /** Bytes in the whole packet: the sum of m_len over the chain. */
  len = 0;
  /** Index of the receiving interface; 0 = none (locally generated). */
  rcvif_index = 0;
  /** M_CSUM_*: checksum offload requested (output) or done (input). */
  csum_flags = 0;
  /** With M_CSUM_DATA: the partial checksum; on output: offset of the checksum field. */
  csum_data = 0;
  /** TSO: segment size. */
  segsz = 0;
}

/**
 * External storage (struct _m_ext): a cluster, shared by every mbuf whose
 * m_ext points here.  ext_refcnt counts those mbufs; the last m_free
 * returns the cluster to its pool.
 */
export class MbufExt {
  readonly ext_buf: Uint8Array;
  /** A DataView over ext_buf, made once with it. */
  readonly ext_view: DataView;
  readonly ext_size: number;
  /** Mbufs referring to this storage; 0 while free in the pool. */
  ext_refcnt = 0;

  /** Made by the cluster pool of ext_ctx. */
  constructor(readonly ext_ctx: MbufCtx, size: number) {
    const ab = new ArrayBuffer(size);
    this.ext_buf = new Uint8Array(ab);
    this.ext_view = new DataView(ab);
    this.ext_size = size;
  }
}

/** struct mbuf.  Get one with m_get/m_gethdr/m_getcl, never with new. */
export class Mbuf {
  /** Next mbuf of this packet. */
  m_next: Mbuf | null = null;
  /** Next packet in a queue (socket buffer record, interface queue). */
  m_nextpkt: Mbuf | null = null;
  /** Offset of the first valid byte in m_buf. */
  m_data = 0;
  /** Valid bytes in this mbuf. */
  m_len = 0;
  m_flags = 0;
  m_type = MT_FREE;
  /** The storage this mbuf views: m_dat, or its cluster's ext_buf. */
  m_buf: Uint8Array;
  /** A DataView over m_buf (same indices): big-endian reads without allocating. */
  m_view: DataView;
  /** The cluster when M_EXT is set; null otherwise. */
  m_ext: MbufExt | null = null;
  /** Valid when M_PKTHDR is set. */
  readonly m_pkthdr = new Pkthdr();
  /** The internal storage: MLEN bytes, MHLEN usable with a packet header. */
  readonly m_dat: Uint8Array;
  readonly m_datview: DataView;
  /** The context (kernel) this mbuf belongs to. */
  readonly m_ctx: MbufCtx;

  /** Made by the mbuf pool of ctx. */
  constructor(ctx: MbufCtx) {
    const ab = new ArrayBuffer(MLEN);
    this.m_ctx = ctx;
    this.m_dat = new Uint8Array(ab);
    this.m_datview = new DataView(ab);
    this.m_buf = this.m_dat;
    this.m_view = this.m_datview;
  }
}

/** m_getptr's result: the offset inside the mbuf it returns. */
export interface MbufOff {
  off: number;
}

/**
 * The live kern.mbuf.stats counters.  m_mbufs and m_clusters read the
 * pools, so they cannot drift from what is really out.
 */
export class MbufStats implements Mbstat {
  m_drops = 0;
  m_wait = 0;
  m_drain = 0;
  m_mcfail = 0;
  m_mpfail = 0;
  readonly m_mtypes: number[] = new Array<number>(MT_NTYPES).fill(0);

  constructor(private readonly ctx: MbufCtx) {}

  get m_mbufs(): number {
    return this.ctx.mb_pool.pr_nout;
  }

  get m_clusters(): number {
    return this.ctx.mcl_pool.pr_nout;
  }
}

export interface MbinitOptions {
  /** Cluster hard limit; default NMBCLUSTERS.  Also kern.mbuf.nmbclusters. */
  nmbclusters?: number;
  /** Mbuf hard limit; default NMBUFS.  Also kern.mbuf.nmbufs. */
  nmbufs?: number;
}

/** One kernel's mbuf allocator: pools, limits, statistics, header-space limits. */
export class MbufCtx {
  readonly mb_pool: Pool<Mbuf>;
  readonly mcl_pool: Pool<MbufExt>;
  /** kern.mbuf.nmbclusters: the cluster pool's hard limit. */
  nmbclusters: number;
  /** kern.mbuf.nmbufs: the mbuf pool's hard limit. */
  nmbufs: number;
  readonly mbstat: MbufStats;
  /**
   * Leading space for the largest link header (NetBSD's global
   * max_linkhdr): output paths reserve it so that the driver's header is
   * prepended without a new mbuf.  16 = the Ethernet header, aligned.
   */
  max_linkhdr = 16;
  /** Largest protocol header stack; raised by protocols at init. */
  max_protohdr = 0;
  /** max_linkhdr + max_protohdr. */
  max_hdr = 16;
  /** Data that fits in a header mbuf after max_hdr: MHLEN - max_hdr. */
  max_datalen = MHLEN - 16;
  /** Protocol drain routines m_reclaim calls when memory runs out. */
  readonly mb_drainhooks: (() => void)[] = [];
  mb_draining = false;

  /** Use mbinit(). */
  constructor(readonly k: Kernel, nmbclusters: number, nmbufs: number) {
    this.nmbclusters = nmbclusters;
    this.nmbufs = nmbufs;
    this.mbstat = new MbufStats(this);
    this.mb_pool = pool_init<Mbuf>(k, 'mbpl', () => new Mbuf(this), {
      itemsperpage: MB_ITEMSPERPAGE,
      hardlimit: nmbufs,
      warnmsg: 'WARNING: mbpool limit reached; increase kern.mbuf.nmbufs',
      reset: mbuf_scrub,
      /* Traffic comes in bursts: keep pages for the next one rather than rebuild them (pool_reclaim drains). */
      maxidlepages: MB_MAXIDLEPAGES,
    });
    this.mcl_pool = pool_init<MbufExt>(k, 'mclpl', () => new MbufExt(this, MCLBYTES), {
      itemsperpage: MCL_ITEMSPERPAGE,
      hardlimit: nmbclusters,
      warnmsg: 'WARNING: mclpool limit reached; increase kern.mbuf.nmbclusters',
      reset: (ext) => { ext.ext_refcnt = 0; },
      maxidlepages: MCL_MAXIDLEPAGES,
    });
  }
}

/*
 * The mbuf pool's reset hook, run by pool_put: drop every reference (so a
 * freed mbuf keeps no chain or cluster alive and a stale pointer to it
 * sees an empty MT_FREE mbuf) and point it back at its own storage.
 */
function mbuf_scrub(m: Mbuf): void {
  m.m_next = null;
  m.m_nextpkt = null;
  m.m_ext = null;
  m.m_buf = m.m_dat;
  m.m_view = m.m_datview;
  m.m_flags = 0;
  m.m_type = MT_FREE;
  m.m_data = 0;
  m.m_len = 0;
}

/* ------------------------------------------------------------------ */
/* Initialisation and sysctl                                           */

function checkLimit(k: Kernel, what: string, n: number, max: number): void {
  if (!Number.isInteger(n) || n < 0 || n > max) panic(k, `mbinit: bad ${what} ${n}`);
}

/**
 * mbinit: make this kernel's mbuf context (pools "mbpl" and "mclpl",
 * statistics, the kern.mbuf sysctl nodes).  Called once per kernel by the
 * network component, which keeps the context; a second call panics.
 */
export function mbinit(k: Kernel, opts: MbinitOptions = {}): MbufCtx {
  const nmbclusters = opts.nmbclusters ?? NMBCLUSTERS;
  const nmbufs = opts.nmbufs ?? NMBUFS;
  checkLimit(k, 'nmbclusters', nmbclusters, NMBCLUSTERS_LIMIT);
  checkLimit(k, 'nmbufs', nmbufs, NMBUFS_LIMIT);
  const sc = k.sysctl;
  /* The directory first: if it exists, this kernel already has mbufs and no pool is made. */
  const dir = sc.sysctl_createv('kern', { name: 'mbuf', num: KERN_MBUF, type: CTLTYPE_NODE, description: 'mbuf control' });
  if (dir.error !== 0) panic(k, `mbinit: kern.mbuf: errno ${dir.error} (mbinit called twice?)`);
  const ctx = new MbufCtx(k, nmbclusters, nmbufs);
  const mk = (desc: Parameters<typeof sc.sysctl_createv>[1]): void => {
    const r = sc.sysctl_createv('kern.mbuf', desc);
    if (r.error !== 0) panic(k, `mbinit: kern.mbuf.${desc.name}: errno ${r.error}`);
  };
  mk({ name: 'msize', num: MBUF_MSIZE, type: CTLTYPE_INT, value: MSIZE, description: 'mbuf base size' });
  mk({ name: 'mclbytes', num: MBUF_MCLBYTES, type: CTLTYPE_INT, value: MCLBYTES, description: 'mbuf cluster size' });
  mk({
    name: 'nmbclusters', num: MBUF_NMBCLUSTERS, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Limit on the number of mbuf clusters',
    get: () => ctx.nmbclusters,
    /* The pool refuses a limit below the clusters out: they cannot be taken back. */
    validate: (v: number) => (v < ctx.mcl_pool.pr_nout || v > NMBCLUSTERS_LIMIT ? EINVAL : 0),
    set: (v: number) => {
      const error = pool_sethardlimit(ctx.mcl_pool, v);
      if (error === 0) ctx.nmbclusters = v;
      return error;
    },
  });
  mk({
    name: 'stats', num: MBUF_STATS, type: CTLTYPE_STRUCT,
    description: 'mbuf allocation statistics',
    get: () => mbstat_read(ctx),
  });
  /* Not in NetBSD, whose mbufs are bounded only by kernel memory; here the mbuf pool has a limit too. */
  mk({
    name: 'nmbufs', type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Limit on the number of mbufs',
    get: () => ctx.nmbufs,
    validate: (v: number) => (v < ctx.mb_pool.pr_nout || v > NMBUFS_LIMIT ? EINVAL : 0),
    set: (v: number) => {
      const error = pool_sethardlimit(ctx.mb_pool, v);
      if (error === 0) ctx.nmbufs = v;
      return error;
    },
  });
  return ctx;
}

/**
 * Undo mbinit: remove the sysctl nodes and destroy the pools.  Mbufs or
 * clusters still out are a leak and panic (pool_destroy).
 */
export function mbfini(ctx: MbufCtx): void {
  const sc = ctx.k.sysctl;
  for (const name of ['msize', 'mclbytes', 'nmbclusters', 'stats', 'nmbufs']) sc.sysctl_destroyv(`kern.mbuf.${name}`);
  sc.sysctl_destroyv('kern.mbuf');
  pool_destroy(ctx.mb_pool);
  pool_destroy(ctx.mcl_pool);
}

/** A snapshot of the statistics: what kern.mbuf.stats returns. */
export function mbstat_read(ctx: MbufCtx): Mbstat {
  const s = ctx.mbstat;
  return {
    m_mbufs: s.m_mbufs,
    m_clusters: s.m_clusters,
    m_drops: s.m_drops,
    m_wait: s.m_wait,
    m_drain: s.m_drain,
    m_mcfail: s.m_mcfail,
    m_mpfail: s.m_mpfail,
    m_mtypes: s.m_mtypes.slice(),
  };
}

/** Mbufs and clusters out now: tests assert both are 0 at the end (no leaks). */
export function m_outstanding(ctx: MbufCtx): { mbufs: number; clusters: number } {
  return { mbufs: ctx.mb_pool.pr_nout, clusters: ctx.mcl_pool.pr_nout };
}

/**
 * Raise max_linkhdr / max_protohdr to at least the given sizes (an
 * interface or protocol attaching says what it needs, as NetBSD's
 * if_attach and domain init do) and recompute max_hdr and max_datalen.
 * Headers that could not fit in one header mbuf are a configuration bug.
 */
export function max_hdr_raise(ctx: MbufCtx, linkhdr: number, protohdr: number): void {
  if (linkhdr > ctx.max_linkhdr) ctx.max_linkhdr = linkhdr;
  if (protohdr > ctx.max_protohdr) ctx.max_protohdr = protohdr;
  ctx.max_hdr = ctx.max_linkhdr + ctx.max_protohdr;
  if (ctx.max_hdr > MHLEN) panic(ctx.k, `max_hdr_raise: max_hdr ${ctx.max_hdr} > MHLEN ${MHLEN}`);
  ctx.max_datalen = MHLEN - ctx.max_hdr;
}

/** Register a drain routine (a protocol's pr_drain) for m_reclaim. */
export function m_reclaim_register(ctx: MbufCtx, fn: () => void): void {
  ctx.mb_drainhooks.push(fn);
}

/**
 * m_reclaim: ask every registered drain routine to free what it can (IP
 * reassembly queues, ...).  Called when an allocation hits a hard limit;
 * counts mbstat.m_drain.  Not re-entered from inside a drain routine.
 */
export function m_reclaim(ctx: MbufCtx): void {
  if (ctx.mb_draining) return;
  ctx.mb_draining = true;
  ctx.mbstat.m_drain++;
  try {
    const hooks = ctx.mb_drainhooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]!();
  } finally {
    ctx.mb_draining = false;
  }
}

/* ------------------------------------------------------------------ */
/* Allocation                                                          */

function check_how(ctx: MbufCtx, how: number): void {
  if (how !== M_DONTWAIT && how !== M_WAIT) panic(ctx.k, `mbuf: bad how ${how}`);
}

/* pool_get, after a drain if the pool is at its limit; null counts a drop. */
function mb_poolget<T extends object>(ctx: MbufCtx, pp: Pool<T>): T | null {
  let item = pool_get(pp, PR_NOWAIT);
  if (item === null && ctx.mb_drainhooks.length !== 0 && !ctx.mb_draining) {
    m_reclaim(ctx);
    item = pool_get(pp, PR_NOWAIT);
  }
  if (item === null) ctx.mbstat.m_drops++;
  return item;
}

/* Make a fresh mbuf of this type: the reset on get. */
function mb_setup(ctx: MbufCtx, m: Mbuf, type: number): void {
  m.m_type = type;
  m.m_flags = 0;
  m.m_data = 0;
  m.m_len = 0;
  m.m_next = null;
  m.m_nextpkt = null;
  ctx.mbstat.m_mtypes[type]!++;
}

function pkthdr_setup(m: Mbuf): void {
  m.m_flags |= M_PKTHDR;
  const ph = m.m_pkthdr;
  ph.len = 0;
  ph.rcvif_index = 0;
  ph.csum_flags = 0;
  ph.csum_data = 0;
  ph.segsz = 0;
}

function check_type(ctx: MbufCtx, type: number): void {
  if (!(type > MT_FREE && type < MT_NTYPES && (type | 0) === type)) panic(ctx.k, `mbuf: bad type ${type}`);
}

/** m_get (MGET): an empty mbuf, or null (ENOBUFS) at the mbuf limit. */
export function m_get(ctx: MbufCtx, how: number, type: number): Mbuf | null {
  check_how(ctx, how);
  check_type(ctx, type);
  const m = mb_poolget(ctx, ctx.mb_pool);
  if (m === null) return null;
  mb_setup(ctx, m, type);
  return m;
}

/** m_gethdr (MGETHDR): an empty mbuf with a zeroed packet header, or null. */
export function m_gethdr(ctx: MbufCtx, how: number, type: number): Mbuf | null {
  const m = m_get(ctx, how, type);
  if (m === null) return null;
  pkthdr_setup(m);
  return m;
}

/* Attach a fresh cluster to m (which has no storage of its own yet). */
function mcl_attach(m: Mbuf, cl: MbufExt): void {
  cl.ext_refcnt = 1;
  m.m_ext = cl;
  m.m_buf = cl.ext_buf;
  m.m_view = cl.ext_view;
  m.m_data = 0;
  m.m_flags |= M_EXT | M_EXT_CLUSTER | M_EXT_RW;
}

/**
 * m_clget (MCLGET): give an empty mbuf a cluster.  Returns false (and
 * leaves M_EXT clear, which is what NetBSD callers test) at the limit.
 */
export function m_clget(m: Mbuf, how: number): boolean {
  const ctx = m.m_ctx;
  check_how(ctx, how);
  KASSERT(ctx.k, (m.m_flags & M_EXT) === 0, 'm_clget: (m->m_flags & M_EXT) == 0');
  KASSERT(ctx.k, m.m_len === 0, 'm_clget: m->m_len == 0');
  const cl = mb_poolget(ctx, ctx.mcl_pool);
  if (cl === null) return false;
  mcl_attach(m, cl);
  return true;
}

/** MCLGET: the macro name for m_clget. */
export const MCLGET = m_clget;

/**
 * m_getcl: an mbuf with a cluster (flags: 0 or M_PKTHDR), or null if
 * either is exhausted (nothing is held then).
 */
export function m_getcl(ctx: MbufCtx, how: number, type: number, flags: number): Mbuf | null {
  if ((flags & ~M_PKTHDR) !== 0) panic(ctx.k, `m_getcl: bad flags 0x${flags.toString(16)}`);
  const m = flags !== 0 ? m_gethdr(ctx, how, type) : m_get(ctx, how, type);
  if (m === null) return null;
  if (!m_clget(m, how)) {
    m_free(m);
    return null;
  }
  return m;
}

/*
 * Before a sleeping get: if the pool is at its limit the caller is about
 * to wait (mbstat.m_wait), and the protocols are asked to drain first.
 */
function mb_prewait<T extends object>(ctx: MbufCtx, pp: Pool<T>): void {
  if (pp.pr_nout < pp.pr_hardlimit) return;
  ctx.mbstat.m_wait++;
  if (ctx.mb_drainhooks.length !== 0) m_reclaim(ctx);
}

/**
 * m_get with M_WAIT for sleepable contexts (a syscall's LWP): sleeps on
 * the mbuf pool until an mbuf is freed, never fails.  flags: 0 or M_PKTHDR.
 */
export async function m_get_wait(ctx: MbufCtx, l: Lwp, type: number, flags = 0): Promise<Mbuf> {
  check_type(ctx, type);
  if ((flags & ~M_PKTHDR) !== 0) panic(ctx.k, `m_get_wait: bad flags 0x${flags.toString(16)}`);
  mb_prewait(ctx, ctx.mb_pool);
  const m = await pool_get_wait(ctx.mb_pool, l);
  mb_setup(ctx, m, type);
  if (flags !== 0) pkthdr_setup(m);
  return m;
}

/** m_getcl with M_WAIT: sleeps for the mbuf, then for the cluster. */
export async function m_getcl_wait(ctx: MbufCtx, l: Lwp, type: number, flags = 0): Promise<Mbuf> {
  const m = await m_get_wait(ctx, l, type, flags);
  mb_prewait(ctx, ctx.mcl_pool);
  let cl: MbufExt;
  try {
    cl = await pool_get_wait(ctx.mcl_pool, l);
  } catch (e) {
    /* The kernel is halting under us: do not leak the mbuf. */
    m_free(m);
    throw e;
  }
  mcl_attach(m, cl);
  return m;
}

/* Drop one reference to external storage; the last returns it to its pool. */
function ext_rele(ext: MbufExt): void {
  if (--ext.ext_refcnt === 0) pool_put(ext.ext_ctx.mcl_pool, ext);
}

/* Make m (which has no storage of its own yet) share n's cluster. */
function ext_share(m: Mbuf, n: Mbuf): void {
  const ext = n.m_ext!;
  ext.ext_refcnt++;
  m.m_ext = ext;
  m.m_buf = n.m_buf;
  m.m_view = n.m_view;
  m.m_flags |= n.m_flags & M_EXTCOPYFLAGS;
}

/**
 * m_free: free one mbuf (and its cluster, if this was the last reference)
 * and return the next mbuf of the chain.  Freeing an mbuf twice panics.
 */
export function m_free(m: Mbuf): Mbuf | null {
  const ctx = m.m_ctx;
  const n = m.m_next;
  const ext = m.m_ext;
  const type = m.m_type;
  /* First, so that a double free panics before any counter moves. */
  pool_put(ctx.mb_pool, m);
  ctx.mbstat.m_mtypes[type]!--;
  if (ext !== null) ext_rele(ext);
  return n;
}

/** m_freem: free a whole chain (one packet; m_nextpkt is not followed).  null is a no-op. */
export function m_freem(m: Mbuf | null): void {
  while (m !== null) m = m_free(m);
}

/* ------------------------------------------------------------------ */
/* Space                                                               */

/** M_READONLY: is m's storage shared (or not writable), so that writing it would change other packets? */
export function M_READONLY(m: Mbuf): boolean {
  return (m.m_flags & M_EXT) !== 0 && ((m.m_flags & M_EXT_RW) === 0 || m.m_ext!.ext_refcnt > 1);
}

/** M_BUFSIZE: bytes of storage m may use: the cluster, MHLEN with a packet header, else MLEN. */
export function M_BUFSIZE(m: Mbuf): number {
  if ((m.m_flags & M_EXT) !== 0) return m.m_ext!.ext_size;
  return (m.m_flags & M_PKTHDR) !== 0 ? MHLEN : MLEN;
}

/** M_LEADINGSPACE: writable bytes before the data (0 for shared storage). */
export function M_LEADINGSPACE(m: Mbuf): number {
  return M_READONLY(m) ? 0 : m.m_data;
}

/** M_TRAILINGSPACE: writable bytes after the data (0 for shared storage). */
export function M_TRAILINGSPACE(m: Mbuf): number {
  return M_READONLY(m) ? 0 : M_BUFSIZE(m) - (m.m_data + m.m_len);
}

/**
 * m_align: place the data start of a fresh mbuf so that len bytes end at
 * the end of its storage, aligned down to a long: room for headers to be
 * prepended later.
 */
export function m_align(m: Mbuf, len: number): void {
  const k = m.m_ctx.k;
  const size = M_BUFSIZE(m);
  KASSERT(k, m.m_data === 0, 'm_align: m->m_data == M_BUFADDR(m)');
  if (!(len >= 0 && len <= size)) panic(k, `m_align: len ${len} > buffer size ${size}`);
  m.m_data = (size - len) & ~ALIGNBYTES;
}

/** M_ALIGN: m_align for a fresh mbuf without packet header or cluster. */
export function M_ALIGN(m: Mbuf, len: number): void {
  KASSERT(m.m_ctx.k, (m.m_flags & (M_PKTHDR | M_EXT)) === 0, 'M_ALIGN: !(m->m_flags & (M_PKTHDR|M_EXT))');
  m_align(m, len);
}

/** MH_ALIGN: m_align for a fresh packet-header mbuf without a cluster. */
export function MH_ALIGN(m: Mbuf, len: number): void {
  KASSERT(m.m_ctx.k, (m.m_flags & (M_PKTHDR | M_EXT)) === M_PKTHDR, 'MH_ALIGN: (m->m_flags & (M_PKTHDR|M_EXT)) == M_PKTHDR');
  m_align(m, len);
}

/**
 * Reserve len bytes of leading space in an empty mbuf: the
 * `m->m_data += max_linkhdr` of NetBSD's output routines.
 */
export function m_reserve(m: Mbuf, len: number): void {
  const k = m.m_ctx.k;
  KASSERT(k, m.m_len === 0, 'm_reserve: m->m_len == 0');
  if (!(len >= 0 && len <= M_TRAILINGSPACE(m))) panic(k, `m_reserve: len ${len} > trailing space ${M_TRAILINGSPACE(m)}`);
  m.m_data += len;
}

/* ------------------------------------------------------------------ */
/* Packet headers                                                      */

/**
 * m_copy_pkthdr: give `to` a copy of from's packet header and the flags
 * that go with it (M_COPYFLAGS).  `to` keeps its storage; internal data it
 * holds must fit in a header mbuf (MHLEN).
 */
export function m_copy_pkthdr(to: Mbuf, from: Mbuf): void {
  const k = to.m_ctx.k;
  KASSERT(k, (from.m_flags & M_PKTHDR) !== 0, 'm_copy_pkthdr: from->m_flags & M_PKTHDR');
  KASSERT(k, to !== from, 'm_copy_pkthdr: to != from');
  const ext = to.m_flags & M_EXTCOPYFLAGS;
  to.m_flags = ext | (from.m_flags & M_COPYFLAGS);
  const a = to.m_pkthdr;
  const b = from.m_pkthdr;
  a.len = b.len;
  a.rcvif_index = b.rcvif_index;
  a.csum_flags = b.csum_flags;
  a.csum_data = b.csum_data;
  a.segsz = b.segsz;
  if (ext === 0) {
    if (to.m_len === 0) to.m_data = 0;
    KASSERT(k, to.m_data + to.m_len <= MHLEN, 'm_copy_pkthdr: to->m_data + to->m_len <= MHLEN');
  }
}

/** m_move_pkthdr: m_copy_pkthdr, then `from` is no longer a packet header. */
export function m_move_pkthdr(to: Mbuf, from: Mbuf): void {
  m_copy_pkthdr(to, from);
  from.m_flags &= ~M_PKTHDR;
}

/** m_remove_pkthdr: m stops being a packet header (before it is appended to another chain). */
export function m_remove_pkthdr(m: Mbuf): void {
  KASSERT(m.m_ctx.k, (m.m_flags & M_PKTHDR) !== 0, 'm_remove_pkthdr: m->m_flags & M_PKTHDR');
  m.m_flags &= ~M_PKTHDR;
}

/* ------------------------------------------------------------------ */
/* Copying                                                             */

/*
 * Copy n bytes between storages.  Short copies are a loop (no view to
 * make); overlapping ones within one ArrayBuffer go through set() or
 * copyWithin, which handle overlap.
 */
function bcopy(src: Uint8Array, soff: number, dst: Uint8Array, doff: number, n: number): void {
  if (n <= BCOPY_LOOP_MAX && src.buffer !== dst.buffer) {
    for (let i = 0; i < n; i++) dst[doff + i] = src[soff + i]!;
  } else if (src === dst) {
    dst.copyWithin(doff, soff, soff + n);
  } else if (n > 0) {
    dst.set(src.subarray(soff, soff + n), doff);
  }
}

/** m_length: bytes in the chain (the sum of m_len). */
export function m_length(m: Mbuf | null): number {
  let len = 0;
  for (; m !== null; m = m.m_next) len += m.m_len;
  return len;
}

/**
 * m_copydata: copy len bytes from offset off of the chain into
 * dst[dstoff...].  A range past the end of the chain panics.
 */
export function m_copydata(m0: Mbuf, off: number, len: number, dst: Uint8Array, dstoff = 0): void {
  const k = m0.m_ctx.k;
  if (!(off >= 0 && len >= 0)) panic(k, `m_copydata: off ${off}, len ${len} < 0`);
  if (dstoff < 0 || dstoff + len > dst.length) panic(k, `m_copydata: ${len} bytes at ${dstoff} overflow dst (${dst.length})`);
  let m: Mbuf | null = m0;
  while (off > 0) {
    if (m === null) panic(k, `m_copydata: off ${off} beyond the chain`);
    if (off < m.m_len) break;
    off -= m.m_len;
    m = m.m_next;
  }
  while (len > 0) {
    if (m === null) panic(k, `m_copydata: chain ends with ${len} bytes left to copy`);
    const count = Math.min(m.m_len - off, len);
    bcopy(m.m_buf, m.m_data + off, dst, dstoff, count);
    len -= count;
    dstoff += count;
    off = 0;
    m = m.m_next;
  }
}

/*
 * Write len bytes of src (or zeros, with src null) at offset off of a
 * chain that already holds them.  Shared storage here is a caller bug.
 */
function m_fill(m0: Mbuf, off: number, len: number, src: Uint8Array | null, srcoff: number): void {
  const k = m0.m_ctx.k;
  let m: Mbuf | null = m0;
  while (m !== null && off >= m.m_len) {
    off -= m.m_len;
    m = m.m_next;
  }
  while (len > 0) {
    if (m === null) panic(k, 'm_copyback: chain shorter than its length');
    const count = Math.min(m.m_len - off, len);
    if (count > 0) {
      if (M_READONLY(m)) panic(k, 'm_copyback: write into shared storage (use m_makewritable)');
      if (src !== null) bcopy(src, srcoff, m.m_buf, m.m_data + off, count);
      else m.m_buf.fill(0, m.m_data + off, m.m_data + off + count);
      srcoff += count;
      len -= count;
    }
    off = 0;
    m = m.m_next;
  }
}

/*
 * Append n bytes of (unwritten) room after `last`, the end of a chain:
 * its own trailing space, then new mbufs (clusters for big amounts).  On
 * failure everything added is taken back and ENOBUFS returned.
 */
function m_extend(last: Mbuf, n: number): number {
  const ctx = last.m_ctx;
  KASSERT(ctx.k, last.m_next === null, 'm_extend: last->m_next == NULL');
  const lastlen = last.m_len;
  const take = Math.min(M_TRAILINGSPACE(last), n);
  last.m_len += take;
  n -= take;
  let tail = last;
  while (n > 0) {
    const m = n >= MINCLSIZE ? m_getcl(ctx, M_DONTWAIT, last.m_type, 0) : m_get(ctx, M_DONTWAIT, last.m_type);
    if (m === null) {
      m_freem(last.m_next);
      last.m_next = null;
      last.m_len = lastlen;
      return ENOBUFS;
    }
    m.m_len = Math.min(n, M_TRAILINGSPACE(m));
    n -= m.m_len;
    tail.m_next = m;
    tail = m;
  }
  return 0;
}

/**
 * m_copyback: copy len bytes of src[srcoff...] into the chain at offset
 * off, extending the chain (zero-filling any gap) when it is too short,
 * and raising m_pkthdr.len to cover it.  Returns 0, or ENOBUFS with the
 * chain unchanged.  The written range must be writable: shared storage
 * panics; use m_copyback_cow there.
 */
export function m_copyback(m0: Mbuf, off: number, len: number, src: Uint8Array, srcoff = 0): number {
  const k = m0.m_ctx.k;
  if (!(off >= 0 && len >= 0)) panic(k, `m_copyback: off ${off}, len ${len} < 0`);
  if (srcoff < 0 || srcoff + len > src.length) panic(k, `m_copyback: ${len} bytes at ${srcoff} overrun src (${src.length})`);
  const end = off + len;
  let total = 0;
  let last = m0;
  for (let m: Mbuf | null = m0; m !== null; m = m.m_next) {
    total += m.m_len;
    last = m;
  }
  if (end > total) {
    const error = m_extend(last, end - total);
    if (error !== 0) return error;
    /* Pooled storage is dirty: the gap between the old end and off reads as zeros. */
    if (off > total) m_fill(m0, total, off - total, null, 0);
  }
  m_fill(m0, off, len, src, srcoff);
  if ((m0.m_flags & M_PKTHDR) !== 0 && m0.m_pkthdr.len < end) m0.m_pkthdr.len = end;
  return 0;
}

/*
 * Give m private, writable storage with the same bytes: its internal
 * buffer when they fit (keeping as much leading space as possible), else a
 * new cluster at the same offset.  Returns 0 or ENOBUFS (m unchanged).
 */
function m_unshare(m: Mbuf): number {
  const ctx = m.m_ctx;
  const ext = m.m_ext!;
  const size = (m.m_flags & M_PKTHDR) !== 0 ? MHLEN : MLEN;
  if (m.m_len <= size) {
    const data = Math.min(m.m_data, size - m.m_len);
    bcopy(m.m_buf, m.m_data, m.m_dat, data, m.m_len);
    m.m_ext = null;
    m.m_buf = m.m_dat;
    m.m_view = m.m_datview;
    m.m_flags &= ~M_EXTCOPYFLAGS;
    m.m_data = data;
  } else {
    const cl = mb_poolget(ctx, ctx.mcl_pool);
    if (cl === null) return ENOBUFS;
    bcopy(m.m_buf, m.m_data, cl.ext_buf, m.m_data, m.m_len);
    m.m_flags &= ~M_EXTCOPYFLAGS;
    const data = m.m_data;
    mcl_attach(m, cl);
    m.m_data = data;
  }
  ext_rele(ext);
  return 0;
}

/**
 * m_makewritable: make bytes [off, off+len) of the chain writable in
 * place, giving every mbuf in that range whose storage is shared a
 * private copy.  len may be M_COPYALL.  Returns the chain, or null on
 * ENOBUFS after freeing it.  The range must lie within the chain.
 */
export function m_makewritable(m0: Mbuf, off: number, len: number, how: number): Mbuf | null {
  const ctx = m0.m_ctx;
  check_how(ctx, how);
  const total = m_length(m0);
  if (len === M_COPYALL) len = total - off;
  if (!(off >= 0 && len >= 0 && off + len <= total)) panic(ctx.k, `m_makewritable: [${off}, +${len}) outside the chain (${total})`);
  const end = off + len;
  let pos = 0;
  for (let m: Mbuf | null = m0; m !== null && pos < end; m = m.m_next) {
    const mlen = m.m_len;
    if (pos + mlen > off && mlen > 0 && M_READONLY(m) && m_unshare(m) !== 0) {
      m_freem(m0);
      return null;
    }
    pos += mlen;
  }
  return m0;
}

/**
 * m_copyback_cow: m_copyback that first unshares the storage it writes
 * (what a firewall or NAT rewriting a packet uses).  Returns the chain,
 * or null on ENOBUFS after freeing it.
 */
export function m_copyback_cow(m0: Mbuf, off: number, len: number, src: Uint8Array, srcoff: number, how: number): Mbuf | null {
  const total = m_length(m0);
  const wend = Math.min(off + len, total);
  if (off < total && wend > off && m_makewritable(m0, off, wend - off, how) === null) return null;
  if (m_copyback(m0, off, len, src, srcoff) !== 0) {
    m_freem(m0);
    return null;
  }
  return m0;
}

/**
 * m_copym: a copy of len bytes (M_COPYALL: to the end) from offset off.
 * Cluster data is shared, not copied (the copy and the original are then
 * both read-only there); internal data is copied, packed into as few
 * mbufs as it fits.  With off 0 the copy gets the packet header, its len
 * set to the bytes copied.  Returns null on ENOBUFS (counted in
 * m_mcfail); a range past the end of the chain panics.  len 0 gives an
 * empty mbuf.
 */
export function m_copym(m0: Mbuf, off: number, len: number, how: number): Mbuf | null {
  const ctx = m0.m_ctx;
  const k = ctx.k;
  if (!(off >= 0 && len >= 0)) panic(k, `m_copym: off ${off}, len ${len} < 0`);
  const copyall = len === M_COPYALL;
  const copyhdr = off === 0 && (m0.m_flags & M_PKTHDR) !== 0;
  let m: Mbuf | null = m0;
  while (off > 0) {
    if (m === null) panic(k, `m_copym: off ${off} beyond the chain`);
    if (off < m.m_len) break;
    off -= m.m_len;
    m = m.m_next;
  }
  const type = m !== null ? m.m_type : m0.m_type;
  const top = copyhdr ? m_gethdr(ctx, how, type) : m_get(ctx, how, type);
  if (top === null) {
    ctx.mbstat.m_mcfail++;
    return null;
  }
  if (copyhdr) m_copy_pkthdr(top, m0);
  let n = top;
  let copied = 0;
  let left = copyall ? Infinity : len;
  for (; left > 0 && m !== null; m = m.m_next, off = 0) {
    const count = Math.min(m.m_len - off, left);
    if (count <= 0) continue;
    if ((m.m_flags & M_EXT) !== 0) {
      /* Share the cluster: in a new mbuf, unless the copy's empty head can take it. */
      if (n.m_len !== 0 || (n.m_flags & M_EXT) !== 0) {
        const t = m_get(ctx, how, m.m_type);
        if (t === null) break;
        n.m_next = t;
        n = t;
      }
      ext_share(n, m);
      n.m_data = m.m_data + off;
      n.m_len = count;
    } else {
      let soff = m.m_data + off;
      let rest = count;
      while (rest > 0) {
        let space = (n.m_flags & M_EXT) !== 0 ? 0 : M_TRAILINGSPACE(n);
        if (space === 0) {
          const t = m_get(ctx, how, m.m_type);
          if (t === null) break;
          n.m_next = t;
          n = t;
          space = MLEN;
        }
        const c = Math.min(space, rest);
        bcopy(m.m_buf, soff, n.m_buf, n.m_data + n.m_len, c);
        n.m_len += c;
        soff += c;
        rest -= c;
      }
      if (rest > 0) break;
    }
    copied += count;
    left -= count;
  }
  if (left > 0 && m !== null) {
    /* An allocation failed (the loops above break only then). */
    m_freem(top);
    ctx.mbstat.m_mcfail++;
    return null;
  }
  if (!copyall && left > 0) panic(k, `m_copym: chain ends with ${left} bytes left to copy`);
  if (copyhdr) top.m_pkthdr.len = copied;
  return top;
}

/**
 * m_dup: a deep copy of len bytes (M_COPYALL: to the end) from offset
 * off into fresh, writable storage (clusters for large amounts), with the
 * packet header when off is 0.  Returns null on ENOBUFS.
 */
export function m_dup(m0: Mbuf, off: number, len: number, how: number): Mbuf | null {
  const ctx = m0.m_ctx;
  check_how(ctx, how);
  const total = m_length(m0);
  if (len === M_COPYALL) len = total - off;
  if (!(off >= 0 && len >= 0 && off + len <= total)) panic(ctx.k, `m_dup: [${off}, +${len}) outside the chain (${total})`);
  const copyhdr = off === 0 && (m0.m_flags & M_PKTHDR) !== 0;
  /* The source cursor: mbuf sm, offset so inside it. */
  let sm: Mbuf | null = m0;
  let so = off;
  while (sm !== null && so >= sm.m_len && so > 0) {
    so -= sm.m_len;
    sm = sm.m_next;
  }
  let top: Mbuf | null = null;
  let tail: Mbuf | null = null;
  let done = 0;
  do {
    const n: Mbuf | null = top === null && copyhdr ? m_gethdr(ctx, how, m0.m_type) : m_get(ctx, how, m0.m_type);
    if (n === null || (len - done > M_BUFSIZE(n) && !m_clget(n, how))) {
      if (n !== null) m_free(n);
      m_freem(top);
      return null;
    }
    if (top === null) {
      top = n;
      if (copyhdr) {
        m_copy_pkthdr(n, m0);
        n.m_pkthdr.len = len;
      }
    } else {
      tail!.m_next = n;
    }
    tail = n;
    let want = Math.min(len - done, M_TRAILINGSPACE(n));
    while (want > 0) {
      const c = Math.min(sm!.m_len - so, want);
      bcopy(sm!.m_buf, sm!.m_data + so, n.m_buf, n.m_data + n.m_len, c);
      n.m_len += c;
      want -= c;
      done += c;
      so += c;
      if (so === sm!.m_len) {
        sm = sm!.m_next;
        so = 0;
      }
    }
  } while (done < len);
  return top;
}

/* ------------------------------------------------------------------ */
/* Reshaping                                                           */

/**
 * m_prepend: put a new mbuf with len bytes (len <= MHLEN) in front of the
 * chain; the packet header moves to it.  The new bytes are uninitialised
 * and sit at the end of the new mbuf, leaving room for more headers.
 * m_pkthdr.len is not changed (M_PREPEND does that).  On ENOBUFS the
 * chain is freed and null returned.
 */
export function m_prepend(m: Mbuf, len: number, how: number): Mbuf | null {
  const ctx = m.m_ctx;
  if (!(len >= 0 && len <= MHLEN)) panic(ctx.k, `m_prepend: len ${len} > MHLEN`);
  const mn = m_get(ctx, how, m.m_type);
  if (mn === null) {
    m_freem(m);
    return null;
  }
  if ((m.m_flags & M_PKTHDR) !== 0) m_move_pkthdr(mn, m);
  mn.m_next = m;
  if (len < M_BUFSIZE(mn)) m_align(mn, len);
  mn.m_len = len;
  return mn;
}

/**
 * M_PREPEND: make room for plen bytes in front of the packet, in the
 * leading space if there is (writable) room, else in a new mbuf, and add
 * plen to m_pkthdr.len.  Returns the new head, or null on ENOBUFS (the
 * chain is freed).
 */
export function M_PREPEND(m: Mbuf, plen: number, how: number): Mbuf | null {
  let h: Mbuf | null = m;
  if (M_LEADINGSPACE(m) >= plen) {
    m.m_data -= plen;
    m.m_len += plen;
  } else {
    h = m_prepend(m, plen, how);
    if (h === null) return null;
  }
  if ((h.m_flags & M_PKTHDR) !== 0) h.m_pkthdr.len += plen;
  return h;
}

/**
 * m_adj: trim req_len bytes from the head of the packet (req_len > 0) or
 * -req_len bytes from its tail (req_len < 0), fixing m_pkthdr.len.
 * Emptied mbufs stay in the chain with m_len 0.  Trimming more than the
 * packet empties it.
 */
export function m_adj(mp: Mbuf, req_len: number): void {
  let len = req_len;
  let m: Mbuf | null = mp;
  if (len >= 0) {
    while (m !== null && len > 0) {
      if (m.m_len <= len) {
        len -= m.m_len;
        m.m_len = 0;
        m = m.m_next;
      } else {
        m.m_len -= len;
        m.m_data += len;
        len = 0;
      }
    }
    if ((mp.m_flags & M_PKTHDR) !== 0) mp.m_pkthdr.len -= req_len - len;
    return;
  }
  len = -len;
  let count = 0;
  let last = mp;
  for (let p: Mbuf | null = mp; p !== null; p = p.m_next) {
    count += p.m_len;
    last = p;
  }
  if (last.m_len >= len) {
    /* The common case (a trailer, an FCS): only the last mbuf changes. */
    last.m_len -= len;
    if ((mp.m_flags & M_PKTHDR) !== 0) mp.m_pkthdr.len -= len;
    return;
  }
  count = Math.max(count - len, 0);
  if ((mp.m_flags & M_PKTHDR) !== 0) mp.m_pkthdr.len = count;
  for (m = mp; m !== null; m = m.m_next) {
    if (m.m_len >= count) {
      m.m_len = count;
      break;
    }
    count -= m.m_len;
  }
  if (m !== null) for (let p = m.m_next; p !== null; p = p.m_next) p.m_len = 0;
}

/**
 * m_pullup: make the first len bytes of the packet contiguous in its
 * first mbuf, so a header can be read with plain offsets.  Returns the
 * (possibly new) head, or null after freeing the chain when the chain is
 * shorter than len or memory runs out (m_mpfail).  Pulls up to
 * max_protohdr bytes when it must copy, to spare the next layer a pullup.
 * Up to MHLEN into a small mbuf, up to MCLBYTES into a cluster.
 */
export function m_pullup(n0: Mbuf, len: number): Mbuf | null {
  if (n0.m_len >= len) return n0;
  const ctx = n0.m_ctx;
  let n: Mbuf | null = n0;
  /* Check first, so that a chain too short is freed without copying anything. */
  let have = 0;
  for (let p: Mbuf | null = n0; p !== null && have < len; p = p.m_next) have += p.m_len;
  if (have < len || len > MCLBYTES) {
    ctx.mbstat.m_mpfail++;
    m_freem(n0);
    return null;
  }
  let m: Mbuf;
  if (!M_READONLY(n0) && n0.m_data + len <= M_BUFSIZE(n0)) {
    /* Room in the first mbuf: pull the rest in behind its data. */
    m = n0;
    n = n0.m_next;
    len -= m.m_len;
  } else {
    const t = m_get(ctx, M_DONTWAIT, n0.m_type);
    if (t === null || (len > MHLEN && !m_clget(t, M_DONTWAIT))) {
      if (t !== null) m_free(t);
      ctx.mbstat.m_mpfail++;
      m_freem(n0);
      return null;
    }
    m = t;
    if ((n0.m_flags & M_PKTHDR) !== 0) m_move_pkthdr(m, n0);
  }
  let space = M_BUFSIZE(m) - (m.m_data + m.m_len);
  while (len > 0 && n !== null) {
    const count = Math.min(Math.max(len, ctx.max_protohdr), space, n.m_len);
    bcopy(n.m_buf, n.m_data, m.m_buf, m.m_data + m.m_len, count);
    len -= count;
    m.m_len += count;
    space -= count;
    n.m_len -= count;
    if (n.m_len !== 0) n.m_data += count;
    else n = m_free(n);
  }
  KASSERT(ctx.k, len <= 0, 'm_pullup: len <= 0');
  m.m_next = n;
  return m;
}

/**
 * m_cat: append chain n to chain m, copying n's data into m's trailing
 * space while it fits (freeing those mbufs) and linking the rest.  n's
 * packet header, if any, is dropped; m's m_pkthdr.len is not updated.
 */
export function m_cat(m: Mbuf, n: Mbuf | null): void {
  while (m.m_next !== null) m = m.m_next;
  while (n !== null) {
    if (n.m_len > M_TRAILINGSPACE(m)) {
      n.m_flags &= ~M_PKTHDR;
      m.m_next = n;
      return;
    }
    bcopy(n.m_buf, n.m_data, m.m_buf, m.m_data + m.m_len, n.m_len);
    m.m_len += n.m_len;
    n = m_free(n);
  }
}

/**
 * m_split: split the packet at len0: m0 keeps the first len0 bytes and
 * the rest is returned as a new chain (with its own packet header if m0
 * has one; the lengths are fixed on both).  Cluster data is shared, not
 * copied.  Returns null on ENOBUFS with m0 untouched; a split at the end
 * returns an empty mbuf; len0 past the end panics.
 */
export function m_split(m0: Mbuf, len0: number, how: number): Mbuf | null {
  const ctx = m0.m_ctx;
  if (!(len0 >= 0)) panic(ctx.k, `m_split: len0 ${len0} < 0`);
  let m = m0;
  let len = len0;
  while (len > m.m_len) {
    len -= m.m_len;
    if (m.m_next === null) panic(ctx.k, `m_split: len0 ${len0} beyond the chain`);
    m = m.m_next;
  }
  const remain = m.m_len - len;
  const hdr = (m0.m_flags & M_PKTHDR) !== 0;
  const ext = (m.m_flags & M_EXT) !== 0;
  /* Allocate everything first, so that a failure leaves the chain as it was. */
  let n: Mbuf | null = null;
  let t: Mbuf | null = null;
  if (hdr) {
    n = m_gethdr(ctx, how, m0.m_type);
    if (n === null) return null;
    if (remain > 0) {
      if (!ext && remain > MHLEN) {
        /* Too much for a header mbuf: the header stays empty and a plain mbuf takes the bytes. */
        t = m_get(ctx, how, m.m_type);
        if (t === null) {
          m_free(n);
          return null;
        }
      } else {
        t = n;
      }
    }
  } else if (remain > 0) {
    n = t = m_get(ctx, how, m.m_type);
    if (n === null) return null;
  } else if (m.m_next === null) {
    n = m_get(ctx, how, m.m_type);
    if (n === null) return null;
  }
  /* Commit. */
  if (t !== null) {
    if (ext) {
      ext_share(t, m);
      t.m_data = m.m_data + len;
    } else {
      m_align(t, remain);
      bcopy(m.m_buf, m.m_data + len, t.m_buf, t.m_data, remain);
    }
    t.m_len = remain;
    m.m_len = len;
  }
  const rest = m.m_next;
  m.m_next = null;
  if (hdr) {
    n!.m_pkthdr.len = m0.m_pkthdr.len - len0;
    n!.m_pkthdr.rcvif_index = m0.m_pkthdr.rcvif_index;
    m0.m_pkthdr.len = len0;
    if (t !== null && t !== n) {
      n!.m_next = t;
      t.m_next = rest;
    } else {
      n!.m_next = rest;
    }
    return n;
  }
  if (t !== null) {
    t.m_next = rest;
    return t;
  }
  return rest ?? n;
}

/* ------------------------------------------------------------------ */
/* Driver receive, lookup, conversions                                 */

/**
 * m_devget: the driver receive path.  Copy a received frame,
 * buf[off, off+len), into a new packet: one header mbuf when it fits in
 * MHLEN (an ACK, an ARP), else clusters.  rcvif_index names the
 * receiving interface.  Returns null on ENOBUFS (the driver counts the
 * drop).  Callable in interrupt context.
 */
export function m_devget(ctx: MbufCtx, buf: Uint8Array, off: number, len: number, rcvif_index: number): Mbuf | null {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) panic(ctx.k, `m_devget: [${off}, +${len}) outside the buffer (${buf.length})`);
  const top = m_gethdr(ctx, M_DONTWAIT, MT_DATA);
  if (top === null) return null;
  top.m_pkthdr.len = len;
  top.m_pkthdr.rcvif_index = rcvif_index;
  let m = top;
  let done = 0;
  for (;;) {
    const left = len - done;
    if (left > M_TRAILINGSPACE(m) && !m_clget(m, M_DONTWAIT)) {
      m_freem(top);
      return null;
    }
    const c = Math.min(left, M_TRAILINGSPACE(m));
    bcopy(buf, off + done, m.m_buf, m.m_data, c);
    m.m_len = c;
    done += c;
    if (done >= len) return top;
    const nm = m_get(ctx, M_DONTWAIT, MT_DATA);
    if (nm === null) {
      m_freem(top);
      return null;
    }
    m.m_next = nm;
    m = nm;
  }
}

/**
 * m_getptr: the mbuf holding byte loc of the packet, with the offset
 * inside it written to res.off; loc equal to the packet length gives the
 * last mbuf and its m_len.  null if loc is outside the packet.
 */
export function m_getptr(m: Mbuf, loc: number, res: MbufOff): Mbuf | null {
  if (loc < 0) return null;
  for (;;) {
    if (m.m_len > loc) {
      res.off = loc;
      return m;
    }
    loc -= m.m_len;
    if (m.m_next === null) {
      if (loc === 0) {
        res.off = m.m_len;
        return m;
      }
      return null;
    }
    m = m.m_next;
  }
}

/** The packet's bytes as a new Uint8Array (a copy; for tests and tools). */
export function m_tobytes(m: Mbuf): Uint8Array {
  const out = new Uint8Array(m_length(m));
  m_copydata(m, 0, out.length, out, 0);
  return out;
}

/** A new packet holding a copy of bytes (m_devget with no interface); null on ENOBUFS. */
export function m_frombytes(ctx: MbufCtx, bytes: Uint8Array): Mbuf | null {
  return m_devget(ctx, bytes, 0, bytes.length, 0);
}

/**
 * m_verify_packet: check a chain's invariants (NetBSD's DIAGNOSTIC
 * check), panicking on the first broken one: live mbufs, data inside the
 * storage, storage pointers matching the flags, a packet header only at
 * the head with len equal to the chain's bytes.
 */
export function m_verify_packet(m0: Mbuf): void {
  const k = m0.m_ctx.k;
  let total = 0;
  for (let m: Mbuf | null = m0; m !== null; m = m.m_next) {
    const what = (s: string): string => `m_verify_packet: mbuf ${m === m0 ? 'head' : `at byte ${total}`}: ${s}`;
    if (m.m_type === MT_FREE) panic(k, what('freed mbuf in the chain'));
    if ((m.m_flags & M_PKTHDR) !== 0 && m !== m0) panic(k, what('M_PKTHDR not at the head'));
    if ((m.m_flags & M_EXT) !== 0) {
      const ext = m.m_ext;
      if (ext === null || m.m_buf !== ext.ext_buf || m.m_view !== ext.ext_view) panic(k, what('M_EXT without its cluster'));
      if (ext.ext_refcnt < 1) panic(k, what('cluster with no references'));
    } else if (m.m_ext !== null || m.m_buf !== m.m_dat || m.m_view !== m.m_datview) {
      panic(k, what('external storage without M_EXT'));
    }
    if (m.m_len < 0 || m.m_data < 0 || m.m_data + m.m_len > M_BUFSIZE(m)) {
      panic(k, what(`data [${m.m_data}, +${m.m_len}) outside its storage (${M_BUFSIZE(m)})`));
    }
    total += m.m_len;
  }
  if ((m0.m_flags & M_PKTHDR) !== 0 && m0.m_pkthdr.len !== total) {
    panic(k, `m_verify_packet: m_pkthdr.len ${m0.m_pkthdr.len} != ${total} bytes in the chain`);
  }
}
