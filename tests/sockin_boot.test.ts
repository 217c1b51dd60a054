/*
 * sockin's boot rules: it is refused together with anything that brings
 * interfaces or another PF_INET (rumpnet_net, rumpnet_netinet, shmif,
 * virtif), with an error naming the conflict, and on the sim host.
 */
import { describe, it, expect } from 'vitest';
import { rump_init, type KernelComponent } from '../librump/rumpkern/rump.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { SimWorld } from '../librump/rumpuser/sim.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { rumpnet_sockin_component } from '../net/lib/libsockin/sockin_component.ts';
import { bootSockin } from './sockin_helpers.ts';
import { PF_INET, SOCK_RAW, SOCK_STREAM } from '../include/socket.ts';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

/* Stands in for libvirtif until it exists: an interface driver over ifnet, as it will be declared. */
const virtif_stub: KernelComponent = { name: 'rumpnet_virtif', provides: ['virtif'], needs: ['ifnet'], init: {} };

function boot(components: KernelComponent[]): Promise<unknown> {
  /* The check runs before the host is touched, so a refused boot leaves nothing behind. */
  return rump_init({ host: new NodeHost({ console: () => {} }), components });
}

describe('sockin boot conflicts', () => {
  it('refuses rumpnet_net (interfaces)', async () => {
    await expect(boot([rumpnet_component, rumpnet_net_component, rumpnet_sockin_component]))
      .rejects.toThrow(/rumpnet_sockin cannot be loaded with rumpnet_net/);
  });

  it('refuses rumpnet_netinet (a second PF_INET)', async () => {
    await expect(boot([rumpnet_component, rumpnet_sockin_component, rumpnet_net_component, rumpnet_netinet_component]))
      .rejects.toThrow(/rumpnet_sockin and rumpnet_netinet both provide domain:PF_INET/);
    await expect(boot([rumpnet_component, rumpnet_netinet_component, rumpnet_sockin_component]))
      .rejects.toThrow(/rumpnet_netinet and rumpnet_sockin both provide domain:PF_INET/);
  });

  it('refuses shmif and virtif', async () => {
    await expect(boot([rumpnet_component, rumpnet_sockin_component, rumpnet_net_component, rumpnet_shmif_component(new ShmifNet())]))
      .rejects.toThrow(/rumpnet_sockin cannot be loaded with rumpnet_(net|shmif)/);
    await expect(boot([rumpnet_component, rumpnet_sockin_component, rumpnet_shmif_component(new ShmifNet())]))
      .rejects.toThrow(/rumpnet_sockin cannot be loaded with rumpnet_shmif/);
    await expect(boot([rumpnet_component, rumpnet_sockin_component, virtif_stub]))
      .rejects.toThrow(/rumpnet_sockin cannot be loaded with rumpnet_virtif/);
  });

  it('refuses the sim host', async () => {
    const w = new SimWorld({ seed: 1 });
    await expect(rump_init({ host: w.host('k'), components: [rumpnet_component, rumpnet_sockin_component] }))
      .rejects.toThrow(/needs a real host/);
  });

  it('boots alone and offers only UDP and TCP', async () => {
    const k = await bootSockin();
    expect(k.components).toContain('rumpnet_sockin');
    const s = await k.sys.socket(PF_INET, SOCK_STREAM);
    await k.sys.close(s);
    await expect(k.sys.socket(PF_INET, SOCK_RAW, 1)).rejects.toMatchObject({ code: 'EPROTONOSUPPORT' });
  });

  it('the kernel half bundles for a browser (only sockin_user.ts touches node:)', async () => {
    const r = await build({
      entryPoints: [fileURLToPath(new URL('../net/lib/libsockin/sockin.ts', import.meta.url))],
      bundle: true, platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent',
    });
    expect(r.errors).toEqual([]);
  });
});
