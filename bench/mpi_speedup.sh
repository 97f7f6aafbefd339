#!/bin/bash
# Speed-up of `moescope capture` under mpirun (docs/SCALING.md): the sample corpora through a
# 4-layer d_model 512 fixture model, as 1 process with 1 thread, `mpirun -n 2` with 1 thread per
# rank, and 1 process with 2 threads; wall, user and sys seconds of each whole command, and the
# load average before it (the numbers mean little on a machine that other jobs share).
# usage: bench/mpi_speedup.sh MOESCOPE(MPI build) [WORKDIR] [REPEATS]
set -eu
M=$(realpath "${1:?usage: mpi_speedup.sh MOESCOPE [WORKDIR] [REPEATS]}")
W=${2:-/tmp/moescope-mpi-bench}
REPS=${3:-3}
SAMPLES=$(cd "$(dirname "$0")/../corpora/samples" && pwd)
mkdir -p "$W" && cd "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -f mid.gguf ] || "$M" make-model --out mid.gguf --d-model 512 --ff 1536 --layers 4 --heads 8 \
  --kv-heads 4 -q
C="--model mid.gguf --corpus $SAMPLES/manifest.json -q"
for rep in $(seq "$REPS"); do
  for mode in r1t1 r2t1 r1t2; do
    rm -f "s_$mode.h5"*
    load=$(cut -d' ' -f1 /proc/loadavg)
    TIMEFORMAT="$mode rep$rep: %R s wall, %U s user, %S s sys (load before $load)"
    time case $mode in
      r1t1) "$M" capture $C --threads 1 --out s_$mode.h5 ;;
      r2t1) mpirun --oversubscribe --bind-to none -n 2 "$M" capture $C --threads 1 --out s_$mode.h5 ;;
      r1t2) "$M" capture $C --threads 2 --out s_$mode.h5 ;;
    esac
  done
done
