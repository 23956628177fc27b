"""cogw/_goflate.c writes the bytes of Go's compress/flate, checked against Go itself.

Every level Go has (-2 HuffmanOnly, 0 store, 1 BestSpeed, 2..9, -1 = 6) on inputs that
take each of its paths: stored, fixed and dynamic blocks, the 16 Ki-token block limit,
the 32 KiB window and its shift, the hash table rebase after 16 MiB; the output does not
depend on how the input is chunked, and any inflater reads it back.
"""

from __future__ import annotations

import gzip
import random
import shutil
import sysconfig
import threading
import zlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cogw.core.artifact.packing import GO_FLATE
from cogw.shell.goflate import compressor_identity, go_deflater, go_flate_available
from cogw.shell.layers import gzip_chunks
from tests.fixtures.gotool import GoFilter

if not go_flate_available():
    if shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) is None:
        pytest.skip("no C compiler, so cogw/_goflate was not built", allow_module_level=True)
    raise AssertionError("a C compiler is here but cogw/_goflate is not built: pip install -e .")

LEVELS = [-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1]
KIB = 1 << 10
MIB = 1 << 20


def _random(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def _words(rng: random.Random, count: int) -> list[str]:
    syllables = ["an", "ber", "co", "de", "el", "fa", "gi", "ho", "in", "ju", "ka", "lo", "mi"]
    return ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(count)]


def _vocab(n: int, seed: int = 3) -> bytes:
    """A vocab.txt: one token per line, most of them distinct."""
    rng = random.Random(seed)
    words = _words(rng, n // 4 + 1)
    return "\n".join(f"##{w}" if rng.random() < 0.3 else w for w in words).encode()[:n]


def _json(n: int, seed: int = 2) -> bytes:
    """A tokenizer.json / config.json-like document: keys repeat, numbers and words vary."""
    rng = random.Random(seed)
    words = _words(rng, 2000)
    parts, size = [b'{"model": {"vocab": {'], 0
    while size < n:
        part = f'"{rng.choice(words)}{rng.randint(0, 99999)}": {rng.randint(0, 30521)}, '.encode()
        parts.append(part)
        size += len(part)
    return b"".join(parts)[:n]


def _repetitive(n: int) -> bytes:
    return (b"weights " * (n // 8 + 1))[:n]


def _mixed(n: int, seed: int = 4) -> bytes:
    """Runs of random bytes between runs of text: blocks switch between stored and Huffman."""
    rng = random.Random(seed)
    out, size = [], 0
    while size < n:
        part = (
            rng.randbytes(rng.randint(1, 40 * KIB))
            if rng.random() < 0.5
            else _json(rng.randint(1, 60 * KIB), rng.randint(0, 9))
        )
        out.append(part)
        size += len(part)
    return b"".join(out)[:n]


INPUTS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "one byte": lambda: b"x",
    "four bytes": lambda: b"abcd",
    "seventeen bytes": lambda: b"0123456789abcdefg",
    "repetitive 1 MiB": lambda: _repetitive(MIB),
    "zeros 300 KiB": lambda: bytes(300 * KIB),
    "random 200 KiB (stored blocks)": lambda: _random(200 * KIB),
    "json 300 KiB": lambda: _json(300 * KIB),
    "vocab 232 KiB": lambda: _vocab(232 * KIB),
    "mixed 1 MiB": lambda: _mixed(MIB),
}
# Around Go's limits: 16 Ki tokens a block (random bytes are one token each), the 32 KiB
# window, the 64 KiB stored block and window, and where the window shifts (64 KiB - 262).
for _n in (16383, 16384, 16385, 32767, 32768, 32769, 65273, 65274, 65275, 65535, 65536, 65537):
    INPUTS[f"random {_n}"] = lambda n=_n: _random(n, n)
    INPUTS[f"json {_n}"] = lambda n=_n: _json(n, n)
INPUTS["text 131079"] = lambda: _json(131079, 7)

SLOW_INPUTS: dict[str, Callable[[], bytes]] = {
    "json 6 MiB": lambda: _json(6 * MIB),
    "random 5 MiB": lambda: _random(5 * MIB),
    "mixed 8 MiB": lambda: _mixed(8 * MIB),
}


def _mine(level: int, data: bytes, cuts: list[int] | None = None) -> bytes:
    compressor = go_deflater(level)
    out = []
    start = 0
    for cut in sorted(cuts or []):
        out.append(compressor.compress(data[start:cut]))
        start = max(start, cut)
    out.append(compressor.compress(data[start:]))
    out.append(compressor.flush())
    return b"".join(out)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", list(INPUTS))
def test_output_is_gos_byte_for_byte(go_deflate: GoFilter, name: str, level: int) -> None:
    data = INPUTS[name]()
    mine = _mine(level, data)
    assert mine == go_deflate(level, data)
    assert zlib.decompress(mine, -zlib.MAX_WBITS) == data


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", list(SLOW_INPUTS))
def test_output_is_gos_on_inputs_of_several_mib(
    go_deflate: GoFilter, name: str, level: int
) -> None:
    data = SLOW_INPUTS[name]()
    mine = _mine(level, data, cuts=[len(data) // 3, len(data) // 2])
    assert mine == go_deflate(level, data)
    assert zlib.decompress(mine, -zlib.MAX_WBITS) == data


@pytest.mark.slow
@pytest.mark.parametrize("level", [4, 6, 9])
def test_output_is_gos_past_the_hash_rebase_at_16_mib(go_deflate: GoFilter, level: int) -> None:
    data = _json(18 * MIB, 11)
    assert _mine(level, data) == go_deflate(level, data)


@pytest.mark.parametrize("level", [-2, 0, 1, 2, 6, 9])
@pytest.mark.parametrize(
    "name", ["mixed 1 MiB", "json 300 KiB", "random 65537", "repetitive 1 MiB"]
)
@pytest.mark.parametrize("seed", range(3))
def test_chunking_does_not_change_the_output(name: str, level: int, seed: int) -> None:
    data = INPUTS[name]()
    rng = random.Random(seed)
    cuts = [rng.randint(0, len(data)) for _ in range(rng.choice([1, 5, 50, 500]))]
    assert _mine(level, data, cuts) == _mine(level, data)


def test_byte_at_a_time_gives_the_same_stream() -> None:
    data = _mixed(70 * KIB)
    assert _mine(6, data, cuts=list(range(len(data)))) == _mine(6, data)


_BLOBS = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.sampled_from([b"a", b"b", b"ab", b"\0", b"xyz" * 5, b"\xff"]), max_size=4000).map(
        b"".join
    ),
    st.tuples(st.binary(min_size=1, max_size=300), st.integers(1, 400)).map(lambda t: t[0] * t[1]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_BLOBS, level=st.sampled_from(LEVELS))
def test_generated_inputs_match_go(go_deflate: GoFilter, data: bytes, level: int) -> None:
    assert _mine(level, data) == go_deflate(level, data)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_BLOBS,
    level=st.sampled_from(LEVELS),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=8),
    repeat=st.integers(1, 60),
)
def test_generated_inputs_in_generated_chunks_match_go(
    go_deflate: GoFilter, data: bytes, level: int, cuts: list[int], repeat: int
) -> None:
    data = data * repeat  # up to ~240 KiB: several blocks and window shifts
    assert _mine(level, data, [c % (len(data) + 1) for c in cuts]) == go_deflate(level, data)


@pytest.mark.parametrize("level", [1, 6, 9, -1, 0])
def test_gzip_layers_are_gos_gzip_stream(go_gzip: GoFilter, level: int) -> None:
    data = _mixed(300 * KIB)
    chunks = [data[i : i + 4099] for i in range(0, len(data), 4099)]
    blob = b"".join(gzip_chunks(chunks, level))
    assert blob == go_gzip(level, data)
    assert gzip.decompress(blob) == data


def test_the_compressor_in_use_is_gos() -> None:
    assert compressor_identity() == GO_FLATE


@pytest.mark.parametrize("level", [-3, 10, 100])
def test_levels_outside_gos_range_are_refused(level: int) -> None:
    with pytest.raises(ValueError, match="invalid compression level"):
        go_deflater(level)


def test_a_flushed_compressor_refuses_more_input() -> None:
    compressor = go_deflater(9)
    compressor.compress(b"abc")
    compressor.flush()
    with pytest.raises(ValueError, match="already flushed"):
        compressor.compress(b"more")
    with pytest.raises(ValueError, match="already flushed"):
        compressor.flush()


def test_any_bytes_like_input_is_accepted() -> None:
    data = _json(50 * KIB)
    for view in (bytearray(data), memoryview(data)):
        compressor = go_deflater(6)
        assert compressor.compress(view) + compressor.flush() == _mine(6, data)


def test_compressors_in_threads_do_not_disturb_each_other() -> None:
    data = _mixed(2 * MIB, 9)
    expected = _mine(6, data)
    results: list[bytes] = []

    def work() -> None:
        results.append(_mine(6, data, cuts=list(range(0, len(data), 100_003))))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4
