#!/bin/sh
# usage: docs/duts_te/shards.sh MODEL TAG K...  (from the repository root): DUTS-TE shards K/10 of the whole set
# (benchmarks/default_models.py --duts-n all --shard K/10), one per-image CSV each in build/duts, skipping done ones;
# e.g. docs/duts_te/shards.sh new v12 8 9; docs/duts_te/shards.sh peer:u2netp u2netp 8 9 (make bench-peers first)
mkdir -p build/duts
model=$1; tag=$2; shift 2
for k in "$@"; do
  out=build/duts/${tag}_$k.csv
  [ -f $out ] && continue
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/default_models.py --model "$model" --sets '' --cutouts 0 --n 0 --no-latency \
    --duts-n all --shard $k/10 --per-image $out.tmp > build/duts/${tag}_$k.log 2>&1 && mv $out.tmp $out
done
