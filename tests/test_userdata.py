"""A user's own data set (cnnkreport.userdata): every format read from small files written here (never the archive's:
bench/bench_readers.py compares with aeon on those), and every kind of bad data refused in one line naming the file
and the line or field, with nothing written."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkreport.errors import UserError
from cnnkreport.userdata import arrays, checks, images, read_dataset

HEADER = "@problemName Toy\n@timeStamps false\n@univariate true\n@equalLength true\n@classLabel true b a\n@data\n"


def series(n: int, length: int, seed: int = 0, channels: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(i % 3, 1 + i % 2, size=(channels, length)) for i in range(n)]


def ts_text(rows: list[np.ndarray], labels: list[str], header: str = HEADER) -> str:
    pairs = zip(rows, labels, strict=True)
    lines = [":".join(",".join(repr(float(v)) for v in ch) for ch in row) + f":{lab}" for row, lab in pairs]
    return header + "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def toy_ts(tmp_path: Path, name: str = "Toy_TRAIN.ts", n: int = 10, seed: int = 0) -> tuple[Path, list[np.ndarray]]:
    rows = series(n, 16, seed)
    return write(tmp_path / name, ts_text(rows, ["a" if i % 2 else "b" for i in range(n)])), rows


# ---- the formats


def test_ts_univariate_equal_length_with_a_test_file(tmp_path: Path) -> None:
    train, rows = toy_ts(tmp_path)
    test, _ = toy_ts(tmp_path, "Toy_TEST.ts", n=6, seed=1)
    data = read_dataset(train, test)
    assert data.classes == ("b", "a")  # the order @classLabel declares
    assert data.x_train.shape == (10, 1, 16) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (6, 1, 16)
    assert data.y_train.tolist() == [0, 1] * 5 and data.y_train.dtype == np.int64
    expected = (rows[3][0] - rows[3][0].mean()) / rows[3][0].std()
    np.testing.assert_allclose(data.x_train[3, 0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.x_train.mean(axis=2), 0, atol=1e-6)
    np.testing.assert_allclose(data.x_train.std(axis=2), 1, atol=1e-5)
    s = data.source
    assert (s.format, s.kind, s.name, s.n_train, s.n_test, s.length, s.channels) == (
        "ts",
        "signal",
        "Toy",
        10,
        6,
        16,
        1,
    )
    assert s.split == "the test file" and s.lengths == "equal" and s.test_file == str(test)
    assert s.image_size is None and s.mean is None and "z-normalised" in s.standardised


def test_ts_multivariate_unequal_lengths_are_padded_after_z_normalising(tmp_path: Path) -> None:
    header = "# a comment\n% another\n@problemName Multi\n@univariate false\n@dimensions 2\n@equalLength false\n"
    header += "@unknownTag whatever\n@classLabel true up down\n\n@data\n"
    rows = [np.arange(2 * n, dtype=float).reshape(2, n) ** 2 for n in (5, 8, 3, 8)]
    path = write(tmp_path / "multi.ts", ts_text(rows, ["up", "down", "up", "down"], header) + "\n\n")
    data = read_dataset(path, write(tmp_path / "multi_test.ts", ts_text(rows[:2], ["up", "down"], header)))
    assert data.x_train.shape == (4, 2, 8)
    assert data.source.lengths.startswith("unequal, 3 to 8 values") and "padded with zeros at the end to 8" in (
        data.source.lengths
    )
    short = data.x_train[2]
    assert np.all(short[:, 3:] == 0)
    np.testing.assert_allclose(short[:, :3].mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(short[:, :3].std(axis=1), 1, atol=1e-5)
    assert data.source.name == "Multi" and data.source.channels == 2


def test_ts_constant_series_become_zeros_and_labels_match_their_declaration_in_any_case(tmp_path: Path) -> None:
    header = "@problemName Case\n@classLabel true Standing Running\n@data\n"
    rows = [np.full((1, 6), 3.0), np.arange(6.0)[None], np.arange(6.0)[None] ** 2, np.ones((1, 6))]
    path = write(tmp_path / "Case_TRAIN.ts", ts_text(rows, ["standing", "Running", "STANDING", "running"], header))
    data = read_dataset(path, path)
    assert data.classes == ("Standing", "Running")
    assert data.y_train.tolist() == [0, 1, 0, 1]
    assert np.all(data.x_train[0] == 0) and np.all(data.x_train[3] == 0) and np.isfinite(data.x_train).all()


def test_without_a_test_file_a_stratified_seeded_share_is_held_out(tmp_path: Path) -> None:
    rows = series(40, 8)
    labels = ["x"] * 30 + ["y"] * 10
    path = write(tmp_path / "Split_TRAIN.ts", ts_text(rows, labels, "@classLabel true x y\n@data\n"))
    one, again, other = read_dataset(path), read_dataset(path), read_dataset(path, seed=1)
    assert (one.source.n_train, one.source.n_test) == (32, 8)
    assert np.bincount(one.y_test).tolist() == [6, 2] and np.bincount(one.y_train).tolist() == [24, 8]
    assert np.array_equal(one.x_test, again.x_test) and not np.array_equal(one.x_test, other.x_test)
    assert one.source.split == "a stratified 20% of Split_TRAIN.ts held out, seed 0"
    assert one.source.test_file is None and one.source.name == "Split"
    quarter = read_dataset(path, test_share=0.25)
    assert quarter.source.n_test == 10 and "25%" in quarter.source.split


def test_tsv_trailing_nan_is_padding_and_numeric_labels_sort_by_value(tmp_path: Path) -> None:
    lines = ["10\t1\t2\t3\t4", "2\t4\t3\t2\tNaN", "10\t0\t1\t0\t1", "2\t5\t6\tnan\tNaN", "2\t1\t1\t2"]
    path = write(tmp_path / "Pad_TRAIN.tsv", "\n".join(lines) + "\n")
    data = read_dataset(path, path)
    assert data.classes == ("2", "10") and data.y_train.tolist() == [1, 0, 1, 0, 0]
    assert data.x_train.shape == (5, 1, 4) and np.all(data.x_train[3, 0, 2:] == 0)
    assert data.source.lengths.startswith("unequal, 2 to 4 values") and data.source.format == "tsv"
    assert data.source.name == "Pad"


def test_csv_with_and_without_a_header_and_a_named_label_column(tmp_path: Path) -> None:
    body = ["1.0,2.0,3.0,{0}", "3.0,1.0,0.5,{1}", "0.0,0.0,1.0,{0}", "2.0,2.5,0.0,{1}"]
    rows = [r.format("cat", "dog") for r in body]
    named = write(tmp_path / "named.csv", "t0,t1,t2,animal\n" + "\n".join(rows) + "\n")
    data = read_dataset(named, named, label_column="animal")
    assert data.classes == ("cat", "dog") and data.x_train.shape == (4, 1, 3)
    first = write(tmp_path / "first.csv", "label,a,b,c\n" + "\n".join(f"{r[-3:]},{r[:-4]}" for r in rows) + "\n")
    assert read_dataset(first, first).x_train.shape == (4, 1, 3)  # a header: its value fields are no numbers
    plain = write(tmp_path / "plain.csv", "\n".join(f"{i % 2},{r[:-4]}" for i, r in enumerate(rows)) + "\n")
    data = read_dataset(plain, plain)
    assert data.source.n_train == 4 and data.classes == ("0", "1")


def test_npz_series_and_images_by_shape_and_by_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 6)
    np.savez(tmp_path / "flat.npz", x=rng.normal(size=(12, 20)), y=y)
    np.savez(tmp_path / "multi.npz", x=rng.normal(size=(12, 3, 20)), y=y.astype(str))
    np.savez(tmp_path / "grey.npz", x=rng.integers(0, 256, (12, 9, 9), dtype=np.uint8), y=y.astype(float), kind="image")
    np.savez(tmp_path / "rgb_TRAIN.npz", x=rng.random((12, 3, 8, 10), dtype=np.float32), y=y)
    flat, multi = read_dataset(tmp_path / "flat.npz"), read_dataset(tmp_path / "multi.npz")
    grey, rgb = read_dataset(tmp_path / "grey.npz"), read_dataset(tmp_path / "rgb_TRAIN.npz")
    assert flat.x_train.shape[1:] == (1, 20) and flat.source.kind == "signal"
    assert multi.x_train.shape[1:] == (3, 20) and multi.classes == ("0", "1")
    assert grey.x_train.shape[1:] == (1, 9, 9) and grey.source.kind == "image" and grey.source.image_size == (9, 9)
    assert rgb.x_train.shape[1:] == (3, 8, 10) and rgb.source.channels == 3 and rgb.source.name == "rgb"
    np.testing.assert_allclose(rgb.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(rgb.x_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert (
        rgb.source.mean is not None and len(rgb.source.mean) == 3 and "training set's mean" in rgb.source.standardised
    )


def image_folder(root: Path, size: tuple[int, int] = (12, 10), colour_in: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label / "sub").mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)
            where = root / label / ("sub" if i == 3 else "") / f"{i}.png"
            if label == colour_in and i == 0:
                Image.fromarray(np.stack([pixels] * 3, axis=2)).save(where.with_suffix(".jpg"), quality=95)
            else:
                Image.fromarray(pixels).save(where)
    (root / "cat" / "notes.txt").write_text("not an image", encoding="utf-8")
    return root


def test_an_image_folder_grey_and_mixed(tmp_path: Path) -> None:
    grey = read_dataset(image_folder(tmp_path / "grey_TRAIN"), image_folder(tmp_path / "grey_TEST"))
    assert grey.x_train.shape == (8, 1, 10, 12) and grey.classes == ("cat", "dog")
    assert grey.y_train.tolist() == [0] * 4 + [1] * 4 and grey.source.name == "grey"
    assert grey.source.format == "image-folder" and grey.source.image_size == (10, 12)
    np.testing.assert_allclose(grey.x_train.mean(), 0, atol=1e-5)
    mixed = read_dataset(image_folder(tmp_path / "mixed", colour_in="dog"), test_share=0.25)
    assert mixed.x_train.shape[1] == 3 and mixed.source.channels == 3  # a colour image makes all RGB
    assert mixed.source.n_train == 6 and mixed.source.n_test == 2


# ---- bad data: one line, naming the file and the line or field


def refused(match: str, *args: object, **kwargs: object) -> str:
    with pytest.raises(UserError, match=match) as info:
        read_dataset(*args, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("header", "data", "match"),
    [
        (HEADER, "", r"bad\.ts: a header with no data"),
        ("@problemName X\n@classLabel true a b\n", "", r"bad\.ts: no @data line"),
        (HEADER, "1,2,3:a\n1,2:b\n", r"bad\.ts, line 8: 2 values, where line 7 has 3: series are equally long unless"),
        (HEADER.replace("@data", "@seriesLength 3\n@data"), "1,2,3,4:a\n", r"line 8: 4 values.*@seriesLength 3"),
        (HEADER, "1,2,3:a\n1,x,3:b\n", r"bad\.ts, line 8: value 2 is 'x', not a number"),
        (HEADER, "1,2,3:a\n1,NaN,3:b\n", r"bad\.ts, line 8: value 2 is NaN"),
        (HEADER, "1,?,3:a\n", r"bad\.ts, line 7: value 2 is missing \('\?'\)"),
        (HEADER, "1,2,inf:a\n", r"bad\.ts, line 7: value 3 is infinite"),
        (HEADER, "1,2,3:a\n1,2,3:c\n", r"bad\.ts, line 8: the label 'c' is not one that @classLabel declares"),
        (HEADER, "1,2,3\n", r"bad\.ts, line 7: no ':' before the label"),
        (HEADER, "1,2,3:4,5,6:a\n", r"bad\.ts, line 7: 2 channels, where the header says @univariate true"),
        (HEADER.replace("@univariate true", "@univariate false"), "1,2:3,4:a\n1,2:b\n", r"line 8: 1 channels"),
        (HEADER.replace("@univariate true", "@dimensions 3"), "1,2:3,4:a\n", r"line 7: 2 channels.*@dimensions 3"),
        (HEADER.replace("@univariate true", "@univariate false"), "1,2:3:a\n", r"line 7: channel 2 has 1 values"),
        ("@timeStamps true\n@data\n", "(1,2):a\n", r"bad\.ts: @timeStamps true"),
        ("@targetLabel true\n@data\n", "1,2:0.5\n", r"bad\.ts: @targetLabel true: a regression problem"),
        ("@classLabel false\n@data\n", "1,2\n", r"bad\.ts, line 1: @classLabel false"),
        ("@classLabel true\n@data\n", "1,2:a\n", r"bad\.ts, line 1: @classLabel true names no class labels"),
        ("@univariate maybe\n@data\n", "1,2:a\n", r"bad\.ts, line 1: @univariate takes one value, true or false"),
        ("@problemName X\nstray text\n@data\n", "1,2:a\n", r"bad\.ts, line 2: 'stray text' before @data"),
        ("@data extra\n", "1,2:a\n", r"bad\.ts, line 1: @data takes no value"),
        (HEADER, "1,2,3:a\n4,5,6:a\n", r"bad\.ts: only the class 'a' in the training set"),
    ],
)
def test_bad_ts_files_are_refused_in_one_line(tmp_path: Path, header: str, data: str, match: str) -> None:
    refused(match, write(tmp_path / "bad.ts", header + data))


def test_test_labels_absent_from_training_and_a_test_set_that_does_not_fit(tmp_path: Path) -> None:
    train = write(tmp_path / "T_TRAIN.ts", "@data\n1,2,3:a\n2,3,1:b\n")
    other = write(tmp_path / "T_TEST.ts", "@data\n1,2,3:a\n2,3,1:z\n3,1,2:y\n")
    refused(r"T_TEST\.ts: 2 label\(s\) absent from the training set .*T_TRAIN\.ts: 'y', 'z'", train, other)
    refused(r"T_TEST\.ts: series of 2 values, where .*T_TRAIN\.ts has 3", train, write(other, "@data\n1,2:a\n"))
    refused(r"T_TEST\.ts: 2 channel\(s\), where .*T_TRAIN\.ts has 1", train, write(other, "@data\n1,2,3:4,5,6:a\n"))
    np.savez(tmp_path / "T.npz", x=np.zeros((2, 3)), y=np.array([0, 1]))
    refused(r"T\.npz: a test set must have the training set's format \(ts\)", train, tmp_path / "T.npz")
    refused(r"T_TRAIN\.ts: a label column is named for \.csv files only", train, label_column="y")
    refused(r"x\.txt: no such file or folder", tmp_path / "x.txt")
    refused(r"T_TRAIN\.txt: not a data set this reads", write(tmp_path / "T_TRAIN.txt", "1,2"))
    refused(r"T_TRAIN\.ts: too few series of each class to hold a test set out", train)


def test_a_file_too_large_for_memory_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    path, _ = toy_ts(tmp_path)
    monkeypatch.setattr(checks, "MEMORY_LIMIT", 1000)
    opened: list[Path] = []
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self))  # never reached
    refused(r"Toy_TRAIN\.ts: the file is 0\.\d+ MB, more than the 0\.00095 MB that one data file may take", path)
    assert not opened
    monkeypatch.setattr(checks, "MEMORY_LIMIT", None)
    assert checks.memory_limit() > 2**20  # a quarter of this machine's memory


def test_more_values_than_a_data_set_may_have_are_refused_at_the_line(tmp_path: Path, monkeypatch) -> None:
    path, _ = toy_ts(tmp_path)
    monkeypatch.setattr(checks, "MAX_VALUES", 40)
    refused(r"Toy_TRAIN\.ts, line 9: more than 40 values", path)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.tsv", "1\t1\t2\t3\n2\t1\tNaN\t3\n", r"bad\.tsv, line 2, field 3: is NaN inside the series"),
        ("bad.tsv", "1\t1\t2\t3\n2\t1\tx\t3\n", r"bad\.tsv, line 2, field 3: is 'x', not a number"),
        ("bad.tsv", "1\t1\t2\t3\n2\t1\t\t3\n", r"bad\.tsv, line 2, field 3: is missing"),
        ("bad.tsv", "1\t1\t2\t3\n2\tNaN\n", r"bad\.tsv, line 2: a label and no values"),
        ("bad.tsv", "1,2,3\n", r"bad\.tsv, line 1: no tab"),
        ("bad.tsv", "\n\n", r"bad\.tsv: no series"),
        ("bad.tsv", b"1\t2\n\xff\xfe\t1\n", r"bad\.tsv, line 2: not UTF-8 text"),
        ("bad.csv", "label,a,b\nx,1,2\ny,1,inf\n", r"bad\.csv, line 3, field 3 \('b'\): is infinite"),
        ("bad.csv", "label,a,b\nx,1,2\ny,1,2,3\n", r"bad\.csv, line 3: 4 fields, where the header names 3"),
    ],
)
def test_bad_delimited_files_are_refused_in_one_line(tmp_path: Path, name: str, text: str | bytes, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    refused(match, path)


def test_a_label_column_the_header_does_not_name(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,b,c\n1,2,3\n")
    refused(r"d\.csv, line 1: no column named 'label' in the header \('a', 'b', 'c'\)", path, label_column="label")


def zipped(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def test_hostile_npz_files_are_refused_before_they_are_loaded(tmp_path: Path, monkeypatch) -> None:
    y = npy(np.array([0, 1]))
    objects = zipped(tmp_path / "objects.npz", {"x.npy": npy(np.array([[1, 2], [3, 4]], dtype=object)), "y.npy": y})
    refused(r"objects\.npz, member x: an object array \(pickled objects\): not read", objects)
    buf = io.BytesIO()  # a header that claims 1.6 GB, in a zip member of 48 bytes of data
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (2, 10**8)})
    lying = zipped(tmp_path / "lying.npz", {"x.npy": buf.getvalue() + b"\0" * 48, "y.npy": y})
    refused(r"lying\.npz, member x: its header declares 1,600,000,000 bytes of data, the zip 48", lying)
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((2, 2**18)), y=np.array([0, 1]))
    monkeypatch.setattr(checks, "MEMORY_LIMIT", 2**20)
    assert (tmp_path / "bomb.npz").stat().st_size < 2**20
    refused(r"bomb\.npz: x and y, unpacked, is 4 MB, more than the 1 MB", tmp_path / "bomb.npz")


@pytest.mark.parametrize(
    ("arrays_", "match"),
    [
        ({"x": np.zeros((2, 3))}, r"d\.npz: no array 'y'"),
        ({"x": np.zeros((2, 3)), "y": np.array([0, 1, 1])}, r"d\.npz, member y: shaped \(3,\), where x holds 2 rows"),
        ({"x": np.array([[1.0, np.nan], [0, 1]]), "y": np.array([0, 1])}, r"d\.npz, member x: x\[0, 1\] is NaN"),
        ({"x": np.zeros((2, 1, 1, 1, 3)), "y": np.array([0, 1])}, r"d\.npz, member x: 5-D"),
        ({"x": np.zeros((2, 3)), "y": np.array([0, 1]), "kind": "picture"}, r"d\.npz, member kind: must be one"),
        ({"x": np.zeros((2, 3)), "y": np.array([0.5, 1])}, r"d\.npz, member y: floats that are not whole numbers"),
        ({"x": np.zeros((2, 8, 8, 3)), "y": np.array([0, 1])}, r"d\.npz, member x: images with 8 channels.*moveaxis"),
        ({"x": np.zeros((2, 3), dtype="i4,i4"), "y": np.array([0, 1])}, r"d\.npz, member x: a structured array"),
        ({"x": np.zeros((2, 3)), "y": np.array([1, 1])}, r"d\.npz: only the class '1'"),
    ],
)
def test_bad_npz_files_are_refused_in_one_line(tmp_path: Path, arrays_: dict[str, object], match: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays_)  # type: ignore[arg-type]
    refused(match, tmp_path / "d.npz")


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    refused(r"d\.npz: not an \.npz file", write(tmp_path / "d.npz", "hello"))
    assert arrays.MAX_KIND_BYTES < 2**20


def test_bad_image_folders_are_refused_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    root = image_folder(tmp_path / "imgs")
    Image.fromarray(np.zeros((7, 7), dtype=np.uint8)).save(root / "dog" / "9.png")
    refused(r"dog/9\.png: 7 x 7 pixels, where .*cat/0\.png is 12 x 10: every image must be the same size", root)
    (root / "dog" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    refused(r"dog/9\.png: cannot be read as a PNG or JPEG image", root)
    (root / "dog" / "9.png").write_bytes((root / "dog" / "0.png").read_bytes()[:60])  # truncated
    refused(r"dog/9\.png: cannot be read as a PNG or JPEG image", root)
    (root / "dog" / "9.png").unlink()
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    refused(r"cat/0\.png: 12 x 10 pixels, more than the 100 an image may have", root)
    monkeypatch.setattr(images, "MAX_PIXELS", 4096**2)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # Pillow's own decompression-bomb check
    refused(r"cat/0\.png: refused as a decompression bomb", root)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10**8)
    (root / "bird").mkdir()
    refused(r"imgs/bird: a class folder with no PNG or JPEG file", root)
    refused(r"empty: no class folders", (tmp_path / "empty").mkdir() or tmp_path / "empty")
    only = tmp_path / "only"
    (only / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(only / "cat" / "a.png")
    refused(r"only: only the class 'cat' in the training set", only)


def test_a_refusal_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.ts", HEADER + "1,2,3:a\n1,x,3:b\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    refused(r"line 8", path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_gunpoint_sized_files_read_fast(tmp_path: Path) -> None:
    """50 + 150 series of 150 values (GunPoint's size) in well under a second."""
    import time

    train = write(tmp_path / "G_TRAIN.ts", ts_text(series(50, 150), ["a", "b"] * 25))
    test = write(tmp_path / "G_TEST.ts", ts_text(series(150, 150, 1), ["a", "b"] * 75))
    start = time.perf_counter()
    data = read_dataset(train, test)
    assert time.perf_counter() - start < 0.5
    assert data.x_test.shape == (150, 1, 150)
