"""Datasette plugin: a small stylesheet for the audit UI.

Every view and table page lists its column descriptions (from metadata.json) above the rows; with 23 documented
columns in consent_history that list alone filled the first screen. This lays it out as a compact grid, two columns
per line, so the facets and the rows show without scrolling. It only adds a stylesheet at /-/autopilotd-audit.css.
"""

from datasette import hookimpl
from datasette.utils.asgi import Response

CSS = """
dl.column-descriptions {
    display: grid;
    grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr);
    gap: 0.15em 0.8em;
    font-size: 0.8rem;
    line-height: 1.3;
    margin: 0.5em 0 1.2em;
}
dl.column-descriptions dt { font-weight: bold; padding: 0; margin: 0; }
dl.column-descriptions dd { color: #444; padding: 0; margin: 0; }
@media (max-width: 900px) {
    dl.column-descriptions { grid-template-columns: max-content minmax(0, 1fr); }
}
"""


async def stylesheet():
    return Response(CSS, content_type="text/css; charset=utf-8")


@hookimpl
def register_routes():
    return [(r"^/-/autopilotd-audit\.css$", stylesheet)]


@hookimpl
def extra_css_urls(datasette):
    return [datasette.urls.path("/-/autopilotd-audit.css")]
