from typing import Any

from django.apps import AppConfig


def _tokens_die_with_the_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from annotate.services.auth import tokens_revoke

    if user is not None:
        tokens_revoke(user=user)


class AnnotateConfig(AppConfig):
    name = "annotate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        # A logout (the site's or the admin's) deletes the user's API tokens.
        user_logged_out.connect(_tokens_die_with_the_session, dispatch_uid="concord-logout-tokens")
