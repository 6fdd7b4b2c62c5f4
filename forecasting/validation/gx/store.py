"""A GX tuple store over the lake's fsspec filesystem, for Data Docs and validation results.

GX 1.24 ships only a local-folder tuple store; ``LakeStoreBackend`` writes through
``forecasting.core.lake.Lake`` instead, so a ``s3://`` lake keeps its Data Docs and results in the
bucket and a local lake gets atomic writes. HTML is made deterministic on the way in (GX
stamps asset URLs with the build time and gives collapsible blocks random ids), so a
rerun of a day rewrites identical pages. Imports GX at module level: only
``forecasting.validation.gx.datadocs`` (itself imported lazily) loads it, by name, from the GX config.
"""

from __future__ import annotations

import os
import re
from typing import Any

from great_expectations.data_context.store.tuple_store_backend import TupleStoreBackend

from forecasting.core.lake import Lake, join

# GX appends "?d=<now>" (and the context id) to asset URLs; it would change every build.
_URL_STAMP = re.compile(rb"\?d=\d{8}T\d{6}\.\d+Z(&dataContextId=[0-9a-f-]+)?")
# ...and gives each collapsible block a random uuid4 id: renumbered in order of appearance.
_ELEMENT_UUID = re.compile(
    rb"(collapse-body-)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)


def deterministic_html(data: bytes) -> bytes:
    """Drop GX's build-time URL stamps and number its random element ids 0, 1, 2, ..."""
    data = _URL_STAMP.sub(b"", data)
    seen: dict[bytes, bytes] = {}

    def _number(m: re.Match[bytes]) -> bytes:
        return m.group(1) + seen.setdefault(m.group(2), str(len(seen)).encode())

    return _ELEMENT_UUID.sub(_number, data)


class LakeStoreBackend(TupleStoreBackend):
    """GX tuple store over the lake's fsspec filesystem (local or s3://), atomic writes."""

    def __init__(  # noqa: PLR0913 - GX passes these by name
        self,
        base_directory: str,
        aws_conn_id: str = "aws_default",
        filepath_template: str | None = None,
        filepath_prefix: str | None = None,
        filepath_suffix: str | None = None,
        forbidden_substrings: list[str] | None = None,
        platform_specific_separator: bool = False,
        fixed_length_key: bool = False,
        suppress_store_backend_id: bool = False,
        manually_initialize_store_backend_id: str = "",
        base_public_path: str | None = None,
        store_name: str | None = None,
    ) -> None:
        super().__init__(
            filepath_template=filepath_template,
            filepath_prefix=filepath_prefix,
            filepath_suffix=filepath_suffix,
            forbidden_substrings=forbidden_substrings,
            platform_specific_separator=False,  # keys are URI paths, '/' on every platform
            fixed_length_key=fixed_length_key,
            suppress_store_backend_id=suppress_store_backend_id,
            manually_initialize_store_backend_id=manually_initialize_store_backend_id,
            base_public_path=base_public_path,
            store_name=store_name,
        )
        local = "://" not in base_directory or base_directory.startswith("file://")
        self._lake = Lake(
            os.path.abspath(base_directory.removeprefix("file://")) if local else base_directory,
            aws_conn_id,
        )
        self._root = self._lake.fs._strip_protocol(self._lake.uri).rstrip("/")
        if not self._suppress_store_backend_id:
            _ = self.store_backend_id
        self._config = {
            k: v
            for k, v in {
                "base_directory": base_directory,
                "aws_conn_id": aws_conn_id,
                "filepath_template": filepath_template,
                "filepath_prefix": filepath_prefix,
                "filepath_suffix": filepath_suffix,
                "suppress_store_backend_id": suppress_store_backend_id,
                "base_public_path": base_public_path,
                "store_name": store_name,
                "module_name": self.__class__.__module__,
                "class_name": self.__class__.__name__,
            }.items()
            if v
        }

    def _uri(self, key: Any) -> str:
        key = key if isinstance(key, tuple) else key.to_tuple()
        return join(self._lake.uri, self._convert_key_to_filepath(key))

    def _get(self, key: Any) -> str:
        from great_expectations.exceptions import InvalidKeyError

        uri = self._uri(key)
        try:
            return self._lake.read_text(uri).rstrip("\n")
        except FileNotFoundError as exc:
            raise InvalidKeyError(f"no stored object at {uri}") from exc

    def _get_all(self) -> list[Any]:
        return [self._get(k) for k in self.list_keys() if k != self.STORE_BACKEND_ID_KEY]

    def _set(self, key: Any, value: Any, **kwargs: Any) -> str:
        uri = self._uri(key)
        data = value.encode("utf-8") if isinstance(value, str) else value
        if uri.endswith(".html"):
            data = deterministic_html(data)
        return self._lake.write_bytes(uri, data)

    def _move(self, source_key: Any, dest_key: Any, **kwargs: Any) -> Any:
        src, dst = self._uri(source_key), self._uri(dest_key)
        if not self._lake.exists(src):
            return False
        self._lake.write_bytes(dst, self._lake.read_bytes(src))
        self._lake.remove(src)
        return dest_key

    def list_keys(self, prefix: tuple = ()) -> list[tuple]:
        base = join(self._lake.uri, *prefix) if prefix else self._lake.uri
        if not self._lake.exists(base):
            return []
        keys = []
        for path in sorted(self._lake.fs.find(base)):
            rel = path[len(self._root) :].lstrip("/")
            if self._is_missing_prefix_or_suffix(self.filepath_prefix, self.filepath_suffix, rel):
                continue
            key = self._convert_filepath_to_key(rel)
            if key and not self.is_ignored_key(key):
                keys.append(key)
        return keys

    def remove_key(self, key: Any) -> bool:
        uri = self._uri(key)
        if not self._lake.exists(uri):
            return False
        self._lake.remove(uri)
        return True

    def get_url_for_key(self, key: Any, protocol: str | None = None) -> str:
        uri = join(
            self._lake.uri,
            self._url_path_escape_special_characters(self._convert_key_to_filepath(key)),
        )
        return uri if "://" in uri else f"file://{uri}"

    def get_public_url_for_key(self, key: Any, protocol: str | None = None) -> str:
        return (self.base_public_path or "") + self._convert_key_to_filepath(key)

    def _has_key(self, key: Any) -> bool:
        return self._lake.exists(self._uri(key))

    @property
    def config(self) -> dict:
        return self._config
