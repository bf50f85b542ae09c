// Connection and server commands. MULTI/EXEC/DISCARD/WATCH/UNWATCH are in the table for arity
// and COMMAND; the executor (exec.ts) runs them, since they act on the queue, not the keyspace.
import { ERR_SYNTAX, globMatch, intArg, upper } from './args.js';
import { cmd, type Command, type Ctx } from './command.js';
import { CommandError } from './keyspace.js';
import { MapReply, OK, PONG, Simple, Verbatim, type Reply } from './resp.js';

export const REDIS_VERSION = '7.0.15';

function auth(c: Ctx, user: string, pass: Buffer): void {
  const want = c.srv.requirepass;
  if (want === null) {
    if (user === 'default') return; // as redis: the default user has nopass
    throw new CommandError('WRONGPASS invalid username-password pair or user is disabled.');
  }
  if (user !== 'default' || pass.toString('utf8') !== want) throw new CommandError('WRONGPASS invalid username-password pair or user is disabled.');
  c.client.authed = true;
}

function hello(c: Ctx, a: Buffer[]): Reply {
  let proto = c.client.proto;
  let j = 1;
  if (a.length >= 2) {
    const v = Number(a[1]!.toString('latin1'));
    if (!/^-?\d+$/.test(a[1]!.toString('latin1'))) throw new CommandError('ERR Protocol version is not an integer or out of range');
    if (v !== 2 && v !== 3) throw new CommandError('NOPROTO unsupported protocol version');
    proto = v;
    j = 2;
  }
  let name: string | null = null;
  for (; j < a.length; j++) {
    const o = upper(a[j]!);
    if (o === 'AUTH' && j + 2 < a.length) {
      auth(c, a[j + 1]!.toString('utf8'), a[j + 2]!);
      j += 2;
    } else if (o === 'SETNAME' && j + 1 < a.length) {
      name = checkName(a[++j]!);
    } else throw new CommandError(`ERR Syntax error in HELLO option '${a[j]!.toString('latin1')}'`);
  }
  if (c.srv.requirepass !== null && !c.client.authed) throw new CommandError('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
  if (name !== null) c.client.name = name === '' ? null : name;
  c.client.proto = proto;
  return new MapReply(['server', 'redis', 'version', REDIS_VERSION, 'proto', proto, 'id', c.client.id, 'mode', 'standalone', 'role', 'master', 'modules', []]);
}

function checkName(b: Buffer): string {
  for (const x of b) if (x < 0x21 || x > 0x7e) throw new CommandError('ERR Client names cannot contain spaces, newlines or special characters.');
  return b.toString('latin1');
}

function clientLine(c: Ctx, x: Ctx['client']): string {
  const now = Date.now();
  return `id=${x.id} addr=${x.addr} laddr=${x.laddr} fd=0 name=${x.name ?? ''} age=${Math.floor((now - x.created) / 1000)} ` +
    `idle=${Math.floor((now - x.lastInteraction) / 1000)} flags=${x.multi !== null ? 'x' : 'N'} db=0 sub=0 psub=0 ssub=0 ` +
    `multi=${x.multi === null ? -1 : x.multi.length} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=${x.outBytes()} ` +
    `tot-mem=0 events=r cmd=${x.lastCommand} user=default redir=-1 resp=${x.proto}`;
}

function client(c: Ctx, a: Buffer[]): Reply {
  const sub = upper(a[1]!);
  switch (sub) {
    case 'SETNAME':
      if (a.length !== 3) break;
      c.client.name = a[2]!.length === 0 ? null : checkName(a[2]!);
      return OK;
    case 'GETNAME':
      if (a.length !== 2) break;
      return c.client.name;
    case 'ID':
      if (a.length !== 2) break;
      return c.client.id;
    case 'INFO':
      if (a.length !== 2) break;
      return new Verbatim(`${clientLine(c, c.client)}\n`);
    case 'LIST': {
      let lines = '';
      for (const x of c.srv.clients()) lines += `${clientLine(c, x)}\n`;
      return new Verbatim(lines);
    }
    case 'SETINFO':
      if (a.length !== 4) break;
      return OK;
    case 'HELP':
      return ['CLIENT <subcommand> [<arg> ...]. Subcommands are:', 'SETNAME <name>', 'GETNAME', 'ID', 'INFO', 'LIST', 'SETINFO <attr> <value>'].map((s) => new Simple(s));
    default:
      throw new CommandError(`ERR unknown subcommand '${a[1]!.toString('latin1').slice(0, 128)}'. Try CLIENT HELP.`);
  }
  throw new CommandError(`ERR wrong number of arguments for 'client|${sub.toLowerCase()}' command`);
}

function config(c: Ctx, a: Buffer[]): Reply {
  const sub = upper(a[1]!);
  if (sub === 'GET') {
    if (a.length < 3) throw new CommandError("ERR wrong number of arguments for 'config|get' command");
    const all = c.srv.config();
    const flat: Reply[] = [];
    const seen = new Set<string>();
    for (const p of a.slice(2)) {
      const pat = p.toString('latin1').toLowerCase();
      for (const [k, v] of Object.entries(all)) if (!seen.has(k) && globMatch(pat, k)) {
        seen.add(k);
        flat.push(k, v);
      }
    }
    return new MapReply(flat);
  }
  if (sub === 'SET') throw new CommandError('ERR CONFIG SET is not supported by this server (restart it with other flags)');
  if (sub === 'RESETSTAT') {
    c.srv.commandStats.clear();
    return OK;
  }
  throw new CommandError(`ERR unknown subcommand '${a[1]!.toString('latin1').slice(0, 128)}'. Try CONFIG HELP.`);
}

export function commandInfo(x: Command): Reply {
  return [x.name, x.arity, x.flags.map((f) => new Simple(f)), x.first, x.last, x.step, [], [], [], []];
}

function command(c: Ctx, a: Buffer[], table: Map<string, Command>): Reply {
  if (a.length === 1) return [...table.values()].map(commandInfo);
  const sub = upper(a[1]!);
  if (sub === 'COUNT') return table.size;
  if (sub === 'INFO') {
    if (a.length === 2) return [...table.values()].map(commandInfo);
    return a.slice(2).map((n) => {
      const x = table.get(n.toString('latin1').toLowerCase());
      return x === undefined ? null : commandInfo(x);
    });
  }
  if (sub === 'DOCS') {
    const names = a.length === 2 ? [...table.keys()] : a.slice(2).map((n) => n.toString('latin1').toLowerCase());
    const flat: Reply[] = [];
    for (const n of names) {
      const x = table.get(n);
      if (x === undefined) continue;
      flat.push(n, new MapReply(['summary', `${n.toUpperCase()} (see redis documentation)`, 'since', '1.0.0', 'group', x.flags.includes('write') ? 'generic' : 'server']));
    }
    return new MapReply(flat);
  }
  if (sub === 'LIST') return [...table.keys()];
  throw new CommandError(`ERR unknown subcommand '${a[1]!.toString('latin1').slice(0, 128)}'. Try COMMAND HELP.`);
}

export function serverCommands(table: Map<string, Command>): Command[] {
  const queued = (): Reply => { throw new Error('run by the executor'); };
  return [
    cmd('ping', -1, 'fast stale loading', 0, 0, 0, (c, a) => {
      if (a.length > 2) throw new CommandError("ERR wrong number of arguments for 'ping' command");
      return a.length === 2 ? a[1]! : PONG;
    }),
    cmd('echo', 2, 'fast stale loading', 0, 0, 0, (c, a) => a[1]!),
    cmd('quit', -1, 'fast stale loading noauth', 0, 0, 0, (c) => {
      c.client.closeAfterReply = true;
      return OK;
    }),
    cmd('select', 2, 'fast stale loading', 0, 0, 0, (c, a) => {
      const n = intArg(a[1]!);
      if (n !== 0) throw new CommandError('ERR DB index is out of range');
      return OK;
    }),
    cmd('auth', -2, 'fast stale loading noauth', 0, 0, 0, (c, a) => {
      if (a.length > 3) throw new CommandError(ERR_SYNTAX);
      if (c.srv.requirepass === null && a.length === 2) {
        throw new CommandError('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
      }
      auth(c, a.length === 3 ? a[1]!.toString('utf8') : 'default', a[a.length - 1]!);
      return OK;
    }),
    cmd('hello', -1, 'fast stale loading noauth', 0, 0, 0, hello),
    cmd('command', -1, 'stale loading', 0, 0, 0, (c, a) => command(c, a, table)),
    cmd('info', -1, 'stale loading', 0, 0, 0, (c, a) => new Verbatim(c.srv.info(a.length > 1 ? a[1]!.toString('latin1').toLowerCase() : null, c.client))),
    cmd('client', -2, 'stale loading', 0, 0, 0, client),
    cmd('config', -2, 'admin stale loading', 0, 0, 0, config),
    cmd('time', 1, 'fast stale loading', 0, 0, 0, () => {
      const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor((performance.now() * 1000) % 1000));
      return [String(us / 1000000n), String(us % 1000000n)];
    }),
    cmd('multi', 1, 'fast loading stale', 0, 0, 0, queued),
    cmd('exec', 1, 'loading stale', 0, 0, 0, queued),
    cmd('discard', 1, 'fast loading stale', 0, 0, 0, queued),
    cmd('watch', -2, 'fast loading stale', 1, -1, 1, queued),
    cmd('unwatch', 1, 'fast loading stale', 0, 0, 0, queued),
  ];
}
