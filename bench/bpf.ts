/*
 * Packet filters: bpfjit (net/lib/libnet/bpfjit.ts) against the BPF
 * interpreter (bpf_filter.ts), the baseline, measured in the same run on
 * the same frames.
 *
 * Filters: `tcp port 80` and `host 10.0.0.1 and udp` (compiled by
 * bpf_compile), and a hand-written 30-instruction program that walks the
 * IPv4 header (msh, indexed loads, ALU, scratch memory, jumps).
 * Frames: a seeded mix of TCP (a quarter to port 80), UDP and ARP,
 * half 64 bytes and half 1500 bytes; `tcp port 80` is also measured on
 * 64-byte frames alone, which is what the target is about.  Each frame
 * is a flat Uint8Array with a DataView made beforehand (as a driver's
 * receive ring would have); the JIT is called through its flat entry,
 * the interpreter through bpf_filter.
 *
 * Per round: run each filter over PKTS frames, sum the results (so the
 * work cannot be optimised away), check that the JIT's sum equals the
 * interpreter's, and compute packets per second.  Medians over ROUNDS
 * rounds after WARMUP.
 *
 * Targets: JIT >= 20 M packets/s for tcp port 80 on 64-byte frames, and
 * >= 5x the interpreter.
 */

import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_H, BPF_IND, BPF_JEQ, BPF_JGT, BPF_JMP, BPF_JSET, BPF_JUMP, BPF_K,
  BPF_LD, BPF_LDX, BPF_LEN, BPF_MEM, BPF_MISC, BPF_MSH, BPF_RET, BPF_RSH, BPF_ST, BPF_STMT, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W,
  BPF_X, type BpfInsn,
} from '../include/bpf.ts';
import { bpf_filter, bpf_validate } from '../net/lib/libnet/bpf_filter.ts';
import { bpfjit_generate_code, type BpfJitCode } from '../net/lib/libnet/bpfjit.ts';
import { bpf_compile } from '../net/lib/libnet/bpf_compile.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IP, ether_hdr_write } from '../net/lib/libnet/if_ether.ts';
import { ip_hdr_write } from '../net/lib/libnetinet/ip.ts';
import { tcp_hdr_write } from '../net/lib/libnetinet/tcp.ts';
import { udp_hdr_write } from '../net/lib/libnetinet/udp.ts';
import { XorShift32, elapsedNs, note, now, parseArgs, report, rounds } from './harness.ts';

const BENCH = 'bpf';
const args = parseArgs();
const PKTS = args.quick ? 2_000_000 : 10_000_000;
const WARMUP = 2;
const ROUNDS = args.quick ? 3 : 5;
/* Distinct frames cycled through: enough to defeat branch-history luck, few enough to stay in cache. */
const NFRAMES = 1024;
const SEED = 0xb9f_0008;

const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0xb);
const HOSTS = [0x0a000001, 0x0a000002, 0xc0a80107, 0xac100504];

function frame(rng: XorShift32, size: number): Uint8Array {
  const f = new Uint8Array(size);
  const kind = rng.next() % 8;
  if (kind === 7) {
    ether_hdr_write(f, 0, MAC_B, MAC_A, ETHERTYPE_ARP);
    return f;
  }
  ether_hdr_write(f, 0, MAC_B, MAC_A, ETHERTYPE_IP);
  const src = HOSTS[rng.next() % HOSTS.length]!;
  const dst = HOSTS[rng.next() % HOSTS.length]!;
  const tcp = kind < 5;
  ip_hdr_write(f, 14, 20, 0, size - 14, 1, 0, 64, tcp ? 6 : 17, src, dst);
  const dport = rng.next() % 4 === 0 ? 80 : 1024 + (rng.next() % 60000);
  if (tcp) tcp_hdr_write(f, 34, 40000 + (rng.next() % 1000), dport, 1, 1, 20, 0x10, 8192, 0);
  else udp_hdr_write(f, 34, 5353, dport, size - 34);
  return f;
}

/*
 * 30 instructions: is it IPv4 TCP/UDP, first fragment, with a payload of
 * at least 16 bytes, to a port in 0..1023 or 8080, from an even address?
 */
const PROG30: BpfInsn[] = [
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), /* 0 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 27), /* 1 -> 29 */
  BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23), /* 2 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 1, 0), /* 3 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 24), /* 4 -> 29 */
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20), /* 5 */
  BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 22, 0), /* 6 -> 29 */
  BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14), /* 7 */
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 16), /* 8: ip_len */
  BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0), /* 9: - header */
  BPF_STMT(BPF_ST, 0), /* 10 */
  BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), /* 11 */
  BPF_STMT(BPF_ALU | BPF_SUB | BPF_K, 14), /* 12 */
  BPF_STMT(BPF_LDX | BPF_MEM, 0), /* 13 */
  BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 14), /* 14: the frame holds the payload, else -> 29 */
  BPF_STMT(BPF_LD | BPF_MEM, 0), /* 15 */
  BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 15, 0, 12), /* 16: payload >= 16, else -> 29 */
  BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14), /* 17 */
  BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16), /* 18: dport */
  BPF_STMT(BPF_MISC | BPF_TAX, 0), /* 19 */
  BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 10), /* 20 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0), /* 21: < 1024 -> 24 */
  BPF_STMT(BPF_MISC | BPF_TXA, 0), /* 22 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 8080, 0, 5), /* 23 -> 29 */
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26), /* 24: ip_src */
  BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 1), /* 25 */
  BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1), /* 26 */
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), /* 27 */
  BPF_STMT(BPF_RET | BPF_K, 0xffff), /* 28 */
  BPF_STMT(BPF_RET | BPF_K, 0), /* 29 */
];

interface Filter {
  name: string;
  prog: BpfInsn[];
  jit: BpfJitCode;
}

function filter(name: string, prog: BpfInsn[]): Filter {
  if (!bpf_validate(prog)) throw new Error(`${BENCH}: ${name} does not validate`);
  return { name, prog, jit: bpfjit_generate_code(prog)! };
}

function runInterp(f: Filter, frames: readonly Uint8Array[]): number {
  const prog = f.prog;
  let sum = 0;
  for (let i = 0; i < PKTS; i++) {
    const p = frames[i & (NFRAMES - 1)]!;
    sum += bpf_filter(prog, p, p.length, p.length) === 0 ? 0 : 1;
  }
  return sum;
}

function runJit(f: Filter, frames: readonly Uint8Array[], views: readonly DataView[]): number {
  const fn = f.jit.flat;
  let sum = 0;
  for (let i = 0; i < PKTS; i++) {
    const j = i & (NFRAMES - 1);
    const len = frames[j]!.length;
    sum += fn(views[j]!, 0, len, len) === 0 ? 0 : 1;
  }
  return sum;
}

async function main(): Promise<void> {
  const rng = new XorShift32(SEED);
  const mixed: Uint8Array[] = [];
  const small: Uint8Array[] = [];
  for (let i = 0; i < NFRAMES; i++) {
    mixed.push(frame(rng, i % 2 === 0 ? 64 : 1500));
    small.push(frame(rng, 64));
  }
  const view = (fs: Uint8Array[]): DataView[] => fs.map((f) => new DataView(f.buffer, f.byteOffset, f.byteLength));
  const mixedV = view(mixed);
  const smallV = view(small);
  const filters = [
    filter('tcp port 80', bpf_compile('tcp port 80')),
    filter('host 10.0.0.1 and udp', bpf_compile('host 10.0.0.1 and udp')),
    filter('30 insns', PROG30),
  ];
  if (PROG30.length !== 30) throw new Error(`${BENCH}: PROG30 has ${PROG30.length} instructions`);
  const cases = [
    { f: filters[0]!, frames: small, views: smallV, label: 'tcp port 80, 64 B' },
    ...filters.map((f) => ({ f, frames: mixed, views: mixedV, label: `${f.name}, mix` })),
  ];
  note(`${PKTS} packets per measurement, ${NFRAMES} distinct frames, medians of ${ROUNDS} rounds`);
  for (const c of cases) {
    note(`${c.label}: ${c.f.prog.length} instructions`);
    const r = await rounds({ warmup: WARMUP, rounds: ROUNDS }, () => {
      let t0 = now();
      const a = runInterp(c.f, c.frames);
      const ti = elapsedNs(t0);
      t0 = now();
      const b = runJit(c.f, c.frames, c.views);
      const tj = elapsedNs(t0);
      if (a !== b) throw new Error(`${BENCH}: verification failed: ${c.label}: jit accepted ${b}, interpreter ${a}`);
      if (a === 0 || a === PKTS) throw new Error(`${BENCH}: ${c.label} accepts ${a} of ${PKTS}: the mix does not exercise it`);
      return { interp: (PKTS / ti) * 1e3, jit: (PKTS / tj) * 1e3 };
    });
    const isTarget = c.label === 'tcp port 80, 64 B';
    report(
      {
        bench: BENCH,
        metric: c.label,
        unit: 'Mpkt/s',
        value: r.median.jit,
        better: 'higher',
        baseline: 'interpreter',
        baseline_value: r.median.interp,
        ...(isTarget ? { target: { value: 20, label: 'JIT tcp port 80 on 64-byte frames' } } : {}),
      },
      args,
    );
    report(
      {
        bench: BENCH,
        metric: `${c.label} ratio`,
        unit: 'x',
        value: r.median.jit / r.median.interp,
        better: 'higher',
        target: { value: 5, label: `JIT vs interpreter, ${c.label}` },
      },
      args,
    );
  }
}

await main();
