"""What serve_ray.py and infer_ray.py share about Ray: the --address flag, starting or joining Ray, and the model
path every replica or actor opens (Ray itself is imported by the scripts, so that a missing extra is one line)."""
from pathlib import Path

from qrewrite.cli import fail


def add_address_argument(parser):
    parser.add_argument("--address",
                        help="a Ray cluster to join: auto (this node's), or the head node's host:port (default: "
                             "start a local Ray instance, stopped at the end)")


def start_ray(ray, address):
    """Joins the cluster at `address`, or starts a local Ray instance (without its dashboard: lighter)."""
    try:
        ray.init(address=address, include_dashboard=False if address is None else None)
    except (ConnectionError, RuntimeError, ValueError) as err:
        fail(f"--address {address}: cannot join that Ray cluster ({str(err).strip().splitlines()[0]}); pass auto on "
             "a node of the cluster, or the head node's host:port")


def model_for_workers(model):
    """--model as Ray's workers will open it: checked here first (a missing model is one line, before Ray starts),
    a local folder as an absolute path (a worker's working folder may be another)."""
    from qrewrite.modeling import resolve_model

    model = resolve_model(model)
    return str(Path(model).resolve()) if Path(model).is_dir() else model
