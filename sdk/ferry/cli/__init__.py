"""``ferry``: the command line of the Ferry ML platform.

Every command talks to the control plane at FERRY_URL (default: the local platform that
``ferry up`` starts). ``-o json`` or ``-o yaml`` prints machine-readable output for scripts.

Layout: one module per noun (``_models.py`` is ``ferry models ...``), each exposing a
``typer.Typer`` named ``app``. A group noun names its Typer (``typer.Typer(name="models")``)
and becomes ``ferry models``; a module of top-level verbs (``_platform.py``: ``up``, ``down``,
``info``) leaves it unnamed and its commands join ``ferry`` itself. Adding a noun is one new
module and one line in :data:`NOUNS` below; the order of :data:`NOUNS` is the order of
``ferry --help``. What nouns share (output formats, tables, errors, progress) is in
``_common.py``.

The seam: every command gets its :class:`ferry.Client` from ``_common.client()``, which calls
``ferry.cli._common.make_client(url=None, *, token=None)`` when it runs. Tests replace that
one function to drive any command against a stub or an in-process control plane::

    monkeypatch.setattr(ferry.cli._common, "make_client", lambda *a, **k: stub)
"""

from __future__ import annotations

from typing import Annotated

import typer

from ferry.cli import (
    _audit,
    _auth,
    _batch,
    _deployments,
    _eval,
    _features,
    _infra,
    _jobs,
    _models,
    _monitoring,
    _platform,
    _teams,
    _tokens,
    _users,
)
from ferry.cli._common import console

app = typer.Typer(
    name="ferry",
    help=(
        "Ferry takes a trained model to a versioned production service.\n\n"
        "\b\n"
        "A typical session:\n"
        "  ferry up                          start the local platform (Ray, MLflow, API)\n"
        "  python train.py                   ferry.Client().register(model, name='churn', ...)\n"
        "  ferry deploy churn --version 1    build the release, serve REST + gRPC\n"
        "  ferry predict churn '{\"tenure\": 3}'\n"
        "  ferry status                      what serves, which release, where\n"
        "  ferry jobs                        deploys and other long operations, with logs\n"
        "  ferry audit                       who changed what, from which release to which\n"
        "  ferry monitor churn               drift, fragility, latency, slices, alerts\n"
        "  ferry down                        stop everything\n\n"
        "Commands talk to FERRY_URL (default http://127.0.0.1:8700); add -o json or -o yaml "
        "for scripts."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

NOUNS: tuple[typer.Typer, ...] = (
    _platform.app,     # up, down, info
    _deployments.app,  # deploy, scale, rollout, status, undeploy, access, predict
    _auth.app,         # login, logout, whoami
    _audit.app,        # audit
    _monitoring.app,   # monitor, alerts
    _infra.app,        # infra
    _models.app,       # models ...
    _features.app,     # features ...
    _batch.app,        # batch score | show | list
    _eval.app,         # eval ...
    _teams.app,        # teams ...
    _users.app,        # users ...
    _tokens.app,       # tokens ...
    _jobs.app,         # jobs ...
)
"""Every noun's Typer, in the order ``ferry --help`` lists them."""

for noun in NOUNS:
    app.add_typer(noun)


def _version(value: bool) -> None:
    if value:
        from ferry._version import __version__

        console.print(f"ferry {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print Ferry's version and exit.")] = False,
) -> None:
    """Ferry's command line."""


def main() -> None:
    app()
