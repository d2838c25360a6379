"""The one file hash (study stores, model cards)."""

from __future__ import annotations

from musclethick._files import file_sha256


def test_file_sha256_is_the_digest_of_the_bytes_whatever_the_chunks(tmp_path):
    path = tmp_path / "scan.bin"
    path.write_bytes(b"musclethick" * 1000)
    # `sha256sum` of these 11,000 bytes
    expected = "614029ae43a0bc814cbf408cd8cda85f380df8796be29c7690714a91e1ad2e18"
    assert file_sha256(path) == expected
    assert file_sha256(path, chunk_bytes=7) == expected
