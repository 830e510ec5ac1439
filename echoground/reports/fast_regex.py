"""A drop-in for medspaCy's RegexMatcher that builds the Doc text once per Doc and skips hopeless patterns.

medspaCy 1.3.1's ``RegexMatcher.__call__`` reads ``doc.text_with_ws`` inside its loop over patterns. That
property joins every token again on each read, so with about 80 regular-expression rules the pipeline spent
most of its time rebuilding the same string. After that fix, scanning each text with every pattern took
about a third of the pipeline's time. A pattern is therefore skipped when the text contains none of the
literal strings that every match of it contains (see regex_literals.py). The matching logic is otherwise
the same: each regex match becomes a token span, widened to token boundaries (start to the left, end to
the right).
"""

from __future__ import annotations

from functools import cache

from medspacy.common.regex_matcher import RegexMatcher
from medspacy.common.util import get_token_for_char
from spacy.tokens import Doc

from echoground.reports.regex_literals import required_literals

# Private attribute names that hold the matchers in medspaCy 1.3.1 (double-underscore name mangling).
_MATCHER_ATTRIBUTES = {"TargetMatcher": "_TargetMatcher__matcher", "ConText": "_ConText__matcher"}
_REGEX_ATTRIBUTE = "_MedspacyMatcher__regex_matcher"
# Doc.user_data key under which the code that makes a Doc stores its text, because reading
# ``doc.text_with_ws`` joins every token again.
TEXT_KEY = "echoground.reports.text"


class SharedTextRegexMatcher(RegexMatcher):
    """RegexMatcher whose ``__call__`` reads the Doc text once, from ``doc.user_data[TEXT_KEY]`` if set."""

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        text = doc.user_data.get(TEXT_KEY)
        if text is None:
            text = doc.text_with_ws
        # The literal check is exact only for ASCII text: with re.IGNORECASE, "s" also matches "\u017f".
        present = None
        if text.isascii():
            lowered = text.lower()
            present = {literal for literal in _all_literals(self) if literal in lowered}
        matches = []
        for match_id, patterns in self._patterns.items():
            for pattern in patterns:
                literals = _literals_of(pattern)
                if present is not None and literals is not None and literals.isdisjoint(present):
                    continue
                on_match = self._callbacks[match_id]
                for found in pattern.finditer(text):
                    span = doc.char_span(found.start(), found.end())
                    if span is None:
                        start = get_token_for_char(doc, found.start(), resolve=self.resolve_start)
                        end = get_token_for_char(doc, found.end(), resolve=self.resolve_end)
                        span = doc[start.i : len(doc) if end is None else end.i]
                    if len(span):
                        matches.append((match_id, span.start, span.end))
                        if on_match is not None:
                            on_match(self, doc, len(matches) - 1, matches)
        return matches


@cache
def _literals_of(pattern) -> frozenset[str] | None:
    return required_literals(pattern)


def _all_literals(matcher: RegexMatcher) -> frozenset[str]:
    # Cached on the matcher and rebuilt when rules are added, so each literal is searched once per text.
    count = sum(len(patterns) for patterns in matcher._patterns.values())
    cached = getattr(matcher, "_echoground_literals", None)
    if cached is None or cached[0] != count:
        literals = [_literals_of(p) for patterns in matcher._patterns.values() for p in patterns]
        cached = (count, frozenset().union(*(strings for strings in literals if strings is not None)))
        matcher._echoground_literals = cached
    return cached[1]


def share_text_across_patterns(component: object) -> None:
    """Switch the regex matcher inside a medspaCy TargetMatcher or ConText component to the shared-text one.

    Raises:
        RuntimeError: when the component does not have the medspaCy 1.3.1 layout; pin medspaCy or update
            the attribute names above.
    """
    attribute = _MATCHER_ATTRIBUTES.get(type(component).__name__)
    matcher = getattr(component, attribute, None) if attribute else None
    regex_matcher = getattr(matcher, _REGEX_ATTRIBUTE, None)
    if not isinstance(regex_matcher, RegexMatcher):
        raise RuntimeError(
            f"{type(component).__name__} has no medspaCy 1.3.1 regex matcher at "
            f"{attribute}.{_REGEX_ATTRIBUTE}; "
            "this module supports medspaCy 1.3.1 only"
        )
    regex_matcher.__class__ = SharedTextRegexMatcher
