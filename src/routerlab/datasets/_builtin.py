"""Built-in synthetic datasets: deterministic, seeded, the same on every machine and run.

Randomness comes from sha256 of (generator, seed, item index, counter), never from
Python's ``hash()`` or a library RNG whose stream could change between versions. Item
``i`` depends only on (seed, i), so ``n=40`` is a prefix of ``n=200``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

from ._core import LETTERS, DatasetError
from ._packaged import MMLU_GENERATORS


class HashRng:
    """A tiny deterministic RNG: sha256 of a key and a counter."""

    def __init__(self, *key: Any):
        self.key = ":".join(str(k) for k in key)
        self.n = 0

    def _u64(self) -> int:
        d = hashlib.sha256(f"{self.key}:{self.n}".encode()).digest()
        self.n += 1
        return int.from_bytes(d[:8], "big")

    def randint(self, a: int, b: int) -> int:
        """Uniform integer in [a, b] (modulo bias < 2**-50)."""
        if b < a:
            raise ValueError(f"empty range [{a}, {b}]")
        return a + self._u64() % (b - a + 1)

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.randint(0, len(seq) - 1)]

    def shuffle(self, items: list) -> list:
        for i in range(len(items) - 1, 0, -1):
            j = self.randint(0, i)
            items[i], items[j] = items[j], items[i]
        return items

    def sample(self, seq: Sequence[Any], k: int) -> list:
        """k distinct elements (partial Fisher–Yates: k draws, whatever the size of ``seq``)."""
        items = list(seq)
        for i in range(k):
            j = self.randint(i, len(items) - 1)
            items[i], items[j] = items[j], items[i]
        return items[:k]


# ------------------------------------------------------------------------------ arithmetic

NAMES = ("Ava", "Ben", "Carla", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Priya", "Omar", "Sofia", "Tom", "Yuki")
# (item, container, container plural, preposition, place)
SCENES = (
    ("apples", "basket", "baskets", "in", "orchard"),
    ("books", "shelf", "shelves", "on", "library"),
    ("pencils", "box", "boxes", "in", "classroom"),
    ("cookies", "tray", "trays", "on", "bakery"),
    ("stickers", "sheet", "sheets", "on", "shop"),
    ("eggs", "carton", "cartons", "in", "farm"),
    ("marbles", "bag", "bags", "in", "toy store"),
    ("seeds", "packet", "packets", "in", "garden"),
    ("crayons", "pack", "packs", "in", "art room"),
    ("cards", "deck", "decks", "in", "game shop"),
)
GAIN = ("gets {x} more {item}", "buys {x} more {item}", "is given {x} more {item}", "finds {x} more {item}")
LOSS = ("gives away {x} {item}", "uses {x} {item}", "sells {x} {item}", "loses {x} {item}")
PLACE_PREP = {"orchard": "in", "library": "in", "classroom": "in", "bakery": "at", "shop": "at", "farm": "on",
              "toy store": "at", "garden": "in", "art room": "in", "game shop": "at"}
TRAIN_SHARE = 5  # one problem in TRAIN_SHARE is about a train


def _arith_level0(r: HashRng) -> tuple[str, int, str]:
    """One operation: the rung that a 0.5B model answering directly gets right fairly often."""
    name = r.choice(NAMES)
    item, _, _, _, _ = r.choice(SCENES)
    a, b = r.randint(12, 50), r.randint(3, 30)
    if r.randint(0, 1):
        q = f"{name} has {a} {item} and {r.choice(GAIN).format(x=b, item=item)}. How many {item} does {name} have now?"
        return q, a + b, f"{a} + {b}"
    b = min(b, a - 1)
    q = f"{name} has {a} {item} and {r.choice(LOSS).format(x=b, item=item)}. How many {item} does {name} have left?"
    return q, a - b, f"{a} - {b}"


def _arith_level1(r: HashRng) -> tuple[str, int, str]:
    name = r.choice(NAMES)
    item, _, _, _, place = r.choice(SCENES)
    a, b = r.randint(12, 50), r.randint(5, 50)
    kind = r.randint(0, 2 * TRAIN_SHARE - 1)
    if kind < TRAIN_SHARE - 1:  # a + b - c
        c = r.randint(3, min(50, a + b - 1))
        q = (f"{name} has {a} {item}. {name} {r.choice(GAIN).format(x=b, item=item)} and then "
             f"{r.choice(LOSS).format(x=c, item=item)}. How many {item} does {name} have now?")
        return q, a + b - c, f"{a} + {b} - {c}"
    c = r.randint(3, 50)  # a - b + c (b < a)
    b = r.randint(2, a - 1)
    if kind < 2 * TRAIN_SHARE - 2:
        at = f"{PLACE_PREP[place]} the {place}"
        q = (f"There are {a} {item} {at}. In the morning {b} {item} are taken away, and in the afternoon "
             f"{c} more {item} arrive. How many {item} are {at} at the end of the day?")
    else:
        q = (f"A train leaves the station with {a} passengers. At the first stop {b} passengers get off and {c} "
             f"passengers get on. How many passengers are on the train now?")
    return q, a - b + c, f"{a} - {b} + {c}"


def _arith_level2(r: HashRng) -> tuple[str, int, str]:
    name = r.choice(NAMES)
    item, cont, conts, prep, place = r.choice(SCENES)
    a, b, c = r.randint(3, 9), r.randint(6, 50), r.randint(2, 50)
    kind = r.randint(0, 2 * TRAIN_SHARE - 1)
    if kind < 2 and a * b > c:
        q = (f"A train has {a} cars with {b} passengers in each car. At the next station {c} passengers get off. "
             f"How many passengers are still on the train?")
        return q, a * b - c, f"{a} * {b} - {c}"
    if kind < TRAIN_SHARE + 1 and a * b > c:
        q = (f"{name} has {a} {conts} with {b} {item} {prep} each {cont}. {name} "
             f"{r.choice(LOSS).format(x=c, item=item)}. How many {item} does {name} have left?")
        return q, a * b - c, f"{a} * {b} - {c}"
    q = (f"The {place} has {c} {item}. Then {a} {conts} arrive with {b} {item} {prep} each {cont}. "
         f"How many {item} does the {place} have now?")
    return q, c + a * b, f"{c} + {a} * {b}"


def _arith_level3(r: HashRng) -> tuple[str, int, str]:
    name = r.choice(NAMES)
    item, cont, conts, prep, place = r.choice(SCENES)
    kind = r.randint(0, 3 * TRAIN_SHARE - 1)
    if kind < TRAIN_SHARE:  # (a * b - c) / k
        a, b, k = r.randint(3, 9), r.randint(6, 50), r.randint(2, 9)
        rem = (a * b) % k
        c = rem + k * r.randint(0, (min(50, a * b - k) - rem) // k)
        if c == 0:
            c = k
        if kind == 0:
            q = (f"A train has {a} cars with {b} passengers in each car. At the station {c} passengers get off, and "
                 f"the rest are split equally among {k} buses. How many passengers ride in each bus?")
        else:
            q = (f"{name} has {a} {conts} with {b} {item} {prep} each {cont}. {name} "
                 f"{r.choice(LOSS).format(x=c, item=item)} and shares the rest equally among {k} friends. "
                 f"How many {item} does each friend get?")
        return q, (a * b - c) // k, f"({a} * {b} - {c}) / {k}"
    if kind < 2 * TRAIN_SHARE:  # k * (a + b) - c
        k, a, b = r.randint(3, 9), r.randint(4, 30), r.randint(4, 30)
        c = r.randint(3, min(50, k * (a + b) - 1))
        q = (f"Each of the {k} {conts} {PLACE_PREP[place]} the {place} gets {a} {item} in the morning and "
             f"{b} {item} in the afternoon. Later, {c} {item} are taken out. How many {item} are left in all the "
             f"{conts} together?")
        return q, k * (a + b) - c, f"{k} * ({a} + {b}) - {c}"
    a, b, c, d = r.randint(3, 9), r.randint(6, 40), r.randint(2, 9), r.randint(6, 40)  # a * b + c * d
    q = (f"{name} buys {a} {conts} with {b} {item} each and {c} {conts} with {d} {item} each. "
         f"How many {item} does {name} buy in total?")
    return q, a * b + c * d, f"{a} * {b} + {c} * {d}"


_LEVELS = {0: _arith_level0, 1: _arith_level1, 2: _arith_level2, 3: _arith_level3}


def gen_arithmetic(name: str, n: int, seed: int) -> list[dict]:
    """Word problems with 1–3 operations and integer answers; levels 0/1/2/3 in turn.

    Level 0: one addition or subtraction; level 1: two; level 2: one multiplication; level 3: three operations
    with multiplication and exact division. Answering directly (no chain of thought), the
    packaged 0.5B and 1.5B Qwen coders both get most level-0 problems and few of the rest
    (measured: 85 % / 80 % at level 0, <= 10 % above), so the weak model's correctness is
    predictable from the problem while the strong model is no better here; the
    multiple-choice set is where the 1.5B is clearly stronger.
    """
    rows = []
    for i in range(n):
        r = HashRng("arithmetic", seed, i)
        level = i % 4
        q, ans, expr = _LEVELS[level](r)
        assert ans >= 0, (q, ans)
        rows.append({"id": f"{name}-{i}", "prompt": q, "task": "math", "reference": str(ans), "choices": [],
                     "meta": {"difficulty": level, "expression": expr, "generator": "arithmetic"}})
    return rows


# ----------------------------------------------------------------------- multiple choice

WORDS = ("cat", "sun", "tree", "bird", "lamp", "river", "apple", "chair", "garden", "window", "pencil", "rocket",
         "morning", "blanket", "kitchen", "library", "elephant", "mountain", "notebook", "sandwich", "dinosaur",
         "adventure", "butterfly", "telescope", "chocolate", "playground", "strawberry", "television",
         "photograph", "basketball", "temperature", "electricity", "imagination", "refrigerator", "encyclopedia")
UNITS = (  # (from, to, factor)
    ("meters", "centimeters", 100), ("kilometers", "meters", 1000), ("hours", "minutes", 60),
    ("minutes", "seconds", 60), ("kilograms", "grams", 1000), ("days", "hours", 24), ("weeks", "days", 7),
    ("liters", "milliliters", 1000), ("feet", "inches", 12), ("dozens", "items", 12), ("years", "months", 12),
)


def _is_prime(x: int) -> bool:
    return x >= 2 and all(x % p for p in range(2, int(x**0.5) + 1))


def _distinct(r: HashRng, correct: int, candidates: list[int], k: int = 3) -> list[int]:
    out: list[int] = []
    for c in r.shuffle([c for c in candidates if c > 0 and c != correct]):
        if c not in out:
            out.append(c)
        if len(out) == k:
            return out
    step = 1
    while len(out) < k:  # fall back to neighbours
        for c in (correct + step, correct - step):
            if c > 0 and c != correct and c not in out and len(out) < k:
                out.append(c)
        step += 1
    return out


def _mc_extreme(r: HashRng, largest: bool) -> tuple[str, str, list[str], str]:
    if r.randint(0, 1):  # close numbers: same hundreds digit
        base = r.randint(1, 9) * 100
        nums = r.sample(range(base, base + 100), 4)
    else:
        nums = r.sample(range(10, 1000), 4)
    correct = max(nums) if largest else min(nums)
    q = f"Which of these numbers is the {'largest' if largest else 'smallest'}?"
    return q, str(correct), [str(x) for x in nums if x != correct], "largest" if largest else "smallest"


def _mc_product(r: HashRng) -> tuple[str, str, list[str], str]:
    x, y = r.randint(3, 19), r.randint(3, 19)
    p = x * y
    wrong = _distinct(r, p, [p + x, p - x, p + y, p - y, p + 10, p - 10, (x + 1) * (y + 1), p + 1, p - 1])
    return f"What is {x} × {y}?", str(p), [str(w) for w in wrong], "product"


def _mc_longest(r: HashRng) -> tuple[str, str, list[str], str]:
    while True:
        ws = r.sample(WORDS, 4)
        lens = sorted(len(w) for w in ws)
        if lens[-1] > lens[-2]:
            break
    correct = max(ws, key=len)
    return "Which word has the most letters?", correct, [w for w in ws if w != correct], "longest_word"


def _mc_sequence(r: HashRng) -> tuple[str, str, list[str], str]:
    if r.randint(0, 2):  # arithmetic
        a, d = r.randint(1, 30), r.randint(2, 12)
        seq = [a + d * k for k in range(4)]
        ans = a + 4 * d
        wrong = _distinct(r, ans, [ans + d, ans - 1, ans + 1, ans - d + 1, ans + 2, seq[-1] + d + d // 2])
    else:  # geometric
        a, m = r.randint(1, 5), r.randint(2, 3)
        seq = [a * m**k for k in range(4)]
        ans = a * m**4
        wrong = _distinct(r, ans, [seq[-1] + (seq[-1] - seq[-2]), ans + a, ans - a, ans * m, seq[-1] + m])
    q = f"What number comes next in the sequence {', '.join(str(s) for s in seq)}, ...?"
    return q, str(ans), [str(w) for w in wrong], "sequence"


def _mc_units(r: HashRng) -> tuple[str, str, list[str], str]:
    src, dst, f = r.choice(UNITS)
    v = r.randint(2, 12)
    ans = v * f
    others = [v * g for g in (10, 12, 24, 60, 100, 1000, 7) if g != f] + [v + f, ans * 10, ans // 10]
    wrong = _distinct(r, ans, others)
    return f"How many {dst} are in {v} {src}?", str(ans), [str(w) for w in wrong], "unit_conversion"


def _mc_prime(r: HashRng) -> tuple[str, str, list[str], str]:
    primes = [x for x in range(11, 100) if _is_prime(x)]
    composites = [x for x in range(10, 100) if not _is_prime(x) and x % 2 and x % 5]  # no even/…5 giveaways
    p = r.choice(primes)
    wrong = r.sample(composites, 3)
    return "Which of these numbers is a prime number?", str(p), [str(w) for w in wrong], "prime"


_MC_KINDS: tuple[Callable[[HashRng], tuple[str, str, list[str], str]], ...] = (
    lambda r: _mc_extreme(r, True), lambda r: _mc_extreme(r, False), _mc_product, _mc_longest, _mc_sequence,
    _mc_units, _mc_prime,
)


def gen_multiple_choice(name: str, n: int, seed: int) -> list[dict]:
    """4-option questions about checkable facts; the correct letter is balanced A–D.

    Within each block of 4 consecutive items the correct positions are a permutation of
    A, B, C, D, so counts differ by at most one for any n.
    """
    rows = []
    for i in range(n):
        block = HashRng("multiple_choice-letters", seed, i // 4).shuffle([0, 1, 2, 3])
        pos = block[i % 4]
        r = HashRng("multiple_choice", seed, i)
        q, correct, wrong, kind = _MC_KINDS[i % len(_MC_KINDS)](r)
        assert len(wrong) == 3 and correct not in wrong and len(set(wrong)) == 3, (q, correct, wrong)
        choices = list(wrong)
        choices.insert(pos, correct)
        rows.append({"id": f"{name}-{i}", "prompt": q, "task": "mc", "reference": LETTERS[pos], "choices": choices,
                     "meta": {"kind": kind, "answer_text": correct, "generator": "multiple_choice"}})
    return rows


GENERATORS: dict[str, Callable[[str, int, int], list[dict]]] = {
    "arithmetic": gen_arithmetic,
    "multiple_choice": gen_multiple_choice,
    **MMLU_GENERATORS,  # real questions shipped in the package (_packaged.py)
}
GENERATOR_ALIASES = {"mc": "multiple_choice", "math": "arithmetic"}


def generate(name: str, generator: str | None, n: Any, seed: Any) -> list[dict]:
    key = GENERATOR_ALIASES.get(generator, generator) if isinstance(generator, str) else generator
    if key not in GENERATORS:
        raise DatasetError(f"dataset {name!r}: unknown builtin generator {generator!r}; set `generator:` to one of "
                           f"{sorted(GENERATORS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DatasetError(f"dataset {name!r}: builtin `n` must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DatasetError(f"dataset {name!r}: `seed` must be an integer, got {seed!r}")
    return GENERATORS[key](name, n, seed)
