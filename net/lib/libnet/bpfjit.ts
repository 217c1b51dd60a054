/*
 * bpfjit: classic BPF compiled to JavaScript (NetBSD's sys/net/bpfjit.c
 * compiles to machine code with sljit; here the "machine" is V8, which
 * turns the generated source into machine code once it is hot).
 *
 * bpfjit_generate_code validates the program first and compiles nothing
 * that bpf_validate refuses, so the generated code can trust what the
 * validator proved: jumps go forward and land inside the program, scratch
 * words are written before they are read, constant divisors are nonzero.
 *
 * Shape of the generated code.  Each program becomes two functions, made
 * once with new Function and reused for every packet (no closure or
 * object per packet):
 *   - flat(v, o, wirelen, buflen): the packet is DataView v from byte o,
 *     buflen bytes of it present;
 *   - chain(m, wirelen, buflen, xload): an mbuf chain, read in place by
 *     xload (bpf_filter.ts's chain reader), never flattened.
 * Registers and scratch words are locals.  Forward jumps become labelled
 * blocks: every jump target t gets a block `Lt: { ... }` opened at the top
 * of the function and closed just before instruction t, so `break Lt`
 * continues at t.  Blocks of later targets enclose those of earlier ones,
 * so they nest properly, and V8 compiles the breaks to plain branches.
 */

import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_CLASS, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA,
  BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM,
  BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OP, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB,
  BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, type BpfInsn,
} from '../../../include/bpf.ts';
import { Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { bpf_validate, m_xword, m_xhalf, m_xbyte } from './bpf_filter.ts';

/** The flat entry: packet bytes are v[o .. o+buflen). */
export type BpfJitFlat = (v: DataView, o: number, wirelen: number, buflen: number) => number;
/** The chain entry: the packet is mbuf chain m, buflen bytes of it readable. */
export type BpfJitChain = (m: Mbuf, wirelen: number, buflen: number) => number;

/** A compiled program (NetBSD's bpfjit_func_t, with both entries). */
export interface BpfJitCode {
  readonly insns: readonly BpfInsn[];
  readonly flat: BpfJitFlat;
  readonly chain: BpfJitChain;
  /** The generated source of the flat entry, for the curious and for tests. */
  readonly source: string;
}

/* The chain readers the chain entry calls: -1 past the end of the chain. */
interface ChainReaders {
  w: (m: Mbuf, k: number) => number;
  h: (m: Mbuf, k: number) => number;
  b: (m: Mbuf, k: number) => number;
}
const CHAIN_READERS: ChainReaders = Object.freeze({ w: m_xword, h: m_xhalf, b: m_xbyte });

function u32(k: number): string {
  return String(k >>> 0);
}

/*
 * Source for one program.  `chain` selects the load code; everything else
 * is the same for both entries.
 */
function gen(insns: readonly BpfInsn[], chain: boolean): string {
  const n = insns.length;
  /* Which instructions are jump targets, and which scratch words are used. */
  const target = new Uint8Array(n + 1);
  let memUsed = 0;
  for (let i = 0; i < n; i++) {
    const p = insns[i]!;
    if (BPF_CLASS(p.code) === BPF_JMP) {
      if (BPF_OP(p.code) === BPF_JA) {
        if ((p.k >>> 0) !== 0) target[i + 1 + (p.k >>> 0)] = 1;
      } else {
        if (p.jt !== 0) target[i + 1 + p.jt] = 1;
        if (p.jf !== 0) target[i + 1 + p.jf] = 1;
      }
    }
    const cls = BPF_CLASS(p.code);
    if (cls === BPF_ST || cls === BPF_STX || ((cls === BPF_LD || cls === BPF_LDX) && (p.code & 0xe0) === BPF_MEM)) {
      memUsed |= 1 << (p.k >>> 0);
    }
  }
  const out: string[] = [];
  out.push('"use strict";', 'let A = 0, X = 0, t = 0;');
  for (let j = 0; j < 16; j++) if (memUsed & (1 << j)) out.push(`let M${j} = 0;`);
  /* Open the blocks, the farthest target outermost. */
  for (let t = n - 1; t > 0; t--) if (target[t]) out.push(`L${t}: {`);

  const jump = (from: number, off: number): string => (off === 0 ? '' : `break L${from + 1 + off};`);
  /* A load of n bytes at offset expression `off` (already checked against buflen). */
  const load = (size: number, off: string, dst: string): void => {
    if (chain) {
      const fn = size === 4 ? 'w' : size === 2 ? 'h' : 'b';
      out.push(`t = rd.${fn}(m, ${off}); if (t < 0) return 0; ${dst} = t;`);
    } else {
      const get = size === 4 ? 'getUint32' : size === 2 ? 'getUint16' : 'getUint8';
      out.push(`${dst} = v.${get}(o + ${off});`);
    }
  };

  for (let i = 0; i < n; i++) {
    if (target[i]) out.push(`} /* L${i} */`);
    const p = insns[i]!;
    const k = p.k >>> 0;
    const code = p.code;
    out.push(`/* ${i} */`);
    switch (code) {
      case BPF_RET | BPF_K:
        out.push(`return ${u32(k)};`);
        break;
      case BPF_RET | BPF_A:
        out.push('return A;');
        break;
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_B | BPF_ABS: {
        const size = (code & 0x18) === BPF_W ? 4 : (code & 0x18) === BPF_H ? 2 : 1;
        /* The bound is a constant: folded here, one compare at run time. */
        out.push(`if (buflen < ${k + size}) return 0;`);
        load(size, String(k), 'A');
        break;
      }
      case BPF_LD | BPF_W | BPF_IND:
      case BPF_LD | BPF_H | BPF_IND:
      case BPF_LD | BPF_B | BPF_IND: {
        const size = (code & 0x18) === BPF_W ? 4 : (code & 0x18) === BPF_H ? 2 : 1;
        out.push(`t = X + ${k}; if (t + ${size} > buflen) return 0;`);
        load(size, 't', 'A');
        break;
      }
      case BPF_LDX | BPF_B | BPF_MSH:
        out.push(`if (buflen < ${k + 1}) return 0;`);
        load(1, String(k), 'X');
        out.push('X = (X & 15) << 2;');
        break;
      case BPF_LD | BPF_W | BPF_LEN:
        out.push('A = wirelen >>> 0;');
        break;
      case BPF_LDX | BPF_W | BPF_LEN:
        out.push('X = wirelen >>> 0;');
        break;
      case BPF_LD | BPF_IMM:
        out.push(`A = ${u32(k)};`);
        break;
      case BPF_LDX | BPF_IMM:
        out.push(`X = ${u32(k)};`);
        break;
      case BPF_LD | BPF_MEM:
        out.push(`A = M${k};`);
        break;
      case BPF_LDX | BPF_MEM:
        out.push(`X = M${k};`);
        break;
      case BPF_ST:
        out.push(`M${k} = A;`);
        break;
      case BPF_STX:
        out.push(`M${k} = X;`);
        break;
      case BPF_JMP | BPF_JA:
        out.push(jump(i, k));
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
      case BPF_JMP | BPF_JGT | BPF_K:
      case BPF_JMP | BPF_JGE | BPF_K:
      case BPF_JMP | BPF_JSET | BPF_K:
      case BPF_JMP | BPF_JEQ | BPF_X:
      case BPF_JMP | BPF_JGT | BPF_X:
      case BPF_JMP | BPF_JGE | BPF_X:
      case BPF_JMP | BPF_JSET | BPF_X: {
        const rhs = (code & BPF_X) === BPF_X ? 'X' : u32(k);
        const op = BPF_OP(code);
        const cond =
          op === BPF_JEQ ? `A === ${rhs}` : op === BPF_JGT ? `A > ${rhs}` : op === BPF_JGE ? `A >= ${rhs}` : `(A & ${rhs}) !== 0`;
        if (p.jt === p.jf) out.push(jump(i, p.jt));
        else if (p.jt === 0) out.push(`if (!(${cond})) ${jump(i, p.jf)}`);
        else if (p.jf === 0) out.push(`if (${cond}) ${jump(i, p.jt)}`);
        else out.push(`if (${cond}) ${jump(i, p.jt)} else ${jump(i, p.jf)}`);
        break;
      }
      case BPF_ALU | BPF_NEG:
        out.push('A = -A >>> 0;');
        break;
      case BPF_MISC | BPF_TAX:
        out.push('X = A;');
        break;
      case BPF_MISC | BPF_TXA:
        out.push('A = X;');
        break;
      default: {
        if (BPF_CLASS(code) !== BPF_ALU) throw new Error(`bpfjit: opcode 0x${code.toString(16)} passed validation but has no code`);
        const r = (code & BPF_X) === BPF_X ? 'X' : u32(k);
        const op = BPF_OP(code);
        /* Division by X: BSD rejects the packet when X is 0. */
        if ((op === BPF_DIV || op === BPF_MOD) && r === 'X') out.push('if (X === 0) return 0;');
        switch (op) {
          case BPF_ADD: out.push(`A = (A + ${r}) >>> 0;`); break;
          case BPF_SUB: out.push(`A = (A - ${r}) >>> 0;`); break;
          case BPF_MUL: out.push(`A = Math.imul(A, ${r}) >>> 0;`); break;
          case BPF_DIV: out.push(`A = (A / ${r}) >>> 0;`); break;
          case BPF_MOD: out.push(`A = A % ${r};`); break;
          case BPF_AND: out.push(`A = (A & ${r}) >>> 0;`); break;
          case BPF_OR: out.push(`A = (A | ${r}) >>> 0;`); break;
          case BPF_XOR: out.push(`A = (A ^ ${r}) >>> 0;`); break;
          /* Counts taken mod 32, as the interpreter does. */
          case BPF_LSH: out.push(`A = (A << ${r}) >>> 0;`); break;
          case BPF_RSH: out.push(`A = A >>> ${r};`); break;
          default: throw new Error(`bpfjit: ALU op 0x${op.toString(16)} has no code`);
        }
      }
    }
  }
  /* Unreachable for a validated program (the last instruction returns). */
  out.push('return 0;');
  return out.join('\n');
}

/**
 * Compile a program; null when bpf_validate refuses it (as NetBSD's
 * bpfjit_generate_code returns NULL), so no unvalidated program is ever
 * compiled.
 */
export function bpfjit_generate_code(insns: readonly BpfInsn[]): BpfJitCode | null {
  if (!bpf_validate(insns)) return null;
  const copy = insns.map((p) => ({ code: p.code, jt: p.jt, jf: p.jf, k: p.k >>> 0 }));
  const flatSrc = gen(copy, false);
  const chainSrc = gen(copy, true);
  const flat = new Function('v', 'o', 'wirelen', 'buflen', flatSrc) as BpfJitFlat;
  /* The readers are bound once, here: the per-packet call allocates nothing. */
  const mkChain = new Function('rd', `return function bpfjit_chain(m, wirelen, buflen) {\n${chainSrc}\n};`) as (
    rd: ChainReaders,
  ) => BpfJitChain;
  return Object.freeze({ insns: copy, flat, chain: mkChain(CHAIN_READERS), source: flatSrc });
}

/**
 * Run compiled code over a packet, with bpf_filter's arguments: a flat
 * Uint8Array (a DataView over it is made per call: callers on a fast path
 * keep a DataView and call code.flat themselves) or an mbuf chain, whose
 * single-mbuf case runs the flat entry on the mbuf's own DataView.
 */
export function bpfjit_filter(code: BpfJitCode, p: Uint8Array | Mbuf, wirelen: number, buflen: number): number {
  if (p instanceof Mbuf) {
    if (p.m_next === null) return code.flat(p.m_view, p.m_data, wirelen, Math.min(buflen, p.m_len));
    return code.chain(p, wirelen, buflen);
  }
  return code.flat(new DataView(p.buffer, p.byteOffset, p.byteLength), 0, wirelen, Math.min(buflen, p.length));
}
