"""worker.models.inputs.files (the one reader of client-named files) and the bounds the audio and
image decoders put on what they decode: only regular files, never blocking, confined to the input
roots, bounded in bytes and in pixels, checked before anything is read or decoded."""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.cli import parse_config
from worker.config import Config
from worker.errors import Forbidden, InvalidInput, ResourceExhausted, RpcError
from worker.models.inputs.files import FilePolicy, open_input_file, quote, read_input_file
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and Linux devices")

# Nothing here may block: a check that opened a FIFO without O_NONBLOCK would wait forever for a
# writer. Each read runs on a thread with this guard, so such a bug fails the test instead of hanging it.
GUARD_SECONDS = 20.0


def attempt(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or the RpcError it raised; fails if it does not return in time."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except RpcError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    assert not thread.is_alive(), "reading the input blocked"
    return outcome[0]


def refused(path: str | Path, policy: FilePolicy | None = None, *, code: type[RpcError]) -> RpcError:
    error = attempt(lambda: read_input_file(str(path), policy or FilePolicy(), "image file"))
    assert isinstance(error, code), error
    return error


# ---- only regular files -----------------------------------------------------------------------


def test_a_fifo_is_refused_at_once_naming_what_it_is(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    error = refused(fifo, code=InvalidInput)
    assert error.code == -32006
    assert "FIFO" in error.message and "only regular files" in error.message


@linux_only
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/ptmx"])
def test_character_devices_are_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    assert "character device" in refused(device, code=InvalidInput).message


def test_a_directory_and_a_socket_are_refused(tmp_path):
    assert "directory" in refused(tmp_path, code=InvalidInput).message
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(tmp_path / "s"))
        assert "socket" in refused(tmp_path / "s", code=InvalidInput).message
    finally:
        listener.close()


@linux_only
def test_a_proc_fd_path_to_a_pipe_is_refused_and_takes_none_of_its_bytes(tmp_path):
    # The worker's own stdin is such a pipe: reading it would steal request bytes.
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"request bytes")
        error = refused(f"/proc/self/fd/{read_end}", code=InvalidInput)
        assert "FIFO" in error.message
        link = tmp_path / "innocent.png"
        link.symlink_to(f"/proc/self/fd/{read_end}")
        refused(link, code=InvalidInput)
        assert os.read(read_end, 100) == b"request bytes"
    finally:
        os.close(read_end)
        os.close(write_end)


@linux_only
def test_proc_and_sys_are_refused_even_for_regular_files_and_through_symlinks(tmp_path):
    regular = tmp_path / "log.txt"
    regular.write_bytes(b"the worker's log")
    with open(regular, "rb") as log:
        # A regular file the worker holds open, named through /proc: refused, though the same file
        # by its own name is read.
        assert "/proc" in refused(f"/proc/self/fd/{log.fileno()}", code=Forbidden).message
    assert read_input_file(str(regular), FilePolicy(), "file") == b"the worker's log"
    refused("/proc/self/environ", code=Forbidden)
    link = tmp_path / "env.png"
    link.symlink_to("/proc/self/environ")
    assert refused(link, code=Forbidden).code == -32007
    if os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"):
        refused("/sys/kernel/mm/transparent_hugepage/enabled", code=Forbidden)


@linux_only
def test_proc_reached_through_dev_fd_or_dev_stderr_is_refused_too(tmp_path):
    # /dev/fd -> /proc/self/fd and /dev/stderr -> /proc/self/fd/2 are links whose last hop resolves to
    # the open file's own name: only the names met on the way show they go through /proc.
    regular = tmp_path / "held-open.png"
    regular.write_bytes(b"a file the worker holds open")
    with open(regular, "rb") as held:
        assert "/proc" in refused(f"/dev/fd/{held.fileno()}", code=Forbidden).message
        link = tmp_path / "via-dev-fd.png"
        link.symlink_to(f"/dev/fd/{held.fileno()}")
        refused(link, code=Forbidden)
    refused("/dev/stderr", code=Forbidden)
    # A link the worker may not read (another process's root, as a user) is forbidden, not a crash.
    refused("/proc/1/root/etc/passwd", code=Forbidden)


def test_missing_files_and_non_names(tmp_path):
    assert "not found" in refused(tmp_path / "absent.wav", code=InvalidInput).message
    assert "not found" in refused(tmp_path / "absent" / "deeper.wav", code=InvalidInput).message
    refused("", code=InvalidInput)
    refused("a\x00b", code=InvalidInput)


# ---- size -------------------------------------------------------------------------------------


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 1001)
    error = refused(big, FilePolicy(max_bytes=1000), code=ResourceExhausted)
    assert error.code == -32008
    assert error.data == {"size_bytes": 1001, "max_input_bytes": 1000}
    assert "1001" in error.message and "--max-input-bytes" in error.message
    exact = tmp_path / "exact.bin"
    exact.write_bytes(b"y" * 1000)
    assert read_input_file(str(exact), FilePolicy(max_bytes=1000), "file") == b"y" * 1000


# ---- confinement ------------------------------------------------------------------------------


@pytest.fixture
def rooted(tmp_path: Path) -> Iterator[tuple[Path, FilePolicy]]:
    root = tmp_path / "inputs"
    root.mkdir()
    (root / "ok.png").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    # A sibling whose name starts with the root's: "inside" by a string prefix, outside in fact.
    (tmp_path / "inputs-evil").mkdir()
    (tmp_path / "inputs-evil" / "x.png").write_bytes(b"outside")
    yield root, FilePolicy(roots=(str(root),))


def test_inside_the_roots_is_read(rooted):
    root, policy = rooted
    assert read_input_file(str(root / "ok.png"), policy, "file") == b"inside"
    (root / "sub").mkdir()
    (root / "sub" / "link.png").symlink_to(root / "ok.png")  # a symlink that stays inside
    assert read_input_file(str(root / "sub" / "link.png"), policy, "file") == b"inside"
    assert read_input_file(str(root / "sub" / ".." / "ok.png"), policy, "file") == b"inside"


def test_outside_the_roots_is_forbidden_however_it_is_named(rooted):
    root, policy = rooted
    (root / "escape.png").symlink_to(root.parent / "secret.txt")
    for path in (
        root.parent / "secret.txt",
        root / ".." / "secret.txt",
        root / "escape.png",
        root.parent / "inputs-evil" / "x.png",
        "/etc/passwd",
    ):
        error = refused(path, policy, code=Forbidden)
        assert error.code == -32007 and "--input-root" in error.message
        assert str(root) not in error.message.replace(str(path), "")  # the roots are not disclosed
    # Outside the roots nothing is even looked at: a missing file there is Forbidden, not "not found".
    refused(root.parent / "absent.png", policy, code=Forbidden)


def test_a_root_given_through_a_symlink_holds_its_real_files(rooted, tmp_path):
    root, _ = rooted
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    policy = FilePolicy(roots=(str(alias),))
    assert read_input_file(str(root / "ok.png"), policy, "file") == b"inside"
    assert read_input_file(str(alias / "ok.png"), policy, "file") == b"inside"


@linux_only
def test_what_was_opened_is_checked_not_only_what_was_resolved(rooted, monkeypatch):
    # A symlink swapped in between resolving the path and opening it: simulated by a resolver that
    # misses the symlink. The opened descriptor's real path (/proc/self/fd/N) still gives it away.
    root, policy = rooted
    (root / "swapped.png").symlink_to(root.parent / "secret.txt")
    import worker.models.inputs.files as files

    monkeypatch.setattr(files.os.path, "realpath", lambda path: os.path.abspath(path))
    refused(root / "swapped.png", policy, code=Forbidden)


# ---- the open file ----------------------------------------------------------------------------


@linux_only
def test_the_shared_path_names_the_checked_file_even_after_the_name_is_reused(tmp_path):
    path = tmp_path / "a.m4a"
    path.write_bytes(b"checked")
    with open_input_file(str(path), FilePolicy(), "audio file") as opened:
        replacement = tmp_path / "other"
        replacement.write_bytes(b"swapped in later")
        os.replace(replacement, path)
        shared = opened.shared_path
        assert shared is not None and shared.startswith(f"/proc/{os.getpid()}/fd/")
        with open(shared, "rb") as again:
            assert again.read() == b"checked"
        assert opened.read() == b"checked"


def test_long_paths_are_quoted_to_a_bounded_length():
    quoted = quote("a" * 100_000)
    assert len(quoted) < 300 and "100000 characters" in quoted
    assert quote("/x.png") == "'/x.png'"


# ---- configuration ----------------------------------------------------------------------------


def test_the_policy_comes_from_the_config(tmp_path):
    config = parse_config(
        ["--input-root", str(tmp_path), "--max-input-bytes", "123", "--max-image-pixels", "45"]
    )
    sources = InputSources.for_state(type("State", (), {"config": config})())
    assert sources.files.roots == (os.path.realpath(tmp_path),)
    assert sources.files.max_bytes == 123
    assert sources.max_image_pixels == 45
    assert InputSources.for_state(type("State", (), {"config": Config()})()).files.roots == ()


def test_an_input_root_that_is_not_a_directory_stops_the_start(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_config(["--input-root", str(tmp_path / "typo")])
    assert exited.value.code == 2
    assert "existing directory" in capsys.readouterr().err


# ---- images -----------------------------------------------------------------------------------


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG of width x height zero pixels: about 20 KB for 13000 x 13000, whose
    decoded RGB form would take half a gigabyte (more once a model's processor has it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture
def never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's global bound is restored after the test, and decoding any image fails it."""
    from PIL import Image, ImageFile

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)

    def load(self: Any) -> Any:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_small_png_claiming_13000_by_13000_pixels_is_refused_without_decoding(never_decoded):
    from worker.models.inputs.image import decode_image

    data = bomb_png(13_000, 13_000)
    assert len(data) < 40_000
    with pytest.raises(ResourceExhausted) as caught:
        decode_image(data, "the image", 100_000_000)
    error = caught.value
    assert error.code == -32008
    assert error.data == {
        "width": 13_000,
        "height": 13_000,
        "pixels": 169_000_000,
        "max_image_pixels": 100_000_000,
    }
    assert "169000000" in error.message and "100000000" in error.message


def test_far_over_the_bound_pillow_refuses_first_and_the_answer_is_the_same(never_decoded):
    # Over twice the bound pillow raises inside open(), before the size can be read.
    from worker.models.inputs.image import decode_image

    with pytest.raises(ResourceExhausted) as caught:
        decode_image(bomb_png(3000, 3000), "the image", 1_000_000)
    assert caught.value.data == {"pixels": 9_000_000, "max_image_pixels": 1_000_000}


def test_images_within_the_bound_decode_and_the_bound_is_the_operators(monkeypatch):
    from PIL import Image

    from worker.models.inputs.image import decode_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    data = bomb_png(120, 50)
    image = decode_image(data, "the image", 6000)
    assert (image.mode, image.size) == ("RGB", (120, 50))
    with pytest.raises(ResourceExhausted):
        decode_image(data, "the image", 5999)
    # Above pillow's own default (89.5 M pixels) when the operator allows it: no pillow refusal.
    decode_image(data, "the image", 200_000_000)
    assert Image.MAX_IMAGE_PIXELS == 200_000_000


def test_image_paths_and_tensors_fall_under_the_same_bounds(tmp_path, monkeypatch):
    from PIL import Image

    from worker.models.inputs.image import load_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    path = tmp_path / "wide.png"
    path.write_bytes(bomb_png(100, 10))
    tensor = np.zeros((10, 100, 3), dtype=np.uint8)
    sources = InputSources(tensor=lambda handle: tensor, max_image_pixels=999)
    for value in (InputObject(path=str(path)), InputObject(tensor="t")):
        with pytest.raises(ResourceExhausted) as caught:
            load_image(value, sources, "image-classification")
        assert caught.value.data is not None and caught.value.data["pixels"] == 1000
    roomy = InputSources(tensor=lambda handle: tensor, max_image_pixels=1000)
    assert load_image(InputObject(path=str(path)), roomy, "image-classification").size == (100, 10)
    assert load_image(InputObject(tensor="t"), roomy, "image-classification").size == (100, 10)
    confined = InputSources(files=FilePolicy(roots=(str(tmp_path / "elsewhere"),)))
    with pytest.raises(Forbidden):
        load_image(InputObject(path=str(path)), confined, "image-classification")


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((0, 0, 3), dtype=np.uint8),
        np.zeros((4, 0), dtype=np.uint8),
        np.full((4, 4, 3), np.nan, dtype=np.float32),
        np.full((4, 4), np.inf),
        np.full((4, 4, 3), -1, dtype=np.int64),
        np.full((4, 4), 256, dtype=np.int32),
    ],
    ids=["empty", "no-columns", "nan", "infinity", "negative-ints", "ints-past-255"],
)
def test_an_image_tensor_that_is_no_picture_is_invalid_input(pixels: np.ndarray) -> None:
    # A cast would have made them some picture (-1 wraps to 255, NaN to 0): refused instead.
    from worker.models.inputs.image import load_image

    sources = InputSources(tensor=lambda handle: pixels)
    with pytest.raises(InvalidInput):
        load_image(InputObject(tensor="t"), sources, "image-classification")


def test_image_tensors_of_every_documented_shape_and_type_are_pictures() -> None:
    from worker.models.inputs.image import load_image

    for pixels in (
        np.full((4, 5), 255, dtype=np.int64),
        np.zeros((4, 5, 1), dtype=np.uint8),
        np.ones((4, 5, 3), dtype=np.float32),
        np.zeros((4, 5, 4), dtype=np.uint16),
    ):
        picture = load_image(InputObject(tensor="t"), InputSources(tensor=lambda h, p=pixels: p), "x")
        assert picture.size == (5, 4) and picture.mode == "RGB"


# ---- audio ------------------------------------------------------------------------------------


def wav_bytes(seconds: float, rate: int = 16_000) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(int(seconds * rate), dtype=np.float32), rate, format="WAV")
    return buffer.getvalue()


def test_audio_files_are_read_through_the_same_checks(tmp_path):
    from worker.models.inputs.audio import load_audio

    path = tmp_path / "tone.wav"
    path.write_bytes(wav_bytes(0.5))
    sources = InputSources()
    assert load_audio(InputObject(path=str(path)), 16_000, sources, "asr").shape == (8000,)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    error = attempt(lambda: load_audio(InputObject(path=str(fifo)), 16_000, sources, "asr"))
    assert isinstance(error, InvalidInput) and "FIFO" in error.message
    small = InputSources(files=FilePolicy(max_bytes=100))
    with pytest.raises(ResourceExhausted):
        load_audio(InputObject(path=str(path)), 16_000, small, "asr")


def test_audio_longer_than_the_bound_is_refused_from_its_header(monkeypatch):
    import worker.models.inputs.audio as audio

    monkeypatch.setattr(audio, "MAX_SECONDS", 1)
    with pytest.raises(InvalidInput, match="too long"):
        audio.load_audio(InputObject(bytes=wav_bytes(1.5)), 16_000, InputSources(), "asr")


@linux_only
def test_the_audioread_fallback_opens_the_checked_descriptor_not_the_path(tmp_path, monkeypatch):
    import audioread

    from worker.models.inputs.audio import load_audio

    path = tmp_path / "song.m4a"
    path.write_bytes(b"not something libsndfile reads")
    opened: list[tuple[str, bytes]] = []

    class Decoded:
        samplerate, channels = 16_000, 1

        def __init__(self, name: str) -> None:
            with open(name, "rb") as f:
                opened.append((name, f.read()))

        def __enter__(self) -> Decoded:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def __iter__(self) -> Iterator[bytes]:
            yield np.full(1600, 1000, dtype="<i2").tobytes()

    monkeypatch.setattr(audioread, "audio_open", Decoded)
    waveform = load_audio(InputObject(path=str(path)), 16_000, InputSources(), "asr")
    assert waveform.shape == (1600,) and waveform[0] == pytest.approx(1000 / 32768)
    [(name, data)] = opened
    assert name.startswith(f"/proc/{os.getpid()}/fd/") and data == b"not something libsndfile reads"
