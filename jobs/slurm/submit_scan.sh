#!/bin/bash
# Submit a rendered scan array and its analysis job, chained with afterok:
#     jobs/slurm/submit_scan.sh scan.sbatch scan-analyze.sbatch
# (render both with `nmbhpc slurm array ...` and `nmbhpc slurm analyze ...`).
set -euo pipefail
array_job=$(sbatch --parsable "$1")
array_job=${array_job%%;*}
analysis_job=$(sbatch --parsable --dependency=afterok:"$array_job" "$2")
echo "scan array job $array_job, analysis job ${analysis_job%%;*} (runs after every task succeeded)"
