"""Multiple-choice scoring: option-letter extraction (A-J) with ambiguity detection,
falling back to the option's text."""

from __future__ import annotations

import re
from typing import Any, Sequence

from routerlab.scoring.qa import normalize_answer
from routerlab.scoring.result import ScoreResult, is_missing, last_boxed, strip_text_macros, strip_think

_LETTERS = "ABCDEFGHIJ"
# words that may precede an option letter ("choose B", "option B", "A or B", "is B")
_PRE_OK = {
    "answer", "answers", "option", "options", "choice", "choices", "letter", "is", "be", "was", "are",
    "choose", "chose", "chosen", "select", "selected", "pick", "picked", "with", "so", "thus", "hence",
    "therefore", "and", "or", "nor", "either", "both", "not", "than", "between", "correct", "final",
    "then", "go", "say", "it's", "its", "answered", "but", "while", "whereas", "because", "since", "rather",
    "instead", "also", "only", "that", "likely", "probably", "definitely", "clearly", "obviously", "perhaps",
    "maybe", "if", "unlike", "like", "namely", "consequently", "accordingly", "otherwise", "except",
    "including", "pick:", "respond", "reply", "guess",
}
# words that may follow an option letter ("B is correct", "A or B"); after any other
# lower-case word a capital letter is read as a word ("A good choice", "I think")
_POST_OK = {
    "or", "and", "is", "was", "seems", "appears", "looks", "would", "should", "might", "could", "must",
    "best", "only", "as", "because", "since", "then", "nor", "but", "are", "describes", "correctly",
    "fits", "matches", "represents", "gives", "provides", "states",
}
_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_\\-])(\(|\[|'|\"|‘|“)?([A-Ja-j])(\)|\]|'|\"|’|”)?(?![A-Za-z0-9_'’-])")
_CONNECT_RE = re.compile(r"^\s*(?:,|/|&|\+|\bor\b|\band\b|\band/or\b)\s*(?:option\s+|choice\s+)?[(\[]?([A-Ja-j])\b")


def _clean_mc(text: str) -> str:
    t = strip_think(text)
    t = strip_text_macros(t)
    t = t.replace("**", "").replace("__", "").replace("`", "")
    t = re.sub(r"(?<!\w)\*([A-Ja-j])\*(?!\w)", r"\1", t)
    t = t.replace("$", "")
    return t


def _letter_tokens(text: str, n: int, lenient: bool = False) -> list[tuple[str, int, int, int]]:
    """Option-letter tokens as (letter, start, end, letter position): standalone letters, with articles,
    pronouns and letters naming things ("Vitamin A", "hepatitis B", "A good choice")
    ignored. ``lenient`` also accepts lower-case letters (inside an answer statement)."""
    out = []
    allowed = _LETTERS[:n]
    for m in _TOKEN_RE.finditer(text):
        open_p, letter, close_p = m.group(1), m.group(2), m.group(3)
        bracketed = bool(open_p and close_p)
        if letter.upper() not in allowed:
            continue
        if letter.islower() and not (lenient or bracketed):
            continue
        after = text[m.end():]
        before = text[:m.start()]
        if not bracketed:
            nxt = re.match(r"\s+([a-z][a-z']*)", after) if not close_p else None
            if nxt:
                word = nxt.group(1)
                if letter.upper() == "I" or word not in _POST_OK:
                    continue  # "A good choice", "I think", "a bit"
            if after[:1] in ("'", "’"):
                continue
            pair = re.match(r"\s*(?:,|/|&|and|or)\s*[A-J]\s+([a-z][a-z']*)", after) if not close_p else None
            if pair and pair.group(1) not in _POST_OK:
                continue  # "A and B glycoproteins", "A or B blood"
            if re.match(r"\.\w", after):  # "e.g", "U.S"
                continue
            prev = re.search(r"([A-Za-z][A-Za-z'’]*)[ \t]+$", before)
            if prev and prev.group(1).lower() not in _PRE_OK:
                continue  # "Vitamin A", "type B", "Plan B"
            if letter.upper() == "I" and not (close_p or re.match(r"\s*[.:]\s|\s*[.:]?$", after)):
                continue
        out.append((letter.upper(), m.start(), m.end(), m.start(2)))
    return out


def _match_option_text(text: str, choices: Sequence[str] | None) -> tuple[str | None, str]:
    if not choices:
        return None, "no option letter found"
    norm = normalize_answer
    resp = norm(text)
    if not resp:
        return None, "empty response"
    normed = [norm(str(c)) for c in choices]
    exact = [i for i, c in enumerate(normed) if c and c == resp]
    if len(exact) == 1:
        return _LETTERS[exact[0]], "matched option text exactly"
    padded = f" {resp} "
    hits = [i for i, c in enumerate(normed) if c and f" {c} " in padded]
    # drop options contained in another matched option ("Delhi" inside "New Delhi")
    hits = [i for i in hits if not any(j != i and f" {normed[i]} " in f" {normed[j]} " for j in hits)]
    if len(hits) == 1:
        return _LETTERS[hits[0]], "matched option text"
    if len(hits) > 1:
        return None, "ambiguous: mentions options " + ", ".join(_LETTERS[i] for i in hits)
    return None, "no option letter or option text found"


_MC_ANCHORS = [
    re.compile(r"(?:\b(?:the\s+)?(?:final|correct|best|right)\s+)?\banswer\s*(?:is\s*:?|:|=|would\s+be|should\s+be|-)\s*"
               r"(?:option\s*|choice\s*|letter\s*)?:?\s*", re.I),
    re.compile(r"\b(?:correct|best|right)\s+(?:option|choice)\s*(?:is|would\s+be|:)\s*:?\s*", re.I),
    re.compile(r"\b(?:I(?:'d|\s+would)?\s+(?:choose|select|pick|go\s+with)|my\s+(?:choice|answer|pick)\s+is)\s*:?\s*"
               r"(?:option\s*|choice\s*)?", re.I),
]
# "B is correct", "(B) Madrid is the correct answer"; the words in between may not hold
# another verdict ("A is wrong but D is correct" -> D)
_MC_POSTFIX = re.compile(
    r"(?<![A-Za-z0-9_'’\\-])[(\[]?([A-J])[)\]]?(?![A-Za-z0-9_'’-])"
    r"(?:(?!\b(?:is|isn't|not|are|was)\b)[^\n.]){0,80}?\s+is\s+"
    r"(?:the\s+)?(?:correct|right|best)\b(?!\s+(?:only|if|when|for|because))"
)


def _drop_negated(toks: list, text: str) -> list:
    """Drop letters that are ruled out: "not A", "isn't B", "rather than C"."""
    return [t for t in toks
            if not re.search(r"(?:\bnot|n't|\brather\s+than)\s+(?:option\s+|choice\s+)?$", text[:t[1]], re.I)]


def _span_choice(span: str, n: int, choices: Sequence[str] | None) -> tuple[str | None, str, bool]:
    """(letter, reason, decided) for the text right after an answer anchor."""
    span = span.strip()
    toks = _letter_tokens(span, n, lenient=True)
    toks = _drop_negated(toks, span)
    if toks:
        first = toks[0]
        # "A or B", "A and C", "A, C" right after the anchor: several answers
        m = _CONNECT_RE.match(span[first[2]:])
        if m and m.group(1).upper() != first[0] and m.group(1).upper() in _LETTERS[:n]:
            return None, f"ambiguous: several options asserted ({first[0]}, {m.group(1).upper()})", True
        if first[1] <= 24 or not choices:  # letter is the answer, not a later aside
            return first[0], "answer statement", True
    letter, reason = _match_option_text(span, choices)
    if letter:
        return letter, "answer statement (option text)", True
    if toks:
        return toks[0][0], "answer statement", True
    return None, reason, False


def _extract_choice(response: Any, n_choices: int = 4, choices: Sequence[str] | None = None) -> tuple[str | None, str]:
    if is_missing(response):
        return None, "no response"
    n = max(1, min(int(n_choices), len(_LETTERS)))
    raw = str(response)
    text = _clean_mc(raw).strip()
    if not text:
        return None, "empty response"
    # 1. the whole response is a letter: "B", "(B)", "B.", "b"
    m = re.fullmatch(r"[(\[\"'‘“]?\s*([A-Ja-j])\s*[)\]\"'’”]?\s*[.:)]?", text)
    if m and m.group(1).upper() in _LETTERS[:n]:
        return m.group(1).upper(), "bare letter"
    # 2. boxed answer
    boxed = last_boxed(strip_think(raw))
    if boxed is not None:
        b = _clean_mc(boxed).strip()
        letters = [t[0] for t in _letter_tokens(b, n, lenient=True)]
        if re.fullmatch(r"[A-J]{2,}", b):  # \boxed{AB}
            letters = list(b)
        if len(set(letters)) > 1:
            return None, "ambiguous: boxed several options " + ", ".join(sorted(set(letters)))
        if letters:
            return letters[0], "boxed"
        letter, reason = _match_option_text(b, choices)
        if letter:
            return letter, "boxed option text"
    # 3. answer statements; the last decided one wins
    found: list[tuple[int, str | None, str]] = []
    for rx in _MC_ANCHORS:
        for am in rx.finditer(text):
            span = text[am.end():].split("\n", 1)[0][:150]
            if not span.strip():
                rest = [ln for ln in text[am.end():].split("\n") if ln.strip()]
                span = rest[0][:150] if rest else ""
            letter, reason, decided = _span_choice(span, n, choices)
            if decided:
                found.append((am.start(), letter, reason))
    token_at = {t[3] for t in _letter_tokens(text, n)}
    for pm in _MC_POSTFIX.finditer(text):
        if pm.group(1) in _LETTERS[:n] and pm.start(1) in token_at:  # a letter, not "Vitamin A"
            found.append((pm.start(), pm.group(1), "'X is correct' statement"))
    if found:
        found.sort(key=lambda x: x[0])
        _, letter, reason = found[-1]
        return letter, reason
    # 4. leading option marker: "B) Madrid", "B. Madrid", "(B) Madrid", "B: Madrid"
    m = re.match(r"\s*(?:option\s+|choice\s+)?[(\[]?([A-J])(?:[)\]]|[.:]|\s+-)(?:\s|$)", text)
    if m and m.group(1) in _LETTERS[:n]:
        return m.group(1), "leading option letter"
    # 5. option letters anywhere: last line first, then the whole text
    lines = [ln for ln in text.split("\n") if ln.strip()]
    for scope, chunk in (("last line", lines[-1] if lines else ""), ("response", text)):
        letters = [t[0] for t in _drop_negated(_letter_tokens(chunk, n), chunk)]
        distinct = sorted(set(letters))
        if len(distinct) == 1:
            return distinct[0], f"only option letter in {scope}"
        if len(distinct) > 1:
            if scope == "last line" or not choices:
                return None, "ambiguous: several options mentioned (" + ", ".join(distinct) + ")"
            break
    # 6. the option's text
    return _match_option_text(text, choices)


def extract_choice(response: str, n_choices: int = 4, choices: Sequence[str] | None = None) -> str | None:
    """The option letter a response picks (``"A"``..``"J"``), or None.

    Understands "B", "(B)", "B.", "B) Madrid", "The answer is (B)", "Answer: B", "**B**",
    ``\\boxed{B}``, "B is correct"; words are not letters ("A good choice is C" -> C,
    "Vitamin A deficiency" -> no letter). Several different letters asserted ("A or B",
    "A and C") -> None. Without a letter, an option's text (``choices``) is matched.
    """
    return _extract_choice(response, n_choices, choices)[0]


def _reference_letter(reference: Any, choices: Sequence[str] | None) -> str:
    if isinstance(reference, (int,)) and not isinstance(reference, bool):
        return _LETTERS[int(reference)]
    s = str(reference).strip()
    m = re.match(r"[(\[]?([A-Ja-j])(?:[)\].:]|\s|$)", s)
    if m:
        return m.group(1).upper()
    if choices:
        for i, c in enumerate(choices):
            if normalize_answer(str(c)) == normalize_answer(s):
                return _LETTERS[i]
    raise ValueError(f"multiple-choice reference is not an option letter: {reference!r}")


def score_mc(response: str, reference_letter: Any, choices: Sequence[str] | None = None) -> ScoreResult:
    choices = list(choices) if choices is not None and len(choices) else None
    ref = _reference_letter(reference_letter, choices)
    n = len(choices) if choices else len(_LETTERS)
    letter, reason = _extract_choice(response, n, choices)
    if letter is None:
        return ScoreResult(0.0, None, "unparsed", reason)
    return ScoreResult(1.0 if letter == ref else 0.0, letter, "ok", f"{reason}; reference {ref}")
