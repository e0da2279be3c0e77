"""URL validation and canonicalisation: every address one article is reached by maps to one key.

Written on ``urllib.parse`` rather than ``url-normalize``: that library does the RFC 3986 part
only (no AMP or tracking rules) and measured 80 µs a URL here, more than the YAML parse of a
whole record's URLs is allowed to cost. The rules below are the ones the real corpus needs.

The canonical form is identity only (merging, deduplication, matching expectations): it is never
shown, since not every site serves it. What is shown is an address a source gave, exactly as
given (``shown_url``), and printed through ``printable_url``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode

# Query keys that only say how a reader arrived, never which article it is.
_TRACKING_KEYS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "source",
        "src",
        "partner",
        "mod",
        "cmpid",
        "ocid",
        "smid",
        "smtyp",
        "cid",
        "sr_share",
        "spm",
        "share",
        "amp",
        "outputtype",
        "usesponsorshipsuggestions",
        "keepthis",
        "tb_iframe",
        "caption",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "tesla",
        "rss",
        "feed",
        "feedtype",
        "soc_src",
        "soc_trk",
        "__twitter_impression",
        "s_cid",
        "ito",
        "cmp",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "taid",
        "xid",
        "ftag",
        "icid",
    }
)
_TRACKING_PREFIXES = ("utm_", "itm_", "pk_", "hsa_", "mkt_", "at_", "wt_", "_hs")
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
_AMP_SEGMENT = re.compile(r"/(?:platform/amp|google-amp|amp|amphtml)(?=/|$)", re.IGNORECASE)
_AMP_SUFFIX = re.compile(r"(?:\.amp(?:\.html)?|/amp/?)$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# An absolute http(s) URL with a host and no white space, split into the parts canonicalising
# needs. One regex instead of ``urlsplit``: at 10^5 documents almost every URL is new (feeds
# link the same article through different variants), and ``urlsplit`` plus ``parse_qsl`` cost
# more than the rest of a record's fields together.
_WEB_URL = re.compile(
    r"(https?)://(?:[^\s/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^\s/?#:@\[\]]+)(?::(\d*))?"
    r"([^\s?#]*)(?:\?([^\s#]*))?(?:#\S*)?",
    re.IGNORECASE,
)
# Path characters that never need re-quoting; anything else sends the path through quote().
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~]*")


def is_web_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host: the only kind we ever show or link."""
    return isinstance(value, str) and _split(value) is not None


def _split(url: str) -> re.Match[str] | None:
    match = _WEB_URL.fullmatch(url.strip())
    if match is None or (match.group(3) and int(match.group(3)) > 65535):
        return None
    if match.group(4) and not match.group(4).startswith("/"):
        return None
    return match


# related: lists repeat the URLs of the day's articles: 65% hits on the Smartable corpus.
@lru_cache(maxsize=8192)
def canonical_url(url: str) -> str:
    """The one address that stands for every variant of an article's URL.

    Folds host case, ``www.``, default ports, fragments, tracking parameters, trailing slashes,
    ``http`` vs ``https``, AMP paths (``/amp/``, ``/platform/amp/``, ``/google-amp/``, ``?amp``)
    and Google AMP cache addresses (``*.cdn.ampproject.org/c/s/host/path``). Raises
    ``ValueError`` for anything that is not an http(s) URL.
    """
    match = _split(url) if isinstance(url, str) else None
    if match is None:
        raise ValueError(f"not an http(s) URL: {url!r}")
    scheme, host, port, path, query = match.groups()
    host = host.lower().rstrip(".")
    path = path or "/"
    if host.endswith(_AMP_CACHE_SUFFIX) or host == _AMP_CACHE_SUFFIX[1:]:
        # /c/s/host/path is https, /c/host/path is http; /v/ and /i/ are other content kinds.
        segments = [s for s in path.split("/") if s]
        while segments and segments[0] in ("c", "v", "i", "s", "r"):
            segments.pop(0)
        if segments:
            host = segments[0].lower()
            path = "/" + "/".join(segments[1:])
    if host.startswith("www."):
        host = host[4:]
    if port and int(port) != _DEFAULT_PORTS[scheme.lower()]:
        host = f"{host}:{int(port)}"
    if "amp" in path.lower():
        path = _AMP_SEGMENT.sub("", path)
        path = _AMP_SUFFIX.sub("", path) or "/"
    if _PLAIN_PATH.fullmatch(path) is None or "%" in path:
        path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~%")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = _canonical_query(query) if query else ""
    return f"https://{host}{path}?{query}" if query else f"https://{host}{path}"


def _canonical_query(query: str) -> str:
    """Tracking parameters dropped, the rest sorted and uniformly encoded."""
    # Most queries are only tracking or ``amp``: decide those without decoding anything.
    if all(_is_tracking(part.split("=", 1)[0].lower()) for part in query.split("&") if part):
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    # Nature-style cookie redirects append ?code=...&error=cookies_not_supported.
    cookie_redirect = ("error", "cookies_not_supported") in pairs
    kept = [
        (k, v)
        for k, v in pairs
        if not _is_tracking(k.lower()) and not (cookie_redirect and k in ("code", "error"))
    ]
    kept.sort()
    return urlencode(kept)


def _is_tracking(key: str) -> bool:
    return key in _TRACKING_KEYS or key.startswith(_TRACKING_PREFIXES)


# What a printed URL keeps as it is: letters, digits and the delimiters that give a URL its
# shape, none of which means anything to Discord Markdown. Everything else in the path, query or
# fragment, ( ) < > * _ ~ | @ ` [ ] \ ' " ^ { } space, controls and non-ASCII, is percent-encoded.
_PRINT_KEEP = frozenset(string.ascii_letters + string.digits + "-./:?&=+,;!$#")
_HEX = frozenset(string.hexdigits)
# A host as DNS knows it, after IDNA: letter-digit-hyphen labels.
_PRINT_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?")


@lru_cache(maxsize=8192)
def printable_url(url: str) -> str | None:
    """``url`` as it can be printed in Discord Markdown, or None when it cannot be shown.

    A URL goes inside ``[title](…)`` and ``<…>``, so a ``)`` or ``>`` in it would end the link
    early and what follows -- another masked link, a role mention, emphasis -- would render as
    the bot's own. Percent-encoding every character Markdown reads (and quotes, backslashes,
    spaces, controls and non-ASCII) leaves the same address for a browser: servers decode
    ``%29`` in a path or query as ``)``. The exceptions are where a browser reads the URL
    differently from its characters: a backslash in the path is a ``/`` to a browser, so it is
    printed as one; a host is not percent-decoded, so it must be a DNS name (IDNA-encoded, which
    also shows a look-alike domain for what it is) or the URL is not printed at all; and user
    info is dropped, since ``https://bank.example@evil.example/`` only pretends to go to the
    bank. Identity is ``canonical_url``'s business; this changes only how a URL is written.
    """
    match = _split(url) if isinstance(url, str) else None
    if match is None:
        return None
    scheme, host, port, path, query = match.groups()
    try:
        host = host.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if _PRINT_HOST.fullmatch(host) is None:
        return None
    out = [scheme.lower(), "://", host]
    if port:
        out += [":", str(int(port))]
    out.append(_print_part(path.replace("\\", "/")))
    if query is not None:
        out += ["?", _print_part(query)]
    text = url.strip()
    if "#" in text:
        out += ["#", _print_part(text.partition("#")[2])]
    return "".join(out)


def _print_part(part: str) -> str:
    """Percent-encode every character not in ``_PRINT_KEEP``; valid ``%XX`` escapes stay."""
    if all(c in _PRINT_KEEP for c in part):
        return part
    out = []
    for i, c in enumerate(part):
        escape = c == "%" and len(part) > i + 2 and _HEX.issuperset(part[i + 1 : i + 3])
        if c in _PRINT_KEEP or escape:
            out.append(c)
        else:  # not quote(): it never encodes "_" or "~"; a lone surrogate prints as %3F
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
    return "".join(out)


def is_amp_url(url: str) -> bool:
    """True for an AMP copy of a page: an AMP path or ``?amp``, an ``amp.`` host, the AMP cache.

    An AMP copy is the same article (``canonical_url`` folds it) but not the page the publisher
    points readers to: it is shown only when a source gave no other address.
    """
    match = _split(url) if isinstance(url, str) else None
    if match is None:
        return False
    host, path, query = match.group(2).lower(), match.group(4), match.group(5)
    if host.endswith(_AMP_CACHE_SUFFIX) or host.startswith("amp."):
        return True
    if "amp" in path.lower() and (_AMP_SEGMENT.search(path) or _AMP_SUFFIX.search(path)):
        return True
    if query and "amp" in query.lower():
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key.lower() == "amp" or (key.lower() == "outputtype" and value.lower() == "amp"):
                return True
    return False


def shown_urls(urls: Iterable[str]) -> tuple[str, ...]:
    """The addresses a source gave that may be shown, the publisher's pages before AMP copies.

    Otherwise the given order is kept: a record's ``webUrl`` comes first, then its other
    addresses (``originalUrl`` among them), and a merged article lists its preferred record's
    first, so the first address here is the best one a source gave. Only URLs that
    ``printable_url`` can print count; each is exactly as given, never the canonical form, which
    names the article but is not always served (a site may answer only under ``www.``).
    """
    showable = [u for u in dict.fromkeys(urls) if printable_url(u) is not None]
    return tuple(sorted(showable, key=is_amp_url))  # stable: the given order within each kind


def shown_url(urls: Iterable[str]) -> str | None:
    """The one address to link an article by: the first of ``shown_urls``, if any."""
    shown = shown_urls(urls)
    return shown[0] if shown else None


def distinct_urls(urls: Iterable[str]) -> tuple[str, ...]:
    """One shown address per article address (canonical form), the best of each.

    The first is ``shown_url``'s; the rest are where else the article lives, for "Also at":
    ``www.``, tracking and AMP variants of the shown page are the same place and left out.
    """
    best: dict[str, str] = {}
    for url in shown_urls(urls):
        best.setdefault(canonical_url(url), url)
    return tuple(best.values())


def domain_of(url: str) -> str:
    """The host of a URL without ``www.``, for outlets that give no domain."""
    match = _split(url)
    host = match.group(2).lower().rstrip(".") if match else ""
    return host[4:] if host.startswith("www.") else host
