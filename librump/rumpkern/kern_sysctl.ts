/*
 * The kernel's sysctl tree (NetBSD sys/kern/kern_sysctl.c), one per kernel.
 *
 * Kernel components publish tunables and statistics here at boot with
 * sysctl_createv(); the __sysctl syscall and rump.sysctl reach them through
 * sysctl_dispatch() by dotted name ('net.inet.tcp.mss_ifmtu') or by MIB
 * ([4, 2, 6, ...]).  A node either stores its value or is backed by get/set
 * hooks over kernel state; every write is type-checked and passes the node's
 * validate hook before anything changes.
 *
 * NetBSD guards the tree with sysctl_treelock.  Here every operation is
 * synchronous on the kernel's one virtual CPU, so none can interleave with
 * another and no lock is needed; hooks must not sleep (they cannot: they are
 * plain functions).
 */

import {
  EEXIST, EINVAL, EIO, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY, EPERM, SyscallError, strerror,
} from '../../include/errno.ts';
import {
  CREATE_BASE, CTL_CREATE, CTL_DDB, CTL_DEBUG, CTL_EMUL, CTL_HW, CTL_KERN, CTL_MACHDEP,
  CTL_MAXNAME, CTL_NET, CTL_PROC, CTL_QUERY, CTL_SECURITY, CTL_USER, CTL_VENDOR, CTL_VFS, CTL_VM,
  CTLFLAG_HEX, CTLFLAG_PERMANENT, CTLFLAG_READWRITE, CTLTYPE_BOOL, CTLTYPE_INT, CTLTYPE_NODE,
  CTLTYPE_QUAD, CTLTYPE_STRING, CTLTYPE_STRUCT, SYSCTL_NAMELEN, type CtlType, type SysctlQueryNode,
} from '../../include/sysctl.ts';

/** Any value a leaf can hold: int/bool/string/quad/struct. */
export type SysctlValue = number | boolean | string | bigint | object;

/** A node by dotted name ('' is the root) or by MIB. */
export type SysctlName = string | readonly number[];

/** Default cap on a string node's length, in characters. */
export const SYSCTL_DEFAULT_MAXLEN = 1024;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const NAME_RE = /^[A-Za-z0-9_]+$/;

/*
 * Hooks are declared with method syntax on purpose: TypeScript then checks
 * their parameters bivariantly, so a SysctlNode<number> is still usable
 * wherever a plain SysctlNode is expected (the tree holds mixed types).
 * They are called as plain functions, without a `this`.
 */
export interface SysctlHooks<V> {
  /** Produce the current value (instead of a stored one).  May throw a
   *  SyscallError to fail the read with its errno. */
  get?(): V;
  /** Consume a new value that passed the type check and validate; return
   *  an errno to refuse.  Without `get`, the value is also stored. */
  set?(v: V): number;
  /** Called before any write; a nonzero errno refuses it with nothing changed. */
  validate?(v: V): number;
}

interface SysctlDescCommon {
  /** [A-Za-z0-9_]+, at most SYSCTL_NAMELEN-1 characters. */
  name: string;
  /** MIB number under the parent; omitted or CTL_CREATE: the next free >= CREATE_BASE. */
  num?: number;
  /** CTLFLAG_*; default CTLFLAG_READONLY. */
  flags?: number;
  description?: string;
}

export interface SysctlNodeDesc extends SysctlDescCommon {
  type: typeof CTLTYPE_NODE;
}

export interface SysctlLeafDesc<V> extends SysctlDescCommon, SysctlHooks<V> {
  /** Initial stored value (not with `get`); defaults to 0, false, '' or 0n. */
  value?: V;
}

export interface SysctlIntDesc extends SysctlLeafDesc<number> { type: typeof CTLTYPE_INT }
export interface SysctlBoolDesc extends SysctlLeafDesc<boolean> { type: typeof CTLTYPE_BOOL }
export interface SysctlQuadDesc extends SysctlLeafDesc<bigint> { type: typeof CTLTYPE_QUAD }
export interface SysctlStringDesc extends SysctlLeafDesc<string> {
  type: typeof CTLTYPE_STRING;
  /** Longest accepted string, in characters; default SYSCTL_DEFAULT_MAXLEN. */
  maxlen?: number;
}
export interface SysctlStructDesc<T extends object> extends SysctlLeafDesc<T> {
  type: typeof CTLTYPE_STRUCT;
  /** The text sysctl(8) prints for the value; default `key = value, ...`. */
  format?(v: T): string;
}

export type SysctlDesc =
  | SysctlNodeDesc
  | SysctlIntDesc
  | SysctlBoolDesc
  | SysctlStringDesc
  | SysctlQuadDesc
  | SysctlStructDesc<object>;

export interface SysctlCreateOptions {
  /** Create missing intermediate directories (auto-numbered, not permanent). */
  mkpath?: boolean;
}

export interface SysctlCreateResult<N> {
  error: number;
  node?: N;
}

export interface SysctlLocateResult {
  error: number;
  node?: SysctlNode;
}

export interface SysctlReadResult<V> {
  error: number;
  value?: V;
}

/** What sysctl_dispatch returns: the value before any write. */
export interface SysctlDispatchResult {
  error: number;
  oldValue?: SysctlValue;
}

/** One leaf as `sysctl -a` sees it. */
export interface SysctlEntry {
  readonly name: string;
  readonly mib: readonly number[];
  readonly type: CtlType;
  readonly flags: number;
  /** undefined when `error` is nonzero. */
  readonly value: SysctlValue | undefined;
  /** 0, or the errno its read failed with (the walk carries on). */
  readonly error: number;
  readonly node: SysctlNode;
}

/* Only directories carry these; leaves are the many and stay small. */
interface SysctlChildren {
  /* Sorted by num: walk order without sorting on every walk. */
  readonly list: SysctlNode[];
  readonly byName: Map<string, SysctlNode>;
  readonly byNum: Map<number, SysctlNode>;
  /* Auto numbers only increase, so a stale MIB held by a user never reaches
   * a different node created after its own was destroyed. */
  nextAuto: number;
}

/* A node's own hooks: the descriptor's, plus a struct's formatter. */
interface SysctlNodeHooks<V> extends SysctlHooks<V> {
  format?(v: V): string;
}

interface SysctlNodeInit<V> {
  name: string;
  num: number;
  type: CtlType;
  flags: number;
  description: string;
  maxlen: number;
  value: V;
  hooks: SysctlNodeHooks<V>;
}

/*
 * NetBSD's struct sysctlnode: name, num, flags, desc, parent and size
 * (sysctl_name, sysctl_num, ...) under shorter names; the type, which
 * NetBSD packs into the flags, is a field of its own.
 */
export class SysctlNode<V extends SysctlValue | undefined = SysctlValue | undefined> {
  readonly name: string;
  readonly num: number;
  readonly type: CtlType;
  readonly flags: number;
  readonly description: string;
  /** Longest string accepted (CTLTYPE_STRING only; 0 otherwise). */
  readonly maxlen: number;
  /** null for the root and for a destroyed node. */
  parent: SysctlNode | null = null;

  private stored: V;
  private readonly getter: (() => V) | undefined;
  private readonly hooks: SysctlNodeHooks<V>;
  private readonly kids: SysctlChildren | null;

  /** @internal Use Sysctl.sysctl_createv. */
  constructor(init: SysctlNodeInit<V>) {
    this.name = init.name;
    this.num = init.num;
    this.type = init.type;
    this.flags = init.flags;
    this.description = init.description;
    this.maxlen = init.maxlen;
    this.stored = init.value;
    this.getter = init.hooks.get;
    this.hooks = init.hooks;
    this.kids = init.type === CTLTYPE_NODE
      ? { list: [], byName: new Map(), byNum: new Map(), nextAuto: CREATE_BASE }
      : null;
  }

  /**
   * The current value, for kernel code that keeps a reference to its own
   * tunable: no lookup, no checks, one branch.  A hook that throws throws
   * here.  undefined for a directory.
   */
  get value(): V {
    const g = this.getter;
    return g === undefined ? this.stored : g();
  }

  get isDirectory(): boolean {
    return this.kids !== null;
  }

  get writable(): boolean {
    return (this.flags & CTLFLAG_READWRITE) === CTLFLAG_READWRITE;
  }

  /** Children in MIB order (a copy; empty for leaves). */
  get children(): SysctlNode[] {
    return this.kids === null ? [] : this.kids.list.slice();
  }

  /** Dotted name from the root, e.g. 'kern.hostname'. */
  get path(): string {
    const parts: string[] = [];
    for (let n: SysctlNode | null = this; n !== null && n.parent !== null; n = n.parent) parts.push(n.name);
    return parts.reverse().join('.');
  }

  /** MIB from the root, e.g. [1, 10]. */
  get mib(): number[] {
    const parts: number[] = [];
    for (let n: SysctlNode | null = this; n !== null && n.parent !== null; n = n.parent) parts.push(n.num);
    return parts.reverse();
  }

  /** The read half of NetBSD's sysctl_lookup: EISDIR for a directory. */
  read(): SysctlReadResult<V> {
    if (this.kids !== null) return { error: EISDIR };
    const g = this.getter;
    if (g === undefined) return { error: 0, value: this.stored };
    try {
      return { error: 0, value: g() };
    } catch (e) {
      return { error: hookErrno(e) };
    }
  }

  /**
   * The write half of sysctl_lookup.  Takes `unknown` because the value may
   * come straight from a user through __sysctl; it must have the node's type.
   * On any error the old value is untouched.
   */
  write(v: unknown): number {
    if (this.kids !== null) return EISDIR;
    if (!this.writable) return EPERM;
    const h = this.hooks;
    /* A struct has no generic range check; without a hook to vet it any
     * object would do, so such a struct is read-only whatever its flags. */
    if (this.type === CTLTYPE_STRUCT && h.set === undefined && h.validate === undefined) return EPERM;
    const error = sysctl_checkvalue(this.type, this.maxlen, v);
    if (error !== 0) return error;
    const nv = v as V;
    try {
      if (h.validate !== undefined) {
        const verr = callHook(h.validate, nv);
        if (verr !== 0) return verr;
      }
      if (h.set !== undefined) {
        const serr = callHook(h.set, nv);
        if (serr !== 0) return serr;
      }
    } catch (e) {
      return hookErrno(e);
    }
    if (this.getter === undefined) this.stored = nv;
    return 0;
  }

  /** The text sysctl(8) prints for a value of this node. */
  formatValue(v: V): string {
    const f = this.hooks.format;
    if (f !== undefined) {
      try {
        return callFormat(f, v);
      } catch {
        /* A broken formatter must not hide the value: fall through. */
      }
    }
    return formatPlain(this.type, this.flags, v);
  }

  /** @internal */
  _childByName(name: string): SysctlNode | undefined {
    return this.kids?.byName.get(name);
  }

  /** @internal */
  _childByNum(num: number): SysctlNode | undefined {
    return this.kids?.byNum.get(num);
  }

  /** @internal The MIB number a CTL_CREATE child gets next. */
  _autoNum(): number {
    const k = this.kids!;
    while (k.byNum.has(k.nextAuto)) k.nextAuto++;
    return k.nextAuto++;
  }

  /** @internal */
  _attach(child: SysctlNode): void {
    const k = this.kids!;
    let i = k.list.length;
    while (i > 0 && k.list[i - 1]!.num > child.num) i--;
    k.list.splice(i, 0, child);
    k.byName.set(child.name, child);
    k.byNum.set(child.num, child);
    child.parent = this;
  }

  /** @internal */
  _detach(child: SysctlNode): void {
    const k = this.kids!;
    const i = k.list.indexOf(child);
    if (i >= 0) k.list.splice(i, 1);
    k.byName.delete(child.name);
    k.byNum.delete(child.num);
    child.parent = null;
  }

  /** @internal The live child list, for walk. */
  _kids(): readonly SysctlNode[] {
    return this.kids === null ? [] : this.kids.list;
  }
}

/* Hooks run detached from their descriptor object (see SysctlHooks). */
function callHook<V>(fn: (v: V) => number, v: V): number {
  const r = fn.call(undefined, v);
  /* A hook that forgets to return an errno is a bug; refuse the write
   * rather than report a success that may not have happened. */
  return typeof r === 'number' && Number.isInteger(r) ? r : EINVAL;
}

function callFormat<V>(fn: (v: V) => string, v: V): string {
  return String(fn.call(undefined, v));
}

function hookErrno(e: unknown): number {
  return e instanceof SyscallError && e.errno !== 0 ? e.errno : EIO;
}

/** 0 if `v` is a valid value for a node of this type, else EINVAL. */
export function sysctl_checkvalue(type: CtlType, maxlen: number, v: unknown): number {
  switch (type) {
    case CTLTYPE_INT:
      return typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX ? 0 : EINVAL;
    case CTLTYPE_BOOL:
      return typeof v === 'boolean' ? 0 : EINVAL;
    case CTLTYPE_STRING:
      return typeof v === 'string' && v.length <= maxlen ? 0 : EINVAL;
    case CTLTYPE_QUAD:
      return typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX ? 0 : EINVAL;
    case CTLTYPE_STRUCT:
      return typeof v === 'object' && v !== null ? 0 : EINVAL;
    case CTLTYPE_NODE:
      return EISDIR;
  }
}

function formatPlain(type: CtlType, flags: number, v: unknown): string {
  const hex = (flags & CTLFLAG_HEX) !== 0;
  switch (type) {
    case CTLTYPE_INT:
      /* sysctl(8) prints hex as the unsigned 32-bit pattern (%x). */
      return hex && typeof v === 'number' ? `0x${(v >>> 0).toString(16)}` : String(v);
    case CTLTYPE_QUAD:
      return hex && typeof v === 'bigint' ? `0x${BigInt.asUintN(64, v).toString(16)}` : String(v);
    case CTLTYPE_BOOL:
      return v === true ? '1' : '0';
    case CTLTYPE_STRING:
      return String(v);
    case CTLTYPE_STRUCT:
      return typeof v === 'object' && v !== null ? formatFields(v, 0) : String(v);
    case CTLTYPE_NODE:
      return '';
  }
}

/* The default struct rendering: `key = value, ...`, nested ones in braces. */
function formatFields(o: object, depth: number): string {
  return Object.entries(o).map(([k, x]) => `${k} = ${formatField(x, depth + 1)}`).join(', ');
}

function formatField(x: unknown, depth: number): string {
  if (typeof x !== 'object' || x === null) return String(x);
  if (depth > 4) return '...';
  if (Array.isArray(x) || ArrayBuffer.isView(x)) {
    const items: unknown[] = ArrayBuffer.isView(x) && !(x instanceof DataView)
      ? Array.from(x as unknown as ArrayLike<unknown>)
      : Array.isArray(x) ? x : [];
    return `[${items.map((i) => formatField(i, depth + 1)).join(', ')}]`;
  }
  return `{${formatFields(x, depth)}}`;
}

/** The line `sysctl -a` prints for one leaf: `kern.hostname = rump-1.sim`. */
export function sysctl_format(entry: SysctlEntry): string {
  if (entry.error !== 0) return `${entry.name}: ${strerror(entry.error)}`;
  return `${entry.name} = ${entry.node.formatValue(entry.value)}`;
}

/**
 * Parse the text of `sysctl -w name=text` into a value for this node, the
 * inverse of formatValue for the scalar types.  Range checks are left to
 * the write itself.  Structs have no text form: EINVAL.
 */
export function sysctl_parse(node: SysctlNode, text: string): SysctlReadResult<SysctlValue> {
  const t = text.trim();
  switch (node.type) {
    case CTLTYPE_NODE:
      return { error: EISDIR };
    case CTLTYPE_STRING:
      return { error: 0, value: text };
    case CTLTYPE_BOOL:
      if (t === '1' || t === 'true') return { error: 0, value: true };
      if (t === '0' || t === 'false') return { error: 0, value: false };
      return { error: EINVAL };
    case CTLTYPE_INT:
      if (/^[-+]?\d+$/.test(t)) return { error: 0, value: Number(t) };
      if (/^0x[0-9a-f]+$/i.test(t)) {
        /* Hex is how HEX nodes print, as unsigned: read it back the same way. */
        const n = Number(t);
        return { error: 0, value: n > INT32_MAX && n <= 0xffffffff ? n | 0 : n };
      }
      return { error: EINVAL };
    case CTLTYPE_QUAD:
      if (/^[-+]?\d+$/.test(t)) return { error: 0, value: BigInt(t) };
      if (/^0x[0-9a-f]+$/i.test(t)) {
        const n = BigInt(t);
        return { error: 0, value: n > INT64_MAX && n < (1n << 64n) ? BigInt.asIntN(64, n) : n };
      }
      return { error: EINVAL };
    case CTLTYPE_STRUCT:
      return { error: EINVAL };
  }
}

function nameText(name: SysctlName): string {
  return typeof name === 'string' ? name : name.join('.');
}

/* NetBSD's top-level nodes, present in every kernel from the start. */
const TOPLEVEL: readonly (readonly [string, number, string])[] = [
  ['kern', CTL_KERN, 'High kernel'],
  ['vm', CTL_VM, 'Virtual memory'],
  ['vfs', CTL_VFS, 'Filesystem'],
  ['net', CTL_NET, 'Networking'],
  ['debug', CTL_DEBUG, 'Debugging'],
  ['hw', CTL_HW, 'Generic CPU, I/O'],
  ['machdep', CTL_MACHDEP, 'Machine dependent'],
  ['user', CTL_USER, 'User-level'],
  ['ddb', CTL_DDB, 'In-kernel debugger'],
  ['proc', CTL_PROC, 'Per-process'],
  ['vendor', CTL_VENDOR, 'Vendor specific'],
  ['emul', CTL_EMUL, 'Emulation settings'],
  ['security', CTL_SECURITY, 'Security'],
];

export interface SysctlOptions {
  /** Start with only the root, without kern, net, ... (default false). */
  bare?: boolean;
}

/** One kernel's sysctl tree. */
export class Sysctl {
  /** The unnamed root directory. */
  readonly root: SysctlNode<undefined>;

  constructor(opts: SysctlOptions = {}) {
    this.root = new SysctlNode<undefined>({
      name: '', num: 0, type: CTLTYPE_NODE, flags: CTLFLAG_PERMANENT, description: '',
      maxlen: 0, value: undefined, hooks: {},
    });
    if (opts.bare !== true) {
      for (const [name, num, description] of TOPLEVEL) {
        this.sysctl_createv('', { name, num, type: CTLTYPE_NODE, flags: CTLFLAG_PERMANENT, description });
      }
    }
  }

  /**
   * Create a node under `parent` (a dotted name, '' for the root, or a MIB).
   * Errors: ENOENT (no parent), ENOTDIR (parent is a leaf), EEXIST (name
   * or number taken), EINVAL (bad name, number, value, hooks or depth).
   */
  sysctl_createv(parent: SysctlName, desc: SysctlNodeDesc, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode<undefined>>;
  sysctl_createv(parent: SysctlName, desc: SysctlIntDesc, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode<number>>;
  sysctl_createv(parent: SysctlName, desc: SysctlBoolDesc, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode<boolean>>;
  sysctl_createv(parent: SysctlName, desc: SysctlStringDesc, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode<string>>;
  sysctl_createv(parent: SysctlName, desc: SysctlQuadDesc, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode<bigint>>;
  sysctl_createv<T extends object>(parent: SysctlName, desc: SysctlStructDesc<T>, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode<T>>;
  sysctl_createv(parent: SysctlName, desc: SysctlDesc, opts?: SysctlCreateOptions): SysctlCreateResult<SysctlNode>;
  sysctl_createv(parent: SysctlName, desc: SysctlDesc, opts: SysctlCreateOptions = {}): SysctlCreateResult<SysctlNode> {
    let pnode: SysctlNode;
    if (opts.mkpath === true && typeof parent === 'string') {
      const r = this.mkpath(parent);
      if (r.error !== 0) return { error: r.error };
      pnode = r.node!;
    } else {
      const r = this.sysctl_locate(parent);
      if (r.error !== 0) return { error: r.error };
      pnode = r.node!;
    }
    return this.create(pnode, desc);
  }

  private mkpath(path: string): SysctlLocateResult {
    let n: SysctlNode = this.root;
    if (path === '') return { error: 0, node: n };
    for (const part of path.split('.')) {
      if (!n.isDirectory) return { error: ENOTDIR };
      const next = n._childByName(part);
      if (next !== undefined) {
        n = next;
        continue;
      }
      const r = this.create(n, { name: part, type: CTLTYPE_NODE });
      if (r.error !== 0) return { error: r.error };
      n = r.node!;
    }
    if (!n.isDirectory) return { error: ENOTDIR };
    return { error: 0, node: n };
  }

  private create(parent: SysctlNode, desc: SysctlDesc): SysctlCreateResult<SysctlNode> {
    if (!parent.isDirectory) return { error: ENOTDIR };
    if (parent.mib.length + 1 > CTL_MAXNAME) return { error: EINVAL };
    const { name } = desc;
    if (typeof name !== 'string' || name.length >= SYSCTL_NAMELEN || !NAME_RE.test(name)) return { error: EINVAL };
    const flags = desc.flags ?? 0;
    if (!Number.isInteger(flags) || flags < 0) return { error: EINVAL };

    let num = desc.num ?? CTL_CREATE;
    if (num !== CTL_CREATE && (!Number.isInteger(num) || num < 0 || num > INT32_MAX)) return { error: EINVAL };
    if (parent._childByName(name) !== undefined) return { error: EEXIST };
    if (num !== CTL_CREATE && parent._childByNum(num) !== undefined) return { error: EEXIST };

    const description = desc.description ?? '';
    let node: SysctlNode;
    if (desc.type === CTLTYPE_NODE) {
      /* Guards callers that build descriptors at run time, past the types. */
      const loose = desc as SysctlNodeDesc & Partial<SysctlLeafDesc<unknown>>;
      if (loose.value !== undefined || loose.get !== undefined || loose.set !== undefined || loose.validate !== undefined) {
        return { error: EINVAL };
      }
      if (num === CTL_CREATE) num = parent._autoNum();
      node = new SysctlNode<undefined>({
        name, num, type: CTLTYPE_NODE, flags, description, maxlen: 0, value: undefined, hooks: {},
      });
    } else {
      const r = this.leafInit(desc);
      if (r.error !== 0) return { error: r.error };
      if (num === CTL_CREATE) num = parent._autoNum();
      node = new SysctlNode<SysctlValue>({ ...r.init!, name, num, flags, description });
    }
    parent._attach(node);
    return { error: 0, node };
  }

  private leafInit(desc: Exclude<SysctlDesc, SysctlNodeDesc>): {
    error: number;
    init?: Pick<SysctlNodeInit<SysctlValue>, 'type' | 'maxlen' | 'value' | 'hooks'>;
  } {
    const { type } = desc;
    let maxlen = 0;
    let dflt: SysctlValue | undefined;
    switch (type) {
      case CTLTYPE_INT: dflt = 0; break;
      case CTLTYPE_BOOL: dflt = false; break;
      case CTLTYPE_QUAD: dflt = 0n; break;
      case CTLTYPE_STRUCT: dflt = undefined; break;
      case CTLTYPE_STRING:
        maxlen = desc.maxlen ?? SYSCTL_DEFAULT_MAXLEN;
        if (!Number.isInteger(maxlen) || maxlen < 0) return { error: EINVAL };
        dflt = '';
        break;
      default:
        return { error: EINVAL };
    }
    const { get, set, validate } = desc;
    for (const h of [get, set, validate]) if (h !== undefined && typeof h !== 'function') return { error: EINVAL };
    if (get !== undefined && desc.value !== undefined) return { error: EINVAL };
    /* A writable node read through `get` but with nowhere to put a write
     * would accept writes that never show. */
    const writable = ((desc.flags ?? 0) & CTLFLAG_READWRITE) === CTLFLAG_READWRITE;
    if (get !== undefined && set === undefined && writable) return { error: EINVAL };
    let value: SysctlValue | undefined;
    if (get === undefined) {
      value = desc.value ?? dflt;
      if (value === undefined) return { error: EINVAL }; /* a struct needs a value or a get */
      if (sysctl_checkvalue(type, maxlen, value) !== 0) return { error: EINVAL };
    }
    const format = type === CTLTYPE_STRUCT ? desc.format : undefined;
    if (format !== undefined && typeof format !== 'function') return { error: EINVAL };
    const hooks = { get, set, validate, format } as SysctlNodeHooks<SysctlValue>;
    return {
      error: 0,
      init: {
        type,
        maxlen,
        /* Unused when `get` is set; the getter is the only source then. */
        value: value ?? 0,
        hooks,
      },
    };
  }

  /**
   * Remove one node.  ENOENT if missing, EPERM if CTLFLAG_PERMANENT (or the
   * root), ENOTEMPTY for a directory that still has children.  A kernel
   * reference to the node keeps working; only the tree forgets it.
   */
  sysctl_destroyv(name: SysctlName): number {
    const r = this.sysctl_locate(name);
    if (r.error !== 0) return r.error;
    const node = r.node!;
    if (node === this.root || (node.flags & CTLFLAG_PERMANENT) !== 0) return EPERM;
    if (node._kids().length > 0) return ENOTEMPTY;
    node.parent!._detach(node);
    return 0;
  }

  /**
   * Find a node (NetBSD's sysctl_locate).  ENOENT for an unknown component,
   * ENOTDIR when the name descends through a leaf, EINVAL for a malformed
   * MIB.  '' and [] are the root.
   */
  sysctl_locate(name: SysctlName): SysctlLocateResult {
    let n: SysctlNode = this.root;
    if (typeof name === 'string') {
      if (name === '') return { error: 0, node: n };
      const parts = name.split('.');
      if (parts.length > CTL_MAXNAME) return { error: ENOENT };
      for (const part of parts) {
        if (!n.isDirectory) return { error: ENOTDIR };
        const next = n._childByName(part);
        if (next === undefined) return { error: ENOENT };
        n = next;
      }
      return { error: 0, node: n };
    }
    if (name.length > CTL_MAXNAME) return { error: EINVAL };
    for (const num of name) {
      if (!Number.isInteger(num)) return { error: EINVAL };
      if (!n.isDirectory) return { error: ENOTDIR };
      const next = n._childByNum(num);
      if (next === undefined) return { error: ENOENT };
      n = next;
    }
    return { error: 0, node: n };
  }

  /** 'kern.hostname' -> [1, 10]. */
  sysctl_name2mib(name: string): { error: number; mib?: number[] } {
    const r = this.sysctl_locate(name);
    return r.error !== 0 ? { error: r.error } : { error: 0, mib: r.node!.mib };
  }

  /** [1, 10] -> 'kern.hostname'. */
  sysctl_mib2name(mib: readonly number[]): { error: number; name?: string } {
    const r = this.sysctl_locate(mib);
    return r.error !== 0 ? { error: r.error } : { error: 0, name: r.node!.path };
  }

  /**
   * NetBSD's sysctl_lookup on a located node: read the value and, if
   * `newValue` is given, write it.  `oldValue` is the value before the
   * write; on any error nothing changed and no value is returned.
   */
  sysctl_lookup(node: SysctlNode, newValue?: unknown): SysctlDispatchResult {
    if (node.isDirectory) return { error: EISDIR };
    /* EPERM before reading, as NetBSD refuses a write to a read-only node
     * before copying anything out. */
    if (newValue !== undefined && !node.writable) return { error: EPERM };
    const old = node.read();
    if (old.error !== 0) return { error: old.error };
    if (newValue !== undefined) {
      const error = node.write(newValue);
      if (error !== 0) return { error };
    }
    return { error: 0, oldValue: old.value };
  }

  /**
   * What the __sysctl syscall does (NetBSD's sysctl_dispatch): locate the
   * name, then sysctl_lookup.  Errors: ENOENT, ENOTDIR, EISDIR (a
   * directory has no value), EPERM (read-only), EINVAL (bad value), or
   * whatever a hook refused with.
   */
  sysctl_dispatch(name: SysctlName, newValue?: unknown): SysctlDispatchResult {
    if (typeof name !== 'string' && name.length > 0 && name[name.length - 1] === CTL_QUERY) {
      return this.sysctl_query(name.slice(0, -1), newValue);
    }
    const r = this.sysctl_locate(name);
    if (r.error !== 0) return { error: r.error };
    return this.sysctl_lookup(r.node!, newValue);
  }

  /**
   * NetBSD's sysctl_query: the children of a directory, as plain data, so
   * that a program on the far side of __sysctl can walk the tree.  ENOTDIR
   * for a leaf; EPERM for an attempt to write.
   */
  sysctl_query(name: SysctlName, newValue?: unknown): SysctlDispatchResult {
    if (newValue !== undefined) return { error: EPERM };
    const r = this.sysctl_locate(name);
    if (r.error !== 0) return { error: r.error };
    const node = r.node!;
    if (!node.isDirectory) return { error: ENOTDIR };
    const kids: SysctlQueryNode[] = node._kids().map((c) => ({
      sysctl_name: c.name, sysctl_num: c.num, sysctl_type: c.type, sysctl_flags: c.flags, sysctl_desc: c.description,
    }));
    return { error: 0, oldValue: kids };
  }

  /** Read a value; throws SyscallError. */
  get(name: SysctlName): SysctlValue {
    const r = this.sysctl_dispatch(name);
    if (r.error !== 0) throw new SyscallError(r.error, 'sysctl', nameText(name));
    return r.oldValue!;
  }

  /** Write a value and return the old one; throws SyscallError. */
  set(name: SysctlName, value: SysctlValue): SysctlValue {
    /* undefined would silently turn the write into a read. */
    if (value === undefined) throw new SyscallError(EINVAL, 'sysctl', nameText(name));
    const r = this.sysctl_dispatch(name, value);
    if (r.error !== 0) throw new SyscallError(r.error, 'sysctl', nameText(name));
    return r.oldValue!;
  }

  /**
   * Every leaf at or below `prefix`, depth first in MIB order: what
   * `sysctl -a` (or `sysctl kern`) lists.  A leaf whose read fails is
   * still yielded, with `error` set, so one broken hook cannot hide the
   * rest of the tree.  Throws SyscallError(ENOENT/ENOTDIR) for a bad prefix.
   */
  *walk(prefix: SysctlName = ''): Generator<SysctlEntry, void, undefined> {
    const r = this.sysctl_locate(prefix);
    if (r.error !== 0) throw new SyscallError(r.error, 'sysctl', nameText(prefix));
    const start = r.node!;
    yield* walkFrom(start, start.path, start.mib);
  }

  /** The line `sysctl` prints for an entry from walk(). */
  format(entry: SysctlEntry): string {
    return sysctl_format(entry);
  }
}

function* walkFrom(node: SysctlNode, name: string, mib: number[]): Generator<SysctlEntry, void, undefined> {
  if (!node.isDirectory) {
    const r = node.read();
    yield { name, mib, type: node.type, flags: node.flags, value: r.value, error: r.error, node };
    return;
  }
  /* A snapshot: a consumer may create or destroy nodes between yields. */
  for (const child of node._kids().slice()) {
    yield* walkFrom(child, name === '' ? child.name : `${name}.${child.name}`, [...mib, child.num]);
  }
}
