"""Hints for the usage mistakes people make most: a root option given after the subcommand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click


class RootOptionHints(click.Group):
    """A group whose subcommands, given one of the root's options, say where that option belongs.

    ``misplaced`` maps an option name to the hint; the default hint (for the root's own options) is
    to put it before the subcommand.
    """

    misplaced: Mapping[str, str] = {}

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            hint = self.misplaced.get(exc.option_name) or self._root_hint(ctx, exc.option_name)
            if hint:
                exc.message += f" {hint}"
            raise

    def _root_hint(self, ctx: click.Context, name: str) -> str | None:
        if not any(name in p.opts for p in self.params if isinstance(p, click.Option)):
            return None
        command = ctx.invoked_subcommand or "COMMAND"
        return f"{name} belongs before the command: '{ctx.info_name} {name} VALUE {command} ...'."
