"""How stacks look in the terminal: plans, progress as it happens, the deployed service."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

from firebox.cli.client import CliError
from firebox.deploy.deployer import Prepared

SYMBOLS = {"create": ("+", "green"), "update": ("~", "yellow"), "replace": ("±", "magenta"),
           "delete": ("-", "red"), "retain": ("=", "dim"), "unchanged": (" ", "dim"),
           "skip": ("!", "yellow")}  # fmt: skip
VERBS = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted",
         "retain": "kept", "skip": "skipped", "unchanged": "unchanged"}  # fmt: skip


# Actions that change nothing, as the plan's summary words them.
QUIET = {"unchanged": "unchanged", "retain": "kept", "skip": "skipped"}


def console() -> Console:
    """Colour on a terminal, plain text in a pipe; progress goes to stderr, like warnings."""
    return Console(stderr=False, highlight=False, soft_wrap=True)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def packaged(out: Console, prepared: Prepared) -> None:
    unique = prepared.unique_packages()
    total = sum(len(p.data) for p in unique.values())
    out.print(f"Stack [bold]{escape(prepared.stack)}[/bold]: {len(prepared.packages)} "
              f"function(s) in {len(unique)} package(s), {_size(total)}")  # fmt: skip
    for warning in prepared.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def plan(out: Console, stack: str, changes: Iterable[Mapping[str, Any]]) -> None:
    changes = list(changes)
    counts: dict[str, int] = {}
    for change in changes:
        counts[change["Action"]] = counts.get(change["Action"], 0) + 1
    summary = ", ".join(f"{n} {QUIET[a]}" if a in QUIET else f"{n} to {a}"
                        for a, n in counts.items())  # fmt: skip
    quiet = all(c["Action"] in QUIET for c in changes)
    out.print(f"Plan: no changes ({summary})" if quiet else f"Plan: {summary}")
    for change in changes:
        if change["Action"] == "unchanged":
            continue
        symbol, colour = SYMBOLS.get(change["Action"], ("?", "white"))
        reason = f"  [dim]{escape(change.get('Reason', ''))}[/dim]" if change.get("Reason") else ""
        out.print(f"  [{colour}]{symbol} {escape(change['LogicalId'])}[/{colour}] "
                  f"[dim]{escape(change['Type'])}[/dim]{reason}")  # fmt: skip


def follow(out: Console, lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Prints each step as the server reports it; returns the stack as it ended."""
    started = time.monotonic()
    for line in lines:
        if "Error" in line:
            raise CliError(f"{line['Error']['Code']}: {line['Error']['Message']}")
        if "Stack" in line:
            stack: dict[str, Any] = line["Stack"]
            stack["Elapsed"] = time.monotonic() - started
            return stack
        event = line["Event"]
        lid, action, status = event["LogicalId"], event["Action"], event["Status"]
        if status == "started" or action == "unchanged":
            continue
        took = f" {event.get('ElapsedMs', 0):.0f} ms" if action != "skip" else ""
        symbol, colour = SYMBOLS.get(action, ("?", "white"))
        if status == "failed":
            out.print(f"  [red]✘ {escape(lid)}[/red] [dim]{escape(event['Type'])}[/dim] "
                      f"{escape(action)} failed: {escape(event.get('Reason', ''))}")  # fmt: skip
        else:
            out.print(
                f"  [{colour}]{symbol}[/{colour}] {VERBS.get(action, action)} "
                f"{escape(lid)} [dim]{escape(event['Type'])}{took}[/dim]"
            )
    raise CliError("the server ended the operation without a result; `firebox info` shows the "
                   "stack")  # fmt: skip


def summary(out: Console, stack: Mapping[str, Any]) -> None:
    """The deployed service: status, functions, endpoints, resources, outputs."""
    status = str(stack["StackStatus"])
    colour = "green" if status.endswith("_COMPLETE") else "red"
    elapsed = f" in {stack['Elapsed']:.1f} s" if "Elapsed" in stack else ""
    out.print(f"[{colour}]{escape(status)}[/{colour}] stack [bold]{escape(stack['StackName'])}"
              f"[/bold]{elapsed}")  # fmt: skip
    if stack.get("StackStatusReason"):
        out.print(f"  [red]{escape(stack['StackStatusReason'])}[/red]")
    resources = stack.get("Resources", [])
    functions = [r for r in resources if r["ResourceType"] == "AWS::Lambda::Function"]
    if functions:
        out.print("functions:")
        for r in functions:
            out.print(f"  {escape(r['PhysicalResourceId'])}")  # fmt: skip
    routes = [r for r in resources if r["ResourceType"] == "Firebox::Http::Route"]
    urls = [r for r in resources if r["ResourceType"] == "AWS::Lambda::Url"]
    if routes or urls:
        out.print("endpoints:")
        for r in urls:
            out.print(f"  {escape(r['Attributes'].get('FunctionUrl', ''))}")
        for r in routes:
            key = r["Attributes"].get("RouteKey", "")
            out.print(f"  {escape(key)} [dim]{escape(r['Attributes'].get('Url', ''))}[/dim]")
    others = [r for r in resources if r not in functions and r not in routes and r not in urls]
    if others:
        out.print("resources:")
        for r in others:
            skipped = " [yellow](skipped)[/yellow]" if r["ResourceStatus"] == "SKIPPED" else ""
            out.print(f"  {escape(r['LogicalResourceId'])} [dim]{escape(r['ResourceType'])} "
                      f"{escape(r['PhysicalResourceId'])}[/dim]{skipped}")  # fmt: skip
    outputs = stack.get("Outputs", [])
    if outputs:
        out.print("outputs:")
        for o in outputs:
            value = "(no value)" if o["OutputValue"] is None else str(o["OutputValue"])
            out.print(f"  {escape(o['OutputKey'])}: {escape(value)}")
    for warning in stack.get("Warnings", []):
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}")
