// The few bytes of PostgreSQL's wire protocol (v3) the recovery benchmark needs: connect over TCP
// with trust authentication, run one simple query, return its rows as text. A psql process per
// attempt costs ~70 ms here, which would blur "the first query answered" by as much; this costs ~1 ms.
import * as net from 'node:net';

export interface PgAddress { host: string; port: number; user: string; database: string }

/** Bounds on what one answer may hold (the benchmark's queries return one short row). */
const MESSAGE_BYTES_MAX = 1 << 20;

export class PgWireError extends Error {}

/** Runs `sql` on a new connection; → its rows (text columns, null for NULL). Rejects with the server's message. */
export function pgQuery(a: PgAddress, sql: string, timeoutMs = 10_000): Promise<(string | null)[][]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: a.host, port: a.port });
    const rows: (string | null)[][] = [];
    let buf = Buffer.alloc(0);
    let error: string | null = null;
    let queried = false;
    const finish = (e: Error | null): void => {
      clearTimeout(timer);
      socket.destroy();
      if (e !== null) reject(e);
      else resolve(rows);
    };
    const timer = setTimeout(() => finish(new PgWireError(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (e) => finish(new PgWireError(e.message)));
    socket.once('close', () => finish(new PgWireError(error ?? 'connection closed')));
    socket.once('connect', () => {
      const params = Buffer.from(`user\0${a.user}\0database\0${a.database}\0\0`);
      const head = Buffer.alloc(8);
      head.writeInt32BE(8 + params.length, 0);
      head.writeInt32BE(196608, 4); // protocol 3.0
      socket.write(Buffer.concat([head, params]));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        if (len < 4 || len > MESSAGE_BYTES_MAX) return finish(new PgWireError(`bad message length ${len}`));
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]!);
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        switch (type) {
          case 'R':
            if (body.readInt32BE(0) !== 0) return finish(new PgWireError(`authentication method ${body.readInt32BE(0)} asked; the cluster must trust local TCP`));
            break;
          case 'E':
            error = errorText(body);
            break;
          case 'D': {
            const row: (string | null)[] = [];
            let at = 2;
            for (let i = body.readInt16BE(0); i > 0; i--) {
              const n = body.readInt32BE(at);
              at += 4;
              row.push(n < 0 ? null : body.subarray(at, at + n).toString('utf8'));
              at += Math.max(n, 0);
            }
            rows.push(row);
            break;
          }
          case 'Z': // ready for query: after the start-up, or after the query's answer
            if (error !== null) return finish(new PgWireError(error));
            if (queried) {
              socket.end(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
              return finish(null);
            }
            queried = true;
            socket.write(Buffer.concat([Buffer.from('Q'), int32(4 + Buffer.byteLength(sql) + 1), Buffer.from(`${sql}\0`)]));
            break;
          default: // S, K, T, C, N: parameters, key data, row description, completion, notices
        }
      }
    });
  });
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

/** An ErrorResponse's severity and message fields. */
function errorText(body: Buffer): string {
  const fields = new Map<string, string>();
  for (let at = 0; at < body.length && body[at] !== 0;) {
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(String.fromCharCode(body[at]!), body.subarray(at + 1, end).toString('utf8'));
    at = end + 1;
  }
  return `${fields.get('S') ?? 'ERROR'}: ${fields.get('M') ?? 'unknown error'}`;
}
