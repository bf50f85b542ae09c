// Quorum tracking: from each node's SCL, the volume complete LSN (VCL) is the highest LSN that at
// least writeQuorum nodes hold with no holes: the writeQuorum-th largest SCL.
//
// VDL is the highest MTR end (CPL) <= VCL. Frames never split an MTR, so every frame ends at a CPL,
// and an SCL is always a frame end; hence VCL is itself a CPL and VDL = VCL. VDL only moves
// forward: an SCL that goes down (a node restarted with less) never takes back an acknowledgement.
import { assert, fail } from '../assert.js';

export function kthLargest(values: readonly number[], k: number): number {
  if (!(k >= 1 && k <= values.length)) fail(`k=${k} out of range for ${values.length} values`);
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[k - 1]!;
}

export class QuorumTracker {
  readonly scl: number[];
  private readonly writeQuorum: number;
  private vdlValue: number;

  constructor(nodes: number, writeQuorum: number, vdlStart: number) {
    assert(writeQuorum >= 1 && writeQuorum <= nodes, 'writeQuorum out of range');
    this.scl = new Array<number>(nodes).fill(vdlStart);
    this.writeQuorum = writeQuorum;
    this.vdlValue = vdlStart;
  }

  /** Records node `i`'s SCL. Returns true if VDL advanced. */
  update(i: number, scl: number): boolean {
    this.scl[i] = scl;
    const vcl = kthLargest(this.scl, this.writeQuorum);
    if (vcl > this.vdlValue) {
      this.vdlValue = vcl;
      return true;
    }
    return false;
  }

  get vdl(): number {
    return this.vdlValue;
  }
}
