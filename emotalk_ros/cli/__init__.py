"""The ``emotalk`` command line: :mod:`.main` dispatches to one thin module per command."""
