"""Splitting long replies and converting Markdown for Slack, Discord and Telegram."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Literal

import pytest

from bots.chat.markup import Markup
from bots.chat.split import split_message
from bots.discord.markup import DISCORD, discord_escape, markdown_to_discord
from bots.slack.markup import SLACK, markdown_to_slack, slack_escape
from bots.telegram.markup import TELEGRAM, markdown_to_telegram, telegram_escape, telegram_visible_length

ZWSP = "\u200b"
TELEGRAM_TAGS = {"b", "i", "s", "u", "code", "pre", "a", "blockquote"}
Platform = Literal["slack", "discord", "telegram"]
MARKUPS: dict[Platform, Markup] = {"slack": SLACK, "discord": DISCORD, "telegram": TELEGRAM}


def render_for(platform: Platform, md: str, limit: int) -> list[str]:
    """``md`` split and converted for ``platform`` within ``limit``, as its platform spec's markup does it."""
    return MARKUPS[platform].render(md, limit)


def fence_lines(chunk: str) -> list[str]:
    return [line for line in chunk.split("\n") if line.strip().startswith("```")]


def words(text: str) -> list[str]:
    return [w for line in text.split("\n") if not line.strip().startswith("```") for w in line.split()]


# --- split_message ---------------------------------------------------------------------------------------------


def test_text_that_fits_is_one_chunk_unchanged() -> None:
    text = "Hello **world**.\n\n- one\n- two\n\n```python\nprint('hi')\n```"
    assert split_message(text, 200) == [text]
    assert split_message(text + "  \n\n", 200) == [text]


def test_blank_input_gives_no_chunks() -> None:
    assert split_message("", 100) == []
    assert split_message(" \n\n \t\n", 100) == []


def test_splits_at_paragraph_boundaries() -> None:
    p1, p2, p3 = "a" * 40, "b" * 40, "c" * 40
    assert split_message(f"{p1}\n\n{p2}\n\n\n{p3}", 90) == [f"{p1}\n\n{p2}", p3]


def test_splits_a_long_paragraph_at_line_boundaries() -> None:
    lines = [f"line number {i:02d} of the paragraph" for i in range(10)]
    chunks = split_message("\n".join(lines), 100)
    assert len(chunks) > 1
    assert all(len(c) <= 100 for c in chunks)
    assert [line for c in chunks for line in c.split("\n")] == lines


def test_long_single_line_splits_at_whitespace() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    chunks = split_message(text, 100)
    assert len(chunks) > 1
    assert all(len(c) <= 100 for c in chunks)
    assert all(c == c.strip() for c in chunks)
    assert " ".join(chunks) == text  # no word was cut


def test_hard_cut_of_a_string_without_spaces() -> None:
    text = "x" * 5000
    chunks = split_message(text, 1000)
    assert [len(c) for c in chunks] == [1000] * 5
    assert "".join(chunks) == text


def test_hard_cut_keeps_joined_emoji_together() -> None:
    family = "👩\u200d👩\u200d👧"  # five code points, one picture
    chunks = split_message(family * 40, 48)  # 48 would end mid-family, after a joiner
    assert all(len(c) <= 48 for c in chunks)
    assert "".join(chunks) == family * 40
    assert all(len(c) % len(family) == 0 for c in chunks)


def test_cuts_do_not_turn_text_into_bullets_or_fences() -> None:
    text = " - ".join(["word"] * 200)
    chunks = split_message(text, 50)
    assert all(len(c) <= 50 and not c.startswith("-") for c in chunks)
    assert " ".join(chunks).split() == text.split()
    text = "x" * 50 + "```python" + "y" * 100  # no whitespace; a cut at 50 would start a line with ```
    chunks = split_message(text, 50)
    assert "".join(chunks) == text
    assert all(not c.startswith("```") for c in chunks)


def test_an_opener_at_a_cut_moves_to_the_next_chunk() -> None:
    text = "Intro " * 7 + "\n```python\n" + "\n".join(f"print({i})" for i in range(20)) + "\n```"
    chunks = split_message(text, 60)
    assert chunks[0] == ("Intro " * 7).strip()
    assert all(c.startswith("```python\nprint(") for c in chunks[1:])


def test_code_fence_is_closed_and_reopened_with_its_language() -> None:
    code = [f"value_{i} = compute({i}) * 2" for i in range(30)]
    text = "Here is the script:\n\n```python\n" + "\n".join(code) + "\n```\n\nThat is all."
    chunks = split_message(text, 200)
    assert len(chunks) >= 3
    assert all(len(c) <= 200 for c in chunks)
    in_code = [c for c in chunks if "value_" in c]
    for chunk in in_code:
        lines = chunk.split("\n")
        last_code = max(i for i, line in enumerate(lines) if line.startswith("value_"))
        assert lines[0] == "```python"
        assert lines[last_code + 1] == "```"
    assert in_code[-1].endswith("```\n\nThat is all.")
    assert [line for c in chunks for line in c.split("\n") if line.startswith("value_")] == code


def test_measure_counts_what_the_caller_says() -> None:
    text = "&" * 300  # Slack will send each & as &amp;
    chunks = split_message(text, 100, measure=lambda c: len(slack_escape(c)))
    assert all(len(slack_escape(c)) <= 100 for c in chunks)
    assert "".join(chunks) == text


@pytest.mark.parametrize("limit", [0, 5, 19])
def test_too_small_a_limit_is_refused(limit: int) -> None:
    with pytest.raises(ValueError):
        split_message("some text", limit)


def generated_text(rng: random.Random) -> tuple[str, list[str]]:
    """Paragraphs, bullet lists, long lines, fenced code with languages, emoji and CJK; returns the code lines."""
    vocab = [
        "alpha",
        "beta",
        "gamma",
        "déjà",
        "naïve",
        "🚀",
        "👍🏽",
        "漢字",
        "テスト",
        "데이터",
        "**bold**",
        "_it_",
        "x",
    ]
    parts: list[str] = []
    code_lines: list[str] = []
    for _ in range(rng.randint(3, 12)):
        kind = rng.choice(["para", "list", "long", "code"])
        if kind == "para":
            parts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 25))))
        elif kind == "list":
            parts.append("\n".join(f"- {rng.choice(vocab)} {rng.choice(vocab)}" for _ in range(rng.randint(1, 6))))
        elif kind == "long":
            parts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(60, 200))))
        else:
            lang = rng.choice(["", "python", "bash", "javascript"])
            body = [f"v{len(code_lines) + i} = {rng.choice(vocab)}({i})" for i in range(rng.randint(1, 15))]
            body.insert(rng.randint(0, len(body)), "")  # a blank line inside the code
            code_lines += [line for line in body if line]
            parts.append("\n".join(["```" + lang, *body, "```"]))
    return "\n\n".join(parts), code_lines


def test_generated_texts_split_within_limit_and_lose_nothing() -> None:
    rng = random.Random(7)
    split_somewhere = 0
    for _ in range(50):
        text, code_lines = generated_text(rng)
        limit = rng.choice([50, 80, 200, 500, 2000])
        chunks = split_message(text, limit)
        split_somewhere += len(chunks) > 1
        assert chunks, text
        for chunk in chunks:
            assert 0 < len(chunk) <= limit
            assert chunk == chunk.strip("\n")
            assert len(fence_lines(chunk)) % 2 == 0, chunk
            assert not re.search(r"^```\w*\n```$", chunk, re.MULTILINE), chunk  # no empty code blocks
        assert words("\n".join(chunks)) == words(text)
        chunk_lines = {line for c in chunks for line in c.split("\n")}
        assert all(line in chunk_lines for line in code_lines)
    assert split_somewhere > 25


# --- converters -------------------------------------------------------------------------------------------------

SLACK_CASES = [
    ("a <script> & b", "a &lt;script&gt; &amp; b"),
    ("**bold** and __also__", "*bold* and *also*"),
    ("*it* and _it_", "_it_ and _it_"),
    ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
    ("a_b_ c, _a_b, x**y** z, **y**z, 2*3* 4, *3*4", "a_b_ c, _a_b, x**y** z, **y**z, 2*3* 4, *3*4"),
    ("~~gone~~", "~gone~"),
    ("# Title", "*Title*"),
    ("### **Bold** title ###", "*Bold title*"),
    ("[docs](https://x.io/a?b=1&c=2)", "<https://x.io/a?b=1&amp;c=2|docs>"),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("see https://x.io/_a_/b", "see https://x.io/_a_/b"),
    ("- item\n* other\n  + nested", "• item\n• other\n  • nested"),
    ("```python\nif a < b and **x**:\n    pass\n```", "```\nif a &lt; b and **x**:\n    pass\n```"),
    ("use `a<b && *c*` **now**", "use `a&lt;b &amp;&amp; *c*` *now*"),
    ("> quoted & **loud**", "> quoted &amp; *loud*"),
    ("```\nunclosed", "```\nunclosed\n```"),
]


@pytest.mark.parametrize(("md", "expected"), SLACK_CASES)
def test_markdown_to_slack(md: str, expected: str) -> None:
    assert markdown_to_slack(md) == expected


TELEGRAM_CASES = [
    ("a <script> & b", "a &lt;script&gt; &amp; b"),
    ("**bold** and __also__", "<b>bold</b> and <b>also</b>"),
    ("*it* and _it_", "<i>it</i> and <i>it</i>"),
    ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
    ("a_b_ c, _a_b, x**y** z, **y**z, 2*3* 4, *3*4", "a_b_ c, _a_b, x**y** z, **y**z, 2*3* 4, *3*4"),
    ("(*it*) and _it_.", "(<i>it</i>) and <i>it</i>."),
    ("***both***", "<b><i>both</i></b>"),
    ("~~gone~~", "<s>gone</s>"),
    ("## Head <1>", "<b>Head &lt;1&gt;</b>"),
    ('[l](https://x.io/?q="a"&b)', '<a href="https://x.io/?q=&quot;a&quot;&amp;b">l</a>'),
    ("[**b** `c`](https://x.io)", '<a href="https://x.io"><b>b</b> <code>c</code></a>'),
    ("[x](relative/path.md)", "[x](relative/path.md)"),
    ("- item", "• item"),
    (
        "```python\nx = a < b  # **not bold**\n```",
        '<pre><code class="language-python">x = a &lt; b  # **not bold**</code></pre>',
    ),
    ("```\nplain & simple\n```", "<pre><code>plain &amp; simple</code></pre>"),
    ("run `rm -rf *a*` now", "run <code>rm -rf *a*</code> now"),
    ("> quoted\n> more\nafter", "<blockquote>quoted\nmore</blockquote>\nafter"),
    ("```bash\necho hi", '<pre><code class="language-bash">echo hi</code></pre>'),
]


@pytest.mark.parametrize(("md", "expected"), TELEGRAM_CASES)
def test_markdown_to_telegram(md: str, expected: str) -> None:
    assert markdown_to_telegram(md) == expected


class TagChecker(HTMLParser):
    """Records tag misuse: unknown tags, closes that do not match the innermost open tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"unknown <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"stray </{tag}>")


def assert_well_formed(html_text: str) -> None:
    checker = TagChecker()
    checker.feed(html_text)
    checker.close()
    assert checker.errors == [], html_text
    assert checker.stack == [], html_text


@pytest.mark.parametrize(
    "md",
    ["**a *b** c*", "*a **b* c**", "~~a **b~~ c**", "_a *b_ c*", "**[x](https://y.z)**", "# **x** *y", "> **q\n**"],
)
def test_telegram_output_is_well_formed_even_for_crossed_emphasis(md: str) -> None:
    assert_well_formed(markdown_to_telegram(md))


def test_assert_well_formed_catches_crossed_tags() -> None:
    with pytest.raises(AssertionError):
        assert_well_formed("<b>a <i>b</b> c</i>")


def test_markdown_to_discord_defuses_mass_mentions_outside_code_only() -> None:
    md = "hey @everyone and @here, **bold** _it_\n`@everyone`\n```\n@here\n```"
    expected = f"hey @{ZWSP}everyone and @{ZWSP}here, **bold** _it_\n`@everyone`\n```\n@here\n```"
    assert markdown_to_discord(md) == expected


def test_discord_escape() -> None:
    assert discord_escape("*b* _i_ ~s~ `c` |x| \\ [l](u)") == r"\*b\* \_i\_ \~s\~ \`c\` \|x\| \\ \[l\](u)"
    assert discord_escape("> quote\n# head\n- item\na > b") == "\\> quote\n\\# head\n\\- item\na > b"
    assert discord_escape("ping @everyone @here") == f"ping @{ZWSP}everyone @{ZWSP}here"


def test_escapes() -> None:
    assert slack_escape("<a & b>") == "&lt;a &amp; b&gt;"
    assert telegram_escape('<a & "b">') == '&lt;a &amp; "b"&gt;'


def test_telegram_visible_length_counts_entities_once_and_drops_tags() -> None:
    assert telegram_visible_length('<b>a &lt; b</b> &amp; <a href="https://x.io/?a=1&amp;b=2">l</a>') == 9
    assert telegram_visible_length(markdown_to_telegram("**x** < `y`")) == len("x < y")


# --- render_for -------------------------------------------------------------------------------------------------


def mixed_markdown(size: int) -> str:
    rng = random.Random(11)
    parts: list[str] = []
    n = 0
    while sum(len(p) + 2 for p in parts) < size:
        kind = rng.choice(["para", "list", "code", "heading"])
        if kind == "para":
            line = []
            for _ in range(rng.randint(5, 60)):
                n += 1
                line.append(
                    rng.choice([f"t{n}", f"**t{n}**", f"_t{n}_", f"t{n}<&>", f"[t{n}](https://x.io/{n}?a=1&b=2)"])
                )
            line.append(rng.choice(["🚀", "漢字", "@everyone", "snake_case_name"]))
            parts.append(" ".join(line))
        elif kind == "list":
            items = []
            for _ in range(rng.randint(2, 6)):
                n += 1
                items.append(f"- item t{n} & more")
            parts.append("\n".join(items))
        elif kind == "heading":
            n += 1
            parts.append(f"## Section t{n}")
        else:
            body = []
            for _ in range(rng.randint(3, 40)):
                n += 1
                body.append(f"if a < b and c > d: print('t{n}')  # **x**")
            parts.append("\n".join([f"```{rng.choice(['', 'python'])}", *body, "```"]))
    return "\n\n".join(parts)


def tokens(text: str) -> list[str]:
    """The numbered words of mixed_markdown, wherever they end up (inside <b>, _..._, links)."""
    return re.findall(r"(?<![A-Za-z0-9])t\d+(?!\d)", text)


@pytest.mark.parametrize(
    ("platform", "limit", "measure"),
    [
        ("slack", 3000, len),
        ("discord", 2000, len),
        ("telegram", 4096, telegram_visible_length),
    ],
)
def test_render_for_keeps_every_chunk_within_the_limit(
    platform: Platform, limit: int, measure: Callable[[str], int]
) -> None:
    md = mixed_markdown(10_000)
    assert len(md) >= 10_000
    chunks = render_for(platform, md, limit)
    assert len(chunks) >= 3
    assert all(0 < measure(c) <= limit for c in chunks)
    assert tokens("\n".join(chunks)) == tokens(md)  # nothing lost, nothing reordered
    for chunk in chunks:
        if platform == "telegram":
            assert len(chunk) <= 2 * limit
            assert_well_formed(chunk)
            assert "```" not in chunk
        else:
            assert len(fence_lines(chunk)) % 2 == 0
        if platform == "discord":
            assert "@everyone" not in chunk
        if platform == "slack":
            assert "<&>" not in chunk and "```python" not in chunk


def test_render_for_telegram_counts_visible_text_not_html() -> None:
    md = "&" * 1000 + " " + "a" * 2500  # 3501 visible characters, 7501 of HTML
    assert render_for("telegram", md, 4096) == ["&amp;" * 1000 + " " + "a" * 2500]
    assert len(render_for("telegram", "&" * 3000, 4096)) == 2  # 15000 of HTML would be over 2 * 4096


def test_render_for_small_limits_still_fit() -> None:
    md = mixed_markdown(3000)
    platforms: tuple[Platform, ...] = ("slack", "discord", "telegram")
    for platform in platforms:
        chunks = render_for(platform, md, 60)
        measure = telegram_visible_length if platform == "telegram" else len
        assert all(measure(c) <= 60 for c in chunks), platform
        assert tokens("\n".join(chunks)) == tokens(md), platform
