// Where the app's wasm goes, by crate: reads `twiggy top -n 1000000 -f csv <wasm>` on stdin
// (twiggy: `cargo install twiggy`; the wasm of a build that keeps function names, as
// docs/benchmarks.md's "Profiling" makes, since the shipped one keeps none) and prints each
// crate's share of the code and data, the name section left out. A generic function counts
// for the crate that defines it (`core::ptr::drop_in_place<T>` is core's, whatever T), so
// core's and alloc's shares are partly the other crates' types. A study, not a test.
//
//   twiggy top -n 1000000 -f csv target/dist-prof/*.wasm | node tests/bench/wasm-size.mjs
import { text } from "node:stream/consumers";

const lines = (await text(process.stdin)).trim().split("\n");
const header = lines.shift().split(",");
const nameAt = header.indexOf("Name");
const sizeAt = header.indexOf("ShallowSize");
if (nameAt < 0 || sizeAt < 0) throw new Error(`not twiggy's CSV: ${header}`);

/** The crate an item of twiggy's belongs to, or what kind of item it is. */
function crateOf(name) {
  if (name.startsWith("data segment")) return "(data segments)";
  const path = /^[<&*]*([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?::/.exec(name);
  return path ? path[1] : `(${name.split(" ")[0].slice(0, 24)})`;
}

/** One CSV row's fields: twiggy quotes a name that holds a comma. */
function fields(line) {
  const out = [];
  for (const match of line.matchAll(/(?:"((?:[^"]|"")*)"|([^,"]*))(,|$)/g)) {
    out.push(match[1] !== undefined ? match[1].replaceAll('""', '"') : match[2]);
    if (match[3] === "") break;
  }
  return out;
}

const sizes = new Map();
let total = 0;
for (const line of lines) {
  const row = fields(line);
  const name = row[nameAt] ?? "";
  const size = Number(row[sizeAt]);
  if (!Number.isFinite(size) || name.includes("function names") || name.startsWith("Σ")) continue;
  total += size;
  const crate = crateOf(name);
  sizes.set(crate, (sizes.get(crate) ?? 0) + size);
}
console.log(`wasm by crate: ${total} bytes without the name section`);
for (const [crate, size] of [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${String(size).padStart(9)} ${((100 * size) / total).toFixed(1).padStart(5)} %  ${crate}`);
}
