"""K-model routing (RouterEval, R2-Router): outcome tables, pools, routers, R2-Router, tables.

Submodules import their heavy dependencies lazily; importing this package does no work.
"""
