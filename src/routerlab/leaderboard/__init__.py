"""One leaderboard over every outcome source: every router under every family's metrics, with
bootstrap intervals, paired tests, a leakage check and published numbers re-derived.

It sits above the branches (like ``cli``): a K-model source's weak/strong pair is also scored
with the binary branch's metrics, so it may import both ``kmodel`` and ``binary``.
"""
