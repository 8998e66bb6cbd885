#!/usr/bin/env bash
# A long run in slices of SLICE seconds without SLURM (e.g. inside an
# interactive allocation): each slice is stopped with SIGUSR1 (nmbhpc
# checkpoints and exits 75) and the next one resumes, until the run completes.
#   jobs/mpirun/long.sh CONFIG.toml OUT.h5 SLICE_SECONDS [RANKS] [nmbhpc options...]
# MPIEXEC and NMBHPC (commands, split at blanks) replace mpirun and nmbhpc.
set -uo pipefail
config=$1 output=$2 slice=$3
ranks=${4:-2}
shift $(( $# >= 4 ? 4 : 3 ))
MPIEXEC=${MPIEXEC:-mpirun}
[[ $(id -u) == 0 && $MPIEXEC == mpirun ]] && MPIEXEC="mpirun --allow-run-as-root"
# words split at blanks; read -a expands nothing (an unquoted $VAR would expand globs)
read -r -a mpiexec <<<"$MPIEXEC"
read -r -a nmbhpc <<<"${NMBHPC:-nmbhpc}"
while true; do
    # mpirun forwards SIGUSR1 to every rank
    timeout --preserve-status --signal=USR1 "$slice" "${mpiexec[@]}" -n "$ranks" "${nmbhpc[@]}" run "$config" -o "$output" --resume "$@"
    status=$?
    [[ $status == 75 ]] || break
    echo "slice ended at a checkpoint; resuming"
done
exit "$status"
