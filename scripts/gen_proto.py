"""Generate the Python stubs of protos/ into libs/proto/medembed_proto/v1.

protoc names the generated modules after the proto package (`medembed.v1`); the stubs live in
the `medembed_proto.v1` package (shared by the client and the encoder), so the one import line grpc
emits is rewritten accordingly.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
OUT_DIR = ROOT / "libs" / "proto" / "medembed_proto" / "v1"
PROTO_FILES = ["medembed/v1/encoder.proto"]


def generate(out_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *PROTO_FILES,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out_dir.mkdir(parents=True, exist_ok=True)
        for generated in sorted((Path(tmp) / "medembed" / "v1").iterdir()):
            text = generated.read_text()
            text = re.sub(r"^from medembed\.v1 import", "from medembed_proto.v1 import", text, flags=re.M)
            (out_dir / generated.name).write_text(text)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR)
