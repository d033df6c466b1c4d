"""The dashboard's texts all come from its one message catalogue (api/dashboard/messages.js), in Dutch
and English alike: same keys, same placeholders, every key the page asks for present, and no prose
written into the scripts or the page itself."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any, ClassVar

from api.routes.dashboard import DASHBOARD_DIR

CATALOGUE = DASHBOARD_DIR / "messages.js"
SCRIPTS = sorted(p for p in DASHBOARD_DIR.glob("*.js") if p != CATALOGUE)


def messages() -> dict[str, dict[str, Any]]:
    text = CATALOGUE.read_text()
    body = text[text.index("export const MESSAGES = ") + len("export const MESSAGES = "):].strip()
    loaded: dict[str, dict[str, Any]] = json.loads(body.removesuffix(";"))
    return loaded


def placeholders(msg: str | dict[str, str]) -> set[str]:
    forms = msg.values() if isinstance(msg, dict) else [msg]
    return {name for form in forms for name in re.findall(r"\{(\w+)\}", form)}


def test_dutch_and_english_say_the_same_things() -> None:
    cat = messages()
    assert set(cat) == {"nl", "en"}
    assert set(cat["nl"]) == set(cat["en"])
    for key, nl in cat["nl"].items():
        en = cat["en"][key]
        assert type(nl) is type(en), key
        if isinstance(nl, dict):
            assert set(nl) == set(en) == {"one", "other"}, key
        assert placeholders(nl) == placeholders(en), key
        assert (nl if isinstance(nl, str) else nl["other"]).strip(), key


def used_keys() -> tuple[set[str], set[str]]:
    """Keys the page names literally, and the prefixes of those it builds (t(`status.${s}`))."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in SCRIPTS:
        src = path.read_text()
        literal |= set(re.findall(r"\bt\('([\w.-]+)'", src))
        literal |= set(re.findall(r"\b(?:label|title): '([a-z]+\.[\w.-]+)'", src))  # FORMATS in policy.js
        prefixes |= set(re.findall(r"\bt\(`([\w.-]+)\$\{", src))
    html = (DASHBOARD_DIR / "index.html").read_text()
    literal |= set(re.findall(r'data-i18n(?:-\w+)?="([\w.-]+)"', html))
    return literal, prefixes


def test_every_key_the_page_asks_for_is_there() -> None:
    cat = messages()["nl"]
    literal, prefixes = used_keys()
    assert literal
    assert sorted(literal - set(cat)) == []
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in cat), prefix
    # And nothing in the catalogue that nothing uses.
    unused = [k for k in cat if k not in literal and not any(k.startswith(p) for p in prefixes)]
    assert unused == []


# Prose: two words in a row (letters, at least two each) in a string literal. CSS selectors and
# class lists look alike, so literals that start like a selector, and class values, are not prose.
PROSE = re.compile(r"[A-Za-zÀ-ÿ]{2,}[ ,;:]+[A-Za-zÀ-ÿ]{2,}")
LITERAL = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"|`((?:[^`\\]|\\.)*)`")
TAGS = "html|body|tbody|thead|tr|td|th|li|ul|svg|table|text|tspan|circle|rect|path|img|button|span|div|p|a|h3|dialog"
SELECTORISH = re.compile(rf"^[#.\[:]|^[a-z-]+[.#\[>]|^(?:{TAGS})\b[ .#\[>:]")
CSS_CLASSES = set(re.findall(r"\.([a-z][\w-]*)", (DASHBOARD_DIR / "style.css").read_text()))
# Messages for developers, never on the page: an Error's own text (the page shows error.* messages
# around it) and the console warning about a missing message.
FOR_DEVELOPERS = {("api.js", "network error"), ("i18n.js", "no message")}


def is_class_list(text: str) -> bool:
    words = text.split()
    return bool(words) and all(w in CSS_CLASSES for w in words)


def prose_in(src: str) -> list[str]:
    code = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    code = re.sub(r"(?m)(?:^|(?<=[;,{}()\s]))//[^\n]*", "", code)
    found = []
    for m in LITERAL.finditer(code):
        text = next(g for g in m.groups() if g is not None)
        text = re.sub(r"\$\{[^}]*\}", " ", text)
        if PROSE.search(text) and not SELECTORISH.search(text.strip()) and not is_class_list(text):
            found.append(text)
    return found


def test_no_prose_in_the_scripts() -> None:
    found = {p.name: [t for t in prose_in(p.read_text()) if not any(
        p.name == name and t.strip().startswith(start) for name, start in FOR_DEVELOPERS)] for p in SCRIPTS}
    assert {name: texts for name, texts in found.items() if texts} == {}


def test_prose_is_recognised() -> None:
    assert prose_in("placeholder(el, 'No data yet: no bins.');") == ["No data yet: no bins."]
    assert prose_in("el.textContent = `${n} readings since ${t}`;") == ["  readings since  "]
    assert prose_in("$('#live-table tbody'); h('p', { class: 'empty auth-needed' }); $('tbody tr');") == []
    assert prose_in("h('p', { class: 'empty auth-needed wrongly' });") == ["empty auth-needed wrongly"]


class _Text(HTMLParser):
    """Text of the page outside elements whose text comes from the catalogue (data-i18n)."""

    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "link", "img", "input", "br"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(any(name == "data-i18n" for name, _ in attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and not any(self.stack):
            self.texts.append(data.strip())


def test_the_page_writes_no_text_of_its_own() -> None:
    parser = _Text()
    parser.feed((DASHBOARD_DIR / "index.html").read_text())
    # Names, not words: the product, the city, the language codes, the API's docs path.
    assert set(parser.texts) <= {"citysense · Leuven", "citysense", "· Leuven", "NL", "EN", "/docs", "."}
