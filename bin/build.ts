/*
 * npm run build: esbuild bundles.
 *   - every command-line tool in bin/ (except this file) -> dist/<name>.mjs
 *     for Node;
 *   - the kernel with the sim host -> dist/rumpkern.browser.mjs for the
 *     browser, which fails if kernel code imports anything from node:
 *     (DESIGN.md: only rumpuser and *_user.ts host halves touch the host).
 */

import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tools = readdirSync(join(root, 'bin')).filter((f) => f.endsWith('.ts') && f !== 'build.ts');

export async function buildBrowserKernel(outfile: string | undefined): Promise<number> {
  const r = await build({
    stdin: {
      contents: [
        "export * from './librump/rumpkern/rump.ts';",
        "export * from './librump/rumpkern/rump_syscalls.ts';",
        "export { SimWorld, SimHost } from './librump/rumpuser/sim.ts';",
      ].join('\n'),
      resolveDir: root,
      sourcefile: 'browser-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: outfile !== undefined,
    ...(outfile !== undefined ? { outfile } : {}),
    logLevel: 'silent',
  });
  return r.errors.length;
}

async function main(): Promise<void> {
  for (const t of tools) {
    await build({
      entryPoints: [join(root, 'bin', t)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: join(root, 'dist', `${basename(t, '.ts')}.mjs`),
      banner: { js: '#!/usr/bin/env node' },
    });
    console.log(`dist/${basename(t, '.ts')}.mjs`);
  }
  await buildBrowserKernel(join(root, 'dist', 'rumpkern.browser.mjs'));
  console.log('dist/rumpkern.browser.mjs (browser: kernel + sim host)');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
