"""System commands: check, init."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from herodev_shell.cli.context import AppContext
from herodev_shell.core import host_setup
from herodev_shell.core.checks import FAIL
from herodev_shell.errors import HerodevError

CHECK_COLUMNS = [("name", "check"), ("status", "status"), ("detail", "detail")]
STEP_COLUMNS = [("name", "step"), ("status", "status"), ("detail", "detail")]


def run_check(ctx: AppContext, args: argparse.Namespace) -> int:
    """Check that this host can run herodev."""
    results = host_setup.run_checks(ctx.settings, ctx.runner)
    out = ctx.out(args.json)
    out.records(results, [r.__dict__ for r in results], CHECK_COLUMNS, status_key="status")
    failed = [r.name for r in results if r.status == FAIL]
    if failed:
        raise HerodevError(f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 0


def run_init(ctx: AppContext, args: argparse.Namespace) -> int:
    """Prepare this host: packages, a btrfs code root (a loopback image if needed), the sessions dir."""
    options = host_setup.InitOptions(
        size=args.size,
        image=Path(args.image).absolute() if args.image else None,
        install_packages=not args.no_packages,
        reformat=args.reformat,
        migrate=args.migrate,
        show_progress=sys.stdout.isatty() and not args.json,
        quotas=args.quotas,
    )
    checks, steps = host_setup.init(ctx.settings, ctx.runner, options, ctx.confirm)
    out = ctx.out(args.json)
    if out.json_mode:
        out.json({"checks": checks, "steps": steps})
        return 0
    out.table([s.__dict__ for s in steps], STEP_COLUMNS, status_key="status")
    if all(s.status == "unchanged" for s in steps):
        out.message("nothing to do: this host is already prepared")
    elif ctx.dry_run:
        out.message("dry run: nothing was changed")
    return 0
