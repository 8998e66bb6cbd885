# nmbhpc: set-up, main run, tests.   `make help` lists the targets.
#
# Every target first runs `setup`, which is idempotent and cheap once done:
#   1. system packages (Debian: apt-get, only what is missing; elsewhere: a
#      check that the MPI/PETSc/SLEPc/h5py stack is importable, see docs/install.md)
#   2. .venv with --system-site-packages (sees that stack)
#   3. `pip install -e .[test]`, redone only when pyproject.toml changes
#
# Variables (override on the command line: `make test MPIEXEC=srun`):
#   PYTHON   interpreter the venv is built from (default: Debian's /usr/bin/python3)
#   SYSTEM_PACKAGES  apt (default where dpkg-query exists): install missing Debian
#            packages; none: the stack comes from site modules/spack, only check
#            that $(PYTHON) can import it (docs/install.md)
#   MPIEXEC  MPI launcher, without -n
#   NP       ranks for `make run` / `make bench`
#   TEST_TIMEOUT  seconds per pytest pass before it counts as hung (MPI deadlock)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= /usr/bin/python3
SYSTEM_PACKAGES ?= $(if $(shell command -v dpkg-query),apt,none)
VENV   := .venv
VPY    := $(VENV)/bin/python
NMBHPC := $(VENV)/bin/nmbhpc
# stamp files live inside the venv: removing .venv resets them
VENV_STAMP    := $(VENV)/.stamp-venv
INSTALL_STAMP := $(VENV)/.stamp-install

# root needs --allow-run-as-root under Open MPI; --oversubscribe lets the
# 3-rank test pass run on a 2-core machine.
MPIEXEC ?= mpirun $(if $(filter 0,$(shell id -u)),--allow-run-as-root) --oversubscribe
NP ?= 2
TEST_TIMEOUT ?= 1200

# One BLAS/OpenMP thread per MPI rank: ranks are the parallelism, and threaded
# BLAS under oversubscribed ranks thrashes the cores.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1

APT_PACKAGES := \
    openmpi-bin python3-mpi4py \
    python3-petsc4py-complex python3-slepc4py-complex \
    python3-petsc4py-64-complex python3-slepc4py-64-complex \
    python3-h5py-mpi \
    python3-numpy python3-scipy python3-matplotlib \
    python3-xarray python3-h5netcdf \
    python3-venv python3-pip

.PHONY: help setup system-deps run test test-int64 doctor bench bench-all clean distclean

help:
	@echo "make run        set up, then run examples/default.toml on $(NP) ranks -> output/default.h5"
	@echo "make test       set up, then pytest serially and under $(MPIEXEC) -n 2 and -n 3,"
	@echo "                then the many-body tests on the 64-bit-index PETSc (make test-int64)"
	@echo "make setup      install what is missing (apt on Debian, .venv, pip install -e .[test])"
	@echo "make doctor     report the numerical stack, serially and on 2 ranks"
	@echo "make bench      run the many-body benchmark (benchmarks/, see docs/performance.md)"
	@echo "make bench-all  the N <= 20 benchmarks of docs/performance.md, one after the other"
	@echo "make clean      remove output/ and caches;  make distclean  also removes .venv"

setup: $(INSTALL_STAMP)

# --- 1. system packages -------------------------------------------------------
# Always checked (dpkg-query, a few ms); apt-get runs only for what is missing,
# and `apt-get update` only then.
system-deps:
	@if [ "$(SYSTEM_PACKAGES)" = apt ]; then \
	    missing=$$(for p in $(APT_PACKAGES); do \
	        dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' || echo "$$p"; \
	    done | tr '\n' ' '); \
	    if [ -n "$${missing// /}" ]; then \
	        if [ "$$(id -u)" != 0 ]; then \
	            echo "make setup: missing Debian packages: $$missing" >&2; \
	            echo "  run 'make setup' as root, or install them yourself; see docs/install.md" >&2; \
	            exit 1; \
	        fi; \
	        echo "make setup: installing $$missing"; \
	        export DEBIAN_FRONTEND=noninteractive; \
	        apt-get update -q; \
	        apt-get install -y -q --no-install-recommends $$missing; \
	    fi; \
	else \
	    $(PYTHON) -c 'import nmbhpc.runtime.stack, mpi4py, petsc4py, slepc4py, h5py' || { \
	        echo "make setup: $(PYTHON) cannot import mpi4py, petsc4py, slepc4py and h5py;" >&2; \
	        echo "  load your site's modules or spack environment first: docs/install.md" >&2; \
	        exit 1; }; \
	fi

# --- 2. virtual environment ---------------------------------------------------
# order-only prerequisite: the apt check runs every time but never forces a rebuild
$(VENV_STAMP): | system-deps
	$(PYTHON) -m venv --system-site-packages $(VENV)
	@touch $@

# --- 3. the package, editable -------------------------------------------------
# --no-build-isolation: build with the venv's setuptools (>= 64 for editable
# wheels) instead of downloading a fresh one into a throw-away environment.
$(INSTALL_STAMP): pyproject.toml $(VENV_STAMP) | system-deps
	$(VPY) -m pip install --disable-pip-version-check --no-build-isolation -e '.[test]'
	@touch $@

# --- main job -----------------------------------------------------------------
run: setup
	@mkdir -p output
	$(MPIEXEC) -n $(NP) $(NMBHPC) run examples/default.toml -o output/default.h5 --force
	$(NMBHPC) info output/default.h5

# --- tests: serial, 2 ranks, 3 ranks (uneven partitions) ------------------------
# `timeout` turns an MPI deadlock into a failure; make stops at the first failing
# pass. pytest exits 5 when it collected no test: reported, and still a failure.
# --color=no: Open MPI gives ranks a pty, and escape codes would garble CI logs
PYTEST = $(VPY) -m pytest -q --color=no tests
define pytest_pass
	@echo; echo "======== nmbhpc tests: $(1) ========"
	@timeout --kill-after=30 $(TEST_TIMEOUT) $(2) || { rc=$$?; \
	    case $$rc in 5) echo "make test: pytest collected no tests ($(1))" >&2;; \
	                 124|137) echo "make test: timed out after $(TEST_TIMEOUT) s ($(1)): deadlock?" >&2;; esac; \
	    exit $$rc; }
endef

# The 64-bit-index leg: the many-body engine (basis indices, operator and
# PETSc index arithmetic) on Debian's 64-bit PetscInt build, serial and 2 ranks.
INT64_TESTS = tests/test_manybody_*.py tests/test_exit.py
INT64_ENV = env NMBHPC_PETSC_INDEX_BITS=64 PETSC_DIR= SLEPC_DIR=
HAVE_INT64 := $(wildcard /usr/lib/petscdir/petsc64-3.*/*-linux-gnu-complex)

# The serial pass runs its files on two pytest-xdist workers (--dist loadfile: a
# file's tests stay in one process, in order); most of its time is spent waiting
# for the subprocesses and mpirun jobs the tests start. The local-SLURM tests run
# on their own after it: their SLURM signal timing must not compete with a
# second worker.
XDIST = -n 2 --dist loadfile
SLURM_TESTS = tests/test_slurm.py

test: setup
	$(call pytest_pass,serial,$(PYTEST) $(XDIST) --ignore $(SLURM_TESTS))
	$(call pytest_pass,serial: local SLURM,$(VPY) -m pytest -q --color=no $(SLURM_TESTS))
	$(call pytest_pass,$(MPIEXEC) -n 2,$(MPIEXEC) -n 2 $(PYTEST))
	$(call pytest_pass,$(MPIEXEC) -n 3,$(MPIEXEC) -n 3 $(PYTEST))
	$(MAKE) test-int64

test-int64: setup
ifeq ($(HAVE_INT64),)
	@echo "make test-int64: no Debian 64-bit-index PETSc (python3-petsc4py-64-complex): skipped"
else
	$(call pytest_pass,64-bit PetscInt serial,$(INT64_ENV) $(VPY) -m pytest -q --color=no $(INT64_TESTS))
	$(call pytest_pass,64-bit PetscInt $(MPIEXEC) -n 2,$(INT64_ENV) $(MPIEXEC) -n 2 $(VPY) -m pytest -q --color=no $(INT64_TESTS))
endif

doctor: setup
	$(NMBHPC) doctor
	$(MPIEXEC) -n $(NP) $(NMBHPC) doctor

BENCH ?= benchmarks/manybody.py
bench: setup
	@test -n "$(BENCH)" || { echo "make bench: no benchmark script in benchmarks/" >&2; exit 1; }
	$(MPIEXEC) -n $(NP) $(VPY) $(BENCH)

# docs/performance.md and the benchmark section of docs/kinetics.md, N <= 20 and
# small grids (~10 min on 2 idle cores). The large-N runs of performance.md
# sections 4-5 take hours on 2 cores; their commands are on that page.
bench-all: setup
	$(MPIEXEC) -n 1 $(VPY) benchmarks/manybody_vs_scipy.py
	$(MPIEXEC) -n 2 $(VPY) benchmarks/manybody_vs_scipy.py
	$(MPIEXEC) -n 1 $(VPY) benchmarks/manybody_mfn_scan.py
	for op in separable real matrix shell; do \
	    $(MPIEXEC) -n 2 $(VPY) benchmarks/manybody_scaling.py --n 20 --operator $$op; done
	$(VPY) benchmarks/manybody_strong_scaling.py --repeat 5 --operators separable real shell \
	    --mpiexec "$(MPIEXEC) -n"
	$(VPY) benchmarks/manybody_real_formats.py
	for op in separable real; do \
	    $(MPIEXEC) -n 2 $(VPY) benchmarks/manybody_vs_quspin.py --operator $$op; done
	$(MPIEXEC) -n 1 $(VPY) benchmarks/collective_two_beam.py --n 100000
	$(MPIEXEC) -n 1 $(VPY) benchmarks/kinetics_updates.py
	$(MPIEXEC) -n 2 $(VPY) benchmarks/kinetics_updates.py

clean:
	rm -rf output .pytest_cache .hypothesis build *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
