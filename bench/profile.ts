/**
 * @module Reads the `.cpuprofile` files that `node --cpu-prof` wrote (one per thread) and
 * names the hot spots: self time by function and by area (switchyard's own code, undici,
 * Node's HTTP server, streams and sockets, garbage collection).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { table } from './report.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  readonly name: string;
  readonly where: string;
  readonly area: string;
  readonly selfMs: number;
  /** Of all busy (non-idle) time in the profiles read. */
  readonly share: number;
}

export interface AreaTime {
  readonly area: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly files: number;
  readonly busyMs: number;
  readonly functions: readonly HotSpot[];
  /** Self time by where the sampled function lives. */
  readonly areas: readonly AreaTime[];
  /** Each sample charged to the nearest caller that is a layer of the relay (switchyard,
   * undici, node:http), so that a socket write counts for the layer that asked for it. */
  readonly layers: readonly AreaTime[];
}

/** Summarises every profile in `dir`; `top` functions by self time. */
export function summariseProfiles(dir: string, top = 15): ProfileSummary {
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
  const byFunction = new Map<string, { name: string; where: string; area: string; selfMs: number }>();
  const byArea = new Map<string, number>();
  const byLayer = new Map<string, number>();
  let busyMs = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    const layerOf = (leaf: ProfileNode): string => {
      for (let id: number | undefined = leaf.id; id !== undefined; id = parents.get(id)) {
        const frame = nodes.get(id)?.callFrame;
        const layer = frame && LAYERS.find(([, test]) => test(frame.url));
        if (layer) return layer[0];
      }
      return areaOf(leaf.callFrame.functionName, leaf.callFrame.url);
    };
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i] ?? -1);
      // Each delta is the time since the previous sample: it belongs to this one.
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      if (!node || node.callFrame.functionName === '(idle)' || ms <= 0) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const name = functionName || '(anonymous)';
      const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
      const key = `${name} ${where}`;
      const area = areaOf(name, url);
      const entry = byFunction.get(key) ?? { name, where, area, selfMs: 0 };
      entry.selfMs += ms;
      byFunction.set(key, entry);
      byArea.set(area, (byArea.get(area) ?? 0) + ms);
      const layer = layerOf(node);
      byLayer.set(layer, (byLayer.get(layer) ?? 0) + ms);
      busyMs += ms;
    }
  }
  const share = (ms: number): number => ms / Math.max(1e-9, busyMs);
  return {
    files: files.length,
    busyMs,
    functions: [...byFunction.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((entry) => ({ ...entry, share: share(entry.selfMs) })),
    areas: ranked(byArea, share),
    layers: ranked(byLayer, share),
  };
}

function ranked(times: Map<string, number>, share: (ms: number) => number): AreaTime[] {
  return [...times.entries()].sort((a, b) => b[1] - a[1]).map(([area, ms]) => ({ area, ms, share: share(ms) }));
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) return url.slice(modules + '/node_modules/'.length);
  const src = url.lastIndexOf('/src/');
  if (url.startsWith('file:') && src !== -1) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/** Native functions that write to a socket: their time includes the write syscall (and,
 * on a busy machine, time the thread was preempted in it). */
const SOCKET_WRITES = new Set(['writev', 'writeLatin1String', 'writeUtf8String', 'writeBuffer', 'writeAsciiString']);

const SRC = 'switchyard src/';
const UNDICI = 'undici (upstream client)';
const HTTP = "node:http (the listener's server)";

/** The relay's layers, innermost first as found walking up from a sample. */
const LAYERS: ReadonlyArray<readonly [string, (url: string) => boolean]> = [
  [UNDICI, (url) => url.includes('/node_modules/undici/')],
  [HTTP, (url) => /^node:(_http_|http)/.test(url)],
  [SRC, (url) => url.startsWith('file:') && url.includes('/src/')],
];

function areaOf(name: string, url: string): string {
  if (SOCKET_WRITES.has(name)) return 'socket writes (native; the syscall included)';
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)' || name === '(root)') return 'native, outside JS (syscalls, libuv, V8)';
  if (url.includes('/node_modules/undici/')) return UNDICI;
  if (url.includes('/node_modules/')) return 'other packages';
  if (url.startsWith('file:') && url.includes('/src/')) return SRC;
  if (/^node:(_http_|http)/.test(url)) return HTTP;
  if (/^node:(net|stream|internal\/streams|internal\/stream_base|internal\/net)/.test(url)) return 'node: sockets and streams';
  if (url.startsWith('node:')) return 'node: other internals';
  if (url === '') return 'other native code (V8, Node C++)';
  return 'other';
}

export function profileTable(summary: ProfileSummary): string {
  const rows = (times: readonly AreaTime[]): string[][] => times.map((a) => [a.area, a.ms.toFixed(0), `${(a.share * 100).toFixed(1)}%`]);
  const layers = table(['charged to the layer that asked for it', 'ms', 'share'], rows(summary.layers));
  const areas = table(['self time, by where the code lives', 'ms', 'share'], rows(summary.areas));
  const functions = table(
    ['function', 'where', 'self ms', 'share'],
    summary.functions.map((f) => [f.name, f.where || '(native)', f.selfMs.toFixed(0), `${(f.share * 100).toFixed(1)}%`]),
    ['left', 'left', 'right', 'right'],
  );
  return [layers, '', areas, '', functions].join('\n');
}
