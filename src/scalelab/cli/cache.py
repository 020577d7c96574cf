"""`scalelab cache info|clear`: the persistent compilation cache (see `scalelab.cache`)."""

from __future__ import annotations

from scalelab.cli.options import dumps


def cmd_cache(args) -> int:
    from scalelab import cache

    if args.action == "info":
        out = cache.info()
    else:
        out = cache.clear(all_setups=not args.this_setup)
    if args.json:
        print(dumps(out))
    elif args.action == "info":
        if not out["enabled"]:
            print(f"compilation cache: off ({cache.ENV}={out['env']!r})")
        elif not out["usable"]:
            print(f"root        {out['root']}")
            print(f"not usable  {out['problem']}")
        else:
            print(f"root        {out['root']}")
            print(f"this setup  {out['directory']}")
            print(f"entries     {out['entries']} ({out['bytes'] / 1e6:.1f} MB; {out['programs']} of them traced programs)")
            print(f"all setups  {len(out['setups'])} ({out['entries_all_setups']} entries, "
                  f"{out['bytes_all_setups'] / 1e6:.1f} MB)")
    elif out["root"] is None:  # the cache is off: there is no directory to clear
        print(f"compilation cache: off ({cache.ENV}={cache.info()['env']!r}); nothing to clear")
    else:
        print(f"removed {out['removed_entries']} entries ({out['removed_bytes'] / 1e6:.1f} MB) from {out['root']}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("cache", help="the persistent compilation cache: where it is, what it holds; clear it")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--this-setup", action="store_true",
                   help="clear only this jax version and device's entries (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_cache)
