"""Run only by tests/test_exit.py: rank 0 blocks in a barrier at interpreter exit,
the shape of a finalisation hang, to check that the exit watchdog catches it."""
import atexit

from mpi4py import MPI


def test_rank_0_hangs_at_exit():
    if MPI.COMM_WORLD.Get_rank() == 0:
        atexit.register(MPI.COMM_WORLD.Barrier)
