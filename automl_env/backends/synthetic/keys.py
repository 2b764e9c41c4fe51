"""Keys and the pipeline field of the ``synthetic-rugged`` backend, with their exact optimisation.

A key is a checksum of tokens: every (position, value) carries a fixed pseudo-random integer in
[0, M) and a row's key is their sum mod M, so changing any one token changes the key with
probability (M - 1) / M. Keys are additive mod M, which keeps the optimum exact: a module's
frontier becomes the best quality for each (units, key) pair (``KeyedModel``), and modules meet
through a cyclic max-plus convolution over keys (``cyclic_max_plus``). ``HPOKeys`` does the same
for the hyper-parameter terms, whose key is taken on the HPO model's variables (SGD: the unit
totals, so token order still does not matter).

``field_uniform`` is the frozen random field U(C, S, K) in [0, 1): a splitmix64 hash of the
integer capacity, strength and key, the same bits wherever it is computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from automl_env.backends.synthetic.additive import AdditiveModel, FloatArray, quantize
from automl_env.backends.synthetic.hparam_terms import HPOModel, IntArray
from automl_env.hashing import splitmix64
from automl_env.modules.base import TokenArray


def key_tables(sizes: Sequence[int], modulus: int, rng: np.random.Generator) -> list[IntArray]:
    """One table of pseudo-random keys in [0, modulus) per position (or variable), ``sizes[i]`` values each."""
    return [rng.integers(0, modulus, size=int(n)).astype(np.int64) for n in sizes]


def field_uniform(cap: IntArray, strength: IntArray, key: IntArray, salt: int) -> FloatArray:
    """U(C, S, K) in [0, 1), broadcasting; C < 2**16, S < 2**24 and K < 2**8 pack into one word."""
    packed = (np.asarray(cap, np.uint64) << np.uint64(32)) | (np.asarray(strength, np.uint64) << np.uint64(8))
    h = splitmix64(splitmix64((packed | np.asarray(key, np.uint64)) ^ np.uint64(salt)))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def cyclic_max_plus(a: FloatArray, b: FloatArray) -> FloatArray:
    """out[..., k] = max_j a[..., j] + b[..., (k - j) % M], broadcasting (last axis: the M keys)."""
    m = a.shape[-1]
    doubled = np.concatenate([b, b], axis=-1)  # doubled[..., m - j + k] = b[..., (k - j) % m]
    out = a[..., 0:1] + doubled[..., m : 2 * m]
    for j in range(1, m):
        np.maximum(out, a[..., j : j + 1] + doubled[..., m - j : 2 * m - j], out=out)
    return out


def cyclic_split(a: FloatArray, b: FloatArray, k: int) -> int:
    """The first j with a[j] + b[(k - j) % M] = cyclic_max_plus(a, b)[k], for 1-d a and b."""
    m = a.shape[-1]
    return int(np.argmax(a + b[(k - np.arange(m)) % m]))


@dataclass(frozen=True)
class KeyedFrontier:
    """Best module quality for each (units, key) (-inf where unreachable) and how to reach it."""

    best: FloatArray  # (max units + 1, modulus)
    tokens_for: Callable[[int, int], TokenArray]


class KeyedModel:
    """An ``AdditiveModel`` whose rows also carry a key (see the module docstring)."""

    def __init__(self, model: AdditiveModel, keys: Sequence[IntArray], modulus: int) -> None:
        if len(keys) != model.num_tokens:
            raise ValueError(f"need one key table per token position ({model.num_tokens}), got {len(keys)}")
        self.model, self.modulus = model, modulus
        self._keys = [np.asarray(k, dtype=np.int64) for k in keys]
        self._flat = np.concatenate(self._keys)
        self._offsets = np.concatenate([[0], np.cumsum([k.size for k in self._keys])[:-1]]).astype(np.int64)

    @property
    def max_units(self) -> int:
        return self.model.max_units

    def key(self, tokens: TokenArray) -> IntArray:
        """Key of each row of an (N, num_tokens) token matrix."""
        return self._flat[tokens + self._offsets].sum(axis=1) % self.modulus

    def summarise(self, tokens: TokenArray) -> tuple[FloatArray, IntArray, IntArray]:
        """(quality, units, key) of each row."""
        quality, units = self.model.summarise(tokens)
        return quality, units, self.key(tokens)

    def frontier(self) -> KeyedFrontier:
        """Exact DP over groups with state (units, key); back-pointers rebuild the tokens."""
        m = self.modulus
        best = np.full((self.max_units + 1, m), -np.inf)
        best[0, 0] = 0.0
        choices: list[IntArray] = []
        group_units, group_keys = [], []
        for group in self.model.groups:
            quality = quantize(group.quality).ravel()  # the values AdditiveModel sums
            units = group.units.ravel()
            keys = self._group_keys(group.positions, group.quality.shape)
            new = np.full_like(best, -np.inf)
            choice = np.full(best.shape, -1, dtype=np.int64)
            for du, dk, q, pick in _best_options(quality, units, keys, m):
                cand = np.full_like(best, -np.inf)
                cand[du:] = np.roll(best[: best.shape[0] - du], dk, axis=1) + q
                better = cand > new
                new[better], choice[better] = cand[better], pick
            best = new
            choices.append(choice)
            group_units.append(units)
            group_keys.append(keys)

        def rebuild(units_total: int, key: int) -> TokenArray:
            if not (0 <= units_total < best.shape[0] and 0 <= key < m) or choices[-1][units_total, key] < 0:
                raise ValueError(f"(units, key) = ({units_total}, {key}) is not reachable")
            tokens = np.zeros(self.model.num_tokens, dtype=np.int64)
            for g in reversed(range(len(self.model.groups))):
                pick = int(choices[g][units_total, key])
                group = self.model.groups[g]
                tokens[list(group.positions)] = np.unravel_index(pick, group.quality.shape)
                units_total -= int(group_units[g][pick])
                key = (key - int(group_keys[g][pick])) % m
            return tokens

        return KeyedFrontier(best=best, tokens_for=rebuild)

    def fixed_frontier(self, tokens: TokenArray) -> KeyedFrontier:
        """The one-point frontier of a module held at ``tokens`` (restricted searches)."""
        quality, units, key = self.summarise(tokens[None, :])
        best = np.full((self.max_units + 1, self.modulus), -np.inf)
        best[int(units[0]), int(key[0])] = quality[0]
        return KeyedFrontier(best=best, tokens_for=lambda _u, _k: tokens.copy())

    def _group_keys(self, positions: tuple[int, ...], shape: tuple[int, ...]) -> IntArray:
        """Key contribution (mod M) of every joint choice of a group's tokens, flattened."""
        total = np.zeros(shape, dtype=np.int64)
        for axis, position in enumerate(positions):
            along = [1] * len(shape)
            along[axis] = shape[axis]
            total = total + self._keys[position].reshape(along)
        return (total % self.modulus).ravel()


def _best_options(
    quality: FloatArray, units: IntArray, keys: IntArray, modulus: int
) -> list[tuple[int, int, float, int]]:
    """For each reachable (units, key) of a group: the best quality and the first choice reaching it."""
    cell = units * modulus + keys
    best = np.full(int(cell.max()) + 1, -np.inf)
    np.maximum.at(best, cell, quality)
    hits = np.flatnonzero(quality == best[cell])
    cells, first = np.unique(cell[hits], return_index=True)
    return [
        (int(c // modulus), int(c % modulus), float(best[c]), int(hits[i])) for c, i in zip(cells, first, strict=True)
    ]


class HPOKeys:
    """Keys of an HPO model's variables, and its terms maximised per key (see the module docstring).

    The terms are summed in ``order``: first those of capacity only, then of strength only, then of
    both, so that the keyed maxima stay small arrays until a term needs the whole (C, S) grid.
    """

    def __init__(self, hpo: HPOModel, modulus: int, rng: np.random.Generator) -> None:
        self.hpo, self.modulus = hpo, modulus
        reachable = hpo.reachable()
        names = sorted(reachable)
        sizes = [int(reachable[n].max()) + 1 for n in names]
        self.tables = dict(zip(names, key_tables(sizes, modulus, rng), strict=True))
        probe_x, probe_s = np.zeros((2, 1)), np.zeros((1, 2))
        classes = []
        for term in hpo.terms:
            first = tuple(np.int64(reachable[v][0]) for v in term.variables)
            shape = np.broadcast_shapes(np.shape(term.value(*first, probe_x, probe_s)), (1, 1))
            classes.append((shape[1] > 1, shape[0] > 1))  # (depends on s, depends on x): sorts x-only first
        self.order = sorted(range(len(hpo.terms)), key=lambda t: classes[t])

    def key(self, variables: Mapping[str, IntArray]) -> IntArray:
        """Key of each row's HPO config."""
        total = sum(self.tables[name][values] for name, values in variables.items())
        return np.asarray(total, dtype=np.int64) % self.modulus

    def score(self, variables: Mapping[str, IntArray], x: FloatArray, s: FloatArray) -> FloatArray:
        """The HPO model's score, summed in ``order`` (the order the keyed maxima use)."""
        total = np.zeros(np.broadcast_shapes(x.shape, s.shape))
        for t in self.order:
            term = self.hpo.terms[t]
            total = total + term.value(*(variables[v] for v in term.variables), x, s)
        return total

    def best(self, x: FloatArray, s: FloatArray, choices: Mapping[str, IntArray]) -> FloatArray:
        """Best score over ``choices`` for each key: shape broadcast(x, s) + (M,), -inf where no choice has it."""
        total: FloatArray | None = None
        for t in self.order:
            term_best = self._term(t, x, s, choices)[0]
            total = term_best if total is None else cyclic_max_plus(total, term_best)
        assert total is not None
        return total

    def argbest(self, x: FloatArray, s: FloatArray, choices: Mapping[str, IntArray], key: int) -> dict[str, int]:
        """Variable values of a best choice with this key at one (x, s) cell (shape (1, 1) arrays)."""
        per_term = [self._term(t, x, s, choices) for t in self.order]
        totals = [per_term[0][0].reshape(-1)]
        for term_best, _ in per_term[1:]:
            totals.append(cyclic_max_plus(totals[-1], term_best.reshape(-1)))
        keys = [0] * len(per_term)
        keys[-1] = key
        for i in reversed(range(1, len(per_term))):  # total_i[k] = total_{i-1}[j] + term_i[k - j]
            j = cyclic_split(totals[i - 1], per_term[i][0].reshape(-1), keys[i])
            keys[i], keys[i - 1] = (keys[i] - j) % self.modulus, j
        values: dict[str, int] = {}
        for (_, (options, arg)), t, k in zip(per_term, self.order, keys, strict=True):
            option = options[int(arg[..., k].ravel()[0])]
            values.update(zip(self.hpo.terms[t].variables, option, strict=True))
        return values

    def _term(
        self, t: int, x: FloatArray, s: FloatArray, choices: Mapping[str, IntArray]
    ) -> tuple[FloatArray, tuple[list[tuple[int, ...]], IntArray]]:
        """One term's best value per key (broadcast shape + (M,)) and, per key, the option reaching it."""
        term = self.hpo.terms[t]
        options = list(itertools.product(*(choices[v].tolist() for v in term.variables)))
        values = [np.asarray(term.value(*(np.int64(o) for o in option), x, s)) for option in options]
        shape = np.broadcast_shapes((1, 1), *(v.shape for v in values))
        best = np.full((*shape, self.modulus), -np.inf)
        arg = np.zeros(best.shape, dtype=np.int64)
        for i, (option, value) in enumerate(zip(options, values, strict=True)):
            k = sum(int(self.tables[v][o]) for v, o in zip(term.variables, option, strict=True)) % self.modulus
            better = value > best[..., k]
            best[..., k] = np.where(better, value, best[..., k])
            arg[..., k] = np.where(better, i, arg[..., k])
        return best, (options, arg)
