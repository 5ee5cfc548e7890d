"""Binary weak/strong routing (RouterXBench): activations and logit features, the routers, their
metrics (AUROC, LPM/MPM/HCR, APGR/CPT), operating points, evaluation and the paper tables."""
