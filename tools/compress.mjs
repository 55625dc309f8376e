// Pre-compressed copies of the built front end: `<file>.br` (Brotli,
// quality 11) and `<file>.gz` (gzip, level 9) beside every .wasm, .js and
// .css file in the given directory (default dist/). The server sends
// the copy the browser accepts (server/src/http/static_files.rs), so the
// bundle is compressed once, at the highest level, instead of per download.
// Not the .html pages: they are 2 KB, and the server computes a page's
// Content-Security-Policy from the plain file on disk, so a copy that
// lagged behind it (a page edited or deployed without this step) would be
// served with a policy that refuses its own start-up script. Old .html
// copies are removed.
//
// Node's own zlib (Brotli and gzip are built into Node ≥ 11): nothing is
// installed or downloaded. A copy that would not be smaller is not written
// (and an old one is removed), so the server falls back to the plain file.
//
// Usage: node tools/compress.mjs [dir]   — prints one line per file and the
// totals, raw / gzip / Brotli, in bytes.
import { readdirSync, readFileSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dir = process.argv[2] ?? 'dist';
const kinds = new Set(['.wasm', '.js', '.css', '.svg', '.json', '.webmanifest']);

function brotli(buf, text) {
  return brotliCompressSync(buf, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
      [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
      [constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
    },
  });
}

function writeIfSmaller(path, plain, packed) {
  if (packed.length < plain.length) {
    writeFileSync(path, packed);
    return packed.length;
  }
  rmSync(path, { force: true });
  return plain.length;
}

function walk(d) {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
  );
}

const all = walk(dir);
for (const f of all.filter((f) => /\.html\.(br|gz)$/.test(f))) rmSync(f, { force: true });
const files = all.filter((f) => kinds.has(extname(f)) && statSync(f).isFile()).sort();
if (files.length === 0) {
  console.error(`compress: no assets in ${dir}`);
  process.exit(1);
}
const total = { raw: 0, gz: 0, br: 0 };
const pad = (s, n) => String(s).padStart(n);
for (const f of files) {
  const plain = readFileSync(f);
  const text = extname(f) !== '.wasm';
  const gz = writeIfSmaller(`${f}.gz`, plain, gzipSync(plain, { level: 9 }));
  const br = writeIfSmaller(`${f}.br`, plain, brotli(plain, text));
  total.raw += plain.length;
  total.gz += gz;
  total.br += br;
  console.log(`${pad(plain.length, 9)} ${pad(gz, 9)} ${pad(br, 9)}  ${f}`);
}
console.log(`${pad(total.raw, 9)} ${pad(total.gz, 9)} ${pad(total.br, 9)}  total (raw, gzip, br bytes)`);
