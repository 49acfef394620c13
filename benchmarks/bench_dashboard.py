"""Dashboard figures (issue 16): time to the first full page of each view, cold and warm, on the sample.

    .venv/bin/python benchmarks/bench_dashboard.py                  # 20,000 users (~1M events)
    .venv/bin/python benchmarks/bench_dashboard.py --users 2000 --repeat 3
    .venv/bin/python benchmarks/bench_dashboard.py --views /milestones     # one view (discovery is the slowest)

1. `aha sample` into a temporary folder.
2. For each view, a fresh `aha serve` on 127.0.0.1 (nothing cached, the milestone state not built): the first
   GET of the view is "cold" (analysis, charts rendered to SVG, page); then `--repeat` more GETs are "warm" (the
   result cache by definitions hash, data version and filters; the SVG cache), reported as their median.
   A page that answers at once and computes its slow part in the background (/milestones' discovery) is also timed
   until that part is shown ("complete": the page reloaded as the browser does until it is), and the warm GETs
   follow that.
Targets: overview under 1 s warm; every view under 3 s cold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from tests.serving import Server, aha, free_port  # noqa: E402

VIEWS = ("/", "/funnel", "/time-to-value", "/drop-off", "/retention", "/milestones", "/users/u00000298")


COMPUTING = 'id="discovery-computing"'


def timed_get(url: str) -> tuple[float, bool]:
    """Seconds to the page, and whether it says a part of it is still being computed."""
    start = time.perf_counter()
    response = httpx.get(url, timeout=600)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return elapsed, COMPUTING in response.text


def until_complete(url: str, start: float) -> float:
    """Seconds from `start` until the page no longer says it is computing (polled every 0.2 s)."""
    while timed_get(url)[1]:
        time.sleep(0.2)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--views", nargs="+", default=list(VIEWS), help="Which views to time (default: all).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        done = aha("sample", "--users", str(args.users), "--db", "aha.duckdb", cwd=folder)
        assert done.returncode == 0, done.stderr
        print(f"sample: {args.users:,} users in {time.perf_counter() - start:.1f} s")
        print(f"{'view':<20} {'cold s':>8} {'complete s':>11} {'warm s (median)':>16}")
        for view in args.views:
            server = Server(folder / "aha.duckdb", free_port()).start()
            try:
                start = time.perf_counter()
                cold, computing = timed_get(server.url + view)
                complete = f"{until_complete(server.url + view, start):>11.2f}" if computing else f"{'':>11}"
                warm = statistics.median(timed_get(server.url + view)[0] for _ in range(args.repeat))
            finally:
                server.stop()
            print(f"{view:<20} {cold:>8.2f} {complete} {warm:>16.3f}")


if __name__ == "__main__":
    main()
