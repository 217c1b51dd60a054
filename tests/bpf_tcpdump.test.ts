/*
 * The filter compiler against tcpdump: for every expression of a corpus,
 * `tcpdump -dd -y EN10MB EXPR` (libpcap's program, as C initialisers) is
 * parsed and run through our interpreter, our bpf_compile program through
 * the interpreter and the JIT, over a corpus of generated frames (TCP,
 * UDP, ICMP, ARP, IPv6, IPv4 options and fragments, runts) and seeded
 * mutations and truncations of them.  The programs differ (libpcap
 * optimises, we do not); the sets of accepted frames must not.
 *
 * Needs tcpdump (Debian: apt-get install tcpdump; .ci/run installs it).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { BpfInsn } from '../include/bpf.ts';
import { bpf_filter, bpf_validate_reason } from '../net/lib/libnet/bpf_filter.ts';
import { bpfjit_filter, bpfjit_generate_code } from '../net/lib/libnet/bpfjit.ts';
import { bpf_compile, bpf_dump } from '../net/lib/libnet/bpf_compile.ts';
import { frameCorpus } from './bpf_helpers.ts';

function tcpdumpPath(): string {
  for (const p of ['/usr/bin/tcpdump', '/usr/sbin/tcpdump', '/sbin/tcpdump', '/bin/tcpdump']) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      /* try the next place */
    }
  }
  throw new Error('tcpdump is not installed: apt-get install -y tcpdump (the equivalence test needs libpcap\'s compiler)');
}

/** libpcap's program for expr, from tcpdump -dd. */
function libpcap(tcpdump: string, expr: string): BpfInsn[] {
  const out = execFileSync(tcpdump, ['-dd', '-y', 'EN10MB', '--', expr], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const prog: BpfInsn[] = [];
  for (const line of out.split('\n')) {
    const m = /^\{\s*(0x[0-9a-f]+),\s*(\d+),\s*(\d+),\s*(0x[0-9a-f]+)\s*\},?$/i.exec(line.trim());
    if (m) prog.push({ code: parseInt(m[1]!, 16), jt: Number(m[2]), jf: Number(m[3]), k: parseInt(m[4]!, 16) >>> 0 });
  }
  if (prog.length === 0) throw new Error(`tcpdump -dd ${expr}: no program in ${JSON.stringify(out)}`);
  return prog;
}

const EXPRS = [
  'ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'sctp',
  'not ip', '!tcp', 'tcp or udp', 'tcp and not udp', 'icmp || arp', 'ip && !icmp',
  'host 10.0.0.1', 'src host 10.0.0.1', 'dst host 10.0.0.2', 'src or dst host 192.168.1.7',
  'src and dst host 10.0.0.1', 'ip host 172.16.5.4', 'arp host 10.0.0.2', 'rarp host 10.0.0.2',
  'host 10.0.0.1 or 10.0.0.2', 'host 10.0.0.1 and not 10.0.0.2', 'host 10', 'host 10.0',
  'net 10.0.0.0/8', 'net 10', 'net 10.0', 'net 192.168.1.0/24', 'src net 172.16.0.0/12',
  'dst net 10.0.0.0 mask 255.255.255.0', 'net 0.0.0.0/0', 'ip net 192.168',
  'port 80', 'port 53', 'tcp port 80', 'udp port 53', 'tcp src port 80', 'tcp dst port 80', 'src port 22',
  'port 80 or 443', 'tcp port 80 or 443', 'udp dst port 53 or 7', 'not port 22', 'port 0x50', 'port 0120',
  'portrange 1-100', 'tcp portrange 20-1023', 'udp src portrange 5000-6000', 'portrange 100-1',
  'tcp dst portrange 8000-8080 and not src port 40000',
  'ether host 02:00:00:00:00:0a', 'ether src 02:00:00:00:00:0a', 'ether dst 2:0:0:0:0:b',
  'ether dst ff:ff:ff:ff:ff:ff', 'ether src host 02:00:00:00:00:0b or arp',
  'ether proto 0x0800', 'ether proto 0x88cc', 'ip proto 6', 'ip proto 17 and host 10.0.0.1', 'proto 6', 'ip6 proto 17',
  'len <= 60', 'len >= 100', 'len < 64', 'len > 1000', 'len = 74', 'len != 74', 'less 60', 'greater 100',
  'len - 14 > 40', 'len * 2 >= 150', 'len / 2 = 37', 'len % 7 = 3', 'len & 1 = 1', 'len | 1 = 75',
  'len ^ 1 = 75', 'len << 1 = 148', 'len >> 1 = 37', '-len = 0xffffffb6', 'len + 1 % 3 = 2',
  'tcp[13] & 2 != 0', 'tcp[13] & 0x12 = 0x12', 'tcp[tcpflags] & tcp-syn != 0', 'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn',
  'tcp[13] = 0x18', 'tcp[2:2] = 80', 'tcp[0:2] > 1023', 'tcp[0:4] = 0x9c400050', 'tcp[12] >> 4 = 5',
  'udp[2:2] = 53', 'udp[0:2] = 5353 and udp[2:2] < 100', 'icmp[icmptype] = icmp-echo', 'icmp[0] = 0',
  'icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply',
  'ip[0] & 0xf != 5', 'ip[0] = 0x45', 'ip[9] = 6', 'ip[6:2] & 0x1fff != 0', 'ip[6:2] & 0x2000 != 0',
  'ip[2:2] > 100', 'ip[16:4] = 0x0a000001', 'ip[ip[0] & 0xf] = 0', 'ip[len - 60] = 0',
  'ether[0] & 1 != 0', 'ether[12:2] = 0x806', 'ether[0:4] = 0xffffffff', 'ether[len - 1] = 0',
  'arp[7] = 1', 'arp[6:2] = 2', 'tcp[tcp[12] >> 2] = 0', 'tcp[13] & 2 != 0 and tcp[0:2] + tcp[2:2] > 1000',
  'ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0',
  'len + tcp[0] = 0', 'tcp[0] + udp[0] = 0', 'len = tcp[0]', '-tcp[0] = 0', 'ip[9] % (ip[9] - 6) = 0',
  '(tcp or udp) and host 10.0.0.1', 'tcp or udp and host 10.0.0.1', 'not (tcp or arp)',
  'not not tcp', '(tcp port 80 or udp port 53) and not host 10.0.0.2',
  'host 10.0.0.1 and (port 80 or port 53)', '((ip))', '(len > 70) or (tcp[13] & 2 != 0)',
  'not tcp[13] & 2 != 0', 'not ip[100] = 0', 'ip[100] = 0 or len > 0', 'len > 0 or ip[100] = 0',
  'tcp and (tcp[13] & 4 != 0 or tcp[13] & 1 != 0)', 'src host 10.0.0.1 and dst port 80',
  'dst net 192.168.1.0/24 or src net 10.0.0.0/8 and udp', 'ip and not net 10.0.0.0/8',
  'ip6 and tcp', 'ip6 and udp port 53', 'tcp and ip6', 'not ip6 and tcp', 'ether[14] = 0x60',
];

/*
 * libpcap's optimiser reorders loads of different offsets for these
 * (`host a or b` compares ip_src with both before loading ip_dst).  On a
 * whole frame that changes nothing; on a frame cut between the two
 * fields, libpcap may accept where our unoptimised order reads past the
 * end first and rejects.  For these, truncated frames may differ, and only
 * when cut inside the IPv4 or ARP addresses.
 */
const REORDERED: ReadonlyMap<string, number> = new Map([['host 10.0.0.1 or 10.0.0.2', 14 + 28]]);

function compare(expr: string, theirs: BpfInsn[], frames: readonly Uint8Array[], truncated: boolean): number {
  const ours = bpf_compile(expr);
  expect(bpf_validate_reason(ours)).toBeNull();
  const jit = bpfjit_generate_code(ours)!;
  let accepted = 0;
  for (const f of frames) {
    const want = bpf_filter(theirs, f, f.length, f.length) !== 0;
    const got = bpf_filter(ours, f, f.length, f.length) !== 0;
    const gotJit = bpfjit_filter(jit, f, f.length, f.length) !== 0;
    if (gotJit !== got) throw new Error(`${expr}: the JIT and the interpreter disagree`);
    if (got !== want) {
      const cut = REORDERED.get(expr);
      if (truncated && cut !== undefined && f.length < cut) continue;
      const hex = Array.from(f, (b) => b.toString(16).padStart(2, '0')).join('');
      throw new Error(`${expr}: tcpdump ${want ? 'accepts' : 'rejects'}, ours ${got} on ${hex}\n${bpf_dump(ours)}`);
    }
    if (want) accepted++;
  }
  return accepted;
}

describe('bpf_compile accepts what tcpdump -dd accepts', () => {
  const tcpdump = tcpdumpPath();
  const whole = frameCorpus(0x7cd_0008, 4000);
  const cut = frameCorpus(0x7cd_0009, 2000, true).filter((f) => !whole.includes(f));
  let anyAccepted = 0;

  it('has a corpus with variety', () => {
    expect(whole.length).toBeGreaterThan(4000);
    expect(cut.length).toBeGreaterThan(2000);
  });

  for (const expr of EXPRS) {
    it(expr, () => {
      const theirs = libpcap(tcpdump, expr);
      expect(bpf_validate_reason(theirs)).toBeNull();
      const n = compare(expr, theirs, whole, false);
      compare(expr, theirs, cut, true);
      /* Every expression of the corpus must accept something and reject something, or it tests little. */
      if (n > 0 && n < whole.length) anyAccepted++;
    });
  }

  it('most expressions split the corpus', () => {
    expect(anyAccepted).toBeGreaterThan(EXPRS.length * 0.8);
  });

  it('rejects what tcpdump rejects, with the position of the error', () => {
    for (const [expr, pos] of [
      ['tcp and', 7], ['host', 4], ['(tcp or udp', 11], ['port 99999', 5], ['tcp[13] & 2 !=', 14],
      ['ip[0:3] = 1', 5], ['len / 0 = 1', 4], ['tcp )', 4], ['host foo.example', 5], ['net 10.0.0.1/8', 4],
      ['ether host 10.0.0.1', 11], ['tcp host 10.0.0.1', 9], ['ip $ 3', 3],
    ] as const) {
      let threw = false;
      try {
        bpf_compile(expr);
      } catch (e) {
        threw = true;
        expect((e as { pos: number }).pos, expr).toBe(pos);
        expect(String(e), expr).toMatch(/at position/);
      }
      expect(threw, expr).toBe(true);
      /* tcpdump refuses them too. */
      expect(() => libpcap(tcpdump, expr), expr).toThrow();
    }
  });
});
