from django.contrib.auth.backends import ModelBackend

from .roles import OPERATOR_APPS, Role, role_of


class RoleBackend(ModelBackend):
    """Password authentication, with model permissions derived from the role instead of per-user grants.

    The Django admin asks `user.has_perm("app.action_model")`; answering from the role keeps the admin and
    the API on one policy.
    """

    def has_perm(self, user_obj, perm, obj=None):
        role = role_of(user_obj)
        if role is None:
            return False
        if role == Role.ADMIN:
            return True
        app_label, _, codename = perm.partition(".")
        if codename.startswith("view_"):
            return True
        return role == Role.OPERATOR and app_label in OPERATOR_APPS

    def has_module_perms(self, user_obj, app_label):
        return role_of(user_obj) is not None

    def get_all_permissions(self, user_obj, obj=None):
        # Only used for display; has_perm above is authoritative.
        return set()
