"""The one role policy: which role may view, add, change and delete each model.

The API (permissions.RolePermission), the Django admin (admin.AuditedModelAdmin) and RoleBackend.has_perm all
answer from this table, so the admin can never allow what the API refuses. Keyed by model label, so core
imports no other app. None means nobody, admins included: the audit log is append-only; jobs, their events and
revisions are history that only the provisioning service writes.
"""

from dataclasses import dataclass

from django.db import models

from .roles import Role, has_role

ACTIONS = ("view", "add", "change", "delete")


@dataclass(frozen=True)
class Policy:
    view: Role | None = Role.VIEWER
    add: Role | None = Role.ADMIN
    change: Role | None = Role.ADMIN
    delete: Role | None = Role.ADMIN
    # Which of the actions the Django admin offers; the others happen only through the API, because there they
    # run jobs (a deployment's changes roll out, its DELETE removes model servers) or revoke instead of delete.
    in_admin: frozenset[str] = frozenset(ACTIONS)

    def required(self, action: str) -> Role | None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        return getattr(self, action)


INVENTORY = Policy()
HISTORY = Policy(add=None, change=None, delete=None)

POLICIES: dict[str, Policy] = {
    "core.user": Policy(view=Role.ADMIN),
    # Everyone manages their own tokens (querysets narrow non-admins to their own); DELETE revokes.
    "core.apitoken": Policy(add=Role.VIEWER, change=None, delete=Role.VIEWER, in_admin=frozenset({"view"})),
    "core.auditevent": Policy(view=Role.ADMIN, add=None, change=None, delete=None),
    "nodes.site": INVENTORY,
    "nodes.rack": INVENTORY,
    "nodes.node": INVENTORY,
    "nodes.accelerator": INVENTORY,
    "nodes.facilitymeter": INVENTORY,
    "facility.carbonintensity": INVENTORY,
    # Trusted artifact signers: replacing one defeats artifact signatures, so admins only.
    "provisioning.signingkey": INVENTORY,
    "provisioning.deployment": Policy(add=Role.OPERATOR, change=Role.OPERATOR, delete=Role.OPERATOR,
                                      in_admin=frozenset({"view"})),
    "provisioning.deploymentrevision": HISTORY,
    "provisioning.job": HISTORY,
    "provisioning.jobevent": HISTORY,
    # Scraped and attributed by the worker only: everyone reads, nobody edits.
    "energy.modelserver": HISTORY,
    "energy.reservation": HISTORY,
    "energy.usagebucket": HISTORY,
    "energy.unallocatedbucket": HISTORY,
    "energy.carbonscheduleseen": HISTORY,
    # Desired power limits: changed through /power-limit/ endpoints (operators) and by policies only.
    "power.powerlimit": HISTORY,
    "power.powerlimitchange": HISTORY,
    "power.policycap": HISTORY,
    "power.policystate": HISTORY,
    "power.policyevent": HISTORY,
    # Started through /deployments/<id>/cap-sweep/ (operators), advanced by the worker only.
    "power.capsweep": HISTORY,
    # Alerts: the worker raises and resolves them; viewers acknowledge through the API's /ack/ (not a change of
    # the alert itself), operators silence, admins manage rules and receivers; the delivery log is history.
    "alerts.alertrule": Policy(delete=Role.ADMIN, in_admin=frozenset({"view", "change"})),
    "alerts.alert": HISTORY,
    "alerts.silence": Policy(add=Role.OPERATOR, change=Role.OPERATOR, delete=Role.OPERATOR,
                             in_admin=frozenset({"view"})),
    "alerts.receiver": Policy(view=Role.ADMIN),  # receivers hold addresses and endpoints: admins only
    "alerts.notificationgroup": Policy(view=Role.ADMIN, add=None, change=None, delete=None),
    "alerts.notification": Policy(view=Role.ADMIN, add=None, change=None, delete=None),
    "alerts.deliveryattempt": Policy(view=Role.ADMIN, add=None, change=None, delete=None),
    # django-tasks-db's results of background tasks (microdc.worker.admin); only the worker writes them.
    "django_tasks_database.dbtaskresult": Policy(view=Role.ADMIN, add=None, change=None, delete=None),
}


class NoPolicy(LookupError):
    pass


def policy_for(model: type[models.Model] | models.Model) -> Policy:
    label = model._meta.label_lower
    try:
        return POLICIES[label]
    except KeyError:
        raise NoPolicy(f"{label} has no role policy; add it to microdc.core.policy.POLICIES") from None


def allows(user, model, action: str) -> bool:
    """May this user do this action on this model (API semantics)?"""
    required = policy_for(model).required(action)
    return required is not None and has_role(user, required)


def allows_in_admin(user, model, action: str) -> bool:
    """May this user do this action on this model in the Django admin?"""
    return action in policy_for(model).in_admin and allows(user, model, action)
