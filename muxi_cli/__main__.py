"""Entry point of the ``muxi`` command and ``python -m muxi_cli``."""

from __future__ import annotations


def main() -> None:
    from muxi_cli.cli.app import run

    run()


if __name__ == "__main__":
    main()
