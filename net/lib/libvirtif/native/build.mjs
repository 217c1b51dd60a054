/*
 * Build virtif's native host half (virtif.c) with node-gyp: the package's
 * "install" script, so `npm install` and `npm ci` run it, and
 * `npm run build:virtif` by hand.
 *
 * It never fails the install: without a compiler, make, python3 or the
 * Node headers, everything but virtif still works.  Instead it prints why,
 * and leaves the reason in build/FAILED, which virtif_user.ts quotes when
 * someone creates a virtif interface.  On success build/Release/virtif.node
 * exists and build/FAILED does not.
 *
 * node-gyp is npm's own copy (npm passes its path in npm_config_node_gyp;
 * run by hand, it is found next to npm).  The headers come from the running
 * Node's own include/node when it has them, so nothing is downloaded.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const build = join(here, 'build');
const failed = join(build, 'FAILED');

function nodeGyp() {
  const cands = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) cands.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = dirname(dirname(process.execPath));
  cands.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  cands.push(join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return cands.find((c) => c !== undefined && c !== '' && existsSync(c));
}

function fail(reason, log) {
  mkdirSync(build, { recursive: true });
  writeFileSync(failed, `${reason}\n`);
  if (log) writeFileSync(join(build, 'build.log'), log);
  process.stderr.write(
    `rumpts: the virtif native addon was not built: ${reason}\n` +
    'rumpts: everything else works; virtif interfaces (TAP devices) will refuse to be created until it is.\n' +
    'rumpts: install g++, make and python3, then run: npm run build:virtif\n',
  );
  process.exit(0);
}

const gyp = nodeGyp();
if (gyp === undefined) fail('node-gyp not found (it ships with npm; run this through npm)');
const args = [gyp, 'rebuild', '--release'];
const headers = join(dirname(dirname(process.execPath)), 'include', 'node', 'node_api.h');
if (!process.env.npm_config_nodedir && existsSync(headers)) args.push(`--nodedir=${dirname(dirname(process.execPath))}`);
rmSync(failed, { force: true });
const r = spawnSync(process.execPath, args, { cwd: here, encoding: 'utf8', maxBuffer: 64 << 20 });
const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.error) fail(`could not run node-gyp: ${r.error.message}`, log);
if (r.status !== 0) {
  const tail = log.trim().split('\n').filter((l) => /error|not found|No such|missing/i.test(l)).slice(-3).join(' | ');
  fail(`node-gyp exited with ${r.status}${tail ? `: ${tail}` : ''} (full log: ${join(build, 'build.log')})`, log);
}
if (!existsSync(join(build, 'Release', 'virtif.node'))) fail('node-gyp succeeded but build/Release/virtif.node is missing', log);
process.stderr.write('rumpts: built the virtif native addon (net/lib/libvirtif/native/build/Release/virtif.node)\n');
