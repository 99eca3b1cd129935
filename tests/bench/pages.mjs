// The pages the benchmarks run beside the app, each served on an origin of its own (its own
// storage, channel and locks): the reference library's page and Conclave's driver alone on a
// bare page, each resolving to { url, close }; and a blank page on any of those origins.
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

/** The address of the blank page on the origin of `url` (served by `routeBlank`). */
export const blankOf = (url) => `${new URL(url).origin}/bench-blank`;

/**
 * Has `context` answer the blank page of `url`'s origin itself (an empty document: a page of
 * the origin with nothing of its own, to wait for locks from or to crash); resolves to its
 * address.
 */
export async function routeBlank(context, url) {
  const blank = blankOf(url);
  await context.route(blank, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>blank</title>" }),
  );
  return blank;
}
