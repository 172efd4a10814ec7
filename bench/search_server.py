"""The API over an index built from pickled documents (``bench/ldif_people.py``), for benchmarks.

    python -m bench.search_server DOCS.pkl --port 8765

Keys, the exposure counter and everything else still use the store named by
``DIRECTORY_DATABASE_URL``; only the index comes from the documents instead of the store.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Load the documents, build the index, serve."""
    ap = argparse.ArgumentParser()
    ap.add_argument("docs", type=Path)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--workers", type=int, default=1, help="forked workers sharing the one index")
    args = ap.parse_args(argv)
    import uvicorn

    from directory.api.app import create_app
    from directory.config import Settings
    from directory.search.service import SearchService

    started = time.perf_counter()
    with args.docs.open("rb") as fh:
        docs, _names = pickle.load(fh)  # our own benchmark file
    settings = Settings()
    service = SearchService(None, refresh_interval=3600, cache_size=settings.search_cache_size)  # type: ignore[arg-type]
    service.install(docs)
    del docs
    snap = service.snapshot
    print(
        f"index of {snap.base.n} people built in {time.perf_counter() - started:.0f} s, "
        f"{snap.base.memory_bytes() / 1e6:.0f} MB of arrays",
        flush=True,
    )
    if args.workers > 1:
        from directory.api.prefork import serve_prefork

        serve_prefork(
            build=lambda: service,
            make_app=lambda s: create_app(settings, search=s, prepare=False, ui=False),
            host=args.host,
            port=args.port,
            workers=args.workers,
        )
        return 0
    app = create_app(settings, search=service, prepare=False, ui=False)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
