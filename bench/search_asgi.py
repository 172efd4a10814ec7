"""CPU per search request through the whole ASGI app, lean path against FastAPI's route.

    python -m bench.search_asgi DOCS.pkl --database-url postgresql://postgres@127.0.0.1/api_bench

Builds the index from pickled documents (``bench/ldif_people.py``), then sends the query mix of
``bench_search`` (``bench/search_mix.py``) straight to the ASGI callable (no HTTP, no network:
only the app's own cost), alternately with the lean path (``directory/api/fastpath.py``) and
without it (FastAPI's route), answer cache off, each pass with the indexes' token caches emptied
and warmed up by 200 queries of another seed. The store holds only the API key.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("docs", type=Path)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-token-cache", action="store_true", help="indexes remember no query token's ranges")
    args = ap.parse_args(argv)
    import directory.search.index as index_module

    if args.no_token_cache:
        index_module.TOKEN_CACHE_SIZE = 0  # type: ignore[attr-defined,unused-ignore]
    from bench.search_load import request_path
    from bench.search_mix import people_from_docs, query_mix
    from directory.api.app import create_app
    from directory.api.fastpath import SearchFastPath
    from directory.apikeys import create_key
    from directory.config import Settings
    from directory.db import Database
    from directory.search.service import SearchService

    with args.docs.open("rb") as fh:
        docs, names = pickle.load(fh)  # our own benchmark file
    people = people_from_docs(docs, names, 6000, args.seed)
    service = SearchService(None, refresh_interval=3600, cache_size=0)  # type: ignore[arg-type]
    service.install(docs)
    del docs, names
    mix = query_mix(people, args.queries, args.seed)
    # Warm-up queries of another seed: the measured ones are asked for the first time.
    warm_mix = query_mix(people, 200, args.seed + 1000)
    with Database(args.database_url) as db:
        _, key = create_key(
            db, name=f"asgi-{int(time.time())}", scopes={"search"}, rate_limit_per_minute=10**8
        )

    auth = f"Bearer {key}".encode()

    def scopes(queries: list[Any]) -> Iterator[dict[str, Any]]:
        for q in queries:
            path, _, qs = request_path(q).partition("?")
            yield {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                   "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": qs.encode(),
                   "root_path": "", "headers": [(b"host", b"bench"), (b"authorization", auth)],
                   "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip

    async def run(app: Any) -> tuple[float, int]:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async with app.router.lifespan_context(app):
            # Every pass starts with the indexes' token caches empty (``SearchIndex.token_ranges``),
            # so that no pass is served from an earlier one's work on the same queries.
            for ix, _ in service.snapshot.indexes():
                if hasattr(ix, "forget_tokens"):  # not in code before the cache (comparisons)
                    ix.forget_tokens()
            for scope in scopes(warm_mix):  # warm-up
                await app(scope, receive, send)
            sent.clear()
            t0 = time.process_time()
            for scope in scopes(mix):
                await app(scope, receive, send)
            cpu = time.process_time() - t0
        ok = sum(1 for m in sent if m["type"] == "http.response.start" and m["status"] == 200)
        return cpu / len(mix) * 1000, ok

    settings = Settings(database_url=args.database_url)
    for _ in range(args.rounds):
        for lean in (True, False):
            app = create_app(settings, search=service, prepare=False, ui=False)
            if not lean:
                app.user_middleware = [m for m in app.user_middleware if m.cls is not SearchFastPath]
            ms, ok = asyncio.run(run(app))
            label = "lean path" if lean else "FastAPI route"
            print(f"{label}: {ms:.3f} ms of CPU per request ({ok} answered 200 of {len(mix)})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
