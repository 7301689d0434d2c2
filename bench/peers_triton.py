"""The NVIDIA Triton side of bench/peers.py, run by the Python of the PyTriton environment
(bench/requirements-peers.txt; PyTriton needs numpy < 2, so it lives in its own venv).

    serve  : Triton (PyTriton's bundled tritonserver) serving the same Python model as medembed —
             the catalog entry loaded by medembed's own loader, decoded by medembed_decode with
             the server's default limits and preprocessed by the model's own transform in a pool
             of decode threads (as many as medembed's default), batched by Triton's dynamic
             batcher (max_batch_size, max_queue_delay). `--instances N` binds N model instances
             (PyTriton's list of inference callables: Triton's instance group), each computing a
             batch at the same time; `--torch-threads T` sets torch's intra-op threads.
    load   : the closed-loop load of bench/closed_loop.py against it; prints one JSON line.
    vector : one image's vector, for the harness's check that both servers embed alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from closed_loop import closed_loop  # noqa: E402

MODEL_NAME = "medembed"


def _use_this_pythons_libpython() -> None:
    """Triton's Python-backend stub links libpython3.X.so dynamically; make it load this
    interpreter's own (else a distribution's older libpython meets this one's stdlib)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and Path(libdir, sysconfig.get_config_var("LDLIBRARY") or "").exists():
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, os.environ.get("LD_LIBRARY_PATH")]))


def serve(args: argparse.Namespace) -> None:
    import torch
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    from medembed_decode import DecodeLimits, decode_image
    from medembed_encoder.catalog import load_catalog
    from medembed_encoder.config import Settings
    from medembed_encoder.families import load_encoder

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)  # process-wide: every instance's forward
    defaults = Settings()
    limits = DecodeLimits(defaults.max_image_bytes, defaults.max_pixels, defaults.min_side)
    encoder = load_encoder(load_catalog()[args.model], torch.device("cpu"), allow_random_weights=True)
    forward = encoder.specs[encoder.default_spec]
    pool = ThreadPoolExecutor(max_workers=args.decode_threads or os.cpu_count() or 1)

    def tensor_of(data: bytes) -> torch.Tensor:
        return encoder.preprocess(decode_image(data, limits))

    @batch
    def infer(image: np.ndarray) -> dict[str, np.ndarray]:
        tensors = list(pool.map(tensor_of, [bytes(row[0]) for row in image]))
        with torch.inference_mode():
            vectors = forward(torch.stack(tensors))
        return {"vector": vectors.reshape(len(tensors), -1).float().numpy()}

    _use_this_pythons_libpython()
    config = TritonConfig(grpc_port=args.grpc_port, http_port=args.http_port, metrics_port=args.metrics_port,
                          log_verbose=0)
    with Triton(config=config) as triton:
        triton.bind(model_name=MODEL_NAME, infer_func=[infer] * args.instances,
                    inputs=[Tensor(name="image", dtype=np.bytes_, shape=(1,))],
                    outputs=[Tensor(name="vector", dtype=np.float32, shape=(-1,))],
                    config=ModelConfig(max_batch_size=args.max_batch_size, batcher=DynamicBatcher(
                        max_queue_delay_microseconds=int(args.max_queue_delay_ms * 1000))))
        print(f"triton serving: {args.instances} instance(s), {torch.get_num_threads()} torch thread(s)", flush=True)
        triton.serve()


@asynccontextmanager
async def _triton_client(url: str):
    from tritonclient.grpc import InferInput, InferRequestedOutput
    from tritonclient.grpc.aio import InferenceServerClient

    client = InferenceServerClient(url)
    output = InferRequestedOutput("vector")

    async def send(data: bytes) -> np.ndarray:
        item = InferInput("image", [1, 1], "BYTES")
        item.set_data_from_numpy(np.array([[data]], dtype=np.object_))
        result = await client.infer(MODEL_NAME, [item], outputs=[output])
        return result.as_numpy("vector")[0]

    try:
        yield send
    finally:
        await client.close()


def load(args: argparse.Namespace) -> None:
    images = pickle.loads(Path(args.images).read_bytes())
    result = asyncio.run(closed_loop(lambda: _triton_client(args.url), images, args.clients))
    print(json.dumps(result), flush=True)


def vector(args: argparse.Namespace) -> None:
    async def one() -> np.ndarray:
        async with _triton_client(args.url) as send:
            return await send(Path(args.image).read_bytes())

    np.save(args.out, asyncio.run(one()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve")
    serving.add_argument("--model", required=True)
    serving.add_argument("--grpc-port", type=int, required=True)
    serving.add_argument("--http-port", type=int, required=True)
    serving.add_argument("--metrics-port", type=int, required=True)
    serving.add_argument("--max-batch-size", type=int, default=32)
    serving.add_argument("--max-queue-delay-ms", type=float, default=5.0)
    serving.add_argument("--decode-threads", type=int, default=0, help="0 = one per core, medembed's default")
    serving.add_argument("--instances", type=int, default=1, help="model instances computing at the same time")
    serving.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads; 0 = torch's default")
    loading = commands.add_parser("load")
    loading.add_argument("--url", required=True)
    loading.add_argument("--clients", type=int, required=True)
    loading.add_argument("--images", required=True, help="pickle of a list of encoded images")
    one = commands.add_parser("vector")
    one.add_argument("--url", required=True)
    one.add_argument("--image", required=True)
    one.add_argument("--out", required=True)
    args = parser.parse_args()
    {"serve": serve, "load": load, "vector": vector}[args.command](args)


if __name__ == "__main__":
    main()
