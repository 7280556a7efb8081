"""The hit decision beyond cosine: a text verifier that vetoes a candidate whose picture would differ.

MiniLM cosine measures shared wording: "a dog chasing a cat" and "a cat chasing a dog" score about
0.97, and "a red fox" vs "a brown fox" barely moves it. So a retrieved candidate is a hit when it
is the request retyped (`same_tags`, whatever the cosine), or when `verify` says its picture
satisfies the request and the cosine reaches the threshold:

- **same text** (`canonical`): equal up to case, punctuation, spacing (words split or joined
  differently are one text: `4 k` = `4k`, `gta v` = `gtav`, unless the joined form is an English word
  of its own: `a green house` is not `a greenhouse`, see `words`), the articles "a", "an", "the" and
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

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from dreamcache import words
from dreamcache.prompts import (
    IGNORED,
    canonical,
    clean,
    fold,
    normalize,
    split_tags,
    stripped,
    tags,
)

#: Tokens dropped before comparing: articles, the neutral possessive "its" and, after stemming, the copula
#: ("a dog is sitting" == "a dog sitting"). Everything else, negations and counts included, is content.
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


def _has_vowel(text: str) -> bool:
    return any(ch in _VOWELS for ch in text)


def _undouble(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


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


def stem(word: str) -> str:
    """The word's stem: every form of one word maps to it (see `analyse` for the form)."""
    return analyse(word)[0]


Token = tuple[str, str]  # (stem, form)


def alike(a: Token, b: Token) -> bool:
    """Same stem, and not a bare word against its `-s` form (a changed count is another picture)."""
    return a[0] == b[0] and {a[1], b[1]} != {BARE, PLURAL}


def _same_sequence(a: Sequence[Token], b: Sequence[Token]) -> bool:
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))


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


@lru_cache(maxsize=16384)
def tokens(prompt: str) -> tuple[tuple[Token, ...], ...]:
    """Per comma-separated tag, the sequence of (stem, form) content tokens (tags left empty are dropped)."""
    out = []
    for piece in split_tags(prompt):
        analysed = (analyse(w) for w in fold(piece).split() if w not in IGNORED)
        tag = tuple(token for token in analysed if token[0] not in IGNORED_STEMS)
        if tag:
            out.append(tag)
    return tuple(out)


def content(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    return tuple(tuple(token[0] for token in tag) for tag in tokens(prompt))


def _tag_words(prompt: str) -> list[tuple[str, ...]]:
    """Per comma-separated tag, its folded words without articles, ordered by their joined text."""
    parts = (tuple(w for w in fold(piece).split() if w not in IGNORED) for piece in split_tags(prompt))
    return sorted((part for part in parts if part), key=lambda part: ("".join(part), part))


def _split_words(own: Sequence[str], other: Sequence[str]) -> list[str]:
    """The words of `own` that `other` (the same letters) splits into several pieces."""
    cuts, at = set(), 0
    for word in other:
        at += len(word)
        cuts.add(at)
    split, start = [], 0
    for word in own:
        end = start + len(word)
        if any(start < cut < end for cut in cuts):
            split.append(word)
        start = end
    return split


def refused_joins(query: str, candidate: str) -> list[str]:
    """For two prompts with the same `canonical` text: the joined words that are words of their own
    (`greenhouse` against `green house`); every joined word when no word list is available (the safe side)."""
    lexicon = words.lexicon()
    refused: list[str] = []
    for a, b in zip(_tag_words(query), _tag_words(candidate), strict=False):
        if a != b:
            joined = _split_words(a, b) + _split_words(b, a)
            refused += [w for w in joined if lexicon is None or words.is_word(w, lexicon)]
    return refused


def joins_are_typing_variants(query: str, candidate: str) -> bool:
    """For two prompts with the same `canonical` text: whether every word one joins and the other splits is
    a typing variant (`4k` / `4 k`, `artstation` / `art station`), not a word of its own (`greenhouse`)."""
    return not refused_joins(query, candidate)


def _surface(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in fold(prompt).split():
        out.setdefault(stem(word), word)
    return out


def _joined_tags(prompt: str) -> list[str]:
    return sorted(t for t in (stripped(p) for p in split_tags(prompt)) if t)


def same_words_reordered(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


SAME_TEXT = "same text"  # the reason `decide` gives for a candidate that is the request re-typed
EMPTY_TEXT = "nothing left after normalisation: only the same raw text matches"


def same_tags(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing, articles and the order of whole tags.

    A prompt that normalises to nothing (only emoji, symbols or punctuation) is only the same text
    as exactly itself (whitespace aside): "🔥🔥" is not "💀".
    """
    cq, cc = canonical(query), canonical(candidate)
    if not cq or not cc:
        return not cq and not cc and clean(query) == clean(candidate)
    if normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    if cq == cc and joins_are_typing_variants(query, candidate):
        return True
    return stripped(query) == stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


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


def verify(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, candidate) is None


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


def accept(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, threshold)[0]


# --- what kind of edit separates two prompts (near-miss reuse depth) -----------------------------
#
# `edit_class` names the kind of change between a request and a neighbour it might resume from, on the
# same token analysis as the verifier. The early denoising steps fix the layout (prompt-to-prompt: the
# cross-attention maps of the first steps decide where each word goes; SDEdit: what survives a high
# noise level is the coarse layout, colours only at lower noise), so `decision.reuse_depth_limit`
# lets an edit that keeps the layout resume deep and one that changes it resume shallow or not at all.

EDIT_NONE = "none"  # the verifier finds no difference (retyped, or a verified rewording)
EDIT_STYLE = "style"  # only style, medium, artist, quality or camera words differ
EDIT_COLOUR = "colour"  # a colour word changed (and perhaps style words)
EDIT_ATTRIBUTE = "attribute"  # only describing words (and perhaps colours): "a cat" / "a fluffy old cat" is
# still a cat; WordNet's dominant sense decides what describes (`words.modifiers`)
EDIT_COUNT = "count"  # a number, a number word, or singular against plural
EDIT_ORDER = "order"  # the same words in another order: swapped roles or attributes
EDIT_SUBJECT = "subject"  # another content word: a different subject, object, action or scene
EDIT_CLASSES = (EDIT_NONE, EDIT_STYLE, EDIT_COLOUR, EDIT_ATTRIBUTE, EDIT_COUNT, EDIT_ORDER, EDIT_SUBJECT)
LAYOUT_EDITS = frozenset({EDIT_COUNT, EDIT_ORDER, EDIT_SUBJECT})

def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that change how a picture is rendered, not what is in it (stems via `stem`, matched on either form).
STYLE_WORDS = _word_set("""
4k 8k 16k 32k hd uhd hdr fullhd highres resolution quality masterpiece best detailed detail details intricate
highly hyperdetailed ultra hyper realistic photorealistic hyperrealistic realism photorealism sharp focus
smooth beautiful stunning gorgeous elegant epic award winning cinematic dramatic lighting light lights lit
volumetric rim ambient glow glowing soft moody atmospheric octane render rendered rendering unreal engine
redshift vray blender cycles raytracing ray traced trending artstation cgsociety deviantart pixiv behance
instagram featured concept art artwork artstyle style styled illustration illustrated digital painting
painted paint oil watercolor watercolour acrylic gouache tempera pastel sketch sketched drawing drawn pencil
charcoal ink inked lineart linework comic manga anime cartoon cel shaded shading toon pixar disney ghibli
dreamworks 2d 3d cgi isometric lowpoly poly pixel pixelart vector flat minimalist minimalism abstract
surreal surrealism surrealist impressionism impressionist expressionism expressionist cubism cubist baroque
renaissance rococo romanticism nouveau deco bauhaus vaporwave synthwave retrowave outrun lofi retro vintage
psychedelic noir gothic photo photograph photography photographic photoshoot portrait headshot closeup
close shot wide angle lens telephoto macro fisheye bokeh dof depth field aperture exposure iso dslr mirrorless
canon nikon sony leica hasselblad fujifilm kodak polaroid portra film grain analog 35mm 50mm 85mm 24mm 70mm
200mm f1 f2 mm studio professional hq trending masterpiece colorful colourful vibrant saturated desaturated
muted monochrome sepia greg rutkowski alphonse mucha artgerm wlop loish rossdraws sakimichan kuvshinov ilya
mohrbacher beeple stalenhag shinkai makoto miyazaki hayao moebius giraud giger beksinski dali salvador
gogh van monet picasso rembrandt caravaggio klimt rockwell frazetta vallejo warhol lichtenstein hopper
sargent bouguereau mullins gurney kinkade aivazovsky bierstadt burton anderson miura ito mignola bowater
bagshaw mumford cushart krenz villeneuve magali leyendecker ruan jia tran ross jiaming
""")
#: Connectors that only join style words ("trending *on* artstation", "*in the style of* ...") when next to one.
_STYLE_CONNECTORS = frozenset({"on", "in", "of", "and", "with", "by", "at", "from", "style", "art", "x"})
#: Verbs in `-ed` form whose "by" names an artist ("painted by"), not an agent ("chased by a dog").
_ART_VERBS = frozenset({"paint", "draw", "illustrat", "render", "inspir", "mak", "creat", "photograph",
                        "sculpt", "design", "direct", "shot", "drawn", "made", "art", "artwork", "styl"})
_NOT_NAMES = frozenset({"a", "an", "the", "his", "her", "their", "my", "our", "your", "its", "itself",
                        "himself", "herself", "night", "day", "moonlight", "candlelight", "sunlight"})
COLOUR_WORDS = _word_set("""
red blue green yellow orange purple violet pink black white grey gray brown gold golden silver cyan magenta
teal turquoise crimson scarlet azure beige blonde blond maroon navy indigo lavender emerald ruby amber ivory
bronze copper redhead brunette ginger rainbow colored coloured
""")
NUMBER_WORDS = _word_set("""
one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million dozen
single pair couple twin twins triple double multiple several many few both solo lone group crowd
""")
_STYLE_STEMS = frozenset(stem(word) for word in STYLE_WORDS) | STYLE_WORDS
_COLOUR_STEMS = frozenset(stem(word) for word in COLOUR_WORDS) | COLOUR_WORDS
_NUMBER_STEMS = frozenset(stem(word) for word in NUMBER_WORDS) | NUMBER_WORDS


def _style_mask(words: Sequence[str]) -> list[bool]:
    """Which words of one folded tag are style: vocabulary, an artist credit ("by X", "style of X") to the end
    of the tag, and connectors next to a style word."""
    mask = [w in _STYLE_STEMS or stem(w) in _STYLE_STEMS for w in words]
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        credit = w == "by" and nxt and nxt not in _NOT_NAMES
        if credit and i > 0:  # "chased by X" is an agent, "painted by X" an artist
            before, form = analyse(words[i - 1])
            credit = form != ED or before in _ART_VERBS or words[i - 1] in _ART_VERBS
        if credit or (w == "style" and nxt == "of"):
            art_verb = i > 0 and (words[i - 1] in _ART_VERBS or analyse(words[i - 1])[0] in _ART_VERBS)
            for j in range(i - 1 if w == "by" and art_verb else i, len(words)):  # "designed by X": all style
                mask[j] = True
            break
    for i, w in enumerate(words):
        if w in _STYLE_CONNECTORS and not mask[i]:
            left = i > 0 and mask[i - 1]
            right = i + 1 < len(words) and mask[i + 1]
            mask[i] = left or right
    return mask


@lru_cache(maxsize=16384)
def _layout_words(prompt: str) -> tuple[tuple[tuple[str, Token], ...], ...]:
    """Per tag, the words that are not style, each with its token (tags left empty are dropped)."""
    out = []
    for piece in split_tags(prompt):
        folded = [w for w in fold(piece).split() if w not in IGNORED]
        kept = ((w, analyse(w)) for w, style in zip(folded, _style_mask(folded), strict=True) if not style)
        tag = tuple((w, token) for w, token in kept if token[0] not in IGNORED_STEMS)
        if tag:
            out.append(tag)
    return tuple(out)


def layout_tokens(prompt: str) -> tuple[tuple[Token, ...], ...]:
    """`tokens` without the style words: per tag, what the picture shows (tags left empty are dropped)."""
    return tuple(tuple(token for _, token in tag) for tag in _layout_words(prompt))


def _describes(changed: set[str], *prompts: str) -> bool:
    """Whether every changed stem is written, in these prompts, only as describing words or colours."""
    describing = words.modifiers()
    written: dict[str, set[str]] = {}
    for prompt in prompts:
        for tag in _layout_words(prompt):
            for word, token in tag:
                if token[0] in changed:
                    written.setdefault(token[0], set()).add(word)
    return all(stem_ in written and all(w in describing or w in COLOUR_WORDS for w in written[stem_])
               for stem_ in changed)


def _is_number(token_stem: str) -> bool:
    return token_stem.isdigit() or token_stem in _NUMBER_STEMS


def edit_class(query: str, candidate: str) -> str:
    """The kind of edit that turns `candidate` into `query` (one of `EDIT_CLASSES`), the most layout-changing
    one when there are several: count > order > subject > attribute > colour > style > none."""
    if verify(query, candidate):
        return EDIT_NONE
    q, c = layout_tokens(query), layout_tokens(candidate)
    if _same_tag_multiset(q, c):
        return EDIT_STYLE
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if _same_sequence(flat_q, flat_c):
        return EDIT_STYLE
    stems_q, stems_c = [t[0] for t in flat_q], [t[0] for t in flat_c]
    if stems_q == stems_c:
        return EDIT_COUNT  # the same words, one singular against plural
    only_q, only_c = Counter(stems_q) - Counter(stems_c), Counter(stems_c) - Counter(stems_q)
    changed = set(only_q) | set(only_c)
    if any(_is_number(s) for s in changed):
        return EDIT_COUNT
    plural_q = {t[0] for t in flat_q if t[1] == PLURAL}
    plural_c = {t[0] for t in flat_c if t[1] == PLURAL}
    if (plural_q ^ plural_c) & (set(stems_q) & set(stems_c)) - changed:
        return EDIT_COUNT  # a word both keep went from singular to plural (or back)
    if not changed:
        return EDIT_ORDER
    if changed <= _COLOUR_STEMS:
        return EDIT_COLOUR
    if _describes(changed, query, candidate):
        return EDIT_ATTRIBUTE
    return EDIT_SUBJECT
