import random

import pytest

from routerlab.core.batching import token_budget_batches


def test_every_index_once_and_budget_respected():
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(500)]
    batches = token_budget_batches(lengths, token_budget=2048, max_batch_size=16, extra_tokens=32)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    for b in batches:
        assert len(b) <= 16
        longest = max(lengths[i] for i in b) + 32
        assert len(b) * longest <= 2048 or len(b) == 1


def test_sorted_longest_first_and_deterministic():
    lengths = [5, 50, 5, 20, 50]
    batches = token_budget_batches(lengths, token_budget=100, max_batch_size=8)
    assert batches == [[1, 4], [3, 0, 2]]  # 2*50 <= 100; then 20,5,5 -> 3*20 = 60
    assert token_budget_batches(lengths, 100, 8) == batches


def test_oversized_prompt_gets_its_own_batch():
    assert token_budget_batches([500, 10, 10], token_budget=100, max_batch_size=4) == [[0], [1, 2]]


def test_rejects_nonpositive_budget():
    with pytest.raises(ValueError, match="token_budget"):
        token_budget_batches([1], 0, 4)


def test_max_padding_splits_batches_whose_padding_would_dominate():
    lengths = [100, 90, 30, 28, 27]
    # Without a cap all five share one batch padded to 100 tokens: 500 padded, 275 real.
    assert token_budget_batches(lengths, token_budget=1000, max_batch_size=8) == [[0, 1, 2, 3, 4]]
    # With 20 %: [100, 90] pads 10 of 200 (5 %); adding 30 would pad 80 of 300 -> new batch;
    # [30, 28, 27] pads 5 of 90.
    assert token_budget_batches(lengths, 1000, 8, max_padding=0.2) == [[0, 1], [2, 3, 4]]
    assert token_budget_batches(lengths, 1000, 8, max_padding=1.0) == [[0, 1, 2, 3, 4]]
