"""Connecting to Temporal the same way everywhere (pydantic payloads, our search attributes)."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from tgflow import search_attributes
from tgflow.config import TemporalSettings


async def connect(settings: TemporalSettings, *, runtime: Runtime | None = None) -> Client:
    tls: TLSConfig | bool = False
    if settings.tls_cert_path and settings.tls_key_path:
        tls = TLSConfig(
            client_cert=Path(settings.tls_cert_path).read_bytes(),
            client_private_key=Path(settings.tls_key_path).read_bytes(),
        )
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        tls=tls or bool(api_key),
        api_key=api_key,
        runtime=runtime,
    )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the project's search attributes that the namespace lacks; returns those added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in search_attributes.ALL if k.name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def workflow_url(settings: TemporalSettings, workflow_id: str) -> str:
    return f"{settings.ui_url.rstrip('/')}/namespaces/{settings.namespace}/workflows/{workflow_id}"
