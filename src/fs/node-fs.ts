// The real file system behind the port: node:fs's synchronous calls, unchanged (storage threads
// use the sync calls on purpose: fdatasyncSync blocks only its own worker and never queues behind
// the libuv pool; see NODE-NOTES).
import * as fs from 'node:fs';
import type { FsPort } from './port.js';

export const nodeFs: FsPort = {
  openSync: (p, flags) => fs.openSync(p, flags),
  closeSync: (fd) => fs.closeSync(fd),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  writevSync: (fd, buffers, position) => fs.writevSync(fd, buffers as Uint8Array[], position),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  mkdirSync: (p, options) => fs.mkdirSync(p, options),
  readdirSync: (p) => fs.readdirSync(p),
  renameSync: (from, to) => fs.renameSync(from, to),
  rmSync: (p, options) => fs.rmSync(p, options),
  readFileSync: (p) => fs.readFileSync(p),
  statSync: (p) => fs.statSync(p),
  existsSync: (p) => fs.existsSync(p),
};
