"""The whole study's cost on paper, from measured rates: images x models / img/s + probe time.

Per machine, each study model's embedding rate is its tower's forward rate (measured for its timm
stand-in, bench/study_shape.py STAND_INS, or scaled by FLOPs from the nearest measured ViT), capped
by the server's measured end-to-end rate where the CPU side (decode, preprocess, RPC) bound it;
the images are the eight datasets' plus the overlay bias test's (3 conditions x up to 200 per
pair, deploy/plans/study.yaml). The probe's time is bench/probe_scale.py's full-size figure.

Machines: this one, from results/bench/gpu-cpu.json (bench/gpu.sh --cpu-smoke) or, when none is
stored, a forward rate it measures itself; and one GPU machine from results/bench/gpu-device.json
(a device run's gpu-device.json, with probe_scale-device.json when gpu.sh ran the probe too),
when it exists.

    python bench/study_cost.py [--measure]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_results import RESULTS_DIR, read_result, write_result  # noqa: E402
from study_shape import STAND_INS, STUDY_DATASETS, StandIn, study_models  # noqa: E402

BIAS_IMAGES_PER_PAIR = 3 * 200  # three overlay conditions x bias.max_images of the study plan
REFERENCES = {"bench-vit-b-16": StandIn("vit_base_patch16_clip_224", 224),
              "bench-vit-l-14-336": StandIn("vit_large_patch14_clip_336", 336)}
CPU_BOUND = 0.9  # an end-to-end rate under this share of the forward rate was bound by the CPU side


def stand_in_gflops(stand_in: StandIn, cache: dict[str, float]) -> float:
    """GFLOPs of one image through the stand-in (torch's FLOP counter on the meta device)."""
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    key = f"{stand_in.architecture}@{stand_in.input_size}"
    if key not in cache:
        kwargs = {"img_size": stand_in.input_size} if "vit" in key or "eva" in key else {}
        with torch.device("meta"):
            model = timm.create_model(stand_in.architecture, pretrained=False, num_classes=0, **kwargs).eval()
            image = torch.empty(1, 3, stand_in.input_size, stand_in.input_size)
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(image)
        cache[key] = counter.get_total_flops() / 1e9
    return cache[key]


def measure_cpu_forward(seconds: float = 3.0) -> dict:
    """A forward rate of the ViT-B/16 stand-in on this machine's CPU (batch 4, fp32)."""
    import timm

    model = timm.create_model("vit_base_patch16_clip_224", pretrained=False, num_classes=0).eval()
    batch = torch.randn(4, 3, 224, 224)
    with torch.inference_mode():
        model(batch)
        runs, started = 0, time.perf_counter()
        while runs < 2 or time.perf_counter() - started < seconds:
            model(batch)
            runs += 1
    rate = 4 * runs / (time.perf_counter() - started)
    return {"device": "cpu", "cpu_smoke": True, "measured_by": "study_cost.py",
            "models": {"bench-vit-b-16": {"forward": {"4": {"img_s": rate}}, "e2e": {}}}, "stand_ins": {}}


class Rates:
    """Embedding rates of one machine, from a gpu_bench.py JSON."""

    def __init__(self, measured: dict, flops: dict[str, float]) -> None:
        self.measured = measured
        self.flops = flops
        self.references = []  # (GFLOPs, effective GFLOP/s) per measured reference model
        self.ceiling = None  # img/s the CPU side allowed, when it was the bound
        for model, stand_in in REFERENCES.items():
            rows = measured["models"].get(model)
            if not rows or not rows["forward"]:
                continue
            best_forward = max(r["img_s"] for r in rows["forward"].values())
            gflops = stand_in_gflops(stand_in, flops)
            self.references.append((gflops, best_forward * gflops))
            if rows["e2e"]:
                best_e2e = max(r["img_s"] for r in rows["e2e"].values())
                if best_e2e < CPU_BOUND * best_forward:
                    self.ceiling = max(self.ceiling or 0.0, best_e2e)
        if not self.references:
            raise SystemExit("the rates JSON has no forward measurement of bench-vit-b-16 or bench-vit-l-14-336")

    def forward(self, stand_in: StandIn) -> tuple[float, str]:
        key = f"{stand_in.architecture}@{stand_in.input_size}"
        if key in self.measured.get("stand_ins", {}):
            return self.measured["stand_ins"][key]["img_s"], "measured"
        gflops = stand_in_gflops(stand_in, self.flops)
        nearest = min(self.references, key=lambda ref: abs(ref[0] - gflops))
        return nearest[1] / gflops, "scaled by FLOPs"

    def embed(self, stand_in: StandIn) -> tuple[float, str]:
        rate, how = self.forward(stand_in)
        if self.ceiling is not None and self.ceiling < rate:
            return self.ceiling, "end-to-end ceiling"
        return rate, how


def probe_hours(names: tuple[str, ...]) -> tuple[float | None, str]:
    """The full study's probe time from the first of `names` stored (bench/probe_scale.py JSONs)."""
    measured = next((m for m in map(read_result, names) if m is not None), None)
    if measured is None:
        return None, "not measured: run python bench/probe_scale.py"
    study = measured["study"]
    note = (f"bench/probe_scale.py on {measured['machine']['host']} ({measured['machine']['cores']} cores), "
            f"scale {measured['scale']:g}")
    if measured["scale"] != 1.0 or study["missing_dims"] or len(measured["datasets"]) < len(STUDY_DATASETS):
        note += " (not the full study: a subset or a scaled run)"
    return study["pairs_s"] / 3600, note


def cost_table(title: str, rates: Rates, probe_results: tuple[str, ...]) -> dict:
    images = sum(d.n for d in STUDY_DATASETS)
    per_model = images + BIAS_IMAGES_PER_PAIR * len(STUDY_DATASETS)
    print(f"\n## {title}\n")
    print(f"{images:,} dataset images + {BIAS_IMAGES_PER_PAIR * len(STUDY_DATASETS):,} overlay images per model")
    print("| model | family | tower (stand-in) | GFLOPs/img | img/s | from | minutes |")
    print("|---|---|---|---|---|---|---|")
    rows, total = {}, 0.0
    for model in study_models():
        if model.family == "raw-pixels":
            continue  # decode and resize to 32 x 32 on the evaluator: seconds
        stand_in = STAND_INS[model.id]
        rate, how = rates.embed(stand_in)
        hours = per_model / rate / 3600
        total += hours
        gflops = stand_in_gflops(stand_in, rates.flops)
        rows[model.id] = {"img_s": rate, "hours": hours, "from": how, "gflops": gflops}
        print(f"| {model.id} | {model.family} | {stand_in.architecture}@{stand_in.input_size} | {gflops:.0f} | "
              f"{rate:,.1f} | {how} | {60 * hours:,.1f} |" if rate >= 10 else
              f"| {model.id} | {model.family} | {stand_in.architecture}@{stand_in.input_size} | {gflops:.0f} | "
              f"{rate:.3g} | {how} | {60 * hours:,.0f} |")
    probe, probe_note = probe_hours(probe_results)
    print(f"\nembedding, all models: {total:,.1f} h")
    print(f"probes, all pairs: {f'{probe:,.2f} h' if probe is not None else '–'} ({probe_note})")
    print(f"study: {total + (probe or 0.0):,.1f} h" + ("" if probe is not None else " + the probes"))
    return {"models": rows, "embedding_hours": total, "probe_hours": probe, "probe_note": probe_note}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", action="store_true", help="measure this machine's forward rate even if stored")
    args = parser.parse_args()
    flops_path = RESULTS_DIR / "stand_in_gflops.json"
    flops = json.loads(flops_path.read_text()) if flops_path.exists() else {}
    local = None if args.measure else read_result("gpu-cpu")
    if local is None:
        print("no results/bench/gpu-cpu.json: measuring a CPU forward rate here (ViT-B/16, batch 4)", flush=True)
        local = measure_cpu_forward()
    report = {"this_machine": cost_table(f"this machine ({local.get('machine', {}).get('cores', '?')} cores, CPU)",
                                         Rates(local, flops), ("probe_scale",))}
    device = read_result("gpu-device")
    if device is None:
        print("\nno results/bench/gpu-device.json: the GPU machine's table needs a device run of bench/gpu.sh")
    else:
        report["gpu_machine"] = cost_table(f"GPU machine ({device['device']}, {device['dtype']})", Rates(device, flops),
                                           ("probe_scale-device", "probe_scale"))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    flops_path.write_text(json.dumps(flops, indent=2) + "\n")
    print(f"figures: {write_result('study_cost', report)}")


if __name__ == "__main__":
    main()
