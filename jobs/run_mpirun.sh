#!/usr/bin/env bash
# One nmbhpc run under mpirun, on a workstation or inside an allocation.
#
#   jobs/run_mpirun.sh CONFIG.toml OUT.h5 [RANKS] [nmbhpc/PETSc options...]
#   jobs/run_mpirun.sh examples/default.toml output/default.h5 4 --force -mfn_tol 1e-12 -log_view
#
# RANKS defaults to 2. Environment:
#   MPIEXEC  launcher command, split at blanks (default: mpirun, plus --allow-run-as-root
#            when run as root; more ranks than cores: MPIEXEC="mpirun --oversubscribe")
#   NMBHPC   the nmbhpc executable (default: the repository's .venv/bin/nmbhpc if
#            present, else nmbhpc on PATH)
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
config=$1 output=$2
shift 2
ranks=2
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    ranks=$1
    shift
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${NMBHPC:-} ]]; then
    if [[ -x $repo/.venv/bin/nmbhpc ]]; then NMBHPC=$repo/.venv/bin/nmbhpc; else NMBHPC=nmbhpc; fi
fi
if [[ -z ${MPIEXEC:-} ]]; then
    MPIEXEC=mpirun
    [[ $(id -u) == 0 ]] && MPIEXEC="mpirun --allow-run-as-root"
fi
# split at blanks into words; unlike an unquoted $MPIEXEC, read -a expands no globs
read -r -a mpiexec <<<"$MPIEXEC"
# ranks are the parallelism: one BLAS/OpenMP thread each
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

mkdir -p -- "$(dirname -- "$output")"
set -x
"${mpiexec[@]}" -n "$ranks" "$NMBHPC" run "$config" -o "$output" "$@"
"$NMBHPC" info "$output"
