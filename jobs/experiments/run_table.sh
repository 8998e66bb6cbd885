#!/usr/bin/env bash
# One experiment end to end without SLURM: configs from the parameter table, every
# row under its own mpirun (in table order), then the analysis.
#
#   jobs/experiments/run_table.sh EXPERIMENT WORKDIR [RANKS] [nmbhpc run / PETSc options...]
#   jobs/experiments/run_table.sh logN output/logN 2
#
# EXPERIMENT is logN, seeding or perturbative (the table is
# jobs/experiments/EXPERIMENT/params.csv over base.toml). Writes WORKDIR/configs/,
# WORKDIR/runs/<run>.h5 (one file per row; a finished row is skipped, an
# interrupted one resumes) and WORKDIR/results/. Environment: MPIEXEC, NMBHPC,
# TABLE (another parameter table), ANALYZE_DIRS (extra run directories for the
# analysis, e.g. the logN runs for seeding).
set -euo pipefail
if [[ $# -lt 2 ]]; then sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
exp=$1 work=$2
shift 2
ranks=2
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then ranks=$1; shift; fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
table=${TABLE:-$here/$exp/params.csv}
NMBHPC=${NMBHPC:-nmbhpc}
if [[ -z ${MPIEXEC:-} ]]; then
    MPIEXEC=mpirun
    [[ $(id -u) == 0 ]] && MPIEXEC="mpirun --allow-run-as-root"
fi
# words split at blanks; read -a expands nothing (an unquoted $VAR would expand globs)
read -r -a mpiexec <<<"$MPIEXEC"
read -r -a nmbhpc <<<"$NMBHPC"
read -r -a analyze_dirs <<<"${ANALYZE_DIRS:-}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

"${nmbhpc[@]}" experiment make-configs "$table" "$work/configs"
mkdir -p "$work/runs"
start=$SECONDS
while read -r run; do
    out=$work/runs/$run.h5
    if [[ -f $out ]] && "${nmbhpc[@]}" info "$out" 2>/dev/null | grep -q "status completed"; then
        echo "== $run: done"; continue
    fi
    resume=(); [[ -f $out ]] && resume=(--resume)
    echo "== $run"
    "${mpiexec[@]}" -n "$ranks" "${nmbhpc[@]}" run "$work/configs/$run.toml" -o "$out" "${resume[@]}" \
        --log-level WARNING "$@" </dev/null
done <"$work/configs/runs.txt"
echo "runs: $((SECONDS - start)) s"
"${nmbhpc[@]}" experiment analyze "$exp" "$work/runs" ${analyze_dirs[@]+"${analyze_dirs[@]}"} -o "$work/results"
