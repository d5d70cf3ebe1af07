"""A bootstrap never locks out a working agent: the node's old token stays valid until the new one is
installed (bootstrap succeeded, or the agent authenticated with it), and a failed bootstrap drops the new one."""

import pytest

from microdc.nodes.agent_tokens import issue_agent_token, node_for_token
from microdc.nodes.models import Node
from microdc.provisioning import jobs
from microdc.provisioning.models import Job, NodeLock


def bootstrap(client_for, node, monkeypatch, outcome):
    """Run a bootstrap job whose playbook does `outcome(new_token)` (True/False or raises); the new token."""
    seen = {}

    def playbook(run, name, nodes, extravars, secrets=()):
        assert name == "bootstrap_node.yml"
        seen["token"] = extravars["microdc_agent_token"]
        seen["during"] = outcome(seen["token"])
        return seen["during"]

    monkeypatch.setattr(jobs._Run, "playbook", playbook)
    response = client_for("admin").post("/api/v1/bootstrap/", {"nodes": [node.hostname]}, format="json")
    assert response.status_code == 202, response.content
    job = jobs.execute(response.json()["job"]["id"])
    return job, seen["token"]


@pytest.mark.django_db
def test_a_failed_bootstrap_keeps_the_old_token_and_drops_the_new(client_for, node, monkeypatch):
    old = issue_agent_token(node)

    def fails(new):
        # While the playbook runs, the agent there still uses the old token, which keeps working.
        assert node_for_token(old) == node
        return False

    job, new = bootstrap(client_for, node, monkeypatch, fails)
    assert job.status == "failed" and "keeps its previous agent token" in job.summary
    assert node_for_token(old) == node
    assert node_for_token(new) is None
    assert Node.objects.get(pk=node.pk).pending_agent_token_id is None
    assert not NodeLock.objects.exists()


@pytest.mark.django_db
def test_a_bootstrap_that_crashes_keeps_the_old_token(client_for, node, monkeypatch):
    old = issue_agent_token(node)

    def crashes(new):
        raise OSError("ansible-runner vanished")

    job, new = bootstrap(client_for, node, monkeypatch, crashes)
    assert job.status == "failed" and "ansible-runner vanished" in job.summary
    assert node_for_token(old) == node and node_for_token(new) is None


@pytest.mark.django_db
def test_a_successful_bootstrap_promotes_the_new_token(client_for, node, monkeypatch):
    old = issue_agent_token(node)
    job, new = bootstrap(client_for, node, monkeypatch, lambda new: True)
    assert job.status == "succeeded"
    assert node_for_token(new) == node
    assert node_for_token(old) is None
    assert Node.objects.get(pk=node.pk).pending_agent_token_id is None


@pytest.mark.django_db
def test_the_agent_using_the_new_token_promotes_it_even_if_the_job_then_fails(client_for, node, monkeypatch):
    old = issue_agent_token(node)

    def installed_then_fails(new):
        assert node_for_token(new) == node  # the agent restarted with the new token and pushed
        assert node_for_token(old) is None  # from then on the old one is gone
        return False

    job, new = bootstrap(client_for, node, monkeypatch, installed_then_fails)
    assert job.status == "failed"
    assert node_for_token(new) == node and node_for_token(old) is None


@pytest.mark.django_db
def test_a_node_never_bootstrapped_gets_a_token_on_success_only(client_for, node, monkeypatch):
    job, new = bootstrap(client_for, node, monkeypatch, lambda new: False)
    assert node_for_token(new) is None and Node.objects.get(pk=node.pk).agent_token_id is None
    job, new = bootstrap(client_for, node, monkeypatch, lambda new: True)
    assert node_for_token(new) == node
    assert Job.objects.filter(status="succeeded").count() == 1
