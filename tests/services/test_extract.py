"""Fenced code block extraction (`ask -x` / `--xl`): what a script gets from `$(llmcli ask -x …)`."""

from __future__ import annotations

from llmcli.services.extract import CodeBlock, code_blocks, pick_block

REPLY = """Here is the script:

```bash
#!/bin/sh
echo "hi"
```

And a Python version:

~~~python
print("hi")
~~~
"""


def test_first_and_last_block_with_their_languages() -> None:
    assert pick_block(REPLY) == CodeBlock('#!/bin/sh\necho "hi"', "bash", True)
    assert pick_block(REPLY, last=True) == CodeBlock('print("hi")', "python", True)


def test_no_block_is_none() -> None:
    assert pick_block("ls -la") is None
    assert pick_block("use `ls -la` inline") is None
    assert code_blocks("") == []


def test_a_longer_fence_holds_a_shorter_one() -> None:
    text = "````markdown\nExample:\n```sh\nls\n```\n````\nafter"
    (block,) = code_blocks(text)
    assert block.code == "Example:\n```sh\nls\n```" and block.language == "markdown" and block.closed


def test_a_tilde_fence_is_not_closed_by_backticks() -> None:
    (block,) = code_blocks("~~~\na\n```\nb\n~~~")
    assert block.code == "a\n```\nb"


def test_closing_fence_with_text_after_it_does_not_close() -> None:
    (block,) = code_blocks("```\nx\n``` not a fence\ny\n```")
    assert block.code == "x\n``` not a fence\ny"


def test_indented_block_in_a_list_item_is_dedented() -> None:
    text = "1. Install:\n\n   ```sh\n   pip install x\n     --quiet\n   ```\n2. Run it."
    assert pick_block(text) == CodeBlock("pip install x\n  --quiet", "sh", True)


def test_block_cut_off_at_the_end_still_counts_but_is_marked() -> None:
    block = pick_block("Sure:\n```python\ndef f():\n    return")
    assert block == CodeBlock("def f():\n    return", "python", False)


def test_empty_block_and_info_string_words() -> None:
    assert pick_block("```\n```") == CodeBlock("", None, True)
    assert pick_block("``` js title=app.js\nx\n```").language == "js"


def test_inline_triple_backticks_are_not_a_fence() -> None:
    # CommonMark: an info string with backticks means this line is inline code, not a fence
    assert pick_block("```ls``` and then\n```\nreal\n```") == CodeBlock("real", None, True)


def test_crlf_line_endings() -> None:
    assert pick_block("```sh\r\nls\r\n```\r\n") == CodeBlock("ls", "sh", True)
