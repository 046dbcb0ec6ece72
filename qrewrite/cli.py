"""What every script does with a user's mistake, and the one flag vocabulary every script shares.

A mistake is one line on stderr that names the flag or file and the fix, exit 2; argparse's own errors
print a usage block first, and ArgumentParser keeps them to the same one line.

The flags that name what goes in and out mean the same in every script:
    --model    the model in: a folder (fp32, merged LoRA or int8) or a hub id
    --data     the pairs in: a folder datamod.py wrote, or JSON pair files (MQR .tsv where a script reads them)
    --out      what the script makes: a folder (data, weights, int8 model), or infer.py's JSONL file
    --reports  the folder for reports: tables, metrics, *_io.json, plots (default: outputs/<run>)
Older spellings (RENAMED) still work for a while and print a one-line notice.
"""
import argparse
import sys


class RenamedFlag(argparse.Action):
    """An old spelling of a flag: stores into the new flag's place and says once what the flag is called now."""

    def __init__(self, option_strings, dest, new_flag, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new_flag = new_flag

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is now {self.new_flag}; the old spelling will be removed in a later release",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message}; see --help\n")

    def add_argument(self, *names, renamed_from=(), **kwargs):
        """argparse's add_argument; renamed_from: older spellings of the same flag, hidden from --help."""
        action = super().add_argument(*names, **kwargs)
        for old in renamed_from:
            super().add_argument(old, dest=action.dest, action=RenamedFlag, new_flag=names[0], nargs=action.nargs,
                                 type=action.type, choices=action.choices, default=argparse.SUPPRESS,
                                 help=argparse.SUPPRESS)
        return action


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


def fraction_or_zero(text):
    """argparse type for a share from 0 up to, not including, 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be from 0 up to 1 (not included)")
    return value


def fraction(text):
    """argparse type for a share strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 1")
    return value


def add_backend_argument(parser):
    """--backend, as every script that rewrites takes it."""
    parser.add_argument("--backend", choices=["auto", "fp32", "int8", "openvino", "onnx"], default="auto",
                        help="int8: the int8 model quantize.py wrote beside --model; openvino, onnx: the model "
                             "quantize.py --openvino or --onnx wrote there (onnx: greedy, one question at a time); "
                             "auto: what --model holds, except that an int8 folder runs on the openvino model "
                             "beside it where that engine is the faster one on this CPU (bf16 instructions), and "
                             "one question alone on the onnx model beside it on AMD CPUs, each where it holds the "
                             "same weights")
