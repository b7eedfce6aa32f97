"""A breadth-first crawler over the test client: every same-site <a href> reachable from a start page.

GET only; logout and reveal toggles are skipped; each route (URL name) is visited with at most a few
distinct URLs so pagination and sort links cannot blow the crawl up. Exports are read as text
(CSV, JSON) or cell by cell (XLSX).
"""

from __future__ import annotations

import html
import io
from collections import Counter, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from django.urls import Resolver404, resolve

SKIP_ROUTES = {"logout", "pii-hide", "pii-reveal", "admin:logout"}
SKIP_PREFIXES = ("/static/", "/media/", "/__")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


@dataclass
class Page:
    url: str
    status: int
    content_type: str
    text: str


@dataclass
class CrawlResult:
    pages: list[Page] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exports(self) -> list[Page]:
        return [p for p in self.pages if "html" not in p.content_type]


def response_text(response) -> str:
    """The readable text of a response: HTML/CSV/JSON decoded, XLSX cells joined."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    content_type = response.get("Content-Type", "")
    if "spreadsheetml" in content_type or body[:2] == b"PK":
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        cells = []
        for sheet in book.worksheets:
            cells.append(sheet.title)
            for row in sheet.iter_rows(values_only=True):
                cells.extend("" if v is None else str(v) for v in row)
        return "\n".join(cells)
    text = body.decode("utf-8", errors="replace")
    return text + "\n" + html.unescape(text) if "html" in content_type else text


def _route(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


def crawl(client, starts: list[str], *, per_route: int = 3, max_pages: int = 600,
          skip: tuple[str, ...] = ()) -> CrawlResult:
    """Visit every reachable page from ``starts`` with ``client`` (already logged in)."""
    result = CrawlResult()
    queue = deque(starts)
    seen: set[str] = set()
    per_name: Counter[str] = Counter()
    while queue and len(result.pages) < max_pages:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        path = urlsplit(url).path
        route = _route(path)
        if route is None or route in SKIP_ROUTES or path.startswith(SKIP_PREFIXES + skip):
            continue
        if per_name[route] >= per_route:
            continue
        per_name[route] += 1
        response = client.get(url)
        if response.status_code >= 500:
            result.errors.append(f"{url} -> {response.status_code}")
            continue
        if response.status_code in (301, 302, 303, 307, 308):
            queue.append(_same_site(url, response["Location"]) or "")
            continue
        content_type = response.get("Content-Type", "")
        text = response_text(response)
        result.pages.append(Page(url, response.status_code, content_type, text))
        if "html" in content_type:
            parser = _Links()
            parser.feed(text)
            for href in parser.hrefs:
                target = _same_site(url, href)
                if target and target not in seen:
                    queue.append(target)
    return result


def _same_site(base: str, href: str) -> str | None:
    href = html.unescape(href.strip())
    if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
        return None
    parts = urlsplit(urljoin("http://testserver" + base, href))
    if parts.netloc != "testserver":
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
