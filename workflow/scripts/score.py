"""Rule score: per-query correctness of one model's answers (verifiers, or the configured LLM judge)."""

from routerlab.core.io import read_table, write_table
from routerlab.core.runtime import progress_logger, set_threads, setup_logging
from routerlab.scoring.frames import score_frame

log = setup_logging(snakemake.log[0])
judge_cfg = snakemake.params.judge
judge = None
if judge_cfg:
    from routerlab.core.gpu import lease_gpus
    from routerlab.lm.generation import backend_from_runtime
    from routerlab.lm.judge import Judge

    gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
    set_threads(snakemake.threads)
    judge = Judge(backend_from_runtime(judge_cfg["runtime"], snakemake.input.judge_model), judge_cfg["method"],
                  judge_cfg["sampling"])
    log.info("judge %s (%s) scores %s", judge_cfg["model"], judge_cfg["method"], snakemake.wildcards.dataset)
data = read_table(snakemake.input.data)
gens = read_table(snakemake.input.generations)
scores = score_frame(data, gens, judge=judge,
                     progress=progress_logger(f"judge {snakemake.wildcards.model}/{snakemake.wildcards.dataset}"))
log.info("%s/%s: mean score %.3f over %d answers; statuses %s", snakemake.wildcards.model,
         snakemake.wildcards.dataset, scores["score"].mean(), len(scores), scores["status"].value_counts().to_dict())
write_table(snakemake.output[0], scores, meta={"model": snakemake.wildcards.model,
                                              "judge": judge_cfg["model"] if judge_cfg else None})
