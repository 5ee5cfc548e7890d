"""The `routerlab route` subcommand: its options and the function the CLI calls."""

from __future__ import annotations

import argparse
import json


def add_route_parser(sub) -> argparse.ArgumentParser:
    r = sub.add_parser("route", help="OpenAI-compatible routing proxy over a trained router",
                       description="Score each request with a trained router and forward it to the chosen model.")
    r.add_argument("--router", required=True,
                   help="a trained router, e.g. results/routers/mean_probe/all/seed0/router.joblib")
    r.add_argument("--upstream", action="append", required=True, metavar="NAME=URL",
                   help="an OpenAI-compatible model; NAME is the served model name. Binary routers: the weak model, "
                        "then the strong one; K-model routers: one per candidate, in training order")
    r.add_argument("--price", action="append", default=[], metavar="NAME=IN,OUT",
                   help="USD per 1M input and output tokens of an upstream (the log's cost_usd)")
    r.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the upstreams' API key (keys never go on the command line)")
    target = r.add_mutually_exclusive_group()
    target.add_argument("--call-rate", type=float, help="share of requests sent to the strong model")
    target.add_argument("--recall", type=float, help="share of the weak model's errors sent to the strong model")
    target.add_argument("--threshold", type=float, help="escalate to the strong model iff score <= threshold")
    r.add_argument("--calibration", action="append", default=[], metavar="PATH",
                   help="prediction tables or decision logs to calibrate on (default: the run's validation "
                        "predictions, results/predictions/<run>/)")
    r.add_argument("--weak-model-dir", help="results/models/<weak>: for routers on the weak model's hidden states")
    r.add_argument("--embedder", default=None, help='JSON embedder spec (default {"source": "pypi", '
                                                    '"name": "all-minilm-l6-v2"}) for embedding routers')
    r.add_argument("--threads", type=int, help="torch CPU threads of the feature extraction (default: torch's choice)")
    r.add_argument("--dtype", default="auto")
    r.add_argument("--device", default="auto")
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, default=8100, help="0 picks a free port (see --ready-file)")
    r.add_argument("--ready-file", help="write the base URL here once listening")
    r.add_argument("--decision-log", help="directory of the parquet decision log (none: no log)")
    r.add_argument("--log-flush-rows", type=int, default=256)
    r.add_argument("--log-flush-s", type=float, default=2.0)
    r.add_argument("--timeout", type=float, default=30.0, help="seconds per socket operation of an upstream attempt")
    r.add_argument("--retries", type=int, default=1, help="extra attempts on the chosen model before failing over")
    r.add_argument("--no-failover", action="store_true", help="answer 502/504 instead of trying the other model")
    r.add_argument("--max-batch", type=int, default=32, help="requests scored in one micro-batch")
    r.add_argument("--batch-wait", type=float, default=0.005, help="seconds a micro-batch waits for more requests")
    r.add_argument("--window", type=int, default=500, help="requests in the realised call-rate window")
    r.add_argument("--drift-tolerance", type=float, default=0.05)
    return r


def run_route(args: argparse.Namespace) -> None:
    try:
        _run(args)
    except (ValueError, FileNotFoundError) as e:  # bad settings: the message names the option and the fix
        raise SystemExit(f"routerlab route: {e}") from None


def _run(args: argparse.Namespace) -> None:
    import dataclasses

    from routerlab.proxy.app import calibrate
    from routerlab.proxy.decisions import DecisionLog
    from routerlab.proxy.scoring import RouterScorer
    from routerlab.proxy.server import ProxySettings, RoutingProxy, serve_forever
    from routerlab.proxy.upstream import parse_upstream

    if args.threads:
        from routerlab.core.runtime import set_threads

        set_threads(args.threads)
    prices = {}
    for p in args.price:
        name, _, vals = p.partition("=")
        try:
            prices[name] = tuple(float(v) for v in vals.split(","))
            assert len(prices[name]) == 2
        except (ValueError, AssertionError):
            raise SystemExit(f"--price {p!r}: expected NAME=IN,OUT (USD per 1M tokens), e.g. strong=0.5,1.5") from None
    ups = [parse_upstream(u) for u in args.upstream]
    unknown = set(prices) - {u.name for u in ups}
    if unknown:
        raise SystemExit(f"--price names {sorted(unknown)}, which are not upstreams ({[u.name for u in ups]})")
    ups = [dataclasses.replace(u, api_key_env=args.api_key_env, price_input=prices.get(u.name, (0, 0))[0],
                               price_output=prices.get(u.name, (0, 0))[1]) for u in ups]
    scorer = RouterScorer(args.router, weak_model_dir=args.weak_model_dir,
                          embedder=json.loads(args.embedder) if args.embedder else None, dtype=args.dtype,
                          device=args.device, max_batch=args.max_batch)
    threshold = calibrate(scorer, threshold=args.threshold, call_rate=args.call_rate, recall=args.recall,
                          calibration=args.calibration)
    settings = ProxySettings(timeout_s=args.timeout, retries=args.retries, failover=not args.no_failover,
                             max_batch=args.max_batch, batch_wait_s=args.batch_wait, window=args.window,
                             drift_tolerance=args.drift_tolerance)
    decisions = DecisionLog(args.decision_log, flush_rows=args.log_flush_rows, flush_s=args.log_flush_s) \
        if args.decision_log else None
    proxy = RoutingProxy(scorer, ups, threshold, settings, decisions)
    serve_forever(proxy, args.host, args.port, args.ready_file)
