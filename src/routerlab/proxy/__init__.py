"""`routerlab route`: serve a trained router as an OpenAI-compatible proxy.

It sits on top of the branches, like ``cli``: it loads binary and K-model routers and computes
their features with the workflow's own extraction code. Modules: ``scoring`` (the router and
its features, micro-batched), ``thresholds`` (calibration, the call-rate window), ``upstream``
(forwarding, retries), ``decisions`` (the parquet decision log), ``metrics`` (Prometheus text),
``server`` (the HTTP handler), ``app`` (calibration and replay).
"""
