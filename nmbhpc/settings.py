"""Typed run settings: the one object tree every solver receives.

Built only by :func:`nmbhpc.config.load_config` (which validates the TOML once,
at the edge); solvers never see raw dicts or argv.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import Model


@dataclass(frozen=True)
class OutputSettings:
    """What to record and when.

    times : float64[T]
        Strictly increasing output times in units of 1/omega0; the run starts at
        ``times[0]`` (the initial state is recorded there).
    pair_correlations : bool
        Record connected ``<J_p.J_q> - <J_p>.<J_q>`` (costs O(M^2) sparse products).
    save_state : bool
        Write the final state (state vector / classical vectors) to the file.
    """

    times: np.ndarray
    pair_correlations: bool = False
    save_state: bool = False


@dataclass(frozen=True)
class ManyBodySettings:
    """Exact engine settings.

    operator : "auto" | "matrix" | "shell"
        Stored MATMPIAIJ or matrix-free MATSHELL (auto: from the memory model).
    mfn_tol : float
        Default SLEPc MFN tolerance (``-mfn_tol`` on the command line wins).
    mfn_ncv : int
        Default Krylov subspace dimension (``-mfn_ncv`` wins); 0 means the engine default
        (16: half the products of SLEPc's 30 at the same accuracy, docs/performance.md).
    max_step : float
        Longest single exp(-i H dt) step (1/omega0); long output intervals are split.
    """

    operator: str = "auto"
    mfn_tol: float = 1e-10
    mfn_ncv: int = 0
    max_step: float = 1.0


@dataclass(frozen=True)
class MeanFieldSettings:
    """Classical and beyond-mean-field solvers: PETSc TS tolerances, sampling.

    rtol, atol : TS adaptive-step tolerances (``-ts_rtol``/``-ts_atol`` win).
    ts_type : default PETSc TS type (``-ts_type`` wins).
    twa_samples : truncated-Wigner trajectories (spread over ranks).
    seed : random seed for sampling (results independent of the rank count).
    """

    rtol: float = 1e-10
    atol: float = 1e-12
    ts_type: str = "rk"
    twa_samples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs.

    solver : "manybody" (others arrive with their issues)
    source_text : the TOML text the config came from (stored in output files)
    source_path : where it came from ("<string>" if not a file)
    """

    model: Model
    output: OutputSettings
    solver: str = "manybody"
    manybody: ManyBodySettings = field(default_factory=ManyBodySettings)
    meanfield: MeanFieldSettings = field(default_factory=MeanFieldSettings)
    source_text: str = ""
    source_path: str = "<string>"
