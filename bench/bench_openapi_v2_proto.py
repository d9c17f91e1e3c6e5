"""Benchmark: how long encoding the OpenAPI v2 document as protobuf takes (kubectl asks for it).

Run: ``python -m bench.bench_openapi_v2_proto [--rounds N]``. Prints the time to encode the document the
embedded API serves (built once per process and for each set of CRDs) and the figures for its size in
bytes; asserts nothing.
"""

from __future__ import annotations

import argparse

from bench.bench_service import report, timed
from kymaprov.kubeapi import discovery
from kymaprov.kubeapi.openapi_v2_proto import encode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    document = discovery.openapi_v2_document()
    print(f"definitions={len(document['definitions'])}  protobuf bytes={len(encode(document))}")
    report("encode the served v2 document", timed(lambda: encode(document), args.rounds))


if __name__ == "__main__":
    main()
