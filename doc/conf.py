"""Sphinx configuration of the ganeti-rapi documentation and man pages.

    python3 -m sphinx -W -b html doc doc/_build/html   # the site
    python3 -m sphinx -b man doc doc/_build/man        # the man pages

No extension beyond Sphinx itself, so Debian bookworm's python3-sphinx
builds both, and nothing here imports ganeti_rapi.
"""

import os
import re

_here = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(_here, "..", "ganeti_rapi", "__init__.py")) as source:
        return re.search(r'^__version__ = "([^"]+)"', source.read(), re.M).group(1)


project = "ganeti-rapi"
author = "ganeti-rapi maintainers"
copyright = "2026, " + author
version = release = _version()

root_doc = master_doc = "index"
exclude_patterns = ["_build"]
highlight_language = "none"

html_theme = "alabaster"
html_static_path = []
html_title = "ganeti-rapi %s" % release

# (source, name, description, authors, section); the package installs them.
man_pages = [
    ("man/ganeti-rapi", "ganeti-rapi", "Ganeti remote API server (master daemon)", [author], 8),
    ("man/ganeti-noded", "ganeti-noded", "Ganeti node daemon", [author], 8),
    (
        "man/ganeti-rapi-admin",
        "ganeti-rapi-admin",
        "manage the users, nodes and cluster certificate of ganeti-rapi",
        [author],
        8,
    ),
]
man_show_urls = False
man_make_section_directory = False
