"""The hit decision beyond cosine: a text verifier that vetoes a candidate whose picture would differ.

MiniLM cosine measures shared wording: "a dog chasing a cat" and "a cat chasing a dog" score about
0.97, and "a red fox" vs "a brown fox" barely moves it. So a retrieved candidate is a hit when it
is the request retyped (`same_tags`, whatever the cosine), or when `verify` says its picture
satisfies the request and the cosine reaches the threshold:

- **same text** (`canonical`): equal up to case, punctuation, spacing (words split or joined
  differently are one text: `4 k` = `4k`, `gta v` = `gtav`), the articles "a", "an", "the" and
  "its", and the order of whole comma-separated tags. A prompt that normalises to nothing (only
  emoji, symbols or punctuation) is only the same text as exactly itself;
- **verified** (`tokens`): both prompts reduced to content tokens: folded as above, a light
  deterministic stemmer (`sleeps`/`sleeping`, `parked`/`parking`, `is/are/was/were` as one token that
  is dropped), each token keeping its *form*: a bare word and its `-s` form are different pictures
  ("a cat" / "cats", "child" / "children": a changed count), any other two forms of one stem are
  alike ("sleeps" / "sleeping");
- within each tag the token *sequence* must be alike (order matters: swapped roles or attributes
  veto); across tags the *multiset* of tags must be (moving a whole tag is harmless), or else the
  whole token sequence (the same words with other separators);
- negations, numbers and number words, prepositions, colours, style, artist and medium words are
  ordinary tokens: any change in them vetoes.

Measured on public data in docs/cache-quality.md (`make eval`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from dreamcache.prompts import clean, normalize

_TAG_SEPARATORS = re.compile(r"[,;|\n]+")
_JOINERS = re.compile(r"(?<=\w)['\u2019\u2018`\-\u2010\u2011](?=\w)")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")

#: Tokens dropped before comparing: articles, the neutral possessive "its" and, after stemming, the copula
#: ("a dog is sitting" == "a dog sitting"). Everything else, negations and counts included, is content.
IGNORED = frozenset({"a", "an", "the", "its"})
IGNORED_STEMS = frozenset({"be"})
_COPULA = frozenset({"is", "are", "was", "were", "be", "been", "being", "am"})
_IRREGULAR_PLURALS = {
    "children": "child", "men": "man", "women": "woman", "people": "person", "persons": "person",
    "mice": "mouse", "feet": "foot", "teeth": "tooth", "geese": "goose", "oxen": "ox",
    "knives": "knife", "wives": "wife", "leaves": "leaf", "loaves": "loaf", "shelves": "shelf",
    "wolves": "wolf", "calves": "calf", "halves": "half", "lives": "life", "scarves": "scarf",
}
_IRREGULAR = {
    "sheep": "sheep",
    "has": "have", "had": "have", "having": "have", "does": "do", "did": "do", "doing": "do",
    "lying": "lie", "lies": "lie", "dying": "die", "tying": "tie",
    "bus": "bus", "glass": "glass", "grass": "grass", "this": "this", "his": "his", "gas": "gas",
}
#: Word forms a token can carry: bare, a plural or third-person `-s`, a participle. A bare word and its
#: `-s` form are different pictures ("a cat" / "cats"); any other two forms of one stem are alike
#: ("sleeps" / "sleeping", "runs" / "ran"-less "running", "parked" / "parking").
BARE, PLURAL, ING, ED = "", "s", "ing", "ed"
_VOWELS = set("aeiouy")
_ES_AFTER = ("ss", "sh", "ch", "x", "z", "zz")


from mutmut.mutation.trampoline import wrap_in_trampoline as _mutmut_mutated, MutantDict
mutants_x__has_vowel__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__has_vowel__mutmut)
def _has_vowel(text: str) -> bool:
    return any(ch in _VOWELS for ch in text)


def x__has_vowel__mutmut_orig(text: str) -> bool:
    return any(ch in _VOWELS for ch in text)


def x__has_vowel__mutmut_1(text: str) -> bool:
    return any(None)


def x__has_vowel__mutmut_2(text: str) -> bool:
    return any(ch not in _VOWELS for ch in text)

mutants_x__has_vowel__mutmut['_mutmut_orig'] = x__has_vowel__mutmut_orig # type: ignore # mutmut generated
mutants_x__has_vowel__mutmut['x__has_vowel__mutmut_1'] = x__has_vowel__mutmut_1 # type: ignore # mutmut generated
mutants_x__has_vowel__mutmut['x__has_vowel__mutmut_2'] = x__has_vowel__mutmut_2 # type: ignore # mutmut generated
mutants_x__undouble__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__undouble__mutmut)
def _undouble(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_orig(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_1(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] or stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_2(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 or stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_3(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_4(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_5(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[+1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_6(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-2] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_7(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] != stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_8(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[+2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_9(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-3] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_10(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[+1] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_11(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-2] not in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_12(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] in "aeiouslz":
        return stem[:-1]
    return stem


def x__undouble__mutmut_13(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "XXaeiouslzXX":
        return stem[:-1]
    return stem


def x__undouble__mutmut_14(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "AEIOUSLZ":
        return stem[:-1]
    return stem


def x__undouble__mutmut_15(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:+1]
    return stem


def x__undouble__mutmut_16(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-2]
    return stem

mutants_x__undouble__mutmut['_mutmut_orig'] = x__undouble__mutmut_orig # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_1'] = x__undouble__mutmut_1 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_2'] = x__undouble__mutmut_2 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_3'] = x__undouble__mutmut_3 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_4'] = x__undouble__mutmut_4 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_5'] = x__undouble__mutmut_5 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_6'] = x__undouble__mutmut_6 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_7'] = x__undouble__mutmut_7 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_8'] = x__undouble__mutmut_8 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_9'] = x__undouble__mutmut_9 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_10'] = x__undouble__mutmut_10 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_11'] = x__undouble__mutmut_11 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_12'] = x__undouble__mutmut_12 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_13'] = x__undouble__mutmut_13 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_14'] = x__undouble__mutmut_14 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_15'] = x__undouble__mutmut_15 # type: ignore # mutmut generated
mutants_x__undouble__mutmut['x__undouble__mutmut_16'] = x__undouble__mutmut_16 # type: ignore # mutmut generated


@lru_cache(maxsize=65536)
def analyse(word: str) -> tuple[str, str]:
    """The word's stem and form (`BARE`, `PLURAL`, `ING`, `ED`): a light, deterministic stemmer."""
    if word in _COPULA:
        return "be", BARE
    if word in _IRREGULAR_PLURALS:
        return analyse(_IRREGULAR_PLURALS[word])[0], PLURAL
    if word in _IRREGULAR:
        base = _IRREGULAR[word]
        return (base, BARE) if base == word else (analyse(base)[0], BARE)
    if word.isdigit() or len(word) <= 3:
        return word, BARE
    w, form = word, BARE
    if w.endswith("ies") and len(w) > 4:
        w, form = w[:-3] + "y", PLURAL
    elif w.endswith("es") and w[:-2].endswith(_ES_AFTER):
        w, form = w[:-2], PLURAL
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w, form = w[:-1], PLURAL
    elif w.endswith("ing") and len(w) >= 6 and _has_vowel(w[:-3]):
        w, form = _undouble(w[:-3]), ING
    elif w.endswith("ied") and len(w) > 4:
        w, form = w[:-3] + "y", ED
    elif w.endswith("ed") and len(w) >= 5 and _has_vowel(w[:-2]):
        w, form = _undouble(w[:-2]), ED
    if len(w) > 3 and w.endswith("e"):  # make/making/made-less: `make` and `mak(ing)` meet at `mak`
        w = w[:-1]
    return w, form
mutants_x_stem__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_stem__mutmut)
def stem(word: str) -> str:
    """The word's stem: every form of one word maps to it (see `analyse` for the form)."""
    return analyse(word)[0]


def x_stem__mutmut_orig(word: str) -> str:
    """The word's stem: every form of one word maps to it (see `analyse` for the form)."""
    return analyse(word)[0]


def x_stem__mutmut_1(word: str) -> str:
    """The word's stem: every form of one word maps to it (see `analyse` for the form)."""
    return analyse(None)[0]


def x_stem__mutmut_2(word: str) -> str:
    """The word's stem: every form of one word maps to it (see `analyse` for the form)."""
    return analyse(word)[1]

mutants_x_stem__mutmut['_mutmut_orig'] = x_stem__mutmut_orig # type: ignore # mutmut generated
mutants_x_stem__mutmut['x_stem__mutmut_1'] = x_stem__mutmut_1 # type: ignore # mutmut generated
mutants_x_stem__mutmut['x_stem__mutmut_2'] = x_stem__mutmut_2 # type: ignore # mutmut generated


Token = tuple[str, str]  # (stem, form)
mutants_x_alike__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_alike__mutmut)
def alike(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] and {a[1], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_orig(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] and {a[1], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_1(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] or {a[1], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_2(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[1] == b[0] and {a[1], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_3(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] != b[0] and {a[1], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_4(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[1] and {a[1], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_5(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] and {a[2], b[1]} != {BARE, PLURAL}


def x_alike__mutmut_6(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] and {a[1], b[2]} != {BARE, PLURAL}


def x_alike__mutmut_7(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] and {a[1], b[1]} == {BARE, PLURAL}

mutants_x_alike__mutmut['_mutmut_orig'] = x_alike__mutmut_orig # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_1'] = x_alike__mutmut_1 # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_2'] = x_alike__mutmut_2 # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_3'] = x_alike__mutmut_3 # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_4'] = x_alike__mutmut_4 # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_5'] = x_alike__mutmut_5 # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_6'] = x_alike__mutmut_6 # type: ignore # mutmut generated
mutants_x_alike__mutmut['x_alike__mutmut_7'] = x_alike__mutmut_7 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__same_sequence__mutmut)
def _same_sequence(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_orig(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_1(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) or all(alike(x, y) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_2(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) != len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_3(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(None)


def x__same_sequence__mutmut_4(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(None, y) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_5(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, None) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_6(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(y) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_7(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, ) for x, y in zip(a, b, strict=True))


def x__same_sequence__mutmut_8(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(None, b, strict=True))


def x__same_sequence__mutmut_9(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, None, strict=True))


def x__same_sequence__mutmut_10(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=None))


def x__same_sequence__mutmut_11(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(b, strict=True))


def x__same_sequence__mutmut_12(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, strict=True))


def x__same_sequence__mutmut_13(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, ))


def x__same_sequence__mutmut_14(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=False))

mutants_x__same_sequence__mutmut['_mutmut_orig'] = x__same_sequence__mutmut_orig # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_1'] = x__same_sequence__mutmut_1 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_2'] = x__same_sequence__mutmut_2 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_3'] = x__same_sequence__mutmut_3 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_4'] = x__same_sequence__mutmut_4 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_5'] = x__same_sequence__mutmut_5 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_6'] = x__same_sequence__mutmut_6 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_7'] = x__same_sequence__mutmut_7 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_8'] = x__same_sequence__mutmut_8 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_9'] = x__same_sequence__mutmut_9 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_10'] = x__same_sequence__mutmut_10 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_11'] = x__same_sequence__mutmut_11 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_12'] = x__same_sequence__mutmut_12 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_13'] = x__same_sequence__mutmut_13 # type: ignore # mutmut generated
mutants_x__same_sequence__mutmut['x__same_sequence__mutmut_14'] = x__same_sequence__mutmut_14 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__same_tag_multiset__mutmut)
def _same_tag_multiset(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_orig(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_1(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) == len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_2(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return True
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_3(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = None
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_4(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(None)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_5(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = None
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_6(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next(None, None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_7(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next(None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_8(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), )
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_9(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(None) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_10(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(None, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_11(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, None)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_12(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(other)), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_13(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, )), None)
        if partner is None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_14(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is not None:
            return False
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_15(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return True
        del unused[partner]
    return True


def x__same_tag_multiset__mutmut_16(a: Sequence[Sequence[Token]], b: Sequence[Sequence[Token]]) -> bool:
    """Every tag of `a` pairs with its own alike tag of `b` (tag order free)."""
    if len(a) != len(b):
        return False
    unused = list(b)
    for tag in a:
        partner = next((i for i, other in enumerate(unused) if _same_sequence(tag, other)), None)
        if partner is None:
            return False
        del unused[partner]
    return False

mutants_x__same_tag_multiset__mutmut['_mutmut_orig'] = x__same_tag_multiset__mutmut_orig # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_1'] = x__same_tag_multiset__mutmut_1 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_2'] = x__same_tag_multiset__mutmut_2 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_3'] = x__same_tag_multiset__mutmut_3 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_4'] = x__same_tag_multiset__mutmut_4 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_5'] = x__same_tag_multiset__mutmut_5 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_6'] = x__same_tag_multiset__mutmut_6 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_7'] = x__same_tag_multiset__mutmut_7 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_8'] = x__same_tag_multiset__mutmut_8 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_9'] = x__same_tag_multiset__mutmut_9 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_10'] = x__same_tag_multiset__mutmut_10 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_11'] = x__same_tag_multiset__mutmut_11 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_12'] = x__same_tag_multiset__mutmut_12 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_13'] = x__same_tag_multiset__mutmut_13 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_14'] = x__same_tag_multiset__mutmut_14 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_15'] = x__same_tag_multiset__mutmut_15 # type: ignore # mutmut generated
mutants_x__same_tag_multiset__mutmut['x__same_tag_multiset__mutmut_16'] = x__same_tag_multiset__mutmut_16 # type: ignore # mutmut generated
mutants_x__fold__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__fold__mutmut)
def _fold(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_orig(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_1(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = None
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_2(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize(None, text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_3(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", None).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_4(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize(text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_5(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", ).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_6(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("XXNFKCXX", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_7(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("nfkc", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_8(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = None
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_9(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub(None, text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_10(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", None)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_11(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub(text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_12(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", )
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_13(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("XXXX", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_14(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(None, _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_15(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", None).strip()


def x__fold__mutmut_16(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(_PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_17(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", ).strip()


def x__fold__mutmut_18(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub("XX XX", _PUNCT.sub(" ", text)).strip()


def x__fold__mutmut_19(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(None, text)).strip()


def x__fold__mutmut_20(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", None)).strip()


def x__fold__mutmut_21(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(text)).strip()


def x__fold__mutmut_22(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", )).strip()


def x__fold__mutmut_23(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub("XX XX", text)).strip()

mutants_x__fold__mutmut['_mutmut_orig'] = x__fold__mutmut_orig # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_1'] = x__fold__mutmut_1 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_2'] = x__fold__mutmut_2 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_3'] = x__fold__mutmut_3 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_4'] = x__fold__mutmut_4 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_5'] = x__fold__mutmut_5 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_6'] = x__fold__mutmut_6 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_7'] = x__fold__mutmut_7 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_8'] = x__fold__mutmut_8 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_9'] = x__fold__mutmut_9 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_10'] = x__fold__mutmut_10 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_11'] = x__fold__mutmut_11 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_12'] = x__fold__mutmut_12 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_13'] = x__fold__mutmut_13 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_14'] = x__fold__mutmut_14 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_15'] = x__fold__mutmut_15 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_16'] = x__fold__mutmut_16 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_17'] = x__fold__mutmut_17 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_18'] = x__fold__mutmut_18 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_19'] = x__fold__mutmut_19 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_20'] = x__fold__mutmut_20 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_21'] = x__fold__mutmut_21 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_22'] = x__fold__mutmut_22 # type: ignore # mutmut generated
mutants_x__fold__mutmut['x__fold__mutmut_23'] = x__fold__mutmut_23 # type: ignore # mutmut generated
mutants_x_tags__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_tags__mutmut)
def tags(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(piece) for piece in _TAG_SEPARATORS.split(prompt)) if part]


def x_tags__mutmut_orig(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(piece) for piece in _TAG_SEPARATORS.split(prompt)) if part]


def x_tags__mutmut_1(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(None) for piece in _TAG_SEPARATORS.split(prompt)) if part]


def x_tags__mutmut_2(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(piece) for piece in _TAG_SEPARATORS.split(None)) if part]

mutants_x_tags__mutmut['_mutmut_orig'] = x_tags__mutmut_orig # type: ignore # mutmut generated
mutants_x_tags__mutmut['x_tags__mutmut_1'] = x_tags__mutmut_1 # type: ignore # mutmut generated
mutants_x_tags__mutmut['x_tags__mutmut_2'] = x_tags__mutmut_2 # type: ignore # mutmut generated


@lru_cache(maxsize=16384)
def tokens(prompt: str) -> tuple[tuple[Token, ...], ...]:
    """Per comma-separated tag, the sequence of (stem, form) content tokens (tags left empty are dropped)."""
    out = []
    for piece in _TAG_SEPARATORS.split(prompt):
        analysed = (analyse(w) for w in _fold(piece).split() if w not in IGNORED)
        tag = tuple(token for token in analysed if token[0] not in IGNORED_STEMS)
        if tag:
            out.append(tag)
    return tuple(out)
mutants_x_content__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_content__mutmut)
def content(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(tuple(token[0] for token in tag) for tag in tokens(prompt))


def x_content__mutmut_orig(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(tuple(token[0] for token in tag) for tag in tokens(prompt))


def x_content__mutmut_1(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(None)


def x_content__mutmut_2(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(tuple(None) for tag in tokens(prompt))


def x_content__mutmut_3(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(tuple(token[1] for token in tag) for tag in tokens(prompt))


def x_content__mutmut_4(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(tuple(token[0] for token in tag) for tag in tokens(None))

mutants_x_content__mutmut['_mutmut_orig'] = x_content__mutmut_orig # type: ignore # mutmut generated
mutants_x_content__mutmut['x_content__mutmut_1'] = x_content__mutmut_1 # type: ignore # mutmut generated
mutants_x_content__mutmut['x_content__mutmut_2'] = x_content__mutmut_2 # type: ignore # mutmut generated
mutants_x_content__mutmut['x_content__mutmut_3'] = x_content__mutmut_3 # type: ignore # mutmut generated
mutants_x_content__mutmut['x_content__mutmut_4'] = x_content__mutmut_4 # type: ignore # mutmut generated


@lru_cache(maxsize=16384)
def canonical(prompt: str) -> str:
    """The prompt as typed, up to case, punctuation, spacing, articles and tag order; "" when nothing is left.

    Spaces are dropped inside each tag, so words split or joined differently are one text
    (`4 k` = `4k`, `chainsaw man` = `chainsawman`); tags are sorted. No stemming: two prompts with
    the same canonical text are the same request retyped, whatever their embeddings say.
    """
    parts = ("".join(w for w in _fold(piece).split() if w not in IGNORED) for piece in _TAG_SEPARATORS.split(prompt))
    return ",".join(sorted(part for part in parts if part))
mutants_x_text_key__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_text_key__mutmut)
def text_key(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if text else ""


def x_text_key__mutmut_orig(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if text else ""


def x_text_key__mutmut_1(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if text else ""


def x_text_key__mutmut_2(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(None)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if text else ""


def x_text_key__mutmut_3(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if (text) and False else ""


def x_text_key__mutmut_4(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if (text) or True else ""


def x_text_key__mutmut_5(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(None).hexdigest()[:32] if text else ""


def x_text_key__mutmut_6(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode(None)).hexdigest()[:32] if text else ""


def x_text_key__mutmut_7(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("XXutf-8XX")).hexdigest()[:32] if text else ""


def x_text_key__mutmut_8(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("UTF-8")).hexdigest()[:32] if text else ""


def x_text_key__mutmut_9(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:33] if text else ""


def x_text_key__mutmut_10(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if text else "XXXX"

mutants_x_text_key__mutmut['_mutmut_orig'] = x_text_key__mutmut_orig # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_1'] = x_text_key__mutmut_1 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_2'] = x_text_key__mutmut_2 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_3'] = x_text_key__mutmut_3 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_4'] = x_text_key__mutmut_4 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_5'] = x_text_key__mutmut_5 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_6'] = x_text_key__mutmut_6 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_7'] = x_text_key__mutmut_7 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_8'] = x_text_key__mutmut_8 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_9'] = x_text_key__mutmut_9 # type: ignore # mutmut generated
mutants_x_text_key__mutmut['x_text_key__mutmut_10'] = x_text_key__mutmut_10 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_report_keys__mutmut)
def report_keys(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_orig(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_1(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = None
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_2(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(None)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_3(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "XXXX".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_4(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(None).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_5(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_6(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_7(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" - hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_8(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("XXraw:XX" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_9(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("RAW:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_10(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(None).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_11(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode(None)).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_12(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(None).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_13(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("XXutf-8XX")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_14(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("UTF-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_15(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:29],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_16(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(None), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_17(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" - hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_18(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "XXflat:XX" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_19(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "FLAT:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])


def x_report_keys__mutmut_20(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(None).hexdigest()[:27])


def x_report_keys__mutmut_21(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode(None)).hexdigest()[:27])


def x_report_keys__mutmut_22(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("XXutf-8XX")).hexdigest()[:27])


def x_report_keys__mutmut_23(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("UTF-8")).hexdigest()[:27])


def x_report_keys__mutmut_24(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in _fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:28])

mutants_x_report_keys__mutmut['_mutmut_orig'] = x_report_keys__mutmut_orig # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_1'] = x_report_keys__mutmut_1 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_2'] = x_report_keys__mutmut_2 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_3'] = x_report_keys__mutmut_3 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_4'] = x_report_keys__mutmut_4 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_5'] = x_report_keys__mutmut_5 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_6'] = x_report_keys__mutmut_6 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_7'] = x_report_keys__mutmut_7 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_8'] = x_report_keys__mutmut_8 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_9'] = x_report_keys__mutmut_9 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_10'] = x_report_keys__mutmut_10 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_11'] = x_report_keys__mutmut_11 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_12'] = x_report_keys__mutmut_12 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_13'] = x_report_keys__mutmut_13 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_14'] = x_report_keys__mutmut_14 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_15'] = x_report_keys__mutmut_15 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_16'] = x_report_keys__mutmut_16 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_17'] = x_report_keys__mutmut_17 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_18'] = x_report_keys__mutmut_18 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_19'] = x_report_keys__mutmut_19 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_20'] = x_report_keys__mutmut_20 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_21'] = x_report_keys__mutmut_21 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_22'] = x_report_keys__mutmut_22 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_23'] = x_report_keys__mutmut_23 # type: ignore # mutmut generated
mutants_x_report_keys__mutmut['x_report_keys__mutmut_24'] = x_report_keys__mutmut_24 # type: ignore # mutmut generated
mutants_x__stripped__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__stripped__mutmut)
def _stripped(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_orig(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_1(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = None
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_2(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub(None, unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_3(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", None)
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_4(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub(unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_5(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", )
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_6(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("XXXX", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_7(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize(None, text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_8(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", None).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_9(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize(text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_10(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", ).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_11(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("XXNFKCXX", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_12(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("nfkc", text).casefold())
    return _SPACE.sub(" ", text).strip()


def x__stripped__mutmut_13(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(None, text).strip()


def x__stripped__mutmut_14(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", None).strip()


def x__stripped__mutmut_15(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(text).strip()


def x__stripped__mutmut_16(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", ).strip()


def x__stripped__mutmut_17(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub("XX XX", text).strip()

mutants_x__stripped__mutmut['_mutmut_orig'] = x__stripped__mutmut_orig # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_1'] = x__stripped__mutmut_1 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_2'] = x__stripped__mutmut_2 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_3'] = x__stripped__mutmut_3 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_4'] = x__stripped__mutmut_4 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_5'] = x__stripped__mutmut_5 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_6'] = x__stripped__mutmut_6 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_7'] = x__stripped__mutmut_7 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_8'] = x__stripped__mutmut_8 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_9'] = x__stripped__mutmut_9 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_10'] = x__stripped__mutmut_10 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_11'] = x__stripped__mutmut_11 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_12'] = x__stripped__mutmut_12 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_13'] = x__stripped__mutmut_13 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_14'] = x__stripped__mutmut_14 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_15'] = x__stripped__mutmut_15 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_16'] = x__stripped__mutmut_16 # type: ignore # mutmut generated
mutants_x__stripped__mutmut['x__stripped__mutmut_17'] = x__stripped__mutmut_17 # type: ignore # mutmut generated
mutants_x__surface__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__surface__mutmut)
def _surface(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(stem(word), word)
    return out


def x__surface__mutmut_orig(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(stem(word), word)
    return out


def x__surface__mutmut_1(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = None
    for word in _fold(prompt).split():
        out.setdefault(stem(word), word)
    return out


def x__surface__mutmut_2(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(None).split():
        out.setdefault(stem(word), word)
    return out


def x__surface__mutmut_3(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(None, word)
    return out


def x__surface__mutmut_4(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(stem(word), None)
    return out


def x__surface__mutmut_5(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(word)
    return out


def x__surface__mutmut_6(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(stem(word), )
    return out


def x__surface__mutmut_7(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(stem(None), word)
    return out

mutants_x__surface__mutmut['_mutmut_orig'] = x__surface__mutmut_orig # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_1'] = x__surface__mutmut_1 # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_2'] = x__surface__mutmut_2 # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_3'] = x__surface__mutmut_3 # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_4'] = x__surface__mutmut_4 # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_5'] = x__surface__mutmut_5 # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_6'] = x__surface__mutmut_6 # type: ignore # mutmut generated
mutants_x__surface__mutmut['x__surface__mutmut_7'] = x__surface__mutmut_7 # type: ignore # mutmut generated
mutants_x__joined_tags__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x__joined_tags__mutmut)
def _joined_tags(prompt: str) -> list[str]:
    return sorted(t for t in (_stripped(p) for p in _TAG_SEPARATORS.split(prompt)) if t)


def x__joined_tags__mutmut_orig(prompt: str) -> list[str]:
    return sorted(t for t in (_stripped(p) for p in _TAG_SEPARATORS.split(prompt)) if t)


def x__joined_tags__mutmut_1(prompt: str) -> list[str]:
    return sorted(None)


def x__joined_tags__mutmut_2(prompt: str) -> list[str]:
    return sorted(t for t in (_stripped(None) for p in _TAG_SEPARATORS.split(prompt)) if t)


def x__joined_tags__mutmut_3(prompt: str) -> list[str]:
    return sorted(t for t in (_stripped(p) for p in _TAG_SEPARATORS.split(None)) if t)

mutants_x__joined_tags__mutmut['_mutmut_orig'] = x__joined_tags__mutmut_orig # type: ignore # mutmut generated
mutants_x__joined_tags__mutmut['x__joined_tags__mutmut_1'] = x__joined_tags__mutmut_1 # type: ignore # mutmut generated
mutants_x__joined_tags__mutmut['x__joined_tags__mutmut_2'] = x__joined_tags__mutmut_2 # type: ignore # mutmut generated
mutants_x__joined_tags__mutmut['x__joined_tags__mutmut_3'] = x__joined_tags__mutmut_3 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_same_words_reordered__mutmut)
def same_words_reordered(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_orig(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_1(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = None
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_2(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(None), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_3(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(None)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_4(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c and sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_5(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q != c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_6(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(None) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_7(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) == sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_8(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(None):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_9(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return True
    return sorted(tags(query)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_10(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(None) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_11(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(None)) != sorted(tags(candidate))


def x_same_words_reordered__mutmut_12(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) == sorted(tags(candidate))


def x_same_words_reordered__mutmut_13(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(None)


def x_same_words_reordered__mutmut_14(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(None))

mutants_x_same_words_reordered__mutmut['_mutmut_orig'] = x_same_words_reordered__mutmut_orig # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_1'] = x_same_words_reordered__mutmut_1 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_2'] = x_same_words_reordered__mutmut_2 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_3'] = x_same_words_reordered__mutmut_3 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_4'] = x_same_words_reordered__mutmut_4 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_5'] = x_same_words_reordered__mutmut_5 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_6'] = x_same_words_reordered__mutmut_6 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_7'] = x_same_words_reordered__mutmut_7 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_8'] = x_same_words_reordered__mutmut_8 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_9'] = x_same_words_reordered__mutmut_9 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_10'] = x_same_words_reordered__mutmut_10 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_11'] = x_same_words_reordered__mutmut_11 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_12'] = x_same_words_reordered__mutmut_12 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_13'] = x_same_words_reordered__mutmut_13 # type: ignore # mutmut generated
mutants_x_same_words_reordered__mutmut['x_same_words_reordered__mutmut_14'] = x_same_words_reordered__mutmut_14 # type: ignore # mutmut generated


SAME_TEXT = "same text"  # the reason `decide` gives for a candidate that is the request re-typed
EMPTY_TEXT = "nothing left after normalisation: only the same raw text matches"
mutants_x_same_tags__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_same_tags__mutmut)
def same_tags(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_orig(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_1(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = None
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_2(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(None), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_3(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(None)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_4(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq and not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_5(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_6(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_7(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc or clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_8(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq or not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_9(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_10(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_11(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(None) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_12(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) != clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_13(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(None)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_14(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) and sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_15(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc and normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_16(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq != cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_17(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(None) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_18(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) != normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_19(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(None) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_20(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(None) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_21(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(None)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_22(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) != sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_23(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(None):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_24(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(None)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_25(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return False
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_26(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) and _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_27(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(None) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_28(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) != _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_29(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(None) or _joined_tags(query) == _joined_tags(candidate)


def x_same_tags__mutmut_30(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(None) == _joined_tags(candidate)


def x_same_tags__mutmut_31(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) != _joined_tags(candidate)


def x_same_tags__mutmut_32(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if cq == cc or normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(None)

mutants_x_same_tags__mutmut['_mutmut_orig'] = x_same_tags__mutmut_orig # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_1'] = x_same_tags__mutmut_1 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_2'] = x_same_tags__mutmut_2 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_3'] = x_same_tags__mutmut_3 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_4'] = x_same_tags__mutmut_4 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_5'] = x_same_tags__mutmut_5 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_6'] = x_same_tags__mutmut_6 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_7'] = x_same_tags__mutmut_7 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_8'] = x_same_tags__mutmut_8 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_9'] = x_same_tags__mutmut_9 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_10'] = x_same_tags__mutmut_10 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_11'] = x_same_tags__mutmut_11 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_12'] = x_same_tags__mutmut_12 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_13'] = x_same_tags__mutmut_13 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_14'] = x_same_tags__mutmut_14 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_15'] = x_same_tags__mutmut_15 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_16'] = x_same_tags__mutmut_16 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_17'] = x_same_tags__mutmut_17 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_18'] = x_same_tags__mutmut_18 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_19'] = x_same_tags__mutmut_19 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_20'] = x_same_tags__mutmut_20 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_21'] = x_same_tags__mutmut_21 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_22'] = x_same_tags__mutmut_22 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_23'] = x_same_tags__mutmut_23 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_24'] = x_same_tags__mutmut_24 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_25'] = x_same_tags__mutmut_25 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_26'] = x_same_tags__mutmut_26 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_27'] = x_same_tags__mutmut_27 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_28'] = x_same_tags__mutmut_28 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_29'] = x_same_tags__mutmut_29 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_30'] = x_same_tags__mutmut_30 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_31'] = x_same_tags__mutmut_31 # type: ignore # mutmut generated
mutants_x_same_tags__mutmut['x_same_tags__mutmut_32'] = x_same_tags__mutmut_32 # type: ignore # mutmut generated
mutants_x_reason__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_reason__mutmut)
def reason(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_orig(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_1(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = None
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_2(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(None), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_3(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(None)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_4(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q and not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_5(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_6(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_7(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if (same_tags(query, candidate)) and False else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_8(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if (same_tags(query, candidate)) or True else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_9(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(None, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_10(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, None) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_11(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_12(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, ) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_13(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(None, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_14(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, None):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_15(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_16(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, ):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_17(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = None
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_18(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = None
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_19(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(None, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_20(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, None):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_21(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_22(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, ):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_23(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = None
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_24(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[1] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_25(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[1] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_26(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q != stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_27(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "XXa changed count (singular against plural)XX"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_28(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "A CHANGED COUNT (SINGULAR AGAINST PLURAL)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_29(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(None) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_30(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) != sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_31(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(None):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_32(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "XXsame words in another orderXX"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_33(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "SAME WORDS IN ANOTHER ORDER"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_34(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = None
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_35(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) & _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_36(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(None) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_37(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(None)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_38(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = None
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_39(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(None)
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_40(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(None, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_41(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, None) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_42(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_43(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, ) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_44(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) + set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_45(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(None) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_46(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(None))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_47(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = None
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_48(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(None)
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_49(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(None, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_50(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, None) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_51(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_52(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, ) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_53(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) + set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_54(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(None) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_55(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(None))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_56(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing and extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def x_reason__mutmut_57(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "XXdifferent word countsXX"


def x_reason__mutmut_58(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = tokens(query), tokens(candidate)
    if not q or not c:
        return None if same_tags(query, candidate) else EMPTY_TEXT
    if _same_tag_multiset(q, c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return None
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return "a changed count (singular against plural)"
    if sorted(stems_q) == sorted(stems_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(stems_q) - set(stems_c))
    extra = sorted(words.get(t, t) for t in set(stems_c) - set(stems_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "DIFFERENT WORD COUNTS"

mutants_x_reason__mutmut['_mutmut_orig'] = x_reason__mutmut_orig # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_1'] = x_reason__mutmut_1 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_2'] = x_reason__mutmut_2 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_3'] = x_reason__mutmut_3 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_4'] = x_reason__mutmut_4 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_5'] = x_reason__mutmut_5 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_6'] = x_reason__mutmut_6 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_7'] = x_reason__mutmut_7 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_8'] = x_reason__mutmut_8 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_9'] = x_reason__mutmut_9 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_10'] = x_reason__mutmut_10 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_11'] = x_reason__mutmut_11 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_12'] = x_reason__mutmut_12 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_13'] = x_reason__mutmut_13 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_14'] = x_reason__mutmut_14 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_15'] = x_reason__mutmut_15 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_16'] = x_reason__mutmut_16 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_17'] = x_reason__mutmut_17 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_18'] = x_reason__mutmut_18 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_19'] = x_reason__mutmut_19 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_20'] = x_reason__mutmut_20 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_21'] = x_reason__mutmut_21 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_22'] = x_reason__mutmut_22 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_23'] = x_reason__mutmut_23 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_24'] = x_reason__mutmut_24 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_25'] = x_reason__mutmut_25 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_26'] = x_reason__mutmut_26 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_27'] = x_reason__mutmut_27 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_28'] = x_reason__mutmut_28 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_29'] = x_reason__mutmut_29 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_30'] = x_reason__mutmut_30 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_31'] = x_reason__mutmut_31 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_32'] = x_reason__mutmut_32 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_33'] = x_reason__mutmut_33 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_34'] = x_reason__mutmut_34 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_35'] = x_reason__mutmut_35 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_36'] = x_reason__mutmut_36 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_37'] = x_reason__mutmut_37 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_38'] = x_reason__mutmut_38 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_39'] = x_reason__mutmut_39 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_40'] = x_reason__mutmut_40 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_41'] = x_reason__mutmut_41 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_42'] = x_reason__mutmut_42 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_43'] = x_reason__mutmut_43 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_44'] = x_reason__mutmut_44 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_45'] = x_reason__mutmut_45 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_46'] = x_reason__mutmut_46 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_47'] = x_reason__mutmut_47 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_48'] = x_reason__mutmut_48 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_49'] = x_reason__mutmut_49 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_50'] = x_reason__mutmut_50 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_51'] = x_reason__mutmut_51 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_52'] = x_reason__mutmut_52 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_53'] = x_reason__mutmut_53 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_54'] = x_reason__mutmut_54 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_55'] = x_reason__mutmut_55 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_56'] = x_reason__mutmut_56 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_57'] = x_reason__mutmut_57 # type: ignore # mutmut generated
mutants_x_reason__mutmut['x_reason__mutmut_58'] = x_reason__mutmut_58 # type: ignore # mutmut generated
mutants_x_verify__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_verify__mutmut)
def verify(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, candidate) is None


def x_verify__mutmut_orig(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, candidate) is None


def x_verify__mutmut_1(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(None, candidate) is None


def x_verify__mutmut_2(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, None) is None


def x_verify__mutmut_3(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(candidate) is None


def x_verify__mutmut_4(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, ) is None


def x_verify__mutmut_5(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, candidate) is not None

mutants_x_verify__mutmut['_mutmut_orig'] = x_verify__mutmut_orig # type: ignore # mutmut generated
mutants_x_verify__mutmut['x_verify__mutmut_1'] = x_verify__mutmut_1 # type: ignore # mutmut generated
mutants_x_verify__mutmut['x_verify__mutmut_2'] = x_verify__mutmut_2 # type: ignore # mutmut generated
mutants_x_verify__mutmut['x_verify__mutmut_3'] = x_verify__mutmut_3 # type: ignore # mutmut generated
mutants_x_verify__mutmut['x_verify__mutmut_4'] = x_verify__mutmut_4 # type: ignore # mutmut generated
mutants_x_verify__mutmut['x_verify__mutmut_5'] = x_verify__mutmut_5 # type: ignore # mutmut generated
mutants_x_decide__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_decide__mutmut)
def decide(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_orig(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_1(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(None, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_2(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, None):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_3(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_4(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, ):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_5(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return False, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_6(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = None
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_7(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(None, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_8(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, None)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_9(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_10(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, )
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_11(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_12(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return True, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_13(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity <= threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_14(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return True, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def x_decide__mutmut_15(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return False, "verified"


def x_decide__mutmut_16(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "XXverifiedXX"


def x_decide__mutmut_17(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text` (whatever the cosine), `verified`, `below threshold` or
    the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "VERIFIED"

mutants_x_decide__mutmut['_mutmut_orig'] = x_decide__mutmut_orig # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_1'] = x_decide__mutmut_1 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_2'] = x_decide__mutmut_2 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_3'] = x_decide__mutmut_3 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_4'] = x_decide__mutmut_4 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_5'] = x_decide__mutmut_5 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_6'] = x_decide__mutmut_6 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_7'] = x_decide__mutmut_7 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_8'] = x_decide__mutmut_8 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_9'] = x_decide__mutmut_9 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_10'] = x_decide__mutmut_10 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_11'] = x_decide__mutmut_11 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_12'] = x_decide__mutmut_12 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_13'] = x_decide__mutmut_13 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_14'] = x_decide__mutmut_14 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_15'] = x_decide__mutmut_15 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_16'] = x_decide__mutmut_16 # type: ignore # mutmut generated
mutants_x_decide__mutmut['x_decide__mutmut_17'] = x_decide__mutmut_17 # type: ignore # mutmut generated
mutants_x_accept__mutmut: MutantDict = {}  # type: ignore


@_mutmut_mutated(mutants_x_accept__mutmut)
def accept(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, threshold)[0]


def x_accept__mutmut_orig(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, threshold)[0]


def x_accept__mutmut_1(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(None, candidate, similarity, threshold)[0]


def x_accept__mutmut_2(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, None, similarity, threshold)[0]


def x_accept__mutmut_3(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, None, threshold)[0]


def x_accept__mutmut_4(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, None)[0]


def x_accept__mutmut_5(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(candidate, similarity, threshold)[0]


def x_accept__mutmut_6(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, similarity, threshold)[0]


def x_accept__mutmut_7(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, threshold)[0]


def x_accept__mutmut_8(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, )[0]


def x_accept__mutmut_9(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, threshold)[1]

mutants_x_accept__mutmut['_mutmut_orig'] = x_accept__mutmut_orig # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_1'] = x_accept__mutmut_1 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_2'] = x_accept__mutmut_2 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_3'] = x_accept__mutmut_3 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_4'] = x_accept__mutmut_4 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_5'] = x_accept__mutmut_5 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_6'] = x_accept__mutmut_6 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_7'] = x_accept__mutmut_7 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_8'] = x_accept__mutmut_8 # type: ignore # mutmut generated
mutants_x_accept__mutmut['x_accept__mutmut_9'] = x_accept__mutmut_9 # type: ignore # mutmut generated
