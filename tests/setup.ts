/*
 * Vitest setup: nothing global yet; kernels are booted per test through
 * tests/kernel.ts, which fails a test whose kernel panicked unexpectedly.
 */
export {};
