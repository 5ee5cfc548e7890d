"""Rule score: per-query correctness of one model's answers (verifiers, or the configured LLM judge)."""

from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame, write_frame
from routerlab.core.runtime import progress_logger, set_threads, setup_logging
from routerlab.lm.judge import Judge
from routerlab.scoring.frames import check_unparsed, require_rows, score_frame, unparsed_share

log = setup_logging(snakemake.log[0])
w, judge_cfg = snakemake.wildcards, snakemake.params.judge
data, generations = read_frame(snakemake.input.data), read_frame(snakemake.input.generations)
require_rows(data["id"], generations["id"], snakemake.input.data, snakemake.input.generations,
             "the generations are older than the dataset or were cut short: delete them and re-run "
             "(snakemake --forcerun gather_generations)")
judge = None
if judge_cfg:
    gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))  # before anything touches CUDA
    set_threads(snakemake.threads)
    judge = Judge.from_config(judge_cfg, snakemake.input.judge_model)
    log.info("judge %s (%s) scores %s", judge_cfg["model"], judge_cfg["method"], w.dataset)
scores = score_frame(data, generations, judge=judge, progress=progress_logger(f"judge {w.model}/{w.dataset}"))
log.info("%s/%s: mean score %.3f over %d answers; statuses %s", w.model, w.dataset, scores["score"].mean(),
         len(scores), scores["status"].value_counts().to_dict())
share = unparsed_share(scores)
if share:
    log.warning("%s/%s: %.1f%% of the scores have no verdict (excluded from labels and metrics)", w.model,
                w.dataset, 100 * share)
if judge_cfg:
    check_unparsed(scores, judge_cfg.get("max_unparsed_share", 0.2), f"judge {judge_cfg['model']} on "
                   f"{snakemake.input.generations}")
write_frame(snakemake.output[0], scores, meta={"model": w.model, "judge": judge_cfg["model"] if judge_cfg else None})
