// The keyspace from the log's records (start-up, and after a write that could not be made
// durable): every record decoded by persist.ts's layout, collections assembled, list elements
// put in position order, and keys whose TTL has passed dropped (their deletion is logged).
import { PosDeque, ZSet } from './collections.js';
import { Keyspace, T, type Entry, type KeyspaceLimits } from './keyspace.js';
import { akey, decodeAkey, Effects, Tag } from './persist.js';
import type { KeyValue } from './load.js';
import { JournalFound } from './journal.js';

export interface Rebuilt {
  ks: Keyspace;
  keys: number;
  records: number;
  expired: number;
  /** Records this layout does not know (left alone). */
  foreign: number;
  /** A journaled command's records (journal.ts): if not empty, the caller finishes it and loads again. */
  journal: JournalFound;
}

export async function rebuild(records: AsyncIterable<KeyValue>, limits: KeyspaceLimits, now: number): Promise<Rebuilt> {
  const ks = new Keyspace(limits);
  const lists = new Map<string, [number, Buffer][]>();
  const zsets = new Map<string, [string, number][]>();
  const expiry = new Map<string, { key: Buffer; at: number }>();
  let n = 0;
  let foreign = 0;
  const journal = new JournalFound();
  const entry = (id: string, key: Buffer, t: Entry['t'], make: () => Entry['v']): Entry | null => {
    const e = ks.map.get(id);
    if (e !== undefined) return e.t === t ? e : null; // two types for one key: keep the first
    const ne = { t, key: Buffer.from(key), exp: 0, v: make() } as Entry;
    ks.map.set(id, ne);
    return ne;
  };
  for await (const r of records) {
    n++;
    const d = decodeAkey(r.key);
    if (r.key[0] === 0) {
      journal.take(r); // the server's own records: the journal's, PROBE_KEY
      continue;
    }
    if (d === null) {
      foreign++;
      continue;
    }
    const id = d.key.toString('latin1');
    const value = Buffer.from(r.value);
    switch (d.tag) {
      case Tag.STRING: {
        const e = entry(id, d.key, T.STRING, () => value);
        if (e?.t === T.STRING) e.v = value;
        break;
      }
      case Tag.HASH: {
        const e = entry(id, d.key, T.HASH, () => new Map());
        if (e?.t === T.HASH) e.v.set(d.suffix.toString('latin1'), value);
        break;
      }
      case Tag.SET: {
        const e = entry(id, d.key, T.SET, () => new Set());
        if (e?.t === T.SET) e.v.add(d.suffix.toString('latin1'));
        break;
      }
      case Tag.LIST: {
        const e = entry(id, d.key, T.LIST, () => new PosDeque());
        if (e?.t === T.LIST && d.suffix.length === 8) {
          let l = lists.get(id);
          if (l === undefined) lists.set(id, (l = []));
          l.push([d.suffix.readDoubleBE(0), value]);
        }
        break;
      }
      case Tag.ZSET: {
        const e = entry(id, d.key, T.ZSET, () => new ZSet());
        if (e?.t === T.ZSET && value.length === 8) {
          let z = zsets.get(id);
          if (z === undefined) zsets.set(id, (z = []));
          z.push([d.suffix.toString('latin1'), value.readDoubleBE(0)]);
        }
        break;
      }
      case Tag.EXPIRE:
        if (value.length === 8) expiry.set(id, { key: Buffer.from(d.key), at: value.readDoubleBE(0) });
        break;
      default:
        foreign++;
    }
  }
  for (const [id, l] of lists) {
    l.sort((a, b) => a[0] - b[0]);
    const e = ks.map.get(id) as Extract<Entry, { t: 2 }>;
    for (const [p, v] of l) e.v.pushRight(p, v);
  }
  for (const [id, z] of zsets) (ks.map.get(id) as Extract<Entry, { t: 4 }>).v = ZSet.from(z);
  ks.fx = new Effects();
  let expired = 0;
  for (const [id, x] of expiry) {
    const e = ks.map.get(id);
    if (e === undefined) {
      ks.fx.del(akey(Tag.EXPIRE, x.key), id); // a TTL left without its key
      continue;
    }
    e.exp = x.at;
    if (x.at <= now) {
      ks.remove(id, e);
      expired++;
    } else {
      ks.expires.set(id, e);
    }
  }
  return { ks, keys: ks.map.size, records: n, expired, foreign, journal };
}
