/*
 * Tests for bpfjit.ts: the property that matters (compiled code returns
 * exactly what the interpreter returns, for thousands of seeded random
 * valid programs over random packets, flat and as mbuf chains), that
 * nothing unvalidated is compiled, and the shape of the generated code.
 */
import { describe, expect, it } from 'vitest';
import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ,
  BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS, BPF_MEM,
  BPF_MEMWORDS, BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STMT,
  BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, type BpfInsn,
} from '../../../include/bpf.ts';
import { kernel_run } from '../../../librump/rumpkern/rump.ts';
import { m_freem } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { chainOf, mbufEnv, Rng } from '../../../tests/bpf_helpers.ts';
import { bpf_filter, bpf_validate } from './bpf_filter.ts';
import { bpfjit_filter, bpfjit_generate_code } from './bpfjit.ts';

const ALU_OPS = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH];
const JMP_OPS = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET];
const SIZES = [BPF_W, BPF_H, BPF_B];

/* Constants that find edge cases: zero, small, shift widths, sign bits, all ones. */
function constant(rng: Rng): number {
  const r = rng.next() % 4;
  if (r === 0) return rng.pick([0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 33, 0x7fffffff, 0x80000000, 0xffffffff]);
  if (r === 1) return rng.int(0, 80);
  return rng.next();
}

/* Packet offsets: mostly inside a short packet, sometimes just past it or far away. */
function offset(rng: Rng): number {
  return rng.next() % 16 === 0 ? rng.next() : rng.int(0, 90);
}

/**
 * A random program that should pass bpf_validate: forward jumps in
 * range, nonzero constant divisors, scratch read only after a store on
 * the straight path (a jump may still skip the store: such programs are
 * refused and the caller draws again).
 */
function randomProgram(rng: Rng): BpfInsn[] {
  const len = rng.int(2, 40);
  const p: BpfInsn[] = [];
  const stored: number[] = [];
  for (let i = 0; i < len - 1; i++) {
    const left = len - 1 - i; /* instructions after this one */
    const r = rng.next() % 20;
    let ins: BpfInsn;
    if (r < 5) {
      const mode = rng.pick([BPF_ABS, BPF_IND]);
      ins = BPF_STMT(BPF_LD | rng.pick(SIZES) | mode, offset(rng));
    } else if (r === 5) {
      ins = BPF_STMT(rng.pick([BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM]), constant(rng));
    } else if (r === 6) {
      ins = BPF_STMT(rng.pick([BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN]), 0);
    } else if (r === 7) {
      ins = BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, offset(rng));
    } else if (r === 8) {
      const idx = rng.int(0, BPF_MEMWORDS - 1);
      stored.push(idx);
      ins = BPF_STMT(rng.pick([BPF_ST, BPF_STX]), idx);
    } else if (r === 9 && stored.length > 0) {
      ins = BPF_STMT(rng.pick([BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM]), rng.pick(stored));
    } else if (r < 14) {
      const op = rng.pick(ALU_OPS);
      const src = rng.pick([BPF_K, BPF_X]);
      let k = constant(rng);
      if ((op === BPF_DIV || op === BPF_MOD) && src === BPF_K && k === 0) k = 3;
      ins = BPF_STMT(BPF_ALU | op | src, src === BPF_X ? 0 : k);
    } else if (r === 14) {
      ins = BPF_STMT(rng.pick([BPF_ALU | BPF_NEG, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA]), 0);
    } else if (r < 18) {
      const op = rng.pick(JMP_OPS);
      ins = { code: BPF_JMP | op | rng.pick([BPF_K, BPF_X]), jt: rng.int(0, Math.min(255, left - 1)), jf: rng.int(0, Math.min(255, left - 1)), k: constant(rng) };
    } else if (r === 18) {
      ins = BPF_STMT(BPF_JMP | BPF_JA, rng.int(0, left - 1));
    } else {
      ins = BPF_STMT(rng.pick([BPF_RET | BPF_K, BPF_RET | BPF_A]), constant(rng));
    }
    p.push(ins);
  }
  p.push(BPF_STMT(rng.pick([BPF_RET | BPF_K, BPF_RET | BPF_A]), constant(rng)));
  return p;
}

function randomPacket(rng: Rng): Uint8Array {
  const b = new Uint8Array(rng.int(0, 96));
  for (let i = 0; i < b.length; i++) b[i] = rng.next() % 3 === 0 ? rng.pick([0, 0x45, 0x06, 0x11, 0xff, 0x08]) : rng.next() & 0xff;
  return b;
}

describe('bpfjit', () => {
  it('agrees with the interpreter on 5000 random valid programs (flat and chained packets)', async () => {
    const { k, ctx } = await mbufEnv();
    const rng = new Rng(0xb9f_0008);
    let programs = 0;
    let drawn = 0;
    let accepted = 0;
    kernel_run(k, () => {
      while (programs < 5000) {
        drawn++;
        const p = randomProgram(rng);
        if (!bpf_validate(p)) {
          expect(bpfjit_generate_code(p)).toBeNull();
          continue;
        }
        programs++;
        const code = bpfjit_generate_code(p)!;
        for (let j = 0; j < 8; j++) {
          const pkt = randomPacket(rng);
          const wirelen = rng.next() % 4 === 0 ? rng.next() : pkt.length;
          const buflen = rng.next() % 4 === 0 ? rng.int(0, pkt.length) : pkt.length;
          const want = bpf_filter(p, pkt, wirelen, buflen);
          if (want !== 0) accepted++;
          const got = bpfjit_filter(code, pkt, wirelen, buflen);
          if (got !== want) throw new Error(`program ${JSON.stringify(p)} packet ${pkt} buflen ${buflen}: jit ${got} != interp ${want}`);
          /* The same packet as a chain: cut it at up to three random places. */
          const cuts = [rng.int(0, pkt.length), rng.int(0, pkt.length), rng.int(0, pkt.length)].sort((a, b) => a - b);
          const m = chainOf(ctx, pkt, cuts);
          const ci = bpf_filter(p, m, wirelen, buflen);
          const cj = bpfjit_filter(code, m, wirelen, buflen);
          m_freem(m);
          if (ci !== want || cj !== want) throw new Error(`chain ${cuts} program ${JSON.stringify(p)}: interp ${ci} jit ${cj} flat ${want}`);
        }
      }
    });
    /* The generator must not be degenerate: most drawn programs valid, some packets accepted. */
    expect(programs / drawn).toBeGreaterThan(0.5);
    expect(accepted).toBeGreaterThan(1000);
  });

  it('compiles nothing that bpf_validate refuses', () => {
    expect(bpfjit_generate_code([])).toBeNull();
    expect(bpfjit_generate_code([BPF_STMT(BPF_LD | BPF_IMM, 1)])).toBeNull();
    expect(bpfjit_generate_code([BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), BPF_STMT(BPF_RET | BPF_A, 0)])).toBeNull();
    expect(bpfjit_generate_code(new Array<BpfInsn>(BPF_MAXINSNS + 1).fill(BPF_STMT(BPF_RET | BPF_K, 0)))).toBeNull();
  });

  it('keeps a private copy of the program', () => {
    const p = [BPF_STMT(BPF_RET | BPF_K, 5)];
    const code = bpfjit_generate_code(p)!;
    p[0]!.k = 6;
    expect(code.insns[0]!.k).toBe(5);
    expect(bpfjit_filter(code, new Uint8Array(1), 1, 1)).toBe(5);
  });

  it('turns jumps into labelled blocks and folds constant bounds', () => {
    const code = bpfjit_generate_code([
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
      { code: BPF_JMP | BPF_JEQ | BPF_K, jt: 0, jf: 1, k: 0x800 },
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
    ])!;
    expect(code.source).toContain('L3: {');
    expect(code.source).toContain('if (buflen < 14) return 0;');
    expect(code.source).toContain('if (!(A === 2048)) break L3;');
    const ip = new Uint8Array(20);
    ip[12] = 8;
    expect(bpfjit_filter(code, ip, 20, 20)).toBe(0xffff);
    expect(bpfjit_filter(code, new Uint8Array(13), 13, 13)).toBe(0);
  });

  it('runs a maximal-length program with a jump over all of it', () => {
    const p: BpfInsn[] = [BPF_STMT(BPF_JMP | BPF_JA, BPF_MAXINSNS - 2)];
    while (p.length < BPF_MAXINSNS - 1) p.push(BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1));
    p.push(BPF_STMT(BPF_RET | BPF_A, 0));
    const code = bpfjit_generate_code(p)!;
    expect(bpfjit_filter(code, new Uint8Array(0), 0, 0)).toBe(0);
    p[0] = BPF_STMT(BPF_JMP | BPF_JA, 0);
    expect(bpfjit_filter(bpfjit_generate_code(p)!, new Uint8Array(0), 0, 0)).toBe(BPF_MAXINSNS - 2);
    expect(bpf_filter(p, new Uint8Array(0), 0, 0)).toBe(BPF_MAXINSNS - 2);
  });
});
