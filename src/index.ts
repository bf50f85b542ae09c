// Public API of Auroral. See README.md and docs/architecture.md.
export { Database, type Key, type Value, type BatchOp, type Faults } from './writer/database.js';
export { open, openVolume, Volume } from './writer/volume.js';
export { Transaction } from './writer/transaction.js';
export { WriterState } from './writer/lifecycle.js';
export { Snapshot } from './writer/snapshot.js';
export type { ScanEntry, ScanOptions } from './writer/key-scan.js';
export { AuroralError, ErrorCode, isAuroralError } from './errors.js';
export { defaults, limits, type OpenOptions, type GroupCommitOptions, type MetricsOptions, type FsyncMode, type GroupCommitMode } from './config.js';
export type { DatabaseStats, NodeStatsSnapshot } from './writer/stats.js';
export type { StageStats, StageName, Distribution } from './metrics/stages.js';
export { stageNames } from './metrics/stages.js';
