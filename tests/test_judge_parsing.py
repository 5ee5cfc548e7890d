"""Adversarial judge replies (issue 17): a verdict must be unambiguous or the reply is
unparsed (score NaN, status "unparsed", parsed None), never a guess.

Before the fix, ``parse_xverify`` scored a reply 1.0 when its first line said "Correct"
whatever the rest said, and ``parse_graded`` took the last of several ``[[n]]``.
"""

from __future__ import annotations

import math

import pytest

from routerlab.scoring import ScoreResult, parse_graded, parse_pairwise, parse_xverify


def unparsed(res: ScoreResult) -> bool:
    return res.status == "unparsed" and math.isnan(res.score) and res.parsed is None


# --------------------------------------------------------------------------- xVerify

@pytest.mark.parametrize("reply", [
    "Correct\nWait, actually the answer is wrong.",          # the two cases from the issue
    "correct.\n… so it is incorrect.",
    "Correct\nThe output is not correct.",                    # verdict, then its negation
    "Correct\nOn reflection the output isn't entirely correct.",
    "Correct\nThe answer is only partially correct.",         # hedged: not a plain "correct"
    "Incorrect\nActually, it is correct.",                    # the other way round
    "Incorrect\nHmm, the output is not incorrect.",           # double negation: ambiguous
    "The output looks correct at first.\nIncorrect",          # reasoning line says the opposite
    "**Correct**\n\nNo wait, **Incorrect**",                  # markdown around both
    "[Correct]\nThe computation is wrong.",
    "<think>fine</think>Correct\nBut the output's unit is wrong.",
])
def test_contradicting_replies_are_unparsed(reply):
    res = parse_xverify(reply)
    assert unparsed(res), res
    assert res.detail.startswith("conflicting verdicts"), res


@pytest.mark.parametrize("reply,score", [
    ("Correct\nThe output matches the correct answer.", 1.0),   # "the correct answer": no verdict
    ("Incorrect\nThe correct answer is 42, but the output says 41.", 0.0),
    ("The answer is not correct.\nIncorrect", 0.0),              # negation agrees with the verdict
    ("Incorrect\nThe output is only partially correct.", 0.0),
    ("Judgement: [Correct]\nThe output states 42, which is correct.", 1.0),
    ("Incorrect\nThe output is wrong: 6*7 is 42.", 0.0),
    ("Correct\nCorrect answer: 42", 1.0),                        # the prompt's own label
    ("<think>it could be wrong</think>Correct", 1.0),            # the reasoning block is not the reply
])
def test_consistent_replies_still_score(reply, score):
    res = parse_xverify(reply)
    assert (res.score, res.status) == (score, "ok"), res


# --------------------------------------------------------------------------- graded

@pytest.mark.parametrize("reply", [
    "[[3]] out of [[10]]",                    # from the issue: scored 1.0 (last match won)
    "Rating: [[4]]\nOn second thought: Rating: [[9]]",
    "Rating: 8\nFinal rating: [[6]]",         # the two formats disagree
    "Rating: 7/10, or maybe Rating: 9/10",
    "I would say [[2]] or [[8]].",
])
def test_several_different_ratings_are_unparsed(reply):
    res = parse_graded(reply)
    assert unparsed(res), res
    assert res.detail.startswith("several ratings"), res


@pytest.mark.parametrize("reply,score", [
    ("Rating: [[7]]\nSo, final answer: [[7]]", 0.7),   # the same rating twice is one rating
    ("[[7]] out of 10", 0.7),
    ("Rating: [6]", 0.6),
])
def test_one_rating_repeated_or_alone_scores(reply, score):
    res = parse_graded(reply)
    assert (res.status, res.score) == ("ok", pytest.approx(score)), res


def test_negative_rating_is_named_out_of_range():
    res = parse_graded("Rating: [[-3]]")
    assert res.status == "unparsed" and math.isnan(res.score) and "rating -3 outside 1-10" in res.detail, res


# --------------------------------------------------------------------------- pairwise

def test_pairwise_keeps_its_last_verdict_rule():
    # unchanged: the reply ends with the verdict line the prompt asks for
    assert parse_pairwise("Mentions [[A]] first, but the verdict: [[B]]").parsed == "B"
    assert unparsed(parse_pairwise("no verdict"))
