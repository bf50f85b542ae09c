// Goal: one volume, one open at a time. Two opens of one directory would run two sets of storage
// nodes over the same hot logs; the second open must fail with VOLUME_LOCKED naming the holder, a
// lock left by a killed process must not block the next open, and the lock must go away on close
// and on every failed open.
// Method: real opens of small volumes; the other holder is a child process running dist/, killed
// with SIGKILL; a lock file naming a process that has exited.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, openVolume, isAuroralError, type OpenOptions } from '../src/index.js';
import { smallOptions, tempDir, text } from './helpers.js';

const LOCK_FILE = 'volume.lock';
const distIndex = new URL('../dist/index.js', import.meta.url).href;

function lockHolderPid(dir: string): number | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid;
  } catch {
    return null;
  }
}

/** A child process that opens the volume, writes one key, says 'ready' and waits to be killed. */
async function startHolder(options: OpenOptions): Promise<ChildProcess> {
  const script = `import { open } from ${JSON.stringify(distIndex)};
const db = await open(${JSON.stringify(options)});
await db.put('from-child', 'yes');
process.stdout.write('ready\\n');
setInterval(() => {}, 1 << 30);`;
  // A file, not --input-type=module -e: worker threads inherit execArgv and would choke on it.
  const file = path.join(tempDir(), 'holder.mjs');
  fs.writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the holder exited with ${code} before it was ready`)));
  });
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('volume lock', () => {
  it('refuses a second open of one volume in the same process, also through a symlink, until the first closes', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    try {
      expect(lockHolderPid(dir)).toBe(process.pid);
      const second = await open(smallOptions(dir)).then(() => 'opened', (e: unknown) => e);
      expect(isAuroralError(second, 'VOLUME_LOCKED')).toBe(true);
      expect(second).toMatchObject({ details: { pid: process.pid, thisProcess: true } });
      const link = path.join(tempDir(), 'same-volume');
      fs.symlinkSync(dir, link);
      await expect(openVolume(smallOptions(link))).rejects.toMatchObject({ code: 'VOLUME_LOCKED' });
      await db.put('k', 'v'); // the first open is unharmed
    } finally {
      await db.close();
    }
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    const again = await open(smallOptions(dir));
    try {
      expect(text(await again.get('k'))).toBe('v');
    } finally {
      await again.close();
    }
  });

  it('refuses an open while another process holds the volume, and takes over once that process was killed', async () => {
    const dir = tempDir();
    const child = await startHolder(smallOptions(dir));
    try {
      const r = await open(smallOptions(dir)).then(() => 'opened', (e: unknown) => e);
      expect(isAuroralError(r, 'VOLUME_LOCKED')).toBe(true);
      expect(r).toMatchObject({ details: { pid: child.pid, hostname: os.hostname(), thisProcess: false } });
      expect((r as Error).message).toContain(`pid ${child.pid}`);
    } finally {
      await killed(child);
    }
    const db = await open(smallOptions(dir));
    try {
      expect(lockHolderPid(dir)).toBe(process.pid);
      expect(text(await db.get('from-child'))).toBe('yes');
    } finally {
      await db.close();
    }
  });

  it('opens over a lock file left by a process that no longer exists', async () => {
    const dir = tempDir();
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => gone.once('exit', r));
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: gone.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), nonce: 'dead' }));
    const db = await open(smallOptions(dir));
    try {
      expect(lockHolderPid(dir)).toBe(process.pid);
    } finally {
      await db.close();
    }
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('of several processes finding one stale lock, exactly one takes it over', async () => {
    // Method: four processes take the lock itself (no nodes) at the same moment, over a lock file
    // of a process that has exited; the winner holds it for a while, so every other must be refused.
    const dir = tempDir();
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => gone.once('exit', r));
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: gone.pid, hostname: os.hostname(), startedAt: 'then', nonce: 'dead' }));
    const lockModule = new URL('../dist/writer/volume-lock.js', import.meta.url).href;
    const script = path.join(tempDir(), 'take.mjs');
    fs.writeFileSync(script, `import { VolumeLock } from ${JSON.stringify(lockModule)};
const go = Number(process.argv[2]);
while (Date.now() < go) {}
try {
  const lock = await VolumeLock.acquire(${JSON.stringify(dir)});
  await new Promise((r) => setTimeout(r, 3000));
  lock.release();
  process.stdout.write('took');
} catch (e) {
  process.stdout.write(e.code ?? String(e));
}`);
    const go = Date.now() + 2000; // all start together (a wall-clock rendezvous, not an assertion)
    const outs = await Promise.all(Array.from({ length: 4 }, () => new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [script, String(go)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', () => resolve(out));
    })));
    expect(outs.filter((o) => o === 'took')).toHaveLength(1);
    expect(outs.filter((o) => o === 'VOLUME_LOCKED')).toHaveLength(3);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith(LOCK_FILE))).toEqual([]);
  });

  it('releases the lock after a failed open', async () => {
    const dir = tempDir();
    const db = await open(smallOptions(dir));
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(true);
    await db.close();
    // The volume was created with the default pageCount: another one is refused (VOLUME_MISMATCH).
    await expect(open(smallOptions(dir, { pageCount: 64 }))).rejects.toMatchObject({ code: 'VOLUME_MISMATCH' });
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    // A volume.json that is not JSON fails the open later, after the lock was taken.
    const broken = tempDir();
    fs.writeFileSync(path.join(broken, 'volume.json'), '{ not json');
    await expect(open(smallOptions(broken))).rejects.toThrow();
    expect(fs.existsSync(path.join(broken, LOCK_FILE))).toBe(false);
    const again = await open(smallOptions(dir));
    await again.close();
  });
});
