/*
 * npm run bench [-- [--quick] [--json] [NAME...]]
 *
 * Runs every bench/NAME.ts (or only the NAMEs given), one after another,
 * each in a child process of its own: a fresh heap and JIT per benchmark,
 * and no two competing for the CPU.  --quick and --json are passed through.
 * Exits nonzero if any benchmark fails (a verification error in a
 * benchmark throws, so a wrong answer fails the run).
 *
 * Children run as `node --expose-gc --import <local tsx loader> file`:
 * process.execPath and the tsx in node_modules, so nothing is fetched and
 * the Node that runs this runner runs the benchmarks.  --expose-gc lets
 * the harness collect garbage between rounds.
 */

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
/* Files in bench/ that are not benchmarks. */
const NOT_BENCHMARKS = new Set(['harness.ts', 'run.ts']);
/* What --quick promises per benchmark. */
const QUICK_BUDGET_S = 30;

function benchmarks(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts') && !NOT_BENCHMARKS.has(f))
    .map((f) => basename(f, '.ts'))
    .sort();
}

function usage(): string {
  return `usage: npm run bench -- [--quick] [--json] [NAME...]\nbenchmarks: ${benchmarks().join(', ') || '(none)'}`;
}

function main(): number {
  const flags: string[] = [];
  const names: string[] = [];
  for (const a of process.argv.slice(2)) {
    if (a === '--quick' || a === '--json') {
      if (!flags.includes(a)) flags.push(a);
    } else if (a === '-h' || a === '--help') {
      console.log(usage());
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`bench: unknown option ${a}\n${usage()}`);
      return 2;
    } else {
      /* Accept "callout", "callout.ts" and "bench/callout.ts" alike. */
      names.push(basename(a, '.ts'));
    }
  }

  const all = benchmarks();
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`bench: no such benchmark: ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const chosen = names.length > 0 ? names : all;
  if (chosen.length === 0) {
    console.error('bench: no benchmarks in bench/');
    return 2;
  }

  const tsx = import.meta.resolve('tsx');
  const quick = flags.includes('--quick');
  const failed: string[] = [];
  for (const name of chosen) {
    /* stderr for the runner's own chatter: with --json, stdout is only the children's JSON lines. */
    process.stderr.write(`# bench ${name}${flags.length ? ' ' + flags.join(' ') : ''}\n`);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', tsx, join(BENCH_DIR, `${name}.ts`), ...flags], {
      stdio: 'inherit',
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.error) {
      process.stderr.write(`# bench ${name}: could not start: ${r.error.message}\n`);
      failed.push(name);
      continue;
    }
    if (r.status !== 0) {
      process.stderr.write(`# bench ${name}: FAILED (${r.signal ? `signal ${r.signal}` : `exit ${r.status}`}) after ${secs.toFixed(1)} s\n`);
      failed.push(name);
      continue;
    }
    process.stderr.write(`# bench ${name}: done in ${secs.toFixed(1)} s\n`);
    if (quick && secs > QUICK_BUDGET_S) {
      process.stderr.write(`# bench ${name}: WARNING: --quick took over ${QUICK_BUDGET_S} s\n`);
    }
  }
  if (failed.length > 0) {
    process.stderr.write(`# bench: ${failed.length} of ${chosen.length} failed: ${failed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main();
