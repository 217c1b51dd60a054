/*
 * radix.ts: longest-prefix match over IPv4 prefixes, the job of NetBSD's
 * sys/net/radix.c, specialised to 32-bit keys.
 *
 * NetBSD's radix tree is a general PATRICIA tree over byte strings: leaves
 * hold keys, masks live in a separate mask tree, and a lookup descends to a
 * leaf and then backtracks through mask lists to find the longest match.
 * That generality serves every address family.  Here the key is always one
 * uint32 (an IPv4 address in host byte order), which allows a simpler shape
 * with the same guarantees:
 *
 *   - Every node is a prefix (rn_key/rn_plen, host bits zero).  A node
 *     either carries a value (a route) or is glue: a branch point that
 *     exists only because two prefixes below it diverge at bit rn_plen.
 *   - A child's prefix extends its parent's, with a longer length, and
 *     hangs on the side given by its bit at position rn_plen (bit 0 is the
 *     most significant).  Chains of one-child nodes without values never
 *     exist, so the path is compressed: depth is bounded by 33 and by the
 *     number of stored prefixes, not by the bits of the key.
 *   - Glue nodes always have two children; deleting a route undoes any glue
 *     that stops branching, so the tree is always the minimal one for its
 *     set of prefixes.
 *
 * Longest match walks down from the root, remembering the last node with a
 * value whose prefix covers the address, and stops at the first node that
 * does not.  No backtracking is needed because a node's ancestors are
 * exactly the shorter prefixes that contain it.  rn_match and rn_lookup
 * allocate nothing: they run on the packet path (ip_output -> rtalloc1).
 *
 * The tree holds no locks: one virtual CPU runs kernel code and every
 * operation is synchronous, so nothing can interleave with a change.
 */

import { EEXIST, EINVAL } from '../../../include/errno.ts';

/** Longest IPv4 prefix: a host route. */
export const RN_MAXPLEN = 32;

/** The netmask of a prefix length (plen leading one bits), as a uint32. */
export function rn_plen2mask(plen: number): number {
  /* A shift count of 32 is taken mod 32 by JS, so /0 is special. */
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

/** Whether key is a uint32 and plen an integer in 0..32. */
export function rn_valid_key(key: number, plen: number): boolean {
  return Number.isInteger(key) && key >= 0 && key <= 0xffffffff &&
    Number.isInteger(plen) && plen >= 0 && plen <= RN_MAXPLEN;
}

/** Whether (key, plen) is a well-formed prefix: valid, no host bits set. */
export function rn_valid_prefix(key: number, plen: number): boolean {
  return rn_valid_key(key, plen) && ((key & ~rn_plen2mask(plen)) >>> 0) === 0;
}

/* Bit `pos` of key, counting from the most significant (0..31). */
function rn_bit(key: number, pos: number): number {
  return (key >>> (31 - pos)) & 1;
}

/** One node of the tree: a prefix, its value if it is a route, two children. */
class RadixNode<T> {
  rn_key: number;
  rn_plen: number;
  /* Kept so the match loop does one AND per node instead of a shift and a branch. */
  rn_mask: number;
  /* null marks glue: a branch point with no route of its own. */
  rn_val: T | null;
  rn_left: RadixNode<T> | null = null;
  rn_right: RadixNode<T> | null = null;

  constructor(key: number, plen: number, val: T | null) {
    this.rn_key = key;
    this.rn_plen = plen;
    this.rn_mask = rn_plen2mask(plen);
    this.rn_val = val;
  }
}

/**
 * The walker's callback: return 0 to go on, anything else to stop the walk
 * with that value (rn_walktree's contract in NetBSD).
 */
export type RnWalkFn<T> = (val: T, key: number, plen: number) => number;

/**
 * A longest-prefix-match table of IPv4 prefixes (NetBSD's
 * struct radix_node_head).  Values must not be null or undefined: null is
 * the "no match" answer of the lookups.
 */
export class RadixNodeHead<T extends {}> {
  private rnh_root: RadixNode<T> | null = null;
  private rnh_count = 0;

  /** Number of prefixes stored (glue nodes are not counted). */
  get rn_count(): number {
    return this.rnh_count;
  }

  /**
   * Store val under (key, plen).  Returns 0, EINVAL for a malformed prefix
   * (plen outside 0..32, host bits set), or EEXIST if the prefix is stored.
   */
  rn_addroute(key: number, plen: number, val: T): number {
    if (!rn_valid_prefix(key, plen)) return EINVAL;
    let parent: RadixNode<T> | null = null;
    let n = this.rnh_root;
    while (n !== null) {
      /* Bits the new prefix shares with n, counted from the top. */
      const c = Math.min(plen, n.rn_plen, Math.clz32(key ^ n.rn_key));
      if (c < n.rn_plen) {
        /*
         * The new prefix leaves n's path before n: it either contains n
         * (c === plen), so it goes in above n, or it diverges from n at
         * bit c, so a glue node at /c splits the two.
         */
        let top: RadixNode<T>;
        if (c === plen) {
          top = new RadixNode(key, plen, val);
          this.rn_setchild(top, rn_bit(n.rn_key, plen), n);
        } else {
          top = new RadixNode<T>((key & rn_plen2mask(c)) >>> 0, c, null);
          this.rn_setchild(top, rn_bit(key, c), new RadixNode(key, plen, val));
          this.rn_setchild(top, rn_bit(n.rn_key, c), n);
        }
        this.rn_replace(parent, n, top);
        this.rnh_count++;
        return 0;
      }
      /* n's prefix contains the new one. */
      if (plen === n.rn_plen) {
        if (n.rn_val !== null) return EEXIST;
        n.rn_val = val; /* glue becomes a route */
        this.rnh_count++;
        return 0;
      }
      const b = rn_bit(key, n.rn_plen);
      const next: RadixNode<T> | null = b === 0 ? n.rn_left : n.rn_right;
      if (next === null) {
        this.rn_setchild(n, b, new RadixNode(key, plen, val));
        this.rnh_count++;
        return 0;
      }
      parent = n;
      n = next;
    }
    this.rnh_root = new RadixNode(key, plen, val);
    this.rnh_count++;
    return 0;
  }

  /** Remove (key, plen); returns its value, or null if it was not stored. */
  rn_delete(key: number, plen: number): T | null {
    if (!rn_valid_prefix(key, plen)) return null;
    let grandparent: RadixNode<T> | null = null;
    let parent: RadixNode<T> | null = null;
    let n = this.rnh_root;
    while (n !== null && n.rn_plen < plen) {
      if (((key ^ n.rn_key) & n.rn_mask) !== 0) return null;
      grandparent = parent;
      parent = n;
      n = rn_bit(key, n.rn_plen) === 0 ? n.rn_left : n.rn_right;
    }
    if (n === null || n.rn_plen !== plen || n.rn_key !== key || n.rn_val === null) return null;
    const val = n.rn_val;
    n.rn_val = null;
    this.rnh_count--;
    /* Still a branch point: it stays, as glue. */
    if (n.rn_left !== null && n.rn_right !== null) return val;
    const only = n.rn_left ?? n.rn_right;
    if (only !== null) {
      this.rn_replace(parent, n, only);
      return val;
    }
    this.rn_replace(parent, n, null);
    /*
     * A glue parent had two children; with one left it no longer branches,
     * so its remaining child takes its place.
     */
    if (parent !== null && parent.rn_val === null) {
      this.rn_replace(grandparent, parent, parent.rn_left ?? parent.rn_right);
    }
    return val;
  }

  /** The value stored under exactly (key, plen), or null.  Allocates nothing. */
  rn_lookup(key: number, plen: number): T | null {
    if (!rn_valid_key(key, plen)) return null;
    let n = this.rnh_root;
    while (n !== null && n.rn_plen < plen) {
      if (((key ^ n.rn_key) & n.rn_mask) !== 0) return null;
      n = rn_bit(key, n.rn_plen) === 0 ? n.rn_left : n.rn_right;
    }
    if (n === null || n.rn_plen !== plen || n.rn_key !== key) return null;
    return n.rn_val;
  }

  /**
   * The value of the longest stored prefix containing addr, or null.
   * Allocates nothing: this is the packet path.
   */
  rn_match(addr: number): T | null {
    addr >>>= 0;
    let best: T | null = null;
    let n = this.rnh_root;
    while (n !== null) {
      if (((addr ^ n.rn_key) & n.rn_mask) !== 0) break;
      if (n.rn_val !== null) best = n.rn_val;
      if (n.rn_plen === RN_MAXPLEN) break;
      n = rn_bit(addr, n.rn_plen) === 0 ? n.rn_left : n.rn_right;
    }
    return best;
  }

  /**
   * Like rn_match, but only values that `accept` approves count: the
   * longest accepted prefix containing addr.  For control-path questions
   * such as "which interface route reaches this gateway", where a more
   * specific route of the wrong kind must not hide a usable shorter one.
   */
  rn_match_filter(addr: number, accept: (val: T) => boolean): T | null {
    addr >>>= 0;
    let best: T | null = null;
    let n = this.rnh_root;
    while (n !== null) {
      if (((addr ^ n.rn_key) & n.rn_mask) !== 0) break;
      if (n.rn_val !== null && accept(n.rn_val)) best = n.rn_val;
      if (n.rn_plen === RN_MAXPLEN) break;
      n = rn_bit(addr, n.rn_plen) === 0 ? n.rn_left : n.rn_right;
    }
    return best;
  }

  /**
   * Call fn for every stored prefix in order of key, then prefix length
   * (the order of `netstat -rn`).  A pre-order walk gives that order: a
   * node's key is the smallest in its subtree (its host bits are zero) and
   * ties go to the shorter prefix, which is the ancestor; left subtrees hold
   * smaller keys than right ones.
   *
   * The set walked is the one present when the walk starts, taken as a
   * snapshot, so fn may add and delete routes (rt_if_detach does); an entry
   * deleted before its turn is skipped.  Returns the first nonzero value fn
   * returned, or 0.
   */
  rn_walktree(fn: RnWalkFn<T>): number {
    const nodes: RadixNode<T>[] = [];
    const vals: T[] = [];
    const stack: RadixNode<T>[] = [];
    if (this.rnh_root !== null) stack.push(this.rnh_root);
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.rn_val !== null) {
        nodes.push(n);
        vals.push(n.rn_val);
      }
      if (n.rn_right !== null) stack.push(n.rn_right);
      if (n.rn_left !== null) stack.push(n.rn_left);
    }
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i]!;
      const v = vals[i]!;
      /* Deleted (or deleted and replaced) since the snapshot: skip. */
      if (n.rn_val !== v) continue;
      const r = fn(v, n.rn_key, n.rn_plen);
      if (r !== 0) return r;
    }
    return 0;
  }

  /**
   * Check the tree's invariants; returns a description of the first broken
   * one, or null.  For tests and for a DIAGNOSTIC-style self check.
   */
  rn_check(): string | null {
    let count = 0;
    const visit = (n: RadixNode<T>, parent: RadixNode<T> | null, side: number): string | null => {
      const where = `${n.rn_key >>> 0}/${n.rn_plen}`;
      if (!rn_valid_prefix(n.rn_key, n.rn_plen)) return `${where}: malformed prefix`;
      if (n.rn_mask !== rn_plen2mask(n.rn_plen)) return `${where}: wrong mask`;
      if (n.rn_val !== null) count++;
      else if (n.rn_left === null || n.rn_right === null) return `${where}: glue without two children`;
      if (parent !== null) {
        if (n.rn_plen <= parent.rn_plen) return `${where}: not longer than its parent`;
        if (((n.rn_key ^ parent.rn_key) & parent.rn_mask) !== 0) return `${where}: outside its parent`;
        if (rn_bit(n.rn_key, parent.rn_plen) !== side) return `${where}: on the wrong side`;
      }
      if (n.rn_plen === RN_MAXPLEN && (n.rn_left !== null || n.rn_right !== null)) return `${where}: host with children`;
      if (n.rn_left !== null) {
        const e = visit(n.rn_left, n, 0);
        if (e !== null) return e;
      }
      if (n.rn_right !== null) {
        const e = visit(n.rn_right, n, 1);
        if (e !== null) return e;
      }
      return null;
    };
    if (this.rnh_root !== null) {
      const e = visit(this.rnh_root, null, 0);
      if (e !== null) return e;
    }
    if (count !== this.rnh_count) return `count ${this.rnh_count} but ${count} routes in the tree`;
    return null;
  }

  private rn_setchild(n: RadixNode<T>, side: number, child: RadixNode<T> | null): void {
    if (side === 0) n.rn_left = child;
    else n.rn_right = child;
  }

  /* Put neu where old hangs under parent (or at the root). */
  private rn_replace(parent: RadixNode<T> | null, old: RadixNode<T>, neu: RadixNode<T> | null): void {
    if (parent === null) this.rnh_root = neu;
    else if (parent.rn_left === old) parent.rn_left = neu;
    else parent.rn_right = neu;
  }
}
