import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteRegistry } from "../../../src/adapters/sqlite/registry.js";
import { DataDirLock } from "../../../src/data-dir-lock.js";
import { everything, seedEverything } from "../../contracts/registry/copy-fixtures.js";
import { makeTempDir } from "../../helpers/certs.js";
import { killChildren, runCli } from "../../helpers/cli.js";

const tmp = makeTempDir("fleetgate-cli-copy-");
afterAll(async () => {
  await killChildren();
  tmp.remove();
});

/** `fleetgate registry copy` between two SQLite files: its flags, its refusals, and a copy that works. */
describe("CLI: registry copy", { timeout: 60_000 }, () => {
  const data = { dataDir: tmp.dir };
  const copy = (...args: string[]) => runCli(data, ["registry", "copy", ...args]);

  it("refuses bad flags with exit 2 and creates nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["--from", "sqlite:"], /--from and --to are both required/],
      [["--from", "mysql://db/x", "--to", "sqlite:b.db"], /expected sqlite:PATH or postgres:\/\//],
      [["--from", "sqlite:", "--to", "postgres://u:secret@127.0.0.1/test"], /no password in the URL/],
      [["--from", "sqlite:", "--to", "sqlite:b.db", "--page-size", "0"], /--page-size must be a positive integer/],
      [["--from", "sqlite:missing.db", "--to", "sqlite:b.db"], /there is no registry at sqlite:missing.db/],
    ];
    for (const [args, message] of cases) {
      const result = await copy(...args);
      expect([result.code, result.stderr], args.join(" ")).toEqual([2, expect.stringMatching(message)]);
    }
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it("copies one SQLite registry into a new one, and refuses to copy into it twice", async () => {
    const source = SqliteRegistry.open(join(tmp.dir, "a.db"));
    await seedEverything(source);
    const expected = await everything(source);
    await source.close();
    const first = await copy("--from", "sqlite:a.db", "--to", "sqlite:b.db", "--page-size", "3", "--json");
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ copied: expected.counts, auditHead: expected.head });
    const copied = SqliteRegistry.open(join(tmp.dir, "b.db"));
    expect(await everything(copied)).toEqual(expected);
    await copied.close();
    const again = await copy("--from", "sqlite:a.db", "--to", "sqlite:b.db");
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /registry_not_empty: the destination registry already holds 4 devices, 4 certificates/,
    );
    // The serve lock was taken for the copy and released with it: a server may start now.
    expect(existsSync(DataDirLock.file(tmp.dir, "serve"))).toBe(true);
    DataDirLock.acquire(tmp.dir).release();
  });
});
