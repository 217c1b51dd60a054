/*
 * tcp_vtw.ts: the Vestigial Time-Wait table, the storage half of NetBSD's
 * netinet/tcp_vtw.c: compact records of closed TIME_WAIT connections that
 * stand in for full PCBs until 2*MSL has passed ("a FIN cache").
 *
 * Place in the stack: one VtwTable per kernel, owned by TCP (IPv4 only).
 * TCP turns an fd-less TIME_WAIT tcb into an entry (add), demuxes segments
 * that match no real PCB through lookup_connect, and the PCB layer's bind,
 * connect and ephemeral-port checks walk the entries of a local port
 * (port_first / port_next).  A periodic sweep calls ageAll.  This file
 * knows nothing of tcbs, sysctls or callouts: it stores, finds and expires.
 * Like the original it assumes one caller at a time (NetBSD holds
 * softnet_lock); the kernel runs it on its single virtual CPU.
 *
 * Storage, all in typed arrays (no object per entry):
 *
 *  - The arena: N entries named by index.  Each has a 32-byte record of
 *    eight int32 words (faddr, laddr, fport << 16 | lport, the two hash
 *    keys, rcv_nxt, snd_nxt, ts_recent), so a lookup compares one record in one
 *    cache line; expiry, flags and class sit in side columns.  A slot is
 *    free when its expiry is 0.  An entry is alive while hashed: its keys
 *    (line << 4 | slot, always > 0) are complemented when it is unhashed,
 *    as NetBSD does, so a stale slot can never match.
 *  - Four rings (controllers) over the arena: ring 0 (classless, MSLT off)
 *    covers all of it, rings 1..3 (remote, local, loopback) cover thirds;
 *    the N mod 3 leftover slots belong to ring 0 only.  A ring allocates
 *    with a clock hand, so, all entries of a class living equally long, it
 *    stays sorted by age: allocated slots run contiguously from `oldest` to
 *    `alloc`.  A full ring evicts: it latches its oldest entry's expiry and
 *    removes every entry expiring at or before it (counted as kills).
 *    Rings 0 and 1..3 overlap, so a slot carries the class that last
 *    allocated it; a ring takes over ("usurps") a free slot of the other
 *    scheme and fails while that slot is still held.
 *  - Two hashes over the entries, full 4-tuple and local port, built of fat
 *    pointers: 64-byte lines of 16 int32 words, each carrying up to 13
 *    members of one bucket's chain, so one line fill examines 13
 *    candidates.  A slot's stored tag is
 *    T ^ enc(idx) ^ X[slot], T the hash tag and enc(idx) = idx << idx_bits
 *    | idx: XORing out T and X[slot] must give back an index that
 *    re-encodes exactly, which screens out nearly every foreign slot
 *    without touching the entry.  Insertion uses only a bucket's head line
 *    and pushes a new head when it is full; older lines hang below and
 *    their freed slots are not reused.  An emptied line is unlinked and
 *    returned to the pool.
 *
 * Deliberate differences from NetBSD:
 *
 *  - A line holds 13 tags, not 15: word 0 is the next line, word 1 the
 *    previous line (or ~bucket for a head), word 2 the in-use bitmap.
 *    Full-width links reach beyond NetBSD's 2^17 lines (N = 2^20 needs
 *    about 3.2e5), and the back link unlinks an emptied line in O(1): the
 *    port chain of a busy server holds every entry, so NetBSD's walk to
 *    the predecessor would cost O(N/13) per expiry.
 *  - Bucket counts scale with N (NetBSD has 512 per hash): the full hash
 *    has max(16, N/8) buckets, about 8 entries per bucket at full load,
 *    which keeps lookups near one line (see the tests for the measured
 *    figure); the port hash has N/8 buckets capped at 16384 to stay
 *    within 64 bytes per entry at N = 2^20.
 *  - The pool holds nbuckets + nportbuckets + 2 * floor(11 * floor(N/13)
 *    / 10) lines: room for every bucket's head plus each hash's entries
 *    packed 13 to a line with NetBSD's 10% headroom.  NetBSD allocates
 *    twice its n, which counts its anchors twice.
 *  - The v4 full tag is not NetBSD's sum faddr+fport+laddr+lport: with
 *    consecutive client addresses and ports the sum makes whole sets of
 *    tuples share one tag (10.0.0.1:5001 and 10.0.0.2:5000 collide), which
 *    neither a bucket mask nor the screen can separate, and a tuple that
 *    differs only in a port lands on a neighbour's tag ((p, 8080) is
 *    (p + 8000, 80)).  Here the address pair goes through a 32-bit
 *    avalanche, fport is added and lport added times an odd constant: one
 *    address pair's consecutive ports, on either side, still fill distinct
 *    buckets in turn.  Measured at N = 2^20 after churn, 64 consecutive
 *    clients x 16384 ports: the sum walks 3.1 lines per hit and 3.1
 *    (server side) to 5.9 (client side) per miss, dereferencing about 31
 *    wrong entries per lookup; this tag walks 1.00 and dereferences 0.01.
 *    Random tuples walk 1.10 with either (8 per bucket, Poisson).
 *  - A bucket's lone head line also returns to the pool when it empties
 *    (NetBSD keeps it).  So every line in use holds an entry, the pool
 *    bound above holds, and evicting entries always gives lines back.
 *  - When the pool cannot supply a line, the adding entry's own class is
 *    evicted (NetBSD ages ring 0, which owns nothing while MSLT is on);
 *    if that class has nothing left, the add fails and the tcb stays.
 *  - Expiry is absolute kernel uptime in ms (a double), not a timeval.
 *    All slots are labelled with their class at creation (NetBSD leaves
 *    each range's last slot unlabelled).  No v6only flag: no IPv6 here.
 *  - The port iterator state lives in a cursor object the caller may
 *    supply; the table's own cursor serves callers that do not nest.
 */

/** The entry's socket had SO_REUSEADDR. */
export const VTW_REUSEADDR = 0x01;
/** The entry's socket had SO_REUSEPORT. */
export const VTW_REUSEPORT = 0x02;
/** The connection used timestamps: ts_recent holds the peer's last one. */
export const VTW_TSTMP = 0x04;
const VTW_UFLAGS = VTW_REUSEADDR | VTW_REUSEPORT | VTW_TSTMP;

/* An entry's record: words of v_rec from idx << 3. */
const R_FADDR = 0;
const R_LADDR = 1;
const R_PORTS = 2;
const R_KEY = 3;
const R_PORT_KEY = 4;
const R_RCV_NXT = 5;
const R_SND_NXT = 6;
const R_TS_RECENT = 7;

/** Ring (class) count: 0 classless, 1 remote, 2 local, 3 loopback. */
export const VTW_NCLASS = 4;
export const VTW_MIN_ENTRIES = 16;
export const VTW_MAX_ENTRIES = 1 << 21;

/** Tags in one fat pointer (a 64-byte line, 3 header words). */
export const FATP_NTAGS = 13;
const FATP_NXT = 0;
const FATP_PREV = 1;
const FATP_INUSE = 2;
const FATP_TAG0 = 3;
const FATP_FULL = (1 << FATP_NTAGS) - 1;
/* Per-slot whiteners, so equal (tag, index) pairs differ between slots. */
const FATP_X = Int32Array.of(
  0x11111111, 0x22222222, 0x33333333, 0x44444444, 0x55555555, 0x66666666, 0x77777777,
  0x88888888, 0x12121212, 0x21212121, 0x34343434, 0x43434343, 0x56565656,
);

const PORT_BUCKETS_MAX = 16384;
/* The nine two-slot counter arrays of VtwStats. */
const VTW_STATS_BYTES = 9 * 2 * Float64Array.BYTES_PER_ELEMENT;

/* Odd, so consecutive local ports map to distinct buckets. */
const VTW_LPORT_MUL = 0x2c1b3c6d;

/**
 * vtw_tag_v4: the full-hash tag of a 4-tuple (host-order addresses and
 * ports), as an int32.  Equal tags for different tuples are legal, merely
 * slower; the entry is always compared in full.
 */
export function vtw_tag_v4(faddr: number, fport: number, laddr: number, lport: number): number {
  let h = faddr ^ Math.imul(laddr, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h + fport + Math.imul(lport, VTW_LPORT_MUL)) | 0;
}

/**
 * vtw_port_tag: the port-hash tag, NetBSD's integer mix of the port as it
 * lies in memory in network order (read on a little-endian host).
 */
export function vtw_port_tag(lport: number): number {
  let t = ((lport & 0xff) << 8) | ((lport >>> 8) & 0xff);
  t ^= t << 11;
  t ^= t << 3;
  t += t >>> 5;
  t ^= t << 4;
  t += t >>> 17;
  t ^= t << 25;
  t += t >>> 6;
  return t | 0;
}

/**
 * Hash statistics (NetBSD's vtw_stats), index 0 the full hash and 1 the
 * port hash.  `visits` (lines walked, summed) over `look` is the average
 * line fills per lookup; port_next continues a lookup, so it adds probes
 * and visits but not looks.
 */
export class VtwStats {
  /** entries hashed */
  ins = 0;
  /** entries unhashed, by any cause */
  del = 0;
  /** alive entries evicted before their time (ring full, pool empty) */
  kill = 0;
  readonly look = new Float64Array(2);
  readonly hit = new Float64Array(2);
  readonly miss = new Float64Array(2);
  /** slots examined */
  readonly probe = new Float64Array(2);
  /** entries dereferenced that did not match */
  readonly losing = new Float64Array(2);
  readonly visits = new Float64Array(2);
  /** most lines, probes and losing dereferences in one lookup */
  readonly max_chain = new Float64Array(2);
  readonly max_probe = new Float64Array(2);
  readonly max_loss = new Float64Array(2);
}

/**
 * A port-hash cursor: where port_next resumes.  Valid until the table is
 * next modified.
 */
export class VtwPortIter {
  lport = 0;
  tag = 0;
  line = 0;
  /** slots of `line` not yet examined */
  rest = 0;
}

export class VtwTable {
  readonly nentries: number;
  readonly idx_bits: number;
  /** buckets of the full (4-tuple) hash */
  readonly nbuckets: number;
  /** buckets of the port hash */
  readonly nportbuckets: number;
  /** fat pointers in the pool shared by both hashes */
  readonly nlines: number;
  readonly stats = new VtwStats();
  /** the cursor port_first/port_next use when given none */
  readonly iter = new VtwPortIter();

  /* The arena: records (R_*) and side columns. */
  private readonly v_rec: Int32Array;
  private readonly v_expire: Float64Array;
  private readonly v_flags: Uint8Array;
  private readonly v_class: Uint8Array;
  private nalive = 0;

  /* The rings, indexed by class. */
  private readonly c_base = new Int32Array(VTW_NCLASS);
  private readonly c_lim = new Int32Array(VTW_NCLASS);
  private readonly c_alloc = new Int32Array(VTW_NCLASS);
  private readonly c_oldest = new Int32Array(VTW_NCLASS);
  private readonly c_nalloc = new Int32Array(VTW_NCLASS);
  private readonly c_nfree = new Int32Array(VTW_NCLASS);

  /* Fat pointers: line i occupies words 16i..16i+15; line 0 is the null link. */
  private readonly fatp: Int32Array;
  private readonly hash_anchor: Int32Array;
  private readonly port_anchor: Int32Array;
  private fatp_free = 0;
  private fatp_nfree = 0;

  /**
   * nentries: a power of two in 16 .. 2^21.  nlines overrides the pool
   * size (at least 2), for experiments with pool exhaustion.
   */
  constructor(nentries: number, nlines?: number) {
    if (!Number.isInteger(nentries) || nentries < VTW_MIN_ENTRIES || nentries > VTW_MAX_ENTRIES ||
        (nentries & (nentries - 1)) !== 0) {
      throw new RangeError(`vtw: entries ${nentries} is not a power of two in ${VTW_MIN_ENTRIES}..${VTW_MAX_ENTRIES}`);
    }
    const nb = Math.max(16, nentries >>> 3);
    const npb = Math.min(nb, PORT_BUCKETS_MAX);
    const pool = nlines ?? nb + npb + 2 * Math.floor(11 * Math.floor(nentries / FATP_NTAGS) / 10);
    if (!Number.isInteger(pool) || pool < 2 || pool >= 1 << 27) {
      throw new RangeError(`vtw: fat-pointer pool of ${pool} lines is not an integer in 2..2^27-1`);
    }
    this.nentries = nentries;
    this.idx_bits = 31 - Math.clz32(nentries);
    this.nbuckets = nb;
    this.nportbuckets = npb;
    this.nlines = pool;

    this.v_rec = new Int32Array(nentries << 3);
    this.v_expire = new Float64Array(nentries);
    this.v_flags = new Uint8Array(nentries);
    this.v_class = new Uint8Array(nentries);

    const third = Math.floor(nentries / 3);
    for (let c = 0; c < VTW_NCLASS; c++) {
      const base = c === 0 ? 0 : (c - 1) * third;
      const lim = c === 0 ? nentries : c * third;
      this.c_base[c] = base;
      this.c_lim[c] = lim;
      this.c_alloc[c] = base;
      this.c_oldest[c] = -1;
      this.c_nfree[c] = lim - base;
      this.v_class.fill(c, base, lim);
    }
    this.v_class.fill(0, 3 * third, nentries);

    this.fatp = new Int32Array((pool + 1) << 4);
    for (let l = 1; l < pool; l++) this.fatp[(l << 4) + FATP_NXT] = l + 1;
    this.fatp_free = 1;
    this.fatp_nfree = pool;
    this.hash_anchor = new Int32Array(nb);
    this.port_anchor = new Int32Array(npb);
  }

  /**
   * add: record a vestige in class cls (0..3) expiring at expireMs
   * (absolute uptime, > 0).  May evict the class's oldest entries (ring
   * full, or no line in the pool).  Returns the entry's index, or -1 when
   * no slot can be had: the next slot is still held by the other scheme
   * (classless vs classes), or the pool is short and the class has
   * nothing to give up.
   */
  add(cls: number, expireMs: number, laddr: number, lport: number, faddr: number, fport: number,
      rcv_nxt: number, snd_nxt: number, ts_recent: number, flags: number): number {
    this.check_cls(cls);
    if (!(expireMs > 0)) throw new RangeError(`vtw: expiry ${expireMs} is not a positive time`);
    lport &= 0xffff;
    fport &= 0xffff;
    const tag = vtw_tag_v4(faddr, fport, laddr, lport);
    const ptag = vtw_port_tag(lport);
    if (!this.fatp_reserve(cls, tag, ptag)) return -1;
    const idx = this.vtw_alloc(cls, expireMs);
    if (idx < 0) return -1;
    this.vtw_fill(idx, faddr, laddr, (fport << 16) | lport, rcv_nxt, snd_nxt, ts_recent, flags);
    this.vtw_inshash(idx, tag, ptag);
    return idx;
  }

  /**
   * del: remove an entry from both hashes.  Its slot is freed only if it
   * is its ring's oldest; otherwise it stays taken, invisible, until aging
   * reaches it, which keeps each ring sorted.
   */
  del(idx: number): void {
    this.check_idx(idx);
    if (this.v_rec[(idx << 3) + R_KEY] > 0) this.vtw_unhash(idx);
    const cls = this.v_class[idx];
    if (this.v_expire[idx] !== 0 && this.c_oldest[cls] === idx) this.vtw_free(cls, idx);
  }

  /**
   * restart: give an alive entry a fresh expiry by re-adding it in its
   * class (the old slot is deleted out of order).  Returns the new index;
   * if no slot can be had the old entry and expiry stand and its index is
   * returned, or -1 if making room evicted it.  -1 also if idx is not
   * alive.
   */
  restart(idx: number, newExpireMs: number): number {
    this.check_idx(idx);
    const rec = this.v_rec;
    const o = idx << 3;
    if (rec[o + R_KEY] <= 0) return -1;
    if (!(newExpireMs > 0)) throw new RangeError(`vtw: expiry ${newExpireMs} is not a positive time`);
    const cls = this.v_class[idx];
    const faddr = rec[o + R_FADDR];
    const laddr = rec[o + R_LADDR];
    const ports = rec[o + R_PORTS];
    const rcv_nxt = rec[o + R_RCV_NXT];
    const snd_nxt = rec[o + R_SND_NXT];
    const ts_recent = rec[o + R_TS_RECENT];
    const flags = this.v_flags[idx];
    const tag = vtw_tag_v4(faddr, ports >>> 16, laddr, ports & 0xffff);
    const ptag = vtw_port_tag(ports & 0xffff);
    /*
     * Reserving lines with the old entry still hashed overestimates the
     * need; unhashing it later never raises the need above what it frees.
     */
    const n = this.fatp_reserve(cls, tag, ptag) ? this.vtw_alloc(cls, newExpireMs) : -1;
    if (n < 0) return rec[o + R_KEY] > 0 ? idx : -1;
    if (rec[o + R_KEY] > 0) this.del(idx);
    this.vtw_fill(n, faddr, laddr, ports, rcv_nxt, snd_nxt, ts_recent, flags);
    this.vtw_inshash(n, tag, ptag);
    return n;
  }

  /**
   * age: free class cls's entries that expire at or before nowMs, oldest
   * first, stopping at the first one still to live.  Returns how many
   * alive entries it removed.
   */
  age(cls: number, nowMs: number): number {
    this.check_cls(cls);
    let n = 0;
    while (this.c_nalloc[cls] > 0) {
      const idx = this.c_oldest[cls];
      if (this.v_expire[idx] > nowMs) break;
      if (this.v_rec[(idx << 3) + R_KEY] > 0) {
        this.vtw_unhash(idx);
        n++;
      }
      this.vtw_free(cls, idx);
    }
    return n;
  }

  /** ageAll: age every class; returns how many alive entries expired. */
  ageAll(nowMs: number): number {
    let n = 0;
    for (let c = 0; c < VTW_NCLASS; c++) n += this.age(c, nowMs);
    return n;
  }

  /** forEachAlive: call fn with every alive entry's index (for listings, not per packet). */
  forEachAlive(fn: (idx: number) => void): void {
    for (let i = 0; i < this.nentries; i++) {
      if (this.v_rec[(i << 3) + R_KEY] > 0) fn(i);
    }
  }

  /** count: alive (hashed) entries. */
  count(): number {
    return this.nalive;
  }

  /** allocated: slots class cls holds, alive or deleted out of order. */
  allocated(cls: number): number {
    this.check_cls(cls);
    return this.c_nalloc[cls];
  }

  /** linesFree: fat pointers left in the pool. */
  linesFree(): number {
    return this.fatp_nfree;
  }

  /** bytes: memory held in the table's typed arrays. */
  bytes(): number {
    return this.v_rec.byteLength + this.v_expire.byteLength + this.v_flags.byteLength +
      this.v_class.byteLength +
      6 * this.c_base.byteLength + this.fatp.byteLength + this.hash_anchor.byteLength +
      this.port_anchor.byteLength + VTW_STATS_BYTES;
  }

  /*
   * Field accessors.  idx must come from this table (add, a lookup or the
   * port iterator); they do not check it.
   */
  alive(idx: number): boolean {
    return this.v_rec[(idx << 3) + R_KEY] > 0;
  }
  laddr(idx: number): number {
    return this.v_rec[(idx << 3) + R_LADDR] >>> 0;
  }
  lport(idx: number): number {
    return this.v_rec[(idx << 3) + R_PORTS] & 0xffff;
  }
  faddr(idx: number): number {
    return this.v_rec[(idx << 3) + R_FADDR] >>> 0;
  }
  fport(idx: number): number {
    return this.v_rec[(idx << 3) + R_PORTS] >>> 16;
  }
  rcv_nxt(idx: number): number {
    return this.v_rec[(idx << 3) + R_RCV_NXT] >>> 0;
  }
  snd_nxt(idx: number): number {
    return this.v_rec[(idx << 3) + R_SND_NXT] >>> 0;
  }
  /**
   * The peer's last timestamp.  NetBSD keeps the owner's uid in this word
   * for bind()'s cross-user check; we have no credentials, and keeping
   * the timestamp gives vestiges PAWS and timestamp-based reuse.
   */
  ts_recent(idx: number): number {
    return this.v_rec[(idx << 3) + R_TS_RECENT] >>> 0;
  }
  set_ts_recent(idx: number, v: number): void {
    this.v_rec[(idx << 3) + R_TS_RECENT] = v | 0;
  }
  /** VTW_REUSEADDR | VTW_REUSEPORT | VTW_TSTMP */
  flags(idx: number): number {
    return this.v_flags[idx];
  }
  msl_class(idx: number): number {
    return this.v_class[idx];
  }
  /** absolute uptime in ms; 0 for a free slot */
  expire(idx: number): number {
    return this.v_expire[idx];
  }

  /**
   * lookup_connect: the alive entry for a 4-tuple (host order), or -1.
   * Walks one full-hash chain; a slot whose tag does not screen is passed
   * over without reading the entry.
   */
  lookup_connect(faddr: number, fport: number, laddr: number, lport: number): number {
    faddr |= 0;
    laddr |= 0;
    fport &= 0xffff;
    lport &= 0xffff;
    const ports = (fport << 16) | lport;
    const tag = vtw_tag_v4(faddr, fport, laddr, lport);
    const fatp = this.fatp;
    const rec = this.v_rec;
    const ibits = this.idx_bits;
    const imask = this.nentries - 1;
    let line = this.hash_anchor[tag & (this.nbuckets - 1)];
    let lines = 0;
    let probes = 0;
    let losses = 0;
    let found = -1;
    walk: while (line !== 0) {
      const base = line << 4;
      lines++;
      let rest = fatp[base + FATP_INUSE];
      while (rest !== 0) {
        const slot = 31 - Math.clz32(rest & -rest);
        rest &= rest - 1;
        probes++;
        const c = fatp[base + FATP_TAG0 + slot] ^ tag ^ FATP_X[slot];
        const i = c & imask;
        if (((i << ibits) | i) !== c) continue;
        const o = i << 3;
        if (rec[o + R_KEY] === (base | slot) && rec[o + R_FADDR] === faddr &&
            rec[o + R_LADDR] === laddr && rec[o + R_PORTS] === ports) {
          found = i;
          break walk;
        }
        losses++;
      }
      line = fatp[base + FATP_NXT];
    }
    this.stats.look[0]++;
    this.account(0, lines, probes, losses);
    if (found >= 0) this.stats.hit[0]++;
    else this.stats.miss[0]++;
    return found;
  }

  /**
   * port_first: the first alive entry whose local port is lport, or -1;
   * port_next with the same cursor yields the rest.  Checks that need
   * only one stop after port_first.  The table must not change during an
   * iteration.
   */
  port_first(lport: number, it: VtwPortIter = this.iter): number {
    const tag = vtw_port_tag(lport);
    const line = this.port_anchor[tag & (this.nportbuckets - 1)];
    it.lport = lport & 0xffff;
    it.tag = tag;
    it.line = line;
    it.rest = line !== 0 ? this.fatp[(line << 4) + FATP_INUSE] : 0;
    this.stats.look[1]++;
    const idx = this.port_walk(it, line !== 0 ? 1 : 0);
    if (idx >= 0) this.stats.hit[1]++;
    else this.stats.miss[1]++;
    return idx;
  }

  /** port_next: the next alive entry for the cursor's port, or -1 at the end. */
  port_next(it: VtwPortIter = this.iter): number {
    return this.port_walk(it, 0);
  }

  private port_walk(it: VtwPortIter, lines: number): number {
    const fatp = this.fatp;
    const rec = this.v_rec;
    const ibits = this.idx_bits;
    const imask = this.nentries - 1;
    const tag = it.tag;
    const lport = it.lport;
    let line = it.line;
    let rest = it.rest;
    let probes = 0;
    let losses = 0;
    while (line !== 0) {
      const base = line << 4;
      while (rest !== 0) {
        const slot = 31 - Math.clz32(rest & -rest);
        rest &= rest - 1;
        probes++;
        const c = fatp[base + FATP_TAG0 + slot] ^ tag ^ FATP_X[slot];
        const i = c & imask;
        if (((i << ibits) | i) !== c) continue;
        const o = i << 3;
        if (rec[o + R_PORT_KEY] === (base | slot) && (rec[o + R_PORTS] & 0xffff) === lport) {
          it.line = line;
          it.rest = rest;
          this.account(1, lines, probes, losses);
          return i;
        }
        losses++;
      }
      line = fatp[base + FATP_NXT];
      if (line !== 0) {
        rest = fatp[(line << 4) + FATP_INUSE];
        lines++;
      }
    }
    it.line = 0;
    it.rest = 0;
    this.account(1, lines, probes, losses);
    return -1;
  }

  private account(h: number, lines: number, probes: number, losses: number): void {
    const st = this.stats;
    st.visits[h] += lines;
    st.probe[h] += probes;
    st.losing[h] += losses;
    if (lines > st.max_chain[h]) st.max_chain[h] = lines;
    if (probes > st.max_probe[h]) st.max_probe[h] = probes;
    if (losses > st.max_loss[h]) st.max_loss[h] = losses;
  }

  private check_cls(cls: number): void {
    if (!(Number.isInteger(cls) && cls >= 0 && cls < VTW_NCLASS)) {
      throw new RangeError(`vtw: class ${cls} is not 0..${VTW_NCLASS - 1}`);
    }
  }

  private check_idx(idx: number): void {
    if (!(Number.isInteger(idx) && idx >= 0 && idx < this.nentries)) {
      throw new RangeError(`vtw: index ${idx} is not an entry of a ${this.nentries}-entry table`);
    }
  }

  /*
   * vtw_alloc: take the slot under class cls's clock hand, evicting the
   * class's oldest entries first if the ring is full.
   */
  private vtw_alloc(cls: number, expireMs: number): number {
    if (this.c_nfree[cls] === 0) this.vtw_evict(cls);
    const idx = this.c_alloc[cls];
    /* Still held by the other scheme: wait until it expires there. */
    if (this.v_expire[idx] !== 0) return -1;
    this.v_class[idx] = cls;
    this.c_alloc[cls] = idx + 1 === this.c_lim[cls] ? this.c_base[cls] : idx + 1;
    this.c_nfree[cls]--;
    this.c_nalloc[cls]++;
    this.v_expire[idx] = expireMs;
    if (this.c_oldest[cls] < 0) this.c_oldest[cls] = idx;
    return idx;
  }

  /* Free the oldest slot of class cls and move the tail on. */
  private vtw_free(cls: number, idx: number): void {
    this.v_expire[idx] = 0;
    this.c_nfree[cls]++;
    if (--this.c_nalloc[cls] === 0) this.c_oldest[cls] = -1;
    else this.c_oldest[cls] = idx + 1 === this.c_lim[cls] ? this.c_base[cls] : idx + 1;
  }

  /*
   * vtw_evict (NetBSD's vtw_age(ctl, NULL)): latch the oldest entry's
   * expiry and free every entry of the class expiring at or before it.
   * False if the class holds nothing.
   */
  private vtw_evict(cls: number): boolean {
    if (this.c_nalloc[cls] === 0) return false;
    const when = this.v_expire[this.c_oldest[cls]];
    while (this.c_nalloc[cls] > 0) {
      const idx = this.c_oldest[cls];
      if (this.v_expire[idx] > when) break;
      if (this.v_rec[(idx << 3) + R_KEY] > 0) {
        this.vtw_unhash(idx);
        this.stats.kill++;
      }
      this.vtw_free(cls, idx);
    }
    return true;
  }

  /* Lines an insertion of these tags would take from the pool. */
  private fatp_need(tag: number, ptag: number): number {
    const h = this.hash_anchor[tag & (this.nbuckets - 1)];
    const p = this.port_anchor[ptag & (this.nportbuckets - 1)];
    return (h === 0 || this.fatp[(h << 4) + FATP_INUSE] === FATP_FULL ? 1 : 0) +
      (p === 0 || this.fatp[(p << 4) + FATP_INUSE] === FATP_FULL ? 1 : 0);
  }

  /* Evict class cls until the pool can take an insertion of these tags. */
  private fatp_reserve(cls: number, tag: number, ptag: number): boolean {
    while (this.fatp_need(tag, ptag) > this.fatp_nfree) {
      if (!this.vtw_evict(cls)) return false;
    }
    return true;
  }

  private vtw_fill(idx: number, faddr: number, laddr: number, ports: number, rcv_nxt: number,
                   snd_nxt: number, ts_recent: number, flags: number): void {
    const rec = this.v_rec;
    const o = idx << 3;
    rec[o + R_FADDR] = faddr;
    rec[o + R_LADDR] = laddr;
    rec[o + R_PORTS] = ports;
    rec[o + R_RCV_NXT] = rcv_nxt;
    rec[o + R_SND_NXT] = snd_nxt;
    rec[o + R_TS_RECENT] = ts_recent;
    this.v_flags[idx] = flags & VTW_UFLAGS;
  }

  private vtw_inshash(idx: number, tag: number, ptag: number): void {
    const rec = this.v_rec;
    const o = idx << 3;
    const e = (idx << this.idx_bits) | idx;
    rec[o + R_KEY] = this.fatp_insert(this.hash_anchor, tag & (this.nbuckets - 1), tag ^ e);
    rec[o + R_PORT_KEY] = this.fatp_insert(this.port_anchor, ptag & (this.nportbuckets - 1), ptag ^ e);
    this.nalive++;
    this.stats.ins++;
  }

  private vtw_unhash(idx: number): void {
    const rec = this.v_rec;
    const o = idx << 3;
    this.fatp_remove(this.hash_anchor, rec[o + R_KEY]);
    this.fatp_remove(this.port_anchor, rec[o + R_PORT_KEY]);
    rec[o + R_KEY] = ~rec[o + R_KEY];
    rec[o + R_PORT_KEY] = ~rec[o + R_PORT_KEY];
    this.nalive--;
    this.stats.del++;
  }

  /*
   * Put value (tag ^ enc(idx)) in the highest free slot of bucket b's head
   * line, pushing a new head if there is none or it is full.  Returns the
   * slot's key.  fatp_reserve has made sure the pool has the line.
   */
  private fatp_insert(anchor: Int32Array, b: number, value: number): number {
    const fatp = this.fatp;
    let head = anchor[b];
    if (head === 0 || fatp[(head << 4) + FATP_INUSE] === FATP_FULL) {
      const line = this.fatp_free;
      const base = line << 4;
      this.fatp_free = fatp[base + FATP_NXT];
      this.fatp_nfree--;
      fatp[base + FATP_NXT] = head;
      fatp[base + FATP_PREV] = ~b;
      fatp[base + FATP_INUSE] = 0;
      if (head !== 0) fatp[(head << 4) + FATP_PREV] = line;
      anchor[b] = line;
      head = line;
    }
    const base = head << 4;
    const inuse = fatp[base + FATP_INUSE];
    const slot = 31 - Math.clz32(~inuse & FATP_FULL);
    fatp[base + FATP_INUSE] = inuse | (1 << slot);
    fatp[base + FATP_TAG0 + slot] = value ^ FATP_X[slot];
    return base | slot;
  }

  /*
   * Clear a slot.  An emptied line leaves its chain (a head hands the
   * bucket to its successor, or empties it) and returns to the pool.
   */
  private fatp_remove(anchor: Int32Array, key: number): void {
    const fatp = this.fatp;
    const base = key & ~15;
    const inuse = fatp[base + FATP_INUSE] & ~(1 << (key & 15));
    fatp[base + FATP_INUSE] = inuse;
    fatp[base + FATP_TAG0 + (key & 15)] = 0;
    if (inuse !== 0) return;
    const prev = fatp[base + FATP_PREV];
    const nxt = fatp[base + FATP_NXT];
    if (prev > 0) fatp[(prev << 4) + FATP_NXT] = nxt;
    else anchor[~prev] = nxt;
    if (nxt !== 0) fatp[(nxt << 4) + FATP_PREV] = prev;
    fatp[base + FATP_NXT] = this.fatp_free;
    this.fatp_free = base >>> 4;
    this.fatp_nfree++;
  }
}
