"""A word vocabulary with four special tokens at fixed indices, for the sentence models.

The specials come first: ``<pad>`` = 0 (fills a padded batch), ``<bos>`` = 1 (starts a
decoder's input), ``<eos>`` = 2 (ends a sentence), ``<unk>`` = 3 (every word outside the
vocabulary, and the Penn Treebank's own ``<unk>``). The other words follow by falling count in
the sentences the vocabulary was built on (ties alphabetical), so the most frequent words keep
when ``max_size`` caps it, as Mikolov et al. (2010) capped the Penn Treebank at 10k words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from torch import Tensor

from reparam import checks

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


@dataclass(frozen=True)
class Vocabulary:
    """Words and their indices: ``tokens[i]`` is the word of index ``i``, specials first.

    Index ``i`` of a word ``w`` of the sentences it was built on ranks it by its count
    :math:`c(w)`, for the non-special words:

    .. math::
        i(w) = 4 + \\#\\{v : c(v) > c(w) \\text{ or } (c(v) = c(w) \\text{ and } v < w)\\}.

    Example:
        >>> vocab = Vocabulary.build([["the", "cat"], ["the", "dog"]])
        >>> vocab.tokens
        ('<pad>', '<bos>', '<eos>', '<unk>', 'the', 'cat', 'dog')
        >>> vocab.encode(["the", "bird"]), vocab.decode([4, 6, vocab.eos, 5])
        ([4, 3], ['the', 'dog'])
    """

    tokens: tuple[str, ...]
    index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    pad = PAD
    bos = BOS
    eos = EOS
    unk = UNK

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(
                f"tokens must start with the specials {list(SPECIALS)}, got {list(self.tokens[:4])}"
            )
        index = {word: i for i, word in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            repeated = next(w for w in self.tokens if self.tokens.count(w) > 1)
            raise ValueError(f"tokens must be distinct, got {repeated!r} twice")
        for special in SPECIALS[:UNK]:  # <pad>, <bos>, <eos> in a sentence are unknown words
            index[special] = UNK
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "index", index)

    @classmethod
    def build(
        cls, sentences: Iterable[Sequence[str]], max_size: int | None = None, min_count: int = 1
    ) -> Vocabulary:
        """The vocabulary of ``sentences``: the specials, then the words seen at least
        ``min_count`` times, most frequent first, cut so that ``len(vocab) <= max_size``.

        The special strings in ``sentences`` (the Penn Treebank's ``<unk>``) are not counted.

        Example:
            >>> len(Vocabulary.build([["a", "b", "a"]], max_size=5))
            5
            >>> Vocabulary.build([["a", "b", "a"]], min_count=2).tokens[4:]
            ('a',)
        """
        checks.positive_int("min_count", min_count)
        if max_size is not None and checks.integer("max_size", max_size) < len(SPECIALS):
            raise ValueError(
                f"max_size must be >= {len(SPECIALS)} (the specials), got {max_size!r}"
            )
        counts = Counter(word for sentence in sentences for word in sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted(
            (word for word, n in counts.items() if n >= min_count),
            key=lambda word: (-counts[word], word),
        )
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls(SPECIALS + tuple(ranked))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, words: Iterable[str]) -> list[int]:
        """The indices of ``words``, ``unk`` for words outside the vocabulary; no ``bos`` or
        ``eos`` is added.

        Example:
            >>> Vocabulary.build([["hello"]]).encode(["hello", "world", "<unk>"])
            [4, 3, 3]
        """
        index = self.index
        return [index.get(word, UNK) for word in words]

    def decode(self, ids: Iterable[int] | Tensor) -> list[str]:
        """The words of ``ids`` up to the first ``eos``, ``pad`` and ``bos`` skipped.

        Example:
            >>> Vocabulary.build([["hello"]]).decode([1, 4, 3, 2, 4, 0])
            ['hello', '<unk>']
        """
        if isinstance(ids, Tensor):
            if ids.dim() != 1:
                raise ValueError(f"ids must be one sentence (1-D), got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        words = []
        for i in ids:
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"ids must lie in [0, {len(self.tokens)}), got {i!r}")
            if i == EOS:
                break
            if i not in (PAD, BOS):
                words.append(self.tokens[i])
        return words

    def to_dict(self) -> dict[str, list[str]]:
        """The vocabulary as plain JSON-able data, for ``config.json`` and checkpoints.

        Example:
            >>> vocab = Vocabulary.build([["hi"]])
            >>> Vocabulary.from_dict(vocab.to_dict()) == vocab
            True
        """
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> Vocabulary:
        """The vocabulary that :meth:`to_dict` wrote.

        Example:
            >>> len(Vocabulary.from_dict({"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "x"]}))
            5
        """
        if not isinstance(data, Mapping) or "tokens" not in data:
            raise ValueError(f"data must be a dict with a 'tokens' list, got {type(data).__name__}")
        tokens = data["tokens"]
        if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
            raise TypeError("data['tokens'] must be a list of strings")
        return cls(tuple(tokens))
