// Shared by the server tests: start `qguard serve` on a free loopback port, wait until /health says
// it is loaded, stop it with a signal; run `qguard classify` (the independent CLI path) on inputs.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

export function loadOpenAI(npmDir) {
  return createRequire(path.resolve(npmDir, 'package.json'))('openai');
}

let failures = 0;
export function check(condition, what) {
  if (!condition) {
    failures++;
    console.log('FAIL:', what);
  }
}
export function finish() {
  console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
  process.exit(failures ? 1 : 0);
}

// Servers still running when this process ends (a failed check threw) are not left behind.
const running = new Set();
process.on('exit', () => running.forEach((proc) => proc.kill('SIGKILL')));

// Starts the server; resolves once it has printed its port. `log` collects its stderr lines.
export function startServer(qguard, args, env = {}) {
  const proc = spawn(qguard, ['serve', '--port', '0', ...args], { env: { ...process.env, ...env } });
  running.add(proc);
  proc.on('close', () => running.delete(proc));
  const log = [];
  // 'close' comes after the last stderr line has been read.
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let buffered = '';
    proc.stderr.on('data', (data) => {
      buffered += data.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        log.push(line);
        const match = line.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
        if (match) resolve({ proc, log, exited, url: match[1], stop: () => stop(proc, exited) });
      }
    });
    proc.on('close', (code) => reject(new Error(`qguard serve exited (${code}) before listening:\n${log.join('\n')}`)));
  });
}

async function stop(proc, exited) {
  proc.kill('SIGTERM');
  return exited;
}

// Polls /health until 200 (a bounded wait for start-up, not a timing assertion).
export async function waitReady(url, attempts = 1200) {
  for (let i = 0; i < attempts; i++) {
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never became ready`);
}

// `qguard classify` on JSON lines: one parsed output object per input.
export function classify(qguard, model, lines, extraArgs = []) {
  const stdin = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const out = execFileSync(qguard, ['classify', '--model', model, ...extraArgs], { input: stdin, maxBuffer: 1 << 26 });
  return out.toString().trim().split('\n').map((l) => JSON.parse(l));
}

// The model card's regexes (Python there), as JavaScript.
export const SAFETY = /Safety: (Safe|Unsafe|Controversial)/;
export const CATEGORY =
  /(Violent|Non-violent Illegal Acts|Sexual Content or Sexual Acts|PII|Suicide & Self-Harm|Unethical Acts|Politically Sensitive Topics|Copyright Violation|Jailbreak|None)/g;
export const REFUSAL = /Refusal: (Yes|No)/;

// What the model card's extract_label_categories_refusal() returns for a content string.
export function parseCard(content) {
  const safety = content.match(SAFETY);
  const refusal = content.match(REFUSAL);
  return {
    label: safety ? safety[1] : null,
    categories: [...content.matchAll(CATEGORY)].map((m) => m[1]),
    refusal: refusal ? refusal[1] : null,
  };
}
