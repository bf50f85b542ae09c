// The simulator's oracle: a model of what the volume must hold, checked as the run goes.
//
//   invariant                          | checked when
//   -----------------------------------+------------------------------------------------------------
//   no acknowledged write is lost       | each recovery: the recovered VDL covers every acknowledged
//                                      | LSN, and every key reads back as the model says
//   nothing above VDL is visible        | each read at R returns the newest write with LSN <= R
//   a scan at R is the model at R       | each recovery and at the end: a full scan of a node at R
//                                      | returns every live key once, with its newest value <= R
//   transactions whole or absent        | each recovery never keeps part of a transaction
//   VDL never decreases                 | each VDL advance and each recovery (below a VDL a writer
//                                      | opened at or acknowledged; a failed attach promised nothing)
//   a fenced writer never collects an   | each acknowledgement: the write must still be on the volume
//   acknowledgement                     | (not cut off by a recovery)
//   nodes converge                      | at the end (world.ts): same frames, same values
import type { KeyRead } from '../node/core.js';

export interface SimWrite {
  key: string;
  /** null = delete. */
  value: Uint8Array | null;
  lsn: number;
  txn: number;
  epoch: number;
}

export class Oracle {
  readonly violations: string[] = [];
  /** Per key, the writes that are (or may still become) part of the volume, ascending LSN. */
  private readonly byKey = new Map<string, SimWrite[]>();
  /** Writes a recovery cut off (or a fenced writer issued): never part of the volume. */
  private readonly cut = new Set<SimWrite>();
  /** Transactions not yet known durable: each recovery must keep all or none of each. */
  private unsettled: SimWrite[][] = [];
  private ackedMax = 0;
  private vdlMax = 0;

  violation(why: string): void {
    if (this.violations.length < 20) this.violations.push(why);
  }

  issued(writes: SimWrite[], zombie: boolean): void {
    if (zombie) {
      for (const w of writes) this.cut.add(w); // a fenced writer's writes can never join the volume
      return;
    }
    for (const w of writes) {
      let list = this.byKey.get(w.key);
      if (list === undefined) this.byKey.set(w.key, (list = []));
      const last = list[list.length - 1];
      if (last !== undefined && last.lsn >= w.lsn) this.violation(`LSN ${w.lsn} of ${w.key} issued after LSN ${last.lsn}: LSNs reused`);
      list.push(w);
    }
    this.unsettled.push(writes);
  }

  acknowledged(writes: SimWrite[], zombie: boolean): void {
    for (const w of writes) {
      if (this.cut.has(w)) {
        this.violation(`${zombie ? 'a fenced (stale) writer' : 'the writer'} acknowledged LSN ${w.lsn} (${w.key}, epoch ${w.epoch}), which is not on the volume`);
      }
      this.ackedMax = Math.max(this.ackedMax, w.lsn);
    }
  }

  vdlAdvanced(vdl: number, zombie: boolean, epoch: number): void {
    if (zombie) return;
    if (vdl < this.vdlMax) this.violation(`VDL went back from ${this.vdlMax} to ${vdl} (epoch ${epoch})`);
    this.vdlMax = Math.max(this.vdlMax, vdl);
    this.unsettled = this.unsettled.filter((t) => t[t.length - 1]!.lsn > this.vdlMax);
  }

  /**
   * A recovery recorded its cut at `vdl` (volume.json). Its writer has not opened yet: if the attach
   * fails (too few nodes reach VDL in time, a crash meanwhile), a later recovery may keep less —
   * nothing above the last VDL a writer opened at or acknowledged was ever promised — so the
   * floor VDL must respect is raised only by opened() and by acknowledgements.
   */
  recovered(vdl: number, epoch: number): void {
    if (vdl < this.ackedMax) this.violation(`recovery at epoch ${epoch} kept VDL ${vdl}, below acknowledged LSN ${this.ackedMax}: acknowledged writes lost`);
    if (vdl < this.vdlMax) this.violation(`recovery at epoch ${epoch} kept VDL ${vdl}, below the VDL ${this.vdlMax} reached before`);
    for (const t of this.unsettled) {
      const kept = t.filter((w) => w.lsn <= vdl && !this.cut.has(w)).length;
      if (kept !== 0 && kept !== t.length) this.violation(`recovery at epoch ${epoch} (VDL ${vdl}) kept ${kept} of the ${t.length} writes of transaction ${t[0]!.txn}`);
    }
    for (const list of this.byKey.values()) {
      while (list.length > 0 && list[list.length - 1]!.lsn > vdl) this.cut.add(list.pop()!);
    }
    this.unsettled = this.unsettled.filter((t) => !this.cut.has(t[t.length - 1]!)); // wholly cut: settled
  }

  /** A writer opened at the recovered `vdl` (a write quorum holds it): from now on it is the floor. */
  opened(vdl: number): void {
    this.vdlMax = Math.max(this.vdlMax, vdl);
    this.unsettled = this.unsettled.filter((t) => t[t.length - 1]!.lsn > vdl);
  }

  /** The newest write of `key` with LSN <= readPoint, as the volume must return it. */
  expected(key: string, readPoint: number): SimWrite | undefined {
    const list = this.byKey.get(key);
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.lsn <= readPoint) return list[i];
    return undefined;
  }

  checkRead(where: string, key: string, readPoint: number, got: KeyRead): void {
    const want = this.expected(key, readPoint);
    const show = (r: { lsn: number; value: Uint8Array | null } | undefined) =>
      (r === undefined ? 'nothing' : `LSN ${r.lsn} ${r.value === null ? '(deleted)' : `${r.value.length} bytes`}`);
    const gotShown = got.found ? show(got) : 'nothing';
    if (got.found && got.lsn > readPoint) return this.violation(`${where}: read of ${key} at ${readPoint} saw LSN ${got.lsn}, above the read point`);
    if (want === undefined) {
      if (got.found && got.value !== null) this.violation(`${where}: read of ${key} at ${readPoint} returned ${gotShown}, expected nothing`);
      return;
    }
    const same = got.found && got.lsn === want.lsn &&
      (want.value === null ? got.value === null : got.value !== null && Buffer.compare(got.value, want.value) === 0);
    if (!same && !(want.value === null && !got.found)) {
      this.violation(`${where}: read of ${key} at ${readPoint} returned ${gotShown}, expected ${show(want)}`);
    }
  }

  /** A full scan of one node at `readPoint` (sim/scan-check.ts): exactly the keys live at R, each once, each with its newest value. */
  checkScan(where: string, readPoint: number, got: ReadonlyMap<string, Uint8Array>, duplicates: readonly string[]): void {
    if (duplicates.length > 0) return this.violation(`${where}: scan at ${readPoint} returned ${duplicates[0]} more than once`);
    for (const key of got.keys()) {
      if (!this.byKey.has(key)) return this.violation(`${where}: scan at ${readPoint} returned ${key}, never written`);
    }
    for (const key of this.byKey.keys()) {
      const want = this.expected(key, readPoint);
      const value = got.get(key);
      if (want === undefined || want.value === null) {
        if (value !== undefined) this.violation(`${where}: scan at ${readPoint} returned ${key} (${value.length} bytes), which is ${want === undefined ? 'not written' : 'deleted'} at that point`);
      } else if (value === undefined) {
        this.violation(`${where}: scan at ${readPoint} missed ${key} (LSN ${want.lsn}, ${want.value.length} bytes)`);
      } else if (Buffer.compare(value, want.value) !== 0) {
        this.violation(`${where}: scan at ${readPoint} returned ${key} with other bytes than LSN ${want.lsn}'s`);
      }
    }
  }
}
