"""English words (WordNet's single-word lemmas), to tell a typing variant from a word of its own.

`4 k` and `4k`, `art station` and `artstation` are one text typed two ways; `a green house` and `a
greenhouse` are not: the joined form is a word with its own meaning. The list ships with the package
(`data/wordnet_words.txt.gz`, derived from WordNet 3.0 by `python -m dreamcache.words build`; WordNet's
licence and notice are in `data/WORDNET-LICENSE.txt`), so the service needs no system package at run
time. Without it, Debian's `wordnet-base` (`/usr/share/wordnet`) is read instead; with neither,
`lexicon()` is None and callers must take the safe side (never treat a join as the same text).

`modifiers()` is a second list from the same database: the words WordNet mostly uses to describe
(`old`, `fluffy`, `very`: more adjective and adverb senses than noun and verb ones), which
`matching.edit_class` uses to tell an edit of how something looks from an edit of what is there.
Without it every changed content word counts as a change of subject (the cautious side).
"""

from __future__ import annotations

import gzip
import logging
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGED = "wordnet_words.txt.gz"
MODIFIERS = "wordnet_modifiers.txt.gz"
WORDNET_DIR = Path("/usr/share/wordnet")
_PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
_WORD = re.compile(r"^[a-z]{2,}$")  # no digits: `3 d` / `3d`, `4 k` / `4k` are typing; one letter is no join


def from_wordnet(directory: Path = WORDNET_DIR) -> frozenset[str]:
    """Every single-word lemma and irregular form of a WordNet database directory, folded as prompts are
    (lower case, in-word hyphens and apostrophes deleted); empty when the directory has no database."""
    found: set[str] = set()
    for pos in _PARTS_OF_SPEECH:
        for name, column in ((f"index.{pos}", 0), (f"{pos}.exc", None)):
            path = directory / name
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if not line or line.startswith(" "):
                    continue  # the licence header of index files
                forms = line.split()[:1] if column == 0 else line.split()
                for form in forms:
                    if "_" not in form:
                        folded = form.replace("-", "").replace("'", "").replace(".", "").lower()
                        if _WORD.match(folded):
                            found.add(folded)
    return frozenset(found)


def _fold_lemma(form: str) -> str | None:
    folded = form.replace("-", "").replace("'", "").replace(".", "").lower()
    return folded if "_" not in form and _WORD.match(folded) else None


def modifiers_from_wordnet(directory: Path = WORDNET_DIR) -> frozenset[str]:
    """The single-word lemmas of a WordNet database with more adjective and adverb senses than noun and verb
    ones (a tie counts as a noun), and their irregular forms (`adj.exc`: "bigger" for "big"), folded."""
    senses: dict[str, list[int]] = {}  # lemma -> [describing senses, naming senses]
    for pos in _PARTS_OF_SPEECH:
        path = directory / f"index.{pos}"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split()
            if not line or line.startswith(" ") or len(fields) < 3 or not fields[2].isdigit():
                continue
            folded = _fold_lemma(fields[0])
            if folded is not None:
                senses.setdefault(folded, [0, 0])[0 if pos in ("adj", "adv") else 1] += int(fields[2])
    found = {word for word, (describing, naming) in senses.items() if describing > naming}
    for pos in ("adj", "adv"):
        path = directory / f"{pos}.exc"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            forms = [_fold_lemma(form) for form in line.split()]
            if len(forms) >= 2 and forms[0] and any(base in found for base in forms[1:]):
                found.add(forms[0])
    return frozenset(found)


def write_packaged(words: Iterable[str], path: Path) -> None:
    """Write a word list as the package ships it: sorted, one a line, gzip (reproducible: no timestamp)."""
    body = "".join(f"{w}\n" for w in sorted(words)).encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        handle.write(body)


def read_packaged(path: Path) -> frozenset[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def packaged_path(name: str = PACKAGED) -> Path:
    return Path(str(resources.files("dreamcache") / "data" / name))


def load(packaged: Path, wordnet: Path) -> frozenset[str] | None:
    """The word list: the packaged file, else a WordNet database directory, else None (logged)."""
    if packaged.is_file():
        return read_packaged(packaged)
    system = from_wordnet(wordnet)
    if system:
        log.info("words: the packaged word list %s is missing; using WordNet from %s", packaged, wordnet)
        return system
    log.warning("words: no English word list (neither %s nor WordNet in %s): words split or joined "
                "differently are never taken for the same text (fewer hits, no wrong ones)", packaged, wordnet)
    return None


@lru_cache(maxsize=1)
def lexicon() -> frozenset[str] | None:
    """The service's word list (`load` of the packaged file and Debian's WordNet), read once."""
    return load(packaged_path(), WORDNET_DIR)


@lru_cache(maxsize=1)
def modifiers() -> frozenset[str]:
    """The describing words (`modifiers_from_wordnet`): the packaged list, else Debian's WordNet, else empty."""
    packaged = packaged_path(MODIFIERS)
    if packaged.is_file():
        return read_packaged(packaged)
    system = modifiers_from_wordnet(WORDNET_DIR)
    if not system:
        log.warning("words: no list of describing words (neither %s nor WordNet in %s): every changed content "
                    "word is taken for another subject (shallower reuse, never a deeper one)", packaged, WORDNET_DIR)
    return system


def is_word(word: str, words: frozenset[str]) -> bool:
    """Whether `word` (folded) is an English word of its own, or a plural or verb form of one."""
    if word in words:
        return True
    candidates = []
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("s"):
        candidates.append(word[:-1])
    if word.endswith("ing"):
        candidates += [word[:-3], word[:-3] + "e", word[:-4]]
    if word.endswith("ed"):
        candidates += [word[:-2], word[:-1], word[:-3]]
    return any(len(c) >= 2 and c in words for c in candidates)


def main(argv: list[str] | None = None) -> int:
    """`python -m dreamcache.words build [WORDNET_DIR]`: regenerate the packaged lists from a WordNet database."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "build":
        print("usage: python -m dreamcache.words build [WORDNET_DIR]", file=sys.stderr)
        return 2
    directory = Path(args[1]) if len(args) > 1 else WORDNET_DIR
    words = from_wordnet(directory)
    if not words:
        print(f"no WordNet database in {directory} (Debian: apt-get install wordnet-base)", file=sys.stderr)
        return 1
    for found, target in ((words, packaged_path()), (modifiers_from_wordnet(directory), packaged_path(MODIFIERS))):
        write_packaged(found, target)
        print(f"{len(found)} words from {directory} -> {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
