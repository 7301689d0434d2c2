"""The probe protocols at the study's sizes, serial vs parallel, and the full study's probe time.

Two modes. With --protocols, each named probe (svm, logreg, knn; probe_kinds.py) alone at the
study's largest dataset's shape, HiCervix (about 22,000 images x d, 29 classes, long tail), for
d in 512, 1024, 1536, 2560, 4096: the pair's fits one after the other (serial, jobs=1) and over
the cores (parallel, jobs=0), the bootstrap of the holdout included; figures to
results/bench/probe_protocols.json.

    python bench/probe_scale.py --protocols svm,logreg,knn --quick    # smoke run: 2 % of the rows, d 512
    python bench/probe_scale.py --protocols svm,logreg,knn            # the full shape (hours on 2 cores)
    python bench/probe_scale.py --protocols logreg --scale 0.1 --dims 1024 --no-serial

Without --protocols, the study's SVM on every study dataset:

For each study dataset (its images and classes, bench/study_shape.py) and each embedding dimension
of the study's models, synthetic embedding-like features go through the protocol (StandardScaler ->
LinearSVC(C = 100 / n_train), 20 % holdout, 5-fold CV: six fits) three ways, in one run:

  serial : the fits one after the other in this process (jobs=1; what the runner did before)
  folds  : the pair's six fits over the cores (jobs=0)
  pairs  : all datasets at one dimension in one pool, which is what the runner does for one model

The three give bit-identical results (tests/unit/evaluator/test_probe_parallel.py); this checks
the scores agree too. The full study's probe time sums, over the study plan's models, the time at
that model's dimension. Figures go to results/bench/probe_scale.json for bench/study_cost.py.

    python bench/probe_scale.py --quick               # smoke run: 5 % of every dataset, dim 512
    python bench/probe_scale.py                       # the study's sizes (hours on 2 cores)
    python bench/probe_scale.py --dims 1024 --datasets HiCervix,ISIC2019 --no-serial
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_results import usable_cores, write_result  # noqa: E402
from study_shape import STUDY_DATASETS, StudyDataset, study_models, synthetic_features  # noqa: E402

from medembed_evaluator.probe import ProbeInput, Protocol, run_probe_set, run_probes  # noqa: E402
from medembed_evaluator.probe_kinds import PROBES  # noqa: E402

STUDY_DIMS = (512, 768, 1024, 1280, 2048, 4096, 5120)
PROTOCOL_DIMS = (512, 1024, 1536, 2560, 4096)
PROTOCOL = Protocol(seed=0, folds=5, c_rule="100/n_train", test_size=0.2)


def timed_probes(pairs: list[ProbeInput], jobs: int) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    results = run_probes(pairs, PROTOCOL, jobs)
    return time.perf_counter() - started, [r.to_dict() for r in results]


def warm_up_pool() -> None:
    """Start the worker processes before anything is timed (they stay up between calls)."""
    dataset = STUDY_DATASETS[0].scaled(0.01)
    X, y = synthetic_features(dataset, 16)
    timed_probes([ProbeInput(X, y, [str(c) for c in range(len(dataset.class_counts))])], jobs=0)


def measure_dim(datasets: list[StudyDataset], dim: int, serial: bool) -> dict:
    """Seconds per dataset (serial, folds) and for all datasets in one pool (pairs), at one dim."""
    pairs = []
    for index, dataset in enumerate(datasets):
        X, y = synthetic_features(dataset, dim, seed=index)
        pairs.append(ProbeInput(X, y, [str(c) for c in range(len(dataset.class_counts))]))
    cells: dict[str, dict] = {}
    reference: list[dict] = []
    for dataset, pair in zip(datasets, pairs, strict=True):
        cell: dict = {"n": dataset.n, "classes": len(dataset.class_counts)}
        if serial:
            cell["serial_s"], (serial_result,) = timed_probes([pair], jobs=1)
        cell["folds_s"], (folds_result,) = timed_probes([pair], jobs=0)
        if serial and folds_result != serial_result:
            raise SystemExit(f"{dataset.name} at {dim}: parallel scores differ from serial ones")
        cell["accuracy"] = folds_result["accuracy"]["mean"]
        reference.append(folds_result)
        cells[dataset.name] = cell
        print(f"  {dataset.name:<15} n={dataset.n:>6} classes={cell['classes']:>2} dim={dim:>5}: "
              + (f"serial {cell['serial_s']:8.1f} s, " if serial else "")
              + f"folds {cell['folds_s']:8.1f} s" + (f" ({cell['serial_s'] / cell['folds_s']:.2f}x)" if serial else "")
              + f", accuracy {cell['accuracy']:.3f}", flush=True)
    pairs_s, together = timed_probes(pairs, jobs=0)
    if together != reference:
        raise SystemExit(f"dim {dim}: scores of the pooled pairs differ from those probed alone")
    print(f"  all {len(pairs)} datasets in one pool at dim {dim}: {pairs_s:.1f} s", flush=True)
    return {"cells": cells, "pairs_s": pairs_s}


def study_totals(by_dim: dict[int, dict], serial: bool) -> dict:
    """The full study's probe time in each mode: sum over the plan's models at their dims."""
    models = study_models()
    totals: dict[str, float] = defaultdict(float)
    missing = sorted({m.dim for m in models} - set(by_dim))
    for model in models:
        if model.dim not in by_dim:
            continue
        cells = by_dim[model.dim]["cells"].values()
        if serial:
            totals["serial_s"] += sum(c["serial_s"] for c in cells)
        totals["folds_s"] += sum(c["folds_s"] for c in cells)
        totals["pairs_s"] += by_dim[model.dim]["pairs_s"]
    counted = [m for m in models if m.dim in by_dim]
    return {"models": len(counted), "pairs": len(counted) * len(next(iter(by_dim.values()))["cells"]),
            "missing_dims": missing, **totals}


def timed_protocol(pair: ProbeInput, protocol: Protocol, jobs: int) -> tuple[float, dict]:
    """Seconds for one pair through `protocol` (its one probe, the bootstrap included), and the result."""
    started = time.perf_counter()
    ((result,),) = run_probe_set([pair], protocol, jobs)
    return time.perf_counter() - started, result.to_dict()


def measure_protocols(dataset: StudyDataset, dims: list[int], probes: list[str], serial: bool) -> dict:
    """Each probe alone at each dim on `dataset`'s shape: serial and parallel seconds, the accuracy."""
    names = [str(c) for c in range(len(dataset.class_counts))]
    figures: dict = {}
    for dim in dims:
        X, y = synthetic_features(dataset, dim)
        pair = ProbeInput(X, y, names)
        for probe in probes:
            protocol = replace(PROTOCOL, probes=(probe,))
            cell: dict = {"n": dataset.n, "classes": len(names), "dim": dim}
            if serial:
                cell["serial_s"], serial_result = timed_protocol(pair, protocol, jobs=1)
            cell["parallel_s"], parallel_result = timed_protocol(pair, protocol, jobs=0)
            if serial and parallel_result != serial_result:
                raise SystemExit(f"{probe} at {dim}: parallel scores differ from serial ones")
            cell["accuracy"] = parallel_result["accuracy"]["mean"]
            figures.setdefault(probe, {})[str(dim)] = cell
            print(f"  {probe:<7} d={dim:>5}: " + (f"serial {cell['serial_s']:8.1f} s, " if serial else "")
                  + f"parallel {cell['parallel_s']:8.1f} s"
                  + (f" ({cell['serial_s'] / cell['parallel_s']:.2f}x)" if serial else "")
                  + f", accuracy {cell['accuracy']:.3f}", flush=True)
    return figures


def protocols_main(args: argparse.Namespace) -> None:
    """--protocols: each probe's time at HiCervix's shape (see the module docstring)."""
    probes = [name for name in args.protocols.split(",") if name]
    unknown = sorted(set(probes) - set(PROBES))
    if unknown:
        raise SystemExit(f"unknown protocol(s) {unknown}; known: {list(PROBES)}")
    scale = 0.02 if args.quick else args.scale
    dims = [512] if args.quick else [int(d) for d in (args.dims or ",".join(map(str, PROTOCOL_DIMS))).split(",")]
    (hicervix,) = [d for d in STUDY_DATASETS if d.name == "HiCervix"]
    dataset = hicervix.scaled(scale) if scale != 1.0 else hicervix
    serial = not args.no_serial
    print(f"probe protocols {probes} at HiCervix's shape: {dataset.n} x d, {len(dataset.class_counts)} classes "
          f"(scale {scale:g} of {hicervix.n}); dims {dims}; 6 fits per probe (5 folds + holdout), "
          f"bootstrap {PROTOCOL.bootstrap}; {usable_cores()} usable cores", flush=True)
    warm_up_pool()
    figures = measure_protocols(dataset, dims, probes, serial)
    print("\nseconds per pair (serial / parallel):")
    print("  probe  " + "".join(f"{dim:>18}" for dim in dims))
    for probe, by_dim in figures.items():
        cells = [f"{c['serial_s']:.1f} / {c['parallel_s']:.1f}" if serial else f"– / {c['parallel_s']:.1f}"
                 for c in by_dim.values()]
        print(f"  {probe:<7}" + "".join(f"{cell:>18}" for cell in cells))
    path = write_result(args.out_name or "probe_protocols", {"scale": scale, "n": dataset.n, "dims": dims,
                                                             "probes": probes, "by_probe": figures})
    print(f"figures: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default="",
                        help=f"comma-separated probes ({','.join(PROBES)}): time each at HiCervix's shape")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --scale 0.05 --dims 512 (with --protocols: --scale 0.02 --dims 512)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each dataset's images")
    parser.add_argument("--dims", default="", help=f"comma-separated (default: {','.join(map(str, STUDY_DIMS))}; "
                                                   f"with --protocols {','.join(map(str, PROTOCOL_DIMS))})")
    parser.add_argument("--datasets", default="", help="comma-separated names (default: all eight)")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial runs (the slow part)")
    parser.add_argument("--out-name", default="", help="results/bench/<name>.json (default: probe_scale, "
                                                       "with --protocols probe_protocols)")
    args = parser.parse_args()
    if args.protocols:
        protocols_main(args)
        return
    args.dims = args.dims or ",".join(map(str, STUDY_DIMS))
    args.out_name = args.out_name or "probe_scale"
    scale = 0.05 if args.quick else args.scale
    if args.quick:
        args.dims = "512"
    wanted = {name for name in args.datasets.split(",") if name}
    unknown = wanted - {d.name for d in STUDY_DATASETS}
    if unknown:
        raise SystemExit(f"unknown dataset(s) {sorted(unknown)}; known: {[d.name for d in STUDY_DATASETS]}")
    datasets = [d.scaled(scale) if scale != 1.0 else d for d in STUDY_DATASETS if not wanted or d.name in wanted]
    dims = [int(d) for d in args.dims.split(",")]
    serial = not args.no_serial
    print(f"probe protocol: 6 fits per pair (5 folds + holdout), synthetic features, {usable_cores()} usable "
          f"cores; scale {scale:g} of the study's images; dims {dims}", flush=True)
    warm_up_pool()
    by_dim = {dim: measure_dim(datasets, dim, serial) for dim in dims}
    totals = study_totals(by_dim, serial)
    print(f"\nper dimension, all {len(datasets)} datasets (seconds):")
    print("  dim    serial    folds    pairs  serial/pairs")
    for dim, measured in by_dim.items():
        cells = measured["cells"].values()
        folds_sum = sum(c["folds_s"] for c in cells)
        if serial:
            serial_sum = sum(c["serial_s"] for c in cells)
            print(f"  {dim:>5} {serial_sum:8.1f} {folds_sum:8.1f} {measured['pairs_s']:8.1f} "
                  f"{serial_sum / measured['pairs_s']:10.2f}x")
        else:
            print(f"  {dim:>5} {'–':>8} {folds_sum:8.1f} {measured['pairs_s']:8.1f} {'–':>11}")
    print(f"\nthe study's probes: {totals['models']} models x {len(datasets)} datasets = {totals['pairs']} pairs"
          + (f" (dims {totals['missing_dims']} not measured: their models left out)" if totals["missing_dims"] else ""))
    if serial:
        print(f"  serial, one fit after another      : {totals['serial_s']:9.1f} s")
    print(f"  folds over the cores, pair by pair : {totals['folds_s']:9.1f} s")
    print(f"  a model's pairs in one pool (runner): {totals['pairs_s']:9.1f} s"
          + (f"  speed-up {totals['serial_s'] / totals['pairs_s']:.2f}x over serial" if serial else ""))
    path = write_result(args.out_name, {"scale": scale, "dims": dims, "datasets": [d.name for d in datasets],
                                        "by_dim": {str(k): v for k, v in by_dim.items()}, "study": totals})
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
