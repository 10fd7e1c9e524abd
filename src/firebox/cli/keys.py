"""`firebox keys`: the access keys a server in sigv4 mode accepts (kept in its data dir)."""

from __future__ import annotations

import datetime
from pathlib import Path

import click

from firebox.auth.keys import KeyStore
from firebox.cli.client import CliError

data_dir_option = click.option(
    "--data-dir", default=".firebox", show_default=True, envvar="FIREBOX_DATA_DIR",
    type=click.Path(file_okay=False, path_type=Path),
)  # fmt: skip


@click.group()
def keys() -> None:
    """Access keys for signed requests (--auth sigv4). The secrets are stored in the data dir,
    readable by firebox's user alone: SigV4 verification needs the secret itself."""


@keys.command(name="create")
@data_dir_option
@click.option("--description", default="", help="A note to tell keys apart.")
def create_key(data_dir: Path, description: str) -> None:
    """Make a key pair; the secret is shown this once."""
    key = KeyStore(data_dir).create(description)
    click.echo(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}")


@keys.command(name="list")
@data_dir_option
def list_keys(data_dir: Path) -> None:
    """The access key ids (never the secrets), oldest first."""
    found = KeyStore(data_dir).list()
    if not found:
        click.echo("no access keys (a server in sigv4 mode accepts no request)")
        return
    click.echo(f"{'ACCESS KEY ID':<22} {'CREATED':<20} DESCRIPTION")
    for key in found:
        created = datetime.datetime.fromtimestamp(key.created).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{key.access_key_id:<22} {created:<20} {key.description}")


@keys.command(name="delete")
@data_dir_option
@click.argument("access_key_id")
def delete_key(data_dir: Path, access_key_id: str) -> None:
    """Revoke a key: requests signed with it are refused from now on."""
    if not KeyStore(data_dir).delete(access_key_id):
        raise CliError(f"firebox: no access key {access_key_id}")
    click.echo(f"deleted {access_key_id}")
