"""``init`` and ``collection``: a new project, and the collection remediator ships."""

from __future__ import annotations

from pathlib import Path

import click

from .. import bootstrap


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(folder: Path) -> None:
    """Write a starter project into FOLDER (default: here) and install remediator.fixes.

    It writes remediator.yml, a catalog whose entries name the collection's playbooks by FQCN
    (every entry at observe), requirements.yml pinning the collection's version, ansible.cfg
    (collections_path = collections), an example inventory and .gitignore; then installs the
    collection bundled with remediator into FOLDER/collections, offline. It overwrites nothing.

    \b
    Example:
      remediator init ops-fixes && cd ops-fixes && remediator catalog validate
    """
    written = bootstrap.init(folder)
    name, version = bootstrap.collection_info()
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"installed {name} {version} into {folder / bootstrap.COLLECTIONS_DIR}")
    click.echo("next: put your hosts in inventory.yml, run `remediator catalog validate`, "
               "commit the folder")


@click.group()
def collection() -> None:
    """The Ansible collection remediator ships (remediator.fixes): where it is, its tarball.

    \b
    Example:
      remediator collection build dist && ansible-galaxy collection install \\
          dist/remediator-fixes-*.tar.gz -p collections
    """


@collection.command("path")
def collection_path() -> None:
    """Print the folder of the bundled collection's source (galaxy.yml and roles).

    \b
    Example:
      remediator collection path
    """
    click.echo(str(bootstrap.COLLECTION))


@collection.command("build")
@click.argument("output", type=click.Path(file_okay=False, path_type=Path), default=".")
def collection_build(output: Path) -> None:
    """Build the bundled collection's tarball into OUTPUT (default: here), offline; print its path.

    \b
    Example:
      remediator collection build dist
    """
    click.echo(str(bootstrap.build(output)))


def register(cli: click.Group) -> None:
    """Add ``init`` and ``collection`` to the command line."""
    cli.add_command(init)
    cli.add_command(collection)
