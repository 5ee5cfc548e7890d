"""The one language-model batch loop: token-budget batches, left padding, device placement.

Feature extraction, generation, token labels and self-checks all run their forward passes
through ``padded_batches``, so batching and padding behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence


def token_budget_batches(
    lengths: Sequence[int], token_budget: int, max_batch_size: int, extra_tokens: int = 0,
    max_padding: float | None = None,
) -> list[list[int]]:
    """Group indices into batches whose padded size stays within ``token_budget``.

    Indices are sorted by length (longest first, ties by index so the result is
    deterministic); a batch's padded cost is ``len(batch) * (longest + extra_tokens)``,
    where ``extra_tokens`` covers tokens generated after the prompt. Sorting keeps
    padding low; longest-first surfaces an out-of-memory error on the first batch.

    ``max_padding`` (a share, e.g. 0.2) also closes a batch before its padding positions
    would exceed that share of its padded cost. A prompt pass (features, log-likelihood
    answers) computes every padding position in full, and on a CPU a batch of a few hundred
    tokens already runs matmuls near their limit, so for lengths that vary widely several
    tight batches beat one padded batch.
    """
    if token_budget <= 0 or max_batch_size <= 0:
        raise ValueError(f"token_budget={token_budget} and max_batch_size={max_batch_size} must be positive")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    current_max = current_real = 0
    for i in order:
        cost = lengths[i] + extra_tokens
        new_max = max(current_max, cost)
        padded = (len(current) + 1) * new_max
        too_padded = max_padding is not None and padded - (current_real + cost) > max_padding * padded
        if current and (len(current) + 1 > max_batch_size or padded > token_budget or too_padded):
            batches.append(current)
            current, new_max, current_real = [], cost, 0
        current.append(i)
        current_max = new_max
        current_real += cost
    if current:
        batches.append(current)
    return batches


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int):
    """Token-id lists as (ids, attention mask) tensors, left-padded to the longest.

    Left padding puts every row's last token in the last column, so position -1 is each
    prompt's last token and generation appends after it.
    """
    import torch  # lazy: heavy

    width = max(len(x) for x in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, x in enumerate(sequences):
        ids[row, width - len(x):] = torch.tensor(list(x), dtype=torch.long)
        mask[row, width - len(x):] = 1
    return ids, mask


def padded_batches(encoded: Sequence[Sequence[int]], pad_id: int, device, token_budget: int, max_batch_size: int,
                   extra_tokens: int = 0, progress: Callable[[int, int], None] | None = None,
                   max_padding: float | None = None) -> Iterator[tuple]:
    """Yield ``(indices, input_ids, attention_mask)`` per token-budget batch, left-padded, on ``device``.

    ``indices`` index ``encoded``; ``progress(done, total)`` is called after the caller has
    processed each batch (when the loop asks for the next one); ``max_padding`` as in
    ``token_budget_batches``.
    """
    done = 0
    lengths = [len(e) for e in encoded]
    for batch in token_budget_batches(lengths, token_budget, max_batch_size, extra_tokens, max_padding):
        ids, mask = left_pad([encoded[i] for i in batch], pad_id)
        yield batch, ids.to(device), mask.to(device)
        done += len(batch)
        if progress:
            progress(done, len(encoded))
