"""A URL from the corpus is printed so that it links where it says and nowhere else.

The messages are read back with ``tests.discord_markdown``, a reader of the Discord Markdown
that decides links and pings: what it finds must be exactly the links the renderer meant (each
to the same address as the corpus URL), no mention, no stray markup, and the text the title.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.corpus.invisible import strip_invisible
from bot.corpus.model import Article, Outlet
from bot.corpus.urls import canonical_url, is_amp_url, printable_url
from bot.engine.results import CoverageAnswer, Hit, SourceAnswer, Story
from bot.render import Card, answer_cards, cut, link, safe_url, when
from tests.discord_markdown import Parsed, parse

# ------------------------------------------------------------------------- the audit's attacks
# A variant URL whose ">" ends the "Also at" autolink: a masked link and a role mention follow.
ALSO_AT_ATTACK = (
    "https://news.example/story>[**Verified**](https://evil.example/phish)<@&123456789012345678>"
)
# A canonical URL keeps ")", "*", "_", "~" and "@": the article's link ends early, and the rest
# is bold text, a second link, strike-through and @everyone.
CANONICAL_ATTACK = (
    "https://news.example/world/story)**Verified**(https://evil.example/phish)_~~@everyone~~_"
)
DAY = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def article(
    title: str, url: str | None, *variants: str, outlet: str = "The Verge", id: str = ""
) -> Article:
    return Article(
        id=id or title,
        title=title,
        url=url,
        urls=(url, *variants) if url else variants,
        outlet=Outlet(outlet),
        published=DAY,
    )


def source_card(main: Article, *others: Article) -> Card:
    story = Story("s", (main, *others), first=others[0] if others else main)
    [card] = answer_cards(SourceAnswer("q", Hit(main, 90.0, "title", ""), story))
    return card


def field(card: Card, name: str) -> str:
    return next(f.value for f in card.fields if f.name == name)


def test_a_url_ending_its_also_at_autolink_links_nothing_else() -> None:
    card = source_card(article("Story", "https://news.example/story", ALSO_AT_ATTACK))
    seen = parse(field(card, "Also at"))
    [(_, url)] = seen.links
    assert address(url) == address(ALSO_AT_ATTACK)
    assert seen.mentions == [] and seen.markup == []


def test_a_canonical_url_ending_its_masked_link_links_nothing_else() -> None:
    url = canonical_url(CANONICAL_ATTACK)
    assert ")**Verified**(" in url  # identity keeps the characters; only printing encodes them
    story = article("Clearview deal", url)
    for message in (link(story), field(coverage_card(story), "Timeline")):
        seen = parse(message)
        [(text, printed)] = seen.links
        assert text == "Clearview deal" and address(printed) == address(url)
        assert seen.mentions == [] and seen.markup == []
        assert "Verified" not in seen.text


def coverage_card(*articles: Article) -> Card:
    story = Story("s", articles, first=articles[0])
    [card] = answer_cards(CoverageAnswer("q", Hit(articles[0], 90.0, "title", ""), story))
    return card


def test_an_embed_url_is_the_printed_one_and_a_host_that_is_no_hostname_is_not_linked() -> None:
    assert safe_url("https://news.example/a b") is None  # white space: not a URL at all
    assert safe_url("https://news.example/a_(b)") == "https://news.example/a%5F%28b%29"
    assert safe_url("https://Bücher.example/ü") == "https://xn--bcher-kva.example/%C3%BC"
    assert safe_url("https://bank.example@evil.example/login") == "https://evil.example/login"
    assert safe_url("https://evil.example)[x](y/") is None
    assert link(article("Title", "https://evil.example)[x](y/")) == "Title"


def test_corpus_text_that_holds_a_url_is_not_linked() -> None:
    seen = parse(link(article("Read https://evil.example/phish now", "https://news.example/a")))
    assert [address(u) for _, u in seen.links] == [address("https://news.example/a")]
    assert seen.text == "Read https://evil.example/phish now"


def test_brackets_in_corpus_text_neither_unmake_nor_move_a_link() -> None:
    # Discord matches a masked link's brackets without looking at backslashes: a lone "\[" in
    # the title would unmake the link, and a later "](" (an outlet's name) would move its end.
    first = article("Lone [ bracket", "https://news.example/a", outlet="](https://evil.example)")
    card = coverage_card(first, article("Other", "https://news.example/b", outlet="x](y)"))
    lone = ("Lone ［ bracket", address("https://news.example/a"))
    other = ("Other", address("https://news.example/b"))
    for name, links in (("First reported by", [lone]), ("Timeline", [lone, other])):
        seen = parse(field(card, name))
        _clean(seen)
        assert [(text, address(url)) for text, url in seen.links] == links


# ------------------------------------------------------------------------- the property
Address = tuple[str, str, int | None, bytes, bytes | None, bytes | None]
_URL = re.compile(
    r"(?i)(https?)://(?:[^/?#@]*@)?([^/?#:@]+)(?::(\d*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?"
)


def address(url: str) -> Address:
    """Where a browser goes: percent-escapes decoded, host in IDNA, "\\" in a path read as "/"."""
    m = _URL.fullmatch(url)
    assert m is not None, url
    scheme, host, port, path, query, fragment = m.groups()
    return (
        scheme.lower(),
        host.lower().encode("idna").decode("ascii"),
        int(port) if port else None,
        unquote_to_bytes(path.replace("\\", "/")),
        None if query is None else unquote_to_bytes(query),
        None if fragment is None else unquote_to_bytes(fragment),
    )


@dataclass(frozen=True)
class GenUrl:
    text: str
    linkable: bool  # its host is a DNS name, so it may be shown; else it must not be


# Every printable ASCII character but white space and the delimiter each part ends at, plus
# letters, marks, symbols and punctuation from all of Unicode.
_UNICODE = st.characters(
    blacklist_categories=("Cs", "Cc", "Cf", "Zs", "Zl", "Zp"),
    blacklist_characters="\u3164\uffa0\u180e",
)
_ASCII = string.punctuation + string.ascii_letters + string.digits


def _part(excluded: str, max_size: int = 8) -> st.SearchStrategy[str]:
    ascii_chars = st.sampled_from([c for c in _ASCII if c not in excluded])
    return st.text(st.one_of(ascii_chars, ascii_chars, _UNICODE), max_size=max_size)


_LABEL = st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=8)
_GOOD_HOST = st.builds(
    lambda labels, idn: ".".join([*labels, *idn]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.lists(st.sampled_from(["bücher", "пример", "例え", "ελληνικά"]), max_size=1),
)
# A host holding a character no hostname has (Markdown's own among them).
_BAD_HOST = st.builds(
    lambda a, bad, b: a + bad + b,
    _LABEL,
    st.sampled_from([*"()<>*_~|`'\"!$&+,;=%{}^\\", "\u202e", "\u00e9\u0301)"]),
    _LABEL,
)


@st.composite
def urls(draw: st.DrawFn) -> GenUrl:
    linkable = draw(st.booleans())
    host = draw(_GOOD_HOST if linkable else _BAD_HOST)
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    userinfo = draw(st.sampled_from(["", "user@", "bank.example@"]))
    port = draw(st.sampled_from(["", ":", ":8080", ":443"]))
    path = draw(st.one_of(st.just(""), _part("?#").map(lambda p: "/" + p)))
    query = draw(st.one_of(st.just(""), _part("#").map(lambda q: "?" + q)))
    fragment = draw(st.one_of(st.just(""), _part("", 6).map(lambda f: "#" + f)))
    return GenUrl(f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}", linkable)


# Titles made of the pieces an attacker would use, between ordinary words and any Unicode.
_TITLE_PIECES = st.sampled_from(
    [
        "*", "**", "_", "__", "~~", "||", "`", "```", "\\", "[", "]", "(", ")", "<", ">", "#",
        "# ", "-# ", "> ", "- ", "1. ", "[x](https://evil.example)", "[x](y)", "](", "<@123>",
        "<@&123456789012345678>", "<#123456789012345678>", "@everyone", "@here",
        "<https://evil.example>", "https://evil.example/a", "<t:1:R>", "\\*", ":", "//",
    ]
)  # fmt: skip
# Corpus titles have their spaces folded; characters rendering strips as invisible (a lone
# variation selector) have tests of their own, and would only make the expected text differ.
titles = st.lists(
    st.one_of(_TITLE_PIECES, st.text(_UNICODE, max_size=6), st.just(" ")), min_size=1, max_size=12
).map(lambda parts: " ".join(strip_invisible("".join(parts)).split()))


# A link's text shows a title's brackets as look-alikes (see ``bot.render.link``).
LINKED = str.maketrans("[]", "［］")


def _shown(parsed: Parsed) -> str:
    """The text as read, without the zero-width spaces that keep "@everyone" from pinging."""
    return parsed.text.replace("\u200b", "")


def _clean(parsed: Parsed) -> None:
    assert parsed.mentions == [], parsed.mentions
    assert parsed.markup == [], parsed.markup


# Drawing text from all of Unicode costs a few milliseconds an example: a few hundred each keep
# the file to seconds.
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(title=titles.filter(bool), url=urls())
def test_a_link_parses_back_to_its_title_and_its_url_alone(title: str, url: GenUrl) -> None:
    seen = parse(link(article(title, url.text)))
    title = cut(title, 120)  # link()'s limit: a long title is shortened, as any is
    _clean(seen)
    if url.linkable:
        [(text, printed)] = seen.links
        assert text.replace("\u200b", "") == _shown(seen) == title.translate(LINKED)
        assert address(printed) == address(url.text)
    else:
        assert seen.links == []
        assert _shown(seen) == title


def places(given: list[GenUrl]) -> list[str]:
    """Where a source card should send readers: one given URL per article address (canonical
    form), a linkable page before an AMP copy, else in the given order; the card's link first."""
    best: dict[str, str] = {}
    for url in sorted((g.text for g in given if g.linkable), key=is_amp_url):
        best.setdefault(canonical_url(url), url)
    return list(best.values())


@PROPERTY
@given(variants=st.lists(urls(), min_size=1, max_size=4))
def test_also_at_lists_each_other_address_once_as_given_and_nothing_else(
    variants: list[GenUrl],
) -> None:
    main = article("Story", "https://news.example/story", *(v.text for v in variants))
    card = source_card(main)
    elsewhere = places([GenUrl("https://news.example/story", True), *variants])[1:]
    meant = {address(u) for u in elsewhere}
    names = [f.name for f in card.fields]
    if not meant:
        assert "Also at" not in names
        return
    seen = parse(field(card, "Also at"))
    _clean(seen)
    assert all(text == u for text, u in seen.links)  # an autolink shows its own URL
    assert _shown(seen) == "\n".join(u for _, u in seen.links)
    found = {address(u) for _, u in seen.links}
    assert found <= meant
    # Lines are whole: a URL that would take the field past 1,024 characters is left out.
    value = field(card, "Also at")
    for url in elsewhere:
        if address(url) in meant - found:
            assert len(value) + len(printable_url(url) or "") + 3 > 1024


@settings(PROPERTY, max_examples=100)
@given(
    titles=st.lists(titles.filter(bool), min_size=2, max_size=2),
    outlets=st.lists(titles.filter(bool), min_size=2, max_size=2),
    raw=st.lists(urls(), min_size=2, max_size=2),
    variants=st.lists(urls(), max_size=3),
    excerpt=titles,
)
def test_a_source_card_shows_the_corpus_text_and_the_intended_links_only(
    titles: list[str],
    outlets: list[str],
    raw: list[GenUrl],
    variants: list[GenUrl],
    excerpt: str,
) -> None:
    # As loaded: the canonical URL names the article, the URLs the source gave are kept as given.
    main, first = (
        article(t, u.text, *vs, outlet=o, id=i)._replace(url=canonical_url(u.text), excerpt=excerpt)
        for t, u, o, vs, i in zip(
            titles, raw, outlets, ([v.text for v in variants], []), ("main", "first"), strict=True
        )
    )
    card = source_card(main, first)

    for text, want in ((card.title, titles[0]), (card.description, excerpt)):
        seen = parse(text)
        _clean(seen)
        assert seen.links == []
        shortened = _shown(seen).endswith("…") and want.startswith(_shown(seen)[:-1])
        assert _shown(seen) == want or shortened  # an embed title holds 256 characters
    shown = places([raw[0], *variants])
    assert (card.url is not None) == bool(shown)
    if card.url is not None:
        assert address(card.url) == address(shown[0])  # as given, not the canonical form
        assert printable_url(card.url) == card.url  # already as printable as it gets

    fields = {f.name: parse(f.value) for f in card.fields}
    for seen in fields.values():
        _clean(seen)
    assert _shown(fields["Published by"]) == f"{outlets[0]} · {when(main)}"
    for name, limit, line in (
        ("First reported by", 120, "{title}\n{outlet} · {when}"),
        ("Also covered by", 80, "{when} — {outlet}: {title}"),
    ):
        shown_title = cut(titles[1], limit)
        shown_title = shown_title.translate(LINKED) if raw[1].linkable else shown_title
        seen = fields[name]
        assert _shown(seen) == line.format(title=shown_title, outlet=outlets[1], when=when(first))
        if raw[1].linkable:
            [(text, url)] = seen.links
            assert text.replace("\u200b", "") == shown_title
            assert address(url) == address(raw[1].text)
        else:
            assert seen.links == []
    also = fields.get("Also at", Parsed())
    assert {address(u) for _, u in also.links} == {address(u) for u in shown[1:]}
