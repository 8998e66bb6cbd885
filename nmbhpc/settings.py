"""Typed run settings: the one object tree every solver receives.

Built only by :func:`nmbhpc.config.load_config` (which validates the TOML once,
at the edge); solvers never see raw dicts or argv. The TOML keys of the
``[manybody]`` and ``[meanfield]`` sections are declared on the fields below
(:func:`nmbhpc.schema.setting`: type, default, unit, bounds, doc) and
registered here; validation, defaults and the docs table come from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .manybody.operators import NAMES as OPERATOR_NAMES
from .physics.model import Model
from .physics.schedule import INTEGRATORS
from .schema import TS_TYPES, Section, keys_of, register, setting

#: most Krylov vectors a config may ask for (each is one state vector)
MAX_NCV = 4096


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

    operator : "auto" | "matrix" | "real" | "shell" | "separable" | "lean"
        "matrix": stored MATMPIAIJ (complex values, 20 bytes per non-zero); "real": the
        same rows as a real CSR in a MATSHELL (upper triangle of the diagonal block,
        uint8/uint16 value index or float64: 2.5-12 bytes per non-zero,
        manybody/real_operator.py); "separable": matrix-free through the R separable
        coupling factors (R = 4 multi-angle, 1 single-angle) and the K - 1 sectors
        (manybody/separable_operator.py); "lean": the same product with nothing stored
        per entry (neighbours ranked on the fly, two float64 diagonals per row, ghost
        spans; manybody/lean_operator.py), for the largest bases; "shell": matrix-free
        pair flips (manybody/shell_operator.py). "auto" takes the first that fits in
        memory of separable, real, lean, shell when R <= 4, else of real, separable,
        shell, lean (manybody/memory.py, measurements in docs/performance.md).
    mfn_tol : float
        Default SLEPc MFN tolerance (``-mfn_tol`` on the command line wins).
    mfn_ncv : int
        Default Krylov subspace dimension (``-mfn_ncv`` wins); 0 means the engine default
        (4: 20 products for t = 1 at N = 20 against 32 for 16 and 60 for SLEPc's 30, docs/performance.md).
    max_step : float
        Longest single exp(-i H dt) step (1/omega0); long output intervals are split.
    mfn_type : "krylov" | "expokit"
        Default SLEPc MFN type (``-mfn_type`` wins). expokit sub-steps internally and
        never restarts; it needs MatNorm (every operator but "shell") and is ~10x faster
        for collective-spin models whose steps need hundreds of products (docs/experiments.md).
    propagator : "mfn" | "spectral" | "chebyshev"
        How exp(-i H dt) psi is applied. "mfn": SLEPc MFN (any mu schedule, any operator).
        "chebyshev": a Chebyshev series on a rigorous interval of H's spectrum (Gershgorin
        discs of A for "separable", else +-||A||_inf: not "shell"), truncated where the
        bound on the dropped terms is <= mfn_tol ||psi||; psi plus two or three work
        vectors (no Krylov basis), each exponential taken whole (max_step is ignored),
        any mu schedule (manybody/chebyshev_propagator.py).
        "spectral": psi expanded once in the eigenpairs of H nearest <H> (SLEPc EPS,
        shift-and-invert, options prefix ``mb_eps_``), then each step costs 2 nev vector
        updates whatever dt: for collective-spin models at large N (cost ~ N instead of
        MFN's ~ N^2, docs/experiments.md). Needs a constant mu and a stored matrix
        (operator "auto" becomes "matrix"); the truncation ||psi - V V^H psi|| must be
        <= mfn_tol, else the run stops (spectral_propagator.py).
    spectral_max_nev : int
        Most eigenpairs the spectral propagator may compute (it starts at 64 and doubles).
    time_integrator : "cf6" | "cf4" | "midpoint"
        How a time-dependent mu(t) (``model.schedule``) enters the exponentials
        (physics/schedule.py). "cf6": a sixth-order commutator-free Magnus scheme, four
        exponentials per step (one of them backwards) with mu combined from its values at
        three Gauss-Legendre points; "cf4": the fourth-order scheme of Blanes & Moan (2006)
        and Alvermann & Fehske (2011), two exponentials of half a step; "midpoint": one
        exponential per step with mu at its midpoint, second order. All are exact for a
        constant mu and then take the same single exponential. Each exponential is further
        split into pieces no longer than ``max_step``; that splitting is exact.
    time_step_tol : float
        Step control of cf6 and cf4 for a time-dependent mu: the steps follow the
        schedule, a step of length h near t being set by
        ``h^(p+1) |mu'(t)| (1 + |mu(t)|)^2 = time_step_tol`` (p the integrator's order;
        mu in omega0, t in 1/omega0), and no longer than ``model.schedule.max_step``.
        The steps depend on the schedule only (the same on every rank and on resume).
        0: equal steps of ``model.schedule.max_step`` in each output interval, as
        midpoint always takes. With the defaults (cf6, 3e-5, max_step 0.5) the bulb and
        table benchmarks of docs/performance.md section 9 reach a polarisation error
        ~2e-9 at ~1.8x the products of midpoint with equal steps of 0.05.
    sectors : "auto" | "together" | "one_at_a_time"
        How a state spread over several sectors K of B.J (a flavor product state with
        theta != 0) is evolved; H is block diagonal in K. "together": one basis of all
        the sectors, one operator and one Krylov space over all of them. "one_at_a_time":
        one state vector per sector; per output interval each sector's operator is built
        (or kept, when all of them fit), its Krylov space used and destroyed, so the peak
        is all sector vectors plus the largest sector's operator and Krylov space; J^x,
        J^y and pair correlations come from pairs of neighbouring sectors. "auto": one at
        a time when the state spans several sectors and the memory model says the whole
        basis would not fit (manybody/memory.py), else together. Both give the same
        records to the MFN tolerance (manybody/sectors.py, docs/design.md).
    """

    operator: str = setting("auto", "choice", "auto, stored complex AIJ, stored real CSR, "
                            "matrix-free pair flips, matrix-free separable, separable ranked on "
                            "the fly (see below)",
                            choices=OPERATOR_NAMES)
    mfn_tol: float = setting(1e-10, "real", "SLEPc MFN tolerance (-mfn_tol wins); below 1e-15 "
                             "double precision cannot converge", low=1e-15, high=1.0, open_high=True)
    mfn_ncv: int = setting(0, "int", "Krylov dimension, 0: the engine's (4 krylov, 16 expokit; "
                           "-mfn_ncv wins)", low=0, high=MAX_NCV)
    max_step: float = setting(1.0, "real", "longest single exp(-i H dt) step", unit="1/omega0",
                              low=0.0, open_low=True)
    mfn_type: str = setting("krylov", "choice", "SLEPc MFN type (-mfn_type wins); expokit needs "
                            "an exact MatNorm (not operator shell)", choices=("krylov", "expokit"))
    propagator: str = setting("mfn", "choice", "SLEPc MFN steps, one eigen-expansion of H "
                              "(constant mu, stored matrix), or a Chebyshev series (few "
                              "vectors; not operator shell)",
                              choices=("mfn", "spectral", "chebyshev"))
    spectral_max_nev: int = setting(2048, "int", "most eigenpairs the spectral propagator computes",
                                    low=1, high=2**31 - 1)
    time_integrator: str = setting("cf6", "choice", "exponential integrator for a time-dependent "
                                   "mu: 6th- or 4th-order commutator-free Magnus (four or two "
                                   "exponentials per step) or 2nd-order midpoint (one)",
                                   choices=INTEGRATORS)
    time_step_tol: float = setting(3e-5, "real", "cf6/cf4 step control for a time-dependent mu: "
                                   "h^(p+1) |mu'| (1 + |mu|)^2 per step, steps no longer than "
                                   "model.schedule.max_step; 0: equal steps of max_step",
                                   low=0.0)
    sectors: str = setting("auto", "choice", "evolve several B.J sectors in one basis, or one "
                           "sector at a time (peak: all sector vectors + the largest sector's "
                           "operator); auto: one at a time when the whole would not fit",
                           choices=("auto", "together", "one_at_a_time"))


@dataclass(frozen=True)
class MeanFieldSettings:
    """Classical and beyond-mean-field solvers: PETSc TS tolerances, sampling.

    rtol, atol : TS adaptive-step tolerances (``-ts_rtol``/``-ts_atol`` win).
    ts_type : default PETSc TS type (``-ts_type`` wins).
    twa_samples : truncated-Wigner trajectories (spread over ranks).
    seed : random seed for sampling (results independent of the rank count).
    """

    rtol: float = setting(1e-10, "real", "TS relative tolerance (-<prefix>ts_rtol wins)",
                          low=1e-14, high=1.0, open_high=True)
    atol: float = setting(1e-12, "real", "TS absolute tolerance (polarisations are O(1))",
                          low=0.0, high=1.0)
    ts_type: str = setting("rk", "choice", "PETSc TS type (-<prefix>ts_type wins)",
                           choices=TS_TYPES)
    twa_samples: int = setting(1000, "int", "truncated-Wigner trajectories (>= 2 for standard "
                               "errors), spread over ranks", low=2, high=2**31 - 1)
    seed: int = setting(0, "int", "sampling seed; results do not depend on the rank count",
                        low=0, high=2**63 - 1)


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs.

    solver : a name of :data:`nmbhpc.solvers.SOLVERS`
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


register(Section("manybody", keys_of(ManyBodySettings), solvers=("manybody",),
                 doc="Exact many-body evolution (SLEPc MFN or spectral)."))
register(Section("meanfield", keys_of(MeanFieldSettings), solvers=("meanfield", "cumulant", "twa"),
                 doc="Classical and beyond-mean-field solvers (PETSc TS, sampling)."))
