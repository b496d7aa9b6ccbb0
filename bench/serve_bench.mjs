// Throughput and latency of `qguard serve` at several client concurrencies, on loopback, with the
// requests of bench/prompts.jsonl sent round-robin as chat completions.
//   node bench/serve_bench.mjs QGUARD MODEL [--requests N] [--levels 1,4,16] [-- extra serve flags]
// Prints the CPU, the load average (the machine may be shared) and a Markdown table for docs/server.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, waitReady } from '../tests/server/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [qguard, model, ...rest] = process.argv.slice(2);
const split = rest.indexOf('--');
const own = split >= 0 ? rest.slice(0, split) : rest;
const serveFlags = split >= 0 ? rest.slice(split + 1) : [];
const option = (name, fallback) => (own.includes(`--${name}`) ? own[own.indexOf(`--${name}`) + 1] : fallback);
const requests = Number(option('requests', 48));
const levels = option('levels', '1,4,16').split(',').map(Number);

const conversations = fs.readFileSync(path.join(here, 'prompts.jsonl'), 'utf8').trim().split('\n').map((line) => {
  const { prompt, response } = JSON.parse(line);
  return response === undefined ? [{ role: 'user', content: prompt }]
    : [{ role: 'user', content: prompt }, { role: 'assistant', content: response }];
});

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

// The queue holds every client, so each request is answered (a 429 would end the run).
const server = await startServer(qguard, ['--model', model, '--max-queue', String(Math.max(...levels)), ...serveFlags]);
await waitReady(server.url);
const send = async (index) => {
  const start = performance.now();
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: conversations[index % conversations.length] }),
  });
  await response.text();
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  return performance.now() - start;
};
for (let i = 0; i < 2; i++) await send(i);  // warm-up: the policy head's cache, page cache

const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1];
console.log(`CPU: ${cpu}, ${os.cpus().length} logical cores; load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`model: ${model}; serve flags: ${serveFlags.join(' ') || '(defaults)'}; ${requests} requests per level\n`);
console.log('| clients | requests/s | p50 latency | p90 latency | max latency |');
console.log('|---:|---:|---:|---:|---:|');
for (const clients of levels) {
  const latencies = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < requests) latencies.push(await send(next++));
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const ms = (v) => `${v.toFixed(v < 100 ? 1 : 0)} ms`;
  console.log(`| ${clients} | ${(requests / seconds).toFixed(2)} | ${ms(percentile(latencies, 0.5))} | ${ms(percentile(latencies, 0.9))} | ${ms(latencies[latencies.length - 1])} |`);
}
console.log(`\nload average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
await server.stop();
