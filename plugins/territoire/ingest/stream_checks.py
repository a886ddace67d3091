"""What the client proves about a file while it splits its lines anyway (`parsing.iter_decimal_point_chunks`).

The loader's optimistic check asks PostgreSQL, in one aggregate scan after the COPY, whether any rule
is broken (`tableschema.build_fast_check`). Most of that scan's cost is casting every number (about
0.1 us a value) and the unique index of the keys (0.6 core-s a million rows). The client already has
every line's field boundaries (numpy arrays, see `parsing._rewrite_lines`), so it can prove the same
things for a fraction of that, on its own core, while PostgreSQL parses:

- `KeyFingerprints`: no key value repeats;
- `FieldProofs`: required fields are filled, numbers and integers are plain decimals within their bounds,
  enumerated values are in their list, no record is empty.

They only ever *prove*: a value the client is not sure of (`1e3`, ` 12`, `+4`, a quoted file) leaves its
column unproved and PostgreSQL checks it as before, so the verdict on a file never changes, only who
gives it. A watcher is given each block's bytes (as sent, after `,` -> `.`) and line boundaries by
`add(a, starts, ends, grid)`, and `give_up(reason)` when the lines cannot be split for sure.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from territoire.ingest.tableschema import Field

_CR, _MINUS, _DOT, _ZERO = 13, 45, 46, 48
_FNV_PRIME, _MIX = np.uint64(0x100000001B3), np.uint64(0xBF58476D1CE4E5B9)


def _field_bounds(a: np.ndarray, starts: np.ndarray, ends: np.ndarray, grid: np.ndarray, i: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(first byte, length) of field `i` on every line of the block."""
    w1 = grid.shape[1]
    s = starts if i == 0 else grid[:, i - 1] + 1
    e = ends if i == w1 else grid[:, i]
    if i == w1:  # CRLF line ends: the CR is not part of the value
        e = e - (a[np.maximum(e - 1, 0)] == _CR)
    return s, e - s


def _padded(a: np.ndarray) -> np.ndarray:
    """The block's bytes followed by zeros, so that 8 bytes can be read from any field's start."""
    padded = np.zeros(len(a) + _PAD, dtype=np.uint8)
    padded[:len(a)] = a
    return padded


def _words(padded: np.ndarray) -> np.ndarray:
    """The 8 bytes from every offset of the block, as little-endian uint64 (unaligned, no copy): a field's
    bytes are then read 8 at a time, one gather of n values per 8 bytes, and tested all at once."""
    return np.ndarray(shape=(len(padded) - 8,), dtype="<u8", buffer=padded, strides=(1,))


def _word_rows(words: np.ndarray, s: np.ndarray, length: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For j < k: (bytes 8j to 8j+7 of each field, zero past its end; the mask of the bytes inside it)."""
    rows = []
    for j in range(k):
        inside = _LOW_BYTES[np.clip(length - 8 * j, 0, 8)]
        rows.append((words[s + 8 * j] & inside, inside))
    return rows


def _digit(b: np.ndarray) -> np.ndarray:
    return (b - np.uint8(_ZERO)) < 10


def _eight_digits(x: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The values of fields of 1 to 8 ASCII digits (`x`: their bytes, little-endian, zero past the end):
    shifted so that the missing digits are leading zeros, then 2, 4 and 8 digits at a time."""
    v = (x ^ _XOR_ZERO) & _LOW_BYTES[length]
    v <<= (np.uint64(8) * (np.uint64(8) - length.astype(np.uint64)))
    v = ((v & _repeat(0x0F)) * np.uint64(2561)) >> np.uint64(8)
    v = ((v & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    v = ((v & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)
    return v.astype(np.int64)


_PAD = 264  # > the longest value read (256-byte keys) + 8
_LOW_BYTES = np.array([(1 << (8 * c)) - 1 for c in range(9)], dtype=np.uint64)  # the c low bytes set


def _repeat(byte: int) -> np.uint64:
    return np.uint64(int.from_bytes(bytes([byte]) * 8, "little"))


_HIGH, _LOW7, _XOR_ZERO, _ADD_76, _XOR_DOT = _repeat(0x80), _repeat(0x7F), _repeat(_ZERO), _repeat(0x76), _repeat(_DOT)


class _Watcher:
    """What both watchers share: a reason once they gave up (for good), and a lock, since the parts of
    a parallel COPY add their blocks from their own threads."""

    def __init__(self):
        self.reason: str | None = None
        self.lines = 0  # lines seen
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.reason is None

    def give_up(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._forget()

    def _forget(self) -> None:
        """Drop what was gathered (the lock is held)."""


class KeyFingerprints(_Watcher):
    """64-bit fingerprints of the key values of every line, so that the loader can tell, without
    PostgreSQL building a unique index, that no key repeats: distinct fingerprints prove distinct keys.
    Equal fingerprints (a repeated key, or a collision, about 1 in 10^8 for a million keys) prove
    nothing: the loader then asks PostgreSQL.

    A value is fingerprinted as it is stored: after `,` -> `.`, without the CR of a CRLF line end, byte
    for byte (the loader compares keys bytewise too; CP1252 -> UTF-8 maps distinct bytes to distinct
    text). A line with an empty key field is left out, as NULLs never clash. `keys`: the field positions
    of each key. The fingerprints give up, for good, on quoted fields, a block whose lines cannot be
    split, a key longer than `max_length` bytes, or past `limit` lines (memory stays bounded: 16 MB).
    Parts of a parallel COPY add their blocks from their own threads."""

    def __init__(self, keys: list[list[int]], limit: int = 2_000_000, max_length: int = 256):
        super().__init__()
        self.keys = [list(k) for k in keys]
        self.limit, self.max_length = limit, max_length
        self._hashes: list[list[np.ndarray]] = [[] for _ in self.keys]

    def _forget(self) -> None:
        self._hashes = [[] for _ in self.keys]

    def add(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, grid: np.ndarray) -> None:
        """One block's lines: `a` its bytes (as sent), `starts`/`ends` each line's first byte and line
        feed (or end of block), `grid` each line's delimiters."""
        if self.reason is not None:
            return
        block: list[np.ndarray] = []
        words = _words(_padded(a))
        for key in self.keys:
            h = np.full(len(starts), 0xCBF29CE484222325, dtype=np.uint64)
            filled = np.ones(len(starts), dtype=bool)
            for i in key:
                s, length = _field_bounds(a, starts, ends, grid, i)
                filled &= length > 0
                longest = int(length.max()) if len(length) else 0
                if longest > self.max_length:
                    self.give_up(f"a key value longer than {self.max_length} bytes")
                    return
                h ^= length.astype(np.uint64)
                h *= _FNV_PRIME
                # Over the value's 8-byte words: xor, multiply by an odd number and xorshift are each
                # one-to-one, so keys of up to 8 bytes never collide. No word past the value's end is
                # mixed in (the number of words differs from block to block).
                for j, (x, _) in enumerate(_word_rows(words, s, length, -(-longest // 8))):
                    mixed = (h ^ x) * _FNV_PRIME
                    mixed ^= mixed >> np.uint64(29)
                    np.copyto(h, mixed, where=length > 8 * j)
            h ^= h >> np.uint64(31)  # a final mix (splitmix64's)
            h *= _MIX
            h ^= h >> np.uint64(29)
            block.append(h[filled])
        with self._lock:
            if self.reason is not None:
                return
            self.lines += len(starts)
            if self.lines > self.limit:
                self.reason = f"more than {self.limit:,} lines"
                self._forget()
                return
            for hashes, h in zip(self._hashes, block, strict=True):
                hashes.append(h)

    def distinct(self) -> list[bool] | None:
        """Per key: whether its fingerprints are all distinct (then no key repeats); None if they gave up."""
        with self._lock:
            if self.reason is not None:
                return None
            result = []
            for hashes in self._hashes:
                every = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
                every.sort()
                result.append(not bool((every[1:] == every[:-1]).any()))
            return result


class FieldProofs(_Watcher):
    """Per column, whether every value of the file is proved to keep the rules that the fast check
    would otherwise ask PostgreSQL about (`rules`: position -> `ColumnRules`), and whether no record is
    empty. A value outside what the client reads for sure (plain decimals: `-12`, `3.25`) unproves its
    column, it does not fail it: PostgreSQL checks that column, and decides."""

    def __init__(self, rules: dict[int, ColumnRules]):
        super().__init__()
        self.rules = dict(rules)
        self._unproved: set[int] = set()
        self._empty_records = 0

    def add(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, grid: np.ndarray) -> None:
        if self.reason is not None:
            return
        unproved = []
        padded = words = None
        for i, rules in self.rules.items():
            if i in self._unproved or rules.trivial:
                continue
            if padded is None:
                padded = _padded(a)
                words = _words(padded)
            s, length = _field_bounds(a, starts, ends, grid, i)
            if not rules.holds(padded, words, s, length):
                unproved.append(i)
        line = ends - starts
        if len(line):
            line = line - (a[np.maximum(ends - 1, 0)] == _CR)
        # A record whose every field is empty is only its delimiters.
        empty = int(np.count_nonzero(line == grid.shape[1]))
        with self._lock:
            self._unproved.update(unproved)
            self._empty_records += empty
            self.lines += len(starts)

    def proved(self) -> tuple[frozenset[int], bool] | None:
        """(the positions of the columns proved, whether no record is empty), or None if they gave up."""
        with self._lock:
            if self.reason is not None:
                return None
            return frozenset(self.rules) - self._unproved, self._empty_records == 0


class ColumnRules:
    """The rules of one column the client can prove: `required`, `kind` (`integer`: `-?[0-9]{1,18}`
    within `minimum`/`maximum`; `number`: `-?[0-9]+(.[0-9]+)?`, not negative when `non_negative`),
    `enum` (the accepted values, as bytes in the file's encoding) and `digits` (a digit-code pattern:
    ASCII digits only, of a length between its (min, max))."""

    def __init__(self, *, required: bool = False, kind: str | None = None, minimum: float | None = None,
                 maximum: float | None = None, non_negative: bool = False, enum: tuple[bytes, ...] = (),
                 digits: tuple[int, int] | None = None):
        self.required, self.kind, self.enum, self.digits = required, kind, enum, digits
        self.minimum, self.maximum = minimum, maximum
        # A minimum <= 0 holds for any value without a `-`: no need to compute the values.
        self.non_negative = non_negative or (kind == "integer" and minimum is not None and minimum <= 0
                                             and maximum is None)
        self.values_needed = kind == "integer" and not self.non_negative and (minimum, maximum) != (None, None)
        self.trivial = not required and kind is None and not enum and digits is None
        # Enumerated values packed into 8-byte words (zeros past their end), as fields are below.
        self.words = -(-max((len(v) for v in enum), default=0) // 8)
        self._enum = np.array([np.frombuffer(v.ljust(8 * self.words, b"\0"), dtype="<u8") for v in enum if v],
                              dtype=np.uint64).reshape(-1, max(self.words, 1))

    def holds(self, padded: np.ndarray, words: np.ndarray, s: np.ndarray, length: np.ndarray) -> bool:
        """Whether every value of the fields at `s` (`length` bytes each) of the block keeps the rules.
        `padded`, `words`: the block's bytes (`_padded`, `_words`)."""
        filled = length > 0
        if not filled.all():
            if self.required:
                return False
            s, length = s[filled], length[filled]
        if not len(s) or self.trivial:
            return True
        if self.enum and not self._in_enum(words, s, length):
            return False
        if self.digits and not self._digit_code(words, s, length):
            return False
        if self.kind is None:
            return True
        longest = int(length.max())
        if longest > (19 if self.kind == "integer" else 64):
            return False
        first, last = padded[s], padded[s + length - 1]
        minus = first == _MINUS
        if minus.any() and self.non_negative:
            return False
        # A digit first (after an optional `-`) and last; between them digits and, in a number, one `.`.
        if not (_digit(first) | minus & _digit(padded[s + 1])).all() or not _digit(last).all():
            return False
        dots = np.zeros(len(s), dtype=np.uint8)
        for j, (x, inside) in enumerate(_word_rows(words, s, length, -(-longest // 8))):
            high = inside & _HIGH
            t = x ^ _XOR_ZERO  # a digit becomes 0..9
            not_digit = ((t + _ADD_76) | t) & high  # the high bit of each byte that is not 0..9
            z = x ^ _XOR_DOT
            dot = ~(((z & _LOW7) + _LOW7) | z) & high  # the high bit of each `.` (exact, no carry)
            other = not_digit & ~dot
            if j == 0:  # the leading `-`
                other = np.where(minus, other & ~np.uint64(0x80), other)
            if other.any():
                return False
            dots += np.bitwise_count(dot)
        if self.kind == "number":
            return not (dots > 1).any()
        if dots.any() or (length - minus > 18).any():
            return False
        if self.values_needed:
            if minus.any() or longest > 8:  # bounds on negative or long integers: PostgreSQL checks them
                return False
            values = _eight_digits(words[s] & _LOW_BYTES[length], length)
            if self.minimum is not None and values.min() < self.minimum:
                return False
            if self.maximum is not None and values.max() > self.maximum:
                return False
        return True

    def _digit_code(self, words: np.ndarray, s: np.ndarray, length: np.ndarray) -> bool:
        """ASCII digits only, of the pattern's length (`^[0-9]{5}$`, `^\\d{9}$`, `^\\d{2,3}$`)."""
        lo, hi = self.digits
        longest = int(length.max())
        if longest > 64 or int(length.min()) < lo or longest > hi:
            return False
        for x, inside in _word_rows(words, s, length, -(-longest // 8)):
            t = x ^ _XOR_ZERO
            if (((t + _ADD_76) | t) & inside & _HIGH).any():  # a byte that is not 0..9
                return False
        return True

    def _in_enum(self, words: np.ndarray, s: np.ndarray, length: np.ndarray) -> bool:
        if not self.words or (length > 8 * self.words).any():
            return False
        rows = [x for x, _ in _word_rows(words, s, length, self.words)]
        if self.words == 1:
            return bool(np.isin(rows[0], self._enum[:, 0]).all())
        found = np.zeros(len(s), dtype=bool)
        for value in self._enum:
            match = np.ones(len(s), dtype=bool)
            for x, v in zip(rows, value, strict=True):
                match &= x == v
            found |= match
        return bool(found.all())


def column_rules(field: Field, encoding: str, *, required: bool,
                 digit_code: tuple[int, int] | None = None) -> ColumnRules | None:
    """The rules of Table Schema field `field` as the client can prove them, or None when it cannot
    (another type, a pattern other than a digit code, lengths, a maximum on a number...). `digit_code`:
    the (min, max) length of the field's digit-code pattern (`tableschema.digit_code_lengths`)."""
    if field.type not in ("string", "any", "integer", "number") or field.format or field.min_length is not None \
            or field.max_length is not None or (field.pattern and digit_code is None) \
            or (digit_code and field.type == "number"):
        return None
    enum: tuple[bytes, ...] = ()
    if field.enum:
        if field.type != "string":
            return None
        try:
            enum = tuple(str(v).encode("utf-8" if encoding.startswith("utf-8") else encoding) for v in field.enum)
        except UnicodeEncodeError:
            return None
    if field.type == "integer":
        try:
            low = None if field.minimum is None else float(field.minimum)
            high = None if field.maximum is None else float(field.maximum)
        except (TypeError, ValueError):
            return None
        return ColumnRules(required=required, kind="integer", minimum=low, maximum=high, enum=enum,
                           digits=digit_code)
    if field.type == "number":
        if field.maximum is not None:
            return None
        try:
            if field.minimum is not None and float(field.minimum) > 0:
                return None
        except (TypeError, ValueError):
            return None
        return ColumnRules(required=required, kind="number", non_negative=field.minimum is not None, enum=enum)
    return ColumnRules(required=required, enum=enum, digits=digit_code)
