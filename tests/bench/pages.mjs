// The pages the benchmarks run beside the app, each served on an origin of its own (its own
// storage, channel and locks): the reference library's page and Conclave's driver alone on a
// bare page. Each resolves to { url, close }.
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { serve } from "../e2e/server.mjs";

/** The reference's page (reference/), bundled by esbuild into a temporary directory. */
export async function serveReference() {
  const dir = await mkdtemp(join(tmpdir(), "conclave-reference-"));
  const source = (file) => fileURLToPath(new URL(`reference/${file}`, import.meta.url));
  await build({
    entryPoints: [source("page.mjs")],
    bundle: true,
    format: "esm",
    platform: "browser",
    outfile: join(dir, "page.js"),
    logLevel: "warning",
  });
  await copyFile(source("index.html"), join(dir, "index.html"));
  const server = await serve(dir);
  return {
    url: server.url,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The bare page's release build (bare/; scripts/bench.sh builds it into target/bench-bare). */
export async function serveBare() {
  const dir = fileURLToPath(new URL("../../target/bench-bare", import.meta.url));
  if (!existsSync(join(dir, "index.html"))) {
    throw new Error(`no build of the bare page in ${dir}: trunk build tests/bench/bare/index.html --release true --dist target/bench-bare`);
  }
  return serve(dir);
}
