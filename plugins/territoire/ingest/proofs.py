"""What the client proves about a clean CSV file while it streams it (the fast COPY, fastcopy.py).

After the COPY, PostgreSQL checks every rule in one aggregate scan (plan.build_fast_check) and builds a
unique index to find repeated keys. On a 2-core machine that is a third of a load's time
(bench/README.md): every value is cast again. The client already splits every line into fields with
numpy, to rewrite decimal commas; looking at the values it holds costs it much less, on a core that
the COPY leaves partly idle.

So, per column, the client tries to *prove* that every value keeps the column's rules, with the proof
each rule of the model gives (`client_proof` of the types and constraints in schema/): plain digits
within bounds, a digit code of its length, a value of the enum, a filled required field. A proof only
ever proves: a value outside what it reads for sure (`-4`, `1e3`, ` 12`, any quoted field) leaves the
column unproved, and PostgreSQL checks that column as before. The verdict on a file never changes,
only who gives it; tests/plugins/ingest/test_proofs.py compares both on every shipped CSV.

Keys: every key value is kept as an 8-byte fingerprint (the value itself when it fits in 8 bytes);
all distinct proves that no key repeats; two equal fingerprints (a repeat, or a rare collision) prove
nothing and PostgreSQL's unique index decides. Past `KEY_LIMIT` lines the fingerprints are dropped
(memory stays bounded) and the index decides too.

The proofs go with the fast COPY: `TERRITOIRE_LOAD_FAST_COPY=0` switches both off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

_CR, _DOT, _ZERO = 13, 46, 48
MAX_WIDTH = 64          # a longer value leaves its column unproved
KEY_MAX_WIDTH = 256     # a longer key value drops the key fingerprints
KEY_LIMIT = 2_000_000   # lines: 16 MB of fingerprints at most
_POW10 = np.array([10 ** k for k in range(19)], dtype=np.int64)


class Values:
    """One block's values of one column: `length` (bytes; 0 for an empty field, stored as NULL) and
    `matrix`, the values' bytes (n x a multiple of 8, zero past each value's end), read 8 bytes at a time
    from each value's start (`words`: the 8 bytes from every offset of the block), which is 8 times
    fewer numpy operations than reading byte by byte."""

    def __init__(self, words: np.ndarray, start: np.ndarray, length: np.ndarray, encoding: str, cap: int = MAX_WIDTH):
        self.length, self.encoding = length, encoding
        self.width = int(length.max()) if len(length) else 0
        self._words, self._start = words, start
        self._word_count = max(1, -(-min(self.width, cap) // 8))
        self._matrix: np.ndarray | None = None
        self._inside: np.ndarray | None = None

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            read = np.stack([self._words[self._start + 8 * j] for j in range(self._word_count)], axis=1)
            self._matrix = read.view(np.uint8).reshape(len(self.length), 8 * self._word_count)
            self._matrix *= self.inside
        return self._matrix

    @property
    def inside(self) -> np.ndarray:
        """Per byte of the matrix: inside the value."""
        if self._inside is None:
            self._inside = np.arange(8 * self._word_count) < self.length[:, None]
        return self._inside

    @property
    def filled(self) -> np.ndarray:
        return self.length > 0

    def only(self, allowed: np.ndarray) -> bool:
        """Every byte of every value is one of `allowed` (a mask over the matrix)."""
        return bool((allowed | ~self.inside).all())

    def digits(self) -> np.ndarray:
        return (self.matrix - np.uint8(_ZERO)) < 10  # unsigned: bytes below '0' wrap above 10

    def number(self, skip: np.ndarray | None = None) -> np.ndarray:
        """The values' digits read as integers (Horner's rule over the columns of the matrix), leaving out
        the bytes flagged in `skip` (a decimal point)."""
        digits = (self.matrix - np.uint8(_ZERO)).astype(np.int64)
        number = np.zeros(len(self.length), dtype=np.int64)
        for j in range(min(self.width, self.matrix.shape[1])):
            take = self.length > j if skip is None else (self.length > j) & ~skip[:, j]
            number = np.where(take, number * 10 + digits[:, j], number)
        return number

    def last_byte(self) -> np.ndarray:
        return self.matrix[np.arange(len(self.length)), np.maximum(self.length - 1, 0)]


Proof = Callable[[Values], bool]


def anything(values: Values) -> bool:
    """A rule the client need not look at (a string, a bound its type's proof carries)."""
    return True


def filled(values: Values) -> bool:
    """Required: no value is empty."""
    return bool(values.filled.all())


def _within(numbers: np.ndarray, minimum, maximum) -> bool:
    """`numbers` within the bounds, compared as the one-scan check compares them (as floats)."""
    if minimum is not None and not (numbers >= float(minimum)).all():
        return False
    return maximum is None or bool((numbers <= float(maximum)).all())


def _bounds_matter(minimum, maximum) -> bool:
    """Whether unsigned values must be read to be compared: a minimum of 0 or less holds for all of them."""
    return maximum is not None or (minimum is not None and float(minimum) > 0)


def plain_integers(minimum=None, maximum=None) -> Proof:
    """Integers written as 1 to 18 plain digits (no sign, no space), within the bounds."""
    def proves(values: Values) -> bool:
        if values.width > 18 or not values.only(values.digits()):
            return False
        if not _bounds_matter(minimum, maximum):
            return True
        return _within(values.number()[values.filled], minimum, maximum)
    return proves


def plain_decimals(minimum=None, maximum=None) -> Proof:
    """Numbers written as plain digits with at most one inner point (`12`, `3.25`: no sign, no exponent),
    within the bounds. To compare with a bound, a value of at most 15 digits is read as its digits (an
    exact integer below 2^53) divided by a power of ten (exact too): one correctly rounded division,
    which gives the very float PostgreSQL's float8 reading gives. Longer values are left to PostgreSQL."""
    def proves(values: Values) -> bool:
        if values.width > MAX_WIDTH:
            return False
        dots = (values.matrix == _DOT) & values.inside
        if not values.only(values.digits() | dots) or (dots.sum(axis=1) > 1).any():
            return False
        if (values.filled & ((values.matrix[:, 0] == _DOT) | (values.last_byte() == _DOT))).any():
            return False
        if not _bounds_matter(minimum, maximum):
            return True
        has_dot = dots.any(axis=1)
        if (values.length - has_dot).max() > 15:
            return False
        decimals = np.where(has_dot, values.length - 1 - dots.argmax(axis=1), 0)
        numbers = values.number(skip=dots) / _POW10[decimals]
        return _within(numbers[values.filled], minimum, maximum)
    return proves


def digit_code(shortest: int, longest: int) -> Proof:
    """`^[0-9]{n}$` and the like: only digits, of an allowed length (or empty)."""
    def proves(values: Values) -> bool:
        if values.width > min(longest, MAX_WIDTH):
            return False
        return bool((values.length[values.filled] >= shortest).all()) and values.only(values.digits())
    return proves


def one_of(choices: Sequence[str]) -> Proof:
    """An enum of strings: every non-empty value is exactly one of `choices` (bytes compared in the
    file's encoding, as PostgreSQL compares the converted text)."""
    def proves(values: Values) -> bool:
        known = ~values.filled
        for choice in choices:
            try:
                wanted = choice.encode(values.encoding)
            except (UnicodeEncodeError, LookupError):
                continue
            if not wanted or len(wanted) > values.matrix.shape[1]:
                continue
            same = (values.matrix[:, :len(wanted)] == np.frombuffer(wanted, dtype=np.uint8)).all(axis=1)
            known |= same & (values.length == len(wanted))
        return bool(known.all())
    return proves


class Watcher:
    """Given each block of lines the client streams (from several threads for a parallel COPY), says at
    the end which columns it proved (`proved_columns`), whether no record is empty, and per key whether
    its values are all distinct. `proofs`: column position -> the proofs of its rules; `keys`: the column
    positions of each key; `encoding`: the file's (Python codec name)."""

    def __init__(self, proofs: dict[int, list[Proof]], keys: list[list[int]], encoding: str, width: int):
        self.proofs, self.keys, self.encoding, self.width = dict(proofs), [list(k) for k in keys], encoding, width
        self.reason: str | None = None
        self.keys_reason: str | None = None
        self.lines = 0
        self._unproved: set[int] = set()
        self._empty_record = False
        self._fingerprints: list[list[np.ndarray]] = [[] for _ in self.keys]
        self._lock = threading.RLock()

    def give_up(self, reason: str) -> None:
        """The lines cannot be split for sure (quoted fields...): nothing is proved."""
        with self._lock:
            self.reason = self.reason or reason
            self._fingerprints = [[] for _ in self.keys]

    def add(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, grid: np.ndarray) -> None:
        """One block: `a` its bytes as sent, `starts`/`ends` each line's first byte and line feed (or the
        block's end), `grid` each line's delimiters (n x width - 1)."""
        if self.reason is not None:
            return
        ends = ends - (a[np.maximum(ends - 1, 0)] == _CR)  # a CRLF line's CR is not part of its last value
        words = _words_from_every_offset(a)
        unproved = {i for i, proofs in self.proofs.items() if proofs and i not in self._unproved
                    and not self._holds(words, *self._bounds(starts, ends, grid, i), proofs)}
        empty_record = bool(((ends - starts) == self.width - 1).any())
        fingerprints = self._block_fingerprints(words, starts, ends, grid) if self.keys_reason is None else None
        with self._lock:
            self._unproved |= unproved
            self._empty_record |= empty_record
            self.lines += len(starts)
            if fingerprints is None or self.keys_reason is not None:
                return
            if self.lines > KEY_LIMIT:
                self._drop_keys(f"more than {KEY_LIMIT:,} lines")
                return
            for kept, block in zip(self._fingerprints, fingerprints, strict=True):
                kept.append(block)

    def _bounds(self, starts: np.ndarray, ends: np.ndarray, grid: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(first byte, length) of field `i` on every line of the block."""
        first = starts if i == 0 else grid[:, i - 1] + 1
        end = ends if i == self.width - 1 else grid[:, i]
        return first, end - first

    def _holds(self, words: np.ndarray, start: np.ndarray, length: np.ndarray, proofs: list[Proof]) -> bool:
        values = Values(words, start, length, self.encoding)
        return all(proof(values) for proof in proofs)

    def _block_fingerprints(self, words: np.ndarray, starts, ends, grid) -> list[np.ndarray] | None:
        block = []
        for key in self.keys:
            parts = [Values(words, *self._bounds(starts, ends, grid, i), self.encoding, cap=KEY_MAX_WIDTH)
                     for i in key]
            if any(p.width > KEY_MAX_WIDTH for p in parts):
                self._drop_keys(f"a key value longer than {KEY_MAX_WIDTH} bytes")
                return None
            complete = np.logical_and.reduce([p.filled for p in parts])  # a NULL never repeats a key
            block.append(_fingerprint(parts)[complete])
        return block

    def _drop_keys(self, reason: str) -> None:
        with self._lock:
            self.keys_reason = self.keys_reason or reason
            self._fingerprints = [[] for _ in self.keys]

    # -- what was proved, once every block was seen -------------------------------------------------
    def proved_columns(self) -> set[int]:
        with self._lock:
            return set() if self.reason is not None else set(self.proofs) - self._unproved

    def no_empty_record(self) -> bool:
        with self._lock:
            return self.reason is None and not self._empty_record

    def distinct_keys(self) -> list[bool]:
        """Per key: True when its fingerprints are all distinct (no value repeats), False when that is
        not proved (PostgreSQL decides)."""
        with self._lock:
            if self.reason is not None or self.keys_reason is not None:
                return [False] * len(self.keys)
            result = []
            for blocks in self._fingerprints:
                every = np.sort(np.concatenate(blocks)) if blocks else np.empty(0, dtype=np.uint64)
                result.append(not bool((every[1:] == every[:-1]).any()))
            return result


_PRIME = np.uint64(0x100000001B3)


def _words_from_every_offset(a: np.ndarray) -> np.ndarray:
    """The 8 bytes from every offset of the block (little-endian uint64, overlapping: a view with a
    stride of one byte, no copy), after a copy of the block padded with zeros so that the longest value
    read can be read past the block's end."""
    padded = np.zeros(len(a) + KEY_MAX_WIDTH + 8, dtype=np.uint8)
    padded[:len(a)] = a
    return np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))


def _fingerprint(parts: list[Values]) -> np.ndarray:
    """Per line, 8 bytes standing for the key's values: the value itself when the key is one column of
    at most 8 bytes (exact: distinct values, distinct fingerprints); otherwise a multiplicative hash of
    the lengths and 8-byte words of the values (equal fingerprints only send the question to PostgreSQL)."""
    n = len(parts[0].length)
    if len(parts) == 1 and parts[0].width <= 8:
        return _words(parts[0])[:, 0] if n else np.empty(0, dtype=np.uint64)
    h = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            h = (h ^ part.length.astype(np.uint64)) * _PRIME
            for word in _words(part).T:
                h = (h ^ word) * _PRIME
                h ^= h >> np.uint64(29)
    return h


def _words(values: Values) -> np.ndarray:
    """The values' bytes as 8-byte words, big-endian (n x ceil(width / 8), zero past the end)."""
    n, width = values.matrix.shape
    padded = np.zeros((n, max(8, -(-width // 8) * 8)), dtype=np.uint8)
    padded[:, :width] = values.matrix
    return padded.view(">u8").astype(np.uint64)
