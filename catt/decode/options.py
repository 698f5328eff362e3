"""Decoding settings, validated once, overridden with :func:`dataclasses.replace`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from catt.errors import ConfigError

__all__ = ["DecodingOptions", "InvalidOptionError"]


class InvalidOptionError(ConfigError, ValueError):
    """A decoding option out of range (a :class:`~catt.errors.CattError` and a ValueError)."""


@dataclass(frozen=True)
class DecodingOptions:
    """How to search.

    Attributes:
        beam: hypotheses kept per utterance; 1 with ``boost == 0`` is greedy search.
        boost: bonus per matched phrase token (log-probability units); 0 turns boosting off.
        deep_biasing: feed the phrase list to the model's biasing layers (CATT); off, the model
            sees only its no-bias vector and the list is used by boosting alone.
        pointer: with deep biasing, the list pointer of a model trained with one
            (``biasing.pointer``); False leaves the biasing layers alone (an ablation).
        batch_size: utterances decoded together.
        max_symbols: symbols emitted on one frame at most. 3, not the classic 1: the smart-home
            base model emits several tokens at one frame, and a one-symbol search turns them
            into deletions (greedy WER 62.7 % at 1, 31.1 % at 3; docs/results.md).
        resolve: after the search, replace each contact or device value by the list phrase the
            model's CTC head scores best (:mod:`catt.decode.resolve`). Needs a list and a model
            with a CTC head.
        resolve_bonus: score per token in that comparison (log-probability units); with
            ``resolve_char_bonus`` it offsets the CTC preference for short phrases.
        resolve_char_bonus: score per character the tokens spell (a word's start counts as
            one); why both, :mod:`catt.decode.resolve`. 4 per token and 1.5 per character were
            the best dev pair for the smart-home base model before ``resolve_heard``: 23 B
            errors on its dev split (list + 100), against 32 for the best bonus per token
            alone. With ``resolve_heard`` 4, 3 per character does best (docs/results.md).
        resolve_floor: the CTC head's frame distributions are mixed with the uniform one at
            this weight, in [0, 1), before it scores the list: a token the head did not expect
            (a name spelt another way than in training) then costs at most ``log(floor / V)``
            a frame (:func:`catt.decode.resolve.floor_log_probs`). 0 turns it off. On the
            smart-home base model's dev split any value from 0.0001 to 0.01 does about as well
            (44 to 46 B errors against 51 without); 0.001 is the middle (docs/results.md).
        resolve_heard: score lost per character edit between a candidate's words and what the
            model heard with no list: the best path of its character head when it has one, else
            of its CTC head (:mod:`catt.decode.resolve`); 0 turns it off. The CTC score
            charges a spelling the head did not expect (``carl`` heard as ``karl``) at every
            frame; counted in edits it is one. On the smart-home base model's dev split, 2
            (from the CTC head) took list + 1,000 from 53 B errors to 43 and list + 100 from
            32 to 30; 4 with 3 per character takes them to 39 and 23 (docs/results.md).
        resolve_char_head: for a model with a character head (:mod:`catt.model.char_head`),
            the weight of its score of each candidate when resolving: its CTC log-likelihood
            of the candidate's words plus ``resolve_char_head_bonus`` per character. 0 turns it
            off; a model without the head ignores it. 0.5 with a bonus of 6 did best on the
            smart-home base model's dev split, its resolution candidates scored again offline
            (docs/results.md).
        resolve_char_head_bonus: score per character in the character head's score (before
            its weight): it offsets that head's CTC preference for short candidates.
        resolve_transducer: the transducer's weight against the CTC head's when resolving, in
            [0, 1]: it rescores the CTC head's best candidates with the list, its label history
            and biasing (:mod:`catt.decode.resolve`). 0: the CTC head alone. 0.25 helps or
            does no harm on dev for three of four smart-home base models; the best-trained one
            does best at 0.5 (docs/results.md): tune it on dev for a model, like the boost.
        closed_slots: beam search returns the best final hypothesis whose slots are all closed
            (``<contact> ... </contact>``) when there is one, not a better-scored one that stops
            inside a slot (:func:`catt.decode.search.slots_closed`). On by default: it lowers
            U-WER in every condition measured and leaves B-WER as it was (docs/results.md).
        boost_back_to_back: boosting also rewards a phrase that starts right where another
            ended (:class:`~catt.context.trie.ContextTrie`, ``back_to_back``). Off by default:
            with it, a model with a list pointer wrote a name again and again at boosts of 1
            and more, each time for the full bonus (dev B-WER without resolution at boost 1.5:
            52 % with the bonus, 17 % without; docs/results.md).
        boost_without_resolution: the boost of a search whose hypotheses are not resolved
            (``resolve`` off); None: ``boost``. The two modes do best at different boosts
            (``catt tune`` chooses both, and ``--save-to-model`` stores both): :attr:`search_boost`
            is the one that applies.

    >>> opts = DecodingOptions(beam=4)
    >>> from dataclasses import replace
    >>> replace(opts, boost=2.0).boost
    2.0
    >>> DecodingOptions(beam=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    catt.decode.options.InvalidOptionError: beam must be an integer >= 1, got 0
    """

    beam: int = 4
    boost: float = 0.0
    deep_biasing: bool = True
    pointer: bool = True
    batch_size: int = 8
    max_symbols: int = 3
    resolve: bool = False
    resolve_bonus: float = 4.0
    resolve_char_bonus: float = 3.0
    resolve_floor: float = 0.001
    resolve_heard: float = 4.0
    resolve_char_head: float = 0.5
    resolve_char_head_bonus: float = 6.0
    resolve_transducer: float = 0.25
    closed_slots: bool = True
    boost_back_to_back: bool = False
    boost_without_resolution: Optional[float] = None

    def __post_init__(self) -> None:
        if isinstance(self.beam, bool) or not isinstance(self.beam, int) or self.beam < 1:
            raise InvalidOptionError(f"beam must be an integer >= 1, got {self.beam!r}")
        for name in ("boost", "boost_without_resolution", "resolve_heard", "resolve_char_head"):
            b = getattr(self, name)
            if b is None and name == "boost_without_resolution":  # None: the boost
                continue
            if (
                isinstance(b, bool)
                or not isinstance(b, (int, float))
                or not (math.isfinite(b) and b >= 0)
            ):
                raise InvalidOptionError(f"{name} must be a finite number >= 0, got {b!r}")
            object.__setattr__(self, name, float(b))
        if not isinstance(self.deep_biasing, bool):
            raise InvalidOptionError(
                f"deep_biasing must be True or False, got {self.deep_biasing!r}"
            )
        if not isinstance(self.pointer, bool):
            raise InvalidOptionError(f"pointer must be True or False, got {self.pointer!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise InvalidOptionError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise InvalidOptionError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        ms = self.max_symbols
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 1:
            raise InvalidOptionError(f"max_symbols must be an integer >= 1, got {ms!r}")
        if not isinstance(self.resolve, bool):
            raise InvalidOptionError(f"resolve must be True or False, got {self.resolve!r}")
        for name in ("closed_slots", "boost_back_to_back"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidOptionError(
                    f"{name} must be True or False, got {getattr(self, name)!r}"
                )
        for name in ("resolve_bonus", "resolve_char_bonus", "resolve_char_head_bonus"):
            b = getattr(self, name)
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
                raise InvalidOptionError(f"{name} must be a finite number, got {b!r}")
            object.__setattr__(self, name, float(b))
        rf = self.resolve_floor
        if isinstance(rf, bool) or not isinstance(rf, (int, float)) or not 0 <= rf < 1:
            raise InvalidOptionError(f"resolve_floor must be in [0, 1), got {rf!r}")
        rt = self.resolve_transducer
        if isinstance(rt, bool) or not isinstance(rt, (int, float)) or not 0 <= rt <= 1:
            raise InvalidOptionError(f"resolve_transducer must be in [0, 1], got {rt!r}")
        object.__setattr__(self, "resolve_transducer", float(rt))
        object.__setattr__(self, "resolve_floor", float(rf))

    @property
    def search_boost(self) -> float:
        """The boost the search uses: ``boost_without_resolution`` when resolution is off and
        it is set, else ``boost``.

        >>> DecodingOptions(boost=1.5, boost_without_resolution=0.5).search_boost
        0.5
        >>> DecodingOptions(boost=1.5, boost_without_resolution=0.5, resolve=True).search_boost
        1.5
        """
        if self.resolve or self.boost_without_resolution is None:
            return self.boost
        return self.boost_without_resolution

    @property
    def greedy(self) -> bool:
        """True when the settings call for greedy search (beam 1, no boosting)."""
        return self.beam == 1 and self.search_boost == 0.0
