import { hashPassword, MAX_PASSWORD_LENGTH } from '../core/password.js';
import { EXIT_CONFIG, fail } from './fail.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** `portcullis hash-password`: read a password on stdin, print its hash. */
export async function hashPasswordCommand(): Promise<void> {
  if (process.stdin.isTTY) process.stderr.write('Password (then Enter and Ctrl-D): ');
  const input = (await readStdin()).replace(/\r?\n$/, '');
  if (input.length === 0) fail('portcullis hash-password: empty password', EXIT_CONFIG);
  if (input.length > MAX_PASSWORD_LENGTH)
    fail(`portcullis hash-password: longer than ${MAX_PASSWORD_LENGTH} characters`, EXIT_CONFIG);
  process.stdout.write(`${await hashPassword(input)}\n`);
}
