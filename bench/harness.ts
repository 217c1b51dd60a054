/*
 * Helpers shared by the benchmark files in bench/.
 *
 * A benchmark is a plain script: it parses its flags with parseArgs(),
 * measures its subject and a baseline in the same process (so both see the
 * same machine, the same Node and the same load), and prints each figure
 * with report().  bench/run.ts runs every benchmark in a child process of
 * its own, so one benchmark's heap and JIT state cannot colour the next.
 *
 * Output contract (what CI and people read):
 *   human:  callout  reset+stop  ns/op  23.1   vs setTimeout+clearTimeout 812.0  (35.2x better)
 *             target: reset+stop <= 150 ns/op: MET
 *   --json: exactly one JSON object per line on stdout, nothing else there:
 *           {"bench","metric","unit","value","baseline","baseline_value","ratio"}
 *           plus "target" and "met" when a target was stated.
 * Progress and diagnostics go to stderr (note()), so stdout stays parseable.
 */

/** Flags every benchmark understands; run.ts passes them through. */
export interface BenchArgs {
  /** Smaller sizes and fewer rounds: the whole benchmark must finish in under 30 s. */
  quick: boolean;
  /** Print JSON lines instead of human lines. */
  json: boolean;
}

/** Parse a benchmark's argv.  Unknown arguments are an error, not silently ignored. */
export function parseArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const args: BenchArgs = { quick: false, json: false };
  for (const a of argv) {
    if (a === '--quick') args.quick = true;
    else if (a === '--json') args.json = true;
    else throw new Error(`unknown benchmark argument ${JSON.stringify(a)} (known: --quick, --json)`);
  }
  return args;
}

/** Whether a smaller value is better (ns/op) or a larger one (ops/s, Gbit/s). */
export type Better = 'lower' | 'higher';

/**
 * A stated performance target.  on 'value' (the default) compares the
 * measured value against `value` in the metric's unit, in the direction
 * `better` says; on 'ratio' it asks for at least `value` times better than
 * the baseline.
 */
export interface Target {
  value: number;
  on?: 'value' | 'ratio';
  /** What the target is about, e.g. 'reset+stop'; defaults to the metric. */
  label?: string;
}

export interface Result {
  bench: string;
  metric: string;
  unit: string;
  value: number;
  better: Better;
  /** Name of the baseline measured in the same run, if any. */
  baseline?: string;
  baseline_value?: number;
  target?: Target;
}

/** The record as printed with --json. */
export interface ResultLine {
  bench: string;
  metric: string;
  unit: string;
  value: number;
  baseline: string | null;
  baseline_value: number | null;
  ratio: number | null;
  target?: string;
  met?: boolean;
}

/**
 * How many times better `value` is than `baseline_value`: above 1 means
 * ours wins, whichever direction the unit runs.
 */
export function ratioOf(value: number, baseline_value: number, better: Better): number {
  return better === 'lower' ? baseline_value / value : value / baseline_value;
}

/** Evaluate a target against a result: its description and whether it was met. */
export function checkTarget(r: Result, ratio: number | null): { text: string; met: boolean } {
  const t = r.target!;
  const label = t.label ?? r.metric;
  if (t.on === 'ratio') {
    if (ratio === null) throw new Error(`${r.bench} ${r.metric}: a ratio target needs a baseline`);
    return { text: `${label} >= ${t.value}x better than ${r.baseline}`, met: ratio >= t.value };
  }
  return r.better === 'lower'
    ? { text: `${label} <= ${t.value} ${r.unit}`, met: r.value <= t.value }
    : { text: `${label} >= ${t.value} ${r.unit}`, met: r.value >= t.value };
}

/* JSON figures keep enough digits to compare runs, not float noise. */
function round3(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}

/* Human figures: one decimal is plenty for anything above 1, more below. */
function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1 ? x.toFixed(1) : x.toPrecision(3);
}

/**
 * Print one figure (see the output contract above) and return the record.
 * args defaults to this process's own argv.
 */
export function report(r: Result, args: BenchArgs = parseArgs()): ResultLine {
  const hasBase = r.baseline !== undefined && r.baseline_value !== undefined;
  const ratio = hasBase ? ratioOf(r.value, r.baseline_value!, r.better) : null;
  const line: ResultLine = {
    bench: r.bench,
    metric: r.metric,
    unit: r.unit,
    value: round3(r.value),
    baseline: hasBase ? r.baseline! : null,
    baseline_value: hasBase ? round3(r.baseline_value!) : null,
    ratio: ratio === null ? null : round3(ratio),
  };
  const target = r.target ? checkTarget(r, ratio) : null;
  if (target) {
    line.target = target.text;
    line.met = target.met;
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(line) + '\n');
    return line;
  }
  let s = `${r.bench}  ${r.metric.padEnd(12)}  ${r.unit.padEnd(6)}  ${fmt(r.value).padStart(8)}`;
  if (hasBase) {
    /* Below 1x, say "worse" rather than print "0.4x better". */
    const verdict = ratio! >= 1 ? `${fmt(ratio!)}x better` : `${fmt(1 / ratio!)}x worse`;
    s += `   vs ${r.baseline} ${fmt(r.baseline_value!)}  (${verdict})`;
  }
  process.stdout.write(s + '\n');
  if (target) process.stdout.write(`    target: ${target.text}: ${target.met ? 'MET' : 'MISSED'}\n`);
  return line;
}

/** Progress and context for people; stderr, so --json stdout stays clean. */
export function note(msg: string): void {
  process.stderr.write(`# ${msg}\n`);
}

/* ---- timing ---- */

/** Monotonic nanoseconds. */
export function now(): bigint {
  return process.hrtime.bigint();
}

/** Nanoseconds since t0 (from now()), as a number: fine below ~104 days. */
export function elapsedNs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0);
}

/** Run fn once and return how long it took, in nanoseconds. */
export function timeNs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Collect garbage now if the process was started with --expose-gc (run.ts
 * does that), so a collection left over from setting up one phase is not
 * billed to the next.  A no-op otherwise.
 */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') g();
}

export interface RoundsResult<K extends string> {
  /** Per-figure median over the measured rounds. */
  median: Record<K, number>;
  /** Every measured round's figures, in order (warm-up rounds left out). */
  samples: Record<K, number[]>;
}

/**
 * Run a measurement several times and keep the median of each figure it
 * returns: the median shrugs off the odd round hit by a GC or a noisy
 * neighbour, where a mean would not.  The first `warmup` rounds let the JIT
 * settle and are thrown away.  fn returns named figures (e.g. ns per
 * reset, ns per stop) and may be async (timers need the event loop).
 */
export async function rounds<K extends string>(
  opts: { warmup: number; rounds: number },
  fn: (round: number, warmup: boolean) => Record<K, number> | Promise<Record<K, number>>,
): Promise<RoundsResult<K>> {
  if (opts.rounds < 1) throw new Error('rounds: need at least one measured round');
  const samples = {} as Record<K, number[]>;
  for (let i = 0; i < opts.warmup + opts.rounds; i++) {
    gc();
    const warm = i < opts.warmup;
    const figs = await fn(i, warm);
    if (warm) continue;
    for (const k of Object.keys(figs) as K[]) (samples[k] ??= []).push(figs[k]);
  }
  const med = {} as Record<K, number>;
  for (const k of Object.keys(samples) as K[]) med[k] = median(samples[k]);
  return { median: med, samples };
}

/**
 * Small seeded PRNG (xorshift32), so every run and every baseline sees the
 * same "random" input.  Not for anything but benchmark inputs.
 */
export class XorShift32 {
  private s: number;
  constructor(seed: number) {
    this.s = seed | 0 || 0x9e3779b9;
  }
  /** Uniform uint32. */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  /** Uniform integer in [lo, hi] (hi - lo well below 2^32, bias negligible). */
  int(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
  }
}
