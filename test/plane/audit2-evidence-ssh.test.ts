/**
 * Audit 2 of the execution plane: a JSONL evidence file that cannot be written is E_STORE_IO
 * naming the path (#6); the ssh placement's remote script probes its `timeout` before relying
 * on `-k GRACE T` (#8).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { envPreamble, stage2Script } from "../../src/plane/placements/ssh.js";
import { harness, request, scratchDir } from "./node-helpers.js";

const tempDir = scratchDir;

function thrown(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    return err as CairnError;
  }
  throw new Error("did not throw");
}

describe("JSONL evidence sink I/O errors (audit2 #6)", () => {
  it("a path that is a directory is E_STORE_IO naming the path, not E_INTERNAL", async () => {
    const dir = tempDir();
    const path = join(dir, "evidence.jsonl");
    mkdirSync(path);
    const h = harness({ complete: false });
    h.node.registerEvidenceSink(new JsonlEvidenceSink(path)).completeRegistration();
    const err = await h.node.execute(request(h)).then(
      () => null,
      (e: unknown) => e as CairnError,
    );
    expect(err).toBeInstanceOf(CairnError);
    expect(err?.toJSON()).toEqual({ code: "E_STORE_IO", message: `cannot write evidence file ${path}: EISDIR: illegal operation on a directory`, details: { path, code: "EISDIR" } });
    expect(h.lane.calls).toEqual([]); // nothing dispatched: the first record never reached the file
  });

  it("a folder that cannot be made (a file on the way) is E_STORE_IO too", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "x");
    const path = join(dir, "file", "sub", "evidence.jsonl");
    const h = harness();
    await h.node.execute(request(h));
    const record = h.sink.records[0];
    if (record === undefined) throw new Error("no evidence");
    const sink = new JsonlEvidenceSink(path);
    const err = thrown(() => sink.emit(record));
    expect(err).toBeInstanceOf(CairnError);
    expect(err.code).toBe("E_STORE_IO");
    expect(err.message).toMatch(new RegExp(`^cannot write evidence file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ENOTDIR`));
    expect(err.details).toEqual({ path, code: "ENOTDIR" });
  });
});

describe("ssh placement: the remote `timeout` is probed before it is relied on (audit2 #8)", () => {
  const launch = { command: "echo", argv: ["hi"], env: {}, clearEnv: false, timeoutMs: 5000, killGraceMs: 200 };

  function runWith(timeoutScript: string): { stdout: string; stderr: string; status: number | null; log: string } {
    const bin = tempDir();
    const log = join(bin, "log");
    writeFileSync(log, "");
    writeFileSync(join(bin, "timeout"), `#!/bin/sh\necho "$*" >> '${log}'\n${timeoutScript}\n`);
    chmodSync(join(bin, "timeout"), 0o755);
    const r = spawnSync("/bin/sh", ["-c", stage2Script(launch), "cairn-lane"], { input: envPreamble("m", {}), env: { PATH: `${bin}:/usr/bin:/bin` } });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status, log: readFileSync(log, "utf8") };
  }

  it("a timeout that refuses `-k GRACE T` (an older busybox) is not used: the command still runs, unbounded", () => {
    // busybox before -k: `timeout [-t SECS] [-s SIG] PROG ARGS`; it used to make every command fail.
    const r = runWith(`echo "timeout: unrecognized option: k" >&2; exit 1`);
    expect(r.stdout).toBe("m:started\nhi\n");
    expect(r.stderr).toBe("\nm:0\n");
    expect(r.status).toBe(0);
    expect(r.log).toBe("-k 0.200s 5.700s /bin/sh -c :\n"); // probed once, with the very same arguments
  });

  it("a timeout that accepts it bounds the command", () => {
    const r = runWith(`[ "$1" = -k ] || exit 125\nshift 3\nexec "$@"`);
    expect(r.stdout).toBe("m:started\nhi\n");
    expect(r.stderr).toBe("\nm:0\n");
    // the probe, then the command (as `command -v` resolved it: `echo` is a shell builtin)
    expect(r.log.split("\n")).toEqual(["-k 0.200s 5.700s /bin/sh -c :", expect.stringMatching(/^-k 0\.200s 5\.700s \S*echo hi$/), ""]);
  });
});
