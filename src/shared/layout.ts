// A fingerprint of everything the writer and its workers must agree on (record and frame layout,
// shared-memory layout, stats blocks). Workers run from dist/ while a test or script may run the
// writer from src/: after an edit without `npm run build`, the two would disagree silently (frames
// misread as corrupt, stats blocks of the wrong size). A worker compares the fingerprint it was
// given with its own and refuses to start, saying why.
import { RECORD_HEADER_BYTES } from '../log/record.js';
import { FRAME_VERSION } from '../log/frame.js';
import { CONTROL_BYTES, gcStatKeys, nodeStatKeys } from './control.js';
import { IMAGE_HEADER_BYTES } from '../node/blocks.js';
import { StageTrace } from '../metrics/trace.js';

export const LAYOUT_FINGERPRINT = [
  `record:${RECORD_HEADER_BYTES}`, `frame:${FRAME_VERSION}`, `image:${IMAGE_HEADER_BYTES}`, `control:${CONTROL_BYTES}`,
  `node-stats:${nodeStatKeys.join(',')}`, `trace:${StageTrace.bytes(6)}`, `gc-stats:${gcStatKeys.join(',')}`,
].join('|');

export function checkLayout(theirs: string, who: string): void {
  if (theirs !== LAYOUT_FINGERPRINT) {
    throw new Error(`${who}: its code does not match the writer's (layout fingerprint differs): dist/ is out of ` +
      `date with the code that opened the volume; run \`npm run build\``);
  }
}
