"""Find literal strings that every match of a regular expression contains, to skip patterns cheaply.

``required_literals(pattern)`` returns a set of lowercase ASCII strings of which every match contains at
least one, or None when no such set is found. A text (lowercased, ASCII) that contains none of them cannot
match, so the pattern need not be run on it. The analysis reads the parse tree of CPython's ``re`` module
(``re._parser``, Python 3.11 and later). Where that module is missing, it returns None, and the caller
runs the pattern as usual. Operators it does not know add no literals.
"""

from __future__ import annotations

import re

try:
    from re import _constants as _ops
    from re import _parser
except ImportError:  # Python before 3.11 names these modules sre_parse and sre_constants.
    _parser = None
    _ops = None

# Strings shorter than this are not used as the required literal of a sequence when a longer one is
# available, because short strings occur in most texts and skip nothing.
_USEFUL_LENGTH = 3


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Return lowercase strings one of which every match of ``pattern`` contains, or None if unknown."""
    if _parser is None or not isinstance(pattern.pattern, str):
        return None
    try:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except re.error:
        return None
    return _sequence_literals(list(parsed))


def _sequence_literals(items: list[tuple]) -> frozenset[str] | None:
    # Every mandatory item of a sequence is part of every match, so the literals of any one of them will
    # do. The most selective candidate is returned: longest shortest string, then fewest strings.
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, argument in items:
        if op is _ops.LITERAL and argument < 128:
            run.append(chr(argument).lower())
            continue
        if run:
            candidates.append(frozenset(["".join(run)]))
            run = []
        item = _item_literals(op, argument)
        if item is not None:
            candidates.append(item)
    if run:
        candidates.append(frozenset(["".join(run)]))
    candidates = [candidate for candidate in candidates if candidate and all(candidate)]
    if not candidates:
        return None
    return max(candidates, key=lambda strings: (min(min(map(len, strings)), _USEFUL_LENGTH), -len(strings)))


def _item_literals(op, argument) -> frozenset[str] | None:
    if op is _ops.SUBPATTERN:
        return _sequence_literals(list(argument[-1]))
    if op is _ops.BRANCH:
        union: set[str] = set()
        for alternative in argument[1]:
            literals = _sequence_literals(list(alternative))
            if literals is None:
                return None
            union |= literals
        return frozenset(union)
    if op in (_ops.MAX_REPEAT, _ops.MIN_REPEAT, _ops.POSSESSIVE_REPEAT):
        minimum, _, body = argument
        return _sequence_literals(list(body)) if minimum >= 1 else None
    if op is _ops.ATOMIC_GROUP:
        return _sequence_literals(list(argument))
    return None
