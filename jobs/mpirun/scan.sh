#!/usr/bin/env bash
# The job-array scan without SLURM: every row of the parameter table in turn
# under one mpirun each, then the analysis (same table format as
# jobs/slurm/array.sbatch).
#   jobs/mpirun/scan.sh TABLE SCAN_DIR [RANKS]
# MPIEXEC and NMBHPC (commands, split at blanks) replace mpirun and nmbhpc.
set -euo pipefail
table=$1 scan_dir=$2 ranks=${3:-2}
MPIEXEC=${MPIEXEC:-mpirun}
[[ $(id -u) == 0 && $MPIEXEC == mpirun ]] && MPIEXEC="mpirun --allow-run-as-root"
# words split at blanks; read -a expands nothing (an unquoted $VAR would expand globs)
read -r -a mpiexec <<<"$MPIEXEC"
read -r -a nmbhpc <<<"${NMBHPC:-nmbhpc}"
mkdir -p -- "$scan_dir"
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -- "$table" | tail -n +2 |
while read -r -a words; do
    name=${words[0]} config=${words[1]:?"table row ${words[0]} has no config"}
    echo "== $name ($config)"
    "${mpiexec[@]}" -n "$ranks" "${nmbhpc[@]}" run "$config" -o "$scan_dir/$name.h5" --resume \
        "${words[@]:2}" </dev/null
done
"${nmbhpc[@]}" analyze "$scan_dir" -o "$scan_dir/analysis"
