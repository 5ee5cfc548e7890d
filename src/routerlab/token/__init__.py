"""Token-level routing (R2R): strong continuations, divergence labels, token features, the token
router, its threshold and report."""
