/*
 * Berkeley Packet Filter constants and types (NetBSD's net/bpf.h and
 * net/dlt.h): the classic instruction encoding, the limits bpf_validate
 * enforces, the capture record header and the link types we speak, and
 * the bpf(4) ioctls with the shape of each argument.  Shared by the
 * interpreter, the JIT, the expression compiler and the bpf device, and
 * by user programs (rump.tcpdump) that open /dev/bpf and read records.
 */

/** One instruction (struct bpf_insn): opcode, jump offsets, constant. */
export interface BpfInsn {
  code: number;
  /** Conditional jumps: instructions to skip when true (0..255). */
  jt: number;
  /** Conditional jumps: instructions to skip when false (0..255). */
  jf: number;
  /** The constant operand, as an unsigned 32-bit value. */
  k: number;
}

/** Scratch memory words (M[0..15]). */
export const BPF_MEMWORDS = 16;
/** Longest program bpf_validate accepts. */
export const BPF_MAXINSNS = 512;
/** Largest capture buffer BIOCSBLEN accepts, and the smallest. */
export const BPF_MAXBUFSIZE = 1024 * 1024 * 16;
export const BPF_MINBUFSIZE = 32;
/** Default capture buffer (NetBSD's bpf_bufsize). */
export const BPF_DFLTBUFSIZE = 1024 * 1024;

/* Instruction classes. */
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

/* ld/ldx sizes. */
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;

/* ld/ldx modes. */
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;

/* alu/jmp operations. */
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

/* Operand source. */
export const BPF_K = 0x00;
export const BPF_X = 0x08;

/* ret operand. */
export const BPF_A = 0x10;

/* misc operations. */
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

export function BPF_CLASS(code: number): number {
  return code & 0x07;
}
export function BPF_SIZE(code: number): number {
  return code & 0x18;
}
export function BPF_MODE(code: number): number {
  return code & 0xe0;
}
export function BPF_OP(code: number): number {
  return code & 0xf0;
}
export function BPF_SRC(code: number): number {
  return code & 0x08;
}
export function BPF_RVAL(code: number): number {
  return code & 0x18;
}
export function BPF_MISCOP(code: number): number {
  return code & 0xf8;
}

/** A statement (BPF_STMT macro). */
export function BPF_STMT(code: number, k: number): BpfInsn {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

/** A jump (BPF_JUMP macro). */
export function BPF_JUMP(code: number, k: number, jt: number, jf: number): BpfInsn {
  return { code, jt, jf, k: k >>> 0 };
}

/* Link types (net/dlt.h). */
export const DLT_NULL = 0;
export const DLT_EN10MB = 1;

/**
 * The record header bpf(4) puts before each captured packet (struct
 * bpf_hdr on LP64 NetBSD: a struct bpf_timeval of two longs, then
 * bh_caplen, bh_datalen, bh_hdrlen).  Records are aligned to BPF_ALIGNMENT.
 */
export const BPF_HDR_TSTAMP_SEC_OFF = 0;
export const BPF_HDR_TSTAMP_USEC_OFF = 8;
export const BPF_HDR_CAPLEN_OFF = 16;
export const BPF_HDR_DATALEN_OFF = 20;
export const BPF_HDR_HDRLEN_OFF = 24;
/** sizeof(struct bpf_hdr): 26 bytes of fields padded to 32. */
export const SIZEOF_BPF_HDR = 32;
export const BPF_ALIGNMENT = 8;
export function BPF_WORDALIGN(x: number): number {
  return (x + (BPF_ALIGNMENT - 1)) & ~(BPF_ALIGNMENT - 1);
}

/** BIOCGSTATS (struct bpf_stat): packets seen by the filter, and dropped for lack of buffer. */
export interface BpfStat {
  bs_recv: number;
  bs_drop: number;
  /** Packets that passed the filter. */
  bs_capt: number;
}

/** BIOCVERSION: the bpf_hdr layout and filter machine this kernel speaks. */
export const BPF_MAJOR_VERSION = 1;
export const BPF_MINOR_VERSION = 1;

/* ---- bpf(4) ioctls: NetBSD's numbers, LP64 sizes ---- */
/*
 * Arguments and results travel as plain data (numbers, strings, arrays,
 * plain objects), never as kernel objects, since they may cross the
 * syscall proxy.  The shape of each is given beside it; `ioctl(fd, cmd,
 * arg)` resolves to the result.
 */

/** Result: the capture buffer size in bytes (number). */
export const BIOCGBLEN = 0x40044266;
/**
 * Arg: the wanted buffer size (number); result: the size granted, clamped
 * to [BPF_MINBUFSIZE, BPF_MAXBUFSIZE].  Only before BIOCSETIF (EINVAL after).
 */
export const BIOCSBLEN = 0xc0044266;
/**
 * Arg: a BpfProgram, { bf_insns: BpfInsn[] } (bf_len optional; if given it
 * must equal bf_insns.length); null or an empty program removes the filter.
 * EINVAL for a program bpf_validate refuses.  Flushes the buffers.
 */
export const BIOCSETF = 0x80104267;
/** No arg: discard buffered packets and zero the statistics. */
export const BIOCFLUSH = 0x20004268;
/** No arg: put the interface in promiscuous mode while this descriptor is attached. */
export const BIOCPROMISC = 0x20004269;
/** Result: the link type (DLT_EN10MB, DLT_NULL) of the attached interface (number). */
export const BIOCGDLT = 0x4004426a;
/** Result: { ifr_name: string } of the attached interface. */
export const BIOCGETIF = 0x4090426b;
/** Arg: { ifr_name: string }: attach to that interface (ENXIO if there is none). */
export const BIOCSETIF = 0x8090426c;
/** Result: a BpfStat. */
export const BIOCGSTATS = 0x4080426f;
/** Arg: number (nonzero: a read returns as soon as a packet is buffered). */
export const BIOCIMMEDIATE = 0x80044270;
/** Result: a BpfVersion. */
export const BIOCVERSION = 0x40044271;
/** Result: number, 1 when writes carry their own source address. */
export const BIOCGHDRCMPLT = 0x40044274;
/** Arg: number: nonzero, written frames keep their source address; 0 (default), the interface's is filled in. */
export const BIOCSHDRCMPLT = 0x80044275;
/** Result: number, 1 when packets the host sends are captured too (the default). */
export const BIOCGSEESENT = 0x40044278;
/** Arg: number: 0 to capture received packets only. */
export const BIOCSSEESENT = 0x80044279;
/** Arg: a BpfTimeval, the read timeout (0 = wait forever, the default). */
export const BIOCSRTIMEOUT = 0x8010427a;
/** Result: a BpfTimeval. */
export const BIOCGRTIMEOUT = 0x4010427b;

/** BIOCSETF's argument (struct bpf_program). */
export interface BpfProgram {
  bf_len?: number;
  bf_insns: BpfInsn[];
}

/** BIOCVERSION's result (struct bpf_version). */
export interface BpfVersion {
  bv_major: number;
  bv_minor: number;
}

/** BIOCSRTIMEOUT/BIOCGRTIMEOUT (struct timeval). */
export interface BpfTimeval {
  tv_sec: number;
  tv_usec: number;
}

/** BIOCSETIF/BIOCGETIF (the part of struct ifreq they use). */
export interface BpfIfreq {
  ifr_name: string;
}

/**
 * One record of a read(2) from /dev/bpf, decoded.  A read returns whole
 * records back to back: a bpf_hdr (fields little-endian, the byte order
 * of this "host"), bh_hdrlen - SIZEOF_BPF_HDR bytes of padding, bh_caplen
 * bytes of packet, then padding to the next BPF_WORDALIGN boundary.
 */
export interface BpfHdr {
  /** Capture time, seconds and microseconds of the kernel's clock. */
  bh_sec: number;
  bh_usec: number;
  /** Bytes of the packet present in the record. */
  bh_caplen: number;
  /** Length of the packet on the wire. */
  bh_datalen: number;
  /** Bytes from the record's start to the packet. */
  bh_hdrlen: number;
}

/**
 * Decode the bpf_hdr at buf[off]; null when buf ends before the header or
 * the packet it announces.  The next record starts at
 * off + BPF_WORDALIGN(bh_hdrlen + bh_caplen).
 */
export function bpf_hdr_read(buf: Uint8Array, off: number, end = buf.length): BpfHdr | null {
  if (off < 0 || off + SIZEOF_BPF_HDR > end) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const h: BpfHdr = {
    bh_sec: v.getUint32(off + BPF_HDR_TSTAMP_SEC_OFF, true) + v.getUint32(off + BPF_HDR_TSTAMP_SEC_OFF + 4, true) * 2 ** 32,
    bh_usec: v.getUint32(off + BPF_HDR_TSTAMP_USEC_OFF, true),
    bh_caplen: v.getUint32(off + BPF_HDR_CAPLEN_OFF, true),
    bh_datalen: v.getUint32(off + BPF_HDR_DATALEN_OFF, true),
    bh_hdrlen: v.getUint16(off + BPF_HDR_HDRLEN_OFF, true),
  };
  if (h.bh_hdrlen < SIZEOF_BPF_HDR || off + h.bh_hdrlen + h.bh_caplen > end) return null;
  return h;
}
