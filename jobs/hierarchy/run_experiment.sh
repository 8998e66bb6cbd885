#!/usr/bin/env bash
# One scale-hierarchy experiment (A, B or C) on a workstation: parameter table, every row
# under its own mpirun (the loop), then the analysis (CSV/markdown tables, PNG plots).
#
#   jobs/hierarchy/run_experiment.sh EXPERIMENT DIR [RANKS] [SIZE] [PETSc options...]
#   jobs/hierarchy/run_experiment.sh A output/expA 2 default
#
# EXPERIMENT: A (exact vs mean field vs cumulant), B (kinetic growth rates), C (localised
# vs homogeneous). SIZE: tiny | default | large (default: default). Finished rows
# (DIR/runs/run_NNNN.npz present) are skipped, so an interrupted loop resumes.
# Environment: MPIEXEC, NMBHPC as for jobs/run_mpirun.sh.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
exp=$1 dir=$2
shift 2
ranks=2 size=default
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then ranks=$1; shift; fi
if [[ $# -gt 0 && $1 =~ ^(tiny|default|large)$ ]]; then size=$1; shift; fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -z ${NMBHPC:-} ]]; then
    if [[ -x $repo/.venv/bin/nmbhpc ]]; then NMBHPC=$repo/.venv/bin/nmbhpc; else NMBHPC=nmbhpc; fi
fi
if [[ -z ${MPIEXEC:-} ]]; then
    MPIEXEC=mpirun
    [[ $(id -u) == 0 ]] && MPIEXEC="mpirun --allow-run-as-root"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

set -x
$NMBHPC hierarchy-experiment params "$exp" "$dir" --size "$size"
rows=$(($(wc -l < "$dir/params.csv") - 1))
for ((i = 0; i < rows; i++)); do
    $MPIEXEC -n "$ranks" "$NMBHPC" hierarchy-experiment run "$exp" "$dir" --index "$i" "$@"
done
$NMBHPC hierarchy-experiment analyse "$exp" "$dir"
