/*
 * Tests for bpf_filter.ts: a hand-written program for every opcode (run
 * by the interpreter, by the JIT, over a flat buffer and over chains),
 * out-of-bounds loads and runtime division by zero rejecting, every case
 * bpf_validate must refuse, and chains cut at every offset agreeing with
 * the flat buffer.
 */
import { describe, expect, it } from 'vitest';
import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ,
  BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_JUMP, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS,
  BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST,
  BPF_STMT, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, type BpfInsn,
} from '../../../include/bpf.ts';
import { kernel_run } from '../../../librump/rumpkern/rump.ts';
import { m_freem } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { chainOf, mbufEnv } from '../../../tests/bpf_helpers.ts';
import { bpf_filter, bpf_validate, bpf_validate_reason, m_xbyte, m_xhalf, m_xword } from './bpf_filter.ts';
import { bpfjit_filter, bpfjit_generate_code } from './bpfjit.ts';

/* Bytes 0x10, 0x11, ... so every load has a distinct, predictable value. */
const PKT = Uint8Array.from({ length: 64 }, (_, i) => (0x10 + i) & 0xff);

const S = BPF_STMT;
const J = BPF_JUMP;
const RET_A = S(BPF_RET | BPF_A, 0);

/* A program that leaves its answer in A. */
function prog(...body: BpfInsn[]): BpfInsn[] {
  return [...body, RET_A];
}

/** Run on the interpreter and the JIT, flat: both must agree. */
function run(p: BpfInsn[], pkt: Uint8Array = PKT, wirelen = pkt.length, buflen = pkt.length): number {
  expect(bpf_validate_reason(p)).toBeNull();
  const a = bpf_filter(p, pkt, wirelen, buflen);
  const code = bpfjit_generate_code(p)!;
  expect(bpfjit_filter(code, pkt, wirelen, buflen)).toBe(a);
  return a;
}

describe('bpf_filter: every opcode', () => {
  const cases: [string, BpfInsn[], number][] = [
    ['ld w abs', prog(S(BPF_LD | BPF_W | BPF_ABS, 2)), 0x12131415],
    ['ld h abs', prog(S(BPF_LD | BPF_H | BPF_ABS, 3)), 0x1314],
    ['ld b abs', prog(S(BPF_LD | BPF_B | BPF_ABS, 63)), 0x4f],
    ['ld w ind', prog(S(BPF_LDX | BPF_IMM, 4), S(BPF_LD | BPF_W | BPF_IND, 1)), 0x15161718],
    ['ld h ind', prog(S(BPF_LDX | BPF_IMM, 10), S(BPF_LD | BPF_H | BPF_IND, 0)), 0x1a1b],
    ['ld b ind', prog(S(BPF_LDX | BPF_IMM, 60), S(BPF_LD | BPF_B | BPF_IND, 3)), 0x4f],
    ['ld len', prog(S(BPF_LD | BPF_W | BPF_LEN, 0)), 1500],
    ['ld imm', prog(S(BPF_LD | BPF_IMM, 0xdeadbeef)), 0xdeadbeef],
    ['st / ld mem', prog(S(BPF_LD | BPF_IMM, 77), S(BPF_ST, 15), S(BPF_LD | BPF_IMM, 0), S(BPF_LD | BPF_MEM, 15)), 77],
    ['ldx imm + txa', prog(S(BPF_LDX | BPF_IMM, 9), S(BPF_MISC | BPF_TXA, 0)), 9],
    ['ldx len', prog(S(BPF_LDX | BPF_W | BPF_LEN, 0), S(BPF_MISC | BPF_TXA, 0)), 1500],
    ['stx / ldx mem', prog(S(BPF_LDX | BPF_IMM, 5), S(BPF_STX, 3), S(BPF_LDX | BPF_IMM, 0), S(BPF_LDX | BPF_MEM, 3), S(BPF_MISC | BPF_TXA, 0)), 5],
    /* 4 * (0x1e & 0xf) = 56 */
    ['ldx msh', prog(S(BPF_LDX | BPF_B | BPF_MSH, 14), S(BPF_MISC | BPF_TXA, 0)), 56],
    ['tax', prog(S(BPF_LD | BPF_IMM, 3), S(BPF_MISC | BPF_TAX, 0), S(BPF_LD | BPF_B | BPF_IND, 0)), 0x13],
    ['add k', prog(S(BPF_LD | BPF_IMM, 0xffffffff), S(BPF_ALU | BPF_ADD | BPF_K, 2)), 1],
    ['sub k', prog(S(BPF_LD | BPF_IMM, 1), S(BPF_ALU | BPF_SUB | BPF_K, 2)), 0xffffffff],
    ['mul k', prog(S(BPF_LD | BPF_IMM, 0x10001), S(BPF_ALU | BPF_MUL | BPF_K, 0x10001)), 0x00020001],
    ['div k', prog(S(BPF_LD | BPF_IMM, 0xffffffff), S(BPF_ALU | BPF_DIV | BPF_K, 3)), 0x55555555],
    ['mod k', prog(S(BPF_LD | BPF_IMM, 0xffffffff), S(BPF_ALU | BPF_MOD | BPF_K, 10)), 5],
    ['and k', prog(S(BPF_LD | BPF_IMM, 0xf0f0f0f0), S(BPF_ALU | BPF_AND | BPF_K, 0xff00ff00)), 0xf000f000],
    ['or k', prog(S(BPF_LD | BPF_IMM, 0xf0000000), S(BPF_ALU | BPF_OR | BPF_K, 0x0f)), 0xf000000f],
    ['xor k', prog(S(BPF_LD | BPF_IMM, 0xffff0000), S(BPF_ALU | BPF_XOR | BPF_K, 0xffffffff)), 0x0000ffff],
    ['lsh k', prog(S(BPF_LD | BPF_IMM, 0x80000001), S(BPF_ALU | BPF_LSH | BPF_K, 1)), 2],
    ['rsh k', prog(S(BPF_LD | BPF_IMM, 0x80000000), S(BPF_ALU | BPF_RSH | BPF_K, 31)), 1],
    ['neg', prog(S(BPF_LD | BPF_IMM, 1), S(BPF_ALU | BPF_NEG, 0)), 0xffffffff],
  ];
  const xops: [string, number, number, number, number][] = [
    ['add', BPF_ADD, 0xfffffffe, 3, 1],
    ['sub', BPF_SUB, 3, 5, 0xfffffffe],
    ['mul', BPF_MUL, 0xffffffff, 0xffffffff, 1],
    ['div', BPF_DIV, 100, 7, 14],
    ['mod', BPF_MOD, 100, 7, 2],
    ['and', BPF_AND, 0xff, 0x0f, 0x0f],
    ['or', BPF_OR, 0xf0, 0x0f, 0xff],
    ['xor', BPF_XOR, 0xff, 0x0f, 0xf0],
    ['lsh', BPF_LSH, 1, 31, 0x80000000],
    ['rsh', BPF_RSH, 0xffffffff, 28, 0xf],
  ];
  for (const [name, op, a, x, want] of xops) {
    cases.push([`${name} x`, prog(S(BPF_LDX | BPF_IMM, x), S(BPF_LD | BPF_IMM, a), S(BPF_ALU | op | BPF_X, 0)), want]);
  }
  /* Jumps: A = 1 when taken, 2 when not. */
  const jumpcase = (code: number, a: number, k: number, x?: number): BpfInsn[] => [
    ...(x === undefined ? [] : [S(BPF_LDX | BPF_IMM, x)]),
    S(BPF_LD | BPF_IMM, a),
    J(BPF_JMP | code, k, 0, 1),
    S(BPF_RET | BPF_K, 1),
    S(BPF_RET | BPF_K, 2),
  ];
  const jumps: [string, number, number, number, number][] = [
    ['jeq', BPF_JEQ, 5, 5, 1], ['jeq', BPF_JEQ, 5, 6, 2],
    ['jgt', BPF_JGT, 0xffffffff, 5, 1], ['jgt', BPF_JGT, 5, 5, 2],
    ['jge', BPF_JGE, 5, 5, 1], ['jge', BPF_JGE, 4, 5, 2],
    ['jset', BPF_JSET, 6, 2, 1], ['jset', BPF_JSET, 6, 1, 2],
  ];
  for (const [name, op, a, k, want] of jumps) {
    cases.push([`${name} k ${a},${k}`, jumpcase(op | BPF_K, a, k), want]);
    cases.push([`${name} x ${a},${k}`, jumpcase(op | BPF_X, a, 0, k), want]);
  }
  cases.push(['ja', [S(BPF_LD | BPF_IMM, 1), S(BPF_JMP | BPF_JA, 1), S(BPF_RET | BPF_K, 7), S(BPF_RET | BPF_K, 8)], 8]);
  cases.push(['ret k', [S(BPF_RET | BPF_K, 0xffffffff)], 0xffffffff]);

  for (const [name, p, want] of cases) {
    it(name, () => {
      expect(run(p, PKT, 1500)).toBe(want);
    });
  }

  it('a null program accepts everything', () => {
    expect(bpf_filter(null, PKT, 64, 64)).toBe(0xffffffff);
  });
});

describe('bpf_filter: rejection at run time', () => {
  it('loads past buflen return 0, at the exact boundary', () => {
    for (const [code, size] of [[BPF_W, 4], [BPF_H, 2], [BPF_B, 1]] as const) {
      const ok = [S(BPF_LD | code | BPF_ABS, 64 - size), S(BPF_RET | BPF_K, 1)];
      const bad = [S(BPF_LD | code | BPF_ABS, 65 - size), S(BPF_RET | BPF_K, 1)];
      expect(run(ok)).toBe(1);
      expect(run(bad)).toBe(0);
      /* buflen, not the array's length, bounds the loads. */
      expect(run(ok, PKT, 64, 63)).toBe(0);
      const ind = [S(BPF_LDX | BPF_IMM, 60), S(BPF_LD | code | BPF_IND, 5 - size), S(BPF_RET | BPF_K, 1)];
      expect(run(ind)).toBe(0);
      /* X + k must not wrap around to a small offset. */
      const wrap = [S(BPF_LDX | BPF_IMM, 0xffffffff), S(BPF_LD | code | BPF_IND, 2), S(BPF_RET | BPF_K, 1)];
      expect(run(wrap)).toBe(0);
    }
    expect(run([S(BPF_LDX | BPF_B | BPF_MSH, 64), S(BPF_RET | BPF_K, 1)])).toBe(0);
    expect(run([S(BPF_LD | BPF_W | BPF_ABS, 0xfffffffe), S(BPF_RET | BPF_K, 1)])).toBe(0);
  });

  it('division and modulus by X = 0 reject the packet', () => {
    for (const op of [BPF_DIV, BPF_MOD]) {
      expect(run([S(BPF_LD | BPF_IMM, 5), S(BPF_LDX | BPF_IMM, 0), S(BPF_ALU | op | BPF_X, 0), S(BPF_RET | BPF_K, 9)])).toBe(0);
    }
  });

  it('ret A returns the capture length', () => {
    expect(run([S(BPF_LD | BPF_B | BPF_ABS, 0), RET_A])).toBe(0x10);
  });
});

describe('bpf_validate', () => {
  const ret = S(BPF_RET | BPF_K, 1);
  const bad: [string, BpfInsn[], RegExp][] = [
    ['empty', [], /length/],
    ['too long', new Array<BpfInsn>(BPF_MAXINSNS + 1).fill(ret), /length/],
    ['last is not ret', [S(BPF_LD | BPF_IMM, 1)], /last instruction/],
    ['unknown opcode', [S(0xff, 0), ret], /unknown opcode/],
    ['ret x', [S(BPF_RET | BPF_X, 0)], /unknown opcode/],
    ['ld h imm', [S(BPF_LD | BPF_H | BPF_IMM, 0), ret], /unknown opcode/],
    ['alu op 0xb0', [S(BPF_ALU | 0xb0 | BPF_K, 1), ret], /unknown opcode/],
    ['jmp op 0x50', [J(BPF_JMP | 0x50 | BPF_K, 0, 0, 0), ret], /unknown opcode/],
    ['misc op', [S(BPF_MISC | 0x40, 0), ret], /unknown opcode/],
    ['div by constant 0', [S(BPF_ALU | BPF_DIV | BPF_K, 0), ret], /division/],
    ['mod by constant 0', [S(BPF_ALU | BPF_MOD | BPF_K, 0), ret], /division/],
    ['ld mem index', [S(BPF_LD | BPF_MEM, BPF_MEMWORDS), ret], /scratch index/],
    ['ldx mem index', [S(BPF_LDX | BPF_MEM, BPF_MEMWORDS), ret], /scratch index/],
    ['st index', [S(BPF_ST, BPF_MEMWORDS), ret], /scratch index/],
    ['stx index', [S(BPF_STX, 0xffffffff), ret], /scratch index/],
    ['jt out of range', [J(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret], /out of range/],
    ['jf out of range', [J(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), ret], /out of range/],
    ['ja out of range', [S(BPF_JMP | BPF_JA, 1), ret], /out of range/],
    /* An offset that wraps 32 bits would jump backwards on a C machine. */
    ['ja wraps', [ret, S(BPF_JMP | BPF_JA, 0xffffffff), ret], /out of range/],
    ['jt over 255', [J(BPF_JMP | BPF_JEQ | BPF_K, 0, 256, 0), ...new Array<BpfInsn>(300).fill(ret)], /0\.\.255/],
    ['uninitialised scratch', [S(BPF_LD | BPF_MEM, 0), ret], /before it is written/],
    [
      'scratch written on one path only',
      [J(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), S(BPF_ST, 2), S(BPF_LDX | BPF_MEM, 2), ret],
      /before it is written/,
    ],
  ];
  for (const [name, p, re] of bad) {
    it(`refuses: ${name}`, () => {
      expect(bpf_validate(p)).toBe(false);
      expect(bpf_validate_reason(p)).toMatch(re);
      /* And the JIT compiles nothing it refuses. */
      expect(bpfjit_generate_code(p)).toBeNull();
    });
  }

  it('accepts scratch written on every path, and unreachable reads', () => {
    expect(bpf_validate([J(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), S(BPF_ST, 2), S(BPF_ST, 2), S(BPF_LD | BPF_MEM, 2), ret])).toBe(true);
    expect(bpf_validate([S(BPF_ST, 2), J(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), S(BPF_ST, 3), S(BPF_LD | BPF_MEM, 2), ret])).toBe(true);
    expect(bpf_validate([ret, S(BPF_LD | BPF_MEM, 5), ret])).toBe(true);
    expect(bpf_validate(new Array<BpfInsn>(BPF_MAXINSNS).fill(ret))).toBe(true);
  });
});

describe('bpf_filter over mbuf chains', () => {
  /* Loads of every size and mode at every offset, plus msh: a checksum of A over the packet. */
  function sweep(): BpfInsn[][] {
    const ps: BpfInsn[][] = [];
    for (const size of [BPF_W, BPF_H, BPF_B]) {
      for (let off = 0; off < 66; off += 1) {
        ps.push([S(BPF_LD | size | BPF_ABS, off), RET_A]);
        ps.push([S(BPF_LDX | BPF_B | BPF_MSH, off % 8), S(BPF_LD | size | BPF_IND, off), RET_A]);
      }
    }
    return ps;
  }

  it('agree with the flat buffer when cut at every offset (one and two cuts, empty mbufs)', async () => {
    const { k, ctx } = await mbufEnv();
    const progs = sweep();
    const jits = progs.map((p) => bpfjit_generate_code(p)!);
    kernel_run(k, () => {
      const want = progs.map((p) => bpf_filter(p, PKT, PKT.length, PKT.length));
      const cutsets: number[][] = [];
      for (let c = 0; c <= PKT.length; c++) cutsets.push([c], [c, c]);
      for (let c = 1; c < PKT.length; c += 3) cutsets.push([c, Math.min(PKT.length, c + 1), Math.min(PKT.length, c + 2)]);
      for (const cuts of cutsets) {
        const m = chainOf(ctx, PKT, cuts);
        for (let i = 0; i < progs.length; i++) {
          const got = bpf_filter(progs[i]!, m, PKT.length, PKT.length);
          if (got !== want[i]) throw new Error(`cuts ${cuts} program ${i}: ${got} != ${want[i]}`);
          const jit = bpfjit_filter(jits[i]!, m, PKT.length, PKT.length);
          if (jit !== want[i]) throw new Error(`jit cuts ${cuts} program ${i}: ${jit} != ${want[i]}`);
        }
        m_freem(m);
      }
    });
  });

  it('the chain readers gather across mbufs and report the end', async () => {
    const { k, ctx } = await mbufEnv();
    kernel_run(k, () => {
      const m = chainOf(ctx, PKT, [1, 2, 2, 3]);
      expect(m_xword(m, 0)).toBe(0x10111213);
      expect(m_xhalf(m, 1)).toBe(0x1112);
      expect(m_xbyte(m, 63)).toBe(0x4f);
      expect(m_xbyte(m, 64)).toBe(-1);
      expect(m_xword(m, 61)).toBe(-1);
      m_freem(m);
    });
  });
});
