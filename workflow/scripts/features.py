"""Rule features: one shard of the weak model's activation features for one dataset."""

from routerlab.binary.features import FeatureExtractor, write_features
from routerlab.core.gpu import lease_gpus
from routerlab.core.io import read_frame
from routerlab.core.runtime import progress_logger, records, set_threads, setup_logging, shard_rows
from routerlab.lm.prompts import build_messages

log = setup_logging(snakemake.log[0])
# Before anything touches CUDA: this job's own devices (no-op on CPU).
gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
set_threads(snakemake.threads)
rt = snakemake.params.runtime
rows = shard_rows(read_frame(snakemake.input.data), int(snakemake.wildcards.shard), int(snakemake.wildcards.n))
extractor = FeatureExtractor(snakemake.input.model, device=rt["device"], dtype=rt["dtype"],
                             token_budget=snakemake.params.token_budget, max_batch_size=snakemake.params.max_batch_size)
conversations = [build_messages(r, snakemake.params.style) for r in records(rows)]
arrays = extractor.extract(conversations, progress=progress_logger(f"features {snakemake.wildcards.dataset}"))
write_features(snakemake.output[0], rows["id"].tolist(), arrays,
               meta={"model": snakemake.wildcards.model, "style": snakemake.params.style})
