import hashlib
import io
import urllib.error

import pytest

from suite.data import download
from suite.data.download import DataError, DataUnavailable, Remote, atomic_path, cache_dir, fetch

PAYLOAD = b"review text " * 1000


def remote_for(path, payload=PAYLOAD, **changes) -> Remote:
    fields = {
        "url": path.as_uri(),
        "filename": "corpus.tar.gz",
        "digest": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
    }
    return Remote(**(fields | changes))


def leftovers(directory):
    """Files in the cache folder other than the (empty) download lock."""
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock"))


def test_cache_dir_prefers_study_then_environment_then_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ABLATE_CACHE", raising=False)
    assert cache_dir() == tmp_path / "xdg" / "ablate"
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(str(tmp_path / "study")) == tmp_path / "study"


def test_fetch_downloads_verifies_and_renames(tmp_path):
    source = tmp_path / "published.bin"
    source.write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    path = fetch(remote_for(source), cache, progress=False)
    assert path == cache / "corpus.tar.gz"
    assert path.read_bytes() == PAYLOAD
    assert leftovers(cache) == ["corpus.tar.gz"]
    source.unlink()  # a present, verified copy is used without downloading
    assert fetch(remote_for(source), cache, progress=False) == path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"digest": "0" * 64}, "sha256 checksum mismatch"),
        ({"size": len(PAYLOAD) + 10}, "truncated or another file"),
    ],
)
def test_bad_download_leaves_nothing(tmp_path, changes, message):
    source = tmp_path / "published.bin"
    source.write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=message) as err:
        fetch(remote_for(source, **changes), cache, progress=False)
    assert "nothing was kept" in str(err.value)
    assert leftovers(cache) == []


def test_connection_dropped_midway_leaves_nothing(tmp_path):
    class Dropping(io.BytesIO):
        headers = {"Content-Length": str(len(PAYLOAD))}

        def read(self, n=-1):
            if self.tell() > 100:
                raise ConnectionResetError("connection reset by peer")
            return super().read(64)

    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailable, match="connection reset"):
        fetch(
            remote_for(tmp_path / "x"), cache, opener=lambda url, timeout: Dropping(PAYLOAD), progress=False
        )
    assert leftovers(cache) == []


def test_no_network_says_which_file_to_place_where_and_asks_once(tmp_path):
    calls = []

    def offline(url, timeout):
        calls.append(url)
        raise urllib.error.URLError("Name or service not known")

    remote = Remote(url="http://example.invalid/corpus.tar.gz", filename="corpus.tar.gz", digest="ab" * 32)
    cache = tmp_path / "cache"
    for _ in range(2):
        with pytest.raises(DataUnavailable) as err:
            fetch(remote, cache, opener=offline, progress=False)
        text = str(err.value)
        assert text.startswith(f"place corpus.tar.gz in {cache}")
        assert "ABLATE_CACHE" in text and "Name or service not known" in text and "sha256 abab" in text
    assert len(calls) == 1  # the failure is remembered for the rest of the process
    assert leftovers(cache) == []


def test_download_off_and_damaged_copy(tmp_path):
    source = tmp_path / "published.bin"
    source.write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailable, match="download is off"):
        fetch(remote_for(source), cache, download=False)
    cache.mkdir()
    damaged = cache / "corpus.tar.gz"
    damaged.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(DataError, match=f"{damaged}: sha256 checksum mismatch.*delete it and place"):
        fetch(remote_for(source), cache)
    assert damaged.exists()  # a file someone placed is reported, never deleted behind their back


def test_atomic_path_keeps_nothing_on_error(tmp_path):
    target = tmp_path / "tokens" / "x.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(target.parent.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and [p.name for p in target.parent.iterdir()] == ["x.npz"]


def test_file_digest_follows_content(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"a")
    first = download.file_digest(path)
    path.write_bytes(b"bb")
    assert download.file_digest(path) != first == hashlib.sha256(b"a").hexdigest()
