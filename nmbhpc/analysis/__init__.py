"""What is made of run files once they are written: comparisons between solvers
(``compare``, ``study``), scan summaries, and the experiments of the paper
(``experiments``: Sec. IV; ``hierarchy_experiments``: the scale hierarchy of Eq. (17))."""
