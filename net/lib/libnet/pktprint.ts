/*
 * pktprint.ts: a tcpdump-style one-line decode of an Ethernet frame, for
 * traces, test failure messages and bin/ tools. The shapes follow
 * `tcpdump -n` (with -e for frames that carry no IP addresses):
 *
 *   b2:a0:01:02:03:04 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.2 tell 10.0.0.1
 *   b2:a0:01:02:03:05 > b2:a0:01:02:03:04, ARP, Reply 10.0.0.2 is-at b2:a0:01:02:03:05
 *   10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 2, length 64
 *   10.0.0.1.5000 > 10.0.0.2.53: UDP, length 12
 *   10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 1000, win 65535, options [mss 1460,nop,wscale 7], length 0
 *   10.0.0.1.5000 > 10.0.0.2.53: UDP, length 3000 (frag 1234:1480@0+)
 *   10.0.0.1 > 10.0.0.2: UDP (frag 1234:1480@1480+)
 *   vlan 5, p 0, 10.0.0.1 > 10.0.0.2: ICMP echo reply, id 1, seq 2, length 64
 *
 * Sequence numbers are absolute (tcpdump -S): a one-line printer has no
 * connection state to make them relative.
 *
 * Malformed input is described, never thrown on: `[truncated]` where the
 * bytes stop before a header or payload does, `[bad <what>]` where a field
 * is impossible or a checksum is wrong (checksums are verified whenever
 * the whole datagram is present and not a fragment). Decoding goes as far
 * as the bytes allow and the marks come last. The printer only reads
 * inside buf[off .. off+len), relying on the wire modules' checks, and is
 * fuzzed in its test.
 *
 * Allocates freely (it builds strings): this is for tools, not the packet
 * path.
 */

import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ARPOP_REVREPLY,
  ARPOP_REVREQUEST,
  ARP_HDR_LEN,
  AR_SHA_OFF,
  AR_THA_OFF,
  ar_hln,
  ar_hrd,
  ar_op,
  ar_pln,
  ar_pro,
  ar_spa,
  ar_tpa,
  arp_hdr_check,
} from './if_arp_hdr.ts';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IP,
  ETHERTYPE_IPV6,
  ETHERTYPE_MAX_LEN,
  ETHERTYPE_VLAN,
  ETHER_HDR_LEN,
  ETHER_SHOST_OFF,
  ETHER_VLAN_ENCAP_LEN,
  EVL_PRIOFTAG,
  EVL_VLANOFTAG,
  ether_ntoa,
  ether_type,
} from './if_ether.ts';
import {
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_IGMP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  inet_ntop4,
  in_addr_read,
} from '../libnetinet/in.ts';
import { in_cksum } from '../libnetinet/in_cksum.ts';
import {
  IPOPT_CHECK_OK,
  IPVERSION,
  IP_DST_OFF,
  IP_HDR_LEN,
  IP_MF,
  IP_OFFMASK,
  ip_dst,
  ip_hdr_check,
  ip_hl,
  ip_id,
  ip_len,
  ip_off,
  ip_opts_check,
  ip_p,
  ip_src,
  ip_sum,
  ip_v,
} from '../libnetinet/ip.ts';
import {
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  ICMP_IP_OFF,
  ICMP_IREQ,
  ICMP_IREQREPLY,
  ICMP_MASKLEN,
  ICMP_MASKREPLY,
  ICMP_MASKREQ,
  ICMP_MASK_OFF,
  ICMP_MINLEN,
  ICMP_PARAMPROB,
  ICMP_PARAMPROB_ERRATPTR,
  ICMP_REDIRECT,
  ICMP_REDIRECT_HOST,
  ICMP_REDIRECT_TOSHOST,
  ICMP_ROUTERADVERT,
  ICMP_ROUTERSOLICIT,
  ICMP_SOURCEQUENCH,
  ICMP_TIMXCEED,
  ICMP_TIMXCEED_INTRANS,
  ICMP_TIMXCEED_REASS,
  ICMP_TSTAMP,
  ICMP_TSTAMPREPLY,
  ICMP_UNREACH,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NEEDFRAG,
  ICMP_UNREACH_NET,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
  icmp_cksum,
  icmp_code,
  icmp_gwaddr,
  icmp_id,
  icmp_nextmtu,
  icmp_pptr,
  icmp_seq,
  icmp_type,
} from '../libnetinet/ip_icmp.ts';
import {
  TCPOLEN_MAXSEG,
  TCPOLEN_SACK,
  TCPOLEN_SACK_PERMITTED,
  TCPOLEN_TIMESTAMP,
  TCPOLEN_WINDOW,
  TCPOPT_MAXSEG,
  TCPOPT_NOP,
  TCPOPT_SACK,
  TCPOPT_SACK_PERMITTED,
  TCPOPT_TIMESTAMP,
  TCPOPT_WINDOW,
  TCP_HDR_LEN,
  TH_ACK,
  TH_CWR,
  TH_ECE,
  TH_FIN,
  TH_PUSH,
  TH_RST,
  TH_SYN,
  TH_URG,
  tcp4_cksum,
  tcp_opt_len,
  th_ack,
  th_dport,
  th_flags,
  th_off,
  th_seq,
  th_sport,
  th_sum,
  th_urp,
  th_win,
} from '../libnetinet/tcp.ts';
import { UDP_HDR_LEN, udp4_cksum, uh_dport, uh_sport, uh_sum, uh_ulen } from '../libnetinet/udp.ts';

const TRUNC = '[truncated]';

function hex(v: number, digits: number): string {
  return '0x' + v.toString(16).padStart(digits, '0');
}

function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function proto_name(p: number): string {
  switch (p) {
    case IPPROTO_ICMP:
      return 'ICMP';
    case IPPROTO_IGMP:
      return 'IGMP';
    case IPPROTO_TCP:
      return 'TCP';
    case IPPROTO_UDP:
      return 'UDP';
    case IPPROTO_GRE:
      return 'GRE';
    case IPPROTO_IPV6:
      return 'IPv6';
    default:
      return `ip-proto-${p}`;
  }
}

/**
 * print_frame decodes the Ethernet frame at buf[off .. off+len) into one
 * line. Never throws: bounds that do not fit the buffer are clipped to it,
 * and a decoder that needs the missing bytes says [truncated].
 */
export function print_frame(buf: Uint8Array, off: number, len: number): string {
  if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0)) {
    return `[bad frame bounds ${off}, ${len}]`;
  }
  const have = Math.min(len, Math.max(0, buf.length - off));
  const end = off + have;
  if (have < ETHER_HDR_LEN) return `ether, length ${have} ${TRUNC}`;
  const macs = `${ether_ntoa(buf, off + ETHER_SHOST_OFF)} > ${ether_ntoa(buf, off)}`;
  let p = off + ETHER_HDR_LEN;
  let type = ether_type(buf, off);
  let vlan = '';
  /* 802.1Q (and stacked Q-in-Q) tags: each one shifts the real type 4 bytes on. */
  while (type === ETHERTYPE_VLAN) {
    if (end - p < ETHER_VLAN_ENCAP_LEN) return `${macs}, ${vlan}802.1Q ${TRUNC}`;
    const tag = rd16(buf, p);
    vlan += `vlan ${EVL_VLANOFTAG(tag)}, p ${EVL_PRIOFTAG(tag)}, `;
    type = rd16(buf, p + 2);
    p += ETHER_VLAN_ENCAP_LEN;
  }
  switch (type) {
    case ETHERTYPE_ARP:
      return `${macs}, ${vlan}${print_arp(buf, p, end - p)}`;
    case ETHERTYPE_IP:
      return vlan + print_ip(buf, p, end - p);
    case ETHERTYPE_IPV6:
      return `${macs}, ${vlan}ethertype IPv6 (${hex(type, 4)}), length ${have}`;
    default:
      if (type <= ETHERTYPE_MAX_LEN) return `${macs}, ${vlan}802.3, length ${type}`;
      return `${macs}, ${vlan}ethertype ${hex(type, 4)}, length ${have}`;
  }
}

function print_arp(buf: Uint8Array, p: number, avail: number): string {
  if (avail < ARP_HDR_LEN) return `ARP ${TRUNC}`;
  const why = arp_hdr_check(buf, p, avail);
  if (why === 'arps_rcvbadproto') {
    return (
      `ARP, hrd ${ar_hrd(buf, p)}, pro ${hex(ar_pro(buf, p), 4)}, ` +
      `hln ${ar_hln(buf, p)}, pln ${ar_pln(buf, p)} [bad format]`
    );
  }
  if (why !== null) return `ARP ${TRUNC}`;
  const spa = inet_ntop4(ar_spa(buf, p));
  const tpa = inet_ntop4(ar_tpa(buf, p));
  const sha = ether_ntoa(buf, p + AR_SHA_OFF);
  const tha = ether_ntoa(buf, p + AR_THA_OFF);
  const op = ar_op(buf, p);
  switch (op) {
    case ARPOP_REQUEST:
      return `ARP, Request who-has ${tpa} tell ${spa}`;
    case ARPOP_REPLY:
      return `ARP, Reply ${spa} is-at ${sha}`;
    case ARPOP_REVREQUEST:
      return `ARP, Reverse Request who-is ${tha} tell ${sha}`;
    case ARPOP_REVREPLY:
      return `ARP, Reverse Reply ${tha} at ${tpa}`;
    default:
      return `ARP, op ${op}, sender ${spa} (${sha}), target ${tpa} (${tha})`;
  }
}

/*
 * The bytes of one IP payload as the transport printers see them:
 * plen is what ip_len promises, cap what is actually there (cap <= plen),
 * and verify says the checksum can be checked (complete, not a fragment).
 */
interface Payload {
  buf: Uint8Array;
  p: number;
  plen: number;
  cap: number;
  src: number;
  dst: number;
  frag: boolean;
  verify: boolean;
}

function print_ip(buf: Uint8Array, p: number, avail: number): string {
  /* Structure first; the checksum is a note, decoding goes on regardless. */
  const why = ip_hdr_check(buf, p, avail, false);
  if (why === 'ips_toosmall') return `IP ${TRUNC}`;
  if (why === 'ips_badvers') return `IP [bad version ${ip_v(buf, p)}]`;
  const hlen = ip_hl(buf, p) << 2;
  if (why === 'ips_badhlen') return hlen < IP_HDR_LEN ? `IP [bad hlen ${hlen}]` : `IP ${TRUNC}`;
  const srcA = ip_src(buf, p);
  const dstA = ip_dst(buf, p);
  const src = inet_ntop4(srcA);
  const dst = inet_ntop4(dstA);
  const len = ip_len(buf, p);
  if (why === 'ips_badlen') return `${src} > ${dst}: [bad ip_len ${len}]`;

  const plen = len - hlen;
  const cap = Math.min(len, avail) - hlen;
  const ipoff = ip_off(buf, p);
  const fragoff = (ipoff & IP_OFFMASK) << 3;
  const mf = (ipoff & IP_MF) !== 0;
  const frag = fragoff !== 0 || mf;
  const proto = ip_p(buf, p);

  let line: string;
  if (fragoff !== 0) {
    /* Only the first fragment carries the transport header. */
    line = `${src} > ${dst}: ${proto_name(proto)}`;
  } else {
    const pl: Payload = {
      buf,
      p: p + hlen,
      plen,
      cap,
      src: srcA,
      dst: dstA,
      frag,
      verify: !frag && cap === plen,
    };
    switch (proto) {
      case IPPROTO_ICMP:
        line = print_icmp(pl, src, dst);
        break;
      case IPPROTO_UDP:
        line = print_udp(pl, src, dst);
        break;
      case IPPROTO_TCP:
        line = print_tcp(pl, src, dst);
        break;
      default:
        line = `${src} > ${dst}: ${proto_name(proto)}, length ${plen}`;
    }
  }
  if (frag) line += ` (frag ${ip_id(buf, p)}:${plen}@${fragoff}${mf ? '+' : ''})`;
  if (in_cksum(buf, p, hlen) !== 0) line += ` [bad ip cksum ${hex(ip_sum(buf, p), 4)}]`;
  if (hlen > IP_HDR_LEN && ip_opts_check(buf, p, hlen) !== IPOPT_CHECK_OK) line += ' [bad ip options]';
  if (cap < plen && !line.includes(TRUNC)) line += ` ${TRUNC}`;
  return line;
}

type Quoted = { dst: string; p: number; hlen: number };

/*
 * The destination and protocol of the datagram an ICMP error quotes, or a
 * mark saying why it cannot be read.
 */
function quoted(pl: Payload): Quoted | string {
  const q = pl.p + ICMP_IP_OFF;
  const qavail = pl.cap - ICMP_IP_OFF;
  if (qavail < IP_HDR_LEN) return TRUNC;
  const hlen = ip_hl(pl.buf, q) << 2;
  if (ip_v(pl.buf, q) !== IPVERSION || hlen < IP_HDR_LEN) return '[bad quoted header]';
  if (hlen > qavail) return TRUNC;
  return { dst: inet_ntop4(in_addr_read(pl.buf, q + IP_DST_OFF)), p: ip_p(pl.buf, q), hlen };
}

function unreach_text(pl: Payload, code: number, inner: Quoted | null): string {
  if (inner === null) return `unreachable, code ${code}`;
  const b = pl.buf;
  switch (code) {
    case ICMP_UNREACH_NET:
      return `net ${inner.dst} unreachable`;
    case ICMP_UNREACH_HOST:
      return `host ${inner.dst} unreachable`;
    case ICMP_UNREACH_PROTOCOL:
      return `${inner.dst} protocol ${inner.p} unreachable`;
    case ICMP_UNREACH_PORT: {
      const t = pl.p + ICMP_IP_OFF + inner.hlen;
      const name = inner.p === IPPROTO_UDP ? 'udp' : inner.p === IPPROTO_TCP ? 'tcp' : `proto ${inner.p}`;
      /* TCP and UDP both keep the destination port at offset 2; RFC 792 quotes 8 bytes. */
      if (pl.cap - (t - pl.p) < 4) return `${inner.dst} ${name} port unreachable`;
      return `${inner.dst} ${name} port ${rd16(b, t + 2)} unreachable`;
    }
    case ICMP_UNREACH_NEEDFRAG:
      return `${inner.dst} unreachable - need to frag (mtu ${icmp_nextmtu(b, pl.p)})`;
    default:
      return `${inner.dst} unreachable, code ${code}`;
  }
}

/* The text after "ICMP "; `inner` is the quoted datagram of an unreachable or redirect. */
function icmp_text(pl: Payload, type: number, code: number, inner: Quoted | null): string {
  const b = pl.buf;
  const p = pl.p;
  switch (type) {
    case ICMP_ECHO:
      return `echo request, id ${icmp_id(b, p)}, seq ${icmp_seq(b, p)}`;
    case ICMP_ECHOREPLY:
      return `echo reply, id ${icmp_id(b, p)}, seq ${icmp_seq(b, p)}`;
    case ICMP_UNREACH:
      return unreach_text(pl, code, inner);
    case ICMP_SOURCEQUENCH:
      return 'source quench';
    case ICMP_REDIRECT: {
      const to = code === ICMP_REDIRECT_HOST || code === ICMP_REDIRECT_TOSHOST ? 'host' : 'net';
      const gw = inet_ntop4(icmp_gwaddr(b, p));
      return inner === null ? `redirect to ${to} ${gw}` : `redirect ${inner.dst} to ${to} ${gw}`;
    }
    case ICMP_TIMXCEED:
      if (code === ICMP_TIMXCEED_INTRANS) return 'time exceeded in-transit';
      if (code === ICMP_TIMXCEED_REASS) return 'ip reassembly time exceeded';
      return `time exceeded, code ${code}`;
    case ICMP_PARAMPROB:
      if (code === ICMP_PARAMPROB_ERRATPTR) return `parameter problem - octet ${icmp_pptr(b, p)}`;
      return `parameter problem, code ${code}`;
    case ICMP_TSTAMP:
      return `time stamp query, id ${icmp_id(b, p)}, seq ${icmp_seq(b, p)}`;
    case ICMP_TSTAMPREPLY:
      return `time stamp reply, id ${icmp_id(b, p)}, seq ${icmp_seq(b, p)}`;
    case ICMP_IREQ:
      return 'information request';
    case ICMP_IREQREPLY:
      return 'information reply';
    case ICMP_MASKREQ:
      return 'address mask request';
    case ICMP_MASKREPLY:
      if (pl.cap < ICMP_MASKLEN) return 'address mask reply';
      return `address mask is ${hex(in_addr_read(b, p + ICMP_MASK_OFF), 8)}`;
    case ICMP_ROUTERADVERT:
      return 'router advertisement';
    case ICMP_ROUTERSOLICIT:
      return 'router solicitation';
    default:
      return `type ${type}, code ${code}`;
  }
}

function print_icmp(pl: Payload, src: string, dst: string): string {
  const pre = `${src} > ${dst}: ICMP`;
  if (pl.cap < ICMP_MINLEN) return `${pre} ${TRUNC}`;
  const b = pl.buf;
  const type = icmp_type(b, pl.p);
  const q = type === ICMP_UNREACH || type === ICMP_REDIRECT ? quoted(pl) : null;
  /* Marks go after the length, like every other mark. */
  let mark = typeof q === 'string' ? ` ${q}` : '';
  if (type === ICMP_MASKREPLY && pl.cap < ICMP_MASKLEN) mark = ` ${TRUNC}`;
  const text = icmp_text(pl, type, icmp_code(b, pl.p), typeof q === 'string' ? null : q);
  let line = `${pre} ${text}, length ${pl.plen}`;
  if (pl.verify && in_cksum(b, pl.p, pl.plen) !== 0) {
    line += ` [bad icmp cksum ${hex(icmp_cksum(b, pl.p), 4)}]`;
  }
  return line + mark;
}

function print_udp(pl: Payload, src: string, dst: string): string {
  if (pl.cap < UDP_HDR_LEN) return `${src} > ${dst}: UDP ${TRUNC}`;
  const b = pl.buf;
  const pre = `${src}.${uh_sport(b, pl.p)} > ${dst}.${uh_dport(b, pl.p)}:`;
  const ulen = uh_ulen(b, pl.p);
  if (ulen < UDP_HDR_LEN) return `${pre} UDP [bad length ${ulen}]`;
  /* A first fragment holds only part of the datagram uh_ulen describes. */
  if (!pl.frag && ulen > pl.plen) return `${pre} UDP, length ${ulen - UDP_HDR_LEN} [bad length ${ulen} > ${pl.plen}]`;
  let line = `${pre} UDP, length ${ulen - UDP_HDR_LEN}`;
  if (pl.verify && uh_sum(b, pl.p) !== 0 && udp4_cksum(b, pl.p, ulen, pl.src, pl.dst) !== 0) {
    line += ` [bad udp cksum ${hex(uh_sum(b, pl.p), 4)}]`;
  }
  return line;
}

function tcp_flags_text(f: number): string {
  let s = '';
  if (f & TH_FIN) s += 'F';
  if (f & TH_SYN) s += 'S';
  if (f & TH_RST) s += 'R';
  if (f & TH_PUSH) s += 'P';
  if (f & TH_ACK) s += '.';
  if (f & TH_URG) s += 'U';
  if (f & TH_ECE) s += 'E';
  if (f & TH_CWR) s += 'W';
  return s === '' ? 'none' : s;
}

/* The option list, tcpdump's spelling; a malformed option ends it with a mark. */
function tcp_opts_text(b: Uint8Array, start: number, end: number): string {
  const parts: string[] = [];
  for (let q = start; q < end; ) {
    const n = tcp_opt_len(b, q, end);
    if (n < 0) return `options [${parts.join(',')}] [bad opt]`;
    const kind = b[q];
    if (n === 0) {
      parts.push('eol');
      break;
    }
    switch (kind) {
      case TCPOPT_NOP:
        parts.push('nop');
        break;
      case TCPOPT_MAXSEG:
        parts.push(n === TCPOLEN_MAXSEG ? `mss ${rd16(b, q + 2)}` : `mss [bad len ${n}]`);
        break;
      case TCPOPT_WINDOW:
        parts.push(n === TCPOLEN_WINDOW ? `wscale ${b[q + 2]}` : `wscale [bad len ${n}]`);
        break;
      case TCPOPT_SACK_PERMITTED:
        parts.push(n === TCPOLEN_SACK_PERMITTED ? 'sackOK' : `sackOK [bad len ${n}]`);
        break;
      case TCPOPT_TIMESTAMP:
        parts.push(
          n === TCPOLEN_TIMESTAMP
            ? `TS val ${in_addr_read(b, q + 2)} ecr ${in_addr_read(b, q + 6)}`
            : `TS [bad len ${n}]`,
        );
        break;
      case TCPOPT_SACK: {
        if ((n - 2) % TCPOLEN_SACK !== 0 || n === 2) {
          parts.push(`sack [bad len ${n}]`);
          break;
        }
        let s = `sack ${(n - 2) / TCPOLEN_SACK} `;
        for (let r = q + 2; r < q + n; r += TCPOLEN_SACK) {
          s += `{${in_addr_read(b, r)}:${in_addr_read(b, r + 4)}}`;
        }
        parts.push(s);
        break;
      }
      default:
        parts.push(`unknown-${kind} len ${n}`);
    }
    q += n;
  }
  return `options [${parts.join(',')}]`;
}

function print_tcp(pl: Payload, src: string, dst: string): string {
  if (pl.cap < TCP_HDR_LEN) return `${src} > ${dst}: TCP ${TRUNC}`;
  const b = pl.buf;
  const p = pl.p;
  const pre = `${src}.${th_sport(b, p)} > ${dst}.${th_dport(b, p)}:`;
  const thlen = th_off(b, p) << 2;
  if (thlen < TCP_HDR_LEN) return `${pre} TCP [bad hdr length ${thlen}]`;
  if (thlen > pl.plen) return `${pre} TCP [bad hdr length ${thlen} > ${pl.plen}]`;
  if (thlen > pl.cap) return `${pre} TCP ${TRUNC}`;
  const flags = th_flags(b, p);
  const seq = th_seq(b, p);
  const dlen = pl.plen - thlen;
  let line = `${pre} Flags [${tcp_flags_text(flags)}]`;
  if (dlen > 0 || (flags & (TH_SYN | TH_FIN | TH_RST)) !== 0) {
    line += `, seq ${seq}`;
    if (dlen > 0) line += `:${(seq + dlen) >>> 0}`;
  }
  if (flags & TH_ACK) line += `, ack ${th_ack(b, p)}`;
  line += `, win ${th_win(b, p)}`;
  if (flags & TH_URG) line += `, urg ${th_urp(b, p)}`;
  if (thlen > TCP_HDR_LEN) line += `, ${tcp_opts_text(b, p + TCP_HDR_LEN, p + thlen)}`;
  line += `, length ${dlen}`;
  if (pl.verify && tcp4_cksum(b, p, pl.plen, pl.src, pl.dst) !== 0) {
    line += ` [bad tcp cksum ${hex(th_sum(b, p), 4)}]`;
  }
  return line;
}
