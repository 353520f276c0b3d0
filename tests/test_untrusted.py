"""Untrusted files (issue 12, item 7): a split pickle is read with only the types a list of patch
names needs, so a crafted one cannot run code; every torch.load takes weights only."""

import ast
import base64
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_fixtures import BEN_SPLITS

from stssl.data.bigearthnet import bigearthnet_splits, read_split_list
from stssl.data.geo import DataError

ROOT = Path(__file__).resolve().parents[1]

# The authors' kind of split pickle as pandas 1.5.3 with numpy 1.26.4 wrote it (their time): rows
# 0 and 2 of a DataFrame with columns patch, lat and multi_hot_labels43 (float32 arrays), so its
# row index is pandas 1's Int64Index and it refers to numpy.core, both renamed since.
PANDAS_1_PICKLE = base64.b64decode(
    "gAWVLAUAAAAAAACMEXBhbmRhcy5jb3JlLmZyYW1llIwJRGF0YUZyYW1llJOUKYGUfZQojARfbWdylIwecGFuZGFzLmNvcmUuaW50"
    "ZXJuYWxzLm1hbmFnZXJzlIwMQmxvY2tNYW5hZ2VylJOUjBZwYW5kYXMuX2xpYnMuaW50ZXJuYWxzlIwPX3VucGlja2xlX2Jsb2Nr"
    "lJOUjBJudW1weS5jb3JlLm51bWVyaWOUjAtfZnJvbWJ1ZmZlcpSTlCiWEAAAAAAAAACamZmZmRlGQM3MzMzMDEtAlIwFbnVtcHmU"
    "jAVkdHlwZZSTlIwCZjiUiYiHlFKUKEsDjAE8lE5OTkr/////Sv////9LAHSUYksBSwKGlIwBQ5R0lFKUjAhidWlsdGluc5SMBXNs"
    "aWNllJOUSwFLAksBh5RSlEsCh5RSlGgLjBVudW1weS5jb3JlLm11bHRpYXJyYXmUjAxfcmVjb25zdHJ1Y3SUk5RoEIwHbmRhcnJh"
    "eZSTlEsAhZRDAWKUh5RSlChLAUsCSwKGlGgSjAJPOJSJiIeUUpQoSwOMAXyUTk5OSv////9K/////0s/dJRiiV2UKIwgUzJBX01T"
    "SUwyQV8yMDE3MTAwMlQwOTQwMzFfNDJfODaUjCBTMkFfTVNJTDJBXzIwMTcwNzE3VDExMzMyMV8yOF84OZRoDiiWrAAAAAAAAAAA"
    "AIA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAlGgSjAJmNJSJiIeUUpQoSwNoFk5OTkr/////Sv////9LAHSUYksrhZRoGXSUUpRoDiiWrAAA"
    "AAAAAAAAAAAAAAAAAAAAgD8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAlGg4SyuFlGgZdJRSlGV0lGJoHksASwRLAoeUUpRLAoeUUpSGlF2UKIwYcGFuZGFz"
    "LmNvcmUuaW5kZXhlcy5iYXNllIwKX25ld19JbmRleJSTlGhIjAVJbmRleJSTlH2UKIwEZGF0YZRoJWgnSwCFlGgph5RSlChLAUsD"
    "hZRoL4ldlCiMBXBhdGNolIwDbGF0lIwSbXVsdGlfaG90X2xhYmVsczQzlGV0lGKMBG5hbWWUTnWGlFKUaEqMG3BhbmRhcy5jb3Jl"
    "LmluZGV4ZXMubnVtZXJpY5SMCkludDY0SW5kZXiUk5R9lChoTmgOKJYQAAAAAAAAAAAAAAAAAAAAAgAAAAAAAACUaBKMAmk4lImI"
    "h5RSlChLA2gWTk5OSv////9K/////0sAdJRiSwKFlGgZdJRSlGhYTnWGlFKUZYaUUpSMBF90eXCUjAlkYXRhZnJhbWWUjAlfbWV0"
    "YWRhdGGUXZSMBWF0dHJzlH2UjAZfZmxhZ3OUfZSMF2FsbG93c19kdXBsaWNhdGVfbGFiZWxzlIhzdWIu"
)


class Payload:
    """Unpickling it would create marker."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class OpenPayload(Payload):
    def __reduce__(self):
        return open, (str(self.marker), "w")


def _authors_split(names: list[str]) -> pd.DataFrame:
    """A split DataFrame with the authors' columns (``semilearn/datasets/cv_datasets/bigearthnet.py``)."""
    n = len(names)
    return pd.DataFrame(
        {
            "patch": names,
            "lat": np.linspace(40, 60, n),
            "lng": np.linspace(-9, 20, n),
            "country": ["Ireland"] * n,
            "date": ["2017-06-17 11:33:21"] * n,
            "season": ["Summer"] * n,
            "original_split": ["train"] * n,
            "multi_hot_labels43": [np.eye(43, dtype=np.float32)[i] for i in range(n)],
        }
    )


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: Payload(marker),
        lambda marker: OpenPayload(marker),  # builtins is partly allowed (slice): open is not
        lambda marker: _authors_split(["S2A_MSIL2A_20170617T113321_36_85"]).assign(patch=[Payload(marker)]),
    ],
    ids=["os.system", "builtins.open", "inside-a-valid-split"],
)
def test_a_crafted_split_pickle_is_refused_without_running_it(tmp_path, payload):
    marker, path = tmp_path / "marker", tmp_path / "train.pkl"
    path.write_bytes(pickle.dumps(payload(marker)))
    with pytest.raises(DataError) as err:
        read_split_list(path)
    message = str(err.value)
    assert not marker.exists()
    assert message.startswith(f"refused to read the split list {path}: it asks for ")
    assert f"pd.read_pickle('{path}')[['patch']].to_csv('{tmp_path / 'train.csv'}', index=False)" in message
    assert "\n" not in message


@pytest.mark.parametrize("protocol", [4, 5])
def test_split_pickles_load_as_the_authors_and_pandas_write_them(tmp_path, protocol):
    ids = np.array(sorted(n for names in BEN_SPLITS.values() for n in names))
    files = {}
    for split, names in BEN_SPLITS.items():
        files[split] = tmp_path / f"{split}.pkl"
        _authors_split(names).to_pickle(files[split], protocol=protocol)
    splits = bigearthnet_splits(ids, split_files=files)
    assert {s: sorted(ids[splits[s]]) for s in splits} == {s: sorted(names) for s, names in BEN_SPLITS.items()}


def test_a_pandas_1_split_pickle_loads(tmp_path):
    path = tmp_path / "val.pkl"
    path.write_bytes(PANDAS_1_PICKLE)
    assert read_split_list(path) == BEN_SPLITS["val"]


def _calls(tree: ast.AST, attribute: str):
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attribute
    ]


def test_every_torch_load_and_checkpoint_resume_takes_weights_only():
    """A checkpoint is a pickle too: torch's weights-only reader allows tensors and plain data only."""
    loads = 0
    for path in sorted([*(ROOT / "stssl").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        calls = [c for c in _calls(tree, "load") if isinstance(c.func.value, ast.Name) and c.func.value.id == "torch"]
        calls += [c for c in _calls(tree, "fit") if any(k.arg == "ckpt_path" for k in c.keywords)]
        for call in calls:
            weights_only = [k.value for k in call.keywords if k.arg == "weights_only"]
            assert len(weights_only) == 1 and getattr(weights_only[0], "value", None) is True, (
                f"{path.relative_to(ROOT)}:{call.lineno}"
            )
        loads += len(calls)
    assert loads >= 3
