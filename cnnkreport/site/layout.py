"""The site's layout: the one place that knows where each page and file of a site goes."""

from __future__ import annotations

MARKER = ".cnnkreport-site"  # in every site cnnkreport makes, so that nothing else is ever replaced or packed
