"""``nmbhpc hierarchy``: the scale hierarchy of Eq. (17) for conditions or a run.

    nmbhpc hierarchy --preset supernova [--E MeV --n cm^-3 --t s ...]
    nmbhpc hierarchy --E 10 --L 1e52 --r 30 --rho 1e12 --ye 0.2 --t 1e-6
    nmbhpc hierarchy CONFIG.toml [--preset merger] [--collision-rate G]   (kinetics configs too)

Without CONFIG: the physical scales (s, MeV, cm) of the given conditions (a
preset, with any option overriding it). With CONFIG: the run's scales in code
units, with the physical ratios tau_int/tau_mfp^fs and tau_mfp^fs/tau_mfp^c taken
from the conditions (default: the supernova preset), followed by the run's
window warnings. Both print which strong inequalities of Eq. (17) hold.
Formulas and sources: docs/hierarchy.md.

Not collective and needs no MPI: under a launcher only rank 0 (read from the
launcher's environment) prints.
"""
from __future__ import annotations

import math
import os

from ..cli import UsageError
from ..hierarchy import (
    DEFAULT_THRESHOLD, PRESETS, Conditions, ConditionsError, check_window, format_table,
    inequalities, physical_table, preset, run_hierarchy, run_inequalities,
)

# Conditions field -> command-line option (error messages name the option)
OPTIONS = {
    "energy": "--E", "temperature": "--T", "density": "--n", "luminosity": "--L",
    "radius": "--r", "electron_density": "--ne", "mass_density": "--rho",
    "electron_fraction": "--ye", "volume": "--V", "target_density": "--n-target",
    "elapsed": "--t", "preset": "--preset",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "hierarchy",
        help="scales of Eqs. (11), (12), (17), (19) for physical conditions or a run config",
        description="Print tau_int, tau_mfp^fs, tau_mfp^c, Sigma/E, G_F E^2, g and which strong "
        "inequalities tau_int << t << tau_mfp^fs << tau_mfp^c of Eq. (17) hold, for physical "
        "conditions (a preset and/or options) or, given CONFIG, for a run in code units.",
    )
    p.add_argument("config", nargs="?", default=None, metavar="CONFIG",
                   help="run config (TOML): report the run's hierarchy in units of 1/omega0")
    p.add_argument("--preset", default=None,
                   help=f"physical conditions preset: {', '.join(sorted(PRESETS))} "
                   "(default with CONFIG: supernova)")
    g = p.add_argument_group("physical conditions (override the preset)")
    g.add_argument("--E", type=float, dest="energy", help="mean neutrino energy (MeV)")
    g.add_argument("--T", type=float, dest="temperature",
                   help="temperature (MeV); <E> = 3.15 T")
    g.add_argument("--n", type=float, dest="density", help="neutrino number density (cm^-3)")
    g.add_argument("--L", type=float, dest="luminosity",
                   help="neutrino luminosity (erg/s), with --r: n = L/(4 pi r^2 c <E>)")
    g.add_argument("--r", type=float, dest="radius", help="radius (km), with --L")
    g.add_argument("--ne", type=float, dest="electron_density", help="electron density (cm^-3)")
    g.add_argument("--rho", type=float, dest="mass_density", help="mass density (g cm^-3)")
    g.add_argument("--ye", type=float, dest="electron_fraction", help="electron fraction Y_e")
    g.add_argument("--V", type=float, dest="volume",
                   help="interaction volume (cm^3); default (hbar c/E)^3")
    g.add_argument("--n-target", type=float, dest="target_density",
                   help="collision-partner density (cm^-3); default n_b + n_e + n")
    g.add_argument("--t", type=float, dest="elapsed", help="elapsed time (s), without CONFIG")
    r = p.add_argument_group("run config")
    r.add_argument("--collision-rate", type=float, default=None,
                   help="the run's collision rate Gamma (omega0); default: collisionless")
    r.add_argument("--growth-rate", type=float, default=None,
                   help="instability growth rate (omega0) for the ln N time; default: a scale")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"a ratio below this is a strong inequality '<<' (default {DEFAULT_THRESHOLD:g})")
    p.set_defaults(func=run)


def _conditions(args, required: bool) -> Conditions | None:
    overrides = {k: getattr(args, k) for k in OPTIONS if k != "preset"}
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        if args.preset is not None:
            return preset(args.preset, **given)
        if not given and not required:
            return None
        if not given:
            raise UsageError("give --preset NAME or the conditions (--E or --T, and --n or "
                             "--L with --r; optionally --ne or --rho)")
        return Conditions(**given)
    except ConditionsError as exc:
        opt = OPTIONS.get(exc.field, exc.field)
        raise UsageError(f"{opt}: {exc}") from None


def _positive_or_none(value, option):
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{option} must be a finite number >= 0, got {value!r}")


def _is_rank0() -> bool:
    for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"):
        if var in os.environ:
            return os.environ[var] == "0"
    return True


def run(args) -> int:
    """Print the table(s) on rank 0; return 0 (bad input raises UsageError)."""
    if not (math.isfinite(args.threshold) and 0 < args.threshold < 1):
        raise UsageError(f"--threshold must be in (0, 1), got {args.threshold!r}")
    _positive_or_none(args.collision_rate, "--collision-rate")
    _positive_or_none(args.growth_rate, "--growth-rate")
    lines = []
    if args.config is None:
        cond = _conditions(args, required=True)
        lines.append(format_table(physical_table(cond, threshold=args.threshold),
                                  f"scale hierarchy: {cond.label} conditions (s, MeV, cm)"))
        ineq = inequalities(cond, threshold=args.threshold)
        warnings = []
    else:
        if args.elapsed is not None:
            raise UsageError("--t: with CONFIG the elapsed time comes from output.times")
        from ..config import ConfigError
        from ..config import load_any_config_text

        try:
            with open(args.config, "rb") as fh:
                text = fh.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read config {args.config!r}: {exc}") from None
        try:
            config = load_any_config_text(text, source_path=args.config)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if config.solver == "kinetics" and args.growth_rate is not None:
            raise UsageError("--growth-rate: a kinetics run has no ln N time (its table has "
                             "no t_lnN row)")
        cond = _conditions(args, required=False)
        kw = dict(conditions=cond, collision_rate=args.collision_rate,
                  growth_rate=args.growth_rate)
        rows = run_hierarchy(config, **kw)
        label = (cond or PRESETS["supernova"]).label
        lines.append(format_table(rows, f"scale hierarchy: {config.source_path} "
                                  f"(solver {config.solver}; code units; physical ratios from "
                                  f"{label})"))
        ineq = run_inequalities(rows, threshold=args.threshold)
        warnings = check_window(config, threshold=args.threshold, **kw)
    lines.append("Eq. (17): tau_int << t << tau_mfp^fs << tau_mfp^c")
    lines += ["  " + i.describe() for i in ineq]
    if args.config is not None:
        lines.append("window warnings:" if warnings else "window warnings: none")
        lines += [f"  - {w}" for w in warnings]
    if _is_rank0():
        print("\n".join(lines), flush=True)
    return 0
