#!/usr/bin/env python3
"""Training throughput and final accuracy of `fcn train` runs, from their log.jsonl.

    python3 benches/log_throughput.py RUN_DIR [RUN_DIR ...] [--skip 5] [--global-batch 4]

For each run: the median of the step records' images/s and, with --global-batch, the rate over
the wall clock (images of the counted steps / time between the last skipped step and the last
step, which also counts the steps' logging and any model averaging). The first --skip steps
(thread pools, allocator, first batches) are left out. Then the last evaluation's mean IoU and
the time it was taken at. Plain python3.
"""

import argparse
import json
import os
import statistics


def summarise(run_dir, skip, global_batch):
    steps, evals = [], []
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if record["kind"] == "step":
                steps.append(record)
            elif record["kind"] == "eval":
                evals.append(record)
    counted = [s for s in steps if s["step"] > skip]
    if not counted:
        raise SystemExit(f"{run_dir}: no step after the first {skip}")
    out = {
        "run": run_dir,
        "steps": len(steps),
        "median_images_per_s": statistics.median(s["images_per_s"] for s in counted),
        "train_s": steps[-1]["elapsed_s"],
    }
    if global_batch:
        start = [s for s in steps if s["step"] == skip]
        t0 = start[0]["elapsed_s"] if start else 0.0
        out["wall_images_per_s"] = len(counted) * global_batch / (counted[-1]["elapsed_s"] - t0)
    if evals:
        last = evals[-1]
        out["eval_step"] = last["step"]
        out["mean_iou"] = last["report"]["mean_iou"]
        out["eval_done_s"] = last["elapsed_s"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR")
    ap.add_argument("--skip", type=int, default=5, help="first steps left out")
    ap.add_argument("--global-batch", type=int, default=0,
                    help="images per optimizer step over all ranks (for the wall-clock rate)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    rows = [summarise(r, args.skip, args.global_batch) for r in args.runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| run | steps | median images/s | wall-clock images/s | training s | mean IoU |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        wall = f"{r['wall_images_per_s']:.2f}" if "wall_images_per_s" in r else "-"
        miou = f"{r['mean_iou']:.4f}" if r.get("mean_iou") is not None else "-"
        print(f"| {r['run']} | {r['steps']} | {r['median_images_per_s']:.2f} | {wall} | "
              f"{r['train_s']:.1f} | {miou} |")


if __name__ == "__main__":
    main()
