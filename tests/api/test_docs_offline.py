"""Swagger UI and ReDoc come from the installed package: nothing from another host."""

from __future__ import annotations

import re

import httpx
import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_pages_load_everything_from_the_api_itself(
    api: httpx.AsyncClient, page: str
) -> None:
    html = await api.get(page)
    assert html.status_code == 200
    assets = ASSET.findall(html.text)
    assert assets, html.text[:500]
    assert [a for a in assets if re.match(r"(?:https?:)?//", a)] == []  # no other host
    assert "cdn.jsdelivr.net" not in html.text and "fonts.googleapis" not in html.text
    for asset in assets:
        fetched = await api.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100
    csp = html.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "https:" not in csp
