"""Files attached to a prompt (`ask -f`): fenced and labelled; binary, non-UTF-8, missing and
oversized files refused with a message naming the file."""

from __future__ import annotations

import pytest

from llmcli.errors import UsageError
from llmcli.services.attachments import Attachment, load_attachments
from llmcli.services.extract import pick_block


def test_text_file_is_fenced_labelled_and_tagged_with_its_language(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("print('hi')\n", encoding="utf-8")
    (attachment,) = load_attachments(["app.py"], limit=1000)
    assert attachment == Attachment("app.py", "print('hi')\n", "python")
    assert attachment.fenced() == "File: app.py\n```python\nprint('hi')\n```"


def test_fence_outgrows_backticks_inside_the_file() -> None:
    text = "# Readme\n```sh\nmake\n```\n"
    fenced = Attachment("README.md", text, "markdown").fenced()
    assert fenced.startswith("File: README.md\n````markdown\n") and fenced.endswith("\n````")
    assert pick_block(fenced).code == text.rstrip("\n")  # the file comes back whole, inner fence included


def test_files_keep_their_order_and_stdin_is_a_named_attachment(tmp_path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "Makefile"
    a.write_text("alpha", encoding="utf-8")
    b.write_text("all:\n\ttrue\n", encoding="utf-8")
    found = load_attachments([str(a), "-", str(b)], limit=1000, stdin_text="piped")
    assert [(x.label, x.text, x.language) for x in found] == [
        (str(a), "alpha", None), ("stdin", "piped", None), (str(b), "all:\n\ttrue\n", "makefile")]


def test_utf8_bom_is_dropped_and_cyrillic_kept(tmp_path) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes("\ufeffПривет".encode())
    assert load_attachments([str(path)], limit=1000)[0].text == "Привет"


@pytest.mark.parametrize("content, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary (a NUL byte at offset 8)"),
    (b"caf\xe9 au lait", "not UTF-8 text (byte 0xe9 at offset 3)"),
])
def test_binary_or_non_utf8_is_refused(tmp_path, content, expected) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(content)
    with pytest.raises(UsageError) as caught:
        load_attachments([str(path)], limit=1000)
    assert f"cannot attach {path}: " in caught.value.message and expected in caught.value.message
    assert caught.value.hint


def test_oversized_file_is_refused_without_reading_it_all(tmp_path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(UsageError, match=r"big.log: it is larger than the 1000 bytes input cap"):
        load_attachments([str(path)], limit=1000)


def test_files_and_stdin_share_one_cap(tmp_path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"a" * 400)
    b.write_bytes(b"b" * 400)
    assert len(load_attachments([str(a), str(b)], limit=1000)) == 2
    with pytest.raises(UsageError, match=r"b.txt: with the other input it would be larger"):
        load_attachments([str(a), str(b)], limit=1000, stdin_text="s" * 300)


def test_missing_file_folder_and_unread_stdin(tmp_path) -> None:
    with pytest.raises(UsageError, match="nope.txt: no such file"):
        load_attachments([str(tmp_path / "nope.txt")], limit=1000)
    with pytest.raises(UsageError, match="it is a folder"):
        load_attachments([str(tmp_path)], limit=1000)
    with pytest.raises(UsageError, match="nothing is piped in"):
        load_attachments(["-"], limit=1000, stdin_text=None)
    with pytest.raises(UsageError, match="more than once"):
        load_attachments(["-", "-"], limit=1000, stdin_text="x")
