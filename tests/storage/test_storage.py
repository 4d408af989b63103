"""The storage contract, run the same against the local backend and a real S3 server (moto)."""

import os
import threading
from pathlib import Path

import pytest

from crm.config import load_settings
from crm.storage import (
    CorruptFile,
    LocalStorage,
    S3Storage,
    StorageError,
    get_storage,
    sha256_hex,
    storage_from_config,
    storage_from_url,
)
from tests.conftest import make_app


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "attachments")
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return storage_from_url(f"s3://{bucket}/evidence", tmp_path, **server)


def _raw_write(storage, key, data):
    """Write bytes under a key behind the storage's back (a damaged copy)."""
    if isinstance(storage, LocalStorage):
        path = storage.root / key[:2] / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        storage.client.put_object(Bucket=storage.bucket, Key=f"{storage.prefix}/{key}", Body=data)


# --- the contract: both backends ----------------------------------------------------------------


def test_put_returns_the_sha256_and_get_gives_the_bytes_back(storage):
    data = bytes(range(256)) * 4099  # ~1 MB, every byte value
    key = storage.put(data)
    assert key == sha256_hex(data)
    assert storage.exists(key)
    assert storage.get(key) == data
    assert list(storage.keys()) == [key]


def test_the_same_bytes_are_kept_once(storage):
    first = storage.put(b"%PDF-1.7 contract")
    second = storage.put(bytearray(b"%PDF-1.7 contract"))
    other = storage.put(b"another file")
    assert first == second != other
    assert sorted(storage.keys()) == sorted({first, other})


def test_an_empty_file_is_a_file_too(storage):
    key = storage.put(b"")
    assert storage.get(key) == b""


def test_a_missing_key_is_file_not_found(storage):
    missing = sha256_hex(b"never stored")
    assert not storage.exists(missing)
    with pytest.raises(FileNotFoundError):
        storage.get(missing)


def test_delete_removes_and_is_idempotent(storage):
    key = storage.put(b"to delete")
    keep = storage.put(b"to keep")
    storage.delete(key)
    storage.delete(key)
    assert not storage.exists(key)
    assert storage.exists(keep)
    assert list(storage.keys()) == [keep]
    with pytest.raises(FileNotFoundError):
        storage.get(key)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "g" * 64, "ab", "", "a" * 63 + "/",
                                 "a" * 65, None])
def test_only_sha256_keys_are_accepted(storage, bad):
    for call in (storage.get, storage.exists, storage.delete):
        with pytest.raises(ValueError):
            call(bad)


def test_a_damaged_copy_is_an_error_never_wrong_evidence(storage):
    data = b"the real contract"
    key = storage.put(data)
    _raw_write(storage, key, b"the fake contract")
    with pytest.raises(CorruptFile):
        storage.get(key)
    assert isinstance(CorruptFile("x"), StorageError)


def test_keys_ignore_what_is_not_a_stored_file(storage):
    key = storage.put(b"evidence")
    if isinstance(storage, LocalStorage):
        (storage.root / key[:2] / ".tmp-abc").write_bytes(b"half written")
        (storage.root / "README").write_text("not a key")
        (storage.root / "zz").mkdir()
        (storage.root / "zz" / sha256_hex(b"misplaced")).write_bytes(b"misplaced")
    else:
        storage.client.put_object(Bucket=storage.bucket, Key="evidence/notes.txt", Body=b"x")
        storage.client.put_object(Bucket=storage.bucket, Key=f"other/{sha256_hex(b'y')}", Body=b"y")
    assert list(storage.keys()) == [key]


def test_concurrent_puts_of_the_same_and_different_files(storage):
    payloads = [f"photo {i % 4}".encode() * 1000 for i in range(16)]
    results, errors = [None] * len(payloads), []
    barrier = threading.Barrier(len(payloads))

    def put(i):
        try:
            barrier.wait(timeout=30)
            results[i] = storage.put(payloads[i])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert results == [sha256_hex(p) for p in payloads]
    assert len(set(storage.keys())) == 4
    for payload, key in zip(payloads, results, strict=True):
        assert storage.get(key) == payload


# --- the local backend --------------------------------------------------------------------------


def test_local_files_are_content_addressed_under_two_letter_folders(tmp_path):
    storage = LocalStorage(tmp_path / "att")
    key = storage.put(b"photo")
    path = tmp_path / "att" / key[:2] / key
    assert path.read_bytes() == b"photo"
    assert (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in path.parent.iterdir()] == [key]  # no temp file left


def test_local_put_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path / "att")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        storage.put(b"photo")
    monkeypatch.undo()
    key = sha256_hex(b"photo")
    assert not storage.exists(key)
    assert list((tmp_path / "att").rglob("*.tmp-*")) == []
    assert [p for p in (tmp_path / "att").rglob("*") if p.is_file()] == []


def test_local_put_repairs_a_truncated_copy(tmp_path):
    storage = LocalStorage(tmp_path / "att")
    data = b"0123456789" * 100
    key = sha256_hex(data)
    _raw_write(storage, key, data[:10])
    assert storage.put(data) == key
    assert storage.get(key) == data


def test_local_stale_temp_files_are_cleared(tmp_path):
    storage = LocalStorage(tmp_path / "att")
    key = storage.put(b"x")
    old = tmp_path / "att" / key[:2] / ".tmp-old"
    new = tmp_path / "att" / key[:2] / ".tmp-new"
    old.write_bytes(b"crash")
    new.write_bytes(b"uploading")
    os.utime(old, (1, 1))
    assert storage.remove_stale_temp_files(older_than_seconds=3600) == 1
    assert not old.exists() and new.exists()
    assert list(storage.keys()) == [key]


def test_local_keys_of_a_store_never_written(tmp_path):
    assert list(LocalStorage(tmp_path / "nothing").keys()) == []


# --- S3 specifics -------------------------------------------------------------------------------


def test_s3_objects_are_octet_streams_under_the_prefix(s3_server, s3_bucket, tmp_path):
    storage = storage_from_url(f"s3://{s3_bucket}/crm/evidence/", tmp_path, **s3_server)
    key = storage.put(b"<html><script>alert(1)</script>")
    head = storage.client.head_object(Bucket=s3_bucket, Key=f"crm/evidence/{key}")
    assert head["ContentType"] == "application/octet-stream"
    assert head["ContentLength"] == 31


def test_s3_prefixes_and_buckets_do_not_see_each_other(s3_server, s3_bucket, tmp_path):
    one = storage_from_url(f"s3://{s3_bucket}/one", tmp_path, **s3_server)
    two = storage_from_url(f"s3://{s3_bucket}/two", tmp_path, **s3_server)
    whole = storage_from_url(f"s3://{s3_bucket}", tmp_path, **s3_server)
    key = one.put(b"only in one")
    assert one.exists(key) and not two.exists(key) and not whole.exists(key)
    assert list(two.keys()) == [] and list(whole.keys()) == []
    assert whole.get(whole.put(b"at the root")) == b"at the root"


def test_s3_lists_more_than_one_page(s3_server, s3_bucket, tmp_path):
    storage = storage_from_url(f"s3://{s3_bucket}/many", tmp_path, **s3_server)
    storage.list_page_size = 7
    keys = {storage.put(f"file {i}".encode()) for i in range(30)}
    assert sorted(storage.keys()) == sorted(keys)


def test_s3_errors_are_storage_errors(s3_server, tmp_path):
    wrong_secret = {**s3_server, "secret_key": "wrong"}
    no_bucket = storage_from_url("s3://no-such-bucket-here/x", tmp_path, **s3_server)
    with pytest.raises(StorageError):
        no_bucket.put(b"x")
    with pytest.raises(StorageError):
        list(no_bucket.keys())
    closed = storage_from_url("s3://b/x", tmp_path, **{**wrong_secret,
                                                         "endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(StorageError):
        closed.exists(sha256_hex(b"x"))


# --- choosing the backend -----------------------------------------------------------------------


def test_storage_urls(tmp_path):
    assert LocalStorage(tmp_path / "attachments").root == storage_from_url("file://", tmp_path).root
    assert storage_from_url(None, tmp_path).root == tmp_path / "attachments"
    assert storage_from_url(f"file://{tmp_path}/elsewhere", tmp_path).root == tmp_path / "elsewhere"
    assert storage_from_url("file://rel/dir", tmp_path).root == tmp_path / "rel" / "dir"
    s3 = storage_from_url("s3://bucket/a/b/?addressing_style=virtual", tmp_path,
                          endpoint_url="https://oss.example.cn", region="cn-north-1")
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "a/b")
    assert s3.client.meta.config.s3["addressing_style"] == "virtual"
    assert s3.client.meta.region_name == "cn-north-1"
    path_style = storage_from_url("s3://bucket", tmp_path, endpoint_url="http://minio:9000")
    assert path_style.client.meta.config.s3["addressing_style"] == "path"
    for bad in ("ftp://x", "s3://", "https://bucket/x", "s3://b/x?addressing_style=odd"):
        with pytest.raises(ValueError):
            storage_from_url(bad, tmp_path)


def test_settings_defaults_and_types(tmp_path):
    settings = load_settings(tmp_path, {}, environ={"CRM_SECRET_KEY": "x"})
    assert settings["CRM_STORAGE_URL"] == "file://"
    assert settings["CRM_MAX_ATTACHMENT_BYTES"] == 20 * 1024 * 1024
    # by default a request can carry a file at the limit plus its form
    assert settings["CRM_MAX_CONTENT_LENGTH"] == 21 * 1024 * 1024
    settings = load_settings(tmp_path, {}, environ={
        "CRM_SECRET_KEY": "x", "CRM_MAX_ATTACHMENT_BYTES": "1000", "CRM_MAX_CONTENT_LENGTH": "500",
        "CRM_S3_REGION": "cn-east-1"})
    assert settings["CRM_MAX_ATTACHMENT_BYTES"] == 1000
    assert settings["CRM_MAX_CONTENT_LENGTH"] == 500  # set explicitly: left alone
    assert settings["CRM_S3_REGION"] == "cn-east-1"
    assert storage_from_config({}, tmp_path).root == tmp_path / "attachments"


def test_the_app_builds_its_storage_from_its_settings(tmp_path, s3_server, s3_bucket):
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite3'}",
                   CRM_STORAGE_URL=f"s3://{s3_bucket}/crm", CRM_S3_ENDPOINT_URL=s3_server["endpoint_url"],
                   CRM_S3_ACCESS_KEY=s3_server["access_key"], CRM_S3_SECRET_KEY=s3_server["secret_key"],
                   CRM_S3_REGION=s3_server["region"])
    with app.app_context():
        storage = get_storage()
        assert get_storage() is storage
        key = storage.put("施工许可证".encode())
    assert storage_from_url(f"s3://{s3_bucket}/crm", tmp_path, **s3_server).get(key) == \
        "施工许可证".encode()
    local = make_app(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    with local.app_context():
        assert get_storage().root == Path(local.instance_path) / "attachments"
