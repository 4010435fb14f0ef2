"""The civrisk command line: one module per area of subcommands, each a thin wrapper over library code."""
