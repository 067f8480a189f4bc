from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class UserSession(AbstractBaseSession):
    """A browser session with its user in a column of its own, so that one query reads the
    session, the user and their profile (annotate.sessions) where Django's sessions take
    two. A deleted user's sessions go with them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
