"""Discord's request validation rules, as the stub enforces them.

Every check adds to a :class:`FormErrors`, whose :meth:`FormErrors.body` is the
``{"code": 50035, "message": "Invalid Form Body", "errors": {...}}`` shape Discord
answers with (discord.py flattens it into ``HTTPException.text``). The error codes
follow Discord's (``BASE_TYPE_MAX_LENGTH``, ``APPLICATION_COMMAND_INVALID_NAME``, ...);
a few rarely seen ones are approximations. Limits are Discord's documented ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

Path = tuple[str | int, ...]

# Limits (Discord API docs).
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
ACTION_ROWS_MAX = 5
ROW_BUTTONS_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
SELECT_PLACEHOLDER_MAX = 150
V2_COMPONENTS_MAX = 40
FILES_MAX = 10
NONCE_MAX = 25
CHOICES_MAX = 25
CHOICE_MAX = 100
COMMAND_NAME_RE = re.compile(r"^[-_\w]{1,32}$")
COMMAND_DESCRIPTION_MAX = 100
COMMAND_OPTIONS_MAX = 25
COMMAND_TOTAL_MAX = 4000
OPTION_LENGTH_MAX = 6000
GLOBAL_CHAT_COMMANDS_MAX = 100
GLOBAL_CONTEXT_COMMANDS_MAX = 15
MODAL_TITLE_MAX = 45

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15


class FormErrors:
    """Collects errors by JSON path into Discord's nested ``errors`` object."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}
        self.count = 0

    def add(self, path: Path, code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
        self.count += 1

    def max_len(self, path: Path, value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def bad_len(self, path: Path, value: Any, lo: int, hi: int) -> None:
        n = len(value) if value is not None else 0
        if not lo <= n <= hi:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {lo} and {hi} in length.")

    def required(self, path: Path) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def __bool__(self) -> bool:
        return self.count > 0

    def body(self) -> dict[str, Any]:
        return {"code": 50035, "errors": self.errors, "message": "Invalid Form Body"}

    def paths(self) -> list[str]:
        """Dotted paths of every error (handy in assertions), e.g. ``embeds.0.description``."""
        out: list[str] = []

        def walk(node: Mapping[str, Any], prefix: str) -> None:
            for key, sub in node.items():
                if key == "_errors":
                    out.append(prefix)
                else:
                    walk(sub, f"{prefix}.{key}" if prefix else key)

        walk(self.errors, "")
        return out


# ----------------------------------------------------------------------------- messages


def _check_url(errors: FormErrors, path: Path, url: Any, *, attachment_ok: bool) -> None:
    if url is None:
        return
    if not isinstance(url, str) or not url:
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        return
    scheme = urlparse(url).scheme
    allowed = ("http", "https", "attachment") if attachment_ok else ("http", "https")
    if scheme not in allowed:
        errors.add(
            path,
            "URL_TYPE_INVALID_SCHEME",
            f'Scheme "{scheme}" is not supported. Scheme must be one of {allowed}.',
        )
    elif scheme in ("http", "https") and not urlparse(url).netloc:
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def embed_size(embed: Mapping[str, Any]) -> int:
    """Characters Discord counts towards the 6000 limit for one embed."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def check_embeds(errors: FormErrors, embeds: Any, path: Path = ("embeds",)) -> None:
    if embeds is None:
        return
    if not isinstance(embeds, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return
    errors.max_len(path, embeds, EMBEDS_MAX)
    total = 0
    for i, e in enumerate(embeds):
        p = (*path, i)
        if not isinstance(e, dict):
            errors.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        errors.max_len((*p, "title"), e.get("title"), EMBED_TITLE_MAX)
        errors.max_len((*p, "description"), e.get("description"), EMBED_DESCRIPTION_MAX)
        _check_url(errors, (*p, "url"), e.get("url"), attachment_ok=False)
        colour = e.get("color")
        if colour is not None and not 0 <= int(colour) <= 0xFFFFFF:
            errors.add((*p, "color"), "NUMBER_TYPE_MAX", "int value should be <= 16777215.")
        fields = e.get("fields") or []
        errors.max_len((*p, "fields"), fields, EMBED_FIELDS_MAX)
        for j, f in enumerate(fields):
            fp = (*p, "fields", j)
            for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
                v = f.get(key)
                if v is None or v == "":
                    errors.required((*fp, key))
                else:
                    errors.max_len((*fp, key), v, limit)
        footer = e.get("footer")
        if footer:
            errors.max_len((*p, "footer", "text"), footer.get("text"), EMBED_FOOTER_MAX)
            _check_url(
                errors, (*p, "footer", "icon_url"), footer.get("icon_url"), attachment_ok=True
            )
        author = e.get("author")
        if author:
            errors.max_len((*p, "author", "name"), author.get("name"), EMBED_AUTHOR_MAX)
            _check_url(errors, (*p, "author", "url"), author.get("url"), attachment_ok=False)
            _check_url(
                errors, (*p, "author", "icon_url"), author.get("icon_url"), attachment_ok=True
            )
        for key in ("image", "thumbnail"):
            if e.get(key):
                _check_url(errors, (*p, key, "url"), e[key].get("url"), attachment_ok=True)
        total += embed_size(e)
    if total > EMBED_TOTAL_MAX:
        errors.add(path, "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _check_button(errors: FormErrors, p: Path, c: Mapping[str, Any], seen: set[str]) -> None:
    style = c.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        errors.add((*p, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.")
    errors.max_len((*p, "label"), c.get("label"), BUTTON_LABEL_MAX)
    if style == 5:
        if not c.get("url"):
            errors.add((*p, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
        _check_url(errors, (*p, "url"), c.get("url"), attachment_ok=False)
        if c.get("custom_id"):
            errors.add(
                (*p, "custom_id"),
                "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                "A custom id cannot be specified",
            )
    elif style in (1, 2, 3, 4):
        _check_custom_id(errors, (*p, "custom_id"), c.get("custom_id"), seen)
        if not c.get("label") and not c.get("emoji"):
            errors.add(
                (*p, "label"), "BUTTON_COMPONENT_LABEL_REQUIRED", "A label or emoji is required"
            )


def _check_custom_id(errors: FormErrors, p: Path, cid: Any, seen: set[str]) -> None:
    if not cid:
        errors.required(p)
        return
    errors.max_len(p, cid, CUSTOM_ID_MAX)
    if cid in seen:
        errors.add(p, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
    seen.add(cid)


def _check_select(errors: FormErrors, p: Path, c: Mapping[str, Any], seen: set[str]) -> None:
    _check_custom_id(errors, (*p, "custom_id"), c.get("custom_id"), seen)
    errors.max_len((*p, "placeholder"), c.get("placeholder"), SELECT_PLACEHOLDER_MAX)
    if c.get("type") == 3:
        opts = c.get("options") or []
        errors.bad_len((*p, "options"), opts, 1, SELECT_OPTIONS_MAX)
        for k, o in enumerate(opts):
            errors.bad_len((*p, "options", k, "label"), o.get("label"), 1, 100)
            errors.bad_len((*p, "options", k, "value"), o.get("value"), 1, 100)
            errors.max_len((*p, "options", k, "description"), o.get("description"), 100)


def _walk_v2(
    errors: FormErrors, comps: Sequence[Mapping[str, Any]], path: Path, seen: set[str]
) -> int:
    count = 0
    for i, c in enumerate(comps):
        p = (*path, i)
        count += 1
        t = c.get("type")
        if t == 2:
            _check_button(errors, p, c, seen)
        elif t in (3, 5, 6, 7, 8):
            _check_select(errors, p, c, seen)
        elif t == 10:
            errors.bad_len((*p, "content"), c.get("content"), 1, 4000)
        for key in ("components", "items"):
            sub = c.get(key)
            if isinstance(sub, list):
                count += _walk_v2(errors, sub, (*p, key), seen)
        for key in ("accessory", "component"):
            sub = c.get(key)
            if isinstance(sub, dict):
                count += _walk_v2(errors, [sub], (*p, key), seen)
    return count


def check_components(errors: FormErrors, components: Any, flags: int = 0) -> None:
    if components is None:
        return
    path: Path = ("components",)
    seen: set[str] = set()
    if flags & FLAG_COMPONENTS_V2:
        if _walk_v2(errors, components, path, seen) > V2_COMPONENTS_MAX:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {V2_COMPONENTS_MAX} or fewer.")
        return
    errors.max_len(path, components, ACTION_ROWS_MAX)
    for i, row in enumerate(components):
        p = (*path, i)
        if row.get("type") != 1:
            errors.add(
                (*p, "type"),
                "COMPONENT_TYPE_INVALID",
                "Component type must be ACTION_ROW at the top level without the IS_COMPONENTS_V2 "
                "flag",
            )
            continue
        children = row.get("components") or []
        if not children:
            errors.bad_len((*p, "components"), children, 1, ROW_BUTTONS_MAX)
            continue
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if (selects and len(children) > 1) or len(children) > ROW_BUTTONS_MAX:
            errors.add(
                (*p, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, c in enumerate(children):
            cp = (*p, "components", j)
            if c.get("type") == 2:
                _check_button(errors, cp, c, seen)
            elif c.get("type") in (3, 5, 6, 7, 8):
                _check_select(errors, cp, c, seen)
            else:
                errors.add(
                    (*cp, "type"), "COMPONENT_TYPE_INVALID", "Invalid component type in action row"
                )


def check_allowed_mentions(errors: FormErrors, am: Any) -> None:
    if am is None:
        return
    parse = am.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and am.get(kind):
            errors.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
        errors.max_len(("allowed_mentions", kind), am.get(kind), 100)


def has_body(payload: Mapping[str, Any], n_files: int) -> bool:
    """Discord's 50006 rule: a new message needs at least one of these."""
    return bool(
        payload.get("content")
        or payload.get("embeds")
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or n_files
    )


def check_message(
    payload: Mapping[str, Any], *, n_files: int = 0, path_prefix: Path = ()
) -> FormErrors:
    """Validate a message create/edit body (content, embeds, components, mentions, nonce)."""
    errors = FormErrors()
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        content = str(content)
    errors.max_len(("content",), content, CONTENT_MAX)
    check_embeds(errors, payload.get("embeds"))
    check_components(errors, payload.get("components"), int(payload.get("flags") or 0))
    check_allowed_mentions(errors, payload.get("allowed_mentions"))
    nonce = payload.get("nonce")
    if nonce is not None:
        errors.max_len(("nonce",), str(nonce), NONCE_MAX)
    if n_files > FILES_MAX or len(payload.get("attachments") or []) > FILES_MAX:
        errors.add(("attachments",), "BASE_TYPE_MAX_LENGTH", f"Must be {FILES_MAX} or fewer.")
    if path_prefix and errors:
        wrapped = FormErrors()
        node = wrapped.errors
        for key in path_prefix:
            node = node.setdefault(str(key), {})
        node.update(errors.errors)
        wrapped.count = errors.count
        return wrapped
    return errors


def check_choices(choices: Any) -> FormErrors:
    """Autocomplete result (callback type 8) rules."""
    errors = FormErrors()
    path: Path = ("data", "choices")
    if not isinstance(choices, list):
        errors.required(path)
        return errors
    errors.max_len(path, choices, CHOICES_MAX)
    for i, ch in enumerate(choices):
        errors.bad_len((*path, i, "name"), ch.get("name"), 1, CHOICE_MAX)
        value = ch.get("value")
        if isinstance(value, str):
            errors.max_len((*path, i, "value"), value, CHOICE_MAX)
        elif value is None:
            errors.required((*path, i, "value"))
    return errors


def check_modal(data: Any) -> FormErrors:
    errors = FormErrors()
    if not isinstance(data, dict):
        errors.required(("data",))
        return errors
    _check_custom_id(errors, ("data", "custom_id"), data.get("custom_id"), set())
    errors.bad_len(("data", "title"), data.get("title"), 1, MODAL_TITLE_MAX)
    errors.bad_len(("data", "components"), data.get("components"), 1, 5)
    return errors


# ----------------------------------------------------------------------------- commands


def _command_chars(obj: Mapping[str, Any]) -> int:
    total = len(obj.get("name") or "") + len(obj.get("description") or "")
    for ch in obj.get("choices") or []:
        total += len(ch.get("name") or "") + len(str(ch.get("value", "")))
    for opt in obj.get("options") or []:
        total += _command_chars(opt)
    return total


def _check_name(errors: FormErrors, path: Path, name: Any, code: str, what: str) -> None:
    if not isinstance(name, str) or not COMMAND_NAME_RE.match(name) or name != name.lower():
        errors.add(path, code, f"{what} name is invalid")


def _check_options(errors: FormErrors, options: Any, path: Path, depth: int) -> None:
    if not options:
        return
    errors.max_len(path, options, COMMAND_OPTIONS_MAX)
    seen_optional = False
    names: set[str] = set()
    kinds = {o.get("type") in (1, 2) for o in options}
    if len(kinds) > 1:
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other "
            "types",
        )
    for i, o in enumerate(options):
        p = (*path, i)
        t = o.get("type")
        _check_name(
            errors, (*p, "name"), o.get("name"), "APPLICATION_COMMAND_INVALID_NAME", "Option"
        )
        if o.get("name") in names:
            errors.add(
                (*p, "name"),
                "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(o.get("name"))
        errors.bad_len((*p, "description"), o.get("description"), 1, COMMAND_DESCRIPTION_MAX)
        if t not in range(1, 12):
            errors.add((*p, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, ..., 11}.")
            continue
        if t in (1, 2):
            if (t == 2 and depth > 0) or (t == 1 and depth > 1):
                errors.add(
                    (*p, "type"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Sub-commands cannot be nested this deep",
                )
            sub = o.get("options") or []
            if t == 2 and any(s.get("type") != 1 for s in sub):
                errors.add(
                    (*p, "options"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "A sub-command group may only contain sub-commands",
                )
            _check_options(errors, sub, (*p, "options"), depth + 1)
            continue
        if o.get("required"):
            if seen_optional:
                errors.add(
                    (*p, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = o.get("choices")
        if choices:
            errors.max_len((*p, "choices"), choices, CHOICES_MAX)
            if o.get("autocomplete"):
                errors.add(
                    (*p, "autocomplete"),
                    "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES",
                    "Autocomplete cannot be set on options with choices",
                )
            for k, ch in enumerate(choices):
                errors.bad_len((*p, "choices", k, "name"), ch.get("name"), 1, CHOICE_MAX)
                if isinstance(ch.get("value"), str):
                    errors.max_len((*p, "choices", k, "value"), ch["value"], CHOICE_MAX)
        for key, lo in (("min_length", 0), ("max_length", 1)):
            v = o.get(key)
            if v is not None and not lo <= int(v) <= OPTION_LENGTH_MAX:
                errors.add(
                    (*p, key),
                    "NUMBER_TYPE_MAX" if int(v) > OPTION_LENGTH_MAX else "NUMBER_TYPE_MIN",
                    f"int value should be between {lo} and {OPTION_LENGTH_MAX}.",
                )
        lo_len, hi_len = o.get("min_length"), o.get("max_length")
        if lo_len is not None and hi_len is not None and int(lo_len) > int(hi_len):
            errors.add(
                (*p, "min_length"),
                "APPLICATION_COMMAND_OPTION_INVALID_LENGTH",
                "min_length must be less than or equal to max_length",
            )


def check_command(errors: FormErrors, cmd: Any, path: Path) -> None:
    """One command of a bulk overwrite, at ``path`` (its index)."""
    if not isinstance(cmd, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    ctype = cmd.get("type", 1)
    name = cmd.get("name")
    if ctype == 1:
        _check_name(errors, (*path, "name"), name, "APPLICATION_COMMAND_INVALID_NAME", "Command")
        errors.bad_len((*path, "description"), cmd.get("description"), 1, COMMAND_DESCRIPTION_MAX)
        _check_options(errors, cmd.get("options"), (*path, "options"), 0)
        if _command_chars(cmd) > COMMAND_TOTAL_MAX:
            errors.add(
                path,
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({COMMAND_TOTAL_MAX})",
            )
    elif ctype in (2, 3):
        errors.bad_len((*path, "name"), name, 1, 32)
        if cmd.get("description"):
            errors.add(
                (*path, "description"),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            )
        if cmd.get("options"):
            errors.add(
                (*path, "options"),
                "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                "Context menu commands cannot have options",
            )
    elif ctype != 4:
        errors.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
    dmp = cmd.get("default_member_permissions")
    if dmp is not None:
        try:
            int(dmp)
        except (TypeError, ValueError):
            errors.add(
                (*path, "default_member_permissions"),
                "NUMBER_TYPE_COERCE",
                f'Value "{dmp}" is not int.',
            )
    for key, allowed in (("contexts", {0, 1, 2}), ("integration_types", {0, 1})):
        vals = cmd.get(key)
        if vals is not None and not set(vals) <= allowed:
            errors.add((*path, key), "BASE_TYPE_CHOICES", f"Value must be one of {allowed}.")


def check_commands(commands: Any) -> FormErrors:
    """Bulk overwrite (PUT .../commands) rules, including per-type counts and unique names."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return errors
    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for i, cmd in enumerate(commands):
        check_command(errors, cmd, (i,))
        if not isinstance(cmd, dict):
            continue
        key = (cmd.get("type", 1), cmd.get("name"))
        if key in seen:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {cmd.get('name')}",
            )
        seen.add(key)  # type: ignore[arg-type]
        counts[key[0]] = counts.get(key[0], 0) + 1
    limits = {1: GLOBAL_CHAT_COMMANDS_MAX, 2: GLOBAL_CONTEXT_COMMANDS_MAX}
    limits[3] = GLOBAL_CONTEXT_COMMANDS_MAX
    for ctype, n in counts.items():
        if ctype in limits and n > limits[ctype]:
            errors.add(
                (),
                "APPLICATION_COMMANDS_TOO_MANY",
                f"Maximum number of application commands of type {ctype} reached ({limits[ctype]})",
            )
    return errors


# ----------------------------------------------------------------------------- mentions

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class Pings:
    """Who a message would notify, given its content and ``allowed_mentions``."""

    everyone: bool = False
    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    replied_user: bool = False

    def __bool__(self) -> bool:
        return self.everyone or bool(self.users or self.roles) or self.replied_user


def _filter(ids: Iterable[int], kind: str, am: Mapping[str, Any]) -> list[int]:
    if kind in (am.get("parse") or []):
        return list(ids)
    allowed = {int(x) for x in am.get(kind) or []}
    return [i for i in ids if i in allowed]


def pings(
    content: str | None,
    allowed_mentions: Mapping[str, Any] | None,
    *,
    reply_to: int | None = None,
) -> Pings:
    """Discord's mention rules: no ``allowed_mentions`` means everything in content pings."""
    text = content or ""
    users = [int(x) for x in _USER_MENTION.findall(text)]
    roles = [int(x) for x in _ROLE_MENTION.findall(text)]
    everyone = "@everyone" in text or "@here" in text
    if allowed_mentions is None:
        return Pings(everyone, users, roles, replied_user=reply_to is not None)
    am = allowed_mentions
    return Pings(
        everyone=everyone and "everyone" in (am.get("parse") or []),
        users=_filter(users, "users", am),
        roles=_filter(roles, "roles", am),
        replied_user=reply_to is not None and bool(am.get("replied_user", False)),
    )
