#!/usr/bin/env python3
"""Prints the table of scripts/bench-serve (figures against targets) and writes results.json."""

import argparse
import json
import statistics

TARGET_RPS = 20_000
TARGET_P99_MS = 5.0
TARGET_RUN_MS = 300.0


def spread(ms):
    """When the jobs of the concurrent run were seen completed, from the start of the run: all at
    the end (unbounded work) or one after another (bounded)."""
    if not ms:
        return "-"
    return f"first {ms['min'] / 1000:.1f} s, median {ms['median'] / 1000:.1f} s, p95 {ms['p95'] / 1000:.1f} s, last {ms['max'] / 1000:.1f} s"


def main():
    p = argparse.ArgumentParser()
    for name in ("run", "sequential", "concurrent", "json", "wrk", "machine", "load", "busy-start", "busy-wrk"):
        p.add_argument(f"--{name}", required=True)
    for name in ("rps", "p99", "p50", "server-cpu-us"):
        p.add_argument(f"--{name}", type=float, required=True)
    a = p.parse_args()

    run = json.load(open(a.run))["results"][0]
    run_ms = {k: run[k] * 1000.0 for k in ("mean", "median", "min", "max", "stddev")}
    seq = json.load(open(a.sequential))
    conc = json.load(open(a.concurrent))

    all_done = conc["completed"] == conc["submitted"] and conc["timed_out"] == 0 and not conc["failed"]
    rows = [
        ("GET /status throughput (wrk " + a.wrk + ")", f"{a.rps:,.0f} req/s", f">= {TARGET_RPS:,} req/s", a.rps >= TARGET_RPS),
        ("GET /status p99 latency", f"{a.p99:.2f} ms (p50 {a.p50:.2f})", f"< {TARGET_P99_MS:g} ms", a.p99 < TARGET_P99_MS),
        ("server CPU per /status request", f"{a.server_cpu_us:.0f} us", "-", None),
        (
            "petavatar run chelsea.png (hyperfine)",
            f"{run_ms['median']:.0f} ms median (mean {run_ms['mean']:.0f} ± {run_ms['stddev']:.0f}, min {run_ms['min']:.0f})",
            f"<= {TARGET_RUN_MS:g} ms",
            run_ms["median"] <= TARGET_RUN_MS,
        ),
        (
            "one job through the server, submit -> completed",
            f"{seq['submit_to_completed_ms']['median']:.0f} ms median (min {seq['submit_to_completed_ms']['min']:.0f}, max {seq['submit_to_completed_ms']['max']:.0f})",
            "-",
            None,
        ),
        (
            "  of which the execution (engine start -> stop)",
            f"{seq['execution_ms']['median']:.0f} ms median",
            "-",
            None,
        ),
        (
            f"{conc['submitted']} concurrent submissions",
            f"{conc['completed']}/{conc['submitted']} completed in {conc['wall_s']:.1f} s",
            "all complete",
            all_done,
        ),
        ("  throughput", f"{conc['jobs_per_s']:.1f} jobs/s", "-", None),
        (
            "  each job's submit-start -> completed",
            spread(conc["start_to_completed_ms"]),
            "-",
            None,
        ),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("benchmark", "measured", "target")
    width = [max(w, len(h)) for w, h in zip(width, header)]
    line = lambda cells, verdict: "  ".join(c.ljust(w) for c, w in zip(cells, width)) + "  " + verdict
    print()
    print(f"machine: {a.machine}; load (1 min): {a.load}")
    print(f"busy at start: {a.busy_start or 'nothing'}")
    print(f"busy during wrk: {a.busy_wrk or 'nothing'}")
    print()
    print(line(header, "verdict"))
    print(line(["-" * w for w in width], "-------"))
    for name, measured, target, ok in rows:
        print(line((name, measured, target), "" if ok is None else ("met" if ok else "MISSED")))
    if conc["failed"] or conc["submit_errors"]:
        print(f"failures: {conc['failed']} {conc['submit_errors']}")

    json.dump(
        {
            "machine": a.machine,
            "load": a.load,
            "busy_start": a.busy_start,
            "busy_wrk": a.busy_wrk,
            "status": {"wrk": a.wrk, "rps": a.rps, "p50_ms": a.p50, "p99_ms": a.p99, "server_cpu_us_per_request": a.server_cpu_us},
            "run_ms": run_ms,
            "server_sequential": seq,
            "server_concurrent": conc,
        },
        open(a.json, "w"),
        indent=2,
    )


if __name__ == "__main__":
    main()
