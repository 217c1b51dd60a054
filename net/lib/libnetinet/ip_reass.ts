/*
 * ip_reass.ts: IPv4 reassembly (NetBSD's netinet/ip_reass.c; RFC 791
 * section 3.2, RFC 815, RFC 1122 section 3.3.2).
 *
 * Place in the packet path: ip_input() hands every fragment addressed to
 * this host to ip_reass(); it answers null (kept, or dropped and counted)
 * until the datagram is whole, then returns it as one packet, which
 * ip_input() delivers like any other.
 *
 * A datagram being reassembled is an Ipq, found by (source, destination,
 * ID, protocol) through a hash.  Its fragments stay as they arrived, each
 * with its own IP header, on a list through m_nextpkt sorted by offset;
 * offsets and lengths are read from those headers, so a fragment costs no
 * object.  On completion the headers of all but the first are cut off and
 * the data chained behind the first (m_cat: clusters are linked, not
 * copied); the first header gets the full length and a fresh checksum.
 *
 * Limits (net.inet.ip.maxfragpackets, net.inet.ip.maxfrags, NetBSD's
 * ip_maxfragpackets and ip_maxfrags): a fragment that would start a
 * datagram past the first, or be held past the second, is dropped
 * (ips_rcvmemdrop).  When mbufs run out, m_reclaim() calls ip_reass_drain(),
 * which throws every queue away (ips_fragdropped).
 *
 * Timeout: a queue lives IPFRAGTTL slow ticks (30 s) from its first
 * fragment.  The slow timer runs only while a queue exists (an idle
 * kernel sets no timer).  On expiry the fragments are freed
 * (ips_fragtimeout counts them) and, if fragment zero had arrived, an ICMP
 * time exceeded (reassembly) goes to the source, as RFC 1122 3.3.2 says
 * it MUST.
 *
 * Overlaps (the policy, after RFC 5722's rule for IPv6 applied to IPv4):
 * an exact duplicate of a fragment already held (same offset, length and
 * MF) is dropped alone (ips_fragdropped), since links duplicate frames;
 * any other overlap, or fragments that disagree about where the datagram
 * ends, abandon the whole datagram: every fragment held and the new one
 * are dropped (ips_fragdropped).  Nothing is ever trimmed, so overlapping
 * fragments can never be used to smuggle one header past a check made on
 * another (the "teardrop"/overlap attacks of RFC 1858 and RFC 3128).
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { Callout, callout_init, callout_pending, callout_schedule, callout_setfunc, callout_stop } from '../../../librump/rumpkern/kern_timeout.ts';
import { mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_adj, m_cat, m_freem, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { in_addr_read } from './in.ts';
import { in_cksum } from './in_cksum.ts';
import {
  IP_DST_OFF, IP_HDR_LEN, IP_ID_OFF, IP_LEN_OFF, IP_MAXPACKET, IP_MF, IP_OFF_OFF, IP_OFFMASK, IP_P_OFF,
  IP_SRC_OFF, IP_SUM_OFF,
} from './ip.ts';
import { ICMP_TIMXCEED, ICMP_TIMXCEED_REASS } from './ip_icmp.ts';
import { IPFRAGTTL, PR_SLOWHZ } from './ip_var.ts';
import type { InetState } from './in_var.ts';
import { icmp_error } from './ip_icmp_input.ts';

/** One datagram being reassembled (struct ipq). */
export class Ipq {
  /** Slow ticks left. */
  ipq_ttl = IPFRAGTTL;
  /** Fragments, sorted by offset, linked through m_nextpkt. */
  ipq_frags: Mbuf | null = null;
  ipq_nfrags = 0;
  /** Data length of the whole datagram once the last fragment (MF clear) arrived, else -1. */
  ipq_end = -1;
  /** Next queue in the same hash chain. */
  ipq_hnext: Ipq | null = null;
  constructor(
    readonly ipq_key: number,
    readonly ipq_src: number,
    readonly ipq_dst: number,
    readonly ipq_id: number,
    readonly ipq_p: number,
  ) {}
}

/** The reassembly state of one kernel. */
export class IpReass {
  /** Hash chains of queues. */
  readonly ipq_hash = new Map<number, Ipq>();
  /** Datagrams being reassembled, and fragments held. */
  ip_nfragpackets = 0;
  ip_nfrags = 0;
  readonly ipq_timer = new Callout();

  constructor(readonly st: InetState) {
    callout_init(this.ipq_timer, 0, st.k);
    callout_setfunc(this.ipq_timer, ip_reass_slowtimo, this);
  }
}

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}

/* A fragment's offset, data length and MF flag, from its own header. */
function frag_off(m: Mbuf): number {
  return (rd16(m.m_buf, m.m_data + IP_OFF_OFF) & IP_OFFMASK) << 3;
}
function frag_hlen(m: Mbuf): number {
  return (m.m_buf[m.m_data]! & 0x0f) << 2;
}
function frag_len(m: Mbuf): number {
  return rd16(m.m_buf, m.m_data + IP_LEN_OFF) - frag_hlen(m);
}
function frag_mf(m: Mbuf): number {
  return rd16(m.m_buf, m.m_data + IP_OFF_OFF) & IP_MF;
}

function ipq_hashkey(src: number, dst: number, id: number, p: number): number {
  return (src ^ dst ^ id ^ (p << 16)) >>> 0;
}

/* Unlink q from the hash and the counts; its fragments stay with the caller. */
function ipq_unlink(r: IpReass, q: Ipq): void {
  const head = r.ipq_hash.get(q.ipq_key);
  if (head === q) {
    if (q.ipq_hnext === null) r.ipq_hash.delete(q.ipq_key);
    else r.ipq_hash.set(q.ipq_key, q.ipq_hnext);
  } else {
    for (let p = head ?? null; p !== null; p = p.ipq_hnext) {
      if (p.ipq_hnext === q) {
        p.ipq_hnext = q.ipq_hnext;
        break;
      }
    }
  }
  q.ipq_hnext = null;
  r.ip_nfragpackets--;
  r.ip_nfrags -= q.ipq_nfrags;
  if (r.ip_nfragpackets === 0) callout_stop(r.ipq_timer);
}

/* Free every fragment of q (and q); returns how many there were. */
function ipq_free(r: IpReass, q: Ipq): number {
  const n = q.ipq_nfrags;
  ipq_unlink(r, q);
  for (let f = q.ipq_frags; f !== null;) {
    const next: Mbuf | null = f.m_nextpkt;
    f.m_nextpkt = null;
    m_freem(f);
    f = next;
  }
  q.ipq_frags = null;
  q.ipq_nfrags = 0;
  return n;
}

/**
 * ip_reass: add fragment m (its header, hlen bytes, contiguous in the
 * first mbuf; ip_len already checked against the packet) and return the
 * whole datagram when this completes it, else null (m kept or freed).
 */
export function ip_reass(st: InetState, m: Mbuf, hlen: number): Mbuf | null {
  const ips = st.ipstat;
  const r = st.reass;
  const buf = m.m_buf;
  const ip = m.m_data;
  const ipoff = rd16(buf, ip + IP_OFF_OFF);
  const mff = ipoff & IP_MF;
  const off = (ipoff & IP_OFFMASK) << 3;
  const flen = rd16(buf, ip + IP_LEN_OFF) - hlen;
  ips.ips_fragments++;
  /* RFC 791: every fragment but the last carries a multiple of 8 bytes. */
  if (mff !== 0 && (flen === 0 || (flen & 7) !== 0)) {
    ips.ips_badfrags++;
    m_freem(m);
    return null;
  }
  if (off + flen + IP_HDR_LEN > IP_MAXPACKET) {
    ips.ips_toolong++;
    m_freem(m);
    return null;
  }
  const src = in_addr_read(buf, ip + IP_SRC_OFF);
  const dst = in_addr_read(buf, ip + IP_DST_OFF);
  const id = rd16(buf, ip + IP_ID_OFF);
  const p = buf[ip + IP_P_OFF]!;
  const key = ipq_hashkey(src, dst, id, p);
  let q = r.ipq_hash.get(key) ?? null;
  while (q !== null && !(q.ipq_src === src && q.ipq_dst === dst && q.ipq_id === id && q.ipq_p === p)) q = q.ipq_hnext;
  if (q === null) {
    if (r.ip_nfragpackets >= st.ip_maxfragpackets || r.ip_nfrags >= st.ip_maxfrags) {
      ips.ips_rcvmemdrop++;
      m_freem(m);
      return null;
    }
    q = new Ipq(key, src, dst, id, p);
    q.ipq_hnext = r.ipq_hash.get(key) ?? null;
    r.ipq_hash.set(key, q);
    r.ip_nfragpackets++;
    if (!callout_pending(r.ipq_timer)) callout_schedule(r.ipq_timer, st.k.hz / PR_SLOWHZ);
  } else if (r.ip_nfrags >= st.ip_maxfrags) {
    ips.ips_rcvmemdrop++;
    m_freem(m);
    return null;
  }

  /* Find the place: prev is the last fragment starting before off. */
  let prev: Mbuf | null = null;
  let nxt = q.ipq_frags;
  while (nxt !== null && frag_off(nxt) < off) {
    prev = nxt;
    nxt = nxt.m_nextpkt;
  }
  if (nxt !== null && frag_off(nxt) === off && frag_len(nxt) === flen && frag_mf(nxt) === mff) {
    /* An exact duplicate: drop it alone. */
    ips.ips_fragdropped++;
    m_freem(m);
    return null;
  }
  const end = off + flen;
  const overlap = (prev !== null && frag_off(prev) + frag_len(prev) > off) || (nxt !== null && end > frag_off(nxt));
  /* Disagreements about the end: a second, different last fragment; data past a known end; a last fragment before data. */
  const badend = (mff === 0 && ((q.ipq_end >= 0 && q.ipq_end !== end) || (q.ipq_frags !== null && last_end(q) > end))) ||
    (mff !== 0 && q.ipq_end >= 0 && end > q.ipq_end);
  if (overlap || badend) {
    ips.ips_fragdropped += ipq_free(r, q) + 1;
    m_freem(m);
    return null;
  }
  m.m_nextpkt = nxt;
  if (prev === null) q.ipq_frags = m;
  else prev.m_nextpkt = m;
  q.ipq_nfrags++;
  r.ip_nfrags++;
  if (mff === 0) q.ipq_end = end;
  if (q.ipq_end < 0) return null;

  /* Whole? Contiguous from 0 to the end. */
  let next = 0;
  for (let f = q.ipq_frags; f !== null; f = f.m_nextpkt) {
    if (frag_off(f) !== next) return null;
    next += frag_len(f);
  }
  if (next !== q.ipq_end) return null;

  const first = q.ipq_frags!;
  const hlen0 = frag_hlen(first);
  if (hlen0 + next > IP_MAXPACKET) {
    ips.ips_toolong++;
    ips.ips_fragdropped += ipq_free(r, q);
    return null;
  }
  ipq_unlink(r, q);
  let f = first.m_nextpkt;
  first.m_nextpkt = null;
  q.ipq_frags = null;
  q.ipq_nfrags = 0;
  while (f !== null) {
    const n: Mbuf | null = f.m_nextpkt;
    f.m_nextpkt = null;
    m_adj(f, frag_hlen(f));
    m_cat(first, f);
    f = n;
  }
  const fb = first.m_buf;
  const fip = first.m_data;
  const total = hlen0 + next;
  fb[fip + IP_LEN_OFF] = total >>> 8;
  fb[fip + IP_LEN_OFF + 1] = total & 0xff;
  const o = rd16(fb, fip + IP_OFF_OFF) & ~(IP_MF | IP_OFFMASK);
  fb[fip + IP_OFF_OFF] = o >>> 8;
  fb[fip + IP_OFF_OFF + 1] = o & 0xff;
  fb[fip + IP_SUM_OFF] = 0;
  fb[fip + IP_SUM_OFF + 1] = 0;
  const sum = in_cksum(fb, fip, hlen0);
  fb[fip + IP_SUM_OFF] = sum >>> 8;
  fb[fip + IP_SUM_OFF + 1] = sum & 0xff;
  first.m_pkthdr.len = total;
  ips.ips_reassembled++;
  return first;
}

/* Where the data held so far ends. */
function last_end(q: Ipq): number {
  let e = 0;
  for (let f = q.ipq_frags; f !== null; f = f.m_nextpkt) {
    const x = frag_off(f) + frag_len(f);
    if (x > e) e = x;
  }
  return e;
}

/* The slow timer (PR_SLOWHZ): age every queue; expire those at zero. */
function ip_reass_slowtimo(arg: unknown): void {
  const r = arg as IpReass;
  const st = r.st;
  const lock = net_of(st.k).softnet_lock;
  mutex_enter(lock);
  try {
    const expired: Ipq[] = [];
    for (const head of r.ipq_hash.values()) {
      for (let q: Ipq | null = head; q !== null; q = q.ipq_hnext) if (--q.ipq_ttl <= 0) expired.push(q);
    }
    for (const q of expired) ip_reass_expire(st, q);
    if (r.ip_nfragpackets > 0) callout_schedule(r.ipq_timer, st.k.hz / PR_SLOWHZ);
  } finally {
    mutex_exit(lock);
  }
}

/* A queue timed out: count, free, and tell the source if fragment zero came (RFC 1122 3.3.2). */
function ip_reass_expire(st: InetState, q: Ipq): void {
  const r = st.reass;
  st.ipstat.ips_fragtimeout += q.ipq_nfrags;
  const first = q.ipq_frags;
  if (first !== null && frag_off(first) === 0) {
    q.ipq_frags = first.m_nextpkt;
    first.m_nextpkt = null;
    ipq_free(r, q);
    icmp_error(first, ICMP_TIMXCEED, ICMP_TIMXCEED_REASS, 0, 0);
  } else {
    ipq_free(r, q);
  }
}

/** ip_reass_drain: memory is short (m_reclaim); drop every datagram being reassembled. */
export function ip_reass_drain(k: Kernel): void {
  const st = k.inet;
  if (st === undefined) return;
  const r = st.reass;
  const all: Ipq[] = [];
  for (const head of r.ipq_hash.values()) for (let q: Ipq | null = head; q !== null; q = q.ipq_hnext) all.push(q);
  for (const q of all) st.ipstat.ips_fragdropped += ipq_free(r, q);
}

/** Datagrams and fragments held now (for tests and netstat). */
export function ip_reass_count(st: InetState): { packets: number; frags: number } {
  return { packets: st.reass.ip_nfragpackets, frags: st.reass.ip_nfrags };
}
