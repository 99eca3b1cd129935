// Trunk post-build hook: moves the inline module script Trunk writes into index.html out to a
// file of its own, so that the page runs under `script-src 'self' 'wasm-unsafe-eval'` with no
// 'unsafe-inline', no hash and no static nonce. Fails the build if any inline script remains.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) {
  console.error("externalize-loader: TRUNK_STAGING_DIR is not set (run me as a Trunk hook)");
  process.exit(1);
}
const publicUrl = process.env.TRUNK_PUBLIC_URL || "/";
const htmlPath = join(staging, "index.html");
let html = readFileSync(htmlPath, "utf8");

// Trunk's static nonce placeholders would be worthless under a fixed policy: drop them.
html = html.replace(/\s+nonce="[^"]*"/g, "");

let moved = 0;
html = html.replace(/<script type="module">([\s\S]*?)<\/script>/g, (_, body) => {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  const name = `boot-${hash}.js`;
  writeFileSync(join(staging, name), body.trim() + "\n");
  moved += 1;
  return `<script type="module" src="${publicUrl}${name}"></script>`;
});

if (/<script(?![^>]*\bsrc=)[^>]*>/.test(html)) {
  console.error("externalize-loader: an inline script is left in index.html; the CSP would block it");
  process.exit(1);
}
if (moved === 0) {
  console.error("externalize-loader: found no Trunk loader script to move");
  process.exit(1);
}
writeFileSync(htmlPath, html);
console.log(`externalize-loader: moved ${moved} inline script(s) to files`);
