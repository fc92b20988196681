"""Packaging for ganeti-rapi.

``twisted/plugins`` has no ``__init__.py`` (it must not have one), so
``find_packages()`` would silently skip it and ``twistd`` would never see
our plugins: it is named explicitly, after every package of ours.
"""

from setuptools import find_packages, setup

version = {}
with open("ganeti_rapi/__init__.py") as source:
    for line in source:
        if line.startswith("__version__"):
            exec(line, version)

setup(
    name="ganeti-rapi",
    version=version["__version__"],
    description="Ganeti Remote API (RAPI v2) server and cluster engine on Twisted",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="BSD-2-Clause",
    python_requires=">=3.11",
    packages=find_packages(include=["ganeti_rapi", "ganeti_rapi.*"]) + ["twisted.plugins"],
    package_data={
        "twisted.plugins": ["ganeti_rapi_plugin.py", "ganeti_noded_plugin.py"],
        # The OS definition of the embedded default (scripts keep mode 0755).
        "ganeti_rapi.noded": ["os/ganeti-rapi-noop/*"],
    },
    install_requires=[
        # 22.4 is Debian bookworm's python3-twisted, which the .deb runs on.
        "Twisted[tls]>=22.4",
        # 22.2 is bookworm's python3-treq (node RPC client, test helpers).
        "treq>=22.2",
        # bookworm: pyOpenSSL 23.0, cryptography 38.0, service-identity 18.1.
        "pyOpenSSL>=23.0",
        "cryptography>=38.0",
        "service-identity>=18.1",
    ],
    extras_require={
        # orjson encodes bulk listings ~15x faster than the stdlib; optional
        # because Debian bookworm does not package it.
        "fast": ["orjson"],
    },
    entry_points={
        "console_scripts": [
            "ganeti-rapi-admin = ganeti_rapi.cli.admin:main",
        ],
    },
)
