"""Benchmarks: compiled engine vs a plain NumPy step, measured in the same run.

    python scripts/bench.py [--quick] [--json bench.json]
    python scripts/bench.py --compare docs/performance/*.json   # targets against earlier runs
"""
import argparse
import sys

from dendrosim.bench import main

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="small networks only")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    p.add_argument("--compare", nargs="+", metavar="JSON", help="measure nothing: print the targets against these files")
    a = p.parse_args()
    if a.compare:
        from dendrosim.bench_compare import compare_main
        sys.exit(compare_main(a.compare))
    sys.exit(main(quick=a.quick, json_path=a.json, seconds=a.seconds))
