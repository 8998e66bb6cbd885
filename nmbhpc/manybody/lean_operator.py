"""The separable ``H = D + mu A`` with nothing stored per entry (``manybody.operator = "lean"``).

The product of separable_operator.py (its docstring derives it) with three
changes that make the largest bases fit:

* **No ladder map.** Each product unranks this rank's intermediate states
  (sectors K - 1) in small chunks and ranks their raised neighbours on the
  fly (lean_kernels), instead of streaming a stored map of 5 bytes per entry
  (N = 30: 11.6 GB of maps for 155 M states). Ranking costs O(M) per
  intermediate state for all its neighbours; for one-neutrino modes they are
  stepped from the previous state's instead (lean_kernels), O(1) on average
  plus one add per neighbour.
* **Two diagonals per row**, float64: the vacuum term D and the diagonal that
  mu multiplies; ``D + mu (...)`` is formed inside the product, not stored.
  Neither the configurations nor the complex Vec of D are needed after the
  build (the solver frees them: operators.OperatorKind.keeps_rows).
* **Ghost spans instead of a ghost list**, exchanged with MPI_Alltoallv
  straight from the vectors' arrays: per other rank one contiguous range of
  its rows (the smallest holding every neighbour reached there), so neither
  direction needs PETSc's pack buffers, which for a span of half the basis
  (2 ranks: nearly every intermediate state has one raised neighbour on the
  other rank) would cost two more vectors' worth per rank. The reverse
  direction (ghost sums added to their owners) goes in rounds of at most
  :data:`EXCHANGE_BYTES` per rank.

``mult_add(x, y, alpha, beta)`` gives ``y <- alpha H x + beta y`` in place, so
a three-term recurrence (the Chebyshev propagator) needs no product vector.
``interaction_bounds()`` gives a Gershgorin interval of A (computed once,
unranking the rows again). Memory per rank: 16 bytes per row, 32 per ghost,
the exchange buffer (:func:`memory_bytes`).
"""
from __future__ import annotations

import logging

import numpy as np

from . import lean_kernels as lk
from .chebyshev_propagator import state_vectors
from . import separable_kernels as spk
from . import shell_kernels as sk
from .basis import SectorBasis
from .hamiltonian import local_rows
from .product_events import with_event
from .separable_operator import coefficient_tables, intermediate_basis
from .shell_operator import PythonHamiltonian, python_hamiltonian

log = logging.getLogger(__name__)

#: bytes of ghost sums one rank receives per round of the reverse exchange
EXCHANGE_BYTES = 64 * 2**20

_SCALAR = 16


def ghost_bytes(basis, n_local: int, n_ranks: int) -> float:
    """Bytes of the ghost spans of x and y and the exchange buffer on one rank: at
    most every row of the other ranks (2 ranks: nearly all of them). Local."""
    if n_ranks == 1 or basis.kmax == 0:
        return 0.0
    return float(2 * _SCALAR * (basis.dim - n_local) + EXCHANGE_BYTES)


def memory_bytes(sz) -> float:
    """Peak bytes on one rank (memory.Sizes ``sz``): the larger of two phases.

    * build: the configurations (held by the solver), the complex Vec of D,
      the two float64 diagonals kept and two built on the way, then psi;
    * evolution: the configurations and D are freed, the ghost spans are
      allocated by the first product; the two diagonals, the ghosts, psi and the
      propagator's state-sized vectors (the Chebyshev series: two, with
      ``mult_add``; MFN: its Krylov basis and work vectors).
    """
    n = sz.n
    configs = n * sz.basis.bytes_per_config()
    shared = sz.common - sz.krylov - configs  # runtime, lowering operators
    build = configs + _SCALAR * n + max(4 * 8 * n, 2 * 8 * n + _SCALAR * n)
    # without D; the Chebyshev series uses mult_add: psi and two work vectors
    vectors = _SCALAR * n * (1 + state_vectors(True)) if sz.vectors else sz.krylov - _SCALAR * n
    evolution = 2 * 8 * n + ghost_bytes(sz.basis, n, sz.n_ranks) + vectors
    return shared + max(build, evolution)


class LeanHamiltonian(PythonHamiltonian):
    """Python context of the MATSHELL ``H = D + mu A`` (see the module docstring).

    Build with :func:`lean_hamiltonian`; ``mu`` starts at 1 (:meth:`set_mu`).
    """

    def __init__(self, basis: SectorBasis, configs, lo, hi, vacuum, couplings_over_n, factors,
                 weights, comm):
        self.basis = basis
        self.lo, self.hi = lo, hi
        self.comm = comm
        counts = basis.counts
        self.counts = counts
        coefficient_tables(self, couplings_over_n, factors, weights, counts)
        self.vacuum = np.ascontiguousarray(vacuum, dtype=np.float64)
        self.mu_diagonal = sk.interaction_diagonal(configs, counts, self.factors, self.weights)
        self.mu_diagonal -= 0.5 * spk.ladder_diagonal(configs, counts, self.g)
        self.n_offdiag = int(spk.offdiag_counts(configs, counts, self.coup).sum())
        self.mults = 0
        self._bounds = None
        self.set_mu(1.0)

        # one-neutrino modes with R = 4 (multi-angle) walk bit strings (lean_kernels)
        self._binom_t = lk.binomials_t(basis.n_modes) \
            if self.qubit and self.n_terms == 4 and basis.n_modes <= lk.MAX_BIT_MODES else None
        self.inter = intermediate_basis(basis)
        self.n_ghost = 0
        # the ghost spans are allocated by the first product: after the build, when
        # the solver has freed the configurations (lower peak)
        self.xg = self.yg = None
        self.span_lo = np.zeros(1, dtype=np.int64)
        self.span_hi = np.zeros(1, dtype=np.int64)
        self.span_pos = np.zeros(1, dtype=np.int64)
        self._plan = None
        if self.inter is None:
            return
        self.t_lo, self.t_hi = local_rows(self.inter, comm)
        if comm.Get_size() > 1:
            self._plan_exchange()

    # --- set-up -----------------------------------------------------------------
    def _inter_args(self):
        it = self.inter
        return (it.cum, it.kmin, it.sector_offset)

    def _basis_args(self):
        b = self.basis
        return (b.counts, b.cum, b.kmin, b.sector_offset)

    def _plan_exchange(self) -> None:
        """Ghost spans, and what every other rank needs of this rank's rows. Collective."""
        comm = self.comm
        size, me = comm.Get_size(), comm.Get_rank()
        blocks = np.zeros(size + 1, dtype=np.int64)
        blocks[1:] = comm.allgather(self.hi)
        big = np.iinfo(np.int64).max
        lo_seen = np.full(size, big, dtype=np.int64)
        hi_seen = np.full(size, -1, dtype=np.int64)
        lk.neighbour_spans(self.t_lo, self.t_hi, *self._inter_args(), *self._basis_args(),
                           blocks, lo_seen, hi_seen)
        lo_seen[me], hi_seen[me] = big, -1
        want = np.where(hi_seen >= lo_seen, hi_seen + 1 - lo_seen, 0)
        spans = [q for q in range(size) if want[q] > 0]
        lens = want[spans]
        if len(spans):
            self.span_lo = lo_seen[spans].copy()
            self.span_hi = self.span_lo + lens
            self.span_pos = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        else:  # no ghost: one empty span that no index reaches
            self.span_lo = np.array([big], dtype=np.int64)
            self.span_hi = self.span_lo.copy()
        self.n_ghost = int(lens.sum())
        if max(comm.allgather(int(want.max(initial=0)))) >= 2**31:
            raise ValueError("a ghost span of 2^31 rows or more exceeds MPI's counts; "
                             "use more ranks")
        # rows of this rank that rank q reads: q's span in this rank's block
        first = np.where(want > 0, lo_seen, 0)
        asked_first = np.array(comm.alltoall(first.tolist()), dtype=np.int64)
        asked = np.array(comm.alltoall(want.tolist()), dtype=np.int64)
        recv_pos = np.zeros(size, dtype=np.int64)
        recv_pos[spans] = self.span_pos
        send_pos = np.where(asked > 0, asked_first - self.lo, 0)
        per_round = max(1, EXCHANGE_BYTES // _SCALAR // max(1, size - 1))
        longest = comm.allreduce(int(max(want.max(initial=0), asked.max(initial=0))),
                                 op=_max())
        self._plan = {"want": want, "recv_pos": recv_pos, "asked": asked,
                      "send_pos": send_pos, "per_round": per_round,
                      "rounds": -(-longest // per_round),
                      "buffer": np.empty(per_round * max(1, size - 1), dtype=np.complex128)}

    # --- exchange ------------------------------------------------------------------
    def _fill_ghosts(self, xa) -> None:
        """``xg`` <- the ghost spans of x. Collective."""
        from mpi4py import MPI

        p = self._plan
        self.comm.Alltoallv([xa, (p["asked"], p["send_pos"]), MPI.C_DOUBLE_COMPLEX],
                            [self.xg, (p["want"], p["recv_pos"]), MPI.C_DOUBLE_COMPLEX])

    def _add_ghosts(self, ya) -> None:
        """``y[own rows] +=`` the other ranks' sums for them (their ``yg``). Collective."""
        from mpi4py import MPI

        p = self._plan
        step, buf = p["per_round"], p["buffer"]
        want, asked = p["want"], p["asked"]
        for r in range(p["rounds"]):
            start = r * step
            sc = np.clip(want - start, 0, step)
            rc = np.clip(asked - start, 0, step)
            rpos = np.concatenate([[0], np.cumsum(rc)[:-1]])
            self.comm.Alltoallv([self.yg, (sc, p["recv_pos"] + np.where(sc > 0, start, 0)),
                                 MPI.C_DOUBLE_COMPLEX],
                                [buf, (rc, rpos), MPI.C_DOUBLE_COMPLEX])
            for q in np.flatnonzero(rc):
                at = p["send_pos"][q] + start
                ya[at:at + rc[q]] += buf[rpos[q]:rpos[q] + rc[q]]

    # --- operator ------------------------------------------------------------------
    def set_mu(self, mu: float) -> None:
        """Make the operator ``D + mu A`` (not collective: nothing is recomputed)."""
        self.mu = float(mu)

    def mult(self, mat, x, y) -> None:
        """``y = H x``. Collective."""
        self.mult_add(x, y, 1.0, 0.0)

    def mult_add(self, x, y, alpha: float, beta: float) -> None:
        """``y <- alpha H x + beta y`` in place (``y`` must not be ``x``; ``beta = 0``
        ignores what y held). Collective (the ghost exchange)."""
        self.mults += 1
        if self.xg is None:
            self.xg = np.empty(self.n_ghost, dtype=np.complex128)
            self.yg = np.empty(self.n_ghost, dtype=np.complex128)
        xa = x.getArray(readonly=True)
        if self._plan is not None:
            with_event("MBGhostFill", self._fill_ghosts, xa)
        with y as ya:
            with_event("MBDiagonal", lk.diagonal_axpby, alpha, beta, self.vacuum,
                       self.mu_diagonal, self.mu, xa, ya)
            if self.inter is None:
                return
            with_event("MBLadderSweep", self._sweep, alpha * self.mu, xa, ya)
            if self._plan is not None:
                with_event("MBGhostAdd", self._add_ghosts, ya)

    def _sweep(self, mu: float, xa, ya) -> None:
        """``ya += mu A_off xa`` over this rank's intermediate states; the ghost span's
        sums go to ``self.yg`` (zeroed first). Local."""
        self.yg[:] = 0.0
        if self._binom_t is not None:
            b = self.basis
            lk.apply4_qubit(self.t_lo, self.t_hi, *self._inter_args(), b.kmin, b.sector_offset,
                            self._binom_t, self.lo, self.hi, self.span_lo, self.span_pos,
                            self.lower_coef, self.raise_coef, mu, xa, self.xg, ya, self.yg)
        else:
            kernel = lk.apply4 if self.n_terms == 4 else lk.apply
            kernel(self.t_lo, self.t_hi, *self._inter_args(), *self._basis_args(), self.lo,
                   self.hi, self.span_lo, self.span_hi, self.span_pos, self.lower_coef,
                   self.raise_coef, self.qubit, mu, xa, self.xg, ya, self.yg)

    def getDiagonal(self, mat, d) -> None:
        """The diagonal of H (unranks the rows again). Local."""
        ladder = np.empty(self.hi - self.lo)
        lk.ladder_diagonal_range(self.lo, self.hi, self.basis.cum, self.basis.kmin,
                                 self.basis.sector_offset, self.counts, self.g, ladder)
        diag_a = self.mu_diagonal + 0.5 * ladder
        d.setArray((self.vacuum + self.mu * diag_a).astype(np.complex128))

    def interaction_bounds(self) -> tuple[float, float]:
        """``(a_lo, a_hi)``: every eigenvalue of A lies in it (Gershgorin; computed
        once, O(M^2) per row, O(K R) for one-neutrino modes whose couplings off the
        diagonal share one sign, e.g. the multi-angle ``1 - p.q``). Collective."""
        if self._bounds is None:
            b = self.basis
            if self.qubit and self.coupling_sign != 0.0 and b.n_modes <= lk.MAX_BIT_MODES:
                # bit z is mode M - 1 - z (lean_kernels' bit strings)
                lo, hi = lk.interaction_gershgorin_qubit(
                    self.lo, self.hi, b.cum, b.kmin, b.sector_offset,
                    np.ascontiguousarray(self.factors[:, ::-1].T), self.factors.sum(axis=1),
                    self.weights,
                    np.ascontiguousarray(self.g[::-1]), self.coupling_sign, self.mu_diagonal)
            else:
                lo, hi = lk.interaction_gershgorin(self.lo, self.hi, b.cum, b.kmin,
                                                   b.sector_offset, self.counts, self.coup,
                                                   self.g, self.mu_diagonal)
            self._bounds = (float(self.comm.allreduce(lo, op=_min())),
                            float(self.comm.allreduce(hi, op=_max())))
        return self._bounds

    def traffic(self) -> dict:
        """This rank's intermediate rows and ghosts (benchmarks). Local."""
        rows = 0 if self.inter is None else self.t_hi - self.t_lo
        return {"intermediate_rows": rows, "entries": 0, "ghosts": self.n_ghost}


def _max():
    from mpi4py import MPI
    return MPI.MAX


def _min():
    from mpi4py import MPI
    return MPI.MIN


def lean_hamiltonian(basis: SectorBasis, configs: np.ndarray, lo: int, hi: int, vacuum,
                     couplings_over_n: np.ndarray, factors: np.ndarray, weights: np.ndarray,
                     comm, prefix: str = "mb_H_"):
    """MATSHELL of ``H = D + 1 * A`` (see the module docstring). Collective.

    Arguments as separable_operator.separable_hamiltonian. Returns the matrix
    and the global count of its non-zeros (as a stored AIJ would hold them).
    """
    d = np.ascontiguousarray(vacuum.getArray(readonly=True).real, dtype=np.float64)
    ctx = LeanHamiltonian(basis, np.ascontiguousarray(configs), lo, hi, d, couplings_over_n,
                          factors, weights, comm)
    return python_hamiltonian(ctx, lo, hi, basis.dim, comm, prefix)
