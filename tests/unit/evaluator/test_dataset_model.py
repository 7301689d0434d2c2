from __future__ import annotations

import numpy as np
import pytest

from medembed_evaluator.datasets import (
    DATASET_KINDS,
    Dataset,
    Sample,
    load_dataset,
)
from medembed_evaluator.datasets.base import without_empty_classes
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry


def _sample(key: str, label: int, payload: bytes, calls: list[str] | None = None) -> Sample:
    def load() -> bytes:
        if calls is not None:
            calls.append(key)
        return payload

    return Sample(key=key, label=label, metadata={}, load_bytes=load)


def test_labels_and_class_counts_include_empty_classes() -> None:
    dataset = Dataset("d", ["a", "b", "c"], [_sample("x", 0, b"1"), _sample("y", 2, b"2"), _sample("z", 2, b"3")])
    assert dataset.labels().tolist() == [0, 2, 2]
    assert dataset.labels().dtype == np.int64
    assert dataset.class_counts() == {"a": 1, "b": 0, "c": 2}


def test_content_hash_is_cached_and_depends_on_key_label_and_bytes() -> None:
    calls: list[str] = []
    dataset = Dataset("d", ["a", "b"], [_sample("x", 0, b"1", calls), _sample("y", 1, b"2", calls)])
    first = dataset.content_hash()
    assert dataset.content_hash() == first
    assert calls == ["x", "y"]  # bytes read once, then cached
    assert len(first) == 64
    variants = [
        Dataset("d", ["a", "b"], [_sample("x", 0, b"1"), _sample("y", 1, b"changed")]),
        Dataset("d", ["a", "b"], [_sample("x", 0, b"1"), _sample("renamed", 1, b"2")]),
        Dataset("d", ["a", "b"], [_sample("x", 0, b"1"), _sample("y", 0, b"2")]),
        Dataset("d", ["a", "b"], [_sample("y", 1, b"2"), _sample("x", 0, b"1")]),
    ]
    assert len({first, *(v.content_hash() for v in variants)}) == 5


def test_without_empty_classes_renumbers_labels() -> None:
    dataset = without_empty_classes("d", ["a", "b", "c"], [_sample("x", 2, b""), _sample("y", 0, b"")])
    assert dataset.class_names == ["a", "c"]
    assert dataset.labels().tolist() == [1, 0]


def test_load_dataset_names_the_dataset_after_the_entry() -> None:
    entry = DatasetEntry(name="tiny-phantoms", kind="phantoms", options={"n_per_class": 1, "size": 32})
    assert load_dataset(entry, data_root="unused").name == "tiny-phantoms"


def test_unknown_kind_and_unknown_option_name_the_problem(tmp_path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset kind 'nope'"):
        load_dataset(DatasetEntry(name="x", kind="nope"), tmp_path)
    with pytest.raises(DatasetError, match=r"dataset 'x' options: unknown key\(s\) n_per_klass"):
        load_dataset(DatasetEntry(name="x", kind="phantoms", options={"n_per_klass": 3}), tmp_path)
    with pytest.raises(DatasetError, match=r"dataset 'x' options: unknown key\(s\) splits \(known: none\)"):
        load_dataset(DatasetEntry(name="x", kind="busi", options={"splits": ["train"]}), tmp_path)
    with pytest.raises(DatasetError, match="dataset 'x' options.n_per_class: expected an integer"):
        load_dataset(DatasetEntry(name="x", kind="phantoms", options={"n_per_class": "many"}), tmp_path)


def test_registry_has_the_generic_and_study_kinds() -> None:
    assert set(DATASET_KINDS) == {
        "imagefolder", "medmnist", "csv", "phantoms", "volumes",
        "brainmr", "sarscov2ct", "pneumoniamnist", "busi", "breakhis", "hicervix", "deepdrid", "isic2019",
    }  # fmt: skip
