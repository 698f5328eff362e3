"""List resolution: a slot value the search heard, replaced by the list phrase the audio supports.

The transducer search writes a contact or device slot such as ``<contact> cathy </contact>``
even when it cannot spell the name it heard. Resolution takes each such slot of the best
hypothesis, puts every phrase of the list in its place, and scores each whole token sequence with
the model's CTC head: the log-likelihood of the audio given the tokens, plus ``bonus`` per token.
The best phrase becomes the slot's value: a contact or device slot holds a name from the user's
list, so the search's own value is not a candidate. A phrase with a slot type (a contact, a
device name) goes in between its own type's tags, so the slot takes the type of the phrase the
audio supports: ``call <contact> lady sunny </contact>`` with the device lady sunny on the list
becomes ``<device> lady sunny </device>``, never a contact that sounds less like it.

The search sometimes writes half a slot: ``giveh </contact> a call`` (no opening tag),
``<device> banana`` (no closing tag) or ``<device> capitaine </contact>`` (tags that disagree).
Resolution tries the missing boundary at each of the ``max_words`` word boundaries before a lone
closing tag or after a lone opening tag (never across another tag), and both slot types where
the type is in doubt; the CTC head chooses the boundary and the type with the phrase.

Only the slot changes, so the words around it (U-WER) stay as the search wrote them, except the
few a half slot's new boundary takes in. The CTC head has no language model, so it judges the
name by its sound alone. It is the same idea as CTC keyword spotting against a phrase list,
applied where the model put a slot.

CTC prefers short sequences, so each candidate earns a length bonus: ``bonus`` per token and
``char_bonus`` per character its tokens spell (a word's start counts as one,
``SlotTokens.length_bonus``). Counted in tokens alone, a name's length is the tokenizer's cut,
not its sound: a bonus per token overpays a name cut into many pieces (``aidan anderson``, 7
pieces, won over ``allan anderson``, 6, with the same 15 characters) and underpays a long name
of few common pieces (``kaylee`` alone won over ``kaylee meier``). Characters follow the sound
more closely. The pair was chosen on the dev split (docs/results.md).

The CTC head learned its spellings from training, so a name the user spells another way than
training did (``danièle`` where training said ``danielle``, ``meier`` for ``myer``) holds a token
the head gives almost no probability at any frame, and that one token can cost the right phrase
more than a wrong name costs whole. So the transcriber floors the head's frame distributions
before resolving (``DecodingOptions.resolve_floor``, :func:`floor_log_probs`): mixed with the
uniform distribution, no token costs more than ``log(floor / V)`` at a frame, and a phrase pays
for a spelling the head did not expect about as much as for a sound it did not hear.

What the head heard with no list weighs in too (``heard``, ``DecodingOptions.resolve_heard``):
its best path (each frame's likeliest token, repeats merged, blanks dropped) spells what it
heard, and each candidate loses ``resolve_heard`` per character edit between its words and
those. The CTC score charges a spelling the head did not expect at every frame of it: for
``send a message to carl anderson``, which the head hears as ``karl andersen``, the ``c``
costs ``carl anderson`` more than ``kathy anderson`` loses on ``thy``, and a list of 1,000
that holds ``kathy anderson`` gets the name wrong. Counted in edits, ``carl`` is one from
``karl`` and ``kathy`` three. The term is the same whatever the list holds.

A model with a character head (:mod:`catt.model.char_head`) weighs in letter by letter
(:func:`char_head_scorer`, ``DecodingOptions.resolve_char_head``): its CTC score of each
candidate's words, plus a bonus per character, is added as the length bonus is; and what it
heard, its own best path, is what the edits are counted from (the BPE head hears a name in the
pieces training cut it into).

The transducer can weigh in too (``transducer_weight`` above 0, as joint CTC/attention decoding
weighs two heads): its log-likelihood of each of the CTC head's ``RESCORED`` best candidates,
summed over the alignments of its pruned lattice and computed with the list, its label history
and biasing, is mixed with the CTC score, ``(1 - w) * CTC + w * transducer``, the bonus per
token and per character added to both.

>>> # ids: 0 blank, 1 <contact>, 2 </contact>, 3 and 4 names, 5 a word; the frames say 1, 3, 2
>>> toks = SlotTokens(
...     pairs=((1, 2),), is_tag=[0, 1, 1, 0, 0, 0], starts_word=[0, 1, 1, 1, 1, 1], chars=[0] * 6
... )
>>> logp = torch.log_softmax(5 * torch.eye(6)[[1, 3, 2]], dim=-1)
>>> resolve_spans([1, 4, 2], logp, [[3], [4, 4]], toks, blank_id=0, bonus=0.0)
[1, 3, 2]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from rapidfuzz.distance import Levenshtein
from torch import Tensor

from catt.context.sampling import BIASED_SLOT_TYPES
from catt.text.tokenizer import Tokenizer

__all__ = [
    "MAX_WORDS",
    "best_path",
    "char_head_scorer",
    "heard_scorer",
    "RESCORED",
    "RESCORE_PRUNE_RANGE",
    "Rescorer",
    "SlotTokens",
    "ctc_scores",
    "floor_log_probs",
    "slot_regions",
    "resolve_spans",
    "summed",
]

MAX_WORDS = 4
"""How many words before a lone closing tag (after a lone opening tag) a slot may take in."""
RESCORED = 8
"""How many of the CTC head's best candidates the transducer rescores."""
RESCORE_PRUNE_RANGE = 5
"""Labels per frame of the transducer's lattice when rescoring, as in pruned training: 3.5x
faster than the whole lattice per slot, the same test figures (docs/results.md)."""

Rescorer = Callable[[List[List[int]]], Tensor]
"""Whole token sequences of one utterance -> [S] scores (log-likelihoods under the
transducer, or what :func:`heard_scorer` and :func:`char_head_scorer` add)."""
TOO_LONG = -1e4
"""The character head's score of a candidate with more characters than it has frames (its
CTC log-likelihood is -inf): low, yet finite, so that the BPE CTC head can still choose it."""

TagPair = Tuple[int, int]
Region = Tuple[int, int, Tuple[TagPair, ...]]
"""``(a, b, pairs)``: tokens ``[a, b)`` become ``<open> phrase </close>`` for one of ``pairs``."""


@dataclass(frozen=True)
class SlotTokens:
    """What resolution reads from the tokenizer, by token id."""

    pairs: Tuple[TagPair, ...]
    """(opening, closing) tag ids of the list slots."""
    is_tag: Sequence[bool]
    """An intent or slot tag."""
    starts_word: Sequence[bool]
    """A piece that begins a word (tags count as words)."""
    chars: Sequence[int]
    """The characters a piece spells, its word-start mark counted as one (0 for a tag)."""

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> SlotTokens:
        vocab = range(tokenizer.vocab_size)
        is_tag = [tokenizer.is_tag_id(i) for i in vocab]
        return cls(
            pairs=tuple(tokenizer.slot_tag_pairs(BIASED_SLOT_TYPES).items()),
            is_tag=is_tag,
            starts_word=[tokenizer.starts_word(i) for i in vocab],
            chars=[0 if tag else len(tokenizer.piece(i)) for i, tag in zip(vocab, is_tag)],
        )

    def length_bonus(
        self, sequences: Sequence[Sequence[int]], bonus: float, char_bonus: float
    ) -> Tensor:
        """[S] ``bonus`` per token plus ``char_bonus`` per character of each sequence.

        >>> toks = SlotTokens(pairs=(), is_tag=[1, 0, 0], starts_word=[1, 1, 0], chars=[0, 3, 2])
        >>> toks.length_bonus([[0, 1, 2], [1]], bonus=1.0, char_bonus=0.5)
        tensor([5.5000, 2.5000])
        """
        return torch.tensor(
            [bonus * len(s) + char_bonus * sum(self.chars[t] for t in s) for s in sequences]
        )


def ctc_scores(
    log_probs: Tensor,
    sequences: Sequence[Sequence[int]],
    *,
    blank_id: int,
    bonus: float,
    chunk_size: int = 256,
) -> Tensor:
    """CTC log-likelihood of each token sequence given one utterance, plus ``bonus`` per token.

    Args:
        log_probs: [T, V] CTC log-probabilities of the utterance's frames.
        sequences: S token-id lists (no blank).
        chunk_size: sequences scored together (bounds memory for long lists).

    Returns:
        [S] scores; -inf for a sequence too long for the frames.
    """
    out = []
    frames, device = log_probs.size(0), log_probs.device
    for start in range(0, len(sequences), chunk_size):
        chunk = sequences[start : start + chunk_size]
        lengths = torch.tensor([len(s) for s in chunk], dtype=torch.long)
        symbols = torch.zeros(len(chunk), max(1, int(lengths.max())), dtype=torch.long)
        for i, seq in enumerate(chunk):
            symbols[i, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        nll = torch.nn.functional.ctc_loss(
            log_probs.float().unsqueeze(1).expand(frames, len(chunk), -1),
            symbols.to(device),
            torch.full((len(chunk),), frames, dtype=torch.long),
            lengths,
            blank=blank_id,
            reduction="none",
            zero_infinity=False,
        )
        out.append(-nll + bonus * lengths.to(nll.device, nll.dtype))
    return torch.cat(out) if out else torch.zeros(0, device=device)


def best_path(log_probs: Tensor, blank_id: int) -> List[int]:
    """The CTC head's best path: each frame's likeliest token, repeats merged, blanks dropped.

    >>> lp = torch.log(torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1], [0.3, 0.7]]))
    >>> best_path(lp, blank_id=0)
    [1, 1]
    """
    ids = log_probs.argmax(dim=-1).tolist()
    return [t for k, t in enumerate(ids) if t != blank_id and (k == 0 or ids[k - 1] != t)]


def heard_scorer(heard: str, words: Callable[[Sequence[int]], str], weight: float) -> Rescorer:
    """Scores of whole token sequences: ``-weight`` per character edit between their words
    (``words`` of their ids) and ``heard``, the words of the CTC head's :func:`best_path`.

    >>> words = {(1,): "call karl", (2,): "call carl", (3,): "call kathy"}.__getitem__
    >>> heard_scorer("call karl", lambda ids: words(tuple(ids)), 2.0)([[1], [2], [3]])
    tensor([ 0., -2., -6.])
    """

    def score(sequences: List[List[int]]) -> Tensor:
        edits = [Levenshtein.distance(words(s), heard) for s in sequences]
        return 0.0 - weight * torch.tensor(edits, dtype=torch.float)  # 0, not -0, for none

    return score


def char_head_scorer(
    log_probs: Tensor,
    words: Callable[[Sequence[int]], str],
    encode_chars: Callable[[str], List[int]],
    *,
    weight: float,
    bonus: float,
) -> Rescorer:
    """Scores of whole token sequences by a character head: ``weight`` times its CTC
    log-likelihood of their words' characters (``encode_chars(words(ids))``, ids from 1) plus
    ``bonus`` per character, at least ``weight * TOO_LONG``.

    Args:
        log_probs: [T, C] the head's log-probabilities of one utterance (0: its blank).

    >>> lp = torch.log_softmax(5 * torch.eye(3)[[1, 0, 2]], dim=-1)  # the frames: a, blank, b
    >>> score = char_head_scorer(lp, "".join, lambda w: [" ab".index(c) for c in w], weight=0.5,
    ...                          bonus=1.0)
    >>> [round(x, 2) for x in score([["a", "b"], ["b", "a"], ["a", "a", "a", "a"]]).tolist()]
    [0.99, -4.01, -5000.0]
    """

    def score(sequences: List[List[int]]) -> Tensor:
        chars = [encode_chars(words(s)) for s in sequences]
        scores = ctc_scores(log_probs, chars, blank_id=0, bonus=bonus)
        return weight * scores.clamp(min=TOO_LONG)

    return score


def summed(*scorers: Optional[Rescorer]) -> Optional[Rescorer]:
    """One scorer giving the sum of ``scorers`` (None ones left out; None when all are)."""
    used = [s for s in scorers if s is not None]
    if len(used) < 2:
        return used[0] if used else None

    def score(sequences: List[List[int]]) -> Tensor:
        out = used[0](sequences)
        for scorer in used[1:]:
            out = out + scorer(sequences).to(out)
        return out

    return score


def floor_log_probs(log_probs: Tensor, floor: float) -> Tensor:
    """``log((1 - floor) * p + floor / V)`` for CTC log-probabilities ``log p`` [..., V]: each
    frame's distribution mixed with the uniform one, so no token costs more than
    ``log(floor / V)``. ``floor`` 0 returns ``log_probs`` itself.

    >>> lp = torch.log(torch.tensor([[0.5, 0.5, 0.0, 0.0]]))
    >>> floor_log_probs(lp, 0.04).exp()
    tensor([[0.4900, 0.4900, 0.0100, 0.0100]])
    """
    if floor == 0:
        return log_probs
    uniform = torch.full_like(log_probs, math.log(floor / log_probs.size(-1)))
    return torch.logaddexp(log_probs + math.log1p(-floor), uniform)


def _boundaries(tokens: Sequence[int], lo: int, hi: int, toks: SlotTokens) -> List[int]:
    """Word boundaries from ``lo`` to ``hi``, both included."""
    inner = [k for k in range(lo + 1, hi) if toks.starts_word[tokens[k]]]
    return ([lo] if lo < hi else []) + inner + [hi]


def slot_regions(
    tokens: Sequence[int], toks: SlotTokens, max_words: int = MAX_WORDS
) -> List[List[Region]]:
    """The list slots of a hypothesis, in order; for each, the regions it may cover.

    A whole slot has one region and keeps its type. A slot whose tags disagree has one region
    and either type. A lone opening tag may end after 0 to ``max_words`` words, a lone closing
    tag may start 0 to ``max_words`` words before it; neither crosses another tag.

    >>> tags = [0, 1, 1, 1] + [0] * 4
    >>> toks = SlotTokens(pairs=((1, 2),), is_tag=tags, starts_word=[1] * 8, chars=[1] * 8)
    >>> slot_regions([3, 5, 1, 6, 2, 7], toks)  # 3: the intent tag
    [[(2, 5, ((1, 2),))]]
    >>> slot_regions([3, 5, 6, 2, 7], toks, max_words=1)  # the opening tag is missing
    [[(2, 4, ((1, 2),)), (3, 4, ((1, 2),))]]
    """
    opening = dict(toks.pairs)
    closing = {b: a for a, b in toks.pairs}
    tags = [k for k, x in enumerate(tokens) if toks.is_tag[x]]
    regions: List[List[Region]] = []
    n = 0
    while n < len(tags):
        k = tags[n]
        nxt = tags[n + 1] if n + 1 < len(tags) else None
        if tokens[k] in opening:
            if nxt is not None and tokens[nxt] in closing:
                whole = tokens[nxt] == opening[tokens[k]]
                pairs = ((tokens[k], tokens[nxt]),) if whole else toks.pairs
                regions.append([(k, nxt + 1, pairs)])
                n += 1  # the closing tag is used
            else:
                hi = len(tokens) if nxt is None else nxt
                ends = _boundaries(tokens, k + 1, hi, toks)[: max_words + 1]
                regions.append([(k, e, toks.pairs) for e in ends])
        elif tokens[k] in closing:
            lo = tags[n - 1] + 1 if n else 0
            starts = _boundaries(tokens, lo, k, toks)[-(max_words + 1) :]
            regions.append([(a, k + 1, toks.pairs) for a in starts])
        n += 1
    return regions


def resolve_spans(
    tokens: Sequence[int],
    log_probs: Tensor,
    phrases: Sequence[Sequence[int]],
    toks: SlotTokens,
    *,
    blank_id: int,
    bonus: float,
    char_bonus: float = 0.0,
    openings: Optional[Sequence[Optional[int]]] = None,
    rescore: Optional[Rescorer] = None,
    transducer_weight: float = 0.0,
    max_words: int = MAX_WORDS,
    memo: Optional[Dict[Any, Tensor]] = None,
    heard: Optional[Rescorer] = None,
) -> List[int]:
    """The hypothesis ``tokens`` with each list slot's value replaced by the best-scoring phrase.

    Args:
        tokens: the search's best hypothesis (token ids, tags included).
        log_probs: [T, V] CTC log-probabilities of its utterance (valid frames only).
        phrases: the list, as token ids.
        toks: the tokenizer's tag and word-start ids.
        bonus, char_bonus: score per token and per character (see the module docstring).
        openings: for each phrase, the opening tag id of its slot type, whose tags it goes in
            between whatever the slot's type (None: any type, the slot's own); None: no phrase
            has a type.
        rescore: the transducer's log-likelihood of whole sequences of this utterance.
        transducer_weight: its weight against the CTC head's, in [0, 1] (0: the CTC head alone).
        max_words: how far a half slot's missing boundary is looked for (:func:`slot_regions`).
        memo: scores kept from earlier calls on the same utterance, list and bonuses (another
            ``transducer_weight``): a slot whose candidates were scored already is not scored
            again, so resolving under several weights costs little more than under one.
        heard: whole token sequences -> [S] scores added to both heads' (as the length bonus
            is): the agreement of each with what the CTC head heard (see the module docstring).

    Returns:
        The resolved token ids (``tokens`` itself when there is no list slot, no list, or no
        phrase fits in the frames).
    """
    out = list(tokens)
    if not phrases:
        return out
    memo = {} if memo is None else memo
    regions = slot_regions(out, toks, max_words)
    closing = dict(toks.pairs)
    own = [
        ((o, closing[o]),) if o in closing else None
        for o in (openings if openings is not None else [None] * len(phrases))
    ]
    for n in reversed(range(len(regions))):
        candidates = [
            out[:a] + [o, *p, c] + out[b:]
            for a, b, pairs in regions[n]
            for p, typed in zip(phrases, own)
            for o, c in typed or pairs
        ]
        # The candidates follow from the tokens so far and the slot: the key of their scores.
        key = (tuple(out), n)
        if key not in memo:
            # What both heads' scores get: the length bonus, and the agreement with the heard.
            added = toks.length_bonus(candidates, bonus, char_bonus).to(log_probs.device)
            if heard is not None:
                added = added + heard(candidates).to(added)
            ctc = ctc_scores(log_probs, candidates, blank_id=blank_id, bonus=0.0)
            memo[key], memo["added", key] = ctc + added, added
        scores = memo[key]
        if rescore is not None and transducer_weight > 0:
            if ("transducer", key) not in memo:
                added = memo["added", key]
                memo["transducer", key] = _transducer_scores(scores, candidates, rescore, added)
            scores = _mixed(scores, memo["transducer", key], transducer_weight)
        best = int(torch.argmax(scores))
        if torch.isfinite(scores[best]):
            out = candidates[best]
    return out


def _transducer_scores(
    scores: Tensor, candidates: List[List[int]], rescore: Rescorer, added: Tensor
) -> Tensor:
    """The transducer's score (plus what each candidate's CTC score got, ``added``: the length
    bonus and the agreement with the heard) of the ``RESCORED`` candidates best by ``scores``
    (the CTC head's), -inf for the others."""
    top = torch.topk(scores, min(RESCORED, scores.numel())).indices
    top = top[torch.isfinite(scores[top])]
    out = torch.full_like(scores, -math.inf)
    if top.numel() == 0:
        return out
    chosen = [candidates[j] for j in top.tolist()]
    out[top] = rescore(chosen).to(scores) + added[top].to(scores)
    return out


def _mixed(ctc: Tensor, transducer: Tensor, weight: float) -> Tensor:
    """``(1 - weight) * ctc + weight * transducer`` where the transducer scored, -inf elsewhere."""
    scored = torch.isfinite(transducer)
    out = torch.full_like(ctc, -math.inf)
    out[scored] = (1 - weight) * ctc[scored] + weight * transducer[scored]
    return out
