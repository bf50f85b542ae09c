// Where a storage node keeps its files inside the volume directory.
import * as path from 'node:path';

export function nodeDir(dir: string, node: number): string {
  return path.join(dir, `node-${node}`);
}

export function nodeLogDir(dir: string, node: number): string {
  return path.join(nodeDir(dir, node), 'log');
}
