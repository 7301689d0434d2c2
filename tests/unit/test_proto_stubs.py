"""The committed stubs are exactly what `make proto` generates from protos/."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_match_the_proto(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(tmp_path)
    committed = ROOT / "libs" / "proto" / "medembed_proto" / "v1"
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == ["encoder_pb2.py", "encoder_pb2.pyi", "encoder_pb2_grpc.py"]
    for name in generated:
        assert (tmp_path / name).read_text() == (committed / name).read_text(), f"{name} drifted: run `make proto`"
