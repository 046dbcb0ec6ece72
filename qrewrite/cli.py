"""What every script does with a user's mistake: one line on stderr that names the flag or file and the fix, exit 2.

argparse's own errors print a usage block first; ArgumentParser keeps them to the same one line.
"""
import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message}; see --help\n")


def fail(message):
    """Ends the script on a user's mistake: one line, exit code 2, nothing written."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(text):
    """argparse type for counts and sizes: 1 or more (0 or a negative limit would silently drop data)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def positive_float(text):
    """argparse type for rates: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a finite number above 0")
    return value


def fraction(text):
    """argparse type for a share strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 1")
    return value
