from django.apps import apps
from django.contrib.auth.backends import ModelBackend

from . import policy
from .roles import role_of


class RoleBackend(ModelBackend):
    """Password authentication, with model permissions derived from the role instead of per-user grants.

    `user.has_perm("app.action_model")` answers from the one role policy (microdc.core.policy), the table the
    API and the admin use too. (Django answers yes to every has_perm of a superuser before asking a backend,
    which is why the admin asks the policy itself.)
    """

    def has_perm(self, user_obj, perm, obj=None):
        app_label, _, codename = perm.partition(".")
        action, _, model_name = codename.partition("_")
        if action not in policy.ACTIONS:
            return False
        try:
            model = apps.get_model(app_label, model_name)
            return policy.allows(user_obj, model, action)
        except (LookupError, ValueError):  # unknown app or model, or a model without a policy
            return False

    def has_module_perms(self, user_obj, app_label):
        return role_of(user_obj) is not None

    def get_all_permissions(self, user_obj, obj=None):
        # Only used for display; has_perm above is authoritative.
        return set()
