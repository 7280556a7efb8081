"""Prompt autocomplete: an in-memory suggestion index answering every keystroke without a model.

`engine.py` holds the index (typo matching, ranking), `classes.py` its prefix and word classes (and the best
of a big one without building it), `groups.py` its near-duplicate
groups (retyped forms and spelling slips, shown once), `words.py` the vocabulary and its one-typo
variants, `semantic.py` the neighbours computed in the background. What the rest of the service
calls: `SuggestionIndex` (`load`, `add`, `remove`, `record_hit`, `suggest`, `close`) and `Suggestion`.
"""

from dreamcache.suggest.engine import HALF_LIFE_S, Suggestion, SuggestionIndex, suggestible

__all__ = ["HALF_LIFE_S", "Suggestion", "SuggestionIndex", "suggestible"]
