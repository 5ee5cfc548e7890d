"""Rule token_router_train: fit the token router (early stopping on validation), predict every split."""

from routerlab.core.io import write_frame, write_json
from routerlab.core.runtime import set_threads, setup_logging
from routerlab.token.router import train_and_predict

log = setup_logging(snakemake.log[0])
set_threads(snakemake.threads)
s = snakemake.params.settings
router, pred = train_and_predict(snakemake.input.tokens, s["classifier"], label=s["label"])
router.save(snakemake.output.router)
write_frame(snakemake.output.predictions, pred, meta={"label": s["label"]})
write_json(snakemake.output.info, {"params": router.get_params(), "label": s["label"], "history": router.history_,
                                  "best_epoch": router.best_epoch_, "pos_weight": router.pos_weight_,
                                  "n_tokens": pred["split"].value_counts().to_dict()})
