/*
 * Kernel components (NetBSD's RUMP_COMPONENT records and rump_init's order).
 *
 * A component is a library that runs init functions at one or more
 * levels, provides named things ('faction:net', 'domain:PF_INET', 'ifnet')
 * and needs others.  Before anything boots, the list is checked: a need
 * nobody provides, two providers of one thing, a declared conflict or two
 * components claiming one faction refuse the boot with an error that names
 * the components involved.
 */

/** Init levels in the order rump_init() runs them. */
export const COMPONENT_LEVELS = [
  'KERN',
  'FACTION_VFS', 'VFS',
  'FACTION_NET', 'NET', 'NET_ROUTE', 'NET_IF', 'NET_IFCFG',
  'FACTION_DEV', 'DEV', 'DEV_AFTERMAINBUS',
  'KERN_VFS',
  'POSTINIT',
  'SYSCALL',
] as const;

export type ComponentLevel = typeof COMPONENT_LEVELS[number];

/** What an init function gets: the kernel and the boot LWP (for sleeping). */
export type ComponentInit<K, L> = (k: K, l: L) => void | Promise<void>;

export interface RumpComponent<K = unknown, L = unknown> {
  /** Library name, as NetBSD's: 'rumpnet_netinet'. */
  readonly name: string;
  readonly init: Partial<Record<ComponentLevel, ComponentInit<K, L>>>;
  readonly provides?: readonly string[];
  readonly needs?: readonly string[];
  /** Things that must not be present with this component (sockin vs. ifnet). */
  readonly conflicts?: readonly string[];
}

export class ComponentError extends Error {
  constructor(message: string) {
    super(`rump_init: ${message}`);
    this.name = 'ComponentError';
  }
}

const FACTIONS: readonly ComponentLevel[] = ['FACTION_VFS', 'FACTION_NET', 'FACTION_DEV'];

/** Check a component list; throws ComponentError naming what is wrong. */
export function component_check(list: readonly RumpComponent<never, never>[]): void {
  const byName = new Map<string, RumpComponent<never, never>>();
  for (const c of list) {
    if (byName.has(c.name)) throw new ComponentError(`component ${c.name} is listed twice`);
    byName.set(c.name, c);
    for (const lvl of Object.keys(c.init)) {
      if (!(COMPONENT_LEVELS as readonly string[]).includes(lvl)) {
        throw new ComponentError(`component ${c.name} has an init at unknown level ${lvl}`);
      }
    }
  }
  for (const f of FACTIONS) {
    const claim = list.filter((c) => c.init[f] !== undefined);
    if (claim.length > 1) {
      throw new ComponentError(`components ${claim[0]!.name} and ${claim[1]!.name} both initialise ${f.slice(8).toLowerCase()} faction`);
    }
  }
  const provider = new Map<string, string>();
  for (const c of list) {
    for (const p of c.provides ?? []) {
      const other = provider.get(p);
      if (other !== undefined) {
        throw new ComponentError(`components ${other} and ${c.name} both provide ${p}; load only one of them`);
      }
      provider.set(p, c.name);
    }
  }
  for (const c of list) {
    for (const n of c.needs ?? []) {
      if (!provider.has(n)) throw new ComponentError(`component ${c.name} needs ${n}, which no listed component provides`);
    }
    for (const x of c.conflicts ?? []) {
      const other = provider.get(x);
      if (other !== undefined && other !== c.name) {
        throw new ComponentError(`component ${c.name} cannot be loaded with ${other} (both would own ${x})`);
      }
    }
  }
}
