"""The context-aware transformer transducer (CATT) and its factory.

Shapes: B batch, T feature frames, T' audio embeddings (T / 4), F feature bins, U tokens,
N phrases, L tokens in a phrase, D model dimension, Dc context dimension, J joiner dimension,
V vocabulary.

::

    features [B,T,F] -> encode -> h [B,T',D] -> bias_audio(h, ctx) --------.
    phrases [N,L] -> encode_phrases -> [N,Dc] -> make_context -> ctx       +-> joiner -> [..,V]
    [blank, y] [B,U+1] -> label_embeddings(y, ctx) -> g [B,U+1,D] ---------'

"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from catt.loss import ctc_loss, full_rnnt_loss, make_boundary, pruned_rnnt_loss
from catt.model.biasing import BIASING_LAYERS
from catt.model.char_head import CharHead
from catt.model.config import ModelConfig
from catt.model.context import BiasingContext, ContextBatch, PhraseVectors
from catt.model.context_encoder import CONTEXT_ENCODERS
from catt.model.dropout import use_mask_dropout
from catt.model.encoder import AudioEncoder, padding_mask
from catt.model.joiner import Joiner
from catt.model.pointer import (
    PhraseChoices,
    next_phrase_tokens,
    next_token_masks,
    nonempty_phrases,
)
from catt.model.predictor import build_predictor
from catt.model.spotting import spot_scores

__all__ = ["Transducer", "Losses", "build_model"]


class Losses(NamedTuple):
    """Training losses of a batch, each summed over it (0 where the model has no such loss)."""

    simple: Tensor  # k2 simple (trivial-joiner) loss; the full loss with ``loss: full``
    pruned: Tensor  # k2 pruned loss
    ctc: Tensor  # CTC loss of the audio embeddings (``ctc_weight`` > 0)
    chars: Tensor  # CTC loss of the character head (``char_head.hidden`` > 0)


class Transducer(nn.Module):
    """Audio encoder, label encoder, optional context encoder and biasing layers, joiner.

    Build it with :func:`build_model`. With the ``none`` biasing layer the model has no context
    parameters at all and ignores any phrase list.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.blank_id = config.blank_id
        self.vocab_size = config.vocab_size
        d, e = config.d_model, config.encoder
        self.encoder = AudioEncoder(
            feature_dim=config.feature_dim,
            d_model=d,
            num_layers=e.num_layers,
            num_heads=e.num_heads,
            ff_dim=e.ff_dim,
            dropout=e.dropout,
            conv_channels=e.conv_channels,
            conv_kernel=e.conv_kernel,
        )
        self.predictor = build_predictor(config)
        self.joiner = Joiner(
            d_model=d,
            joiner_dim=config.joiner_dim,
            vocab_size=config.vocab_size,
            pointer=config.biasing.pointer,
            blank_id=config.blank_id,
            pointer_key_dim=(
                config.biasing.pointer_key_dim if config.biasing.pointer_phrases else None
            ),
            pointer_spotting=config.biasing.pointer_spotting,
        )
        if config.loss == "pruned":
            self.simple_am_proj = nn.Linear(d, config.vocab_size)
            self.simple_lm_proj = nn.Linear(d, config.vocab_size)
        self.ctc_proj: Optional[nn.Linear] = None
        if config.ctc_weight > 0:
            self.ctc_proj = nn.Linear(d, config.vocab_size)
        self.char_head: Optional[CharHead] = None
        if config.char_head.enabled:
            c = config.char_head
            self.char_head = CharHead(d, c.hidden, c.num_chars)
        layer_cls = BIASING_LAYERS[config.biasing.layer]
        self.uses_context = bool(layer_cls.uses_context)
        self.audio_bias: Optional[nn.Module] = None
        self.label_bias: Optional[nn.Module] = None
        self.context_encoder: Optional[nn.Module] = None
        if self.uses_context:
            self._build_context_parts(config, layer_cls)

    def _build_context_parts(self, config: ModelConfig, layer_cls: type) -> None:
        c, b = config.context_encoder, config.biasing
        self.context_encoder = CONTEXT_ENCODERS[c.type](
            vocab_size=config.vocab_size,
            context_dim=c.context_dim,
            num_layers=c.num_layers,
            num_heads=c.num_heads,
            dropout=config.encoder.dropout,
        )
        self.no_bias = nn.Parameter(torch.randn(c.context_dim) * 0.1)
        kwargs = dict(
            d_model=config.d_model,
            context_dim=c.context_dim,
            num_heads=b.num_heads,
            dropout=config.encoder.dropout,
        )
        if b.bias_on in ("audio", "both"):
            self.audio_bias = layer_cls(**kwargs)
        if b.bias_on in ("label", "both"):
            self.label_bias = layer_cls(**kwargs)

    @property
    def predictor_context_size(self) -> Optional[int]:
        """Tokens of history the predictor reads (stateless), or None (it reads them all)."""
        if self.config.predictor.type == "stateless":
            return self.config.predictor.context_size
        return None

    @property
    def context_dim(self) -> int:
        """Dc, or 0 when the model uses no context."""
        return self.config.context_encoder.context_dim if self.uses_context else 0

    def encode(self, features: Tensor, feature_lens: Tensor) -> Tuple[Tensor, Tensor]:
        """Audio embeddings (features are normalized per utterance inside).

        Args:
            features: [B, T, F].
            feature_lens: [B].

        Returns:
            h [B, T', D], h_lens [B].
        """
        return self.encoder(features, feature_lens)

    def ctc_log_probs(self, h: Tensor) -> Tensor:
        """CTC log-probabilities of audio embeddings h [B, T', D] (from :meth:`encode`, before
        biasing) -> [B, T', V].

        Raises:
            ValueError: the model has no CTC head (``model.ctc_weight: 0``).
        """
        if self.ctc_proj is None:
            raise ValueError("this model has no CTC head (it was trained with ctc_weight 0)")
        return torch.log_softmax(self.ctc_proj(h).float(), dim=-1)

    def char_log_probs(self, h: Tensor, h_lens: Tensor) -> Tensor:
        """The character head's log-probabilities [B, T', C] (float32) of audio embeddings
        h [B, T', D] (from :meth:`encode`) with h_lens [B] valid frames.

        Raises:
            ValueError: the model has no character head (``char_head.hidden: 0``).
        """
        if self.char_head is None:
            raise ValueError("this model has no character head (char_head.hidden: 0)")
        return torch.log_softmax(self.char_head(h, h_lens).float(), dim=-1)

    @torch.no_grad()
    def phrase_spots(
        self, h: Tensor, h_lens: Tensor, lists: Sequence[Sequence[Sequence[int]]]
    ) -> Tensor:
        """Each list phrase's spotting score by the CTC head (:func:`spot_scores`) for audio
        embeddings h [B, T', D] (before biasing), h_lens [B] and B phrase lists -> [B, K],
        with ``biasing.spot_token_bonus`` per phrase token."""
        bonus = float(self.config.biasing.spot_token_bonus)
        return spot_scores(
            self.ctc_log_probs(h), h_lens, lists, blank_id=self.blank_id, token_bonus=bonus
        )

    @property
    def per_token(self) -> bool:
        """True when the context encoder gives a vector per phrase token (see
        :meth:`encode_phrases`)."""
        return bool(getattr(self.context_encoder, "per_token", False))

    def encode_phrases(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Phrase vectors tokens [N, L], lengths [N] -> [N, Dc] ([N, 0] without context).

        With a per-token encoder, one vector per token instead: [sum(lengths), Dc], phrase after
        phrase (:meth:`phrase_entries` maps them to their phrases). The biasing layers attend to
        these entries exactly as to phrase vectors.
        """
        if self.context_encoder is None:
            return tokens.new_zeros(tokens.size(0), 0, dtype=torch.float32)
        out = self.context_encoder(tokens, lengths)
        if self.per_token:
            out = out[~padding_mask(lengths, tokens.size(1))]
        return out

    def phrase_entries(self, lengths: Tensor) -> Tensor:
        """The phrase of each vector of :meth:`encode_phrases`: [N] or [sum(lengths)] indices."""
        index = torch.arange(lengths.size(0), device=lengths.device)
        return torch.repeat_interleave(index, lengths) if self.per_token else index

    def prepare_phrases(self, phrase_emb: Tensor) -> PhraseVectors:
        """A phrase list ready for decoding: phrase_emb [N, Dc] -> [1, N+1, Dc] (no-bias vector
        first). Contexts made from it share the biasing layers' work on the phrase vectors."""
        if not self.uses_context:
            raise ValueError("this model has no context encoder: it takes no phrase list")
        return PhraseVectors(torch.cat([self.no_bias.view(1, -1), phrase_emb], dim=0).unsqueeze(0))

    def make_context(
        self,
        phrases: Union[Tensor, PhraseVectors, None],
        mask: Optional[Tensor],
        batch_size: int,
    ) -> BiasingContext:
        """The biasing context of ``batch_size`` utterances.

        Build it once per batch and reuse it (or :meth:`BiasingContext.select` rows of it): the
        biasing layers' work on the phrase vectors (their ``precompute``) is cached on it, and
        shared by every context made from the same :class:`PhraseVectors` (decoding one list
        batch after batch projects its keys and values once).

        Args:
            phrases: phrase vectors [N, Dc], a list from :meth:`prepare_phrases`, or None (no
                phrases: the no-bias vector alone).
            mask: [B, N] (True: phrase in the utterance's list) or None (all phrases for all).
            batch_size: B.

        Returns:
            embeddings [B, N+1, Dc] (no-bias vector first; a broadcast view of one shared
            [1, N+1, Dc] row) and mask [B, N+1].
        """
        if not self.uses_context:
            device = next(self.parameters()).device  # joiner.out may be int8, without .weight
            empty = torch.zeros(1, 1, 0, device=device).expand(batch_size, -1, -1)
            return BiasingContext(empty, torch.ones(batch_size, 1, dtype=torch.bool, device=device))
        no_bias = self.no_bias.view(1, -1)
        ones = torch.ones(batch_size, 1, dtype=torch.bool, device=no_bias.device)
        if isinstance(phrases, Tensor) and phrases.size(0) > 0:
            phrases = self.prepare_phrases(phrases)
        if not isinstance(phrases, PhraseVectors) or phrases.num_phrases == 0:
            return BiasingContext(no_bias.unsqueeze(0).expand(batch_size, -1, -1), ones)
        n = phrases.num_phrases
        if mask is None:
            mask = torch.ones(batch_size, n, dtype=torch.bool, device=no_bias.device)
        if mask.shape != (batch_size, n):
            raise ValueError(f"mask {tuple(mask.shape)} is not [B={batch_size}, N={n}]")
        mask = torch.cat([ones, mask.to(ones.device, torch.bool)], dim=1)
        return BiasingContext(phrases.vectors.expand(batch_size, -1, -1), mask, phrases.cache)

    def bias_audio(self, h: Tensor, ctx: BiasingContext) -> Tensor:
        """Biased audio embeddings h [B, T', D] -> [B, T', D] (identity without audio biasing)."""
        if self.audio_bias is None:
            return h
        return _apply_bias(self.audio_bias, h, ctx)

    def label_embeddings(self, y: Tensor, ctx: BiasingContext) -> Tensor:
        """Biased label embeddings.

        Args:
            y: [B, U] token ids, starting with the blank start symbol (the previous tokens).
            ctx: from :meth:`make_context` with the same B.

        Returns:
            [B, U, D]; row u depends on y[:, :u+1] only.
        """
        g = self.predictor(y)
        if self.label_bias is None:
            return g
        return _apply_bias(self.label_bias, g, ctx)

    def forward(
        self,
        features: Tensor,
        feature_lens: Tensor,
        tokens: Sequence[Sequence[int]],
        context: Optional[ContextBatch] = None,
        prune_range: int = 5,
        am_scale: float = 0.0,
        lm_scale: float = 0.25,
        pointer_lists: Optional[Sequence[Sequence[Sequence[int]]]] = None,
        history: Optional[Sequence[Sequence[int]]] = None,
        chars: Optional[Sequence[Sequence[int]]] = None,
        transducer: bool = True,
    ) -> Losses:
        """Training losses, each summed over the batch.

        Args:
            features: [B, T, F]; feature_lens: [B].
            tokens: B token-id lists (no blank).
            context: the batch's phrase lists or None.
            prune_range, am_scale, lm_scale: pruned-loss settings (ignored by the full loss).
            pointer_lists: B token-id phrase lists for the list pointer; None: those of
                ``context``.
            history: B token-id lists, each as long as its reference, that the predictor reads
                (and the pointer's list follows) in place of ``tokens``; the targets stay
                ``tokens`` (:mod:`catt.context.history`). None: ``tokens``.
            chars: B character-id lists of the transcripts' words
                (:meth:`~catt.text.tokenizer.Tokenizer.encode_chars`), the character head's
                targets; None: no character loss.
            transducer: False skips the transducer and CTC losses (0): a run that trains the
                character head alone on a frozen model pays for nothing else.

        Returns:
            :class:`Losses`: (simple, pruned, ctc, chars) with ``loss: pruned``; (full, 0, ctc,
            chars) with ``loss: full``; ctc is 0 without a CTC head, chars 0 without a
            character head or ``chars``.
        """
        if len(tokens) != features.size(0):
            raise ValueError(f"{len(tokens)} token lists for a batch of {features.size(0)}")
        h, h_lens = self.encode(features, feature_lens)
        char_loss = h.new_zeros(())
        if self.char_head is not None and chars is not None:
            targets, lengths = _pad_tokens(chars, 0, h.device)
            char_loss = ctc_loss(self.char_head(h, h_lens), h_lens, targets, lengths, 0)
        if not transducer:
            return Losses(h.new_zeros(()), h.new_zeros(()), h.new_zeros(()), char_loss)
        symbols, y_lens = _pad_tokens(tokens, self.blank_id, h.device)
        _check_lengths(h_lens, y_lens)
        ctc = h.new_zeros(())
        if self.ctc_proj is not None:
            ctc = ctc_loss(self.ctc_proj(h), h_lens, symbols, y_lens, self.blank_id)
        if history is None:
            history, read = tokens, symbols
        else:
            if [len(t) for t in history] != [len(t) for t in tokens]:
                raise ValueError("each history must be as long as its reference")
            read = _pad_tokens(history, self.blank_id, h.device)[0]
        # The pointer's label-side input [B, U+1, E] (allowed tokens, or each phrase's next
        # token) and, for a pointer that scores phrases, the phrase keys [B, K, Dk] and the
        # spotting scores (of the audio before biasing).
        extra, keys, spots = self._pointer_inputs(history, context, pointer_lists, h, h_lens)
        ctx = self._batch_context(context, h.size(0))
        h = self.bias_audio(h, ctx)
        start = torch.full_like(read[:, :1], self.blank_id)
        g = self.label_embeddings(torch.cat([start, read], dim=1), ctx)  # [B, U+1, D]
        boundary = make_boundary(h_lens, y_lens)
        if self.config.loss == "full":
            logits = self._joint_lattice(h, g, extra, keys, spots)
            full = full_rnnt_loss(logits, symbols, boundary, self.blank_id).sum()
            return Losses(full, h.new_zeros(()), ctc, char_loss)
        simple, pruned = self._pruned_losses(
            h, g, symbols, boundary, extra, keys, spots, prune_range, am_scale, lm_scale, "sum"
        )
        return Losses(simple, pruned, ctc, char_loss)

    def _pruned_losses(
        self,
        h: Tensor,
        g: Tensor,
        symbols: Tensor,
        boundary: Tensor,
        extra: Optional[Tensor],
        keys: Optional[Tensor],
        spots: Optional[Tensor],
        prune_range: int,
        am_scale: float,
        lm_scale: float,
        reduction: str,
    ) -> Tuple[Tensor, Tensor]:
        """(simple, pruned) losses of biased h [B, T', D] and g [B, U+1, D]
        (:func:`~catt.loss.pruned_rnnt_loss`), the pointer reading ``extra``, ``keys`` and
        ``spots``."""
        return pruned_rnnt_loss(
            am_simple=self.simple_am_proj(h),
            lm_simple=self.simple_lm_proj(g),
            am=self.joiner.enc_proj(h),
            lm=self.joiner.pred_proj(g),
            joint=lambda am, lm, *x, columns: self.joiner(
                am,
                lm,
                project_input=False,
                allowed=_choices(x[0] if x else None, keys, spots),
                columns=columns,
            ),
            symbols=symbols,
            boundary=boundary,
            blank_id=self.blank_id,
            prune_range=prune_range,
            am_scale=am_scale,
            lm_scale=lm_scale,
            lm_extra=extra,
            reduction=reduction,
        )

    @torch.no_grad()
    def sequence_log_likelihood(
        self,
        h: Tensor,
        h_lens: Tensor,
        tokens: Sequence[Sequence[int]],
        ctx: BiasingContext,
        pointer_lists: Optional[Sequence[Sequence[Sequence[int]]]] = None,
        prune_range: Optional[int] = None,
        spots: Optional[Tensor] = None,
        keys: Optional[Tensor] = None,
    ) -> Tensor:
        """log P(tokens | audio, list): the transducer's sum over alignments, per sequence.

        Args:
            h: [B, T', D] audio embeddings from :meth:`encode` (before biasing); h_lens: [B].
            tokens: B token-id lists (no blank), each no longer than its h_lens.
            ctx: from :meth:`make_context` for B utterances.
            pointer_lists: B phrase lists the list pointer copies from; None: no pointer.
            prune_range: None: every alignment (the joiner at every frame and label); S: the
                alignments within S labels of the simple joiner's best (the pruned loss of
                training: a lower bound, S times fewer joiner calls per frame than U+1). A model
                trained with ``loss: full`` has no simple joiner and always takes every one.
            spots: [B, K] :meth:`phrase_spots` of ``pointer_lists`` for a pointer that spots,
                when the caller has them (rescoring many sequences of one utterance); None:
                computed here.
            keys: [1, K, Dk] the phrase keys of ``pointer_lists`` (all the same list), for a
                pointer that scores phrases, when the caller has them (a prepared list's
                ``pointer_keys``); None: computed here.

        Returns:
            [B] log-likelihoods.
        """
        symbols, y_lens = _pad_tokens(tokens, self.blank_id, h.device)
        _check_lengths(h_lens, y_lens)
        extra, keys, spots = self._pointer_inputs(
            tokens, None, pointer_lists, h, h_lens, spots, keys
        )
        h = self.bias_audio(h, ctx)
        start = torch.full_like(symbols[:, :1], self.blank_id)
        g = self.label_embeddings(torch.cat([start, symbols], dim=1), ctx)
        boundary = make_boundary(h_lens, y_lens)
        if prune_range is not None and self.config.loss != "full":
            _, pruned = self._pruned_losses(
                h,
                g,
                symbols,
                boundary,
                extra,
                keys,
                spots,
                prune_range,
                am_scale=0.0,
                lm_scale=0.25,
                reduction="none",
            )
            return -pruned
        logits = self._joint_lattice(h, g, extra, keys, spots)
        return -full_rnnt_loss(logits, symbols, boundary, self.blank_id)

    def _joint_lattice(
        self,
        h: Tensor,
        g: Tensor,
        extra: Optional[Tensor],
        keys: Optional[Tensor],
        spots: Optional[Tensor],
    ) -> Tensor:
        """The joiner at every (frame, label) pair: h [B, T', D], g [B, U+1, D] and the pointer
        inputs of :meth:`_pointer_inputs` -> [B, T', U+1, V]."""
        allowed = _choices(None if extra is None else extra.unsqueeze(1), keys, spots)
        return self.joiner(h.unsqueeze(2), g.unsqueeze(1), allowed=allowed)

    def _pointer_inputs(
        self,
        tokens: Sequence[Sequence[int]],
        context: Optional[ContextBatch],
        lists: Optional[Sequence[Sequence[Sequence[int]]]],
        h: Tensor,
        h_lens: Tensor,
        spots: Optional[Tensor] = None,
        keys: Optional[Tensor] = None,
    ) -> Tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
        """What the list pointer reads along each reference after ``lists``, or the lists of
        ``context``: the allowed next tokens [B, U+1, V] (:func:`next_token_masks`), None,
        None; for a pointer that scores phrases, each phrase's next token [B, U+1, K]
        (:func:`next_phrase_tokens`), the phrase keys [B, K, Dk] and, for a pointer that
        spots, the spotting scores [B, 1, 1, K] of audio embeddings h [B, T', D] (before
        biasing), or of ``spots`` [B, K] when given; the ``keys`` [B', K, Dk] when given. Nones
        without a pointer or phrases."""
        pointer = self.joiner.pointer
        device = h.device
        if pointer is None:
            return None, None, None
        if lists is None:
            if context is None or context.num_phrases == 0:
                return None, None, None
            lengths = context.lengths.tolist()
            phrases = [row[:n] for row, n in zip(context.tokens.tolist(), lengths)]
            lists = [[phrases[n] for n in row.nonzero().flatten().tolist()] for row in context.mask]
        lists = nonempty_phrases(lists)
        if not pointer.scores_phrases:
            return next_token_masks(tokens, lists, self.vocab_size, device), None, None
        if not any(lists):
            return None, None, None
        if pointer.spots and spots is None:
            spots = self.phrase_spots(h, h_lens, lists)
        spots = spots[:, None, None] if pointer.spots else None
        if keys is None:
            keys = pointer.phrase_keys(lists)
        return next_phrase_tokens(tokens, lists, device), keys, spots

    def _batch_context(self, context: Optional[ContextBatch], batch_size: int) -> BiasingContext:
        """The batch's context: each utterance's own list, gathered into [B, K+1, Dc] (K: the
        longest list; padding masked).

        The union of a batch's lists is about B times longer than one list: attending to the
        union under a mask would give the same result at B times the cost.
        """
        if context is None or not self.uses_context or context.num_phrases == 0:
            return self.make_context(None, None, batch_size)
        phrase_emb = self.encode_phrases(context.tokens, context.lengths)
        mask = context.mask[:, self.phrase_entries(context.lengths)]  # [B, N] (or per token)
        count = mask.sum(dim=1)
        k = int(count.max())
        if k == 0:
            return self.make_context(None, None, batch_size)
        # Listed entries first, in their order: [B, K] indices into phrase_emb.
        order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices[:, :k]
        listed = ~padding_mask(count, k)
        no_bias = self.no_bias.view(1, 1, -1).expand(batch_size, 1, -1)
        return BiasingContext(
            torch.cat([no_bias, phrase_emb[order]], dim=1),
            torch.cat([torch.ones_like(listed[:, :1]), listed], dim=1),
        )


def _choices(
    allowed: Optional[Tensor], keys: Optional[Tensor], spots: Optional[Tensor] = None
) -> Union[Tensor, PhraseChoices, None]:
    """What the joiner's pointer reads: ``allowed`` next tokens, or with phrase ``keys`` (a
    pointer that scores phrases) each phrase's next token with its key (and spotting score)."""
    return allowed if allowed is None or keys is None else PhraseChoices(allowed, keys, spots)


def _apply_bias(layer: nn.Module, x: Tensor, ctx: BiasingContext) -> Tensor:
    """``layer(x [B, T, D], ...)`` with the context, and its precomputed state if it has one."""
    state = ctx.prepared(layer)
    if state is None:
        return layer(x, ctx.embeddings, ctx.mask)
    return layer(x, ctx.embeddings, ctx.mask, precomputed=state)


def _check_lengths(h_lens: Tensor, y_lens: Tensor) -> None:
    """k2 needs at least as many audio frames as tokens; the trainer filters such cuts."""
    short = (h_lens < y_lens).nonzero().flatten().tolist()
    if short:
        b = short[0]
        raise ValueError(
            f"utterance {b} of the batch has {int(y_lens[b])} tokens but only {int(h_lens[b])} "
            "frames after subsampling x4 (drop cuts with subsampled_lengths(T) < len(tokens))"
        )


def _pad_tokens(
    tokens: Sequence[Sequence[int]], pad: int, device: torch.device
) -> Tuple[Tensor, Tensor]:
    """B lists -> symbols [B, U] (padded with ``pad``) and lengths [B]."""
    lengths: List[int] = [len(t) for t in tokens]
    out = torch.full((len(tokens), max(lengths, default=0)), pad, dtype=torch.long)
    for b, t in enumerate(tokens):
        out[b, : len(t)] = torch.as_tensor(list(t), dtype=torch.long)
    return out.to(device), torch.tensor(lengths, dtype=torch.long, device=device)


def build_model(config: ModelConfig) -> Transducer:
    """A freshly initialized :class:`Transducer` for ``config``.

    >>> from catt.model.config import ModelConfig
    >>> m = build_model(ModelConfig.preset("micro", vocab_size=32))
    >>> m.predictor_context_size
    2

    Its dropout modules are :class:`~catt.model.dropout.MaskDropout` (the same probability, a
    faster mask on the CPU).
    """
    return use_mask_dropout(Transducer(config))
