"""Fixtures for the telemetry tests: an API client holding a node's agent token."""

import pytest
from rest_framework.test import APIClient

from microdc.nodes.agent_tokens import issue_agent_token


@pytest.fixture
def agent(node):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_agent_token(node)}")
    return client
