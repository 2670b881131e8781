"""Read the header of a GGUF model file (stdlib only, never loads the weights).

The local provider needs two facts before it loads a model: whether the file is a GGUF at all
(a clear error instead of the engine's "Failed to init server"), and whether it carries its own
chat template (`tokenizer.chat_template`). Base models have none; for them a completion prompt
works and chat formatting gives junk.

Format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), little-endian:
magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, then kv_count pairs of
(string key, u32 value type, value). A string is a u64 length + UTF-8 bytes; an array is
(u32 item type, u64 count, items).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"

# value type -> struct format of a fixed-size scalar
_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING = 8
_ARRAY = 9


class GGUFFormatError(ValueError):
    """The file is not a GGUF file, or its header is damaged."""


class _Reader:
    def __init__(self, buffer: mmap.mmap | bytes) -> None:
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.buffer):
            raise GGUFFormatError("the GGUF header ends early (truncated file?)")
        (value,) = struct.unpack_from(fmt, self.buffer, self.offset)
        self.offset += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        end = self.offset + length
        if end > len(self.buffer):
            raise GGUFFormatError("the GGUF header ends early (truncated file?)")
        raw = self.buffer[self.offset : end]
        self.offset = end
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        length = self.unpack("<Q")  # read first: `offset += unpack()` would add to the old offset
        self.offset += length

    def value(self, kind: int, *, keep: bool) -> Any:
        """Read (keep=True) or step over (keep=False) one value of the given type."""
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            if keep:
                return self.string()
            self.skip_string()
            return None
        if kind == _ARRAY:
            item_kind = self.unpack("<I")
            count = self.unpack("<Q")
            if item_kind in _SCALARS and not keep:
                # fixed-size items: jump over them (token scores are 262k floats in Gemma)
                self.offset += count * struct.calcsize(_SCALARS[item_kind])
                return None
            items = [self.value(item_kind, keep=keep) for _ in range(count)]
            return items if keep else None
        raise GGUFFormatError(f"unknown GGUF value type {kind}")


def iter_metadata(path: str | Path, *, wanted: frozenset[str] | None = None) -> Iterator[tuple[str, Any]]:
    """Yield (key, value) pairs of the file's metadata, in file order.

    With `wanted`, values of other keys are skipped without being decoded (they are yielded as
    None), which keeps reading cheap: the tokenizer's vocabulary is the bulk of the header.
    """
    with open(path, "rb") as file:
        try:
            buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise GGUFFormatError("the file is empty") from None
        with buffer:
            reader = _Reader(buffer)
            if buffer[:4] != GGUF_MAGIC:
                raise GGUFFormatError("not a GGUF file (wrong magic bytes)")
            reader.offset = 4
            version = reader.unpack("<I")
            if version < 2:
                raise GGUFFormatError(f"GGUF version {version} is too old")
            reader.unpack("<Q")  # tensor count
            kv_count = reader.unpack("<Q")
            for _ in range(kv_count):
                key = reader.string()
                kind = reader.unpack("<I")
                keep = wanted is None or key in wanted
                yield key, reader.value(kind, keep=keep)


def read_metadata(path: str | Path, keys: frozenset[str]) -> dict[str, Any]:
    """The values of `keys` that the file has; stops reading once all were found."""
    found: dict[str, Any] = {}
    for key, value in iter_metadata(path, wanted=keys):
        if key in keys:
            found[key] = value
            if len(found) == len(keys):
                break
    return found


def chat_template(path: str | Path) -> str | None:
    """The model's own chat template, or None for a base model without one."""
    template = read_metadata(path, frozenset({CHAT_TEMPLATE_KEY})).get(CHAT_TEMPLATE_KEY)
    return template if isinstance(template, str) and template.strip() else None


def context_length(path: str | Path) -> int | None:
    """The context window the model was trained with (`<architecture>.context_length`)."""
    architecture: str | None = None
    for key, value in iter_metadata(path, wanted=None):
        if key == "general.architecture":
            architecture = value
        elif architecture and key == f"{architecture}.context_length":
            return int(value)
        elif key.startswith("tokenizer."):
            break  # the architecture block comes before the (large) tokenizer block
    return None
