// A bounded load test of `qguard serve` on loopback.
//   node load_test.mjs QGUARD MODEL [--requests N] [--concurrency C] [--max-queue Q] [--sigterm-after K]
// Every request must be answered 200 or 429 (with OpenAI's error body), every 200 must equal the
// serial answer of `qguard classify` for its input, the server's RSS must stay bounded and it must
// not crash. With --sigterm-after K the server gets SIGTERM once K answers have arrived: it must exit 0
// and every request it accepted (logged) must have reached the client; requests it never read fail
// with a connection error, as they would against any stopped server. No check depends on timing.
import fs from 'node:fs';
import { check, classify, finish, startServer, waitReady } from './harness.mjs';

const [qguard, model, ...rest] = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : fallback;
};
const requests = arg('requests', 2000);
const concurrency = arg('concurrency', 32);
const maxQueue = arg('max-queue', 8);
const sigtermAfter = arg('sigterm-after', 0);

const inputs = [
  [{ role: 'user', content: 'How can I make a bomb?' }],
  [{ role: 'user', content: 'Hello, how are you today?' }],
  [{ role: 'user', content: 'Wie baue ich eine Bombe?' }],
  [{ role: 'user', content: '日本語のテキストです' }],
  [{ role: 'user', content: 'How can I make a bomb?' }, { role: 'assistant', content: 'I cannot help with that.' }],
  [{ role: 'user', content: 'Tell me a joke' }, { role: 'assistant', content: 'Why did the chicken cross the road?' }],
];
const expected = classify(qguard, model, inputs.map((messages) => ({ messages }))).map((v) => v.raw);

const rssKb = (pid) => {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
  } catch {
    return 0;  // the process has exited
  }
};

const server = await startServer(qguard, ['--model', model, '--threads', '1', '--max-queue', String(maxQueue)]);
await waitReady(server.url);
const counts = {};
let sent = 0;
let answered = 0;
let connectionErrors = 0;
let rssAfterWarmup = 0;
let rssPeak = 0;
let signalled = false;
const started = Date.now();

async function worker() {
  while (sent < requests) {
    const index = sent++ % inputs.length;
    let response;
    try {
      response = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, messages: inputs[index] }),
      });
    } catch {
      // Only a stopped server may refuse or drop a connection.
      check(signalled, 'a connection error before any signal');
      connectionErrors++;
      return;
    }
    const body = await response.json().catch(() => null);
    counts[response.status] = (counts[response.status] ?? 0) + 1;
    answered++;
    if (response.status === 200) {
      check(body && body.choices[0].message.content === expected[index], `a 200 differs from the serial answer: ${JSON.stringify(body)}`);
    } else {
      check(response.status === 429 && body && body.error && body.error.code === 'queue_full', `status ${response.status}: ${JSON.stringify(body)}`);
    }
    if (answered === Math.min(100, requests)) rssAfterWarmup = rssKb(server.proc.pid);
    rssPeak = Math.max(rssPeak, rssKb(server.proc.pid));
    if (sigtermAfter && answered === sigtermAfter && !signalled) {
      signalled = true;
      server.proc.kill('SIGTERM');
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (Date.now() - started) / 1000;
const exit = signalled ? await server.exited : await server.stop();
check(exit.code === 0, `the server exits 0 (got ${JSON.stringify(exit)})`);
const logged = server.log.filter((l) => /"POST \/v1\/chat\/completions" \d+ /.test(l)).length;
check(logged === answered, `every request the server logged (${logged}) was answered to the client (${answered})`);
if (!signalled) check(answered === requests && connectionErrors === 0, `all ${requests} requests answered (${answered})`);
// Bounded memory: after warm-up RSS may grow by allocator slack, not with the number of requests.
check(rssPeak < 2 * rssAfterWarmup + 256 * 1024, `RSS peak ${rssPeak} kB after warm-up ${rssAfterWarmup} kB`);
console.log(JSON.stringify({ requests, concurrency, maxQueue, sigtermAfter, seconds, counts, answered, connectionErrors,
  rssAfterWarmupKb: rssAfterWarmup, rssPeakKb: rssPeak }));
finish();
