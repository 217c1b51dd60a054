/*
 * Unit tests for bpf_compile.ts that need no tcpdump: the meaning of a few
 * primitives on hand-built frames, precedence, programs long enough to
 * need jump trampolines, scratch memory in nested arithmetic, and errors.
 * tests/bpf_tcpdump.test.ts checks the whole language against libpcap.
 */
import { describe, expect, it } from 'vitest';
import { BPF_JA, BPF_JMP, BPF_MAXINSNS } from '../../../include/bpf.ts';
import { arpFrame, icmpEcho, IP_10_0_0_1, IP_10_0_0_2, ip4Frame, ip6Frame, tcpSeg, udpDgram } from '../../../tests/bpf_helpers.ts';
import { IP_MF } from '../libnetinet/ip.ts';
import { bpf_filter, bpf_validate_reason } from './bpf_filter.ts';
import { bpfjit_filter, bpfjit_generate_code } from './bpfjit.ts';
import { BpfCompileError, bpf_compile, bpf_dump } from './bpf_compile.ts';

const syn80 = ip4Frame({ src: IP_10_0_0_1, dst: IP_10_0_0_2, p: 6, payload: tcpSeg(40000, 80, 0x02) });
const ack22 = ip4Frame({ src: IP_10_0_0_2, dst: IP_10_0_0_1, p: 6, payload: tcpSeg(22, 40000, 0x10) });
const dns = ip4Frame({ src: IP_10_0_0_2, dst: IP_10_0_0_1, p: 17, payload: udpDgram(5353, 53) });
const ping = ip4Frame({ src: IP_10_0_0_1, dst: IP_10_0_0_2, p: 1, payload: icmpEcho() });
const laterFrag = ip4Frame({ src: IP_10_0_0_1, dst: IP_10_0_0_2, p: 6, off: 5, payload: tcpSeg(80, 80, 0) });
const firstFrag = ip4Frame({ src: IP_10_0_0_1, dst: IP_10_0_0_2, p: 6, off: IP_MF, payload: tcpSeg(80, 80, 0) });
const arp = arpFrame(1, IP_10_0_0_2, IP_10_0_0_1);
const tcp6 = ip6Frame(6, tcpSeg(1, 80, 0x02));

function accepts(expr: string, f: Uint8Array): boolean {
  const p = bpf_compile(expr);
  expect(bpf_validate_reason(p)).toBeNull();
  const a = bpf_filter(p, f, f.length, f.length) !== 0;
  expect(bpfjit_filter(bpfjit_generate_code(p)!, f, f.length, f.length) !== 0).toBe(a);
  return a;
}

describe('bpf_compile', () => {
  it('protocols, hosts and ports', () => {
    expect(accepts('tcp port 80', syn80)).toBe(true);
    expect(accepts('tcp port 80', ack22)).toBe(false);
    expect(accepts('tcp port 80', tcp6)).toBe(true);
    expect(accepts('udp port 53', dns)).toBe(true);
    expect(accepts('icmp', ping)).toBe(true);
    expect(accepts('src host 10.0.0.1', syn80)).toBe(true);
    expect(accepts('src host 10.0.0.1', ack22)).toBe(false);
    expect(accepts('host 10.0.0.1', arp)).toBe(true);
    expect(accepts('ip host 10.0.0.1', arp)).toBe(false);
    expect(accepts('net 10.0.0.0/24 and tcp[tcpflags] & tcp-syn != 0', syn80)).toBe(true);
    expect(accepts('ether src 02:00:00:00:00:0a', syn80)).toBe(true);
    expect(accepts('ether dst 02:00:00:00:00:0a', syn80)).toBe(false);
  });

  it('looks for ports in first fragments only, as tcpdump', () => {
    expect(accepts('port 80', firstFrag)).toBe(true);
    expect(accepts('port 80', laterFrag)).toBe(false);
    expect(accepts('tcp', laterFrag)).toBe(true);
  });

  it('and/or have equal precedence and group left, as in libpcap', () => {
    /* (tcp or udp) and icmp: nothing; tcp or (udp and icmp) would accept syn80. */
    expect(accepts('tcp or udp and icmp', syn80)).toBe(false);
    expect(accepts('tcp or (udp and icmp)', syn80)).toBe(true);
    /* Arithmetic follows C: & binds tighter than ^ and |, * tighter than +. */
    expect(accepts(`len = ${syn80.length}`, syn80)).toBe(true);
    expect(accepts(`len + 1 * 2 = ${syn80.length + 2}`, syn80)).toBe(true);
  });

  it('an out-of-bounds load rejects even under not, as in BPF', () => {
    expect(accepts('not ip[200] = 1', syn80)).toBe(false);
  });

  it('nested arithmetic gets distinct scratch words', () => {
    expect(accepts('(len - (ip[0] & 0xf) * 4) - (len - 34) = 0', syn80)).toBe(false);
    expect(accepts('(len - (ip[0] & 0xf) * 4) - (len - 34) = 0', ack22)).toBe(false);
    expect(accepts('((len - 14) - ((ip[0] & 0xf) << 2)) - ((tcp[12] & 0xf0) >> 2) = 0', syn80)).toBe(true);
    expect(accepts('tcp[(tcp[12] >> 2) - 20 + 13] = 2', syn80)).toBe(true);
  });

  it('an empty expression accepts everything; snaplen is what it returns', () => {
    expect(bpf_filter(bpf_compile(''), syn80, syn80.length, syn80.length)).toBe(262144);
    expect(bpf_filter(bpf_compile('tcp', { snaplen: 96 }), syn80, syn80.length, syn80.length)).toBe(96);
  });

  it('routes far jumps through trampolines', () => {
    const hosts = Array.from({ length: 20 }, (_, i) => `host 10.1.${i}.1`).join(' or ');
    const p = bpf_compile(`${hosts} or host 10.0.0.1`);
    expect(p.length).toBeGreaterThan(256);
    expect(p.length).toBeLessThanOrEqual(BPF_MAXINSNS);
    expect(p.some((i) => i.code === (BPF_JMP | BPF_JA))).toBe(true);
    expect(bpf_validate_reason(p)).toBeNull();
    expect(accepts(`${hosts} or host 10.0.0.1`, syn80)).toBe(true);
    expect(accepts(`${hosts} or host 10.0.0.3`, syn80)).toBe(false);
  });

  it('refuses programs over BPF_MAXINSNS', () => {
    const huge = Array.from({ length: 40 }, (_, i) => `host 10.1.${i}.1`).join(' or ');
    expect(() => bpf_compile(huge)).toThrow(/too complex/);
  });

  it('reports errors with their position', () => {
    const err = (s: string): BpfCompileError => {
      try {
        bpf_compile(s);
      } catch (e) {
        if (e instanceof BpfCompileError) return e;
        throw e;
      }
      throw new Error(`${s}: compiled`);
    };
    expect(err('tcp and (udp or').pos).toBe(15);
    expect(err('tcp and (udp or').message).toMatch(/syntax error.*end of expression at position 15/);
    expect(err('port http').message).toMatch(/service names/);
    expect(err('host example.com').pos).toBe(5);
    expect(err('tcp[1:3] = 0').pos).toBe(6);
  });

  it('dumps programs as tcpdump -d does', () => {
    expect(bpf_dump(bpf_compile('arp'))).toBe(
      ['(000) ldh      [12]', '(001) jeq      #0x806           jt 2\tjf 3', '(002) ret      #262144', '(003) ret      #0'].join('\n'),
    );
  });
});
