"""``python -m bench [NAME...] [-- ARGS]``: run the named benchmarks (all when none is named).

Each benchmark prints its figures and the command that reproduces them; ``docs/benchmarks.md``
records the results.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run benchmarks by name; arguments after ``--`` go to each benchmark's ``main``."""
    names, _, rest = (
        (argv[: argv.index("--")], None, argv[argv.index("--") + 1 :]) if "--" in argv else (argv, None, [])
    )
    here = Path(__file__).parent
    available = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )
    for name in names or available:
        if name not in available:
            print(f"unknown benchmark {name!r}; available: {', '.join(available)}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}", flush=True)
        code = int(module.main(rest) or 0)
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
