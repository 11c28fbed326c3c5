try:
    from toolkit.cli import console_main
except KeyboardInterrupt:  # Ctrl-C while Python imports toolkit: no traceback
    import sys

    print("aborted", file=sys.stderr)
    sys.exit(130)

console_main()
