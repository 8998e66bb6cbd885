#!/usr/bin/env bash
# The job-array scan without SLURM: every row of the parameter table in turn
# under one mpirun each, then the analysis (same table format as
# jobs/slurm/array.sbatch).
#   jobs/mpirun/scan.sh TABLE SCAN_DIR [RANKS]
set -euo pipefail
table=$1 scan_dir=$2 ranks=${3:-2}
MPIEXEC=${MPIEXEC:-mpirun}
[[ $(id -u) == 0 && $MPIEXEC == mpirun ]] && MPIEXEC="mpirun --allow-run-as-root"
NMBHPC=${NMBHPC:-nmbhpc}
mkdir -p "$scan_dir"
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$table" | tail -n +2 |
while read -r name config options; do
    echo "== $name ($config)"
    # shellcheck disable=SC2086
    $MPIEXEC -n "$ranks" $NMBHPC run "$config" -o "$scan_dir/$name.h5" --resume ${options:-} </dev/null
done
$NMBHPC analyze "$scan_dir" -o "$scan_dir/analysis"
