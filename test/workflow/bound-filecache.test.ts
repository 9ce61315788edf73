/**
 * The file cache counts derived values against FILE_CACHE_MAX_BYTES (filecache.ts
 * `Derivation.retainedBytes`): the registry state's estimate (registry.ts
 * `REGISTRY_STATE_BYTES_PER_FILE_BYTE`, `REGISTRY_STATE_BYTES_PER_RECORD`), eviction of older
 * entries for a derived value, and a value too large for the cache not kept.
 */
import { lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync, type BigIntStats } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cachedDerived, FILE_CACHE_MAX_BYTES, fileCacheUsage, forget, remember, type Derivation } from "../../src/workflow/effects/filecache.js";
import { createEffectContext, REGISTRY_RUNTIME } from "../../src/workflow/effects/index.js";
import { REGISTRY_STATE, REGISTRY_STATE_BYTES_PER_FILE_BYTE, REGISTRY_STATE_BYTES_PER_RECORD } from "../../src/workflow/effects/registry.js";
import { dict } from "./py-literal.js";

const MiB = 1024 * 1024;
const used: string[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of used.splice(0)) forget(p);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let ino = 900_000n;
/** A path of its own and the identity of a regular file of `size` bytes there. */
function fakeFile(size: number): { path: string; st: BigIntStats } {
  const st = lstatSync("/", { bigint: true });
  const n = ++ino;
  const path = `/cairn-bound-filecache/${process.pid}/${n}`;
  used.push(path);
  const fake = Object.assign(Object.create(Object.getPrototypeOf(st) as object) as BigIntStats, st, {
    isFile: () => true, dev: 7n, ino: n, size: BigInt(size), mtimeNs: 1n, ctimeNs: 1n, birthtimeNs: 1n,
  });
  return { path, st: fake };
}

/** A derivation whose value is said to hold `retained` bytes; counts its computations. */
function weighing(retained: number): Derivation<number> & { computed: number } {
  const d = {
    computed: 0,
    of(bytes: Buffer) {
      d.computed++;
      return bytes.length;
    },
    extend: () => undefined,
    retainedBytes: () => retained,
  };
  return d;
}

describe("file cache: derived values count against FILE_CACHE_MAX_BYTES", () => {
  it("an entry holds its bytes plus its derived values' estimates", () => {
    const d = weighing(5 * MiB);
    const { path, st } = fakeFile(1000);
    const before = fileCacheUsage().bytes;
    remember(path, st, Buffer.alloc(1000));
    expect(fileCacheUsage().bytes - before).toBe(1000);
    expect(cachedDerived(path, st, d)).toBe(1000);
    expect(fileCacheUsage().bytes - before).toBe(1000 + 5 * MiB);
    expect(cachedDerived(path, st, d)).toBe(1000);
    expect(d.computed).toBe(1); // kept
    forget(path);
    expect(fileCacheUsage().bytes).toBe(before);
  });

  it("older entries go first to make room for a derived value; the bound holds", () => {
    const d = weighing(20 * MiB);
    const files = Array.from({ length: 6 }, () => fakeFile(1024));
    for (const f of files) {
      remember(f.path, f.st, Buffer.alloc(1024));
      cachedDerived(f.path, f.st, d);
      expect(fileCacheUsage().bytes).toBeLessThanOrEqual(FILE_CACHE_MAX_BYTES);
    }
    expect(d.computed).toBe(6);
    // the newest entries kept their values, the oldest were evicted
    const last = files[5] as { path: string; st: BigIntStats };
    expect(cachedDerived(last.path, last.st, d)).toBe(1024);
    expect(d.computed).toBe(6);
    const first = files[0] as { path: string; st: BigIntStats };
    expect(cachedDerived(first.path, first.st, d)).toBeUndefined(); // its entry is gone
  });

  it("a derived value larger than the whole cache is returned but not kept", () => {
    const d = weighing(FILE_CACHE_MAX_BYTES + 1);
    const { path, st } = fakeFile(10);
    remember(path, st, Buffer.alloc(10));
    expect(cachedDerived(path, st, d)).toBe(10);
    expect(cachedDerived(path, st, d)).toBe(10);
    expect(d.computed).toBe(2);
    expect(fileCacheUsage().bytes).toBeLessThanOrEqual(FILE_CACHE_MAX_BYTES);
  });

  it("a registry read through the CS runtime counts its rebuilt state: 3 bytes per file byte + 300 per record", () => {
    const root = mkdtempSync(join(tmpdir(), "cairn-bound-fc-"));
    dirs.push(root);
    mkdirSync(join(root, "r"));
    const records = 5000;
    const text = Array.from({ length: records }, (_, i) => `{"key": "k${i}", "address": "ADDR_${String(i).padStart(32, "0")}", "a": 1}\n`).join("");
    writeFileSync(join(root, "r/reg.jsonl"), text);
    used.push(realpathSync(join(root, "r/reg.jsonl")));
    const size = Buffer.byteLength(text);
    expect(REGISTRY_STATE_BYTES_PER_FILE_BYTE).toBe(3);
    expect(REGISTRY_STATE_BYTES_PER_RECORD).toBe(300);
    const before = fileCacheUsage().bytes;
    const r = REGISTRY_RUNTIME.execute({ op: "RESOLVE", payload: dict({ key_or_address: "k7" }), config: dict({ path: `${root}/r/reg.jsonl` }), metadata: new Map([["capability", new Map()]]) }, createEffectContext({ dataRoot: root, traceId: "T" }));
    expect(r.outcome).toBe("SUCCESS");
    expect(fileCacheUsage().bytes - before).toBe(size + 3 * size + 300 * records);
    const loaded = REGISTRY_STATE.of(Buffer.from(text));
    expect(REGISTRY_STATE.retainedBytes?.(loaded, size)).toBe(3 * size + 300 * records);
  });
});
