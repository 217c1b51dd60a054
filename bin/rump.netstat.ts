/*
 * rump.netstat: show a rump kernel's network state (NetBSD's netstat(1)),
 * read with sysctl only.
 *
 *   rump.netstat [-anV] [-f inet] [-p proto]   connections (tcp, udp)
 *   rump.netstat -s[s] [-p proto]              statistics (tcp udp ip icmp arp)
 *   rump.netstat -i[bn] [-I ifname]            interfaces and counters
 *   rump.netstat -r[ns]                        routing table (-s: statistics)
 *
 * Sources: net.inet.{tcp,udp}.pcblist, net.inet.{tcp,udp,ip,icmp,arp}.stats,
 * net.route.rtable.inet.{dump,iflist}, net.route.stats.  The wording of
 * -s is NetBSD's for the counters NetBSD has; the few counters this stack
 * adds (SACK recovery, challenge ACKs, ...) get lines of the same kind,
 * after NetBSD's.  Like -s, -ss leaves out the zero counters.
 *
 * Vestigial TIME_WAIT entries (VTW: the connection's socket and PCBs are
 * gone, a small record answers for it) are listed with the other TCP
 * connections, as NetBSD's netstat lists them, and marked "(vestigial)";
 * -V adds NetBSD's Expires column (the TIME_WAIT time left) and the MSL
 * class.  Addresses and ports are always numeric (there is no name
 * service), and the Name column of -i widens for names longer than five
 * characters (NetBSD cuts "shmif0" to "shmif").
 */

import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import { rt_netname } from '../include/route.ts';
import { IFF_UP } from '../include/if.ts';
import { errstr, getopt, inet_aton, mask2plen, plural, plurales } from './lib/toolutil.ts';
import { p_rttables, rt_dump, rt_iflist } from './lib/rtutil.ts';

const USAGE = 'usage: rump.netstat [-anV] [-f address_family] [-p protocol]\n' +
  '       rump.netstat -s[s] [-p protocol]\n' +
  '       rump.netstat -i [-bn] [-I interface]\n' +
  '       rump.netstat -r [-ns]\n';

/** A PCB-list row, tolerant of fields it does not know. */
interface PcbRow {
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  recvq: number;
  sendq: number;
  state?: string;
  vestigial?: boolean;
  msl_class?: string;
  tw_remaining_ms?: number;
}

type Stats = Record<string, unknown>;

/* inetprint: "addr.port", "*" for the wildcard address or port, cut to the column. */
function inetprint(addr: string, port: number): string {
  const s = `${addr === '0.0.0.0' ? '*' : addr}.${port === 0 ? '*' : port}`;
  return ` ${s.padEnd(22).slice(0, 22)}`;
}

/** The connection listing (NetBSD's protopr) for tcp and udp. */
async function protopr(sys: SysApi, aflag: boolean, Vflag: boolean, protos: readonly string[]): Promise<string> {
  let s = '';
  let first = true;
  for (const name of protos) {
    let rows: PcbRow[];
    try {
      rows = (await sys.sysctl(`net.inet.${name}.pcblist`)) as PcbRow[];
    } catch {
      continue;
    }
    for (const r of rows) {
      if (!aflag && inet_aton(r.faddr) === 0) continue;
      if (first) {
        s += `Active Internet connections${aflag ? ' (including servers)' : ''}\n`;
        s += Vflag
          ? `${'Proto'.padEnd(5)} ${'Recv-Q'.padEnd(6)} ${'Send-Q'.padEnd(6)}  ${'Local Address'.padEnd(22)} ${'Foreign Address'.padEnd(22)} ${'State'.padEnd(13)} Expires\n`
          : `${'Proto'.padEnd(5)} ${'Recv-Q'.padEnd(6)} ${'Send-Q'.padEnd(6)}  ${'Local Address'.padEnd(22)} ${'Foreign Address'.padEnd(22)} State\n`;
        first = false;
      }
      let line = `${name.padEnd(5)} ${String(r.recvq).padStart(6)} ${String(r.sendq).padStart(6)} `;
      line += inetprint(r.laddr, r.lport) + inetprint(r.faddr, r.fport);
      if (name === 'tcp') {
        const state = r.state ?? '';
        const tw = r.tw_remaining_ms ?? -1;
        if (Vflag) {
          line += ` ${state.padEnd(13)}`;
          if (tw >= 0) line += ` ${tw.toFixed(3)}ms`;
          if (r.msl_class !== undefined && r.msl_class !== '') line += ` ${r.msl_class}`;
        } else {
          line += ` ${state}`;
        }
        if (r.vestigial === true) line += ' (vestigial)';
      }
      s += `${line.trimEnd()}\n`;
    }
  }
  return s;
}

/* ----------------------------------------------------------- statistics */

/** Printers of one protocol's statistics, in NetBSD's words. */
class StatPrinter {
  s = '';
  constructor(readonly st: Stats, readonly all: boolean) {}

  n(f: string): number | undefined {
    const v = this.st[f];
    return typeof v === 'number' ? v : undefined;
  }

  /** p(): "%llu thing%s" with a plural. */
  p(f: string, fmt: (n: number, pl: string) => string, pl = plural): void {
    const v = this.n(f);
    if (v === undefined || (v === 0 && !this.all)) return;
    this.s += fmt(v, pl(v));
  }

  /** ps(): no plural. */
  ps(f: string, fmt: (n: number) => string): void {
    const v = this.n(f);
    if (v === undefined || (v === 0 && !this.all)) return;
    this.s += fmt(v);
  }

  /** p2(): two counters on one line, each with its plural. */
  p2(f1: string, f2: string, fmt: (a: number, pa: string, b: number, pb: string) => string): void {
    const a = this.n(f1);
    const b = this.n(f2);
    if (a === undefined || b === undefined || (a === 0 && b === 0 && !this.all)) return;
    this.s += fmt(a, plural(a), b, plural(b));
  }
}

function tcp_stats(st: Stats, all: boolean): string {
  const P = new StatPrinter(st, all);
  P.p('tcps_sndtotal', (n, s) => `\t${n} packet${s} sent\n`);
  P.p2('tcps_sndpack', 'tcps_sndbyte', (a, pa, b, pb) => `\t\t${a} data packet${pa} (${b} byte${pb})\n`);
  P.p2('tcps_sndrexmitpack', 'tcps_sndrexmitbyte', (a, pa, b, pb) => `\t\t${a} data packet${pa} (${b} byte${pb}) retransmitted\n`);
  P.p2('tcps_sndacks', 'tcps_delack', (a, pa, b) => `\t\t${a} ack-only packet${pa} (${b} delayed)\n`);
  P.p('tcps_sndurg', (n, s) => `\t\t${n} URG only packet${s}\n`);
  P.p('tcps_sndprobe', (n, s) => `\t\t${n} window probe packet${s}\n`);
  P.p('tcps_sndwinup', (n, s) => `\t\t${n} window update packet${s}\n`);
  P.p('tcps_sndctrl', (n, s) => `\t\t${n} control packet${s}\n`);
  P.p('tcps_selfquench', (n, s) => `\t\t${n} send attempt${s} resulted in self-quench\n`);
  P.p('tcps_rcvtotal', (n, s) => `\t${n} packet${s} received\n`);
  P.p2('tcps_rcvackpack', 'tcps_rcvackbyte', (a, pa, b, pb) => `\t\t${a} ack${pa} (for ${b} byte${pb})\n`);
  P.p('tcps_rcvdupack', (n, s) => `\t\t${n} duplicate ack${s}\n`);
  P.p('tcps_rcvacktoomuch', (n, s) => `\t\t${n} ack${s} for unsent data\n`);
  P.p2('tcps_rcvpack', 'tcps_rcvbyte', (a, pa, b, pb) => `\t\t${a} packet${pa} (${b} byte${pb}) received in-sequence\n`);
  P.p2('tcps_rcvduppack', 'tcps_rcvdupbyte', (a, pa, b, pb) => `\t\t${a} completely duplicate packet${pa} (${b} byte${pb})\n`);
  P.p('tcps_pawsdrop', (n, s) => `\t\t${n} old duplicate packet${s}\n`);
  P.p2('tcps_rcvpartduppack', 'tcps_rcvpartdupbyte', (a, pa, b, pb) => `\t\t${a} packet${pa} with some dup. data (${b} byte${pb} duped)\n`);
  P.p2('tcps_rcvoopack', 'tcps_rcvoobyte', (a, pa, b, pb) => `\t\t${a} out-of-order packet${pa} (${b} byte${pb})\n`);
  P.p2('tcps_rcvpackafterwin', 'tcps_rcvbyteafterwin', (a, pa, b, pb) => `\t\t${a} packet${pa} (${b} byte${pb}) of data after window\n`);
  P.p('tcps_rcvwinprobe', (n, s) => `\t\t${n} window probe${s}\n`);
  P.p('tcps_rcvwinupd', (n, s) => `\t\t${n} window update packet${s}\n`);
  P.p('tcps_rcvafterclose', (n, s) => `\t\t${n} packet${s} received after close\n`);
  P.p('tcps_rcvbadsum', (n, s) => `\t\t${n} discarded for bad checksum${s}\n`);
  P.p('tcps_rcvbadoff', (n, s) => `\t\t${n} discarded for bad header offset field${s}\n`);
  P.ps('tcps_rcvshort', (n) => `\t\t${n} discarded because packet too short\n`);
  P.p('tcps_connattempt', (n, s) => `\t${n} connection request${s}\n`);
  P.p('tcps_accepts', (n, s) => `\t${n} connection accept${s}\n`);
  P.p('tcps_connects', (n, s) => `\t${n} connection${s} established (including accepts)\n`);
  P.p2('tcps_closed', 'tcps_drops', (a, pa, b, pb) => `\t${a} connection${pa} closed (including ${b} drop${pb})\n`);
  P.p('tcps_conndrops', (n, s) => `\t${n} embryonic connection${s} dropped\n`);
  P.p('tcps_delayed_free', (n, s) => `\t${n} delayed free${s} of tcpcb\n`);
  P.p2('tcps_rttupdated', 'tcps_segstimed', (a, pa, b, pb) => `\t${a} segment${pa} updated rtt (of ${b} attempt${pb})\n`);
  P.p('tcps_rexmttimeo', (n, s) => `\t${n} retransmit timeout${s}\n`);
  P.p('tcps_timeoutdrop', (n, s) => `\t\t${n} connection${s} dropped by rexmit timeout\n`);
  P.p2('tcps_persisttimeo', 'tcps_persistdrops', (a, pa, b, pb) => `\t${a} persist timeout${pa} (resulting in ${b} dropped connection${pb})\n`);
  P.p('tcps_keeptimeo', (n, s) => `\t${n} keepalive timeout${s}\n`);
  P.p('tcps_keepprobe', (n, s) => `\t\t${n} keepalive probe${s} sent\n`);
  P.p('tcps_keepdrops', (n, s) => `\t\t${n} connection${s} dropped by keepalive\n`);
  P.p('tcps_predack', (n, s) => `\t${n} correct ACK header prediction${s}\n`);
  P.p('tcps_preddat', (n, s) => `\t${n} correct data packet header prediction${s}\n`);
  P.p('tcps_pcbhashmiss', (n, s) => `\t${n} PCB hash miss${s}\n`, plurales);
  P.ps('tcps_noport', (n) => `\t${n} dropped due to no socket\n`);
  P.p('tcps_connsdrained', (n, s) => `\t${n} connection${s} drained due to memory shortage\n`);
  P.p('tcps_pmtublackhole', (n, s) => `\t${n} PMTUD blackhole${s} detected\n`);
  P.p('tcps_badsyn', (n, s) => `\t${n} bad connection attempt${s}\n`);
  P.ps('tcps_sc_added', (n) => `\t${n} SYN cache entries added\n`);
  P.p('tcps_sc_collisions', (n, s) => `\t\t${n} hash collision${s}\n`);
  P.ps('tcps_sc_completed', (n) => `\t\t${n} completed\n`);
  P.ps('tcps_sc_aborted', (n) => `\t\t${n} aborted (no space to build PCB)\n`);
  P.ps('tcps_sc_timed_out', (n) => `\t\t${n} timed out\n`);
  P.ps('tcps_sc_overflowed', (n) => `\t\t${n} dropped due to overflow\n`);
  P.ps('tcps_sc_bucketoverflow', (n) => `\t\t${n} dropped due to bucket overflow\n`);
  P.ps('tcps_sc_reset', (n) => `\t\t${n} dropped due to RST\n`);
  P.ps('tcps_sc_unreach', (n) => `\t\t${n} dropped due to ICMP unreachable\n`);
  P.ps('tcps_sc_delayed_free', (n) => `\t\t${n} delayed free of SYN cache entries\n`);
  P.p('tcps_sc_retransmitted', (n, s) => `\t${n} SYN,ACK${s} retransmitted\n`);
  P.p('tcps_sc_dupesyn', (n, s) => `\t${n} duplicate SYN${s} received for entries already in the cache\n`);
  P.p('tcps_sc_dropped', (n, s) => `\t${n} SYN${s} dropped (no route or no space)\n`);
  P.p('tcps_badsig', (n, s) => `\t${n} packet${s} with bad signature\n`);
  P.p('tcps_goodsig', (n, s) => `\t${n} packet${s} with good signature\n`);
  P.p('tcps_ecn_shs', (n, s) => `\t${n} successful ECN handshake${s}\n`);
  P.p('tcps_ecn_ce', (n, s) => `\t${n} packet${s} with ECN CE bit\n`);
  P.p('tcps_ecn_ect', (n, s) => `\t${n} packet${s} ECN ECT(0) bit\n`);
  /* This stack's own counters. */
  P.p('tcps_listendrop', (n, s) => `\t${n} listen queue overflow${s}\n`);
  P.p('tcps_rcvbcast', (n, s) => `\t${n} packet${s} to a broadcast or multicast address dropped\n`);
  P.p('tcps_rcvoopackdrop', (n, s) => `\t${n} out-of-order packet${s} dropped (reassembly queue full)\n`);
  P.p('tcps_chalacks', (n, s) => `\t${n} challenge ACK${s} sent\n`);
  P.p('tcps_ratelimited', (n, s) => `\t${n} ACK${s} or RST${s} not sent due to rate limits\n`);
  P.p('tcps_sack_recovery_episode', (n, s) => `\t${n} SACK recovery episode${s}\n`);
  P.p2('tcps_sack_rexmits', 'tcps_sack_rexmit_bytes', (a, pa, b, pb) => `\t\t${a} segment${pa} (${b} byte${pb}) retransmitted from the SACK scoreboard\n`);
  P.p('tcps_dsack_sent', (n, s) => `\t${n} D-SACK block${s} sent\n`);
  return P.s;
}

function udp_stats(st: Stats, all: boolean): string {
  const P = new StatPrinter(st, all);
  P.p('udps_ipackets', (n, s) => `\t${n} datagram${s} received\n`);
  P.ps('udps_hdrops', (n) => `\t${n} with incomplete header\n`);
  P.ps('udps_badlen', (n) => `\t${n} with bad data length field\n`);
  P.ps('udps_badsum', (n) => `\t${n} with bad checksum\n`);
  P.ps('udps_noport', (n) => `\t${n} dropped due to no socket\n`);
  P.p('udps_noportbcast', (n, s) => `\t${n} broadcast/multicast datagram${s} dropped due to no socket\n`);
  P.ps('udps_fullsock', (n) => `\t${n} dropped due to full socket buffers\n`);
  const g = (f: string): number => P.n(f) ?? 0;
  const delivered = g('udps_ipackets') - g('udps_hdrops') - g('udps_badlen') - g('udps_badsum') - g('udps_noport') -
    g('udps_noportbcast') - g('udps_fullsock');
  if (delivered !== 0 || all) P.s += `\t${delivered} delivered\n`;
  P.p('udps_pcbhashmiss', (n, s) => `\t${n} PCB hash miss${s}\n`, plurales);
  P.p('udps_opackets', (n, s) => `\t${n} datagram${s} output\n`);
  return P.s;
}

function ip_stats(st: Stats, all: boolean): string {
  const P = new StatPrinter(st, all);
  P.p('ips_total', (n, s) => `\t${n} total packet${s} received\n`);
  P.p('ips_badsum', (n, s) => `\t${n} bad header checksum${s}\n`);
  P.ps('ips_toosmall', (n) => `\t${n} with size smaller than minimum\n`);
  P.ps('ips_tooshort', (n) => `\t${n} with data size < data length\n`);
  P.ps('ips_toolong', (n) => `\t${n} with length > max ip packet size\n`);
  P.ps('ips_badhlen', (n) => `\t${n} with header length < data size\n`);
  P.ps('ips_badlen', (n) => `\t${n} with data length < header length\n`);
  P.ps('ips_badoptions', (n) => `\t${n} with bad options\n`);
  P.ps('ips_badvers', (n) => `\t${n} with incorrect version number\n`);
  P.p('ips_fragments', (n, s) => `\t${n} fragment${s} received\n`);
  P.p('ips_fragdropped', (n, s) => `\t${n} fragment${s} dropped (dup or out of space)\n`);
  P.p('ips_rcvmemdrop', (n, s) => `\t${n} fragment${s} dropped (out of ipqent)\n`);
  P.p('ips_badfrags', (n, s) => `\t${n} malformed fragment${s} dropped\n`);
  P.p('ips_fragtimeout', (n, s) => `\t${n} fragment${s} dropped after timeout\n`);
  P.p('ips_reassembled', (n, s) => `\t${n} packet${s} reassembled ok\n`);
  P.p('ips_delivered', (n, s) => `\t${n} packet${s} for this host\n`);
  P.p('ips_noproto', (n, s) => `\t${n} packet${s} for unknown/unsupported protocol\n`);
  const fwd = P.n('ips_forward') ?? 0;
  if (fwd !== 0 || all) {
    const fast = P.n('ips_fastforward') ?? 0;
    P.s += `\t${fwd} packet${plural(fwd)} forwarded`;
    if (fast !== 0 || all) P.s += ` (${fast} packet${plural(fast)} fast forwarded)`;
    P.s += '\n';
  }
  P.p('ips_cantforward', (n, s) => `\t${n} packet${s} not forwardable\n`);
  P.p('ips_redirectsent', (n, s) => `\t${n} redirect${s} sent\n`);
  P.p('ips_localout', (n, s) => `\t${n} packet${s} sent from this host\n`);
  P.p('ips_rawout', (n, s) => `\t${n} packet${s} sent with fabricated ip header\n`);
  P.p('ips_odropped', (n, s) => `\t${n} output packet${s} dropped due to no bufs, etc.\n`);
  P.p('ips_noroute', (n, s) => `\t${n} output packet${s} discarded due to no route\n`);
  P.p('ips_fragmented', (n, s) => `\t${n} output datagram${s} fragmented\n`);
  P.p('ips_ofragments', (n, s) => `\t${n} fragment${s} created\n`);
  P.p('ips_cantfrag', (n, s) => `\t${n} datagram${s} that can't be fragmented\n`);
  P.p('ips_badaddr', (n, s) => `\t${n} datagram${s} with bad address in header\n`);
  P.p('ips_notmember', (n, s) => `\t${n} multicast packet${s} which we don't join\n`);
  return P.s;
}

const ICMPNAMES: readonly string[] = [
  'echo reply', '#1', '#2', 'destination unreachable', 'source quench', 'routing redirect', 'alternate host address',
  '#7', 'echo', 'router advertisement', 'router solicitation', 'time exceeded', 'parameter problem', 'time stamp',
  'time stamp reply', 'information request', 'information request reply', 'address mask request',
  'address mask reply',
];

function icmp_hist(h: unknown, title: string): string {
  if (!Array.isArray(h)) return '';
  let s = '';
  h.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || v === 0) return;
    if (s === '') s = `\t${title} histogram:\n`;
    s += `\t\t${ICMPNAMES[i] ?? `#${i}`}: ${v}\n`;
  });
  return s;
}

function icmp_stats(st: Stats, all: boolean): string {
  const P = new StatPrinter(st, all);
  P.p('icps_error', (n, s) => `\t${n} call${s} to icmp_error\n`);
  P.p('icps_oldicmp', (n, s) => `\t${n} error${s} not generated because old message was icmp\n`);
  P.p('icps_oldshort', (n, s) => `\t${n} error${s} not generated because old message was too short\n`);
  P.p('icps_toofreq', (n, s) => `\t${n} error${s} not generated because of rate limitation\n`);
  P.s += icmp_hist(st['icps_outhist'], 'Output');
  P.p('icps_badcode', (n, s) => `\t${n} message${s} with bad code fields\n`);
  P.p('icps_tooshort', (n, s) => `\t${n} message${s} < minimum length\n`);
  P.p('icps_checksum', (n, s) => `\t${n} bad checksum${s}\n`);
  P.p('icps_badlen', (n, s) => `\t${n} message${s} with bad length\n`);
  P.p('icps_bmcastecho', (n, s) => `\t${n} multicast echo request${s} ignored\n`);
  P.s += icmp_hist(st['icps_inhist'], 'Input');
  P.p('icps_reflect', (n, s) => `\t${n} message response${s} generated\n`);
  P.p('icps_badaddr', (n, s) => `\t${n} message response${s} not sent: bad return address\n`);
  P.p('icps_noroute', (n, s) => `\t${n} message response${s} not sent: no route back\n`);
  P.p('icps_pmtuchg', (n, s) => `\t${n} path MTU change${s}\n`);
  return P.s;
}

function arp_stats(st: Stats, all: boolean): string {
  const P = new StatPrinter(st, all);
  P.p('arps_sndtotal', (n, s) => `\t${n} packet${s} sent\n`);
  P.p('arps_sndreply', (n, s) => `\t\t${n} reply packet${s}\n`);
  P.p('arps_sndrequest', (n, s) => `\t\t${n} request packet${s}\n`);
  P.p('arps_rcvtotal', (n, s) => `\t${n} packet${s} received\n`);
  P.p('arps_rcvreply', (n, s) => `\t\t${n} reply packet${s}\n`);
  P.p('arps_rcvrequest', (n, s) => `\t\t${n} valid request packet${s}\n`);
  P.p('arps_rcvmcast', (n, s) => `\t\t${n} broadcast/multicast packet${s}\n`);
  P.p('arps_rcvbadproto', (n, s) => `\t\t${n} packet${s} with unknown protocol type\n`);
  P.p('arps_rcvbadlen', (n, s) => `\t\t${n} packet${s} with bad (short) length\n`);
  P.p('arps_rcvzerotpa', (n, s) => `\t\t${n} packet${s} with null target IP address\n`);
  P.p('arps_rcvzerospa', (n, s) => `\t\t${n} packet${s} with null source IP address\n`);
  P.ps('arps_rcvnoint', (n) => `\t\t${n} could not be mapped to an interface\n`);
  P.p('arps_rcvlocalsha', (n, s) => `\t\t${n} packet${s} sourced from a local hardware address\n`);
  P.p('arps_rcvbcastsha', (n, s) => `\t\t${n} packet${s} with a broadcast source hardware address\n`);
  P.p('arps_rcvlocalspa', (n, s) => `\t\t${n} duplicate${s} for a local IP address\n`);
  P.p('arps_rcvoverperm', (n, s) => `\t\t${n} attempt${s} to overwrite a static entry\n`);
  P.p('arps_rcvoverint', (n, s) => `\t\t${n} packet${s} received on wrong interface\n`);
  P.p('arps_rcvover', (n, s) => `\t\t${n} entr${s} overwritten\n`, (v) => (v === 1 ? 'y' : 'ies'));
  P.p('arps_rcvlenchg', (n, s) => `\t\t${n} change${s} in hardware address length\n`);
  P.p('arps_dfrtotal', (n, s) => `\t${n} packet${s} deferred pending ARP resolution\n`);
  P.ps('arps_dfrsent', (n) => `\t\t${n} sent\n`);
  P.ps('arps_dfrdropped', (n) => `\t\t${n} dropped\n`);
  P.p('arps_allocfail', (n, s) => `\t${n} failure${s} to allocate llinfo\n`);
  return P.s;
}

/* The protocols, in NetBSD's protox order: name, sysctl of the statistics, printer, has a PCB list. */
const PROTOX: ReadonlyArray<readonly [string, string, (st: Stats, all: boolean) => string, boolean]> = [
  ['tcp', 'net.inet.tcp.stats', tcp_stats, true],
  ['udp', 'net.inet.udp.stats', udp_stats, true],
  ['ip', 'net.inet.ip.stats', ip_stats, false],
  ['icmp', 'net.inet.icmp.stats', icmp_stats, false],
  ['arp', 'net.inet.arp.stats', arp_stats, false],
];

async function stats(sys: SysApi, protos: readonly string[], all: boolean): Promise<string> {
  let s = '';
  for (const [name, mib, pr] of PROTOX) {
    if (!protos.includes(name)) continue;
    let st: Stats;
    try {
      st = (await sys.sysctl(mib)) as Stats;
    } catch {
      continue;
    }
    s += `${name}:\n${pr(st, all)}`;
  }
  return s;
}

async function rt_stats(sys: SysApi): Promise<string> {
  const st = (await sys.sysctl('net.route.stats')) as Stats;
  const g = (f: string): number => (typeof st[f] === 'number' ? st[f] : 0);
  return 'routing:\n' +
    `\t${g('rts_badredirect')} bad routing redirect${plural(g('rts_badredirect'))}\n` +
    `\t${g('rts_dynamic')} dynamically created route${plural(g('rts_dynamic'))}\n` +
    `\t${g('rts_newgateway')} new gateway${plural(g('rts_newgateway'))} due to redirects\n` +
    `\t${g('rts_unreach')} destination${plural(g('rts_unreach'))} found unreachable\n` +
    `\t${g('rts_wildcard')} use${plural(g('rts_wildcard'))} of a wildcard route\n`;
}

/** netstat -i: a <Link> row and a row per address for each interface. */
async function intpr(sys: SysApi, bflag: boolean, only: string | null): Promise<string> {
  const ifs = (await rt_iflist(sys)).filter((i) => only === null || i.name === only);
  const w = Math.max(5, ...ifs.map((i) => i.name.length + ((i.flags & IFF_UP) === 0 ? 1 : 0)));
  let s = `${'Name'.padEnd(w)} ${'Mtu'.padEnd(5)} ${'Network'.padEnd(13)} ${'Address'.padEnd(17)} `;
  s += bflag
    ? `${'Ibytes'.padStart(10)} ${'Obytes'.padStart(10)}\n`
    : `${'Ipkts'.padStart(8)} ${'Ierrs'.padStart(5)} ${'Opkts'.padStart(8)} ${'Oerrs'.padStart(5)} ${'Colls'.padStart(5)}\n`;
  for (const i of ifs) {
    const name = `${i.name}${(i.flags & IFF_UP) === 0 ? '*' : ''}`;
    const counts = bflag
      ? `${String(i.ibytes).padStart(10)} ${String(i.obytes).padStart(10)}`
      : `${String(i.ipackets).padStart(8)} ${String(i.ierrors).padStart(5)} ${String(i.opackets).padStart(8)} ` +
        `${String(i.oerrors).padStart(5)} ${String(i.collisions).padStart(5)}`;
    const row = (net: string, addr: string): string =>
      `${name.padEnd(w)} ${String(i.mtu).padEnd(5)} ${net.padEnd(13).slice(0, 13)} ${addr.padEnd(17).slice(0, 17)} ${counts}\n`;
    s += row('<Link>', i.lladdr);
    for (const a of i.addrs) {
      const addr = inet_aton(a.addr) ?? 0;
      const mask = inet_aton(a.netmask) ?? 0xffffffff;
      const plen = mask2plen(mask);
      s += row(rt_netname((addr & mask) >>> 0, plen < 0 ? 32 : plen), a.addr);
    }
  }
  return s;
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const g = getopt(argv, 'abf:iI:np:rsV');
  if (g.error !== null || g.rest.length !== 0) {
    io.err(`${g.error !== null ? `netstat: ${g.error}\n` : ''}${USAGE}`);
    return 1;
  }
  const has = (c: string): boolean => g.opts.some((o) => o.opt === c);
  const optarg = (c: string): string | null => g.opts.filter((o) => o.opt === c).pop()?.arg ?? null;
  const sflag = g.opts.filter((o) => o.opt === 's').length;
  const family = optarg('f');
  if (family !== null && family !== 'inet') {
    io.err(`netstat: ${family}: unknown address family\n`);
    return 1;
  }
  const proto = optarg('p');
  if (proto !== null && !PROTOX.some(([n]) => n === proto)) {
    io.err(`netstat: ${proto}: unknown or uninstrumented protocol\n`);
    return 1;
  }
  try {
    if (has('r')) {
      io.out(sflag > 0 ? await rt_stats(sys) : p_rttables(await rt_dump(sys)));
      return 0;
    }
    if (has('i') || optarg('I') !== null) {
      io.out(await intpr(sys, has('b'), optarg('I')));
      return 0;
    }
    if (sflag > 0) {
      io.out(await stats(sys, proto !== null ? [proto] : PROTOX.map(([n]) => n), sflag <= 1));
      return 0;
    }
    const pcbprotos = PROTOX.filter(([n, , , pcb]) => pcb && (proto === null || proto === n)).map(([n]) => n);
    io.out(await protopr(sys, has('a'), has('V'), pcbprotos));
    return 0;
  } catch (e) {
    io.err(`netstat: ${errstr(e)}\n`);
    return 1;
  }
}
