"""`python -m dreamcache.cli ...`: the same as the `dreamcache` command."""

from dreamcache.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
