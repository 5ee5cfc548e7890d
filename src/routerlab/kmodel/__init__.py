"""K-model routing (RouterEval, R2-Router): outcome tables, pools, routers, R2-Router, tables.

Submodules import their heavy dependencies lazily. Importing this package registers the peers'
routers (``peer_routers``, ``peer_routers_learned``) in ``kmodel.routers.ROUTERS``: they subclass
``routers.KModelRouter``, so ``routers`` cannot import them without an import cycle.
"""

from routerlab.kmodel import peer_routers, peer_routers_learned  # noqa: F401  (registers the peers' routers)
