// A worker thread that does nothing but say it is up: bench:recovery's floor for thread start-up.
import { parentPort } from 'node:worker_threads';

parentPort!.postMessage(0);
