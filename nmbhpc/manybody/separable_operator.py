"""Matrix-free ``H = D + mu A`` through the separable coupling factors (MATSHELL).

With ``c_pq / N = sum_r w_r f_rp f_rq`` off the diagonal
(shell_operator.separable_couplings: R = 4 for the multi-angle ``1 - p.q``,
R = 1 single-angle, an eigendecomposition otherwise) and the ladder
operators ``L_b`` (one quantum less in mode b, sector K -> K - 1) and
``U_b = L_b^T``, the off-diagonal part of ``A = (1/N) sum_{p<q} c_pq J_p.J_q`` is

    A_off = (1/2) sum_r w_r [ U_r L_r - sum_b f_rb^2 U_b L_b ],
    L_r = sum_b f_rb L_b,  U_r = L_r^T,

and ``U_b L_b`` is diagonal (``k_b (n_b - k_b + 1)``), so

    y = d x + mu sum_j sum_b u_jb g_b . z_j,   z_j = sum_b u_jb f_b x[j + e_b],
    d = D + mu (diag A - (1/2) sum_b (sum_r w_r f_rb^2) k_b (n_b - k_b + 1)),

with j over the *intermediate* space (the sectors K - 1 of every sector K of
the basis; its own row split, balanced by entries and ghosts in
intermediate_split.py), ``u_jb`` the ladder element and
``g_b = (w_r f_rb / 2)_r``. ``diag A`` is the exact O(R M) diagonal of
shell_kernels.interaction_diagonal, so the product equals the stored matrix
to round-off.

Choices, measured at N = 20 (half filling, serial CPU time, 1.85 M map
entries; docs/performance.md has the side-by-side runs):

* One sweep, not two gather passes. The map row of an intermediate state j
  lists its raised neighbours ``j + e_b``; it is column j of every ``L_b``,
  so z_j is gathered from x over the row and immediately scatter-added into y
  over the same entries: z (R complex per intermediate state) lives in
  registers, never in memory, one map serves both halves, and a ghost costs
  16 bytes each way instead of 16 + 16 R. Against the two-pass form (x
  gathered into an interleaved z, then z gathered through a second map of the
  lowered neighbours): the same time per product (15-17 ms before the
  unsigned indexing below), with half the map memory, half the setup and no
  z vector.
* The product is bound by the scalar floating-point and load ports (2 x 4 R
  multiply-adds and ~12 loads per entry), not by memory: the gathers and
  scatter-adds alone take 0.9 ns per entry, and a blocked, mode-major layout
  that makes every access a prefetchable stream (tried) is no faster.
  Unsigned loop indices (no wrap-around test per access) took it from 14.5
  to 10 ms.
* Precomputed uint32 neighbour maps (separable_kernels, O(M) per row to
  build, 5 bytes per entry for one-neutrino modes, 13 with the float64
  ladder element of general spins), not ranking on the fly: streaming an
  entry costs far less than ranking it again each product (the Lin-table
  kernel of shell_operator.py spends ~4 ns per flip all in, i.e. ~8 ms more
  per product here; this module's O(M)-per-row prefix ranking ~20 ns per
  entry), and the map is small (N = 20: ~57 bytes per basis row; the
  stored matrix has ~100 non-zeros per row).
* First touches assign, no diagonal pass. The sweep visits the map rows in
  order; the first entry to reach a row of y writes ``alpha d x + beta y`` plus
  its share, and the first to reach a y ghost sets it, so y needs no pass of its
  own before the sweep and the y ghosts no zeroing (N = 20: 4-5 % per product;
  the rows no entry reaches, such as K = 0, get a diagonal pass of their own).
* ``M - K + 1`` entries per intermediate row instead of the ``K (M - K)``
  pair flips per row of shell_operator.py (N = 20: ~10 against 100), each
  feeding 4 R real multiply-adds from coefficient tables that sit in L1.

Parallel layout: map entries below ``n_local`` address the local x and y,
the others a ghost buffer (the off-rank x the rank's intermediate rows read,
and the off-rank y they add to: the same set); each map row lists its local
entries first, so the kernel sweeps them and the ghosts in separate loops and
reads and writes the PETSc arrays in place. ghost_exchange.py fills the x
ghosts before the sweep and adds the y ghosts to their owners after it: on
one node through MPI-3 shared-memory windows that the sweep reads and writes
in place, else through a PETSc VecScatter (``-mb_H_ghost_exchange``). The
exchange is not overlapped with the kernel (see ``mult_add``: a rank in the
kernel does not progress MPI, and on 2 ranks the overlap made a product 3x
slower).
MatNorm (1 = infinity, Frobenius) is exact: one O(M^2) sweep over the local
rows without any gather, cached per mu (SLEPc's expokit calls it).
"""
from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np

from ..runtime.jit import njit
from ..runtime.stack import init_petsc
from . import separable_kernels as spk
from . import shell_kernels as sk
from .basis import SectorBasis
from .intermediate_split import intermediate_rows
from .product_events import with_event
from .ghost_exchange import ghost_exchange, option_kind
from .shell_operator import PythonHamiltonian, python_hamiltonian

log = logging.getLogger(__name__)

#: bytes per map entry: uint32 neighbour + uint8 mode (+ float64 ladder element
#: for general spins); memory.py uses them
BYTES_PER_ENTRY_QUBIT = 5
BYTES_PER_ENTRY_GENERAL = 13

_ALL_ROWS = np.empty(0, dtype=np.int64)


def intermediate_basis(basis: SectorBasis) -> SectorBasis | None:
    """The sectors ``K - 1`` of ``basis`` (None when the basis holds only K = 0)."""
    if basis.kmax == 0:
        return None
    return SectorBasis(basis.counts, max(basis.kmin - 1, 0), basis.kmax - 1)


def _index_type(n: int):
    # unsigned: the kernels index with uint64 (no wrap-around test), uint32 widens for free
    return np.uint32 if n < 2**32 else np.uint64


def ladder_map(configs, basis: SectorBasis, lo: int, hi: int, with_ladder: bool,
               first_touch: bool = False):
    """The map of the intermediate states ``configs``: per row the basis indices of
    ``k + e_b`` (see separable_kernels). Local.

    Returns a namespace with ``ptr, nbr, mode, ladder`` (ladder empty unless
    ``with_ladder``), ``n_loc`` (per row its count of entries in ``[lo, hi)``:
    a row lists those first, then the others) and ``ghosts``, the sorted global
    indices behind the entries ``nbr >= hi - lo`` (entry ``hi - lo + g`` is
    ``ghosts[g]``); the others are ``j - lo``. With ``first_touch`` (what the
    product needs) also ``n_first_local`` and ``n_first`` (per row its count of
    local and of other entries that are the first, in row order, to reach their
    basis row or ghost: each group lists those first) and ``untouched`` (the local
    rows ``i - lo`` no entry reaches).
    """
    n, m = configs.shape
    nloc = np.zeros(n, dtype=np.int64)
    ngh = np.zeros(n, dtype=np.int64)
    args = (basis.counts, basis.cum, +1, basis.kmin, basis.sector_offset, lo, hi)
    spk.neighbour_counts(configs, *args, nloc, ngh)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(nloc + ngh, out=ptr[1:])
    del ngh
    nbr = np.empty(int(ptr[-1]), dtype=np.int64)
    mode = np.empty(len(nbr), dtype=np.uint8 if m <= 256 else np.uint16)
    ladder = np.empty(len(nbr) if with_ladder else 0)
    # the sweep visits rows in order, so a target's first entry can assign it instead
    # of adding to it: a local row of y gets its diagonal term there, without a pass
    # of its own, and a y ghost needs no zeroing before each product (docs/performance.md)
    reached = np.zeros(hi - lo if first_touch else 0, dtype=np.bool_)
    n_first_local = np.empty(n if first_touch else 0, dtype=np.int64)
    spk.fill_neighbours(configs, np.arange(n), *args, ptr, nbr, mode, ladder, with_ladder, nloc,
                        reached, n_first_local)
    # at most M entries per row: one byte per row holds a count for M < 256
    n_loc = nloc.astype(np.uint8 if m < 256 else np.uint16)
    del nloc
    ghost = nbr < 0
    ghosts, inverse = np.unique(-1 - nbr[ghost], return_inverse=True)
    nbr[ghost] = (hi - lo) + inverse
    del ghost, inverse
    out = SimpleNamespace(ptr=ptr, n_loc=n_loc, mode=mode, ladder=ladder, ghosts=ghosts)
    if first_touch:
        out.untouched = np.flatnonzero(~reached)
        out.n_first_local = n_first_local.astype(n_loc.dtype)
        out.n_first = np.empty(n, dtype=n_loc.dtype)
        spk.ghost_first_touches_first(ptr, n_loc, hi - lo, nbr, mode, ladder,
                                      np.zeros(len(ghosts), dtype=np.bool_), out.n_first)
    del reached, n_first_local
    out.nbr = nbr.astype(_index_type(hi - lo + len(ghosts)))
    return out


def separable_bytes(basis, n_local: int, n_ranks: int) -> tuple[float, float]:
    """(kept, setup transient) bytes of the separable matrix-free operator on one rank.

    Four float64 diagonals per row; per intermediate row (sectors K - 1, about
    ``n_local x dim_int / dim`` rows) a row offset (8), its counts of local,
    first-touch local and first-touch ghost entries (1 + 1 + 1) and its ladder-map
    entries
    (at most M - K + 1 for one-neutrino modes, M otherwise) at 5 bytes (13 with
    the ladder element of general spins); on more than one rank 4 x 16 bytes per
    ghost (x and y ghosts, scatter send and receive buffers; the shared-memory
    exchange needs only the first two), up to one per intermediate row; and the
    setup transient: the intermediate configurations,
    8 + 4 bytes per entry (global then final index) and 32 per row. The R coupling
    terms cost registers, not memory; the rows no map entry reaches (their diagonal
    pass) are few.
    """
    qubit = bool(np.all(basis.counts == 1))
    m = basis.n_modes
    n = n_local
    if basis.kmax == 0:
        return 4 * 8 * n, 0.0
    inter = SectorBasis(basis.counts, max(basis.kmin - 1, 0), basis.kmax - 1)
    n_int = n * inter.dim / max(basis.dim, 1)
    entries = n_int * (m - inter.kmin if qubit else m)
    own = 4 * 8 * n + 11 * n_int + (5 if qubit else 13) * entries
    if n_ranks > 1:
        own += 4 * 16 * min(n_int, basis.dim - n)
    setup = n_int * basis.bytes_per_config() + 12 * entries + 32 * n_int
    return own, setup


def memory_bytes(sz) -> float:
    """Bytes on one rank (memory.Sizes ``sz``): :func:`separable_bytes` on top of the
    shared part. The setup transient is freed before the Krylov basis exists, so
    the peak holds the larger of the two, not their sum (N = 26 on 2 ranks: the
    sum said 3.1 GiB per rank, the measured peak was 1.8 GiB)."""
    own, setup = separable_bytes(sz.basis, sz.n, sz.n_ranks)
    return sz.common - sz.krylov + own + max(setup, sz.krylov)


@njit(cache=True)
def _diagonal_mult_add(d, x, y, alpha, beta, rows):
    """``y <- alpha d x + beta y`` in place on the local ``rows`` (all rows when
    ``rows`` is empty), without state-sized temporaries (``beta = 0``: y's old values
    are not read)."""
    n = rows.shape[0] if rows.shape[0] > 0 else y.shape[0]
    for q in range(n):
        i = rows[q] if rows.shape[0] > 0 else q
        v = alpha * d[i] * x[i]
        if beta != 0.0:
            v += beta * y[i]
        y[i] = v


def coefficient_tables(ctx, couplings_over_n, factors, weights, counts) -> None:
    """Set on ``ctx`` the tables the separable sweep reads (this module and lean_operator.py):
    ``coup`` (c_pq / N), ``factors`` f [R, M] and ``weights`` w [R] as float64,
    ``n_terms`` (R), ``lower_coef`` ``f^T`` and ``raise_coef`` ``(w_r f_rb / 2)`` (both
    mode-major [M, R]: an entry reads its R coefficients from one cache line), ``g``
    (``sum_r w_r f_rb^2`` per mode: the weights of the ``U_b L_b`` diagonal the sweep
    also makes), ``qubit`` (every mode holds one neutrino: no ladder elements) and
    ``coupling_sign``, the sign the couplings off the diagonal share (+1 or -1; 0 when
    they have both: see separable_kernels.qubit_offdiag_abs_sum). Local."""
    ctx.coup = np.ascontiguousarray(couplings_over_n, dtype=np.float64)
    ctx.factors = f = np.ascontiguousarray(factors, dtype=np.float64)
    ctx.weights = w = np.ascontiguousarray(weights, dtype=np.float64)
    ctx.n_terms = len(w)
    ctx.lower_coef = np.ascontiguousarray(f.T)
    ctx.raise_coef = np.ascontiguousarray(0.5 * f.T * w[None, :])
    ctx.g = (w[:, None] * f * f).sum(axis=0)
    ctx.qubit = bool(np.all(counts == 1))
    off = ctx.coup[~np.eye(len(ctx.coup), dtype=bool)]
    ctx.coupling_sign = 1.0 if np.all(off >= 0) else -1.0 if np.all(off <= 0) else 0.0


class SeparableHamiltonian(PythonHamiltonian):
    """Python context of the MATSHELL ``H = D + mu A`` (see the module docstring).

    Build with :func:`separable_hamiltonian`. ``mu`` starts at 1 and is changed
    with :meth:`set_mu`; H is real symmetric, so ``H^T = H^H = H``.
    """

    def __init__(self, basis: SectorBasis, configs, lo, hi, vacuum, couplings_over_n,
                 factors, weights, comm, prefix: str = "mb_H_"):
        # the option first: a bad value stops the build before the map is made
        exchange = option_kind(prefix)
        counts = basis.counts
        self.lo, self.hi = lo, hi
        self._comm = comm
        self.configs = configs
        self.counts = counts
        self.vacuum = vacuum
        coefficient_tables(self, couplings_over_n, factors, weights, counts)
        self.diag_a = sk.interaction_diagonal(configs, counts, self.factors, self.weights)
        # the product's ladder sweep also makes the diagonal of sum_b U_b L_b terms
        self.mu_diagonal = self.diag_a - 0.5 * spk.ladder_diagonal(configs, counts, self.g)
        self.set_mu(1.0)
        self.mults = 0
        self._norms = {}
        self.n_offdiag = int(spk.offdiag_counts(configs, counts, self.coup).sum())

        self.inter = intermediate_basis(basis)
        self.exchange = self.map = None
        self.n_ghost = 0
        if self.inter is None:
            return
        t_lo, t_hi = intermediate_rows(self.inter, basis, hi, comm)
        self.n_intermediate = t_hi - t_lo
        self.map = ladder_map(self.inter.configs(t_lo, t_hi), basis, lo, hi, not self.qubit,
                              first_touch=True)
        self.n_ghost = len(self.map.ghosts)
        self.exchange = ghost_exchange(exchange, self.map.ghosts, lo, hi, basis.dim, comm,
                                       prefix)

    @property
    def bytes_per_entry(self) -> int:
        return BYTES_PER_ENTRY_QUBIT if self.qubit else BYTES_PER_ENTRY_GENERAL

    def traffic(self) -> dict:
        """This rank's sizes that a product streams (benchmarks' bytes-moved bound). Local."""
        if self.map is None:
            return {"intermediate_rows": 0, "entries": 0, "ghosts": 0}
        return {"intermediate_rows": self.n_intermediate, "entries": len(self.map.nbr),
                "ghosts": self.n_ghost}

    # --- operator --------------------------------------------------------------
    def mult(self, mat, x, y) -> None:
        """``y = H x``. Collective (the ghost exchange, forward and reverse)."""
        self.mult_add(x, y, 1.0, 0.0)

    def mult_add(self, x, y, alpha: float, beta: float) -> None:
        """``y <- alpha H x + beta y`` (``y`` not ``x``; ``beta = 0`` ignores y's values).
        Collective (the ghost exchange, forward and reverse).

        The Chebyshev propagator's recurrence runs on psi and two work vectors with
        it (chebyshev_propagator.py)."""
        self.mults += 1
        xa = x.getArray(readonly=True)
        mp = self.map
        mu = self.mu * alpha

        if mp is None:
            with y as ya:
                with_event("MBDiagonal", _diagonal_mult_add, self.diag, xa, ya, alpha, beta,
                           _ALL_ROWS)
            return
        kernel = spk.apply4 if self.n_terms == 4 else spk.apply
        args = (mp.ptr, mp.n_loc, mp.n_first_local, mp.n_first, mp.nbr, mp.mode, mp.ladder,
                self.lower_coef, self.raise_coef, 0, len(mp.ptr) - 1, self.hi - self.lo, mu)
        with y as ya:
            # the sweep puts the diagonal term into every row a map entry reaches
            # (the first one assigns it); the few others get it here
            if len(mp.untouched):
                with_event("MBDiagonal", _diagonal_mult_add, self.diag, xa, ya, alpha, beta,
                           mp.untouched)
            ex = self.exchange
            if ex is None:
                with_event("MBLadderSweep", kernel, *args, xa, xa, ya, ya, self.diag, alpha,
                           beta)
                return
            # finished before the kernel, not overlapped with it: a rank busy in the
            # kernel does not progress MPI, so the large (rendezvous) ghost messages
            # of the other rank would wait for it (measured: 17.7 ms per product on
            # 2 ranks with the overlap, against ~6 ms of kernel and scatter work)
            with_event("MBGhostFill", ex.fill, x)
            with ex.ghost_arrays() as (xg, yg):
                # assigns every y ghost before adding to it
                with_event("MBLadderSweep", kernel, *args, xa, xg, ya, yg, self.diag, alpha,
                           beta)
        with_event("MBGhostAdd", ex.add, y)

    def ghost_values(self, vec):
        """This rank's ghost entries of the PETSc Vec ``vec`` (an array in ghost order;
        empty on one rank). Collective."""
        if self.exchange is None:
            return np.zeros(0, dtype=np.complex128)
        self.exchange.fill(vec)
        with self.exchange.ghost_arrays() as (xg, _yg):
            return np.array(xg)

    def destroy(self, mat=None) -> None:
        """Free the ghost exchange (idempotent). Collective."""
        if self.exchange is not None:
            self.exchange.destroy()
            self.exchange = None

    def interaction_bounds(self) -> tuple[float, float]:
        """``(a_lo, a_hi)``: the Gershgorin interval of A's spectrum (the union of its row
        discs, exact diagonal and off-diagonal absolute row sums; O(M^2) per row, O(M R)
        for one-neutrino modes whose couplings share one sign; no gather). Collective;
        computed once and cached."""
        if getattr(self, "_bounds", None) is None:
            from mpi4py import MPI

            if self.qubit and self.coupling_sign != 0.0:
                off = spk.qubit_row_abs_sums(self.configs, self.factors,
                                             self.factors.sum(axis=1), self.weights,
                                             self.coupling_sign)
            else:
                off = spk.row_abs_sums(self.configs, self.counts, self.coup,
                                       np.zeros(len(self.configs)), 1.0, 1)
            lo = float((self.diag_a - off).min(initial=np.inf))
            hi = float((self.diag_a + off).max(initial=-np.inf))
            self._bounds = (self._comm.allreduce(lo, op=MPI.MIN),
                            self._comm.allreduce(hi, op=MPI.MAX))
        return self._bounds

    def norm(self, mat, norm_type) -> float:
        """1-, infinity- (equal: H is symmetric) or Frobenius norm of H, exact. Collective.

        SLEPc's expokit MFN needs it (MatNorm); cached per (mu, type)."""
        PETSc, _ = init_petsc()
        from mpi4py import MPI

        key = (self.mu, int(norm_type))
        if key not in self._norms:
            comm = mat.getComm().tompi4py()
            diag = self.vacuum + self.mu * self.diag_a
            if norm_type == PETSc.NormType.FROBENIUS:
                local = spk.row_abs_sums(self.configs, self.counts, self.coup, diag,
                                         self.mu, 2).sum()
                value = float(np.sqrt(comm.allreduce(local)))
            elif norm_type in (PETSc.NormType.NORM_1, PETSc.NormType.INFINITY):
                local = spk.row_abs_sums(self.configs, self.counts, self.coup, diag,
                                         self.mu, 1).max(initial=0.0)
                value = float(comm.allreduce(local, op=MPI.MAX))
            else:
                raise ValueError(f"norm type {norm_type} not provided")
            self._norms[key] = value
        return self._norms[key]


def separable_hamiltonian(basis: SectorBasis, configs: np.ndarray, lo: int, hi: int, vacuum,
                          couplings_over_n: np.ndarray, factors: np.ndarray, weights: np.ndarray,
                          comm, prefix: str = "mb_H_"):
    """MATSHELL of ``H = D + 1 * A`` applied through the separable factors. Collective.

    ``vacuum`` is the Vec of D (hamiltonian.vacuum_diagonal); ``factors[R, M]``
    and ``weights[R]`` a separable form of ``couplings_over_n`` off the diagonal
    (shell_operator.separable_couplings). Change mu with
    ``mat.getPythonContext().set_mu``. Returns the matrix and the global count
    of its non-zeros (as stored AIJ would hold them, diagonal included).
    """
    if len(weights) > 8:
        log.warning("the couplings are not a sum of few separable terms (R = %d): the "
                    "separable operator costs R gathers' worth of work per entry", len(weights))
    d = np.ascontiguousarray(vacuum.getArray(readonly=True).real, dtype=np.float64)
    ctx = SeparableHamiltonian(basis, np.ascontiguousarray(configs), lo, hi, d, couplings_over_n,
                               factors, weights, comm, prefix)
    return python_hamiltonian(ctx, lo, hi, basis.dim, comm, prefix)
