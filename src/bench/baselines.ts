// Single-file baselines for the write benchmark, measured in the same run as Auroral:
//   (a) one append + fdatasync per put, each awaited before the next (no batching at all);
//   (b) naive group commit: every put in flight joins the next append, one fdatasync for all.
// Both append to one file on the main thread with synchronous calls, the cheapest form Node has.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PutTarget } from '../cli/workload.js';

function record(key: Uint8Array, value: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + key.length + value.length);
  new DataView(b.buffer).setUint32(0, key.length + value.length, true);
  b.set(key, 8);
  b.set(value, 8 + key.length);
  return b;
}

export class FsyncPerPut implements PutTarget {
  private readonly fd: number;
  syncs = 0;
  constructor(dir: string) {
    this.fd = fs.openSync(path.join(dir, 'baseline-a.log'), 'a');
  }
  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    fs.writeSync(this.fd, record(key, value));
    fs.fdatasyncSync(this.fd);
    this.syncs++;
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

export class NaiveGroupCommit implements PutTarget {
  private readonly fd: number;
  private queue: { rec: Uint8Array; resolve: () => void }[] = [];
  private scheduled = false;
  syncs = 0;
  records = 0;
  constructor(dir: string) {
    this.fd = fs.openSync(path.join(dir, 'baseline-b.log'), 'a');
  }
  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ rec: record(key, value), resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush()); // let every put issued in this turn join the group
      }
    });
  }
  private flush(): void {
    const group = this.queue;
    this.queue = [];
    this.scheduled = false;
    fs.writevSync(this.fd, group.map((g) => g.rec));
    fs.fdatasyncSync(this.fd);
    this.syncs++;
    this.records += group.length;
    for (const g of group) g.resolve();
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}
