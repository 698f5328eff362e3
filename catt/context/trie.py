"""Boosting (shallow fusion) of phrase lists: an Aho-Corasick trie over phrase token ids.

Search keeps one trie state per hypothesis and adds the score of :meth:`ContextTrie.step` to the
hypothesis score for every emitted token, then :meth:`ContextTrie.finalize` at the end.

Scoring, for a phrase list with bonus ``b = boost * weight`` per matched token:

- Every token that extends a partial match earns ``b`` at once (a *pending* bonus), so a phrase
  the model is unsure of survives the beam long enough to be completed.
- When a partial match fails, its pending bonus is taken back (the step score is negative). The
  failure transition of Aho-Corasick keeps the longest suffix that is still a phrase prefix, and
  with it the pending bonus of that suffix.
- Every occurrence of a phrase in the output is worth its full bonus ``b * len(phrase)``; once a
  phrase is complete its bonus is kept even if a longer phrase that extends it fails later.
  Overlapping phrases each earn their bonus (``noodle lamp`` inside ``the noodle lamp``).
- :meth:`finalize` takes back the pending bonus of an unfinished match at the end of a hypothesis.
- With ``back_to_back=False``, a match that starts right where a phrase ended (no token between,
  tags aside) earns nothing until the state falls back to the root. Decoding's boosting trie is
  so: with a list pointer, a strong boost otherwise made the search write a name again and again
  (``philip anderson philip anderson philip``), each repetition worth the full bonus anew.

So after ``finalize`` the total bonus of a token sequence is exactly the sum, over phrase
occurrences in it (those that do not start back to back, without ``back_to_back``), of the
phrase bonus.

Tags: token ids given as ``transparent_ids`` (the intent and slot tags) leave the state as it is
and score 0, so a phrase is boosted whether or not the model wraps it in slot tags, and a tag in
the middle of a phrase neither resets nor breaks the match.

>>> trie = ContextTrie([[5, 6, 7], [6, 8]], boost=1.0)
>>> s, total = trie.root, 0.0
>>> for tok in [5, 6, 8]:  # 5 6 starts phrase 0, 8 fails it; 6 8 is phrase 1
...     score, s, matched = trie.step(s, tok)
...     total += score
>>> matched, total + trie.finalize(s)
(1, 2.0)
"""

from __future__ import annotations

import collections
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ["ContextTrie", "State"]

State = int
"""A trie state: the index of a node (the root is 0), plus the number of nodes for a match that
started back to back with a phrase (``back_to_back=False``). Plain ints, cheap to copy and
compare."""


class ContextTrie:
    """Aho-Corasick trie over phrase token ids with a pure step API.

    Args:
        phrases: the token ids of each phrase (empty phrases are ignored).
        boost: bonus per matched token (log-probability units); 0 gives a trie that never scores.
        weights: a weight per phrase (default 1.0); the bonus of a phrase token is
            ``boost * weight``. Phrases sharing a prefix share its nodes; a shared node's pending
            bonus uses the largest weight among them.
        transparent_ids: token ids that leave the state unchanged (tags).
        back_to_back: whether a match that starts right where a phrase ended earns its bonus.
    """

    def __init__(
        self,
        phrases: Sequence[Sequence[int]],
        *,
        boost: float,
        weights: Optional[Sequence[float]] = None,
        transparent_ids: Iterable[int] = (),
        back_to_back: bool = True,
    ) -> None:
        if not (math.isfinite(boost) and boost >= 0):
            raise ValueError(f"boost must be a finite number >= 0, got {boost}")
        if weights is not None and len(weights) != len(phrases):
            raise ValueError(f"{len(weights)} weights for {len(phrases)} phrases")
        self.boost = float(boost)
        self.num_phrases = len(phrases)
        self.phrases: Tuple[Tuple[int, ...], ...] = tuple(tuple(int(t) for t in p) for p in phrases)
        self.transparent_ids = frozenset(int(t) for t in transparent_ids)
        self.back_to_back = back_to_back
        self._children: List[Dict[int, int]] = [{}]
        self._depth: List[int] = [0]
        self._pending: List[float] = [0.0]  # bonus pending at the node (path minus completed)
        self._path: List[float] = [0.0]  # bonus of the tokens on the path from the root
        self._phrase: List[Optional[int]] = [None]  # phrase index ending at the node
        self._phrase_bonus: List[float] = [0.0]  # full bonus of that phrase
        self._fail: List[int] = [0]
        self._gain: List[float] = [0.0]  # bonus of every phrase ending at the node (suffixes too)
        self._match: List[Optional[int]] = [None]  # longest phrase ending at the node, if any
        # (phrase, its next token) for every phrase that goes on through the node
        self._through: List[List[Tuple[int, int]]] = [[]]
        for index, tokens in enumerate(phrases):
            weight = 1.0 if weights is None else float(weights[index])
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"phrase {index}: weight must be a positive number, got {weight}")
            self._insert(index, [int(t) for t in tokens], self.boost * weight)
        self._link()

    @property
    def root(self) -> State:
        """The start state (no partial match)."""
        return 0

    @property
    def num_nodes(self) -> int:
        return len(self._children)

    def _insert(self, index: int, tokens: List[int], bonus: float) -> None:
        if not tokens:
            return
        node = 0
        for token in tokens:
            self._through[node].append((index, token))
            child = self._children[node].get(token)
            if child is None:
                child = len(self._children)
                self._children[node][token] = child
                self._children.append({})
                self._depth.append(self._depth[node] + 1)
                self._path.append(self._path[node] + bonus)
                self._pending.append(0.0)
                self._phrase.append(None)
                self._phrase_bonus.append(0.0)
                self._fail.append(0)
                self._gain.append(0.0)
                self._match.append(None)
                self._through.append([])
            elif self._path[child] < self._path[node] + bonus:
                self._raise_path(child, self._path[node] + bonus - self._path[child])
            node = child
        full = bonus * len(tokens)
        if self._phrase[node] is None or self._phrase_bonus[node] < full:
            self._phrase[node], self._phrase_bonus[node] = index, full

    def _raise_path(self, node: int, delta: float) -> None:
        """Add ``delta`` to the path bonus of ``node`` and its whole subtree."""
        stack = [node]
        while stack:
            n = stack.pop()
            self._path[n] += delta
            stack.extend(self._children[n].values())

    def _link(self) -> None:
        """Breadth-first: failure links, completed-phrase floors, per-node gains and matches."""
        floor = [0.0] * self.num_nodes
        queue = collections.deque(self._children[0].values())
        while queue:
            node = queue.popleft()
            fail = self._fail[node]
            ends_here = self._phrase[node] is not None
            self._gain[node] = self._gain[fail] + (self._phrase_bonus[node] if ends_here else 0.0)
            self._match[node] = self._phrase[node] if ends_here else self._match[fail]
            if ends_here:
                floor[node] = self._path[node]
            self._pending[node] = self._path[node] - floor[node]
            for token, child in self._children[node].items():
                floor[child] = floor[node]
                self._fail[child] = self._goto(fail, token) if node != 0 else 0
                queue.append(child)

    def _goto(self, state: State, token: int) -> State:
        """The Aho-Corasick transition: follow failure links until ``token`` extends a prefix."""
        while True:
            child = self._children[state].get(token)
            if child is not None:
                return child
            if state == 0:
                return 0
            state = self._fail[state]

    def _node(self, state: State) -> int:
        """The trie node of a state (a match started back to back is flagged above the nodes)."""
        return state % len(self._children)

    def _unscored(self, state: State) -> bool:
        """True for a match that started back to back without ``back_to_back``: it earns 0."""
        return state >= len(self._children)

    def step(self, state: State, token: int) -> Tuple[float, State, Optional[int]]:
        """Advance by one emitted token.

        Returns:
            ``(score, next_state, matched)``: the bonus to add to the hypothesis score (negative
            when a partial match fails), the new state, and the index of the longest phrase that
            ends with this token (None when no phrase ends here).

        >>> trie = ContextTrie([[5, 6]], boost=1.0, back_to_back=False)
        >>> [trie.score_sequence(seq) for seq in ([5, 6], [5, 6, 5, 6], [5, 6, 9, 5, 6])]
        [2.0, 2.0, 4.0]
        """
        if token in self.transparent_ids:
            return 0.0, state, None
        node, flagged = self._node(state), self._unscored(state)
        nxt = self._goto(node, token)
        if flagged:  # an unscored match stays so until it falls back to the root
            unscored = nxt != 0
        else:  # a match that starts here, right where a phrase ended
            unscored = not self.back_to_back and (
                self._depth[nxt] == 1 and self._match[node] is not None
            )
        before = 0.0 if flagged else self._pending[node]
        if unscored:
            return -before, nxt + len(self._children), self._match[nxt]
        return self._pending[nxt] - before + self._gain[nxt], nxt, self._match[nxt]

    def next_scores(self, state: State) -> Tuple[float, Dict[int, float]]:
        """The step scores of every token from ``state``, for search over a whole vocabulary.

        Returns:
            ``(default, scores)``: ``scores[token]`` for the tokens that continue a match (or are
            transparent); every other token scores ``default`` (it takes the pending bonus back).
        """
        scores: Dict[int, float] = {t: 0.0 for t in self.transparent_ids}
        node = self._node(state)
        while True:
            for token in self._children[node]:
                if token not in scores:
                    scores[token] = self.step(state, token)[0]
            if node == 0:
                break
            node = self._fail[node]
        return -self.pending(state), scores

    def next_tokens(self, state: State) -> List[int]:
        """The tokens a phrase of the list can go on with from ``state``: those that extend its
        partial match or a shorter suffix of it, and the first token of every phrase (sorted).

        >>> ContextTrie([[5, 6, 7], [6, 8]], boost=0.0).next_tokens(1)  # after 5
        [5, 6]
        """
        tokens = set()
        node = self._node(state)
        while True:
            tokens.update(self._children[node])
            if node == 0:
                return sorted(tokens)
            node = self._fail[node]

    def phrase_next(self, state: State) -> List[int]:
        """The token with which each phrase goes on from ``state``: the next token after the
        longest suffix of the match that is a prefix of the phrase (its first token when there is
        none, or when the phrase is complete), for every phrase in list order (-1 for an empty
        phrase). Each is one of :meth:`next_tokens`, which also holds the tokens with which a
        shorter match of the same phrase would go on (``1 1`` of ``1 1 2``: 2 here, 1 and 2 there).

        >>> ContextTrie([[5, 6, 7], [6, 8], [9]], boost=0.0).phrase_next(1)  # after 5
        [6, 6, 9]
        """
        out = [p[0] if p else -1 for p in self.phrases]
        for index, token in self.phrase_continuations(state).items():
            out[index] = token
        return out

    def phrase_continuations(self, state: State) -> Dict[int, int]:
        """The phrases that a match in ``state`` (or a shorter suffix of it) has started, with
        the token each goes on with: the part of :meth:`phrase_next` that is not a first token.

        >>> ContextTrie([[5, 6, 7], [6, 8], [9]], boost=0.0).phrase_continuations(1)
        {0: 6}
        """
        out: Dict[int, int] = {}
        node = self._node(state)
        while node != 0:
            for index, token in self._through[node]:
                out.setdefault(index, token)
            node = self._fail[node]
        return out

    def finalize(self, state: State) -> float:
        """The score that ends a hypothesis in ``state``: minus the pending bonus."""
        return -self.pending(state)

    def pending(self, state: State) -> float:
        """The bonus already given to the unfinished match of ``state``."""
        return 0.0 if self._unscored(state) else self._pending[state]

    def score_sequence(self, tokens: Iterable[int]) -> float:
        """Total bonus of a complete token sequence (steps plus finalize)."""
        state, total = self.root, 0.0
        for token in tokens:
            score, state, _ = self.step(state, token)
            total += score
        return total + self.finalize(state)
