/*
 * The real Node host leaves nothing behind: a child process that boots a
 * kernel on NodeHost and never calls process.exit() must end by itself
 * once the kernel is halted, or once nothing is pending in a kernel that
 * is left running (the clock is tickless: no callout, no host timer).
 * The child is tests/fixtures/halt_node.ts, run with the tsx loader.
 * Bounds are generous: this runs on real time on a loaded machine.
 */

import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = 'tests/fixtures/halt_node.ts';

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The child was still running when we gave up and killed it. */
  killed: boolean;
  lines: string[];
  stderr: string;
  /** ms from spawn to each stdout line, and to exit. */
  lineAt: number[];
  exitAt: number;
}

/**
 * Run the fixture in `mode`; kill it if it is still alive after limitMs,
 * or `grace.ms` after it printed the line `grace.line`.
 */
function runChild(mode: string, limitMs: number, grace?: { line: string; ms: number }): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUMP_VERBOSE: '0' },
    });
    const lines: string[] = [];
    const lineAt: number[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      const parts = (partial + s).split('\n');
      partial = parts.pop()!;
      for (const p of parts) {
        lines.push(p);
        lineAt.push(performance.now() - start);
        if (grace !== undefined && p === grace.line) {
          setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) {
              killed = true;
              child.kill('SIGKILL');
            }
          }, grace.ms);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial !== '') lines.push(partial);
      resolve({ code, signal, killed, lines, stderr, lineAt, exitAt: performance.now() - start });
    });
  });
}

function explain(r: ChildResult): string {
  return `code ${r.code} signal ${r.signal} killed ${r.killed} after ${r.exitAt.toFixed(0)} ms\n` +
    `stdout:\n${r.lines.join('\n')}\nstderr:\n${r.stderr}`;
}

describe('a kernel on the Node host lets the process exit', { timeout: 30_000 }, () => {
  it('the tsx loader is installed (the child runs TypeScript through it)', () => {
    expect(existsSync(`${root}/node_modules/tsx/package.json`), 'install devDependencies: npm install').toBe(true);
  });

  it('after k.halt(), with a callout still pending an hour out, the process exits by itself, code 0', async () => {
    const r = await runChild('halt', 15_000);
    expect(r.killed, explain(r)).toBe(false);
    expect(r.code, explain(r)).toBe(0);
    expect(r.lines[0], explain(r)).toBe('booted hz=100');
    expect(r.lines.slice(1).map((l) => l.replace(/^fired .*/, 'fired')), explain(r)).toEqual(['armed', 'fired', 'halting', 'halted']);
    /* The near callout (3 ticks at hz 100) came after 20..30 ms, allowing for a slow host. */
    const ms = Number(r.lines.find((l) => l.startsWith('fired '))!.slice(6));
    expect(ms).toBeGreaterThanOrEqual(19.9);
    expect(ms).toBeLessThan(2000);
    /* Nothing kept the process alive after the halt. */
    expect(r.exitAt - r.lineAt.at(-1)!, explain(r)).toBeLessThan(3000);
    expect(r.stderr).toBe('');
  });

  it('a kernel that never armed anything and is never halted does not keep the process alive', async () => {
    const r = await runChild('idle', 15_000);
    expect(r.killed, explain(r)).toBe(false);
    expect(r.code, explain(r)).toBe(0);
    expect(r.lines, explain(r)).toEqual(['booted hz=100', 'idle']);
    expect(r.exitAt - r.lineAt.at(-1)!, explain(r)).toBeLessThan(3000);
    expect(r.stderr).toBe('');
  });

  it('a kernel whose sleeps were woken and callouts stopped is idle: the process exits without a halt', async () => {
    /* The sleep had a 60 s timeout: a host timer left armed for it would hold the process that long. */
    const r = await runChild('stopped', 15_000);
    expect(r.killed, explain(r)).toBe(false);
    expect(r.code, explain(r)).toBe(0);
    expect(r.lines, explain(r)).toEqual(['booted hz=100', 'stopped']);
    expect(r.exitAt - r.lineAt.at(-1)!, explain(r)).toBeLessThan(3000);
    expect(r.stderr).toBe('');
  });

  it('without the halt, the pending hour-long callout keeps the host timer (and the process) alive', async () => {
    /* The control experiment: what the halt released above was really holding the process. */
    const r = await runChild('nohalt', 15_000, { line: 'not halting', ms: 1500 });
    expect(r.lines.map((l) => l.replace(/^fired .*/, 'fired')), explain(r)).toEqual(['booted hz=100', 'armed', 'fired', 'not halting']);
    expect(r.killed, explain(r)).toBe(true);
    expect(r.exitAt - r.lineAt.at(-1)!).toBeGreaterThanOrEqual(1400);
  });
});
