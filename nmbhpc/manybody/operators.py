"""The operator kinds of ``manybody.operator``: one registry, read by everything that chooses one.

Each kind is an :class:`OperatorKind`: its name, how it is built (one
signature, :class:`OperatorProblem` -> ``(Mat, global non-zeros)``), its
memory model (bytes on one rank from memory.Sizes, kept next to the build),
and the properties the propagators depend on. "auto", the memory model
(memory.estimate), the propagator rules (:func:`incompatibility`), the
solver (manybody.solver) and the configuration's list of choices
(:data:`NAMES`) all read :data:`KINDS`; a new kind is one entry here.
The registry imports no operator module: each kind's build and memory model
import theirs on first use, so the configuration reads the registry without
loading the compiled kernels.

Every kind holds the same ``H = D + mu A`` of Eq. (1) (eq1.py): they differ
in what they store and how a product regenerates A's rows.

========== ========================================= ======= ========== ============
kind       storage                                   MATSHELL exact norm factorizable
========== ========================================= ======= ========== ============
matrix     complex MATMPIAIJ (hamiltonian.py)         no      yes        yes
real       real CSR with value codes (real_operator)  yes     yes        no
shell      nothing per non-zero (shell_operator)      yes     no         no
separable  ladder map, separable couplings            yes     yes        no
lean       two diagonals; ladder ranked on the fly    yes     no         no
========== ========================================= ======= ========== ============

* *exact norm*: MatNorm is available, which SLEPc's expokit MFN needs
  (``manybody.mfn_type = "expokit"`` or ``-mfn_type expokit``), and so is an
  interval of A's spectrum, which the Chebyshev propagator needs
  (``manybody.propagator = "chebyshev"``; chebyshev_propagator.py).
* *factorizable*: an assembled AIJ, which the spectral propagator's
  shift-and-invert LU needs (``manybody.propagator = "spectral"``).
* *MATSHELL*: a python context (shell_operator.PythonHamiltonian) takes a new
  mu in place; an AIJ is rescaled (hamiltonian.aij_set_mu).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class OperatorProblem:
    """What every kind's build gets (rows ``lo:hi`` of ``basis`` on this rank).

    ``vacuum`` is the PETSc Vec of D (hamiltonian.vacuum_diagonal),
    ``couplings_over_n`` is ``c_pq / N``, ``factors[R, M]`` and ``weights[R]``
    a separable form of it off the diagonal (shell_operator.separable_couplings).
    """

    basis: object
    configs: np.ndarray
    lo: int
    hi: int
    vacuum: object
    couplings_over_n: np.ndarray
    factors: np.ndarray
    weights: np.ndarray
    comm: object


@dataclass(frozen=True)
class OperatorKind:
    """One value of ``manybody.operator`` (see the module docstring for the properties).

    ``module`` is the module of nmbhpc.manybody that builds the kind and holds its
    memory model (``memory_bytes``), imported on first use (:meth:`load`);
    ``builder(module, problem)`` calls its build; ``matrix_free``: nothing is stored
    per non-zero; ``auto_rank`` the position in the
    order "auto" tries (separable couplings, other couplings), None: never
    chosen by "auto"; ``work`` the name of the unit that progress reports count;
    ``keeps_rows``: the built operator still reads the local configurations and the
    Vec of D (False: the solver frees both once it is built); ``gershgorin``: the
    python context's ``interaction_bounds()`` gives Gershgorin discs of A.
    """

    name: str
    storage: str
    module: str
    builder: Callable[[object, OperatorProblem], tuple]
    matshell: bool
    matrix_free: bool
    exact_norm: bool
    factorizable: bool
    auto_rank: Optional[tuple[int, int]]
    work: str = "matvecs"
    keeps_rows: bool = True
    gershgorin: bool = False

    def load(self):
        """The kind's operator module (imported on the first call). Local."""
        return importlib.import_module(f"{__package__}.{self.module}")

    def build(self, problem: OperatorProblem) -> tuple:
        """``(Mat, global non-zeros of H)`` of ``problem``. Collective."""
        return self.builder(self.load(), problem)

    def memory(self, sizes) -> float:
        """Bytes on one rank for memory.Sizes ``sizes`` (the module's ``memory_bytes``). Local."""
        return self.load().memory_bytes(sizes)

    @property
    def spectral_interval(self) -> bool:
        """An interval of A's spectrum is available (the Chebyshev propagator's): an
        exact MatNorm, or Gershgorin discs (the context's ``interaction_bounds()``)."""
        return self.exact_norm or self.gershgorin


def _build_matrix(m, p: OperatorProblem):
    return m.interaction_matrix(p.basis, p.configs, p.lo, p.hi, p.couplings_over_n, p.comm)


def _build_real(m, p: OperatorProblem):
    return m.real_stored_hamiltonian(p.basis, p.configs, p.lo, p.hi, p.vacuum,
                                     p.couplings_over_n, p.comm)


def _build_separable_kind(build):
    """The builder of a kind whose build takes the separable factors (shell, separable,
    lean: the same signature)."""
    def builder(m, p: OperatorProblem):
        return getattr(m, build)(p.basis, p.configs, p.lo, p.hi, p.vacuum, p.couplings_over_n,
                                 p.factors, p.weights, p.comm)
    return builder


#: at most this many separable coupling terms counts as "separable couplings" for
#: "auto" (multi-angle 1 - p.q: 4, single-angle: 1): then the separable product is
#: the fastest and the smallest (N = 20, 2 ranks: 2-4x faster evolution than QuSpin,
#: "real" 1.7-2.3x; docs/performance.md), then the stored real CSR, then the
#: pair-flip matrix-free operator
SEPARABLE_MAX_TERMS = 4

KINDS: dict[str, OperatorKind] = {k.name: k for k in (
    # never "auto": "real" holds the same rows in fewer bytes; the spectral propagator's choice
    OperatorKind("matrix", "complex MATMPIAIJ", "hamiltonian", _build_matrix,
                 matshell=False, matrix_free=False, exact_norm=True, factorizable=True, auto_rank=None),
    OperatorKind("real", "real CSR", "real_operator", _build_real,
                 matshell=True, matrix_free=False, exact_norm=True, factorizable=False, auto_rank=(1, 0)),
    OperatorKind("shell", "matrix-free", "shell_operator", _build_separable_kind("shell_hamiltonian"),
                 matshell=True, matrix_free=True, exact_norm=False, factorizable=False, auto_rank=(3, 2)),
    OperatorKind("separable", "separable matrix-free", "separable_operator",
                 _build_separable_kind("separable_hamiltonian"),
                 matshell=True, matrix_free=True, exact_norm=True, factorizable=False, auto_rank=(0, 1),
                 gershgorin=True),
    OperatorKind("lean", "separable, ranked on the fly", "lean_operator",
                 _build_separable_kind("lean_hamiltonian"),
                 matshell=True, matrix_free=True, exact_norm=False, factorizable=False,
                 auto_rank=(2, 3), keeps_rows=False, gershgorin=True),
)}

#: the values ``manybody.operator`` accepts
NAMES = ("auto",) + tuple(KINDS)


def memory_models() -> dict:
    """``{name: memory model}`` of every kind (memory.estimate's ``kinds``)."""
    return {name: kind.memory for name, kind in KINDS.items()}


def incompatibility(name: str, propagator: str, mfn_type: str) -> Optional[tuple[str, str]]:
    """``(key, reason)`` if kind ``name`` cannot run with ``propagator`` ("mfn",
    "spectral", "chebyshev") and the MFN type in effect (``mfn_type``), else None."""
    kind = KINDS[name]
    if propagator == "spectral" and not kind.factorizable:
        return ("manybody.operator", f"{name!r} is a MATSHELL; manybody.propagator = "
                "\"spectral\" factorizes H and needs \"matrix\" (or \"auto\")")
    if propagator == "chebyshev" and not kind.spectral_interval:
        return ("manybody.propagator", f"\"chebyshev\" needs an interval of H's spectrum "
                f"(MatNorm or Gershgorin discs), which the {name!r} operator "
                "(" + kind.storage + ") lacks: set manybody.operator to one of "
                + ", ".join(repr(k) for k, v in KINDS.items() if v.spectral_interval)
                + " or \"auto\", or use propagator = \"mfn\"")
    if propagator == "mfn" and mfn_type == "expokit" and not kind.exact_norm:
        return ("manybody.mfn_type", f"\"expokit\" needs MatNorm, which the {name!r} operator "
                "(" + kind.storage + ") lacks: set manybody.operator to one of "
                + ", ".join(repr(k) for k, v in KINDS.items() if v.exact_norm)
                + " or \"auto\", or use mfn_type = \"krylov\"")
    return None


def auto_order(n_terms: int, propagator: str, mfn_type: str) -> tuple:
    """The kinds "auto" tries, in order, for couplings with ``n_terms`` separable
    terms and the given propagator settings (only kinds they can run with)."""
    if propagator == "spectral":
        return tuple(n for n in KINDS if incompatibility(n, propagator, mfn_type) is None)
    col = 0 if n_terms <= SEPARABLE_MAX_TERMS else 1
    ranked = sorted((k.auto_rank[col], n) for n, k in KINDS.items()
                    if k.auto_rank is not None and incompatibility(n, propagator, mfn_type) is None)
    return tuple(n for _, n in ranked)
