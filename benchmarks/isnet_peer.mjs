// ISNet (IMG.LY's @imgly/background-removal-node 1.4.5) as a peer of the project's default: each input photo's
// alpha, the package's foreground mask at the input's size, written as an 8-bit grey PNG.
//
// Usage:
//   node benchmarks/isnet_peer.mjs [--model medium|small] [--threads N] [--modules DIR] OUT_DIR IMAGE...
//   node benchmarks/isnet_peer.mjs [options] OUT_DIR < paths.txt      (no IMAGE: one path a line on stdin)
//
// One Node process measures many photos: start-up and loading the model (88 MB) take seconds, one photo takes
// what the network takes (1024 x 1024 input). For every input, one line on stdout, in order:
//   ok<TAB>IMAGE<TAB>OUT_DIR/STEM.png          or          error<TAB>IMAGE<TAB>message
// and the process goes on past a bad file (exit status 1 at the end if any failed; 2: bad usage or the package
// missing). Reading stdin, it first prints `ready<TAB>MODEL<TAB>THREADS` and answers each line as it comes, so
// benchmarks/default_models.py keeps one process for all the photos of a run.
//
// --model: the package's "medium" (the default: ISNet, 44 M parameters stored in float16) or "small" (the same
// network quantised to uint8). --threads: onnxruntime's intra- and inter-op threads (0, the default: its own
// choice, every core). --modules: the folder npm installed into (default build/isnet-node; `make bench-isnet`).
// Photos are decoded as automatte.io reads them: EXIF orientation applied, grey to RGB, an alpha channel dropped.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const PACKAGE = "@imgly/background-removal-node";
const HERE = path.dirname(fileURLToPath(import.meta.url));

function usage(message) {
  process.stderr.write(`isnet_peer: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { model: "medium", threads: 0, modules: path.join(HERE, "..", "build", "isnet-node"), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--model" || arg === "--threads" || arg === "--modules") {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      opts[arg.slice(2)] = argv[++i];
    } else if (arg.startsWith("--")) {
      usage(`unknown option ${arg}`);
    } else {
      opts.rest.push(arg);
    }
  }
  opts.threads = Number(opts.threads);
  if (!["medium", "small"].includes(opts.model)) usage(`--model ${opts.model}: expected medium or small`);
  if (!Number.isInteger(opts.threads) || opts.threads < 0) usage(`--threads ${opts.threads}: expected 0 or more`);
  if (opts.rest.length === 0) usage("expected OUT_DIR [IMAGE...]");
  return opts;
}

function load(modules, threads) {
  const require = createRequire(path.join(path.resolve(modules), "package.json"));
  let entry;
  try {
    entry = require.resolve(PACKAGE);
  } catch {
    usage(`${PACKAGE} not found under ${path.resolve(modules)}: run \`make bench-isnet\``);
  }
  const sharp = require("sharp");
  if (threads > 0) {
    // the package creates its session with fixed options; the thread counts are added on the way
    const { InferenceSession } = require("onnxruntime-node");
    const create = InferenceSession.create.bind(InferenceSession);
    InferenceSession.create = (model, options) =>
      create(model, { ...options, intraOpNumThreads: threads, interOpNumThreads: threads });
    sharp.concurrency(threads);
  }
  const imgly = require(entry);
  // the package's own default publicPath is relative to the working directory; its models sit beside its entry
  const publicPath = pathToFileURL(path.dirname(entry)).href + "/";
  return { sharp, removeBackground: imgly.removeBackground, publicPath };
}

async function alphaOf(lib, config, image, outDir) {
  const { data, info } = await lib
    .sharp(image, { failOn: "error" })
    .rotate() // EXIF orientation
    .toColourspace("srgb")
    .removeAlpha()
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rgba = new Blob([data], { type: `image/x-rgba8;width=${info.width};height=${info.height}` });
  // the foreground's alpha channel (1.4.5's segmentForeground fails on its raw alpha format and shifts its
  // RGB mask by a pixel; the foreground carries the same mask unshifted)
  const cutout = new Uint8Array(await (await lib.removeBackground(rgba, config)).arrayBuffer());
  const pixels = info.width * info.height;
  if (cutout.length !== 4 * pixels) throw new Error(`cutout of ${cutout.length} bytes, expected ${4 * pixels}`);
  const alpha = Buffer.alloc(pixels);
  for (let i = 0; i < pixels; i++) alpha[i] = cutout[4 * i + 3];
  const out = path.join(outDir, path.parse(image).name + ".png");
  await lib
    .sharp(alpha, { raw: { width: info.width, height: info.height, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(out);
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const [outDir, ...images] = opts.rest;
  mkdirSync(outDir, { recursive: true });
  const lib = load(opts.modules, opts.threads);
  const config = { publicPath: lib.publicPath, model: opts.model, output: { format: "image/x-rgba8" } };
  let failed = 0;
  const one = async (image) => {
    try {
      process.stdout.write(`ok\t${image}\t${await alphaOf(lib, config, image, outDir)}\n`);
    } catch (err) {
      failed += 1;
      const message = String(err?.message ?? err).split("\n")[0];
      process.stdout.write(`error\t${image}\t${message}\n`);
    }
  };
  if (images.length > 0) {
    for (const image of images) await one(image);
  } else {
    process.stdout.write(`ready\t${opts.model}\t${opts.threads}\n`);
    for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      if (line.trim()) await one(line.trim());
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`isnet_peer: ${String(err?.message ?? err).split("\n")[0]}\n`);
  process.exit(2);
});
