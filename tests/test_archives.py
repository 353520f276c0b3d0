"""Downloaded and hand-placed archives: their MD5 checked before anything is extracted, and no member
written outside the data root (stssl.data.download)."""

import hashlib
import io
import os
import socket
import stat
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from stssl.data.download import extract
from stssl.data.geo import DataError

ROOT = Path(__file__).resolve().parents[1]
BEN = "BigEarthNet-S2-v1.0.tar.gz"  # torchgeo's BigEarthNet-S2 archive, extracted into BigEarthNet-v1.0/


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def make_tar(path, members):
    """A gzipped tar of ``members``: (name, text) for a file, (name, "->target") for a symlink,
    (name, "=>target") for a hard link, (name, None) for a folder."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif content.startswith(("->", "=>")):
                info.type = tarfile.SYMTYPE if content.startswith("->") else tarfile.LNKTYPE
                info.linkname = content[2:]
                tar.addfile(info)
            else:
                data = content.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path, members):
    """A zip of ``members``: (name, text) for a file, (name, "->target") for a symlink."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members:
            info = zipfile.ZipInfo(name)
            if content.startswith("->"):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                content = content[2:]
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, content)
    return path


def everything(folder):
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*"))


# ----------------------------------------------------------------------------------------------- extract
TAR_ESCAPES = {
    "dot-dot": [("ok.txt", "fine"), ("../ESCAPED.txt", "out")],
    "deep dot-dot": [("a/", None), ("a/../../ESCAPED.txt", "out")],
    "absolute path": [("ok.txt", "fine"), ("{outside}/ESCAPED.txt", "out")],
    "symlink out": [("link", "->../.."), ("link/ESCAPED.txt", "out")],
    "absolute symlink": [("link", "->{outside}")],
    "symlink then a file through it": [("a/", None), ("a/up", "->../.."), ("a/up/ESCAPED.txt", "out")],
    "hard link out": [("hard", "=>../../etc/passwd")],
}


@pytest.mark.parametrize("case", TAR_ESCAPES)
def test_a_tar_member_that_would_leave_the_root_is_refused_in_one_line_and_nothing_is_extracted(tmp_path, case):
    outside, root = tmp_path / "outside", tmp_path / "sub" / "root"
    outside.mkdir()
    root.mkdir(parents=True)
    members = [(n.format(outside=outside), c if c is None else c.format(outside=outside)) for n, c in TAR_ESCAPES[case]]
    archive = make_tar(root / "data.tar.gz", members)
    with pytest.raises(DataError) as err:
        extract(archive, root)
    msg = str(err.value)
    bad = next(n for n, c in members if "ESCAPED" in n or (c or "").startswith(("->", "=>")))
    assert "\n" not in msg and msg.startswith(f"refused to extract the archive {archive}: its member {bad!r}")
    assert f"would be written outside {root}" in msg and "nothing was extracted" in msg
    assert everything(tmp_path) == [
        "outside",
        "sub",
        "sub/root",
        "sub/root/data.tar.gz",
    ]  # nothing escaped, nothing half-extracted (not even ok.txt), no partial folder left


ZIP_ESCAPES = {
    "dot-dot": [("ok.txt", "fine"), ("../ESCAPED.txt", "out")],
    "absolute path": [("ok.txt", "fine"), ("/tmp/ESCAPED.txt", "out")],
    "symlink out": [("ok.txt", "fine"), ("link", "->../../outside")],
    "absolute symlink": [("link", "->/etc")],
}


@pytest.mark.parametrize("case", ZIP_ESCAPES)
def test_a_zip_member_that_would_leave_the_root_is_refused_in_one_line_and_nothing_is_extracted(tmp_path, case):
    root = tmp_path / "sub" / "root"
    root.mkdir(parents=True)
    archive = make_zip(root / "data.zip", ZIP_ESCAPES[case])
    with pytest.raises(DataError) as err:
        extract(archive, root)
    msg = str(err.value)
    bad = ZIP_ESCAPES[case][-1][0]
    assert "\n" not in msg and msg.startswith(f"refused to extract the archive {archive}: its member {bad!r}")
    assert everything(tmp_path) == ["sub", "sub/root", "sub/root/data.zip"]


def test_archives_that_stay_inside_are_extracted_and_merged_with_what_is_there(tmp_path):
    root = tmp_path / "root"
    (root / "top" / "kept").mkdir(parents=True)
    (root / "top" / "kept" / "mine.txt").write_text("mine")
    tar = make_tar(
        root / "a.tar.gz",
        [("top/", None), ("top/x/", None), ("top/x/1.txt", "one"), ("top/x/same", "->1.txt"), ("./top/y.txt", "y")],
    )
    assert extract(tar) == root
    zipped = make_zip(root / "b.zip", [("top/z/2.txt", "two"), ("other.txt", "o")])
    extract(zipped, root)
    assert (root / "top" / "x" / "1.txt").read_text() == "one" and (root / "top" / "x" / "same").read_text() == "one"
    assert (root / "top" / "z" / "2.txt").read_text() == "two" and (root / "other.txt").read_text() == "o"
    assert (root / "top" / "kept" / "mine.txt").read_text() == "mine"  # nothing lost
    assert not [p for p in root.iterdir() if p.name.endswith(".partial")]
    (root / "c.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(DataError, match="neither a tar nor a zip archive"):
        extract(root / "c.tar.gz")


# ----------------------------------------------------------------------------------------------- download
@pytest.fixture
def offline(monkeypatch):
    """No network: every ``urlopen`` fails as it does offline; the calls are recorded."""
    calls = []

    def urlopen(request, *args, **kwargs):
        calls.append(getattr(request, "full_url", request))
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


def offline_env():
    """A subprocess's environment with no way out: every HTTP(S) request goes to a closed local port."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
    return {**env, "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "PYTHONPATH": str(ROOT)}


def test_cli_refuses_a_hand_placed_archive_that_fails_its_md5_and_extracts_nothing_offline(tmp_path):
    """The issue's case: a crafted BigEarthNet archive in --root, offline, wrote ../ESCAPED.txt."""
    root = tmp_path / "R"
    root.mkdir()
    archive = make_tar(root / BEN, [("BigEarthNet-v1.0/", None), ("../ESCAPED.txt", "out")])
    done = subprocess.run(
        [sys.executable, "-m", "stssl", "download", "bigearthnet", "--root", str(root)],
        capture_output=True,
        text=True,
        env=offline_env(),
        timeout=300,
    )
    assert done.returncode == 1 and done.stdout == ""
    err = done.stderr
    assert err.count("\n") == 1, err
    assert err.startswith(f"stssl download: error: {archive} is not the file expected (its MD5 is {md5(archive)}")
    assert "expected 5a64e9ce38deb036a435a7b59494924c" in err and "nothing was extracted" in err
    assert everything(tmp_path) == ["R", f"R/{BEN}"]  # no ESCAPED.txt beside R, no folder extracted


PATCHED = """
import sys, torchgeo.datasets as t
t.{cls}.{attr} = sys.argv[1]
sys.argv = ["stssl", *sys.argv[2:]]
from stssl.cli import main
main()
"""


@pytest.mark.parametrize(
    "name, cls, attr, file, members",
    [
        ("bigearthnet", "BigEarthNet", "metadata['s2']['md5']", BEN, [("../ESCAPED.txt", "out")]),
        ("bigearthnet", "BigEarthNet", "metadata['s2']['md5']", BEN, [("esc", "->.."), ("esc/ESCAPED.txt", "out")]),
        ("copernicus-eurosat", "CopernicusBenchEuroSATS2", "md5", "eurosat_s2.zip", [("../ESCAPED.txt", "out")]),
    ],
)
def test_cli_refuses_a_member_leaving_the_root_even_of_an_archive_with_the_right_md5(
    tmp_path, name, cls, attr, file, members
):
    """As if torchgeo's own archive held such a member: its MD5 matches (patched), and still nothing escapes."""
    root = tmp_path / "R"
    root.mkdir()
    archive = (make_zip if file.endswith(".zip") else make_tar)(root / file, [("ok.txt", "fine"), *members])
    done = subprocess.run(
        [sys.executable, "-c", PATCHED.format(cls=cls, attr=attr), md5(archive), "download", name, "--root", str(root)],
        capture_output=True,
        text=True,
        env=offline_env(),
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        f"stssl download: error: refused to extract the archive {archive}: its member {members[0][0]!r} "
        f"would be written outside {root}"
    )
    assert everything(tmp_path) == ["R", f"R/{file}"]


def test_a_present_archive_with_its_md5_is_extracted_by_us_and_torchgeo_extracts_nothing(
    tmp_path, offline, monkeypatch
):
    import torchgeo.datasets as tgd
    import torchgeo.datasets.copernicus.base as base

    from stssl.data.download import download

    def no_extraction(*args, **kwargs):
        raise AssertionError("torchgeo extracted an archive")

    monkeypatch.setattr(base, "extract_archive", no_extraction)
    monkeypatch.setattr(base, "download_and_extract_archive", no_extraction)
    archive = make_zip(
        tmp_path / "eurosat_s2.zip",
        [(f"eurosat_s2/eurosat-{s}.txt", "AnnualCrop_1.tif\n") for s in ("train", "val", "test")],
    )
    monkeypatch.setattr(tgd.CopernicusBenchEuroSATS2, "md5", md5(archive))
    assert download("CopernicusBenchEuroSATS2", tmp_path) == tmp_path
    assert (tmp_path / "eurosat_s2" / "eurosat-test.txt").read_text() == "AnnualCrop_1.tif\n"
    assert not offline  # nothing downloaded
    # extracted once: a second run neither reads the archive again nor downloads anything
    archive.write_bytes(b"damaged after extraction")
    download("CopernicusBenchEuroSATS2", tmp_path)
    assert not offline


def test_an_extracted_data_set_is_neither_downloaded_nor_extracted_again(tmp_path, offline, monkeypatch):
    import torchgeo.datasets as tgd

    from stssl.data.download import download

    (tmp_path / "BigEarthNet-v1.0").mkdir()
    for split, meta in tgd.BigEarthNet.splits_metadata.items():
        (tmp_path / meta["filename"]).write_text(f"{split}_patch,{split}_s1\n")
        monkeypatch.setitem(meta, "md5", md5(tmp_path / meta["filename"]))
    make_tar(tmp_path / BEN, [("../ESCAPED.txt", "out")])  # never opened: the folder is there
    download("BigEarthNet", tmp_path)
    assert not offline and not (tmp_path.parent / "ESCAPED.txt").exists()


def test_a_hand_placed_file_with_another_md5_is_one_line_before_any_download(tmp_path, offline):
    from stssl.data.download import download

    (tmp_path / "eurosat-train.txt").write_text("not the list\n")
    with pytest.raises(DataError) as err:
        download("EuroSAT", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'eurosat-train.txt'} is not the file expected")
    assert "expected 908f142e73d6acdf3f482c5e80d851b1" in msg and "delete it and run this again" in msg
    assert not offline


def test_offline_names_only_the_files_still_missing(tmp_path, offline, monkeypatch):
    import torchgeo.datasets as tgd

    from stssl.data.download import download

    (tmp_path / "eurosat-train.txt").write_text("a list\n")
    monkeypatch.setitem(tgd.EuroSAT.split_md5s, "train", md5(tmp_path / "eurosat-train.txt"))
    with pytest.raises(DataError) as err:
        download("EuroSAT", tmp_path)
    msg = str(err.value)
    assert msg.startswith("could not reach hf.co") and f"-> {tmp_path / 'EuroSATallBands.zip'}" in msg
    assert "eurosat-train.txt" not in msg and (tmp_path / "eurosat-train.txt").read_text() == "a list\n"
