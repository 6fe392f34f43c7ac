"""`cashcc`: the command-line entry point."""
